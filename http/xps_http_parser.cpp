// http/xps_http_parser.cpp — the request parser's head: a byte-at-a-time
// state machine for the request line and the header lines, the checks made
// once the head is complete (Host, the framing rules of RFC 9112 §6), and
// the parser's lifecycle and accessors.
//
// [stage 10] Every state names the grammar rule of RFC 9112 it implements.
// The machine examines each byte once and remembers where things start
// (offsets, never pointers), so a head may arrive split at any byte and the
// buffer may move between calls. Values whose meaning matters (the target's
// authority, Host, Content-Length, Transfer-Encoding, Connection, Expect,
// Upgrade) are interpreted once more when their line is complete: a second
// look at a few bytes, never a re-scan from the start.
//
// The rest of the parser: xps_http_body.cpp decodes the body,
// xps_http_path.cpp normalises the path and holds the other helpers; the
// states, character classes and the parser's fields they share are in
// xps_http_parser_internal.hpp.
#include "http/xps_http_parser.h"
#include "http/xps_http_parser_internal.hpp"

#include <cassert>
#include <cstring>
#include <new>
#include <vector>

using namespace parser_detail; // the shared states, classes and helpers

namespace {

// host [":" port] (RFC 3986 §3.2.2-3.2.3), as in an absolute-form target,
// an authority-form target or a Host value. host: reg-name, IPv4 or a
// bracketed IPv6 literal; no userinfo. An empty port ("host:") counts as
// absent; port 0 is refused. An empty authority is valid only if
// allow_empty (a Host header may be empty, RFC 9112 §3.2). Returns false
// when invalid; fills host (brackets kept) and port (0 if absent).
bool parse_authority(const char *buf, xps_http_slice_t a, bool require_port, bool allow_empty,
                     xps_http_slice_t *host, uint16_t *port) {
    size_t i = a.offset, end = a.offset + a.length;
    if (a.length == 0)
        return *host = a, *port = 0, allow_empty && !require_port;
    if (buf[i] == '[') {
        while (++i < end && buf[i] != ']')
            if (!is_hex(buf[i]) && buf[i] != ':' && buf[i] != '.')
                return false;
        if (i == end || i == a.offset + 1)
            return false;
        i++; // past ']'
    } else {
        for (; i < end && buf[i] != ':'; i++) {
            if (buf[i] == '%' && i + 2 < end && is_hex(buf[i + 1]) && is_hex(buf[i + 2]))
                i += 2;
            else if (!is_host_byte(buf[i]))
                return false;
        }
    }
    *host = make_slice(a.offset, i - a.offset);
    if (host->length == 0 || (i < end && buf[i] != ':'))
        return false;
    size_t digits = i < end ? end - (i + 1) : 0;
    uint32_t value = 0;
    for (size_t j = end - digits; j < end; j++)
        if (!is_digit(buf[j]) || digits > 5 || (value = value * 10 + (buf[j] - '0')) > 65535)
            return false;
    *port = static_cast<uint16_t>(value);
    return digits > 0 ? value > 0 : !require_port;
}

int method_from(const char *m, size_t n) {
    static const struct { const char *name; int method; } known[] = {
        {"GET", XPS_HTTP_METHOD_GET},         {"HEAD", XPS_HTTP_METHOD_HEAD},
        {"POST", XPS_HTTP_METHOD_POST},       {"PUT", XPS_HTTP_METHOD_PUT},
        {"DELETE", XPS_HTTP_METHOD_DELETE},   {"CONNECT", XPS_HTTP_METHOD_CONNECT},
        {"OPTIONS", XPS_HTTP_METHOD_OPTIONS}, {"TRACE", XPS_HTTP_METHOD_TRACE},
        {"PATCH", XPS_HTTP_METHOD_PATCH},
    };
    for (const auto &k : known) // methods are case-sensitive (RFC 9110 §9.1)
        if (std::strlen(k.name) == n && std::memcmp(k.name, m, n) == 0)
            return k.method;
    return XPS_HTTP_METHOD_OTHER;
}

step fail(xps_http_parser_t *p, int status, const char *reason) {
    p->st = state::failed;
    p->status = status;
    p->reason = reason;
    return step::failed;
}

step bare_lf(xps_http_parser_t *p) {
    return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "bare LF line ending (strict CRLF mode)");
}

