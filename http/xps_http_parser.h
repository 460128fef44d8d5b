/*
 * http/xps_http_parser.h — an incremental HTTP/1.1 request parser: the
 * request line, the header section, and the body (Content-Length or
 * chunked), as views into the caller's bytes.
 *
 * Why a state machine: bytes arrive as TCP delivers them, one byte or ten
 * thousand at a time, and a request head may be split anywhere. The parser
 * keeps its position and state between calls, so each byte is examined by
 * the state machine once however the input was cut, and it stops at the
 * first byte that makes the request invalid, with the status to answer and a
 * short reason. It never copies and never allocates per byte: everything it
 * reports is a slice (offset, length) into the caller's buffer.
 *
 * Introduced in stage 10 (a hand-built file server); the request object of
 * stage 11, the session of stage 12 and the HTTP/1.1 semantics of stage 13
 * (keep-alive, bodies, Expect, Upgrade) are built on it.
 *
 * The head: the caller appends received bytes to ONE contiguous buffer,
 * bounded by limits.max_head, and calls xps_http_parser_parse_head() with
 * the buffer and its length after every read. The buffer may move (realloc)
 * between calls: the parser keeps offsets, never pointers. The first bytes
 * must not change once passed.
 *
 * Rules (RFC 9112 unless noted; the chapter of stage 10 explains them):
 *  - request-line = method SP request-target SP HTTP-version, one SP each.
 *    method: a token (RFC 9110 §5.6.2); an unknown token is METHOD_OTHER,
 *    not an error. Empty lines before it are skipped (§2.2).
 *  - request-target (§3.2): origin-form "/path?query"; absolute-form
 *    "http://host:port/path?query" (http or https; no userinfo); authority-
 *    form "host:port", only with CONNECT; asterisk-form "*", only with
 *    OPTIONS. Any other pairing, a control byte, or a '#' → 400. In the
 *    path, "%" must be followed by two hex digits and "%00" is refused
 *    (400); the query is passed on as sent.
 *  - version: exactly "HTTP/" DIGIT "." DIGIT. HTTP/1.0 and HTTP/1.1 are
 *    accepted; any other well-formed version → 505 (xps accepts only these
 *    two, also HTTP/1.2, which RFC 9110 §6.2 says it SHOULD treat as 1.1);
 *    anything else, or no version → 400.
 *  - field-line = field-name ":" OWS field-value OWS (§5). A space before
 *    the colon, a line without a colon, a line starting with SP/HTAB
 *    (obsolete folding, §5.2), a NUL or other control byte → 400. Names
 *    are compared without regard to case.
 *  - line endings: CRLF; a CR not followed by LF → 400. A bare LF also ends
 *    a line of the head (RFC 9112 §2.2 lets a recipient accept it: typing
 *    at nc sends LF), unless limits.strict_crlf, then → 400.
 *  - semantics checked when the head completes: HTTP/1.1 without Host, or
 *    two Host lines, or an invalid Host value → 400 (§3.2). Framing
 *    (§6.1, §6.3, the request-smuggling defences): Content-Length must be
 *    digits, equal if repeated, else 400; Transfer-Encoding with
 *    Content-Length → 400; Transfer-Encoding in HTTP/1.0 → 400; chunked not
 *    last, or twice → 400; a coding other than chunked → 501;
 *    Content-Length above limits.max_body → 413.
 *  - limits: request line longer than max_request_line → 414 when the
 *    target is what is long, 400 when the method is; head longer than
 *    max_head or more than max_headers header lines → 431.
 *
 * The body: after the head, xps_http_parser_parse_body() is fed the bytes
 * that follow it (the rest of the head buffer, then each read) from any
 * buffer, and reports the body's data one slice at a time. Content-Length
 * is counted down. Chunked framing (§7.1) is decoded strictly, because a
 * proxy and the server behind it must agree on where a chunked body ends:
 *  - every framing line (chunk-size line, the CRLF after chunk data, trailer
 *    lines, the final blank line) ends in CRLF; a bare LF → 400 whatever
 *    limits.strict_crlf says (§2.2's leniency is for the head only).
 *  - chunk-size = 1*HEXDIG, at most 16 digits (64 bits; more can only be
 *    leading zeros) → else 400; the sizes summing over max_body → 413.
 *  - extensions (§7.1.1) are parsed by their grammar, then skipped:
 *    *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] ).
 *    Whitespace anywhere else ("5 \r\n", "5;a \r\n") → 400; a chunk-size
 *    line over XPS_HTTP_CHUNK_LINE_MAX bytes, or extensions over
 *    XPS_HTTP_CHUNK_EXT_MAX bytes in one body → 400.
 *  - trailer lines (§7.1.2) are checked like header lines (more than
 *    max_head bytes or max_headers lines → 431) and skipped: never merged
 *    into the head, never handed out.
 *
 * Lifecycle: create → parse_head ... → [parse_body ...] → reset (next
 * request on the same connection) or destroy.
 * Ownership: the parser owns its header array; the caller owns every byte.
 * Errors: the parse functions return XPS_OK, XPS_E_AGAIN (more bytes
 * needed), XPS_E_NEXT (body: a data slice), XPS_E_INVAL (the request is
 * refused: see xps_http_parser_status and _reason), XPS_E_NOMEM.
 * Threading: none.
 */
