/*
 * tests/stages/stage_08.c — black-box checks for stage 08 (upstream).
 *
 * The binary under test ($XPS_STAGE_BIN) is started with no arguments, so it
 * must listen on 8001-8004: 8001 relays raw TCP to the upstream on
 * 127.0.0.1:3000, which the checks provide with the test upstream
 * (build/bin/test-upstream, HTTP or echo mode) or leave empty on purpose;
 * 8002-8004 echo every byte, as in stage 07.
 *
 * What is checked: echo on 8002-8004; replies through 8001 byte-identical
 * to the upstream's own, for two clients connected at once; 16 MiB each way
 * at once between a client and an upstream played by the check, then end
 * of stream passed on in both directions; an upstream that is
 * down closes the client without a byte and a later client is served once
 * it is up; an upstream killed mid-transfer closes that client only; an
 * upstream that resets mid-reply has its bytes delivered before the client
 * is closed; on the echo ports, stage 07's three guarantees (a flooding
 * client delays no other client's echo, an idle connection costs under 2 %
 * CPU, RSS grows by less than 64 MiB while 2 GiB pass through a slow
 * reader: the checks shared in tests/support/echo_checks.c); SIGTERM ends
 * the server with status 0.
 *
 * Timing: about 25 s, 20 of them in the three shared checks.
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
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/checks.h"
#include "tests/support/echo_checks.h"
#include "tests/support/harness.h"
#include "tests/support/proxy_checks.h"

enum {
    BASE_PORT = 8001,      /* the four ports are 8001..8004 */
    PORTS = 4,
    PROXY_PORT = 8001,     /* the proxy port; 8002-8004 echo */
    UPSTREAM_PORT = 3000,
    START_MS = 5000,       /* for the server to start listening */
    REPLY_MS = 3000,       /* for one reply */
    CLOSE_MS = 3000,       /* for the server to close a client */
    STOP_MS = 3000,        /* for the server to exit after SIGTERM */
    REPLY_CAP = 4096,      /* room for one small HTTP reply */
    BIG_BYTES = 16 * 1024 * 1024, /* the big transfer, each way */
    READ_CAP = 64 * 1024,  /* most bytes one recv() of a streamer takes */
    STREAM_BYTES = 4 * 1024 * 1024, /* offered in the upstream-killed check */
    KILL_AFTER = 256 * 1024, /* echoed bytes seen before the upstream is killed */
    LINE_LEN = 200,        /* bytes per echo round trip */
};

/* ------------------------------------------------------------ helpers */

/* Starts the binary under test with no flags; waits for all four ports.
 * opts may be NULL. */
static xt_proc_t *start_server(const xt_start_opts_t *opts)
{
    for (int i = 0; i < PORTS; i++)
        xt_require_port_free((uint16_t)(BASE_PORT + i));
    xt_proc_t *p = xt_start_stage(NULL, opts);
    for (int i = 0; i < PORTS; i++)
        xt_wait_port(p, (uint16_t)(BASE_PORT + i), START_MS);
    return p;
}

/* The client ends its stream (shutdown SHUT_WR): the upstream must see
 * EOF; when the upstream closes in turn, so must the client, with no byte
 * more. Closes both. */
static void expect_end_of_stream_passed_on(xt_proc_t *p, int client, int upstream)
{
    shutdown(client, SHUT_WR);
    char byte;
    ssize_t n = xt_recv_deadline(upstream, &byte, 1, CLOSE_MS);
    xt_expect(n == 0 || n == XT_ERROR,
              "the client's FIN (shutdown SHUT_WR) reaches the upstream as EOF within 3 s",
              "%s (the server %s)",
              n == XT_TIMEOUT ? "the upstream's connection was still open after 3 s"
                              : "a byte more arrived",
              xt_server_state(p));
    close(upstream);
    bool closed = false;
    char extra[4096];
    size_t more = xt_recv_until_eof(client, extra, sizeof extra, CLOSE_MS, &closed);
    xt_expect(closed && more == 0,
              "once the upstream closes too, the client's connection is closed within 3 s, "
              "with no byte more",
              "%s, %zu bytes more (the server %s)", closed ? "closed" : "still open after 3 s",
              more, xt_server_state(p));
    close(client);
}

