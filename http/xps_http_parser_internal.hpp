// http/xps_http_parser_internal.hpp — NOT a public header. What the
// parser's C++ files share: the states of its two machines, the character
// classes of the grammar, the slice helpers, and the layout of a parser.
//
//   xps_http_parser.cpp  lifecycle, the head machine (request line, header
//                        lines, the checks at the end of the head), accessors
//   xps_http_body.cpp    the body machine: Content-Length and chunked
//   xps_http_path.cpp    path normalisation and the other helpers of
//                        xps_http_parser.h (header lookup, list tokens)
//
// C++ on purpose, hence .hpp: public headers (*.h) are C11 and go through
// `make check-headers`; this one is included only by the three files above.
#ifndef XPS_HTTP_PARSER_INTERNAL_HPP
#define XPS_HTTP_PARSER_INTERNAL_HPP

#include "http/xps_http_parser.h"

#include <cstdint>
#include <vector>

namespace parser_detail {

// The states of the head machine, in the order a request passes them. The
// request-line states are contiguous (method .. version) so the line-length
// limit can be tested with one comparison.
enum class state : uint8_t {
    line_start,    // before the method: empty lines are skipped (§2.2)
    line_start_lf, // CR of an empty line before the request: LF must follow
    method,        // method = token (RFC 9110 §9.1), until SP
    target_start,  // first byte of request-target: it decides the form (§3.2)
    t_scheme,      // absolute-form: scheme letters, until ':'
    t_slash1,      // absolute-form: the first '/' of "://"
    t_slash2,      // absolute-form: the second '/'
    t_authority,   // absolute- and authority-form: host[:port]
    t_path,        // path bytes, until '?' or SP
    t_pct1,        // "%" in the path: first hex digit
    t_pct2,        // second hex digit
    t_query,       // query bytes, until SP
    t_asterisk,    // asterisk-form "*": SP must follow
    version,       // "HTTP/" DIGIT "." DIGIT, byte by byte (§2.3)
    line_cr,       // CR after the version: LF must follow
    field_start,   // start of a line: a field name, or the blank line (§5)
    field_name,    // field-name = token, until ':'
    field_name_ws, // whitespace after a name: refused at ':' or the line end
    field_ows,     // OWS after the colon
    field_value,   // field-value, until CR/LF (trailing OWS trimmed)
    field_cr,      // CR after a value: LF must follow
    head_cr,       // CR of the blank line: LF must follow
    done,          // head complete; parse_head returns XPS_OK from now on
    failed,        // refused; parse_head returns XPS_E_INVAL from now on
};

// The states of the body machine (RFC 9112 §6.3, §7.1). The chunk-size
// line states (size .. ext_quoted_end) follow the grammar of §7.1.1:
//   chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
// so whitespace is accepted exactly where BWS stands, nowhere else.
enum class body_state : uint8_t {
    length,          // Content-Length: `remaining` bytes of data
    size,            // chunk-size = 1*HEXDIG
    size_bws,        // BWS after the size or a value: only ";" may follow
    ext_name_start,  // after ";": BWS, then chunk-ext-name = token
    ext_name,        // the name
    ext_name_bws,    // BWS after the name: "=" or ";" must follow
    ext_value_start, // after "=": BWS, then chunk-ext-val = token / quoted-string
    ext_token,       // a token value
    ext_quoted,      // inside a quoted-string value (RFC 9110 §5.6.4)
    ext_quoted_pair, // after "\" in it: the escaped byte
    ext_quoted_end,  // after its closing DQUOTE
    data,            // chunk-data: `remaining` bytes
    data_cr,         // the CR of the CRLF after chunk-data
    trailer,         // start of a trailer line, or the final CRLF
    trailer_name,    // trailer field name, until ':'
    trailer_value,   // trailer field value, until the CR
    lf,              // a CR ended a line: LF must follow, then `after_lf`
    done,            // body complete
    failed,          // refused
};

// What one step of the head machine decided.
enum class step : uint8_t { more, complete, failed, nomem };

// Character classes, RFC 9110 §5.6.2 (tchar) and §5.5 (field-vchar).
constexpr bool is_alpha(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
constexpr bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
constexpr bool is_hex(unsigned char c) {
    return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}
constexpr int hex_value(unsigned char c) { return is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10; }
constexpr unsigned char lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? c | 0x20 : c; }
constexpr bool is_one_of(unsigned char c, const char *set) {
    for (; *set; set++)
        if (c == static_cast<unsigned char>(*set))
            return true;
    return false;
}

// Lookup tables built at compile time: a state tests one byte per lookup.
struct char_classes {
    bool tchar[256]; // token characters: methods, field names, codings
    bool host[256];  // unreserved and sub-delims of RFC 3986 §2: a reg-name
};
constexpr char_classes make_classes() {
    char_classes t{};
    for (int c = 0; c < 256; c++) {
        auto u = static_cast<unsigned char>(c);
        bool alnum = is_alpha(u) || is_digit(u);
        t.tchar[c] = alnum || is_one_of(u, "!#$%&'*+-.^_`|~");
        t.host[c] = alnum || is_one_of(u, "-._~!$&'()*+,;=");
    }
    return t;
}
inline constexpr char_classes classes = make_classes();

inline bool is_tchar(unsigned char c) { return classes.tchar[c]; }
inline bool is_host_byte(unsigned char c) { return classes.host[c]; }
// VCHAR or obs-text: a byte a field value may hold besides SP and HTAB.
constexpr bool is_field_vchar(unsigned char c) { return c > 0x20 && c != 0x7f; }
// A byte of the request-target, lenient on visible characters (clients
// send '"', '{', '|' unencoded), strict on controls, space and '#' (a
// fragment is never sent, RFC 9112 §3.2). obs-text is accepted.
constexpr bool is_target_byte(unsigned char c) { return c > 0x20 && c != 0x7f && c != '#'; }
constexpr bool is_ows(unsigned char c) { return c == ' ' || c == '\t'; }

inline xps_http_slice_t make_slice(size_t offset, size_t length) {
    return xps_http_slice_t{offset, length};
}

// a[0..n) equals the C string `text`, ignoring ASCII case.
inline bool iequals(const char *a, size_t n, const char *text) {
    size_t i = 0;
    for (; i < n && text[i] != '\0'; i++)
        if (lower(static_cast<unsigned char>(a[i])) != lower(static_cast<unsigned char>(text[i])))
            return false;
    return i == n && text[i] == '\0';
}

// Calls fn(offset, length) for each element of a comma-separated list
// (RFC 9110 §5.6.1), OWS trimmed; empty elements are skipped. Stops early
// and returns false when fn does.
template <typename Fn> bool for_each_element(const char *buf, xps_http_slice_t list, Fn fn) {
    size_t i = list.offset, end = list.offset + list.length;
    while (i < end) {
        size_t b = i;
        while (i < end && buf[i] != ',')
            i++;
        size_t e = i++;
        while (b < e && is_ows(buf[b]))
            b++;
        while (e > b && is_ows(buf[e - 1]))
            e--;
        if (e > b && !fn(b, e - b))
            return false;
    }
    return true;
}

} // namespace parser_detail