// A line over the limit: the target's fault (414) unless the method alone
// is that long (400).
step line_too_long(xps_http_parser_t *p) {
    if (p->st == state::method)
        return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "method longer than the request-line limit");
    return fail(p, XPS_HTTP_STATUS_URI_TOO_LONG, "request line longer than the limit");
}

// The target ended (at SP): pairing of form and method (§3.2.3, §3.2.4).
step end_target(xps_http_parser_t *p) {
    p->head.target = make_slice(p->mark, p->pos - p->mark);
    if (p->head.target_form == XPS_HTTP_FORM_AUTHORITY)
        p->head.path = make_slice(0, 0); // no path in this form
    if (p->head.target_form == XPS_HTTP_FORM_ASTERISK && p->head.method != XPS_HTTP_METHOD_OPTIONS)
        return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "asterisk-form target without OPTIONS");
    p->st = state::version;
    p->version_index = 0;
    return step::more;
}

// The authority of an absolute- or authority-form target ended at pos.
bool end_authority(xps_http_parser_t *p, const char *buf) {
    bool authority_form = p->head.target_form == XPS_HTTP_FORM_AUTHORITY;
    return parse_authority(buf, make_slice(p->item, p->pos - p->item), authority_form, false,
                           &p->head.host, &p->head.port);
}

// request-target, origin- and absolute-form, after the authority.
step target_byte(xps_http_parser_t *p, unsigned char c) {
    if (p->st == state::t_pct1 || p->st == state::t_pct2) {
        if (!is_hex(c))
            return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "bad percent-escape in the path");
        if (p->st == state::t_pct2 && p->pct == 0 && hex_value(c) == 0)
            return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "%00 (NUL) in the path");
        p->pct = static_cast<uint8_t>(hex_value(c));
        p->st = p->st == state::t_pct1 ? state::t_pct2 : state::t_path;
        return step::more;
    }
    if (c == ' ' || (c == '?' && p->st == state::t_path)) { // a later '?' is query data
        xps_http_slice_t &item = p->st == state::t_path ? p->head.path : p->head.query;
        item = make_slice(p->item, p->pos - p->item);
        if (c == ' ')
            return end_target(p);
        p->head.has_query = true;
        p->item = p->pos + 1;
        p->st = state::t_query;
        return step::more;
    }
    if (c == '\r' || c == '\n')
        return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "request line without an HTTP version");
    if (!is_target_byte(c))
        return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "invalid character in the request target");
    if (c == '%' && p->st == state::t_path)
        p->st = state::t_pct1;
    return step::more;
}

