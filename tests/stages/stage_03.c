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

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/harness.h"

enum {
    PORT = 8080,
    START_MS = 5000,     /* for the server to start listening */
    REPLY_MS = 3000,     /* for one reply */
    SETTLE_MS = 3000,    /* for the server to close what clients closed */
    CONCURRENT = 64,     /* clients open at once in the concurrency check */
    CYCLES = 1000,       /* connect/close cycles in the fd check */
    LINE_MAX_LEN = 600,  /* longest line the checks send, '\n' included */
};

/* ------------------------------------------------------------ helpers */

/* Starts the binary under test with no flags and waits until it listens. */
static xt_proc_t *start_server(void)
{
    xt_require_port_free(PORT);
    xt_proc_t *p = xt_start(xt_stage_bin(), NULL, NULL);
    xt_wait_port(p, PORT, START_MS);
    return p;
}

/* " (the server exited with status 1)" when it is gone, else "". */
static const char *server_note(xt_proc_t *p)
{
    static char note[160];
    if (xt_alive(p))
        return "";
    int status = 0;
    xt_wait_exit(p, 0, &status);
    snprintf(note, sizeof note, " (the server %s)", xt_status_text(status));
    return note;
}

/* Writes "<tag><random text>\n" into line (len bytes in all, len >= tag+2). */
static void make_line(char *line, size_t len, const char *tag)
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

static void send_line(xt_proc_t *p, int fd, const char *who, const char *line, size_t len)
{
    char expected[128];
    snprintf(expected, sizeof expected, "%s can send a line", who);
    bool ok = xt_send_all(fd, line, len);
    int err = errno;
    xt_expect(ok, expected, "send failed: %s%s", strerror(err), server_note(p));
}

/* Reads the reply to `line` on fd and expects exactly its reversal. */
static void expect_reversal(xt_proc_t *p, int fd, const char *who, const char *line,
                            size_t len)
{
    char want[LINE_MAX_LEN + 1], got[LINE_MAX_LEN + 1], expected[900];
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
              xt_quote(got, n), server_note(p));
}

/* One line out, its reversal back. */
static void round_trip(xt_proc_t *p, int fd, const char *who, size_t len)
{
    char line[LINE_MAX_LEN + 1];
    make_line(line, len, "");
    send_line(p, fd, who, line, len);
    expect_reversal(p, fd, who, line, len);
}

/* Waits until the server holds at most `target` fds (it has closed its end
 * of the clients that left) or has exited. Returns the last count seen, -1
 * if the process is gone. Waiting on a condition instead of sleeping keeps
 * the checks fast on a fast machine and correct on a slow one. */
static int wait_fd_count_at_most(xt_proc_t *p, int target, int timeout_ms)
{
    int64_t deadline = xt_now_ms() + timeout_ms;
    for (;;) {
        int count = xt_alive(p) ? xt_fd_count(xt_pid(p)) : -1;
        if (count <= target || xt_now_ms() > deadline)
            return count;
        xt_sleep_ms(5);
    }
}

/* Connects a client; a refusal fails the check saying whether the server
 * is still running. */
static int connect_client(xt_proc_t *p, const char *who)
{
    int fd = xt_try_connect(PORT);
    char expected[128];
    snprintf(expected, sizeof expected, "%s can connect to 127.0.0.1:%d", who, PORT);
    xt_expect(fd >= 0, expected, "connect failed: %s%s", strerror(fd < 0 ? -fd : 0),
              server_note(p));
    return fd;
}

/* Connects one more client and waits until the server has accepted it: its
 * fd count goes above what it was before the connect. A server that serves
 * one client at a time never accepts the second, and this says so within
 * 3 s; without the wait, connect() itself would block (for minutes) once
 * that server's accept queue is full. */