// One parser per connection. Fields grouped: head machine, facts gathered
// from header lines, body machine.
struct xps_http_parser_s {
    xps_http_limits_t limits; // copied at create
    parser_detail::state st;  // where the head machine is
    size_t pos;               // next byte of the head buffer to examine
    size_t line_begin;        // offset of the request line's first byte
    size_t mark;              // start of the item being scanned (method, target, name, value)
    size_t item;              // start of a sub-item: the authority, the path, the query
    size_t value_end;         // field value: offset after its last non-OWS byte
    xps_http_slice_t name;    // field name of the current line
    uint8_t pct;              // value of the first hex digit of a "%XY"
    uint8_t version_index;    // bytes of "HTTP/x.y" matched so far
    uint8_t major, minor;     // the version digits
    int status;               // after failing: the status to answer
    const char *reason;       // after failing: why (static)
    std::vector<xps_http_header_t> headers; // every header line (amortised growth)
    xps_http_head_t head;     // what parse_head reports

    // Facts from header lines, judged when the head completes.
    unsigned host_count;      // Host lines seen
    bool length_seen;         // a Content-Length line was seen
    uint64_t length;          // its value (UINT64_MAX: too big to hold)
    bool te_seen;             // a Transfer-Encoding line was seen
    bool te_chunked_last;     // the last coding listed was chunked
    unsigned te_chunked;      // how many times chunked was listed
    bool te_other;            // a coding other than chunked was listed
    bool conn_keep_alive;     // Connection lists keep-alive
    bool conn_upgrade;        // Connection lists upgrade
    bool upgrade_seen;        // an Upgrade line was seen

    // The body machine.
    parser_detail::body_state bst;  // where it is
    uint64_t remaining;             // data bytes left in the body or the chunk
    uint64_t chunk_size;            // the chunk size being read
    unsigned size_digits;           // hex digits read of it
    uint64_t body_total;            // body bytes announced so far (against max_body)
    parser_detail::body_state after_lf; // state `lf` goes to once the LF is there
    size_t line_len;                // bytes of the current chunk-size line, CRLF excluded
    size_t ext_bytes;               // chunk-ext bytes of the whole body (XPS_HTTP_CHUNK_EXT_MAX)
    size_t trailer_bytes;           // bytes of the trailer section (against max_head)
    size_t trailer_lines;           // trailer lines (against max_headers)
};

#endif // XPS_HTTP_PARSER_INTERNAL_HPP