// The start of the target and the scheme/authority of the absolute-form.
step target_head(xps_http_parser_t *p, const char *buf, unsigned char c) {
    switch (p->st) {
    case state::target_start:
        p->mark = p->item = p->pos;
        if (p->head.method == XPS_HTTP_METHOD_CONNECT) { // authority-form (§3.2.3)
            p->head.target_form = XPS_HTTP_FORM_AUTHORITY;
            p->st = state::t_authority;
            return target_head(p, buf, c);
        }
        if (c == '/')
            return p->head.target_form = XPS_HTTP_FORM_ORIGIN, p->st = state::t_path, step::more;
        if (c == '*')
            return p->head.target_form = XPS_HTTP_FORM_ASTERISK, p->st = state::t_asterisk,
                   step::more;
        if (is_alpha(c))
            return p->head.target_form = XPS_HTTP_FORM_ABSOLUTE, p->st = state::t_scheme,
                   step::more;
        if (c == ' ')
            return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "more than one space after the method");
        if (c == '\r' || c == '\n')
            return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "request line without a target");
        return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "invalid request target");
    case state::t_scheme:
        if (is_alpha(c) || is_digit(c) || c == '+' || c == '-' || c == '.')
            return step::more;
        p->head.scheme = make_slice(p->mark, p->pos - p->mark);
        if (c != ':')
            return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "invalid request target");
        if (!xps_http_slice_iequals(buf, p->head.scheme, "http") &&
            !xps_http_slice_iequals(buf, p->head.scheme, "https"))
            return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "absolute-form target not http or https");
        return p->st = state::t_slash1, step::more;
    case state::t_slash1:
    case state::t_slash2:
        if (c != '/')
            return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "absolute-form target without \"//\"");
        p->item = p->pos + 1;
        return p->st = p->st == state::t_slash1 ? state::t_slash2 : state::t_authority, step::more;
    default: // t_authority
        if (c != '/' && c != '?' && c != ' ' && c != '\r' && c != '\n') {
            if (!is_target_byte(c))
                return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "invalid character in the request target");
            return step::more;
        }
        if (!end_authority(p, buf))
            return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "invalid host or port in the request target");
        if (p->head.target_form == XPS_HTTP_FORM_AUTHORITY && c != ' ' && c != '\r' && c != '\n')
            return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "authority-form target with a path");
        p->item = p->pos; // an empty path starts (and ends) here
        p->st = state::t_path;
        return target_byte(p, c);
    }
}

// "HTTP/" DIGIT "." DIGIT (§2.3: case-sensitive), then the line end.
step version_byte(xps_http_parser_t *p, unsigned char c) {
    static const char form[] = "HTTP/0.0";
    unsigned i = p->version_index;
    if (i == 0 && (c == '\r' || c == '\n'))
        return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "request line without an HTTP version");
    if (i == 0 && c == ' ')
        return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "more than one space after the target");
    bool ok = i < 8 && (form[i] == '0' ? is_digit(c) : c == static_cast<unsigned char>(form[i]));
    if (i == 8 && (c == '\r' || c == '\n'))
        ok = true;
    if (!ok)
        return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "malformed HTTP version");
    if (i == 5)
        p->major = static_cast<uint8_t>(c - '0');
    if (i == 7)
        p->minor = static_cast<uint8_t>(c - '0');
    p->version_index++;
    return step::more;
}

// After the request line's LF: is it a version we speak?
step end_request_line(xps_http_parser_t *p) {
    if (p->major != 1 || p->minor > 1)
        return fail(p, XPS_HTTP_STATUS_HTTP_VERSION_NOT_SUPPORTED,
                    "HTTP version other than 1.0 and 1.1");
    p->head.version = p->minor == 0 ? XPS_HTTP_VERSION_1_0 : XPS_HTTP_VERSION_1_1;
    p->st = state::field_start;
    return step::more;
}

// request-line (§3). A dispatch over its states: one case per state keeps
// the grammar readable side by side with the RFC, hence the length.
step line_byte(xps_http_parser_t *p, const char *buf, unsigned char c) {
    switch (p->st) {
    case state::line_start:
        if (c == '\r')
            return p->st = state::line_start_lf, step::more;
        if (c == '\n')
            return p->limits.strict_crlf ? bare_lf(p) : step::more;
        if (!is_tchar(c))
            return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "invalid character in the method");
        p->line_begin = p->mark = p->pos;
        return p->st = state::method, step::more;
    case state::line_start_lf:
        if (c != '\n')
            return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "CR not followed by LF");
        return p->st = state::line_start, step::more;
    case state::method:
        if (is_tchar(c))
            return step::more;
        if (c == '\r' || c == '\n')
            return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "request line without a target");
        if (c != ' ')
            return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "invalid character in the method");
        p->head.method_name = make_slice(p->mark, p->pos - p->mark);
        p->head.method = method_from(buf + p->mark, p->pos - p->mark);
        return p->st = state::target_start, step::more;
    case state::target_start:
    case state::t_scheme:
    case state::t_slash1:
    case state::t_slash2:
    case state::t_authority:
        return target_head(p, buf, c);
    case state::t_path:
    case state::t_pct1:
    case state::t_pct2:
    case state::t_query:
        return target_byte(p, c);
    case state::t_asterisk:
        if (c == ' ')
            return end_target(p);
        if (c == '\r' || c == '\n')
            return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "request line without an HTTP version");
        return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "invalid request target");
    case state::version:
        if (version_byte(p, c) == step::failed)
            return step::failed;
        if (c == '\r')
            return p->st = state::line_cr, step::more;
        if (c == '\n')
            return p->limits.strict_crlf ? bare_lf(p) : end_request_line(p);
        return step::more;
    default: // line_cr
        if (c != '\n')
            return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "CR not followed by LF");
        return end_request_line(p);
    }
}

