/*
 * http/xps_http_semantics.h — the pure decisions of HTTP/1.1 that a file
 * server makes about a request, separated from any socket so that each can
 * be tested as a table: validators (ETag, Last-Modified) and conditional
 * requests (RFC 9110 §8.8, §13, If-Range included), byte ranges (RFC 9110
 * §14), and — for the proxy — scanning an upstream's response head to
 * learn how its body is framed (RFC 9112 §6.3).
 *
 * Why: these rules are short to state and easy to get subtly wrong (which
 * header wins, what "unsatisfiable" means, a suffix range longer than the
 * file). Written as functions of strings and numbers, they are checked
 * exhaustively in tests/unit/http_semantics.c; the session only calls them.
 *
 * Introduced in stage 13. Lifecycle: none (functions only). Ownership: the
 * caller's buffers; nothing is kept. Errors: results are enums, never
 * codes (a header we cannot understand is ignored, as the RFC says).
 * Threading: none (no state).
 */
#ifndef XPS_HTTP_XPS_HTTP_SEMANTICS_H
#define XPS_HTTP_XPS_HTTP_SEMANTICS_H

#include "core/xps.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Room for an ETag made by xps_http_etag_make, NUL included. */
#define XPS_HTTP_ETAG_MAX 48

/* What a Range header asks for, for a representation of known size. */
typedef enum xps_http_range_result {
    XPS_HTTP_RANGE_IGNORE = 0,        /* no usable single range: send 200 with
                                         everything (absent, not "bytes=",
                                         malformed, or several ranges) */
    XPS_HTTP_RANGE_OK = 1,            /* one satisfiable range: 206 */
    XPS_HTTP_RANGE_UNSATISFIABLE = 2, /* valid syntax, no byte of it exists:
                                         416 with "bytes * /size" */
} xps_http_range_result_t;

/* --------------------------------------------------------- operations */

/* The ETag of a file from its size and modification time, as a weak
 * validator: W/"<size hex>-<mtime seconds hex>" (RFC 9110 §8.8.3). Weak
 * because two different contents written in the same second with the same
 * size would share it: good enough for "has it changed?", not a promise
 * that the bytes are identical. out has XPS_HTTP_ETAG_MAX bytes. */
void xps_http_etag_make(uint64_t size, int64_t mtime, char *out) XPS_NOEXCEPT;

/* Whether the If-None-Match value list[0..len) matches `etag` with the weak
 * comparison (§8.8.3.2: W/ prefixes ignored): "*" matches anything, else any
 * element of the comma-separated list equal to etag (a comma inside an
 * entity-tag's quotes does not separate: etagc allows it). */
bool xps_http_etag_list_matches(const char *list, size_t len, const char *etag) XPS_NOEXCEPT;

/* Parses an HTTP date in the preferred form (IMF-fixdate, "Sun, 06 Nov 1994
 * 08:49:37 GMT", RFC 9110 §5.6.7) from text[0..len). true and *out (seconds
 * since 1970) when valid; false otherwise (the header is then ignored). */
bool xps_http_date_parse(const char *text, size_t len, int64_t *out) XPS_NOEXCEPT;

/* The conditional-GET decision for GET or HEAD (RFC 9110 §13.2.2): true
 * when the answer is 304 Not Modified. If-None-Match (inm, NULL if absent)
 * wins: when present, If-Modified-Since is not looked at (§13.1.3). Else
 * If-Modified-Since (ims, NULL if absent; an invalid date is ignored) gives
 * 304 when the file was not modified after it (mtime <= date). */
bool xps_http_not_modified(const char *inm, size_t inm_len, const char *ims, size_t ims_len,
                           const char *etag, int64_t mtime) XPS_NOEXCEPT;

/* If-Range value[0..len) (RFC 9110 §13.1.5): true when the Range may be
 * applied, false to send the whole representation (200). An entity-tag
 * holds on a strong match with etag (§8.8.3.2: a weak tag on either side
 * never matches; xps's own ETags are weak, so for them it never holds). An
 * HTTP-date holds when it equals mtime and that Last-Modified is strong, at
 * least 1 s before now (§8.8.2.2). Anything else → false. etag may be NULL. */
