/*
 * http/xps_http_response.h — an HTTP/1.1 response head, built field by field
 * and serialised in one piece; the status table; the Date header's clock.
 *
 * Why: a response head hand-written with printf is where servers go wrong
 * in ways a browser forgives and a strict client does not: bare LF line
 * ends (the eXpServer course's sample serialiser), a missing Date, a
 * header sent twice, a Content-Length that disagrees with the body, or a
 * value carrying "\r\n" that lets whoever chose it append headers of their
 * own (header injection: a redirect target or a file name copied into a
 * header). The builder makes each of those impossible by construction:
 *  - lines end in CRLF, the head in CRLFCRLF (RFC 9112 §2.1);
 *  - names must be tokens, values must not hold CR, LF, NUL or any other
 *    control byte except tab (RFC 9110 §5.5): such a value is refused, the
 *    response is unchanged;
 *  - Content-Length is the builder's: the caller states the body (its
 *    length, its bytes, or "no body") and the header follows from it;
 *  - Date is written once, in IMF-fixdate (RFC 9110 §5.6.7), from a cache
 *    that formats at most once per second (see "Date" below).
 *
 * Introduced in stage 11 (stage 10 built the same bytes by hand in main).
 * Later stages add headers (Location 12, Allow/ETag/Range 13, Retry-After
 * 18) through the same calls.
 *
 * What a serialised head looks like, in this order:
 *
 *     HTTP/1.1 200 OK\r\n                    always HTTP/1.1 (RFC 9110 §6.2)
 *     Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n unless the caller set its own
 *     Server: eXpServer\r\n                   a default: set or remove it
 *     <the caller's headers, in the order they were first set>\r\n
 *     Content-Length: 1234\r\n                see "Body" below
 *     \r\n
 *     [the body bytes, only for xps_http_response_set_body]
 *
 * Body: the head must tell the client where the message ends. One of:
 *  - xps_http_response_set_body_length(n): n bytes follow the head, sent
 *    by the caller (a file through a pipe): "Content-Length: n";
 *  - xps_http_response_set_body(bytes, n): a small body the response
 *    copies and serialises right after the head (error pages);
 *  - neither: an empty body, "Content-Length: 0";
 *  - xps_http_response_omit_body(): the answer to HEAD. Content-Length still
 *    says how long the body would be (RFC 9110 §8.6), but none follows.
 *  Statuses 1xx, 204 and 304 never have a body (RFC 9112 §6.3): for 1xx and
 *  204 no Content-Length is written at all (RFC 9110 §8.6 forbids it); for
 *  304 only a length the caller set. A caller-set Transfer-Encoding (stage
 *  13's chunked replies) suppresses Content-Length (RFC 9112 §6.2).
 *
 * Date: xps_http_date() keeps the last string it formatted and the second it
 * belongs to. A call for the same second returns that string as it is;
 * a call for another second formats again. So a server answering 50 000
 * requests a second formats the date about once a second, not 50 000
 * times. The cache is one per process (one loop per process: no locking).
 *
 * Lifecycle: create → set headers, body → serialise (any number of times)
 * → destroy. Ownership: the response copies every name, value and body it
 * is given, so the caller's strings may be temporary; a serialised buffer
 * belongs to the caller. Errors: XPS_E_INVAL (bad status, name or value,
 * Content-Length set as a header), XPS_E_NOTFOUND (remove: no such
 * header), XPS_E_NOMEM. Threading: none.
 */
#ifndef XPS_HTTP_RESPONSE_H
#define XPS_HTTP_RESPONSE_H

#include "core/xps.h"
#include "http/xps_http.h" /* XPS_HTTP_STATUS_... */

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xps_http_response_s xps_http_response_t;

/* The Server header every response starts with (xps_http_response_create). */
#define XPS_HTTP_SERVER_NAME "eXpServer"

/* Length of an IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT", without its
 * NUL: size a buffer XPS_HTTP_DATE_LEN + 1. */
#define XPS_HTTP_DATE_LEN 29

/* --------------------------------------------------------- status table */

/* The reason phrase for `status` ("Not Found" for 404), as RFC 9110 §15
 * (and RFC 6585 for 428, 429, 431) spells it; static. NULL for a code the
 * table does not know. */
const char *xps_http_reason(int status) XPS_NOEXCEPT;

/* --------------------------------------------------------------- Date */

/* Formats `unix_seconds` (seconds since 1970, UTC) as an IMF-fixdate into
 * `out` (XPS_HTTP_DATE_LEN + 1 bytes, NUL-terminated). English day and
 * month names whatever the locale. Times before 1970 or after year 9999
 * are clamped to those ends (the format has four year digits). Uncached:
 * for Last-Modified and for tests. */
void xps_http_date_format(int64_t unix_seconds, char *out) XPS_NOEXCEPT;

/* The IMF-fixdate for `unix_seconds`, through the per-process cache: the
 * same second gives back the same string without formatting it again.
 * The string is static and changes at the next call for another second:
 * copy it to keep it. Pass time(NULL). */
const char *xps_http_date(int64_t unix_seconds) XPS_NOEXCEPT;

/* How many times xps_http_date() has formatted since the process started
 * (cache misses): what the unit tests and the chapter observe. */
