/*
 * tests/stages/stage_07.c — black-box checks for stage 07 (tcp).
 *
 * The binary under test ($XPS_STAGE_BIN) is started with no arguments, so it
 * must listen on 8001, 8002, 8003 and 8004 and echo every byte each client
 * sends back to that client (no reversal from this stage on).
 *
 * Graded as the course's stage 8 or 9 (`make grade COURSE=8`), whose tester
 * still wants every string back reversed, the same checks expect each chunk
 * reversed instead, a trailing '\n' kept last (our own binary is started
 * with --reverse then; tests/support/course.c). As its stage 10 they expect
 * the echo.
 *
 * What is checked, besides the echo itself: the three failures stage 07
 * fixes. A client that sends without reading must not stall anyone else
 * (non-blocking sockets); an idle connection must cost no CPU (edge-
 * triggered epoll, or at least no EPOLLOUT while there is nothing to send);
 * memory must stay bounded while gigabytes pass through a slow reader
 * (back-pressure: stop reading what cannot be sent yet). Also resets that
 * cost the server nothing but the connections that reset, and a clean exit
 * (status 0) on SIGTERM.
 *
 * The flood, idle-CPU and memory checks are shared with stages 08 and 09
 * (tests/support/echo_checks.c). Timing: the whole file runs in about 25 s;
 * the flood check runs 5 s, the idle-CPU check 5 s, the memory check at
 * most 15 s.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/checks.h"
#include "tests/support/course.h"
#include "tests/support/echo_checks.h"
#include "tests/support/harness.h"

enum {
    BASE_PORT = 8001,          /* the four ports are 8001..8004 */
    PORTS = 4,
    START_MS = 5000,           /* for the server to start listening on all four */
    SETTLE_MS = 3000,          /* for the server to close what clients closed */
    STOP_MS = 3000,            /* for the server to stop after SIGTERM */
    CONCURRENT = 100,          /* clients open at once */
    CHUNK_MAX = XT_ECHO_MAX,   /* largest chunk one concurrent client sends */
};

/* ------------------------------------------------------------ helpers */

/* Starts the binary under test with no flags; waits until all four ports
 * accept connections. */
static xt_proc_t *start_server(const xt_start_opts_t *opts)
{
    for (int i = 0; i < PORTS; i++)
        xt_require_port_free((uint16_t)(BASE_PORT + i));
    xt_proc_t *p = xt_start_stage(NULL, opts);
    for (int i = 0; i < PORTS; i++)
        xt_wait_port(p, (uint16_t)(BASE_PORT + i), START_MS);
    return p;
}

/* ------------------------------------------------------------- checks */

/* One client on each port, all connected before any of them talks: a line
 * of text, then 256 bytes of every value (an echo is byte-exact, binary
 * included). */
static void echoes_on_each_of_ports_8001_to_8004(void **state)
{
    (void)state;
    xt_proc_t *p = start_server(NULL);
    int fds[PORTS];
    char who[PORTS][48];
    for (int i = 0; i < PORTS; i++) {
        snprintf(who[i], sizeof who[i], "the client on port %d", BASE_PORT + i);
        fds[i] = xt_echo_connect(p, BASE_PORT + i, who[i]);
    }
    unsigned char every[256];
    for (int b = 0; b < 256; b++)
        every[b] = (unsigned char)b;
    for (int i = PORTS - 1; i >= 0; i--) {
        char line[64];
        int n = snprintf(line, sizeof line, "hello port %d\n", BASE_PORT + i);
        xt_echo_send(p, fds[i], who[i], line, (size_t)n);
        xt_expect_echo(p, fds[i], who[i], line, (size_t)n);
    }
    for (int i = 0; i < PORTS; i++) {
        xt_echo_send(p, fds[i], who[i], every, sizeof every);
        xt_expect_echo(p, fds[i], who[i], every, sizeof every);
        close(fds[i]);
    }
    char summary[160];
    snprintf(summary, sizeof summary, "one client on each of 8001-8004 gets back %s, a line and "
             "256 binary bytes", xt_echo_reply_text());
    xt_expect(true, summary, "8 of 8 replies exact");
}

