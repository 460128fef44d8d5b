/*
 * tests/support/client_loop.h — a client that keeps asking while a check
 * does something to the server (a reload, a killed worker), then says how
 * many of its requests failed.
 *
 * The loop runs in a child process, one request at a time, each made by
 * the caller's `one` (which returns whether that request succeeded), until
 * xt_client_loop_stop sends it SIGTERM; a request cut short by the stop
 * itself is not counted. `one` runs in the forked child: it must not call
 * what fails the check (xt_expect, xt_fail), only count.
 */
#ifndef XPS_TESTS_CLIENT_LOOP_H
#define XPS_TESTS_CLIENT_LOOP_H

#include <stdbool.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xt_client_loop {
    pid_t pid;
    int out; /* where the child writes "requests failures" at the end */
} xt_client_loop_t;

/* Forks the loop; the check fails if it cannot. */
xt_client_loop_t xt_client_loop_start(bool (*one)(void *data), void *data);

/* Stops it and reads its counts (the check fails if it reported none). */
void xt_client_loop_stop(xt_client_loop_t loop, long *requests, long *failures);

#ifdef __cplusplus
}
#endif

#endif