#ifndef XPS_HTTP_XPS_HTTP_PARSER_H
#define XPS_HTTP_XPS_HTTP_PARSER_H

#include "core/xps.h"
#include "http/xps_http.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xps_http_parser_s xps_http_parser_t;

/* What the parser accepts. Each limit names the status it produces. */
typedef struct xps_http_limits {
    size_t max_request_line; /* bytes of the request line, CRLF excluded → 414/400 */
    size_t max_head;         /* bytes from the first byte to the end of the blank line → 431 */
    size_t max_headers;      /* header lines → 431 */
    uint64_t max_body;       /* body bytes: Content-Length, or the sum of the chunks → 413 */
    bool strict_crlf;        /* true: a bare LF in the head is an error (400)
                                instead of a line end (chunked framing never
                                accepts one) */
} xps_http_limits_t;

/* The longest chunk-size line accepted, CRLF excluded (RFC 9112 §7.1.1
 * asks a server to limit extensions). The size takes at most 16 hex
 * digits; the extensions used in practice (a per-chunk signature, under
 * 100 bytes) fit ten times over. Longer → 400. */
#define XPS_HTTP_CHUNK_LINE_MAX 1024

/* The most chunk-extension bytes (all that follows the size on its line)
 * one body may carry, its chunks together. The line bound alone would let
 * a body of 1-byte chunks make xps read and skip a kilobyte of framing per
 * byte of data; 16 KiB, a default head's worth, is what hyper allows per
 * body too. More → 400. */
#define XPS_HTTP_CHUNK_EXT_MAX 16384

/* 8 KiB request line (RFC 9112 §3 recommends supporting at least 8000
 * octets), 16 KiB head, 100 header lines, 1 MiB body, bare LF accepted
 * in the head. */
xps_http_limits_t xps_http_default_limits(void) XPS_NOEXCEPT;

/* The form of the request-target (RFC 9112 §3.2). */
enum xps_http_target_form {
    XPS_HTTP_FORM_NONE = 0,  /* not parsed yet */
    XPS_HTTP_FORM_ORIGIN,    /* "/path?query" */
    XPS_HTTP_FORM_ABSOLUTE,  /* "http://host:port/path?query" (to proxies) */
    XPS_HTTP_FORM_AUTHORITY, /* "host:port" (CONNECT) */
    XPS_HTTP_FORM_ASTERISK,  /* "*" (OPTIONS) */
};

/* How the body is delimited (RFC 9112 §6.3). */
enum xps_http_body_kind {
    XPS_HTTP_BODY_NONE = 0, /* neither header: no body */
    XPS_HTTP_BODY_LENGTH,   /* Content-Length bytes (possibly 0) */
    XPS_HTTP_BODY_CHUNKED,  /* Transfer-Encoding: chunked */
};

