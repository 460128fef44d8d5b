/*
 * tests/support/echo_checks.h — echo clients, and the three checks every
 * echo port from stage 07 on must pass.
 *
 * Stage 07 fixes three failures of a naive event loop, and stages 08 and 09
 * keep echo ports built on the same runtime, so their checks run the same
 * three measurements on their own echo ports (and stage 07's run them on
 * its reversal too, as the course's stages 8 and 9: xt_echo_expect):
 *
 *   xt_check_flood_does_not_delay      one client floods without reading;
 *       another client's echo must still come back within 1 s, every time
 *       (non-blocking sockets, and no client served to the end before the
 *       others get a turn).
 *   xt_check_idle_cpu                  an idle connection must cost under
 *       2 % of a CPU over 5 s (edge-triggered epoll, or at least no
 *       EPOLLOUT registered while there is nothing to send).
 *   xt_check_rss_bounded_slow_reader   2 GiB streamed through a client that
 *       reads slowly (200 MiB/s): the server's RSS may grow by less than
 *       64 MiB (the bound), at least 1 GiB must pass within 15 s and every
 *       byte must match (back-pressure: stop reading what cannot be sent).
 *
 * Each takes the server the check started and the echo port(s) to use, and
 * ends in the xt_expect that sums it up, so its PASS line says what was
 * verified. They take 5 s, 5 s and at most 15 s (about 10 s on a laptop).
 *
 * The memory check needs the server started with xt_asan_quarantine_env()
 * in its environment (see there).
 */
#ifndef XPS_TESTS_ECHO_CHECKS_H
#define XPS_TESTS_ECHO_CHECKS_H

#include <stddef.h>
#include <stdint.h>

#include "tests/support/harness.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------- echo clients */

/* The most bytes xt_expect_echo compares in one call. */
#define XT_ECHO_MAX 8192

/* What the server sends back for each chunk it receives. */
typedef enum xt_echo_reply {
    XT_REPLY_COPY = 0, /* the bytes as they came: stage 07's echo, and the
                          echo ports of 08 and 09 */
    XT_REPLY_REVERSED, /* each chunk reversed, a trailing '\n' kept last:
                          `stage-07 --reverse`, the course's stages 8 and 9 */
} xt_echo_reply_t;

/* Sets what every helper and check of this file expects back from now on
 * (a run starts with XT_REPLY_COPY). The helpers send each probe or line
 * in one send() and at most XT_ECHO_MAX bytes, so on loopback it arrives
 * as one chunk: its reversal is well defined. The memory check cannot know
 * how the server's reads cut a 2 GiB stream, so with XT_REPLY_REVERSED it
 * checks that exactly the bytes sent come back, each value as many times
 * (a reversal reorders bytes within a chunk, never adds or drops one). */
void xt_echo_expect(xt_echo_reply_t reply);

/* "exactly what it sent" or "each chunk it sent, reversed": for the texts
 * of a stage's own checks. */
const char *xt_echo_reply_text(void);

/* Connects a client to 127.0.0.1:port; a refusal fails the check saying
 * "<who> can connect ..." and whether the server is still running. */
int xt_echo_connect(xt_proc_t *server, uint16_t port, const char *who);

/* Sends len bytes on fd; a failure fails the check, naming `who`. */
void xt_echo_send(xt_proc_t *server, int fd, const char *who, const void *buf, size_t len);

/* Reads len (at most XT_ECHO_MAX) bytes from fd within 3 s and expects
 * the reply to `sent` (a copy, or its reversal: xt_echo_expect). Short
 * replies are quoted whole in the messages; for long ones the messages
 * show where they differ. */
void xt_expect_echo(xt_proc_t *server, int fd, const char *who, const void *sent, size_t len);

/* len random printable bytes (readable in a FAIL line) out, the same back. */
void xt_echo_round_trip(xt_proc_t *server, int fd, const char *who, size_t len);

/* ------------------------------------------------ the shared checks */

/* One "NAME=value" entry for xt_start_opts_t.env, to start the server of
 * the memory check with: ASAN_OPTIONS (what the caller has, if anything)
 * plus quarantine_size_mb=4. Under AddressSanitizer freed memory sits in a
 * quarantine (256 MiB by default) that counts as RSS; a small one keeps the
 * measurement about the server. Other builds ignore it. Static buffer. */
const char *xt_asan_quarantine_env(void);

/* A client on flood_port sends as fast as the server takes bytes, for 5 s
 * or until 1 GiB went out, and never reads (with back-pressure the flood
 * stalls once the buffers are full: that is correct). Meanwhile another
 * client on probe_port (may be the same port) round-trips 48 bytes every
 * 50 ms: each must come back, exactly, within 1000 ms, and at least 20
 * must complete. A server that blocks in send() towards the flood, or
 * echoes the whole flood before anyone else, fails. */
void xt_check_flood_does_not_delay(xt_proc_t *server, uint16_t flood_port,
                                   uint16_t probe_port);

/* A client on port round-trips a line, then sits idle, connected, for 5 s.
 * The server may use under 2 % of a CPU over that time (0.1 s of CPU time
 * from /proc), and must still echo the client afterwards. */
void xt_check_idle_cpu(xt_proc_t *server, uint16_t port);

/* A client on port streams up to 2 GiB (a 1 MiB random pattern over and
 * over) from a non-blocking socket, reading its echo at most 2 MiB every
 * 10 ms (about 200 MiB/s), for at most 15 s. The server's RSS, sampled
 * every 100 ms, must grow by less than 64 MiB over its value before the
 * stream (the bound; a bounded 1 MiB pipe grows it by a few MiB); at least
 * 1 GiB must come back and every byte must match. Start the server with
 * xt_asan_quarantine_env(). */
void xt_check_rss_bounded_slow_reader(xt_proc_t *server, uint16_t port);

#ifdef __cplusplus
}
#endif

#endif /* XPS_TESTS_ECHO_CHECKS_H */
