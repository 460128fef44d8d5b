/*
 * tests/support/reverse_checks.c — reversal clients and the checks stages
 * 03, 05 and 06 share (see reverse_checks.h for what each verifies). Moved
 * here from those stages' check files, which had copied one another.
 */
#include "tests/support/reverse_checks.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/checks.h"
#include "tests/support/echo_checks.h"

enum {
    START_MS = 5000,  /* for the server to start listening on every port */
    REPLY_MS = 3000,  /* for one reply */
    SETTLE_MS = 3000, /* for the server to close what clients closed */
    CYCLES = 1000,    /* connect/close cycles in the fd check */
};

/* ---------------------------------------------------- reversal clients */

xt_proc_t *xt_rev_start(xt_rev_ports_t ports)
{
    for (int i = 0; i < ports.count; i++)
        xt_require_port_free((uint16_t)(ports.base + i));
    xt_proc_t *p = xt_start_stage(NULL, NULL);
    for (int i = 0; i < ports.count; i++)
        xt_wait_port(p, (uint16_t)(ports.base + i), START_MS);
    return p;
}

void xt_rev_make_line(char *line, size_t len, const char *tag)
{
    size_t tag_len = strlen(tag);
    memcpy(line, tag, tag_len);
    xt_random_text(line + tag_len, len - tag_len - 1);
    line[len - 1] = '\n';
    line[len] = '\0';
}

/* What the server must answer to `line`: reversed, the '\n' kept last. */
static void reversal_of(const char *line, size_t len, char *out)
{
    for (size_t i = 0; i + 1 < len; i++)
        out[i] = line[len - 2 - i];
    out[len - 1] = '\n';
    out[len] = '\0';
}

void xt_rev_expect_reversal(xt_proc_t *p, int fd, const char *who, const char *line,
                            size_t len)
{
    char want[XT_REV_LINE_MAX + 1], got[XT_REV_LINE_MAX + 1], expected[900];
    reversal_of(line, len, want);
    int why = 0;
    size_t n = xt_recv_exact(fd, got, len, REPLY_MS, &why);
    int err = errno;
    snprintf(expected, sizeof expected, "%s gets reply \"%s\"", who, xt_quote(want, len));
    if (n == len) {
        xt_expect(memcmp(got, want, len) == 0, expected, "reply \"%s\"", xt_quote(got, n));
        return;
    }
    char how[96];
    if (why == XT_TIMEOUT)
        snprintf(how, sizeof how, "no complete reply within 3 s");
    else if (why == XT_ERROR)
        snprintf(how, sizeof how, "connection error: %s", strerror(err));
    else
        snprintf(how, sizeof how, "connection closed by the server");
    xt_expect(false, expected, "%s; %zu of %zu bytes came: \"%s\"%s", how, n, len,
              xt_quote(got, n), xt_server_note(p));
}

void xt_rev_round_trip(xt_proc_t *p, int fd, const char *who, size_t len)
{
    char line[XT_REV_LINE_MAX + 1];
    xt_rev_make_line(line, len, "");
    xt_echo_send(p, fd, who, line, len);
    xt_rev_expect_reversal(p, fd, who, line, len);
}

int xt_rev_connect_accepted(xt_proc_t *p, uint16_t port, const char *who)
{
    int before = xt_fd_count(xt_serving_pid(p));
    int fd = xt_echo_connect(p, port, who);
    int64_t deadline = xt_now_ms() + SETTLE_MS;
    int now = xt_fd_count(xt_serving_pid(p));
    while (now >= 0 && now <= before && xt_now_ms() < deadline) {
        xt_sleep_ms(2);
        now = xt_fd_count(xt_serving_pid(p));
    }
    char expected[160];
    snprintf(expected, sizeof expected,
             "the server accepts %s while the others stay connected (one more fd within 3 s)",
             who);
    xt_expect(now > before, expected, "%d fds before the connect, %d after 3 s%s", before, now,
              xt_server_note(p));
    return fd;
}

/* ---------------------------------------------------- the shared checks */

