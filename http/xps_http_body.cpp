// http/xps_http_body.cpp — the request parser's body: a second state
// machine, armed by the head's framing checks, that counts down a
// Content-Length body or decodes chunked framing (RFC 9112 §6.3, §7.1):
// chunk sizes checked against the body limit, extensions skipped, trailers
// checked like header lines and skipped.
//
// The data is never copied: each call reports the data bytes at hand as one
// slice of the caller's input. Only the framing bytes (sizes, CRLFs,
// extensions, trailers) go through the machine, one byte at a time.
#include "http/xps_http_parser.h"
#include "http/xps_http_parser_internal.hpp"

#include <cassert>

using namespace parser_detail; // the shared states, classes and helpers

namespace {

step body_fail(xps_http_parser_t *p, int status, const char *reason) {
    p->bst = body_state::failed;
    p->status = status;
    p->reason = reason;
    return step::failed;
}

// A hex digit of chunk-size, with the body limit checked before the size
// can overflow: a chunk that would take the body over max_body → 413.
step size_digit(xps_http_parser_t *p, unsigned char c) {
    uint64_t room = p->limits.max_body - p->body_total; // never negative: checked per chunk
    auto v = static_cast<uint64_t>(hex_value(c));
    if (v > room || p->chunk_size > (room - v) / 16)
        return body_fail(p, XPS_HTTP_STATUS_CONTENT_TOO_LARGE, "chunk over the body limit");
    p->chunk_size = p->chunk_size * 16 + v;
    p->size_digits++;
    return step::more;
}

// The chunk-size line ended: data follows, or the last chunk's trailers.
step end_size_line(xps_http_parser_t *p) {
    if (p->size_digits == 0)
        return body_fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "chunk size missing");
    p->body_total += p->chunk_size;
    p->remaining = p->chunk_size;
    p->bst = p->chunk_size == 0 ? body_state::trailer : body_state::data;
    p->chunk_size = 0;
    p->size_digits = 0;
    p->line_len = 0;
    return step::more;
}

// A CR or LF ending a line inside the body. CR: go to `after_cr` (which
// expects the LF), step::more. A bare LF: step::complete, the line has
// ended now (the caller acts on it), or an error in strict mode.
step body_line_end(xps_http_parser_t *p, unsigned char c, body_state after_cr) {
    if (c == '\r')
        return p->bst = after_cr, step::more;
    if (p->limits.strict_crlf)
        return body_fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "bare LF line ending (strict CRLF mode)");
    return step::complete;
}

// The chunk-size line: size, BWS, extensions (skipped), line end.
step size_line_byte(xps_http_parser_t *p, unsigned char c) {
    if (++p->line_len > p->limits.max_request_line)
        return body_fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "chunk-size line too long");
    if (c == '\r' || c == '\n') {
        step s = body_line_end(p, c, body_state::size_lf);
        return s == step::complete ? end_size_line(p) : s;
    }
    if (p->bst == body_state::size && is_hex(c))
        return size_digit(p, c);
    if (p->bst == body_state::ext)
        return is_field_vchar(c) || is_ows(c) ? step::more
                                              : body_fail(p, XPS_HTTP_STATUS_BAD_REQUEST,
                                                          "control character in a chunk extension");
    if (p->size_digits > 0 && c == ';')
        return p->bst = body_state::ext, step::more;
    if (p->size_digits > 0 && is_ows(c))
        return p->bst = body_state::size_ws, step::more;
    return body_fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "invalid chunk size");
}

// The trailer section (§7.1.2): field lines, checked like headers, then
// skipped (their values are not merged into the head).
step trailer_byte(xps_http_parser_t *p, unsigned char c) {
    if (++p->trailer_bytes > p->limits.max_head)
        return body_fail(p, XPS_HTTP_STATUS_REQUEST_HEADER_FIELDS_TOO_LARGE, "trailers over the limit");
    bool line_end = c == '\r' || c == '\n';
    switch (p->bst) {
    case body_state::trailer:
        if (line_end) {
            step s = body_line_end(p, c, body_state::end_lf);
            return s == step::complete ? (p->bst = body_state::done, step::more) : s;
        }
        if (!is_tchar(c))
            return body_fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "invalid trailer line");
        if (++p->trailer_lines > p->limits.max_headers)
            return body_fail(p, XPS_HTTP_STATUS_REQUEST_HEADER_FIELDS_TOO_LARGE, "too many trailer lines");
        return p->bst = body_state::trailer_name, step::more;
    case body_state::trailer_name:
        if (c == ':')
            return p->bst = body_state::trailer_value, step::more;
        return is_tchar(c) ? step::more
                           : body_fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "trailer line without a colon");
    default: // trailer_value
        if (line_end) {
            step s = body_line_end(p, c, body_state::trailer_lf);
            return s == step::complete ? (p->bst = body_state::trailer, step::more) : s;
        }
        return is_field_vchar(c) || is_ows(c)
                   ? step::more
                   : body_fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "control character in a trailer");
    }
}

// One framing byte of a chunked body (not chunk data).
step chunk_byte(xps_http_parser_t *p, unsigned char c) {
    switch (p->bst) {
    case body_state::size:
    case body_state::size_ws:
    case body_state::ext:
        return size_line_byte(p, c);
    case body_state::size_lf:
        return c == '\n' ? end_size_line(p)
                         : body_fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "CR not followed by LF");
    case body_state::data_cr: {
        if (c != '\r' && c != '\n')
            return body_fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "chunk data longer than its size");
        step s = body_line_end(p, c, body_state::data_lf);
        return s == step::complete ? (p->bst = body_state::size, step::more) : s;
    }
    case body_state::data_lf:
        return c == '\n' ? (p->bst = body_state::size, step::more)
                         : body_fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "CR not followed by LF");
    case body_state::trailer_lf:
        return c == '\n' ? (p->bst = body_state::trailer, step::more)
                         : body_fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "CR not followed by LF");
    case body_state::end_lf:
        return c == '\n' ? (p->bst = body_state::done, step::more)
                         : body_fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "CR not followed by LF");
    default:
        return trailer_byte(p, c);
    }
}

} // namespace

// ----------------------------------------------------------- operations

int xps_http_parser_parse_body(xps_http_parser_t *p, const char *in, size_t len, size_t *consumed,
                               xps_http_slice_t *data) noexcept {
    assert(p && p->st == state::done && (in || len == 0) && consumed && data);
    *data = make_slice(0, 0);
    size_t i = 0;
    for (;;) {
        if (p->bst == body_state::done || p->bst == body_state::failed) {
            *consumed = i;
            return p->bst == body_state::done ? XPS_OK : XPS_E_INVAL;
        }
        bool is_data = p->bst == body_state::length || p->bst == body_state::data;
        if (is_data && p->remaining == 0) {
            p->bst = p->bst == body_state::length ? body_state::done : body_state::data_cr;
            continue;
        }
        if (i == len) {
            *consumed = i;
            return XPS_E_AGAIN;
        }
        if (is_data) { // report as much as is here: a view, no copy
            size_t n = len - i < p->remaining ? len - i : static_cast<size_t>(p->remaining);
            *data = make_slice(i, n);
            p->remaining -= n;
            *consumed = i + n;
            return XPS_E_NEXT;
        }
        chunk_byte(p, static_cast<unsigned char>(in[i++]));
    }
}
