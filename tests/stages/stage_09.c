/*
 * tests/stages/stage_09.c — black-box checks for stage 09 (file).
 *
 * The binary under test ($XPS_STAGE_BIN) is started with no arguments in a
 * scratch working directory holding a copy of tests/fixtures/stage-09:
 *
 *     public/sample.txt   the document root's one file
 *     temp/file.txt       beside the root, so "../temp/file.txt" exists
 *
 * so it must use ./public as its root and listen on 8001-8004: 8001 relays
 * raw TCP to the upstream on 127.0.0.1:3000 (stage 08); 8002 sends
 * public/sample.txt to every client as soon as it connects, unasked, then
 * closes; 8003 asks for ../temp/file.txt, outside the root, and must refuse:
 * the client is closed without one byte and the server lives on; 8004
 * echoes.
 *
 * What is checked: the file byte for byte then EOF on 8002; the refusal on
 * 8003 (no byte, a plain close, server alive, 8002 still served); echo on 8004;
 * replies through 8001 byte-identical to the upstream's own for two clients;
 * an upstream that is down closes the 8001 client and nothing else; fifty
 * 8002 clients at once each get the whole file, and afterwards the server
 * holds no more descriptors than before (every file and socket closed);
 * on the echo port, stage 07's three guarantees (a flooding client delays
 * no other client's echo, an idle connection costs under 2 % CPU, RSS
 * grows by less than 64 MiB while 2 GiB pass through a slow reader: the
 * checks shared in tests/support/echo_checks.c); SIGTERM ends the server
 * with status 0.
 *
 * Timing: about 25 s, 20 of them in the three shared checks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/checks.h"
#include "tests/support/echo_checks.h"
#include "tests/support/harness.h"
#include "tests/support/proxy_checks.h"

enum {
    BASE_PORT = 8001,     /* the four ports are 8001..8004 */
    PORTS = 4,
    PROXY_PORT = 8001,    /* raw TCP proxy to the upstream */
    FILE_PORT = 8002,     /* sends public/sample.txt */
    OUTSIDE_PORT = 8003,  /* asks for ../temp/file.txt: refused */
    ECHO_PORT = 8004,
    UPSTREAM_PORT = 3000,
    START_MS = 5000,      /* for the server to start listening */
    REPLY_MS = 3000,      /* for one reply, or for the whole file */
    CLOSE_MS = 3000,      /* for the server to close a client */
    SETTLE_MS = 3000,     /* for the server to close what clients closed */
    STOP_MS = 3000,       /* for the server to exit after SIGTERM */
    FILE_CAP = 64 * 1024, /* room for sample.txt and anything extra sent */
    REPLY_CAP = 4096,     /* room for one small HTTP reply */
    CONCURRENT = 50,      /* 8002 clients connected at once */
    REFUSED_CLIENTS = 3,  /* 8003 clients in a row */
    LINE_LEN = 200,       /* bytes per echo round trip */
};

static const char FIXTURE[] = "tests/fixtures/stage-09";

/* ------------------------------------------------------------ helpers */

/* The fixture's files must be world-readable (the course's rule for what
 * may be served), whatever umask copied them or cloned the repository: set
 * the modes explicitly. The server opens the file per client, so doing it
 * once it listens, before the first client, is in time. */
static void make_world_readable(xt_proc_t *p, const char *rel)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", xt_workdir(p), rel);
    if (chmod(path, 0644) != 0)
        xt_fail("fixture file %s is missing (%s): a harness problem", path, strerror(errno));
}

/* Starts the binary under test with no flags in a copy of the fixture;
 * waits for all four ports. env: extra environment entries, may be NULL. */
static xt_proc_t *start_server(const char *const *env)
{
    for (int i = 0; i < PORTS; i++)
        xt_require_port_free((uint16_t)(BASE_PORT + i));
    xt_start_opts_t opts = {.fixture_dir = FIXTURE, .env = env};
    xt_proc_t *p = xt_start_stage(NULL, &opts);
    for (int i = 0; i < PORTS; i++)
        xt_wait_port(p, (uint16_t)(BASE_PORT + i), START_MS);
    make_world_readable(p, "public/sample.txt");
    make_world_readable(p, "temp/file.txt");
    return p;
}