uint64_t xps_http_date_format_count(void) XPS_NOEXCEPT;

/* ---------------------------------------------------------- lifecycle */

/* A response with `status` (100..599) and one header, Server: eXpServer.
 * Codes the table does not know are allowed; their status line has an
 * empty reason ("HTTP/1.1 299 \r\n", RFC 9112 §4). NULL and *error:
 * XPS_E_INVAL (status out of range), XPS_E_NOMEM. error may be NULL. */
xps_http_response_t *xps_http_response_create(int status, int *error) XPS_NOEXCEPT;

/* A small error page: `status`, Content-Type: text/plain, and the body
 * `text` followed by "\n" (text NULL: "<status> <reason>", e.g.
 * "404 Not Found"). More headers may be added before serialising (Allow,
 * Connection: close). NULL and *error as for create; XPS_E_INVAL also for a
 * text holding a control byte. */
xps_http_response_t *xps_http_response_create_error(int status, const char *text,
                                                    int *error) XPS_NOEXCEPT;

/* Frees the response. Buffers it serialised are the caller's and stay
 * valid. Accepts NULL. */
void xps_http_response_destroy(xps_http_response_t *res) XPS_NOEXCEPT;

/* ------------------------------------------------------------ headers */

/* Sets header `name` to `value`, replacing every header of that name
 * (compared case-insensitively); the first keeps its place, the others go.
 * Returns XPS_OK; XPS_E_INVAL when name is not a token (RFC 9110 §5.6.2)
 * or is Content-Length (use the body functions), or value holds a control
 * byte other than tab (CR and LF above all); XPS_E_NOMEM. On failure the
 * response is unchanged. Both strings are copied. */
int xps_http_response_set_header(xps_http_response_t *res, const char *name,
                                 const char *value) XPS_NOEXCEPT;

/* Appends one more header, keeping those of the same name (for fields
 * that may repeat, such as Set-Cookie or Vary). Same checks and returns as
 * set_header. */
int xps_http_response_add_header(xps_http_response_t *res, const char *name,
                                 const char *value) XPS_NOEXCEPT;

/* Removes every header named `name` (case-insensitively), including the
 * default Server header. XPS_OK, or XPS_E_NOTFOUND if there was none. */
int xps_http_response_remove_header(xps_http_response_t *res, const char *name) XPS_NOEXCEPT;

/* --------------------------------------------------------------- body */

/* `length` bytes will follow the head, sent by the caller: Content-Length.
 * Replaces a body given by set_body. */
void xps_http_response_set_body_length(xps_http_response_t *res, uint64_t length) XPS_NOEXCEPT;

/* Copies `len` bytes (len may be 0) as the body, serialised after the
 * head; Content-Length: len. For small bodies (error pages, redirects):
 * files go through set_body_length and a pipe. XPS_OK or XPS_E_NOMEM (then
 * the body is unchanged). */
int xps_http_response_set_body(xps_http_response_t *res, const void *bytes,
                               size_t len) XPS_NOEXCEPT;

/* No body follows the head, whatever was set: the answer to a HEAD
 * request. Content-Length stays as the length the body would have. */
void xps_http_response_omit_body(xps_http_response_t *res) XPS_NOEXCEPT;

/* ---------------------------------------------------------- serialise */

/* The head (and the body bytes of set_body, unless omitted) as one new
 * buffer, which the caller owns: write it into a pipe in one piece, so
 * the status line and every header leave in one write. `now` (seconds
 * since 1970; pass time(NULL)) gives the Date header through
 * xps_http_date(), unless the caller set a Date header. NULL and *error
 * XPS_E_NOMEM when out of memory. The response is not changed. */
xps_buffer_t *xps_http_response_serialize(const xps_http_response_t *res, int64_t now,
                                          int *error) XPS_NOEXCEPT;

/* The same, with `room` free bytes left in the buffer after what it holds
 * (xps_buffer_space), for a body the caller writes in itself — a small
 * file read straight into it, so that head and body leave in one send().
 * [stage 13] */
xps_buffer_t *xps_http_response_serialize_with_room(const xps_http_response_t *res, int64_t now,
                                                    size_t room, int *error) XPS_NOEXCEPT;

/* ---------------------------------------------------------- accessors */

int xps_http_response_status(const xps_http_response_t *res) XPS_NOEXCEPT;

/* The first value of header `name` (case-insensitive), or NULL. Owned by
 * the response, valid until that header is changed. Content-Length and the
 * generated Date are not stored headers: they are written at serialise. */
const char *xps_http_response_header(const xps_http_response_t *res,
                                     const char *name) XPS_NOEXCEPT;

/* Whether any body bytes follow the head: false for a HEAD answer
 * (omit_body) and for 1xx, 204 and 304. A caller with a file to send
 * attaches it only when this is true. */
bool xps_http_response_has_body(const xps_http_response_t *res) XPS_NOEXCEPT;

/* The Content-Length the head carries (0 when none was set); for a HEAD
 * answer, the length the body would have had. */
uint64_t xps_http_response_body_length(const xps_http_response_t *res) XPS_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* XPS_HTTP_RESPONSE_H */