bool xps_http_if_range_holds(const char *value, size_t len, const char *etag, int64_t mtime,
                             int64_t now) XPS_NOEXCEPT;

/* Evaluates the Range value text[0..len) against a representation of
 * `size` bytes (RFC 9110 §14.1.2): "bytes=first-last", "bytes=first-" and
 * "bytes=-suffix". last beyond the end is cut to size-1; a suffix longer
 * than the file means the whole file. For XPS_HTTP_RANGE_OK, *first and
 * *last (inclusive) are set. Several ranges are IGNOREd (a server may
 * answer 200 with the whole representation, §14.2). */
xps_http_range_result_t xps_http_range_eval(const char *text, size_t len, uint64_t size,
                                            uint64_t *first, uint64_t *last) XPS_NOEXCEPT;

/* Whether a connection stays open after a response (RFC 9112 §9.3):
 * HTTP/1.1 (version 11) unless Connection has "close"; HTTP/1.0 (10) only
 * with "keep-alive". The parser applies this rule to every head (its
 * keep_alive field); here for the tests and the chapter. */
bool xps_http_keep_alive(int version, bool connection_close,
                         bool connection_keep_alive) XPS_NOEXCEPT;

/* How a response's body is delimited (RFC 9112 §6.3), as its head says.
 * [stage 13] */
typedef enum xps_http_response_framing {
    XPS_HTTP_FRAMING_NONE = 0, /* no body: 1xx, 204, 304 (an answer to HEAD
                                  has none either: the caller knows that) */
    XPS_HTTP_FRAMING_LENGTH,   /* content_length bytes (rule 6) */
    XPS_HTTP_FRAMING_CHUNKED,  /* chunked is the final coding (rule 4) */
    XPS_HTTP_FRAMING_CLOSE,    /* until the server closes: no length, or a
                                  coding other than chunked last (rules 4, 8) */
    XPS_HTTP_FRAMING_INVALID,  /* a Content-Length that is not digits, or
                                  values that differ, or one together with
                                  Transfer-Encoding: the body's end cannot be
                                  known, and a proxy answers 502 (rules 3, 5) */
} xps_http_response_framing_t;

/* What a proxy needs to know about an upstream's response head to frame
 * its body towards the client (RFC 9112 §6.3). [stage 13] */
typedef struct xps_http_response_head {
    size_t head_length;         /* bytes up to and including the blank line */
    int status;                 /* 100..999 */
    int version;                /* 10 or 11 */
    bool has_content_length;    /* a Content-Length field is present */
    bool has_transfer_encoding; /* a Transfer-Encoding field is present */
    int framing;                /* enum xps_http_response_framing */
    uint64_t content_length;    /* FRAMING_LENGTH: the body's size */
} xps_http_response_head_t;

/* Scans buf[0..len), the start of a response, for its head: status line
 * "HTTP/1.x NNN reason" and "name: value" lines up to an empty line, all
 * ending in CRLF (a bare CR, a bare LF or a NUL anywhere: XPS_E_INVAL,
 * RFC 9110 §5.5). XPS_OK and *out filled when the head is complete
 * (framing from the status and the two framing fields: several
 * Content-Length values, on one line or several, must be equal, RFC 9110
 * §8.6; of Transfer-Encoding only whether chunked is the last coding of
 * its last line counts);
 * XPS_E_AGAIN when more bytes are needed (nothing wrong so far); XPS_E_INVAL
 * when the bytes cannot be a response head (then relay them untouched).
 * It rescans from 0 on each call: heads are small and bounded by the caller. */
int xps_http_response_head_scan(const char *buf, size_t len,
                                xps_http_response_head_t *out) XPS_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* XPS_HTTP_XPS_HTTP_SEMANTICS_H */
