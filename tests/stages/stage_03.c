/*
 * tests/stages/stage_03.c — black-box checks for stage 03 (epoll).
 *
 * The binary under test ($XPS_STAGE_BIN) is started with no arguments, so it
 * must listen on the default port 8080. It must reverse every chunk it
 * receives (a trailing '\n' stays at the end) for any number of clients at
 * once, with clients coming and going in any order, without leaking a file
 * descriptor per client and without ever exiting because one client left.
 *
 * Only newline-terminated lines are sent, one at a time per connection and
 * short enough to arrive as one chunk, so a course-style server (which keeps
 * the last byte in place whatever it is) passes too.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <unistd.h>

#include "tests/support/checks.h"
#include "tests/support/echo_checks.h"
#include "tests/support/harness.h"
#include "tests/support/reverse_checks.h"

enum {
    PORT = 8080,
    SETTLE_MS = 3000, /* for the server to close what clients closed */
};

/* The one port stage 03 listens on. */
static const xt_rev_ports_t SERVER = {PORT, 1};

/* ------------------------------------------------------------- checks */

/* One client, several lines of different lengths, one at a time. */
static void reverses_lines_for_one_client(void **state)
{
    (void)state;
    xt_proc_t *p = xt_rev_start(SERVER);
    int fd = xt_connect(PORT);

    xt_echo_send(p, fd, "the client", "abcd\n", 5);
    xt_rev_expect_reversal(p, fd, "the client", "abcd\n", 5);
    static const size_t lengths[] = {2, 9, 40, 200, 500};
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++)
        xt_rev_round_trip(p, fd, "the client", lengths[i]);
    close(fd);
    xt_expect(true, "6 lines reversed, \"abcd\\n\" -> \"dcba\\n\" and 5 random ones",
              "all 6 replies exact");
}

/* 64 clients, all connected first, then one distinct line on each in a
 * shuffled order, then every reply (tests/support/reverse_checks.h). */
static void answers_64_concurrent_clients_each_with_its_own_reversal(void **state)
{
    (void)state;
    xt_rev_check_concurrent_clients(SERVER, &(xt_rev_crowd_t){
        .clients = 64, .stride = 37, .len_spread = 17, .on = SERVER,
        .summary = "64 clients connected at once, each gets its own reversal"});
}

/* Clients that vanish with a RST (SO_LINGER 0) while others stay connected:
 * idle ones, ones that talked earlier, and ones that sent a line and reset
 * before reading the reply (the server finds data and a reset waiting, or
 * replies to a socket that is already gone). The resets must cost the server
 * nothing but those connections. */
static void survives_clients_that_reset_mid_conversation(void **state)
{
    (void)state;
    enum { KEPT = 6, RESET = 8, FRESH = 4 };
    xt_proc_t *p = xt_rev_start(SERVER);
    int kept[KEPT], reset[RESET];
    char who[48];
    for (int i = 0; i < RESET; i++) {
        snprintf(who, sizeof who, "resetting client %d", i);
        reset[i] = xt_rev_connect_accepted(p, PORT, who);
    }
    for (int i = 0; i < KEPT; i++) {
        snprintf(who, sizeof who, "surviving client %d", i);
        kept[i] = xt_rev_connect_accepted(p, PORT, who);
    }
    /* Half of the kept clients talk once; the rest stay idle. */
    for (int i = 1; i < KEPT; i += 2) {
        snprintf(who, sizeof who, "surviving client %d", i);
        xt_rev_round_trip(p, kept[i], who, 30);
    }
    int with_all = xt_fd_count(xt_pid(p));
    for (int i = 0; i < RESET; i++) {
        snprintf(who, sizeof who, "resetting client %d", i);
        if (i % 2 == 0)
            xt_rev_round_trip(p, reset[i], who, 30);
        if (i % 4 < 2) {
            char line[XT_REV_LINE_MAX + 1];
            xt_rev_make_line(line, 300, "");
            xt_echo_send(p, reset[i], who, line, 300); /* then reset before the reply */
        }
        xt_close_abort(reset[i]);
    }

    /* Wait until the server has dealt with the resets (its fd count drops by
     * at least RESET) or has died; a server that never closes them is still
     * tested below, after the wait runs out. */
    xt_wait_fd_count_at_most(p, with_all - RESET, SETTLE_MS);
    xt_expect_running(p, "the server", "after 8 clients reset their connections");

    for (int i = 0; i < KEPT; i++) {
        snprintf(who, sizeof who, "surviving client %d", i);
        xt_rev_round_trip(p, kept[i], who, 25);
    }
    for (int i = 0; i < FRESH; i++) {
        snprintf(who, sizeof who, "new client %d", i);
        int fd = xt_echo_connect(p, PORT, who);
        xt_rev_round_trip(p, fd, who, 25);
        close(fd);
    }
    for (int i = 0; i < KEPT; i++)
        close(kept[i]);
    xt_expect_running(p, "the server", "after the resets");
    xt_expect(true,
              "after 8 clients reset, 6 old and 4 new clients answered, server running",
              "all answered exactly, server running");
}

/* Every connection the server accepts is a descriptor it must close when the
 * client leaves; forgetting one per client exhausts the process within a
 * day. A RST on every 4th cycle (tests/support/reverse_checks.h). */
static void fd_count_returns_to_baseline_after_1000_connections(void **state)
{
    (void)state;
    xt_rev_check_fd_baseline(SERVER, 4);
}

/* The stage 01 limitation, gone: an orderly close of one client must not end
 * the process nor disturb a client that is still connected. */
static void keeps_serving_after_a_client_leaves(void **state)
{
    (void)state;
    xt_proc_t *p = xt_rev_start(SERVER);
    int leaving = xt_connect(PORT);
    int staying = xt_connect(PORT);
    xt_rev_round_trip(p, leaving, "the leaving client", 16);
    xt_rev_round_trip(p, staying, "the staying client", 16);

    int with_two = xt_fd_count(xt_pid(p));
    close(leaving); /* FIN */
    /* Until the server has seen the FIN (closed its end) or has exited. */
    xt_wait_fd_count_at_most(p, with_two - 1, SETTLE_MS);
    xt_expect_running(p, "the server", "after one client closed its connection");

    xt_rev_round_trip(p, staying, "the staying client", 24);
    int fresh = xt_echo_connect(p, PORT, "a new client");
    xt_rev_round_trip(p, fresh, "a new client", 24);
    close(fresh);
    close(staying);
    xt_expect_running(p, "the server", "after a client left");
    xt_expect(true, "after one client left: the other and a new one answered, server running",
              "both answered exactly, server running");
}

int main(void)
{
    const struct CMUnitTest checks[] = {
        XT_CHECK(reverses_lines_for_one_client),
        XT_CHECK(answers_64_concurrent_clients_each_with_its_own_reversal),
        XT_CHECK(survives_clients_that_reset_mid_conversation),
        XT_CHECK(fd_count_returns_to_baseline_after_1000_connections),
        XT_CHECK(keeps_serving_after_a_client_leaves),
    };
    return xt_run_checks("stage 03 (epoll)", checks);
}