static int connect_accepted(xt_proc_t *p, const char *who)
{
    int before = xt_fd_count(xt_pid(p));
    int fd = connect_client(p, who);
    int64_t deadline = xt_now_ms() + SETTLE_MS;
    int now = xt_fd_count(xt_pid(p));
    while (now >= 0 && now <= before && xt_now_ms() < deadline) {
        xt_sleep_ms(2);
        now = xt_fd_count(xt_pid(p));
    }
    char expected[160];
    snprintf(expected, sizeof expected,
             "the server accepts %s while the others stay connected (one more fd within 3 s)",
             who);
    xt_expect(now > before, expected, "%d fds before the connect, %d after 3 s%s", before, now,
              server_note(p));
    return fd;
}

static void expect_alive(xt_proc_t *p, const char *after)
{
    char expected[160];
    snprintf(expected, sizeof expected, "the server still running %s", after);
    int status = 0;
    bool exited = xt_wait_exit(p, 0, &status);
    xt_expect(!exited, expected, "it %s", exited ? xt_status_text(status) : "is running");
}

/* ------------------------------------------------------------- checks */

/* One client, several lines of different lengths, one at a time. */
static void reverses_lines_for_one_client(void **state)
{
    (void)state;
    xt_proc_t *p = start_server();
    int fd = xt_connect(PORT);

    send_line(p, fd, "the client", "abcd\n", 5);
    expect_reversal(p, fd, "the client", "abcd\n", 5);
    static const size_t lengths[] = {2, 9, 40, 200, 500};
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++)
        round_trip(p, fd, "the client", lengths[i]);
    close(fd);
    xt_expect(true, "6 lines reversed, \"abcd\\n\" -> \"dcba\\n\" and 5 random ones",
              "all 6 replies exact");
}

/* All connections first, then one distinct line on each in a shuffled order,
 * then every reply: a server that serves clients one after another, or mixes
 * up whose reply is whose, cannot pass. */
static void answers_64_concurrent_clients_each_with_its_own_reversal(void **state)
{
    (void)state;
    xt_proc_t *p = start_server();
    static int fds[CONCURRENT];
    static char lines[CONCURRENT][64];
    for (int i = 0; i < CONCURRENT; i++) {
        char who[32];
        snprintf(who, sizeof who, "client %d", i);
        fds[i] = connect_accepted(p, who);
    }

    /* 37 and 64 share no factor, so i*37 mod 64 visits every client once. */
    for (int k = 0; k < CONCURRENT; k++) {
        int i = (k * 37) % CONCURRENT;
        char tag[16], who[32];
        snprintf(tag, sizeof tag, "c%02d:", i);
        snprintf(who, sizeof who, "client %d", i);
        make_line(lines[i], 40 + (size_t)i % 17, tag);
        send_line(p, fds[i], who, lines[i], strlen(lines[i]));
    }
    for (int i = CONCURRENT - 1; i >= 0; i--) {
        char who[32];
        snprintf(who, sizeof who, "client %d of %d", i, CONCURRENT);
        expect_reversal(p, fds[i], who, lines[i], strlen(lines[i]));
    }
    for (int i = 0; i < CONCURRENT; i++)
        close(fds[i]);
    xt_expect(true, "64 clients connected at once, each gets its own reversal",
              "64 of 64 replies exact");
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
    xt_proc_t *p = start_server();
    int kept[KEPT], reset[RESET];
    char who[48];
    for (int i = 0; i < RESET; i++) {
        snprintf(who, sizeof who, "resetting client %d", i);
        reset[i] = connect_accepted(p, who);
    }
    for (int i = 0; i < KEPT; i++) {
        snprintf(who, sizeof who, "surviving client %d", i);
        kept[i] = connect_accepted(p, who);
    }
    /* Half of the kept clients talk once; the rest stay idle. */
    for (int i = 1; i < KEPT; i += 2) {
        snprintf(who, sizeof who, "surviving client %d", i);
        round_trip(p, kept[i], who, 30);
    }
    int with_all = xt_fd_count(xt_pid(p));
    for (int i = 0; i < RESET; i++) {
        snprintf(who, sizeof who, "resetting client %d", i);
        if (i % 2 == 0)
            round_trip(p, reset[i], who, 30);
        if (i % 4 < 2) {
            char line[LINE_MAX_LEN + 1];
            make_line(line, 300, "");
            send_line(p, reset[i], who, line, 300); /* then reset before the reply */
        }
        xt_close_abort(reset[i]);
    }

    /* Wait until the server has dealt with the resets (its fd count drops by
     * at least RESET) or has died; a server that never closes them is still
     * tested below, after the wait runs out. */
    wait_fd_count_at_most(p, with_all - RESET, SETTLE_MS);
    expect_alive(p, "after 8 clients reset their connections");

    for (int i = 0; i < KEPT; i++) {
        snprintf(who, sizeof who, "surviving client %d", i);
        round_trip(p, kept[i], who, 25);
    }
    for (int i = 0; i < FRESH; i++) {
        snprintf(who, sizeof who, "new client %d", i);
        int fd = connect_client(p, who);
        round_trip(p, fd, who, 25);
        close(fd);
    }
    for (int i = 0; i < KEPT; i++)
        close(kept[i]);
    expect_alive(p, "after the resets");
    xt_expect(true,
              "after 8 clients reset, 6 old and 4 new clients answered, server running",
              "all answered exactly, server running");
}