void xt_rev_check_each_port_reverses(xt_rev_ports_t ports)
{
    enum { MAX = 8 };
    xt_proc_t *p = xt_rev_start(ports);
    int n = ports.count < MAX ? ports.count : MAX, fds[MAX];
    char lines[MAX][64], who[MAX][48];
    for (int i = 0; i < n; i++) {
        snprintf(who[i], sizeof who[i], "the client on port %d", ports.base + i);
        fds[i] = xt_rev_connect_accepted(p, (uint16_t)(ports.base + i), who[i]);
    }
    for (int i = n - 1; i >= 0; i--) {
        char tag[16];
        snprintf(tag, sizeof tag, "port %d:", ports.base + i);
        xt_rev_make_line(lines[i], 30 + (size_t)i * 7, tag);
        xt_echo_send(p, fds[i], who[i], lines[i], strlen(lines[i]));
    }
    for (int i = 0; i < n; i++)
        xt_rev_expect_reversal(p, fds[i], who[i], lines[i], strlen(lines[i]));
    /* And the classic one, on every port. */
    for (int i = 0; i < n; i++) {
        xt_echo_send(p, fds[i], who[i], "abcd\n", 5);
        xt_rev_expect_reversal(p, fds[i], who[i], "abcd\n", 5);
        close(fds[i]);
    }
    char expected[160], observed[64];
    snprintf(expected, sizeof expected,
             "one client on each of %d-%d gets its own reversal, \"abcd\\n\" -> \"dcba\\n\" on "
             "every port", ports.base, ports.base + n - 1);
    snprintf(observed, sizeof observed, "%d of %d replies exact", 2 * n, 2 * n);
    xt_expect(true, expected, "%s", observed);
}

/* Client i's label: "client 3" on a one-port server, else "client 3 on
 * port 8002"; with `of`, "client 3 of 64 ..." (for its reply). */
static const char *crowd_who(char *who, size_t cap, xt_rev_ports_t server,
                             const xt_rev_crowd_t *crowd, int i, bool of)
{
    int port = crowd->on.base + i % crowd->on.count;
    int used = of ? snprintf(who, cap, "client %d of %d", i, crowd->clients)
                  : snprintf(who, cap, "client %d", i);
    if (server.count > 1 && used > 0 && (size_t)used < cap)
        snprintf(who + used, cap - (size_t)used, " on port %d", port);
    return who;
}

void xt_rev_check_concurrent_clients(xt_rev_ports_t server, const xt_rev_crowd_t *crowd)
{
    static int fds[XT_REV_CLIENTS_MAX];
    static char lines[XT_REV_CLIENTS_MAX][64];
    char who[64];
    if (crowd->clients > XT_REV_CLIENTS_MAX)
        xt_fail("at most %d clients (a check problem)", XT_REV_CLIENTS_MAX);
    xt_proc_t *p = xt_rev_start(server);
    for (int i = 0; i < crowd->clients; i++)
        fds[i] = xt_rev_connect_accepted(p, (uint16_t)(crowd->on.base + i % crowd->on.count),
                                         crowd_who(who, sizeof who, server, crowd, i, false));
    /* stride shares no factor with clients: k*stride mod clients visits
     * every client once. */
    for (int k = 0; k < crowd->clients; k++) {
        int i = (k * crowd->stride) % crowd->clients;
        char tag[16];
        snprintf(tag, sizeof tag, "c%02d:", i);
        xt_rev_make_line(lines[i], 40 + (size_t)(i % crowd->len_spread), tag);
        xt_echo_send(p, fds[i], crowd_who(who, sizeof who, server, crowd, i, false),
                         lines[i], strlen(lines[i]));
    }
    for (int i = crowd->clients - 1; i >= 0; i--)
        xt_rev_expect_reversal(p, fds[i], crowd_who(who, sizeof who, server, crowd, i, true),
                               lines[i], strlen(lines[i]));
    for (int i = 0; i < crowd->clients; i++)
        close(fds[i]);
    xt_expect(true, crowd->summary, "%d of %d replies exact", crowd->clients, crowd->clients);
}

/* Connects KEPT surviving and RESET resetting clients on every port; one
 * survivor per port talks. */
enum { KEPT = 2, RESET = 3, PORTS_MAX = 8 };
static void connect_survivors_and_resetters(xt_proc_t *p, xt_rev_ports_t ports,
                                            int kept[][KEPT], int reset[][RESET])
{
    char who[64];
    for (int port = 0; port < ports.count; port++) {
        for (int i = 0; i < KEPT; i++) {
            snprintf(who, sizeof who, "surviving client %d on port %d", i, ports.base + port);
            kept[port][i] = xt_rev_connect_accepted(p, (uint16_t)(ports.base + port), who);
        }
        for (int i = 0; i < RESET; i++) {
            snprintf(who, sizeof who, "resetting client %d on port %d", i, ports.base + port);
            reset[port][i] = xt_rev_connect_accepted(p, (uint16_t)(ports.base + port), who);
        }
        snprintf(who, sizeof who, "surviving client 0 on port %d", ports.base + port);
        xt_rev_round_trip(p, kept[port][0], who, 30); /* one talks, one stays idle */
    }
}