/* The bytes of a file in the server's working directory. */
static size_t read_fixture(xt_proc_t *p, const char *rel, char *buf, size_t cap)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", xt_workdir(p), rel);
    FILE *f = fopen(path, "rb");
    if (!f)
        xt_fail("cannot open fixture file %s: %s", path, strerror(errno));
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    if (n == 0 || n == cap)
        xt_fail("fixture file %s is empty or too big for the check", path);
    return n;
}

/* How a stream of bytes ended: the peer closed (0), reset (XT_ERROR), or
 * nothing more came before the deadline (XT_TIMEOUT). */
static const char *ending(int end)
{
    return end == 0 ? "then EOF" : end == XT_ERROR ? "then a connection reset"
                                                   : "then nothing, the connection open, for 3 s";
}

/* Receives until the peer closes or timeout_ms passes; *end as for ending().
 * Stores at most cap bytes but counts them all. */
static size_t receive_all(int fd, char *buf, size_t cap, int timeout_ms, int *end)
{
    int64_t deadline = xt_now_ms() + timeout_ms;
    size_t got = 0;
    for (;;) {
        char spill[4096];
        int64_t left = deadline - xt_now_ms();
        ssize_t n = xt_recv_deadline(fd, got < cap ? buf + got : spill,
                                     got < cap ? cap - got : sizeof spill,
                                     left > 0 ? (int)left : 0);
        if (n <= 0) {
            *end = (int)n;
            return got;
        }
        got += (size_t)n;
    }
}

/* A new client of 8002 must receive exactly `want` without sending a
 * byte, and then EOF. */
static void expect_file(xt_proc_t *p, int fd, const char *who, const char *want, size_t want_len)
{
    char got[FILE_CAP], expected[300];
    int end = 0;
    size_t n = receive_all(fd, got, sizeof got, REPLY_MS, &end);
    snprintf(expected, sizeof expected,
             "%s, sending nothing, receives public/sample.txt (%zu bytes) byte for byte, then "
             "EOF, within 3 s",
             who, want_len);
    bool same = n == want_len && memcmp(got, want, want_len) == 0;
    xt_expect(same && end == 0, expected, "%zu bytes%s: \"%s\", %s (the server %s)", n,
              n > sizeof got ? " (too many to keep)" : same ? ", the right ones"
                                         : n == want_len ? ", differing" : "",
              xt_quote(got, n < sizeof got ? n : sizeof got), ending(end), xt_server_state(p));
}

/* ------------------------------------------------------------- checks */

/* The milestone: connect to 8002, send nothing, and the file arrives. */
static void sends_sample_txt_on_8002_unasked_then_closes(void **state)
{
    (void)state;
    xt_proc_t *p = start_server(NULL);
    char want[FILE_CAP];
    size_t len = read_fixture(p, "public/sample.txt", want, sizeof want);
    for (int i = 1; i <= 2; i++) { /* twice: the first client used nothing up */
        char who[48];
        snprintf(who, sizeof who, "client %d of port 8002", i);
        int fd = xt_connect(FILE_PORT);
        expect_file(p, fd, who, want, len);
        close(fd);
    }
}

/* 8003 asks for ../temp/file.txt, which exists but lies outside the root.
 * Each client is closed without a byte; the server survives them all and
 * still serves 8002. */
static void refuses_the_file_outside_the_root_on_8003_without_a_byte(void **state)
{
    (void)state;
    xt_proc_t *p = start_server(NULL);
    char secret[FILE_CAP], want[FILE_CAP];
    read_fixture(p, "temp/file.txt", secret, sizeof secret); /* it is there to be refused */
    size_t len = read_fixture(p, "public/sample.txt", want, sizeof want);
    for (int i = 1; i <= REFUSED_CLIENTS; i++) {
        char got[FILE_CAP], expected[200];
        int end = 0;
        int fd = xt_connect(OUTSIDE_PORT);
        size_t n = receive_all(fd, got, sizeof got, CLOSE_MS, &end);
        close(fd);
        /* A plain close (FIN), not a reset: the client sent nothing, so
         * closing leaves nothing unread, and the course's tester counts a
         * reset on this port as an error. */
        snprintf(expected, sizeof expected,
                 "client %d of port 8003 (../temp/file.txt, outside the root) is closed (EOF, "
                 "not a reset) within 3 s without a byte",
                 i);
        xt_expect(n == 0 && end == 0, expected, "%zu bytes: \"%s\", %s (the server %s)",
                  n, xt_quote(got, n < sizeof got ? n : sizeof got), ending(end),
                  xt_server_state(p));
        xt_expect_running(p, "the server", "after refusing a path outside the root");
    }
    int fd = xt_connect(FILE_PORT);
    expect_file(p, fd, "a client of port 8002 after the refusals", want, len);
    close(fd);
}