/* ------------------------------------------------------------- checks */

/* Ports 8002-8004 are stage 07's echo: every byte comes back as sent. */
static void echoes_on_ports_8002_to_8004(void **state)
{
    (void)state;
    xt_proc_t *p = start_server(NULL);
    for (int i = 1; i < PORTS; i++) {
        char who[64];
        snprintf(who, sizeof who, "a client of port %d", BASE_PORT + i);
        int fd = xt_connect((uint16_t)(BASE_PORT + i));
        xt_echo_round_trip(p, fd, who, 50);
        xt_echo_round_trip(p, fd, who, LINE_LEN);
        close(fd);
    }
}

/* Two clients, both connected before either asks, each gets exactly what
 * the upstream gives for its own path (the eXpServer tester's check). */
static void two_clients_through_8001_get_the_upstreams_replies(void **state)
{
    (void)state;
    xt_upstream_start(UPSTREAM_PORT, "http");
    xt_proc_t *p = start_server(NULL);
    xt_check_two_clients_get_the_upstreams_replies(p, "the server", PROXY_PORT, UPSTREAM_PORT);
}

/* The check plays the upstream on 3000 itself, so that it sees both ends
 * (a server that merely echoed on 8001 could not pass): 16 MiB of random
 * bytes each way at the same time, each end reading as it sends. Then the
 * client ends its stream (shutdown SHUT_WR): the upstream must see EOF, and
 * when the upstream closes in turn, so must the client. (Whether the proxy
 * lets the upstream answer after the client's FIN, a true half-close, is
 * the chapter's business and the unit tests': a proxy that closes both
 * sides on the first FIN passes here too.) */
static void relays_16_mib_each_way_through_8001_and_passes_end_of_stream(void **state)
{
    (void)state;
    xt_proc_t *p = start_server(NULL);
    unsigned char *up = xt_alloc(BIG_BYTES), *down = xt_alloc(BIG_BYTES);
    unsigned char *in_c = xt_alloc(BIG_BYTES), *in_u = xt_alloc(BIG_BYTES);
    xt_random_bytes(up, BIG_BYTES);
    xt_random_bytes(down, BIG_BYTES);

    xt_relay_t r = xt_relay_open(p, "the server", PROXY_PORT, UPSTREAM_PORT, NULL, 0);
    xt_streamer_t c = {.fd = r.client, .out = up, .want = down, .in = in_c, .len = BIG_BYTES,
                       .read_cap = READ_CAP};
    xt_streamer_t u = {.fd = r.upstream, .out = down, .want = up, .in = in_u, .len = BIG_BYTES,
                       .read_cap = READ_CAP};
    xt_streamer_t *const ss[] = {&c, &u};
    bool stuck = false;
    int64_t start = xt_now_ms();
    xt_pump_until_done(ss, 2, &stuck);
    xt_note("16 MiB each way through port 8001 in %lld ms", (long long)(xt_now_ms() - start));
    xt_expect(xt_stream_intact(&c) && xt_stream_intact(&u),
              "16 MiB of random bytes each way at once pass intact between a client of port "
              "8001 and the upstream",
              "client -> upstream: %s; upstream -> client: %s; the server %s",
              xt_stream_outcome(&u, stuck), xt_stream_outcome(&c, stuck), xt_server_state(p));

    expect_end_of_stream_passed_on(p, c.fd, u.fd);
    free(up);
    free(down);
    free(in_c);
    free(in_u);
}

/* Nothing listens on 3000: each client of 8001 is closed promptly without a
 * byte; the server goes on (8002 still echoes) and serves 8001 again once
 * the upstream is up. */