// Content-Length (RFC 9110 §8.6): 1*DIGIT; a list of equal values, or
// equal values on several lines, is accepted as one (§8.6 allows it);
// anything else makes the framing unknowable: 400 (RFC 9112 §6.3 item 5).
step content_length(xps_http_parser_t *p, const char *buf, xps_http_slice_t value) {
    bool ok = value.length > 0;
    size_t elements = 0;
    for_each_element(buf, value, [&](size_t off, size_t n) {
        uint64_t v = 0;
        elements++;
        for (size_t i = off; ok && i < off + n; i++) {
            if (!is_digit(buf[i]))
                ok = false;
            else if (v > (UINT64_MAX - 9) / 10)
                v = UINT64_MAX; // saturate: over any limit, refused with 413
            else if (v != UINT64_MAX)
                v = v * 10 + static_cast<unsigned>(buf[i] - '0');
        }
        if (ok && p->length_seen && v != p->length)
            return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "conflicting Content-Length values"), false;
        p->length_seen = true;
        p->length = v;
        return ok;
    });
    if (p->st == state::failed)
        return step::failed;
    if (!ok || elements == 0)
        return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "invalid Content-Length value");
    return step::more;
}

// Transfer-Encoding (RFC 9112 §6.1): a list of codings, possibly over
// several lines; judged when the head completes.
step transfer_encoding(xps_http_parser_t *p, const char *buf, xps_http_slice_t value) {
    p->te_seen = true;
    bool ok = for_each_element(buf, value, [&](size_t off, size_t n) {
        size_t name = 0;
        while (name < n && is_tchar(buf[off + name]))
            name++;
        if (name == 0)
            return false;
        bool chunked = iequals(buf + off, name, "chunked");
        if (name != n && (chunked || (buf[off + name] != ';' && !is_ows(buf[off + name]))))
            return false; // chunked takes no parameters; others: token [params]
        p->te_chunked += chunked;
        p->te_other |= !chunked;
        p->te_chunked_last = chunked;
        return true;
    });
    return ok ? step::more
              : fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "invalid Transfer-Encoding value");
}

// A complete header line: record it, and note what the known ones say.
step end_field(xps_http_parser_t *p, const char *buf) {
    xps_http_slice_t value = make_slice(p->mark, p->value_end - p->mark);
    try {
        p->headers.push_back(xps_http_header_t{p->name, value});
    } catch (const std::bad_alloc &) {
        return step::nomem;
    }
    p->st = state::field_start;
    const xps_http_slice_t n = p->name;
    if (xps_http_slice_iequals(buf, n, "host")) {
        xps_http_slice_t host;
        uint16_t port;
        if (++p->host_count > 1)
            return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "more than one Host header");
        p->head.has_host_header = true;
        p->head.host_header = value;
        if (!parse_authority(buf, value, false, true, &host, &port))
            return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "invalid Host header value");
    } else if (xps_http_slice_iequals(buf, n, "content-length")) {
        return content_length(p, buf, value);
    } else if (xps_http_slice_iequals(buf, n, "transfer-encoding")) {
        return transfer_encoding(p, buf, value);
    } else if (xps_http_slice_iequals(buf, n, "connection")) {
        p->head.connection_close |= xps_http_list_has_token(buf, value, "close");
        p->conn_keep_alive |= xps_http_list_has_token(buf, value, "keep-alive");
        p->conn_upgrade |= xps_http_list_has_token(buf, value, "upgrade");
    } else if (xps_http_slice_iequals(buf, n, "expect")) {
        p->head.expect_continue |= xps_http_slice_iequals(buf, value, "100-continue");
    } else if (xps_http_slice_iequals(buf, n, "upgrade") && !p->upgrade_seen) {
        p->upgrade_seen = true;
        p->head.upgrade_protocols = value;
    }
    return step::more;
}

