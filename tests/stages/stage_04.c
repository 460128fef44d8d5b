/*
 * tests/stages/stage_04.c — black-box checks for stage 04 (tcp-proxy).
 *
 * The binary under test ($XPS_STAGE_BIN) is started with no arguments, so it
 * must listen on 8080 and connect each client to the upstream on
 * 127.0.0.1:3000, which these checks provide with the test upstream
 * (build/bin/test-upstream, HTTP or echo mode), play themselves (a server
 * that writes before it reads), or leave empty on purpose.
 *
 * What is checked: replies through the proxy are byte-identical to replies
 * fetched from the upstream directly, for clients that are connected at the
 * same time; 32 MiB each way survive a client that reads slowly; 8 MiB each
 * way survive a client and an upstream that both send at once (a proxy that
 * relays with blocking send loops deadlocks there); an upstream that is
 * down, killed mid-transfer or resetting one connection closes the affected
 * client and nothing else, and the proxy keeps running.
 *
 * The checks never half-close their side of a connection, so a proxy that
 * closes the pair as soon as one side sends FIN (as the course's does)
 * passes too: that choice is the chapter's business, not the grader's.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/support/checks.h"
#include "tests/support/harness.h"
#include "tests/support/proxy_checks.h"

enum {
    PROXY_PORT = 8080,
    UPSTREAM_PORT = 3000,
    START_MS = 5000,            /* for a server to start listening */
    REPLY_MS = 3000,            /* for one reply */
    CLOSE_MS = 3000,            /* for the proxy to close a client */
    REPLY_CAP = 4096,           /* room for one small HTTP reply */
    SLOW_BYTES = 32 * 1024 * 1024, /* each way in the slow-reader check: more than the
                                       socket buffers on the way hold (~17 MiB here) */
    BULK_BYTES = 8 * 1024 * 1024, /* each way in the both-ends-at-once check */
    STALL_MS = 300,             /* the slow reader reads nothing for at least this long */
    STALL_MAX_MS = 3000,        /* ...and at most this long */
    SMALL_READ = 4096,          /* ...and then reads at most this much at a time */
    SMALL_RCVBUF = 64 * 1024,   /* its receive buffer: the proxy's sends come up short */
    BIG_READ = 64 * 1024,       /* the fake upstream's reads, once it reads */
    STREAM_BYTES = 4 * 1024 * 1024, /* offered in the upstream-killed check */
    KILL_AFTER = 256 * 1024,    /* echoed bytes seen before the upstream is killed */
};

/* ------------------------------------------------------------ helpers */

/* Starts the binary under test with no flags and waits until it listens. */
static xt_proc_t *start_proxy(void)
{
    xt_require_port_free(PROXY_PORT);
    xt_proc_t *p = xt_start_stage(NULL, NULL);
    xt_wait_port(p, PROXY_PORT, START_MS);
    return p;
}

/* Once the echo upstream is back, a new client's line comes back through
 * the proxy: its failed upstream left nothing broken behind. */
static void expect_relayed_again(xt_proc_t *proxy)
{
    int fd = xt_connect(PROXY_PORT);
    char line[64], got[64];
    size_t len = 40;
    xt_random_text(line, len);
    xt_send_all(fd, line, len);
    int why = 0;
    size_t n = xt_recv_exact(fd, got, len, REPLY_MS, &why);
    char expected[200];
    snprintf(expected, sizeof expected,
             "after the upstream restarts, a new client's \"%s\" comes back through the proxy",
             xt_quote(line, len));
    xt_expect(n == len && memcmp(got, line, len) == 0, expected, "\"%s\"%s (the proxy %s)",
              xt_quote(got, n),
              why == XT_TIMEOUT ? ", then nothing for 3 s" : why ? ", then an error" : "",
              xt_server_state(proxy));
    close(fd);
}

/* ------------------------------------------------------------- checks */

/* The eXpServer tester's check: two clients, both connected before either
 * asks, each gets exactly what the upstream gives for its own path. */