/* One header line: both slices into the head buffer. */
typedef struct xps_http_header {
    xps_http_slice_t name;  /* the field name as sent (case kept) */
    xps_http_slice_t value; /* the value without leading/trailing SP/HTAB */
} xps_http_header_t;

/* Everything the head said. Slices are into the head buffer passed to
 * parse_head (offsets from its first byte); absent items are {0, 0}. */
typedef struct xps_http_head {
    int method;                   /* enum xps_http_method */
    int version;                  /* enum xps_http_version */
    int target_form;              /* enum xps_http_target_form */
    xps_http_slice_t method_name; /* the method token as sent */
    xps_http_slice_t target;      /* the whole request-target as sent */
    xps_http_slice_t scheme;      /* absolute-form: "http" or "https" */
    xps_http_slice_t path;        /* raw path, still percent-encoded, no query;
                                     empty for "http://host" and for the
                                     authority and asterisk forms */
    xps_http_slice_t query;       /* after '?', without it */
    bool has_query;               /* a '?' was present (the query may be empty) */
    xps_http_slice_t host;        /* the host to route by, without the port
                                     ("[::1]" keeps its brackets): from the
                                     target in absolute and authority form
                                     (RFC 9112 §3.2.2), else from the Host
                                     header; empty if neither names one */
    uint16_t port;                /* port from the same place; 0 if none given */
    bool has_host_header;         /* a Host line was present */
    xps_http_slice_t host_header; /* its raw value */
    const xps_http_header_t *headers; /* every header line, in order; owned by
                                         the parser, valid until reset/destroy */
    size_t header_count;          /* entries in headers */
    int body;                     /* enum xps_http_body_kind */
    uint64_t content_length;      /* BODY_LENGTH: the body's size */
    bool keep_alive;              /* the client lets the connection stay open:
                                     1.1 without "close", or 1.0 with
                                     "keep-alive" (Connection tokens, §9.3) */
    bool connection_close;        /* Connection lists "close" */
    bool upgrade;                 /* HTTP/1.1, Connection lists "upgrade" AND
                                     an Upgrade header is present (RFC 9110
                                     §7.8: a server MUST ignore Upgrade in an
                                     HTTP/1.0 request) */
    xps_http_slice_t upgrade_protocols; /* the Upgrade header's value, as sent
                                           (set even when upgrade is false) */
    bool expect_continue;         /* Expect: 100-continue (RFC 9110 §10.1.1) */
    size_t head_length;           /* bytes of the head, blank line included:
                                     the body (or the next request) starts here */
} xps_http_head_t;

/* ---------------------------------------------------------- lifecycle */

/* A new parser, ready for a request. limits may be NULL (the defaults);
 * they are copied. NULL when out of memory or a limit is 0. */
xps_http_parser_t *xps_http_parser_create(const xps_http_limits_t *limits) XPS_NOEXCEPT;

/* Frees the parser and its header array. Accepts NULL. */
void xps_http_parser_destroy(xps_http_parser_t *parser) XPS_NOEXCEPT;

/* Forgets the current request: ready to parse the next one from a new
 * buffer (offsets start again at 0). Keeps the header array's memory. */
void xps_http_parser_reset(xps_http_parser_t *parser) XPS_NOEXCEPT;

/* Arms the body decoder for a message whose head was read elsewhere: a
 * proxy following an upstream's response to find where it ends (RFC 9112
 * §6.3). body: XPS_HTTP_BODY_LENGTH (`length` bytes) or
 * XPS_HTTP_BODY_CHUNKED; then xps_http_parser_parse_body works as after a
 * head, with the same strict chunked rules and the parser's limits
 * (create it with the max_body you accept). Forgets the current request.
 * [stage 13] */
void xps_http_parser_start_body(xps_http_parser_t *parser, int body,
                                uint64_t length) XPS_NOEXCEPT;