static void upstream_down_closes_the_client_without_a_byte(void **state)
{
    (void)state;
    xt_require_port_free(UPSTREAM_PORT); /* no upstream, on purpose */
    xt_proc_t *p = start_server(NULL);
    for (int i = 1; i <= 2; i++) {
        char buf[REPLY_CAP], expected[200];
        int fd = xt_connect(PROXY_PORT);
        xt_send_get(fd, "/test/1");
        ssize_t n = xt_recv_deadline(fd, buf, sizeof buf, CLOSE_MS);
        snprintf(expected, sizeof expected,
                 "with nothing listening on port 3000, client %d of port 8001 is closed (EOF or "
                 "reset) within 3 s, without a byte",
                 i);
        xt_expect(n == 0 || n == XT_ERROR, expected, "%s (the server %s)",
                  n == XT_TIMEOUT ? "the connection was still open after 3 s"
                  : n > 0         ? xt_quote(buf, (size_t)n)
                                  : "closed",
                  xt_server_state(p));
        close(fd);
        xt_expect_running(p, "the server", "after failing to reach the upstream");
    }
    int echo = xt_connect(BASE_PORT + 1);
    xt_echo_round_trip(p, echo, "a client of port 8002, after the failed proxying", 40);
    close(echo);

    xt_upstream_start(UPSTREAM_PORT, "http");
    xt_reply_t want;
    xt_fetch_direct(UPSTREAM_PORT, "/test/1", &want);
    int fd = xt_connect(PROXY_PORT);
    xt_send_get(fd, "/test/1");
    xt_expect_same_reply(p, "the server", fd,
                         "a client of port 8001 arriving once the upstream is up", &want);
    close(fd);
}

/* The echo upstream is killed (SIGKILL) while a client streams through
 * 8001: that client is closed within 3 s; a client of 8002 connected all
 * along is still echoed; the server keeps running. */
static void upstream_killed_mid_transfer_closes_only_that_client(void **state)
{
    (void)state;
    xt_proc_t *upstream = xt_upstream_start(UPSTREAM_PORT, "echo");
    xt_proc_t *p = start_server(NULL);
    int bystander = xt_connect(BASE_PORT + 1);
    xt_echo_round_trip(p, bystander, "a client of port 8002", 40);

    unsigned char *out = xt_alloc(STREAM_BYTES), *in = xt_alloc(STREAM_BYTES);
    xt_random_bytes(out, STREAM_BYTES);
    xt_streamer_t s = {.fd = xt_connect(PROXY_PORT), .out = out, .want = out, .in = in,
                       .len = STREAM_BYTES, .read_cap = READ_CAP};
    xt_streamer_t *const ss[] = {&s};
    xt_set_nonblocking(s.fd);
    int64_t deadline = xt_now_ms() + REPLY_MS;
    while (s.got < KILL_AFTER && !s.closed && xt_now_ms() < deadline)
        xt_pump(ss, 1, 50);
    xt_expect(s.got >= KILL_AFTER && xt_first_difference(out, in, s.got) == s.got,
              "the first 256 KiB a client streams through port 8001 come back from the echo "
              "upstream",
              "%s", xt_stream_outcome(&s, false));

    xt_stop(upstream, SIGKILL, 2000);
    int64_t killed = xt_now_ms();
    deadline = killed + CLOSE_MS;
    while (!s.closed && xt_now_ms() < deadline)
        xt_pump(ss, 1, 50);
    xt_expect(s.closed,
              "the streaming client of port 8001 is closed (EOF or reset) within 3 s of the "
              "upstream being killed",
              "%s after %lld ms; %zu bytes had come back (the server %s)",
              s.closed ? "closed" : "still open", (long long)(xt_now_ms() - killed), s.got,
              xt_server_state(p));
    /* Silently: a raw-TCP proxy has no words of its own to add, and the
     * course's tester ends its proxy-crash check only on a socket error. */
    xt_expect(xt_first_difference(out, in, s.got) == s.got,
              "every byte the client received before the close came from the upstream: no "
              "error text of the proxy's own",
              "%s", xt_stream_outcome(&s, false));
    close(s.fd);
    free(out);
    free(in);
    xt_expect_running(p, "the server", "after its upstream was killed mid-transfer");
    xt_echo_round_trip(p, bystander, "the client of port 8002, after the upstream died", 40);
    close(bystander);
}

/* GET /abort: the upstream sends a head announcing 1000000 body bytes, sends
 * 1000 of them, and resets. The bytes it sent reach the client before the
 * proxy closes it (a pipe drains before it passes the end on), exactly as
 * a client asking the upstream directly receives them. A client of 8001
 * connected alongside is served normally. */