static void two_clients_get_the_upstreams_replies_byte_for_byte(void **state)
{
    (void)state;
    xt_upstream_start(UPSTREAM_PORT, "http");
    xt_proc_t *proxy = start_proxy();
    xt_check_two_clients_get_the_upstreams_replies(proxy, "the proxy", PROXY_PORT, UPSTREAM_PORT);
}

/* 32 MiB each way through the echo upstream, with a client that first reads
 * nothing while it sends as fast as the proxy takes the bytes, until its own
 * socket is full (every buffer on the way is full, and the proxy's sends come
 * up short) and at least 300 ms have passed; then it reads 4 KiB at a time.
 * Every byte must come back, in order. */
static void relays_32_mib_each_way_to_a_slow_reader(void **state)
{
    (void)state;
    xt_upstream_start(UPSTREAM_PORT, "echo");
    xt_proc_t *proxy = start_proxy();
    unsigned char *out = xt_alloc(SLOW_BYTES), *in = xt_alloc(SLOW_BYTES);
    xt_random_bytes(out, SLOW_BYTES);

    xt_streamer_t c = {.fd = xt_connect(PROXY_PORT), .out = out, .want = out, .in = in,
                  .len = SLOW_BYTES};
    xt_set_nonblocking(c.fd);
    int rcvbuf = SMALL_RCVBUF;
    setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    xt_streamer_t *const ss[] = {&c};
    int64_t start = xt_now_ms(), stall_min = start + STALL_MS, stall_max = start + STALL_MAX_MS;
    for (int64_t now = start; now < stall_max && c.sent < c.len && !c.send_failed;
         now = xt_now_ms()) {
        if (now >= stall_min && c.full_waits > 0)
            break;
        xt_pump(ss, 1, 20);
    }
    size_t sent_in_stall = c.sent;
    int64_t stalled = xt_now_ms() - start;
    c.read_cap = SMALL_READ;
    bool stuck = false;
    int64_t took = stalled + xt_pump_until_done(ss, 1, &stuck);

    xt_note("slow reader: sent %zu bytes in %lld ms before reading any (found its socket "
            "full %zu times), %lld ms in all",
            sent_in_stall, (long long)stalled, c.full_waits, (long long)took);
    xt_expect(xt_stream_intact(&c),
              "32 MiB of random bytes sent through the proxy to the echo upstream come back "
              "intact to a client that reads slowly",
              "%zu bytes sent; %s; the proxy %s", c.sent, xt_stream_outcome(&c, stuck),
              xt_server_state(proxy));
    close(c.fd);
    free(out);
    free(in);
}

/* The check plays the upstream itself: a server that writes its whole 8 MiB
 * answer before it reads anything (as one refusing an upload does), while the
 * client uploads 8 MiB at the same time and reads the answer slowly. Talking
 * directly, the two would finish. A proxy that blocks in send() towards the
 * upstream, while the upstream is blocked sending to the proxy, never does. */
static void relays_8_mib_each_way_when_both_ends_send_at_once(void **state)
{
    (void)state;
    xt_proc_t *proxy = start_proxy();
    unsigned char *up = xt_alloc(BULK_BYTES), *down = xt_alloc(BULK_BYTES);
    unsigned char *in_c = xt_alloc(BULK_BYTES), *in_u = xt_alloc(BULK_BYTES);
    xt_random_bytes(up, BULK_BYTES);
    xt_random_bytes(down, BULK_BYTES);

    /* The client's first 4 KiB go out before the accept: a proxy may wait
     * for a client's first byte before it connects. */
    xt_relay_t r = xt_relay_open(proxy, "the proxy", PROXY_PORT, UPSTREAM_PORT, up, SMALL_READ);
    xt_streamer_t c = {.fd = r.client, .out = up, .want = down, .in = in_c, .len = BULK_BYTES,
                       .sent = r.first_sent};
    xt_streamer_t u = {.fd = r.upstream, .out = down, .want = up, .in = in_u, .len = BULK_BYTES,
                       .read_cap = BIG_READ, .writes_first = true};
    xt_streamer_t *const ss[] = {&c, &u};
    int64_t stall_end = xt_now_ms() + STALL_MS;
    for (int64_t now = xt_now_ms(); now < stall_end; now = xt_now_ms())
        xt_pump(ss, 2, (int)(stall_end - now));
    c.read_cap = SMALL_READ;
    bool stuck = false;
    int64_t took = STALL_MS + xt_pump_until_done(ss, 2, &stuck);

    xt_note("both ends at once: %lld ms", (long long)took);
    xt_expect(xt_stream_intact(&c) && xt_stream_intact(&u),
              "with client and upstream both sending 8 MiB at once, each gets the other's "
              "bytes intact through the proxy",
              "client -> upstream: %s; upstream -> client: %s; the proxy %s",
              xt_stream_outcome(&u, stuck), xt_stream_outcome(&c, stuck), xt_server_state(proxy));
    close(c.fd);
    close(u.fd);
    free(up);
    free(down);
    free(in_c);
    free(in_u);
}

