/*
 * tests/support/reverse_checks.h — reversal clients, and the checks that
 * the reversal service of stages 03, 05 and 06 shares.
 *
 * Stage 03 reverses lines on 8080; stages 05 and 06 offer the same service
 * on 8001-8004 (05 with four listeners, 06 on the core loop). Each chunk
 * received comes back reversed, a trailing '\n' kept at the end. The checks
 * send only newline-terminated lines, one at a time per connection and short
 * enough to arrive as one chunk, so a course-style server (which keeps the
 * last byte in place whatever it is) passes too.
 *
 * Connecting and sending are echo_checks.h's xt_echo_connect and
 * xt_echo_send; what is reversal-specific (the line, its reply) is here.
 *
 * The server's ports are given as an xt_rev_ports_t: {8080, 1} for stage
 * 03, {8001, 4} for stages 05 and 06. Each check starts the binary under
 * test with no flags, and ends in the xt_expect that sums it up, so its
 * PASS line says what was verified. Failures name the client ("client 3 on
 * port 8002") and say whether the server is still running.
 */
#ifndef XPS_TESTS_REVERSE_CHECKS_H
#define XPS_TESTS_REVERSE_CHECKS_H

#include <stddef.h>
#include <stdint.h>

#include "tests/support/harness.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The longest line the helpers handle, '\n' included. */
#define XT_REV_LINE_MAX 600

/* The most clients xt_rev_check_concurrent_clients holds open at once. */
#define XT_REV_CLIENTS_MAX 64

/* The ports a server listens on: base, base+1, ..., base+count-1. */
typedef struct xt_rev_ports {
    uint16_t base; /* the first port */
    int count;     /* how many consecutive ports */
} xt_rev_ports_t;

/* ---------------------------------------------------- reversal clients */

/* Starts the binary under test with no flags (each port must be free)
 * and waits up to 5 s until every port accepts connections. */
xt_proc_t *xt_rev_start(xt_rev_ports_t ports);

/* Writes "<tag><random text>\n" into line: len bytes in all plus a NUL
 * (len >= strlen(tag) + 2, len <= XT_REV_LINE_MAX). */
void xt_rev_make_line(char *line, size_t len, const char *tag);

/* Reads the reply to `line` on fd within 3 s and expects exactly its
 * reversal, the '\n' kept last; a short reply says how it ended. */
void xt_rev_expect_reversal(xt_proc_t *p, int fd, const char *who, const char *line,
                            size_t len);

/* A random line of len bytes out, its reversal back. */
void xt_rev_round_trip(xt_proc_t *p, int fd, const char *who, size_t len);

/* Connects one more client (xt_echo_connect) and waits until the server has accepted it: its
 * fd count goes above what it was before the connect, within 3 s. A server
 * that serves one client at a time never accepts the next, and this says
 * so instead of blocking in connect() once its accept queue is full. */
int xt_rev_connect_accepted(xt_proc_t *p, uint16_t port, const char *who);

/* ---------------------------------------------------- the shared checks */

/* A client on each port, all connected before any talks, each with a line
 * naming its port, the replies read in another order; then "abcd\n" ->
 * "dcba\n" on every port: one process, every listener answering its own
 * clients. */
void xt_rev_check_each_port_reverses(xt_rev_ports_t ports);

/* Many clients at once: what xt_rev_check_concurrent_clients does. */
typedef struct xt_rev_crowd {
    int clients;         /* connected at once, at most XT_REV_CLIENTS_MAX */
    int stride;          /* shares no factor with clients: the order lines go out in */
    int len_spread;      /* client i's line is 40 + i % len_spread bytes */
    xt_rev_ports_t on;   /* the ports the clients take turns on */
    const char *summary; /* the PASS text, e.g. "64 clients connected at once, ..." */
} xt_rev_crowd_t;

/* All of crowd's clients connect first (each must be accepted while the
 * others stay connected), then each sends one distinct line, in the order
 * i*stride mod clients, then every reply is read, last client first. A
 * server that serves clients one after another, or hands a reply to the
 * wrong client, cannot pass. The server listens on `server`'s ports. */
void xt_rev_check_concurrent_clients(xt_rev_ports_t server, const xt_rev_crowd_t *crowd);

/* On every port, 2 surviving clients (one talks, one idles) and 3 that
 * vanish with a RST (SO_LINGER 0): an idle one, one that talked earlier,
 * one that sent a line and reset before reading the reply. Then the server
 * must still run, and the survivors and a new client on every port must be
 * answered: a reset costs the server that connection only. */
void xt_rev_check_every_port_survives_resets(xt_rev_ports_t ports);

/* The server closes its socket for a client that left (the baseline is
 * taken then, once the server is in its loop); then 1000 connect/close
 * cycles rotating over the ports, a line on every 4th, every rst_every-th
 * (from the 2nd) closed with a RST and the rest with a FIN: the fd count
 * must be back at the baseline within 3 s (no descriptor leaked per
 * client). */
void xt_rev_check_fd_baseline(xt_rev_ports_t ports, int rst_every);

#ifdef __cplusplus
}
#endif

#endif /* XPS_TESTS_REVERSE_CHECKS_H */