/* Port 8004 is stage 07's echo. */
static void echoes_on_8004(void **state)
{
    (void)state;
    xt_proc_t *p = start_server(NULL);
    int fd = xt_connect(ECHO_PORT);
    xt_echo_round_trip(p, fd, "a client of port 8004", 50);
    xt_echo_round_trip(p, fd, "a client of port 8004", LINE_LEN);
    close(fd);
}

/* Two clients, both connected before either asks, each gets exactly what
 * the upstream gives for its own path (as in stage 08). */
static void two_clients_through_8001_get_the_upstreams_replies(void **state)
{
    (void)state;
    xt_upstream_start(UPSTREAM_PORT, "http");
    xt_proc_t *p = start_server(NULL);
    xt_check_two_clients_get_the_upstreams_replies(p, "the server", PROXY_PORT, UPSTREAM_PORT);
}

/* Nothing listens on 3000: the 8001 client is closed without a byte, and
 * the server goes on serving the file. */
static void upstream_down_closes_the_8001_client_and_nothing_else(void **state)
{
    (void)state;
    xt_require_port_free(UPSTREAM_PORT); /* no upstream, on purpose */
    xt_proc_t *p = start_server(NULL);
    char got[REPLY_CAP], want[FILE_CAP];
    size_t len = read_fixture(p, "public/sample.txt", want, sizeof want);
    int fd = xt_connect(PROXY_PORT);
    xt_send_get(fd, "/test/1");
    int end = 0;
    size_t n = receive_all(fd, got, sizeof got, CLOSE_MS, &end);
    close(fd);
    xt_expect(n == 0 && end != XT_TIMEOUT,
              "with nothing listening on port 3000, the client of port 8001 is closed (EOF or "
              "reset) within 3 s, without a byte",
              "%zu bytes: \"%s\", %s (the server %s)", n, xt_quote(got, n < sizeof got ? n : 0),
              ending(end), xt_server_state(p));
    xt_expect_running(p, "the server", "after failing to reach the upstream");
    fd = xt_connect(FILE_PORT);
    expect_file(p, fd, "a client of port 8002 after the failed proxying", want, len);
    close(fd);
}

/* Fifty clients of 8002 connected at once each get the whole file and EOF.
 * Every one of them cost the server a socket and a file descriptor (more,
 * if it duplicates them): all must be closed once they are served. */
static void serves_50_clients_of_8002_at_once_and_closes_every_descriptor(void **state)
{
    (void)state;
    xt_proc_t *p = start_server(NULL);
    char want[FILE_CAP];
    size_t len = read_fixture(p, "public/sample.txt", want, sizeof want);
    /* The baseline as in stage 06: one client held open on the echo port
     * (so the server is in its loop), counted, then gone. */
    /* One file client first: the open-file cache keeps the file and the
     * root's descriptor open (bounded, xps_file.h), so they belong in the
     * baseline; what a client leaks does not. */
    int warm = xt_connect(FILE_PORT);
    expect_file(p, warm, "a first client of port 8002", want, len);
    close(warm);
    int held = xt_connect(ECHO_PORT);
    xt_echo_round_trip(p, held, "a client of port 8004", 20);
    int with_one = xt_fd_count(xt_pid(p));
    close(held);
    int baseline = xt_wait_fd_count_at_most(p, with_one - 1, SETTLE_MS);
    xt_expect(baseline >= 0 && baseline < with_one,
              "the server closes its socket for a client that left, within 3 s",
              "%d descriptors while the client was connected, %d after it left (the server %s)",
              with_one, baseline, xt_server_state(p));

    int fds[CONCURRENT];
    for (int i = 0; i < CONCURRENT; i++)
        fds[i] = xt_connect(FILE_PORT);
    for (int i = 0; i < CONCURRENT; i++) {
        char who[64];
        snprintf(who, sizeof who, "client %d of %d connected to port 8002 at once", i + 1,
                 CONCURRENT);
        expect_file(p, fds[i], who, want, len);
        close(fds[i]);
    }
    int final = xt_wait_fd_count_at_most(p, baseline, SETTLE_MS);
    char expected[160];
    snprintf(expected, sizeof expected,
             "within 3 s of the %d clients leaving, the server holds no more descriptors than "
             "before them (%d)",
             CONCURRENT, baseline);
    xt_expect(final >= 0 && final <= baseline, expected, "%d descriptors open (the server %s)",
              final, xt_server_state(p));
}

