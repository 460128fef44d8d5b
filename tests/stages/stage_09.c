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
 * 8003 (no byte, closed, server alive, 8002 still served); echo on 8004;
 * replies through 8001 byte-identical to the upstream's own for two clients;
 * an upstream that is down closes the 8001 client and nothing else; fifty
 * 8002 clients at once each get the whole file, and afterwards the server
 * holds no more descriptors than before (every file and socket closed);
 * SIGTERM ends the server with status 0.
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

#include "tests/support/harness.h"

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
 * waits for all four ports. */
static xt_proc_t *start_server(void)
{
    for (int i = 0; i < PORTS; i++)
        xt_require_port_free((uint16_t)(BASE_PORT + i));
    xt_start_opts_t opts = {.fixture_dir = FIXTURE};
    xt_proc_t *p = xt_start(xt_stage_bin(), NULL, &opts);
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

/* "is still running", "exited with status 1", "was killed by signal 11 ...". */
static const char *server_state(xt_proc_t *p)
{
    static char text[160];
    if (xt_alive(p))
        return "is still running";
    int status = 0;
    xt_wait_exit(p, 0, &status);
    const char *what = xt_status_text(status);
    snprintf(text, sizeof text, "%s%s", strncmp(what, "killed", 6) == 0 ? "was " : "", what);
    return text;
}

/* Gives the server 200 ms to show it is exiting, then expects it running. */
static void expect_alive(xt_proc_t *p, const char *after)
{
    char expected[200];
    int status = 0;
    bool exited = xt_wait_exit(p, 200, &status);
    snprintf(expected, sizeof expected, "the server keeps running after %s", after);
    xt_expect(!exited, expected, "the server %s", exited ? xt_status_text(status) : "runs");
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
              xt_quote(got, n < sizeof got ? n : sizeof got), ending(end), server_state(p));
}

/* One round trip on the echo port: `len` random bytes back as sent. */
static void expect_echo(xt_proc_t *p, int fd, const char *who, size_t len)
{
    char line[LINE_LEN + 1], got[LINE_LEN + 1], expected[LINE_LEN * 2 + 100];
    xt_random_text(line, len);
    xt_send_all(fd, line, len); /* a failure shows up as a missing echo */
    int why = 0;
    size_t n = xt_recv_exact(fd, got, len, REPLY_MS, &why);
    snprintf(expected, sizeof expected, "%s gets back \"%s\"", who, xt_quote(line, len));
    xt_expect(n == len && memcmp(got, line, len) == 0, expected, "\"%s\"%s%s (the server %s)",
              xt_quote(got, n), n == len ? "" : ", ", n == len ? "" : ending(why),
              server_state(p));
}

static void send_get(int fd, const char *path)
{
    char req[256];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
    xt_send_all(fd, req, (size_t)n); /* a failure shows up as a missing reply */
}

/* The reply the upstream itself gives to GET path, fetched around the proxy. */
static size_t fetch_direct(const char *path, char *buf, size_t cap)
{
    int fd = xt_connect(UPSTREAM_PORT);
    send_get(fd, path);
    bool eof = false;
    size_t n = xt_recv_until_eof(fd, buf, cap, REPLY_MS, &eof);
    close(fd);
    if (n == 0)
        xt_fail("the test upstream gave no reply to GET %s (a harness problem)", path);
    return n;
}

/* Reads exactly want_len bytes from fd and expects them to equal want. */
static void expect_same_reply(xt_proc_t *p, int fd, const char *who, const char *path,
                              const char *want, size_t want_len)
{
    char got[REPLY_CAP], expected[300];
    int why = 0;
    size_t n = xt_recv_exact(fd, got, want_len, REPLY_MS, &why);
    snprintf(expected, sizeof expected,
             "%s gets the upstream's reply to GET %s through port 8001 byte for byte (%zu bytes)",
             who, path, want_len);
    xt_expect(n == want_len && memcmp(got, want, want_len) == 0, expected,
              "%zu bytes, %s: \"%s\" (the server %s)", n, n == want_len ? "differing" : ending(why),
              xt_quote(got, n), server_state(p));
}

/* Polls the server's descriptor count until it is at most `limit` or
 * timeout_ms passes; returns the last count (-1: process gone). */
static int wait_fd_count_at_most(xt_proc_t *p, int limit, int timeout_ms)
{
    int64_t deadline = xt_now_ms() + timeout_ms;
    int n = xt_fd_count(xt_pid(p));
    while (n > limit && n >= 0 && xt_now_ms() < deadline) {
        xt_sleep_ms(20);
        n = xt_fd_count(xt_pid(p));
    }
    return n;
}

/* ------------------------------------------------------------- checks */