static void upstream_reset_mid_reply_delivers_its_bytes_then_closes(void **state)
{
    (void)state;
    xt_upstream_start(UPSTREAM_PORT, "http");
    xt_reply_t want_abort, want2;
    xt_fetch_direct(UPSTREAM_PORT, "/abort", &want_abort);
    xt_fetch_direct(UPSTREAM_PORT, "/test/2", &want2);
    xt_proc_t *p = start_server(NULL);

    int a = xt_connect(PROXY_PORT);
    int b = xt_connect(PROXY_PORT);
    xt_send_get(a, "/abort");
    char got[REPLY_CAP];
    bool closed = false; /* EOF or reset */
    size_t n = xt_recv_until_eof(a, got, sizeof got, CLOSE_MS, &closed);
    char expected[300];
    snprintf(expected, sizeof expected,
             "the client asking GET /abort through port 8001 gets the %zu bytes the upstream "
             "sent before its reset, then its connection closed within 3 s",
             want_abort.len);
    xt_expect(closed && n == want_abort.len && memcmp(got, want_abort.bytes, n) == 0, expected,
              "%zu bytes (%s...), %s (the server %s)", n, xt_quote(got, n < 40 ? n : 40),
              closed ? "then closed" : "and the connection still open after 3 s",
              xt_server_state(p));
    close(a);
    xt_expect_running(p, "the server", "after an upstream connection was reset");

    xt_send_get(b, "/test/2");
    xt_expect_same_reply(p, "the server", b, "a client of port 8001 connected alongside it",
                         &want2);
    close(b);
}

/* The echo ports keep stage 07's guarantees; the checks are stage 07's
 * (tests/support/echo_checks.h says what each verifies and why). A client
 * floods 8002 without reading while another round-trips 48-byte probes on
 * 8003, each due within 1 s. */
static void flooding_client_does_not_delay_another_clients_echo(void **state)
{
    (void)state;
    xt_proc_t *p = start_server(NULL);
    xt_check_flood_does_not_delay(p, BASE_PORT + 1, BASE_PORT + 2);
}

/* An idle client on 8002 may cost under 2 % CPU over 5 s. */
static void idle_connection_costs_under_2_percent_cpu(void **state)
{
    (void)state;
    xt_proc_t *p = start_server(NULL);
    xt_check_idle_cpu(p, BASE_PORT + 1);
}

/* 2 GiB through a slow reader on 8004: the server's RSS may grow by less
 * than 64 MiB. The server is started with a small ASan quarantine, which
 * would otherwise count as RSS (no effect on other builds). */
static void memory_stays_bounded_while_2_gib_pass_through_a_slow_reader(void **state)
{
    (void)state;
    const char *env[] = {xt_asan_quarantine_env(), NULL};
    xt_start_opts_t opts = {.env = env};
    xt_proc_t *p = start_server(&opts);
    xt_check_rss_bounded_slow_reader(p, BASE_PORT + 3);
}

/* SIGTERM with clients connected (one proxied, one echoed) ends the
 * server with status 0 within 3 s. */
static void exits_0_within_3_s_of_sigterm(void **state)
{
    (void)state;
    xt_upstream_start(UPSTREAM_PORT, "echo");
    xt_proc_t *p = start_server(NULL);
    int proxied = xt_connect(PROXY_PORT);
    int echoed = xt_connect(BASE_PORT + 1);
    xt_echo_round_trip(p, proxied, "a client of port 8001 (echo upstream)", 40);
    xt_echo_round_trip(p, echoed, "a client of port 8002", 40);

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
        XT_CHECK(echoes_on_ports_8002_to_8004),
        XT_CHECK(two_clients_through_8001_get_the_upstreams_replies),
        XT_CHECK(relays_16_mib_each_way_through_8001_and_passes_end_of_stream),
        XT_CHECK(upstream_down_closes_the_client_without_a_byte),
        XT_CHECK(upstream_killed_mid_transfer_closes_only_that_client),
        XT_CHECK(upstream_reset_mid_reply_delivers_its_bytes_then_closes),
        XT_CHECK(flooding_client_does_not_delay_another_clients_echo),
        XT_CHECK(idle_connection_costs_under_2_percent_cpu),
        XT_CHECK(memory_stays_bounded_while_2_gib_pass_through_a_slow_reader),
        XT_CHECK(exits_0_within_3_s_of_sigterm),
    };
    return xt_run_checks("stage 08 (upstream)", checks);
}