/* The echo port keeps stage 07's guarantees; the checks are stage 07's
 * (tests/support/echo_checks.h says what each verifies and why), all on
 * the one echo port, 8004. A client floods it without reading while
 * another client of it round-trips 48-byte probes, each due within 1 s. */
static void flooding_client_does_not_delay_another_clients_echo(void **state)
{
    (void)state;
    xt_proc_t *p = start_server(NULL);
    xt_check_flood_does_not_delay(p, ECHO_PORT, ECHO_PORT);
}

/* An idle client on 8004 may cost under 2 % CPU over 5 s. */
static void idle_connection_costs_under_2_percent_cpu(void **state)
{
    (void)state;
    xt_proc_t *p = start_server(NULL);
    xt_check_idle_cpu(p, ECHO_PORT);
}

/* 2 GiB through a slow reader on 8004: the server's RSS may grow by less
 * than 64 MiB. The server is started with a small ASan quarantine, which
 * would otherwise count as RSS (no effect on other builds). */
static void memory_stays_bounded_while_2_gib_pass_through_a_slow_reader(void **state)
{
    (void)state;
    const char *env[] = {xt_asan_quarantine_env(), NULL};
    xt_proc_t *p = start_server(env);
    xt_check_rss_bounded_slow_reader(p, ECHO_PORT);
}

/* SIGTERM with clients connected (proxied, echoed) ends the server with
 * status 0 within 3 s. */
static void exits_0_within_3_s_of_sigterm(void **state)
{
    (void)state;
    xt_upstream_start(UPSTREAM_PORT, "echo");
    xt_proc_t *p = start_server(NULL);
    int proxied = xt_connect(PROXY_PORT);
    int echoed = xt_connect(ECHO_PORT);
    xt_echo_round_trip(p, proxied, "a client of port 8001 (echo upstream)", 40);
    xt_echo_round_trip(p, echoed, "a client of port 8004", 40);

    int64_t sent_at = xt_now_ms();
    int status = xt_stop(p, SIGTERM, STOP_MS);
    int64_t took = xt_now_ms() - sent_at;
    close(proxied);
    close(echoed);
    bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    bool killed_by_us = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    xt_expect(clean, "the server exits with status 0 within 3 s of SIGTERM, 2 clients connected",
              "%s after %lld ms%s", xt_status_text(status), (long long)took,
              killed_by_us ? " (it was still running after 3 s and was killed)" : "");
}

int main(void)
{
    const struct CMUnitTest checks[] = {
        XT_CHECK(sends_sample_txt_on_8002_unasked_then_closes),
        XT_CHECK(refuses_the_file_outside_the_root_on_8003_without_a_byte),
        XT_CHECK(echoes_on_8004),
        XT_CHECK(two_clients_through_8001_get_the_upstreams_replies),
        XT_CHECK(upstream_down_closes_the_8001_client_and_nothing_else),
        XT_CHECK(serves_50_clients_of_8002_at_once_and_closes_every_descriptor),
        XT_CHECK(flooding_client_does_not_delay_another_clients_echo),
        XT_CHECK(idle_connection_costs_under_2_percent_cpu),
        XT_CHECK(memory_stays_bounded_while_2_gib_pass_through_a_slow_reader),
        XT_CHECK(exits_0_within_3_s_of_sigterm),
    };
    return xt_run_checks("stage 09 (file)", checks);
}
