/*
 * core/xps.h — what every xps module shares: the error codes, the noexcept
 * macro that ends every public declaration, and the opaque handle types.
 *
 * Introduced in stage 05. Every public header includes this one first.
 *
 * Error codes: a function that can fail returns an int from the list below
 * (XPS_OK is 0, failures are negative), or a pointer plus an `int *error`
 * out-parameter. xps_strerror() turns a code into a sentence. The set is the
 * eXpServer course's (OK, E_FAIL, E_AGAIN, E_NEXT, E_NOTFOUND, E_PERMISSION,
 * E_EOF, same values) extended with the causes later stages need to tell
 * apart; one set serves the whole project.
 */
#ifndef XPS_CORE_XPS_H
#define XPS_CORE_XPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Every public function is noexcept under C++: no exception crosses the C
 * boundary (STYLE.md), and the compiler may rely on it. */
#ifdef __cplusplus
#define XPS_NOEXCEPT noexcept
#else
#define XPS_NOEXCEPT
#endif

#ifdef __cplusplus
extern "C" {
#endif

enum xps_error {
    XPS_OK = 0,
    XPS_E_FAIL = -1,        /* failed for a reason already logged */
    XPS_E_AGAIN = -2,       /* not now: would block, or more input is needed */
    XPS_E_NEXT = -3,        /* this item is done, go on to the next one */
    XPS_E_NOTFOUND = -4,    /* no such file, route, or entry */
    XPS_E_PERMISSION = -5,  /* not allowed: permissions, or outside the root */
    XPS_E_EOF = -6,         /* the peer or the file has no more bytes */
    XPS_E_NOMEM = -7,       /* an allocation failed */
    XPS_E_INVAL = -8,       /* an argument out of range, e.g. port 0 */
    XPS_E_ADDRINUSE = -9,   /* bind(): the address is taken */
    XPS_E_REFUSED = -10,    /* connect(): nobody listening there */
    XPS_E_TIMEOUT = -11,    /* a deadline passed */
    XPS_E_CLOSED = -12,     /* the other end is gone (reset, broken pipe) */
    XPS_E_LIMIT = -13,      /* out of a resource: file descriptors, a size cap */
};

/* A sentence for an error code, e.g. "address already in use". Never NULL;
 * unknown codes give "unknown error". The string is static. */
const char *xps_strerror(int code) XPS_NOEXCEPT;

/* Maps an errno value to the closest code above (EADDRINUSE ->
 * XPS_E_ADDRINUSE, EAGAIN -> XPS_E_AGAIN, ...; anything else XPS_E_FAIL). */
int xps_error_from_errno(int errno_value) XPS_NOEXCEPT;

/* Opaque handles. Their layouts live in the .cpp files; use the functions
 * of each module's header. */
typedef struct xps_buffer_s xps_buffer_t;
typedef struct xps_buffer_list_s xps_buffer_list_t;
typedef struct xps_pipe_s xps_pipe_t;
typedef struct xps_loop_s xps_loop_t;
typedef struct xps_core_s xps_core_t;

#ifdef __cplusplus
}
#endif

#endif /* XPS_CORE_XPS_H */
