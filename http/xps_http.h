/*
 * http/xps_http.h — the few HTTP definitions every http/ file shares:
 * request methods, protocol versions, status codes, and the slice type in
 * which the parser reports what it found.
 *
 * Introduced in stage 10 (the request parser); the response module of stage
 * 11 takes its status codes from here and keeps the reason phrases.
 *
 * Nothing here allocates or fails: these are plain definitions. A slice is
 * an (offset, length) pair into a buffer the caller owns; offsets stay valid
 * when that buffer is reallocated or moved, which pointers would not.
 */
#ifndef XPS_HTTP_XPS_HTTP_H
#define XPS_HTTP_XPS_HTTP_H

#include "core/xps.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A run of bytes inside a caller-owned buffer: buffer + offset, length bytes.
 * An absent item is {0, 0}. */
typedef struct xps_http_slice_s {
    size_t offset; /* index of the first byte in the buffer */
    size_t length; /* number of bytes */
} xps_http_slice_t;

/* Request methods (RFC 9110 §9). Any other syntactically valid token is
 * XPS_HTTP_METHOD_OTHER: the parser accepts it, and the server decides later
 * (stage 13 answers 501 for methods it does not implement). */
enum xps_http_method {
    XPS_HTTP_METHOD_NONE = 0, /* not parsed yet */
    XPS_HTTP_METHOD_GET,
    XPS_HTTP_METHOD_HEAD,
    XPS_HTTP_METHOD_POST,
    XPS_HTTP_METHOD_PUT,
    XPS_HTTP_METHOD_DELETE,
    XPS_HTTP_METHOD_CONNECT,
    XPS_HTTP_METHOD_OPTIONS,
    XPS_HTTP_METHOD_TRACE,
    XPS_HTTP_METHOD_PATCH,
    XPS_HTTP_METHOD_OTHER, /* a valid token that is none of the above */
};

/* Protocol versions: major * 10 + minor, so HTTP/1.1 is 11. */
enum xps_http_version {
    XPS_HTTP_VERSION_NONE = 0, /* not parsed yet */
    XPS_HTTP_VERSION_1_0 = 10,
    XPS_HTTP_VERSION_1_1 = 11,
};

/* Status codes (RFC 9110 §15) used somewhere in stages 10-22. The reason
 * phrases live in the response module (stage 11). */
enum xps_http_status {
    XPS_HTTP_STATUS_NONE = 0, /* no status decided */
    XPS_HTTP_STATUS_CONTINUE = 100,
    XPS_HTTP_STATUS_SWITCHING_PROTOCOLS = 101,
    XPS_HTTP_STATUS_OK = 200,
    XPS_HTTP_STATUS_CREATED = 201,
    XPS_HTTP_STATUS_NO_CONTENT = 204,
    XPS_HTTP_STATUS_PARTIAL_CONTENT = 206,
    XPS_HTTP_STATUS_MOVED_PERMANENTLY = 301,
    XPS_HTTP_STATUS_FOUND = 302,
    XPS_HTTP_STATUS_SEE_OTHER = 303,
    XPS_HTTP_STATUS_NOT_MODIFIED = 304,
    XPS_HTTP_STATUS_TEMPORARY_REDIRECT = 307,
    XPS_HTTP_STATUS_PERMANENT_REDIRECT = 308,
    XPS_HTTP_STATUS_BAD_REQUEST = 400,
    XPS_HTTP_STATUS_UNAUTHORIZED = 401,
    XPS_HTTP_STATUS_FORBIDDEN = 403,
    XPS_HTTP_STATUS_NOT_FOUND = 404,
    XPS_HTTP_STATUS_METHOD_NOT_ALLOWED = 405,
    XPS_HTTP_STATUS_REQUEST_TIMEOUT = 408,
    XPS_HTTP_STATUS_LENGTH_REQUIRED = 411,
    XPS_HTTP_STATUS_PRECONDITION_FAILED = 412,
    XPS_HTTP_STATUS_CONTENT_TOO_LARGE = 413,
    XPS_HTTP_STATUS_URI_TOO_LONG = 414,
    XPS_HTTP_STATUS_UNSUPPORTED_MEDIA_TYPE = 415,
    XPS_HTTP_STATUS_RANGE_NOT_SATISFIABLE = 416,
    XPS_HTTP_STATUS_EXPECTATION_FAILED = 417,
    XPS_HTTP_STATUS_TOO_MANY_REQUESTS = 429,
    XPS_HTTP_STATUS_REQUEST_HEADER_FIELDS_TOO_LARGE = 431,
    XPS_HTTP_STATUS_INTERNAL_SERVER_ERROR = 500,
    XPS_HTTP_STATUS_NOT_IMPLEMENTED = 501,
    XPS_HTTP_STATUS_BAD_GATEWAY = 502,
    XPS_HTTP_STATUS_SERVICE_UNAVAILABLE = 503,
    XPS_HTTP_STATUS_GATEWAY_TIMEOUT = 504,
    XPS_HTTP_STATUS_HTTP_VERSION_NOT_SUPPORTED = 505,
};

#ifdef __cplusplus
}
#endif

#endif /* XPS_HTTP_XPS_HTTP_H */
