// http/xps_http_body.cpp — the request parser's body: a second state
// machine, armed by the head's framing checks, that counts down a
// Content-Length body or decodes chunked framing (RFC 9112 §6.3, §7.1):
// chunk sizes checked against the body limit, extensions parsed by their
// grammar and skipped, trailers checked like header lines and skipped.
//
// Strict on purpose. When xps is a proxy, the server behind it reads the
// same chunked bytes, and any byte the two read differently (a bare LF, a
// space before the CRLF, an extension one of them ends early) lets a client
// hide a second request inside a body. So every framing line ends in CRLF,
// and whitespace is accepted only where the grammar says BWS.
//
// The data is never copied: each call reports the data bytes at hand as one
// slice of the caller's input. Only the framing bytes (sizes, CRLFs,
// extensions, trailers) go through the machine, one byte at a time.
#include "http/xps_http_parser.h"
#include "http/xps_http_parser_internal.hpp"

#include <cassert>

using namespace parser_detail; // the shared states, classes and helpers

namespace {

// A 64-bit size takes 16 hex digits. A 17th can only be a leading zero (a
// bigger value is over max_body first), and leading zeros without end
// would be framing without end, which the limits below exist to prevent.
constexpr unsigned max_size_digits = 16;
static_assert(XPS_HTTP_CHUNK_LINE_MAX == 1024 && XPS_HTTP_CHUNK_EXT_MAX == 16384,
              "the reasons below name these values");

step body_fail(xps_http_parser_t *p, int status, const char *reason) {
    p->bst = body_state::failed;
    p->status = status;
    p->reason = reason;
    return step::failed;
}

step bad_request(xps_http_parser_t *p, const char *reason) {
    return body_fail(p, XPS_HTTP_STATUS_BAD_REQUEST, reason);
}

// The byte moved the machine to `next`.
step enter(xps_http_parser_t *p, body_state next) {
    p->bst = next;
    return step::more;
}

// A CR ended a framing line: the LF must come next, then `next`.
step line_end(xps_http_parser_t *p, body_state next) {
    p->after_lf = next;
    return enter(p, body_state::lf);
}

// A hex digit of chunk-size, with the body limit checked before the size
// can overflow: a chunk that would take the body over max_body → 413.
step size_digit(xps_http_parser_t *p, unsigned char c) {
    uint64_t room = p->limits.max_body - p->body_total; // never negative: checked per chunk
    auto v = static_cast<uint64_t>(hex_value(c));
    if (v > room || p->chunk_size > (room - v) / 16)
        return body_fail(p, XPS_HTTP_STATUS_CONTENT_TOO_LARGE, "chunk over the body limit");
    if (p->size_digits == max_size_digits)
        return bad_request(p, "chunk size longer than 16 hex digits");
    p->chunk_size = p->chunk_size * 16 + v;
    p->size_digits++;
    return step::more;
}

// The CR of a chunk-size line. The line may end after the size, a name or
// a value, nowhere else (BWS stands only before ";" and around "=", so
// "5 \r\n" is refused). Then data follows, or the last chunk's trailers.
step end_size_line(xps_http_parser_t *p) {
    switch (p->bst) {
    case body_state::size:
        if (p->size_digits == 0)
            return bad_request(p, "chunk size missing");
        break;
    case body_state::ext_name:
    case body_state::ext_token:
    case body_state::ext_quoted_end:
        break;
    case body_state::size_bws:
    case body_state::ext_name_bws:
        return bad_request(p, "whitespace at the end of a chunk-size line");
    case body_state::ext_name_start:
        return bad_request(p, "chunk extension without a name");
    case body_state::ext_value_start:
        return bad_request(p, "chunk extension without a value");
    default: // ext_quoted, ext_quoted_pair
        return bad_request(p, "unterminated quoted string in a chunk extension");
    }
    p->body_total += p->chunk_size;
    p->remaining = p->chunk_size;
    body_state next = p->chunk_size == 0 ? body_state::trailer : body_state::data;
    p->chunk_size = 0;
    p->size_digits = 0;
    p->line_len = 0;
    return line_end(p, next);
}

// chunk-size [ chunk-ext ], one byte (not the CR), by the grammar of
// §7.1.1; the states are described in xps_http_parser_internal.hpp. One
// case per state, as in the head machine, hence the length.
step size_line_state(xps_http_parser_t *p, unsigned char c) {
    bool ows = is_ows(c), tchar = is_tchar(c);
    switch (p->bst) {
    case body_state::size:
        if (is_hex(c))
            return size_digit(p, c);
        if (p->size_digits > 0 && c == ';')
            return enter(p, body_state::ext_name_start);
        if (p->size_digits > 0 && ows)
            return enter(p, body_state::size_bws);
        return bad_request(p, "invalid chunk size");
    case body_state::size_bws: // after the size or a value: only ";" may follow
        if (ows)
            return step::more;
        if (c == ';')
            return enter(p, body_state::ext_name_start);
        return bad_request(p, "whitespace not followed by \";\" in a chunk-size line");
    case body_state::ext_name_start:
        if (ows)
            return step::more;
        if (tchar)
            return enter(p, body_state::ext_name);
        return bad_request(p, "chunk extension without a name");
    case body_state::ext_name:
    case body_state::ext_name_bws:
        if (tchar && p->bst == body_state::ext_name)
            return step::more;
        if (ows)
            return enter(p, body_state::ext_name_bws);
        if (c == '=')
            return enter(p, body_state::ext_value_start);
        if (c == ';')
            return enter(p, body_state::ext_name_start);
        return bad_request(p, p->bst == body_state::ext_name
                                  ? "invalid character in a chunk extension name"
                                  : "whitespace inside a chunk extension name");
    case body_state::ext_value_start:
        if (ows)
            return step::more;
        if (c == '"')
            return enter(p, body_state::ext_quoted);
        if (tchar)
            return enter(p, body_state::ext_token);
        return bad_request(p, "chunk extension without a value");
    case body_state::ext_token:
    case body_state::ext_quoted_end:
        if (tchar && p->bst == body_state::ext_token)
            return step::more;
        if (ows)
            return enter(p, body_state::size_bws);
        if (c == ';')
            return enter(p, body_state::ext_name_start);
        return bad_request(p, "invalid character in a chunk extension value");
    case body_state::ext_quoted: // qdtext: any byte but DQUOTE, "\" and controls
        if (c == '"')
            return enter(p, body_state::ext_quoted_end);
        if (c == '\\')
            return enter(p, body_state::ext_quoted_pair);
        return step::more;
    default: // ext_quoted_pair: "\" escapes any byte but a control
        return enter(p, body_state::ext_quoted);
    }
}

// The chunk-size line: checked against its limits, then by the grammar.
// Every byte counts against XPS_HTTP_CHUNK_LINE_MAX; those after the size
// also against the body's XPS_HTTP_CHUNK_EXT_MAX, and may not be controls
// (a quoted-string holds no control either, RFC 9110 §5.6.4).
step size_line_byte(xps_http_parser_t *p, unsigned char c) {
    if (c == '\r')
        return end_size_line(p);
    if (++p->line_len > XPS_HTTP_CHUNK_LINE_MAX)
        return bad_request(p, "chunk-size line longer than 1024 bytes");
    bool in_size = p->bst == body_state::size;
    if (!(in_size && is_hex(c)) && ++p->ext_bytes > XPS_HTTP_CHUNK_EXT_MAX)
        return bad_request(p, "chunk extensions over 16384 bytes in one body");
    if (!in_size && !is_field_vchar(c) && !is_ows(c))
        return bad_request(p, "control character in a chunk extension");
    return size_line_state(p, c);
}

// The trailer section (§7.1.2): field lines, checked like headers, then
// skipped (their values are not merged into the head).
step trailer_byte(xps_http_parser_t *p, unsigned char c) {
    if (++p->trailer_bytes > p->limits.max_head)
        return body_fail(p, XPS_HTTP_STATUS_REQUEST_HEADER_FIELDS_TOO_LARGE, "trailers over the limit");
    switch (p->bst) {
    case body_state::trailer:
        if (c == '\r') // the blank line: the body is complete once its LF is here
            return line_end(p, body_state::done);
        if (!is_tchar(c))
            return bad_request(p, "invalid trailer line");
        if (++p->trailer_lines > p->limits.max_headers)
            return body_fail(p, XPS_HTTP_STATUS_REQUEST_HEADER_FIELDS_TOO_LARGE, "too many trailer lines");
        return enter(p, body_state::trailer_name);
    case body_state::trailer_name:
        if (c == ':')
            return enter(p, body_state::trailer_value);
        return is_tchar(c) ? step::more : bad_request(p, "trailer line without a colon");
    default: // trailer_value
        if (c == '\r')
            return line_end(p, body_state::trailer);
        return is_field_vchar(c) || is_ows(c) ? step::more
                                              : bad_request(p, "control character in a trailer");
    }
}

// One framing byte of a chunked body (not chunk data). A LF is valid only
// right after a CR: RFC 9112 §7.1 writes CRLF, and §2.2's leave to accept a
// bare LF covers the start line and header fields, not the framing.
step chunk_byte(xps_http_parser_t *p, unsigned char c) {
    if (p->bst == body_state::lf)
        return c == '\n' ? enter(p, p->after_lf) : bad_request(p, "CR not followed by LF");
    if (c == '\n')
        return bad_request(p, "bare LF in chunked framing (CRLF required)");
    switch (p->bst) {
    case body_state::data_cr:
        return c == '\r' ? line_end(p, body_state::size)
                         : bad_request(p, "chunk data longer than its size");
    case body_state::trailer:
    case body_state::trailer_name:
    case body_state::trailer_value:
        return trailer_byte(p, c);
    default: // size .. ext_quoted_end
        return size_line_byte(p, c);
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