// Sets the body machine going for a body of this kind (and length).
void arm_body(xps_http_parser_t *p, int body, uint64_t length) {
    p->head.body = body;
    p->head.content_length = body == XPS_HTTP_BODY_LENGTH ? length : 0;
    p->remaining = p->head.content_length;
    p->bst = body == XPS_HTTP_BODY_CHUNKED ? body_state::size
             : p->remaining > 0            ? body_state::length
                                           : body_state::done;
}

// The framing rules of RFC 9112 §6.1 and §6.3: where request smuggling is
// stopped. Two parsers (a proxy's and a server's) must never disagree on
// where a body ends, so every ambiguous case is refused.
step framing(xps_http_parser_t *p) {
    xps_http_head_t &h = p->head;
    if (p->te_seen && p->length_seen) // §6.3 item 3: "ought to be handled as an error"
        return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "both Transfer-Encoding and Content-Length");
    if (p->te_seen && h.version == XPS_HTTP_VERSION_1_0) // §6.1: faulty framing
        return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "Transfer-Encoding in an HTTP/1.0 request");
    if (p->te_seen && p->te_chunked > 1) // §7: chunked at most once
        return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "chunked listed more than once");
    if (p->te_seen && !p->te_chunked_last) // §6.3 item 4: length unknowable
        return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "chunked is not the final transfer coding");
    if (p->te_other) // §6.1: a coding we do not implement
        return fail(p, XPS_HTTP_STATUS_NOT_IMPLEMENTED, "transfer coding other than chunked");
    if (p->length_seen && p->length > p->limits.max_body)
        return fail(p, XPS_HTTP_STATUS_CONTENT_TOO_LARGE, "Content-Length over the body limit");
    arm_body(p, p->te_seen ? XPS_HTTP_BODY_CHUNKED
                : p->length_seen ? XPS_HTTP_BODY_LENGTH
                                 : XPS_HTTP_BODY_NONE,
             p->length_seen ? p->length : 0);
    return step::complete;
}

// The blank line: the head is complete. Judge what needs all of it.
step end_head(xps_http_parser_t *p, const char *buf) {
    xps_http_head_t &h = p->head;
    if (h.version == XPS_HTTP_VERSION_1_1 && p->host_count == 0) // §3.2: MUST 400
        return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "HTTP/1.1 request without a Host header");
    if (framing(p) == step::failed)
        return step::failed;
    if (h.target_form != XPS_HTTP_FORM_ABSOLUTE && h.target_form != XPS_HTTP_FORM_AUTHORITY &&
        h.has_host_header) // §3.2.2: the target's authority wins over Host
        parse_authority(buf, h.host_header, false, true, &h.host, &h.port);
    h.keep_alive = !h.connection_close &&
                   (h.version == XPS_HTTP_VERSION_1_1 || p->conn_keep_alive);
    // RFC 9110 §7.8: a server MUST ignore Upgrade in an HTTP/1.0 request
    // (a 1.0 intermediary does not honour Connection, so the hop-by-hop
    // field may have reached us without being meant for us).
    h.upgrade = h.version == XPS_HTTP_VERSION_1_1 && p->conn_upgrade && p->upgrade_seen;
    h.headers = p->headers.data();
    h.header_count = p->headers.size();
    h.head_length = p->pos + 1;
    p->st = state::done;
    return step::complete;
}

