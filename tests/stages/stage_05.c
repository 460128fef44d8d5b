/*
 * tests/stages/stage_05.c — black-box checks for stage 05 (server-client).
 *
 * The binary under test ($XPS_STAGE_BIN) is started with no arguments, so it
 * must listen on the default ports 8001, 8002, 8003 and 8004 at once. On
 * every port it must reverse each chunk it receives (a trailing '\n' stays
 * at the end) for any number of clients, keep serving when clients vanish
 * with a reset, and stop when it gets SIGTERM.
 *
 * Only newline-terminated lines are sent, one at a time per connection and
 * short enough to arrive as one chunk, so a course-style server (which keeps
 * the last byte in place whatever it is) passes too.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/harness.h"
#include "tests/support/reverse_checks.h"

enum {
    BASE_PORT = 8001, /* the four ports are 8001..8004 */
    STOP_MS = 3000,   /* for the server to stop after SIGTERM */
};

/* The four ports the server listens on. */
static const xt_rev_ports_t SERVER = {BASE_PORT, 4};

/* ------------------------------------------------------------- checks */

/* A client on each port, all connected before any of them talks, each with a
 * line naming its port: four listeners in one process, each answering its
 * own clients (tests/support/reverse_checks.h). */
static void reverses_a_line_on_each_of_ports_8001_to_8004(void **state)
{
    (void)state;
    xt_rev_check_each_port_reverses(SERVER);
}

/* 48 clients on one port, all connected first, then one distinct line on
 * each in a shuffled order, then every reply: a server that serves clients
 * one after another, or mixes up whose reply is whose, cannot pass. */
static void answers_48_concurrent_clients_on_one_port_each_with_its_own(void **state)
{
    (void)state;
    xt_rev_check_concurrent_clients(SERVER, &(xt_rev_crowd_t){
        .clients = 48, .stride = 29, .len_spread = 13, .on = {BASE_PORT + 2, 1},
        .summary = "48 clients connected at once to port 8003, each gets its own reversal"});
}

/* On every port, clients vanish with a RST while others stay connected;
 * the survivors and new clients on every port must still be answered
 * (tests/support/reverse_checks.h). */
static void keeps_serving_every_port_after_clients_reset(void **state)
{
    (void)state;
    xt_rev_check_every_port_survives_resets(SERVER);
}

/* SIGTERM (what `kill` and service managers send) must stop the server even
 * with clients connected. Stage 05 is not required to exit with status 0
 * (clean shutdown is stage 06's), only to stop promptly. */
static void stops_on_sigterm_with_clients_connected(void **state)
{
    (void)state;
    xt_proc_t *p = xt_rev_start(SERVER);
    int idle = xt_rev_connect_accepted(p, BASE_PORT, "an idle client on port 8001");
    int talker = xt_rev_connect_accepted(p, BASE_PORT + 3, "a client on port 8004");
    xt_rev_round_trip(p, talker, "the client on port 8004", 16);

    int64_t sent_at = xt_now_ms();
    int status = xt_stop(p, SIGTERM, STOP_MS);
    int64_t took = xt_now_ms() - sent_at;
    close(idle);
    close(talker);
    bool killed_by_us = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    xt_expect(!killed_by_us, "the server stops within 3 s of SIGTERM, clients still connected",
              "%s after %lld ms%s", xt_status_text(status), (long long)took,
              killed_by_us ? " (it was still running after 3 s and was killed)" : "");
}

int main(void)
{
    const struct CMUnitTest checks[] = {
        XT_CHECK(reverses_a_line_on_each_of_ports_8001_to_8004),
        XT_CHECK(answers_48_concurrent_clients_on_one_port_each_with_its_own),
        XT_CHECK(keeps_serving_every_port_after_clients_reset),
        XT_CHECK(stops_on_sigterm_with_clients_connected),
    };
    return xt_run_checks("stage 05 (server-client)", checks);
}