/* --------------------------------------------------------- operations */

/* Parses the head in buf[0..len), resuming where the previous call stopped
 * (len must not shrink; bytes already passed must not change). Returns
 * XPS_OK: the head is complete (xps_http_parser_head); XPS_E_AGAIN: more
 * bytes are needed; XPS_E_INVAL: refused (status, reason); XPS_E_NOMEM.
 * Bytes after the head are never read. After XPS_OK or XPS_E_INVAL,
 * further calls return the same code. */
int xps_http_parser_parse_head(xps_http_parser_t *parser, const char *buf,
                               size_t len) XPS_NOEXCEPT;

/* Decodes body bytes in[0..len) (any buffer; call only after parse_head
 * returned XPS_OK). *consumed gets how many bytes of `in` were used; pass
 * the rest again next time. Returns XPS_E_NEXT: *data is a slice of body
 * data, relative to `in` (forward it, then call again with in + consumed);
 * XPS_E_AGAIN: every byte used, more needed; XPS_OK: the body is complete
 * (bytes after *consumed belong to the next request); XPS_E_INVAL: refused
 * (status, reason). A request without a body is complete at once. */
int xps_http_parser_parse_body(xps_http_parser_t *parser, const char *in, size_t len,
                               size_t *consumed, xps_http_slice_t *data) XPS_NOEXCEPT;

/* ---------------------------------------------------------- accessors */

/* The head, once parse_head has returned XPS_OK; NULL before. Owned by
 * the parser, valid until reset or destroy. */
const xps_http_head_t *xps_http_parser_head(const xps_http_parser_t *parser) XPS_NOEXCEPT;

/* After XPS_E_INVAL: the status to answer (400, 413, 414, 431, 501, 505);
 * XPS_HTTP_STATUS_NONE otherwise. */
int xps_http_parser_status(const xps_http_parser_t *parser) XPS_NOEXCEPT;

/* After XPS_E_INVAL: why, in a few words ("header line without a colon");
 * static, never NULL ("" when there is no error). */
const char *xps_http_parser_reason(const xps_http_parser_t *parser) XPS_NOEXCEPT;

/* ------------------------------------------------------------ helpers */

/* The first header named `name` (any case) after `after` (NULL: from the
 * start), or NULL. `buf` is the head buffer the head's slices point into. */
const xps_http_header_t *xps_http_head_find(const xps_http_head_t *head, const char *buf,
                                            const char *name,
                                            const xps_http_header_t *after) XPS_NOEXCEPT;

/* Whether buf's slice equals `text`, ignoring ASCII case. */
bool xps_http_slice_iequals(const char *buf, xps_http_slice_t slice,
                            const char *text) XPS_NOEXCEPT;

/* Whether the comma-separated list in buf's slice (a Connection or
 * Transfer-Encoding value, RFC 9110 §5.6.1) has the element `token`,
 * ignoring case and the spaces around elements. */
bool xps_http_list_has_token(const char *buf, xps_http_slice_t list,
                             const char *token) XPS_NOEXCEPT;

/* Percent-decodes the path raw[0..len) and removes dot segments (RFC 3986
 * §5.2.4), AFTER decoding, so "%2e%2e" and "..%2f" are dot segments and
 * separators too; repeated '/' collapse to one. Writes the result to
 * out (NUL-terminated; *out_len without the NUL): always absolute ("/" for
 * an empty path), never with a "." or ".." segment, a trailing '/' kept.
 * Returns XPS_OK; XPS_E_PERMISSION when a ".." would climb above "/"
 * (answer 403: the same refusal as the file module's); XPS_E_INVAL for a
 * bad escape or an encoded NUL (400); XPS_E_LIMIT when cap is too small
 * (cap >= len + 2 always suffices). raw needs no NUL. */
int xps_http_path_normalize(const char *raw, size_t len, char *out, size_t cap,
                            size_t *out_len) XPS_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* XPS_HTTP_XPS_HTTP_PARSER_H */