/* 100 clients spread over the four ports, all connected first; then each
 * sends its own random chunk (up to 8 KiB) in a shuffled order, then every
 * echo is read. A server that serves clients one after another, or mixes
 * up whose bytes are whose, cannot pass. */
static void echoes_100_concurrent_clients_each_its_own_bytes(void **state)
{
    (void)state;
    xt_proc_t *p = start_server(NULL);
    static int fds[CONCURRENT];
    static unsigned char chunks[CONCURRENT][CHUNK_MAX];
    size_t lens[CONCURRENT];
    char who[64];
    for (int i = 0; i < CONCURRENT; i++) {
        snprintf(who, sizeof who, "client %d", i);
        fds[i] = xt_echo_connect(p, BASE_PORT + i % PORTS, who);
    }
    /* 37 and 100 share no factor, so i*37 mod 100 visits every client once. */
    for (int k = 0; k < CONCURRENT; k++) {
        int i = (k * 37) % CONCURRENT;
        lens[i] = 1 + (size_t)(i * 811) % CHUNK_MAX;
        xt_random_text((char *)chunks[i], lens[i]);
        snprintf(who, sizeof who, "client %d on port %d", i, BASE_PORT + i % PORTS);
        xt_echo_send(p, fds[i], who, chunks[i], lens[i]);
    }
    for (int i = CONCURRENT - 1; i >= 0; i--) {
        snprintf(who, sizeof who, "client %d of %d on port %d", i, CONCURRENT,
                 BASE_PORT + i % PORTS);
        xt_expect_echo(p, fds[i], who, chunks[i], lens[i]);
    }
    for (int i = 0; i < CONCURRENT; i++)
        close(fds[i]);
    char summary[160];
    snprintf(summary, sizeof summary, "100 clients connected at once to 8001-8004, each gets "
             "back %s, no one else's bytes", xt_echo_reply_text());
    xt_expect(true, summary, "100 of 100 replies exact");
}

/* On every port, clients vanish with a RST (SO_LINGER 0) while others stay
 * connected: one idle, one after a round trip, and one in the middle of a
 * 1 MiB echo it is not reading. The server must close its end of each reset
 * connection (its descriptor count falls back) and go on serving the
 * survivors and new clients on every port. */
static void abrupt_disconnects_leave_the_others_served(void **state)
{
    (void)state;
    enum { RESETS = 3, BIG = 1 << 20 };
    xt_proc_t *p = start_server(NULL);
    unsigned char *big = xt_alloc(BIG);
    xt_random_bytes(big, BIG);
    int kept[PORTS], reset[PORTS][RESETS];
    char who[64];
    for (int port = 0; port < PORTS; port++) {
        snprintf(who, sizeof who, "surviving client on port %d", BASE_PORT + port);
        kept[port] = xt_echo_connect(p, BASE_PORT + port, who);
        xt_echo_round_trip(p, kept[port], who, 100);
    }
    int base = xt_fd_count(xt_pid(p));
    for (int port = 0; port < PORTS; port++) {
        for (int i = 0; i < RESETS; i++) {
            snprintf(who, sizeof who, "resetting client %d on port %d", i, BASE_PORT + port);
            reset[port][i] = xt_echo_connect(p, BASE_PORT + port, who);
        }
        snprintf(who, sizeof who, "resetting client 1 on port %d", BASE_PORT + port);
        xt_echo_round_trip(p, reset[port][1], who, 200);
        xt_set_nonblocking(reset[port][2]); /* sends what fits, reads nothing */
        size_t pos = 0;
        xt_send_some(reset[port][2], big, BIG, &pos, BIG);
    }
    xt_sleep_ms(100); /* the server's sends to client 2 meet a full socket */
    for (int port = 0; port < PORTS; port++)
        for (int i = 0; i < RESETS; i++)
            xt_close_abort(reset[port][i]);
    free(big);
    int left = xt_wait_fd_count_at_most(p, base, SETTLE_MS);
    xt_expect_running(p, "the server", "after 12 clients (3 per port) reset their connections");
    xt_expect(left <= base,
              "the server closes its end of the 12 reset connections within 3 s",
              "%d descriptors open, %d before the 12 connected", left, base);

    for (int port = 0; port < PORTS; port++) {
        snprintf(who, sizeof who, "surviving client on port %d", BASE_PORT + port);
        xt_echo_round_trip(p, kept[port], who, 300);
        close(kept[port]);
        snprintf(who, sizeof who, "a new client on port %d", BASE_PORT + port);
        int fd = xt_echo_connect(p, BASE_PORT + port, who);
        xt_echo_round_trip(p, fd, who, 300);
        close(fd);
    }
    xt_expect_running(p, "the server", "after the resets");
    xt_expect(true,
              "after 3 resets per port (idle, after a round trip, mid-reply), the old and a new "
              "client on each of 8001-8004 are answered",
              "all 8 answered exactly, server running");
}

