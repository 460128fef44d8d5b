/*
 * tests/support/checks.h — small helpers that several stage checks share.
 *
 * What it is: the pieces the black-box checks of stages 04-09 used to copy
 * from file to file: how to describe the server's state in a FAIL line,
 * the "it is still running" expectation, random binary data, non-blocking
 * sends from a repeating pattern, waiting for the server's descriptor count
 * to fall. Everything here is built on tests/support/harness.h and follows
 * its failure contract: a helper that cannot go on fails the running check
 * with a message; what a check observes is returned for it to judge.
 *
 * The proxy helpers are in proxy_checks.h, the echo helpers and the shared
 * flood / idle-CPU / memory checks in echo_checks.h.
 */
#ifndef XPS_TESTS_CHECKS_H
#define XPS_TESTS_CHECKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tests/support/harness.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The server under test, to follow "the server " or "the proxy " in an
 * observed text: "is still running", "exited with status 1", "was killed
 * by signal 11 (Segmentation fault)". Static buffer: valid until the next
 * call. */
const char *xt_server_state(xt_proc_t *p);

/* " (the server exited with status 1)" once the server is gone, "" while
 * it runs: appended to an observed text that a dead server would explain. */
const char *xt_server_note(xt_proc_t *p);

/* Expects the server to be running: "<name> keeps running <when>", e.g.
 * name "the proxy", when "after failing to reach the upstream". It waits
 * 200 ms first, because a server that is exiting closes its sockets a
 * moment before the process is gone. */
void xt_expect_running(xt_proc_t *p, const char *name, const char *when);

/* Polls the server's descriptor count until it is at most `limit` (or the
 * process is gone) or timeout_ms passes; returns the last count (-1: gone). */
int xt_wait_fd_count_at_most(xt_proc_t *p, int limit, int timeout_ms);

/* malloc that fails the check instead of returning NULL. */
void *xt_alloc(size_t len);

/* Makes fd non-blocking; fails the check if fcntl() does. */
void xt_set_nonblocking(int fd);

/* Fills buf with bytes of every value, from the run's seed (XT_SEED), so a
 * failing run repeats. */
void xt_random_bytes(unsigned char *buf, size_t len);

/* Offset of the first byte where a and b differ, or len if none does. */
size_t xt_first_difference(const unsigned char *a, const unsigned char *b, size_t len);

/* Sends from a non-blocking socket until it is full (EAGAIN) or `max`
 * bytes went out; `pattern` (len bytes) is sent over and over from offset
 * *pos, which is advanced. Returns bytes sent, or -1 if the connection
 * failed. */
long long xt_send_some(int fd, const unsigned char *pattern, size_t len, size_t *pos,
                       long long max);

#ifdef __cplusplus
}
#endif

#endif /* XPS_TESTS_CHECKS_H */
