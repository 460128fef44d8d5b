/*
 * tests/support/http_client.h — the HTTP/1.1 client of the checks of stage
 * 12 on: responses read one at a time off a connection that may stay open
 * (keep-alive, pipelining), header values, and curl run to its end.
 *
 * Everything follows tests/support/harness.h's failure contract: what a
 * check observes is returned for it to judge; a helper that cannot go on
 * (curl missing) fails the check with a message.
 */
#ifndef XPS_TESTS_HTTP_CLIENT_H
#define XPS_TESTS_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "tests/support/harness.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How long one response may take to arrive. */
#define XT_REPLY_MS 3000

/* One response: the head up to its blank line, then Content-Length bytes
 * of body (none for HEAD or 304, when the caller says so). */
typedef struct xt_response {
    int status;        /* from the status line; 0 when none arrived */
    char head[8192];   /* the head as received, NUL-terminated */
    char body[65536];  /* the body, NUL-terminated (cut at the buffer's size) */
    size_t body_len;
} xt_response_t;

/* The value of header `name` (any case, blanks around it trimmed) in the
 * head that `text` starts with: its first line is the status or request
 * line, and the search stops at the blank line. Copied into out (cap
 * bytes, NUL-terminated, cut if longer); false when absent. */
bool xt_header_value(const char *text, const char *name, char *out, size_t cap);

/* Reads one response from fd within XT_REPLY_MS per part: the head byte by
 * byte (so nothing of the next response is taken), then the body by its
 * Content-Length unless no_body. Allocated with test_calloc: test_free it. */
xt_response_t *xt_read_response(int fd, bool no_body);

/* Sends `request` (a C string) on fd and reads the response. */
xt_response_t *xt_ask(int fd, const char *request, bool no_body);

/* "status 200, head \"...\", 5 body bytes \"...\"" for an observed text.
 * Static buffer: valid until the next call. */
const char *xt_describe_response(const xt_response_t *r);

/* Whether the peer closes fd within XT_REPLY_MS without sending a byte. */
bool xt_closes_silently(int fd);

/* Runs /usr/bin/curl with args (NULL-terminated, no argv[0]) to its end,
 * at most 5 s (then killed); *status gets its wait status. Returns what it
 * printed, stdout then stderr, malloc'd. Fails the check if curl is not
 * installed. */
char *xt_run_curl(const char *const *args, int *status);

#ifdef __cplusplus
}
#endif

#endif /* XPS_TESTS_HTTP_CLIENT_H */
