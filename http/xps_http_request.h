/*
 * http/xps_http_request.h — one parsed HTTP request as an object: method,
 * target, decoded and normalised path, query, version, headers, Host and
 * the keep-alive decision, as NUL-terminated strings.
 *
 * Why: the parser (xps_http_parser.h) reports slices into a buffer the
 * connection keeps reusing; that is right for parsing (no copy per byte)
 * but awkward for everything after it. Routing, the file server and the
 * access log want C strings that stay put. The request is that snapshot,
 * made once per request when the head is complete.
 *
 * Introduced in stage 11 (stage 10 read the parser's slices directly in
 * main); the session of stage 12 routes on it, stage 13 adds bodies.
 *
 * Ownership: the request OWNS a copy of what it reports. create copies the
 * parts of the head it needs (with a NUL after each) into one block and the
 * header pointers into one array: two allocations per request, whatever
 * the number of headers, so the caller may reuse or free the head buffer
 * and reset the parser (the next pipelined request) at once. Every string
 * an accessor returns belongs to the request and lives until destroy.
 *
 * The path: the raw path is percent-decoded and its dot segments removed
 * once, here (xps_http_path_normalize): always absolute ("/" at least),
 * never with a "." or ".." segment. A ".." that would climb above "/"
 * makes create fail with XPS_E_PERMISSION (answer 403, as the file module
 * answers a path outside its root), a bad escape with XPS_E_INVAL (400).
 * Forms without a path (authority "host:port", asterisk "*", and
 * "http://host" with nothing after it) get "/".
 *
 * Keep-alive (RFC 9112 §9.3): a connection stays open after the response
 * when the request is HTTP/1.1 and its Connection header does not list
 * "close", or HTTP/1.0 with "keep-alive" listed; never when "close" is
 * listed. Connection is a comma-separated list, any case, and may be
 * repeated. (The parser decides it while the head streams past; the request
 * reports it.)
 *
 * Lifecycle: create (from a complete head) → read → destroy.
 * Errors: XPS_E_PERMISSION, XPS_E_INVAL (the path, above), XPS_E_NOMEM.
 * Threading: none.
 */
#ifndef XPS_HTTP_REQUEST_H
#define XPS_HTTP_REQUEST_H

#include "core/xps.h"
#include "http/xps_http.h"
#include "http/xps_http_parser.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xps_http_request_s xps_http_request_t;

/* ---------------------------------------------------------- lifecycle */

/* A request from a complete head: `head` as xps_http_parser_head() gives
 * it after parse_head returned XPS_OK, and `buf` the head buffer its
 * slices point into (both borrowed for the call only: everything needed is
 * copied). NULL and *error: XPS_E_PERMISSION (the path climbs above the
 * root: 403), XPS_E_INVAL (bad percent-escape: 400), XPS_E_NOMEM. error
 * may be NULL; on success it gets XPS_OK. */
xps_http_request_t *xps_http_request_create(const xps_http_head_t *head, const char *buf,
                                            int *error) XPS_NOEXCEPT;

/* Frees the request and every string it handed out. Accepts NULL. */
void xps_http_request_destroy(xps_http_request_t *req) XPS_NOEXCEPT;

/* ---------------------------------------------------------- accessors */

/* enum xps_http_method (XPS_HTTP_METHOD_OTHER for a token the enum does
 * not name), and the method token as sent ("GET", "PROPFIND"). */
int xps_http_request_method(const xps_http_request_t *req) XPS_NOEXCEPT;
const char *xps_http_request_method_name(const xps_http_request_t *req) XPS_NOEXCEPT;

/* The request-target exactly as sent ("/a%20b?x=1", "http://h/p", "*"). */
const char *xps_http_request_target(const xps_http_request_t *req) XPS_NOEXCEPT;

/* The decoded, normalised path ("/a b" for "/a%20b/./"): see "The path". */
const char *xps_http_request_path(const xps_http_request_t *req) XPS_NOEXCEPT;

/* The query after '?', as sent (not decoded); "" for a bare '?'; NULL when
 * the target has no '?'. */
const char *xps_http_request_query(const xps_http_request_t *req) XPS_NOEXCEPT;

/* enum xps_http_version: XPS_HTTP_VERSION_1_0 (10) or _1_1 (11). */
int xps_http_request_version(const xps_http_request_t *req) XPS_NOEXCEPT;

/* The host to route by, without the port (an IPv6 literal keeps its
 * brackets: "[::1]"): from an absolute-form target if there is one
 * (RFC 9112 §3.2.2), else from the Host header; "" when neither names one
 * (HTTP/1.0 without Host). Letter case as sent. */
const char *xps_http_request_host(const xps_http_request_t *req) XPS_NOEXCEPT;

/* The port from the same place, 0 when none was given. */
uint16_t xps_http_request_port(const xps_http_request_t *req) XPS_NOEXCEPT;

/* The value of the first header named `name` (compared without regard to
 * ASCII case), without surrounding blanks; NULL when absent. */
const char *xps_http_request_header(const xps_http_request_t *req,
                                    const char *name) XPS_NOEXCEPT;

/* Header lines in the order received, repeats included: the count, and
 * the i-th (i < count) name (as sent) and value. */
size_t xps_http_request_header_count(const xps_http_request_t *req) XPS_NOEXCEPT;
const char *xps_http_request_header_name(const xps_http_request_t *req, size_t i) XPS_NOEXCEPT;
const char *xps_http_request_header_value(const xps_http_request_t *req, size_t i) XPS_NOEXCEPT;

/* Whether the client lets the connection stay open after the response
 * (see "Keep-alive" above). */
bool xps_http_request_keep_alive(const xps_http_request_t *req) XPS_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* XPS_HTTP_REQUEST_H */