// field-line (§5). Same shape as line_byte: one case per state.
step field_byte(xps_http_parser_t *p, const char *buf, unsigned char c) {
    switch (p->st) {
    case state::field_start:
        if (c == '\r')
            return p->st = state::head_cr, step::more;
        if (c == '\n')
            return p->limits.strict_crlf ? bare_lf(p) : end_head(p, buf);
        if (is_ows(c)) // §5.2 obs-fold; §2.2 whitespace before the first field
            return fail(p, XPS_HTTP_STATUS_BAD_REQUEST,
                        p->headers.empty() ? "whitespace before the first header line"
                                           : "obsolete line folding");
        if (!is_tchar(c))
            return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, c == ':' ? "header line with an empty name"
                                                                 : "invalid character in a header name");
        if (p->headers.size() >= p->limits.max_headers)
            return fail(p, XPS_HTTP_STATUS_REQUEST_HEADER_FIELDS_TOO_LARGE, "too many header lines");
        p->mark = p->pos;
        return p->st = state::field_name, step::more;
    case state::field_name:
        if (is_tchar(c))
            return step::more;
        if (c == ':') {
            p->name = make_slice(p->mark, p->pos - p->mark);
            return p->st = state::field_ows, step::more;
        }
        if (is_ows(c)) // §5.1: 400 either way; read on to the colon to say why
            return p->st = state::field_name_ws, step::more;
        if (c == '\r' || c == '\n')
            return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "header line without a colon");
        return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "invalid character in a header name");
    case state::field_name_ws:
        if (c == ':')
            return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "whitespace between a header name and the colon");
        if (c == '\r' || c == '\n')
            return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "header line without a colon");
        if (is_field_vchar(c) || is_ows(c))
            return step::more;
        return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "invalid character in a header name");
    case state::field_ows:
        if (is_ows(c))
            return step::more;
        p->mark = p->value_end = p->pos;
        p->st = state::field_value;
        return field_byte(p, buf, c);
    case state::field_value:
        if (c == '\r')
            return p->st = state::field_cr, step::more;
        if (c == '\n')
            return p->limits.strict_crlf ? bare_lf(p) : end_field(p, buf);
        if (is_field_vchar(c))
            return p->value_end = p->pos + 1, step::more;
        if (is_ows(c))
            return step::more;
        return fail(p, XPS_HTTP_STATUS_BAD_REQUEST,
                    c == 0 ? "NUL in a header value" : "control character in a header value");
    case state::field_cr:
        if (c != '\n')
            return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "CR not followed by LF");
        return end_field(p, buf);
    default: // head_cr
        if (c != '\n')
            return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "CR not followed by LF");
        return end_head(p, buf);
    }
}

// Limits, checked around each byte: the request line (before the byte, so
// a line of exactly the limit passes) and the whole head (after it).
step check_limits(xps_http_parser_t *p, unsigned char c, bool before) {
    bool in_line = p->st >= state::method && p->st <= state::version;
    if (before)
        return in_line && p->pos - p->line_begin >= p->limits.max_request_line && c != '\r' &&
                       c != '\n'
                   ? line_too_long(p)
                   : step::more;
    if (p->pos + 1 < p->limits.max_head)
        return step::more;
    if (in_line || p->st == state::line_cr)
        return line_too_long(p);
    if (p->st == state::line_start || p->st == state::line_start_lf)
        return fail(p, XPS_HTTP_STATUS_BAD_REQUEST, "only empty lines, up to the head limit");
    return fail(p, XPS_HTTP_STATUS_REQUEST_HEADER_FIELDS_TOO_LARGE, "request head over the limit");
}