/* The milestone: connect to 8002, send nothing, and the file arrives. */
static void sends_sample_txt_on_8002_unasked_then_closes(void **state)
{
    (void)state;
    xt_proc_t *p = start_server();
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
    xt_proc_t *p = start_server();
    char secret[FILE_CAP], want[FILE_CAP];
    read_fixture(p, "temp/file.txt", secret, sizeof secret); /* it is there to be refused */
    size_t len = read_fixture(p, "public/sample.txt", want, sizeof want);
    for (int i = 1; i <= REFUSED_CLIENTS; i++) {
        char got[FILE_CAP], expected[200];
        int end = 0;
        int fd = xt_connect(OUTSIDE_PORT);
        size_t n = receive_all(fd, got, sizeof got, CLOSE_MS, &end);
        close(fd);
        snprintf(expected, sizeof expected,
                 "client %d of port 8003 (../temp/file.txt, outside the root) is closed (EOF or "
                 "reset) within 3 s without a byte",
                 i);
        xt_expect(n == 0 && end != XT_TIMEOUT, expected, "%zu bytes: \"%s\", %s (the server %s)",
                  n, xt_quote(got, n < sizeof got ? n : sizeof got), ending(end),
                  server_state(p));
        expect_alive(p, "refusing a path outside the root");
    }
    int fd = xt_connect(FILE_PORT);
    expect_file(p, fd, "a client of port 8002 after the refusals", want, len);
    close(fd);
}

/* Port 8004 is stage 07's echo. */
static void echoes_on_8004(void **state)
{
    (void)state;
    xt_proc_t *p = start_server();
    int fd = xt_connect(ECHO_PORT);
    expect_echo(p, fd, "a client of port 8004", 50);
    expect_echo(p, fd, "a client of port 8004", LINE_LEN);
    close(fd);
}

/* Two clients, both connected before either asks, each gets exactly what
 * the upstream gives for its own path (as in stage 08). */
static void two_clients_through_8001_get_the_upstreams_replies(void **state)
{
    (void)state;
    xt_upstream_start(UPSTREAM_PORT, "http");
    char want1[REPLY_CAP], want2[REPLY_CAP];
    size_t len1 = fetch_direct("/test/1", want1, sizeof want1);
    size_t len2 = fetch_direct("/test/2", want2, sizeof want2);

    xt_proc_t *p = start_server();
    int a = xt_connect(PROXY_PORT);
    int b = xt_connect(PROXY_PORT);
    send_get(b, "/test/2"); /* the second client asks first */
    send_get(a, "/test/1");
    expect_same_reply(p, b, "client 2", "/test/2", want2, len2);
    expect_same_reply(p, a, "client 1", "/test/1", want1, len1);
    close(a);
    close(b);
}

/* Nothing listens on 3000: the 8001 client is closed without a byte, and
 * the server goes on serving the file. */
static void upstream_down_closes_the_8001_client_and_nothing_else(void **state)
{
    (void)state;
    xt_require_port_free(UPSTREAM_PORT); /* no upstream, on purpose */
    xt_proc_t *p = start_server();
    char got[REPLY_CAP], want[FILE_CAP];
    size_t len = read_fixture(p, "public/sample.txt", want, sizeof want);
    int fd = xt_connect(PROXY_PORT);
    send_get(fd, "/test/1");
    int end = 0;
    size_t n = receive_all(fd, got, sizeof got, CLOSE_MS, &end);
    close(fd);
    xt_expect(n == 0 && end != XT_TIMEOUT,
              "with nothing listening on port 3000, the client of port 8001 is closed (EOF or "
              "reset) within 3 s, without a byte",
              "%zu bytes: \"%s\", %s (the server %s)", n, xt_quote(got, n < sizeof got ? n : 0),
              ending(end), server_state(p));
    expect_alive(p, "failing to reach the upstream");
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
    xt_proc_t *p = start_server();
    char want[FILE_CAP];
    size_t len = read_fixture(p, "public/sample.txt", want, sizeof want);
    /* The baseline as in stage 06: one client held open on the echo port
     * (so the server is in its loop), counted, then gone. */
    int held = xt_connect(ECHO_PORT);
    expect_echo(p, held, "a client of port 8004", 20);
    int with_one = xt_fd_count(xt_pid(p));
    close(held);
    int baseline = wait_fd_count_at_most(p, with_one - 1, SETTLE_MS);
    xt_expect(baseline >= 0 && baseline < with_one,
              "the server closes its socket for a client that left, within 3 s",
              "%d descriptors while the client was connected, %d after it left (the server %s)",
              with_one, baseline, server_state(p));

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
    int final = wait_fd_count_at_most(p, baseline, SETTLE_MS);
    char expected[160];
    snprintf(expected, sizeof expected,
             "within 3 s of the %d clients leaving, the server holds no more descriptors than "
             "before them (%d)",
             CONCURRENT, baseline);
    xt_expect(final >= 0 && final <= baseline, expected, "%d descriptors open (the server %s)",
              final, server_state(p));
}

/* SIGTERM with clients connected (proxied, echoed) ends the server with
 * status 0 within 3 s. */
static void exits_0_within_3_s_of_sigterm(void **state)
{
    (void)state;
    xt_upstream_start(UPSTREAM_PORT, "echo");
    xt_proc_t *p = start_server();
    int proxied = xt_connect(PROXY_PORT);
    int echoed = xt_connect(ECHO_PORT);
    expect_echo(p, proxied, "a client of port 8001 (echo upstream)", 40);
    expect_echo(p, echoed, "a client of port 8004", 40);

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
        XT_CHECK(exits_0_within_3_s_of_sigterm),
    };
    return xt_run_checks("stage 09 (file)", checks);
}