/* Nothing listens on 3000: each client is closed, promptly and without a
 * byte, and the proxy serves clients again once the upstream is up. */
static void unreachable_upstream_closes_only_that_client(void **state)
{
    (void)state;
    xt_require_port_free(UPSTREAM_PORT); /* no upstream, on purpose */
    xt_proc_t *proxy = start_proxy();

    for (int i = 1; i <= 2; i++) {
        char buf[REPLY_CAP], expected[200];
        int fd = xt_try_connect(PROXY_PORT);
        snprintf(expected, sizeof expected, "client %d can connect to the proxy on port 8080", i);
        xt_expect(fd >= 0, expected, "connect: %s (the proxy %s)", strerror(-fd),
                  xt_server_state(proxy));
        xt_send_get(fd, "/test/1"); /* a proxy that connects on the first byte must try now */
        ssize_t n = xt_recv_deadline(fd, buf, sizeof buf, CLOSE_MS);
        snprintf(expected, sizeof expected,
                 "with nothing listening on port 3000, client %d is closed by the proxy (EOF "
                 "or reset) within 3 s, without a byte",
                 i);
        xt_expect(n == 0 || n == XT_ERROR, expected, "%s (the proxy %s)",
                  n == XT_TIMEOUT ? "the connection was still open after 3 s"
                  : n > 0         ? xt_quote(buf, (size_t)n)
                                  : "closed",
                  xt_server_state(proxy));
        close(fd);
        xt_expect_running(proxy, "the proxy", "after failing to reach the upstream");
    }

    xt_upstream_start(UPSTREAM_PORT, "http");
    xt_reply_t want;
    xt_fetch_direct(UPSTREAM_PORT, "/test/1", &want);
    int fd = xt_connect(PROXY_PORT);
    xt_send_get(fd, "/test/1");
    xt_expect_same_reply(proxy, "the proxy", fd, "a client arriving once the upstream is up",
                         &want);
    close(fd);
}

/* The echo upstream is killed (SIGKILL) while a client streams through it:
 * that client is closed within 3 s, the proxy keeps running, and once the
 * upstream is back a new client is relayed again. */