/* Stage 07's three failures are measured by checks stages 08 and 09 run
 * on their echo ports too; tests/support/echo_checks.h says what each
 * verifies and why. Here: a client floods 8001 without reading while
 * another round-trips 48-byte probes on 8002, each due within 1 s. */
static void flooding_client_does_not_delay_another_clients_echo(void **state)
{
    (void)state;
    xt_proc_t *p = start_server(NULL);
    xt_check_flood_does_not_delay(p, BASE_PORT, BASE_PORT + 1);
}

/* An idle client on 8001 may cost under 2 % CPU over 5 s: a server that
 * keeps EPOLLOUT registered level-triggered burns a whole core. */
static void idle_connection_costs_under_2_percent_cpu(void **state)
{
    (void)state;
    xt_proc_t *p = start_server(NULL);
    xt_check_idle_cpu(p, BASE_PORT);
}

/* 2 GiB through a slow reader on 8003: the server's RSS may grow by less
 * than 64 MiB. The server is started with a small ASan quarantine, which
 * would otherwise count as RSS (no effect on other builds). */
static void memory_stays_bounded_while_2_gib_pass_through_a_slow_reader(void **state)
{
    (void)state;
    const char *env[] = {xt_asan_quarantine_env(), NULL};
    xt_start_opts_t opts = {.env = env};
    xt_proc_t *p = start_server(&opts);
    xt_check_rss_bounded_slow_reader(p, BASE_PORT + 2);
}

/* SIGTERM with clients connected, one of them with its echo piling up
 * unread: the server must shut down cleanly, exit status 0, within 3 s. */
static void exits_0_on_sigterm_with_clients_connected(void **state)
{
    (void)state;
    enum { PENDING = 4 << 20 };
    xt_proc_t *p = start_server(NULL);
    int idle = xt_echo_connect(p, BASE_PORT, "an idle client");
    int talker = xt_echo_connect(p, BASE_PORT + 3, "a client on port 8004");
    xt_echo_round_trip(p, talker, "the client on port 8004", 32);
    unsigned char *big = xt_alloc(PENDING);
    xt_random_bytes(big, PENDING);
    int busy = xt_echo_connect(p, BASE_PORT + 2, "a client that does not read");
    xt_set_nonblocking(busy);
    size_t pos = 0;
    xt_send_some(busy, big, PENDING, &pos, PENDING);
    free(big);
    xt_sleep_ms(100);

    int64_t sent_at = xt_now_ms();
    int status = xt_stop(p, SIGTERM, STOP_MS);
    int64_t took = xt_now_ms() - sent_at;
    close(idle);
    close(talker);
    close(busy);
    xt_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "on SIGTERM, with clients connected, the server exits with status 0 within 3 s",
              "%s after %lld ms", xt_status_text(status), (long long)took);
}

int main(void)
{
    const xt_course_step_t *course = xt_course_active();
    xt_echo_expect(course && course->reverses ? XT_REPLY_REVERSED : XT_REPLY_COPY);
    const struct CMUnitTest checks[] = {
        XT_CHECK(echoes_on_each_of_ports_8001_to_8004),
        XT_CHECK(echoes_100_concurrent_clients_each_its_own_bytes),
        XT_CHECK(abrupt_disconnects_leave_the_others_served),
        XT_CHECK(flooding_client_does_not_delay_another_clients_echo),
        XT_CHECK(idle_connection_costs_under_2_percent_cpu),
        XT_CHECK(memory_stays_bounded_while_2_gib_pass_through_a_slow_reader),
        XT_CHECK(exits_0_on_sigterm_with_clients_connected),
    };
    return xt_run_checks("stage 07 (tcp)", checks);
}