/* Every connection the server accepts is a descriptor it must close when the
 * client leaves; forgetting one per client exhausts the process within a
 * day. The baseline is taken once the server is in its loop (after one
 * client has come and gone), since a server may set up its epoll instance
 * after it starts listening. */
static void fd_count_returns_to_baseline_after_1000_connections(void **state)
{
    (void)state;
    xt_proc_t *p = start_server();
    int fd = xt_connect(PORT);
    round_trip(p, fd, "the first client", 20);
    int with_one = xt_fd_count(xt_pid(p));
    close(fd);
    int baseline = wait_fd_count_at_most(p, with_one - 1, SETTLE_MS);
    xt_expect(baseline >= 0 && baseline < with_one,
              "the server closes its socket for a client that left, within 3 s",
              "%d fds while the client was connected, %d after it left%s", with_one, baseline,
              server_note(p));

    /* A line on every 4th connection: the reply proves the server has
     * accepted everything before it, so the accept queue never holds more
     * than 3 connections even if the server's listen() backlog is small. */
    int peak = baseline;
    int64_t started = xt_now_ms();
    for (int i = 0; i < CYCLES; i++) {
        char who[48];
        snprintf(who, sizeof who, "client %d of %d", i, CYCLES);
        fd = connect_client(p, who);
        if (i % 4 == 0) {
            round_trip(p, fd, who, 12);
            int now = xt_fd_count(xt_pid(p));
            peak = now > peak ? now : peak;
        }
        if (i % 4 == 1)
            xt_close_abort(fd); /* RST */
        else
            close(fd); /* FIN */
    }
    int64_t took = xt_now_ms() - started;

    int final = wait_fd_count_at_most(p, baseline, SETTLE_MS);
    char expected[160];
    snprintf(expected, sizeof expected,
             "fd count back to its baseline of %d within 3 s after %d connect/close cycles",
             baseline, CYCLES);
    xt_expect(final == baseline, expected, "baseline %d, peak %d, final %d (%s) after %lld ms%s",
              baseline, peak, final, final < 0 ? "process gone" : "fds open", (long long)took,
              server_note(p));
}

/* The stage 01 limitation, gone: an orderly close of one client must not end
 * the process nor disturb a client that is still connected. */
static void keeps_serving_after_a_client_leaves(void **state)
{
    (void)state;
    xt_proc_t *p = start_server();
    int leaving = xt_connect(PORT);
    int staying = xt_connect(PORT);
    round_trip(p, leaving, "the leaving client", 16);
    round_trip(p, staying, "the staying client", 16);

    int with_two = xt_fd_count(xt_pid(p));
    close(leaving); /* FIN */
    /* Until the server has seen the FIN (closed its end) or has exited. */
    wait_fd_count_at_most(p, with_two - 1, SETTLE_MS);
    expect_alive(p, "after one client closed its connection");

    round_trip(p, staying, "the staying client", 24);
    int fresh = connect_client(p, "a new client");
    round_trip(p, fresh, "a new client", 24);
    close(fresh);
    close(staying);
    expect_alive(p, "after a client left");
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