static void upstream_killed_mid_transfer_closes_the_client(void **state)
{
    (void)state;
    xt_proc_t *upstream = xt_upstream_start(UPSTREAM_PORT, "echo");
    xt_proc_t *proxy = start_proxy();

    unsigned char *out = xt_alloc(STREAM_BYTES), *in = xt_alloc(STREAM_BYTES);
    xt_random_bytes(out, STREAM_BYTES);
    xt_streamer_t s = {.fd = xt_connect(PROXY_PORT), .out = out, .want = out, .in = in,
                  .len = STREAM_BYTES, .read_cap = SMALL_READ};
    xt_set_nonblocking(s.fd);
    xt_streamer_t *const ss[] = {&s};

    int64_t deadline = xt_now_ms() + REPLY_MS;
    for (int64_t now = xt_now_ms(); s.got < KILL_AFTER && !s.closed && now < deadline;
         now = xt_now_ms())
        xt_pump(ss, 1, (int)(deadline - now));
    xt_expect(s.got >= KILL_AFTER && xt_first_difference(out, in, s.got) == s.got,
              "the first 256 KiB a client streams through the proxy come back from the echo "
              "upstream",
              "%s", xt_stream_outcome(&s, false));

    xt_stop(upstream, SIGKILL, 2000);
    int64_t killed = xt_now_ms();
    deadline = killed + CLOSE_MS;
    for (int64_t now = killed; !s.closed && now < deadline; now = xt_now_ms())
        xt_pump(ss, 1, (int)(deadline - now));
    xt_expect(s.closed,
              "the streaming client is closed (EOF or reset) within 3 s of the upstream being "
              "killed",
              "%s after %lld ms; %zu bytes had come back (the proxy %s)",
              s.closed ? "closed" : "still open", (long long)(xt_now_ms() - killed), s.got,
              xt_server_state(proxy));
    /* Silently: a raw-TCP proxy has no words of its own to add, and the
     * course's tester ends its proxy-crash check only on a socket error. */
    xt_expect(xt_first_difference(out, in, s.got) == s.got,
              "every byte the client received before the close came from the upstream: no "
              "error text of the proxy's own",
              "%s", xt_stream_outcome(&s, false));
    close(s.fd);
    free(out);
    free(in);
    xt_expect_running(proxy, "the proxy", "after its upstream was killed mid-transfer");

    xt_upstream_start(UPSTREAM_PORT, "echo");
    expect_relayed_again(proxy);
}

/* GET /abort makes the upstream send 1000 of 1000000 announced body bytes
 * and reset its connection. The client that asked gets a start of that reply
 * and then a closed connection; a client connected alongside it is served
 * normally afterwards. */
static void upstream_reset_closes_only_that_client(void **state)
{
    (void)state;
    xt_upstream_start(UPSTREAM_PORT, "http");
    xt_reply_t want_abort, want2;
    xt_fetch_direct(UPSTREAM_PORT, "/abort", &want_abort);
    xt_fetch_direct(UPSTREAM_PORT, "/test/2", &want2);
    xt_proc_t *proxy = start_proxy();

    int a = xt_connect(PROXY_PORT);
    int b = xt_connect(PROXY_PORT);
    xt_send_get(a, "/abort");
    char got[REPLY_CAP];
    bool closed = false;
    size_t n = xt_recv_until_eof(a, got, sizeof got, CLOSE_MS, &closed);
    static const char status_line[] = "HTTP/1.1 200 OK\r\n";
    bool starts_right = n >= sizeof status_line - 1 && n <= want_abort.len &&
                        memcmp(got, want_abort.bytes, n) == 0;
    xt_expect(closed && starts_right,
              "the client asking GET /abort gets the start of the upstream's reply, then its "
              "connection closed within 3 s when the upstream resets",
              "%zu bytes (%s...), %s (the proxy %s)", n, xt_quote(got, n < 40 ? n : 40),
              closed ? "then closed" : "and the connection still open after 3 s",
              xt_server_state(proxy));
    close(a);
    xt_expect_running(proxy, "the proxy", "after an upstream connection was reset");

    xt_send_get(b, "/test/2");
    xt_expect_same_reply(proxy, "the proxy", b, "a client connected alongside it", &want2);
    close(b);
}

int main(void)
{
    const struct CMUnitTest checks[] = {
        XT_CHECK(two_clients_get_the_upstreams_replies_byte_for_byte),
        XT_CHECK(relays_32_mib_each_way_to_a_slow_reader),
        XT_CHECK(relays_8_mib_each_way_when_both_ends_send_at_once),
        XT_CHECK(unreachable_upstream_closes_only_that_client),
        XT_CHECK(upstream_killed_mid_transfer_closes_the_client),
        XT_CHECK(upstream_reset_closes_only_that_client),
    };
    return xt_run_checks("stage 04 (tcp-proxy)", checks);
}