void xt_rev_check_every_port_survives_resets(xt_rev_ports_t ports)
{
    int kept[PORTS_MAX][KEPT], reset[PORTS_MAX][RESET];
    char who[64], text[200];
    if (ports.count > PORTS_MAX)
        xt_fail("at most %d ports (a check problem)", PORTS_MAX);
    xt_proc_t *p = xt_rev_start(ports);
    connect_survivors_and_resetters(p, ports, kept, reset);
    int with_all = xt_fd_count(xt_serving_pid(p));
    for (int port = 0; port < ports.count; port++) {
        snprintf(who, sizeof who, "resetting client 1 on port %d", ports.base + port);
        xt_rev_round_trip(p, reset[port][1], who, 20); /* talked earlier */
        char line[XT_REV_LINE_MAX + 1];
        xt_rev_make_line(line, 200, "");
        snprintf(who, sizeof who, "resetting client 2 on port %d", ports.base + port);
        xt_echo_send(p, reset[port][2], who, line, 200); /* reply never read */
        for (int i = 0; i < RESET; i++)
            xt_close_abort(reset[port][i]);
    }
    /* Until the server has closed its ends of the resets, or has died; a
     * server that never closes them is still tested below. */
    xt_wait_fd_count_at_most(p, with_all - ports.count * RESET, SETTLE_MS);
    snprintf(text, sizeof text, "after %d clients (%d per port) reset their connections",
             ports.count * RESET, RESET);
    xt_expect_running(p, "the server", text);
    for (int port = 0; port < ports.count; port++) {
        for (int i = 0; i < KEPT; i++) {
            snprintf(who, sizeof who, "surviving client %d on port %d", i, ports.base + port);
            xt_rev_round_trip(p, kept[port][i], who, 25);
            close(kept[port][i]);
        }
        snprintf(who, sizeof who, "a new client on port %d", ports.base + port);
        int fd = xt_echo_connect(p, (uint16_t)(ports.base + port), who);
        xt_rev_round_trip(p, fd, who, 25);
        close(fd);
    }
    xt_expect_running(p, "the server", "after the resets");
    snprintf(text, sizeof text, "after %d resets per port, %d old and 1 new client on each of "
             "%d-%d answered, server running", RESET, KEPT, ports.base,
             ports.base + ports.count - 1);
    xt_expect(true, text, "all %d answered exactly, server running", ports.count * (KEPT + 1));
}

/* One client comes, talks and goes; returns the fd count once the server
 * has closed its socket for it (the baseline), expecting that it does. */
static int fd_baseline(xt_proc_t *p, uint16_t port)
{
    int fd = xt_rev_connect_accepted(p, port, "the first client");
    xt_rev_round_trip(p, fd, "the first client", 20);
    int with_one = xt_fd_count(xt_serving_pid(p));
    close(fd);
    int baseline = xt_wait_fd_count_at_most(p, with_one - 1, SETTLE_MS);
    xt_expect(baseline >= 0 && baseline < with_one,
              "the server closes its socket for a client that left, within 3 s",
              "%d fds while the client was connected, %d after it left%s", with_one, baseline,
              xt_server_note(p));
    return baseline;
}

void xt_rev_check_fd_baseline(xt_rev_ports_t ports, int rst_every)
{
    xt_proc_t *p = xt_rev_start(ports);
    int baseline = fd_baseline(p, ports.base);
    /* A line on every 4th connection: the reply proves the server has
     * accepted everything before it, so the accept queue never holds more
     * than 3 connections even if the server's listen() backlog is small. */
    int peak = baseline;
    int64_t started = xt_now_ms();
    for (int i = 0; i < CYCLES; i++) {
        char who[48];
        int port = ports.base + i % ports.count;
        snprintf(who, sizeof who, "client %d of %d", i, CYCLES);
        if (ports.count > 1)
            snprintf(who + strlen(who), sizeof who - strlen(who), " (port %d)", port);
        int fd = xt_echo_connect(p, (uint16_t)port, who);
        if (i % 4 == 0) {
            xt_rev_round_trip(p, fd, who, 12);
            int now = xt_fd_count(xt_serving_pid(p));
            peak = now > peak ? now : peak;
        }
        if (i % rst_every == 1)
            xt_close_abort(fd); /* RST */
        else
            close(fd); /* FIN */
    }
    int64_t took = xt_now_ms() - started;
    int final = xt_wait_fd_count_at_most(p, baseline, SETTLE_MS);
    char expected[160];
    snprintf(expected, sizeof expected,
             "fd count back to its baseline of %d within 3 s after %d connect/close cycles",
             baseline, CYCLES);
    xt_expect(final == baseline, expected, "baseline %d, peak %d, final %d (%s) after %lld ms%s",
              baseline, peak, final, final < 0 ? "process gone" : "fds open", (long long)took,
              xt_server_note(p));
}