// The long runs of a head (a field value, a name, the path or the query)
// are bytes that need no decision: skip them in a tight loop instead of a
// dispatch per byte. It stops before any byte that needs one (a delimiter,
// a control byte, '%') and before the last byte each limit allows, so
// check_limits still sees that byte. Each byte is still examined once.
void fast_forward(xps_http_parser_t *p, const char *buf, size_t len) {
    size_t stop = len < p->limits.max_head - 1 ? len : p->limits.max_head - 1;
    size_t pos = p->pos;
    const auto *b = reinterpret_cast<const unsigned char *>(buf);
    switch (p->st) {
    case state::field_value:
        for (; pos < stop && (is_field_vchar(b[pos]) || is_ows(b[pos])); pos++)
            if (b[pos] > 0x20)
                p->value_end = pos + 1;
        break;
    case state::field_name:
        while (pos < stop && is_tchar(b[pos]))
            pos++;
        break;
    case state::t_path:
    case state::t_query: {
        size_t line_end = p->line_begin + p->limits.max_request_line;
        stop = stop < line_end ? stop : line_end;
        while (pos < stop && is_target_byte(b[pos]) && b[pos] != '%' && b[pos] != '?')
            pos++;
        break;
    }
    default:
        break;
    }
    p->pos = pos;
}

} // namespace

// ------------------------------------------------------------ lifecycle

xps_http_limits_t xps_http_default_limits(void) noexcept {
    xps_http_limits_t l;
    l.max_request_line = 8192;
    l.max_head = 16384;
    l.max_headers = 100;
    l.max_body = (uint64_t)1 << 20;
    l.strict_crlf = false;
    return l;
}

xps_http_parser_t *xps_http_parser_create(const xps_http_limits_t *limits) noexcept {
    xps_http_limits_t l = limits ? *limits : xps_http_default_limits();
    if (l.max_request_line == 0 || l.max_head == 0 || l.max_headers == 0)
        return nullptr;
    auto *p = new (std::nothrow) xps_http_parser_s();
    if (!p)
        return nullptr;
    p->limits = l;
    xps_http_parser_reset(p);
    return p;
}

void xps_http_parser_destroy(xps_http_parser_t *parser) noexcept { delete parser; }

void xps_http_parser_reset(xps_http_parser_t *p) noexcept {
    assert(p);
    std::vector<xps_http_header_t> keep;
    keep.swap(p->headers);
    keep.clear();
    xps_http_limits_t limits = p->limits;
    *p = xps_http_parser_s();
    p->limits = limits;
    p->headers.swap(keep); // the capacity survives: no allocation next time
    p->reason = "";
    p->bst = body_state::failed; // no body before a head
}

void xps_http_parser_start_body(xps_http_parser_t *p, int body, uint64_t length) noexcept {
    assert(p && (body == XPS_HTTP_BODY_LENGTH || body == XPS_HTTP_BODY_CHUNKED));
    xps_http_parser_reset(p);
    p->st = state::done; // parse_body's precondition: the head is behind us
    arm_body(p, body, length);
}

// ----------------------------------------------------------- operations

int xps_http_parser_parse_head(xps_http_parser_t *p, const char *buf, size_t len) noexcept {
    assert(p && (buf || len == 0) && len >= p->pos);
    while (p->st != state::done && p->st != state::failed && p->pos < len) {
        fast_forward(p, buf, len);
        if (p->pos == len)
            break;
        unsigned char c = static_cast<unsigned char>(buf[p->pos]);
        step s = check_limits(p, c, true);
        if (s == step::more)
            s = p->st < state::field_start ? line_byte(p, buf, c) : field_byte(p, buf, c);
        if (s == step::nomem)
            return XPS_E_NOMEM; // nothing consumed: the same byte is retried
        if (s == step::more)
            s = check_limits(p, c, false);
        p->pos++;
    }
    if (p->st == state::done)
        return XPS_OK;
    return p->st == state::failed ? XPS_E_INVAL : XPS_E_AGAIN;
}

// ------------------------------------------------------------ accessors

const xps_http_head_t *xps_http_parser_head(const xps_http_parser_t *p) noexcept {
    assert(p);
    return p->st == state::done ? &p->head : nullptr;
}

int xps_http_parser_status(const xps_http_parser_t *p) noexcept {
    assert(p);
    return p->status;
}

const char *xps_http_parser_reason(const xps_http_parser_t *p) noexcept {
    assert(p);
    return p->reason;
}
