/*
 * tests/stages/stage_01.c — black-box checks for stage 01 (tcp-server).
 *
 * The binary under test ($XPS_STAGE_BIN) is started with no arguments, so it
 * must listen on the default port 8080. It serves exactly one client: every
 * chunk that client sends comes back reversed (a trailing '\n' stays at the
 * end), a second client is never answered, and when the first client leaves
 * (orderly close or abrupt reset) the process exits with status 1.
 *
 * Lines are sent one at a time and are short enough to arrive as one chunk.
 * Only the two reverses_* checks look at the bytes of a reply; the others
 * only need "a reply", so a server that answers wrongly fails exactly the
 * reversal checks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/harness.h"

enum {
    PORT = 8080,
    START_MS = 5000,    /* for the server to start listening */
    REPLY_MS = 3000,    /* for one reply */
    SILENCE_MS = 1000,  /* how long the second client must hear nothing */
    EXIT_MS = 3000,     /* for the server to exit after its client left */
    LINE_MAX_LEN = 1001 /* longest line the checks send, '\n' included */
};

/* ------------------------------------------------------------ helpers */

/* Starts the binary under test with no flags and waits until it listens. */
static xt_proc_t *start_server(void)
{
    xt_require_port_free(PORT);
    xt_proc_t *p = xt_start_stage(NULL, NULL);
    xt_wait_port(p, PORT, START_MS);
    return p;
}

/* " (the server exited with status 1)" when it is gone, else "". */
static const char *server_note(xt_proc_t *p)
{
    static char note[160];
    int status = 0;
    if (!xt_wait_exit(p, 0, &status))
        return "";
    snprintf(note, sizeof note, " (the server %s)", xt_status_text(status));
    return note;
}

static void send_bytes(xt_proc_t *p, int fd, const char *who, const char *data, size_t len)
{
    char expected[128];
    snprintf(expected, sizeof expected, "%s can send \"%s\"", who,
             xt_quote(data, len < 40 ? len : 40));
    bool ok = xt_send_all(fd, data, len);
    xt_expect(ok, expected, "send failed: %s%s", strerror(errno), server_note(p));
}

/* Reads the reply to `sent` (len bytes) and expects exactly `want`. */
static void expect_reply(xt_proc_t *p, int fd, const char *sent, const char *want, size_t len)
{
    char got[LINE_MAX_LEN + 1], expected[1300];
    int why = 0;
    size_t n = xt_recv_exact(fd, got, len, REPLY_MS, &why);
    snprintf(expected, sizeof expected, "reply \"%s\" to \"%s\"", xt_quote(want, len),
             xt_quote(sent, len));
    if (n == len) {
        xt_expect(memcmp(got, want, len) == 0, expected, "reply \"%s\"", xt_quote(got, n));
        return;
    }
    const char *how = why == XT_TIMEOUT ? "no complete reply within 3 s"
                      : why == XT_ERROR ? "connection error"
                                        : "connection closed by the server";
    xt_expect(false, expected, "%s; %zu of %zu bytes came: \"%s\"%s", how, n, len,
              xt_quote(got, n), server_note(p));
}

/* Sends a line and expects a reply of the same length, whatever its bytes
 * (the checks that are not about reversing use this). */
static void expect_some_reply(xt_proc_t *p, int fd, const char *who)
{
    static const char line[] = "ping\n";
    char got[sizeof line], expected[128];
    send_bytes(p, fd, who, line, sizeof line - 1);
    int why = 0;
    size_t n = xt_recv_exact(fd, got, sizeof line - 1, REPLY_MS, &why);
    snprintf(expected, sizeof expected, "%s gets a 5-byte reply to \"ping\\n\"", who);
    xt_expect(n == sizeof line - 1, expected, "%zu bytes within 3 s: \"%s\"%s", n, xt_quote(got, n),
              server_note(p));
}

/* Waits for the server to exit after its client left; expects status 1. */
static void expect_exit_1(xt_proc_t *p, const char *how_left)
{
    char expected[160];
    snprintf(expected, sizeof expected,
             "the server exits with status 1 within 3 s after its client %s", how_left);
    int status = 0;
    bool exited = xt_wait_exit(p, EXIT_MS, &status);
    xt_expect(exited && WIFEXITED(status) && WEXITSTATUS(status) == 1, expected, "%s",
              exited ? xt_status_text(status) : "still running after 3 s");
}

/* ------------------------------------------------------------- checks */

/* Random lines of many lengths, one at a time on one connection. */
static void reverses_random_strings(void **state)
{
    (void)state;
    xt_proc_t *p = start_server();
    int fd = xt_connect(PORT);
    static const size_t lengths[] = {1, 2, 3, 10, 64, 255, 256, 600, 999, 1000};
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        size_t len = lengths[i];
        char line[LINE_MAX_LEN + 1], want[LINE_MAX_LEN + 1];
        xt_random_text(line, len);
        line[len] = '\n';
        for (size_t j = 0; j < len; j++)
            want[j] = line[len - 1 - j];
        want[len] = '\n';
        send_bytes(p, fd, "the client", line, len + 1);
        expect_reply(p, fd, line, want, len + 1);
    }
    char summary[128];
    snprintf(summary, sizeof summary,
             "%zu random lines (1-1000 chars + \\n) each reversed, \\n kept last",
             sizeof lengths / sizeof lengths[0]);
    xt_expect(true, summary, "all %zu replies matched", sizeof lengths / sizeof lengths[0]);
    close(fd);
}

/* A chunk with no '\n' at its end is reversed whole. */
static void reverses_chunk_without_newline(void **state)
{
    (void)state;
    xt_proc_t *p = start_server();
    int fd = xt_connect(PORT);
    char chunk[16], want[16];
    xt_random_text(chunk, 12);
    for (size_t j = 0; j < 12; j++)
        want[j] = chunk[11 - j];
    send_bytes(p, fd, "the client", chunk, 12);
    expect_reply(p, fd, chunk, want, 12);
    send_bytes(p, fd, "the client", "abc", 3);
    expect_reply(p, fd, "abc", "cba", 3);
    xt_expect(true, "a chunk without a trailing \\n is reversed whole (\"abc\" -> \"cba\")",
              "both chunks came back reversed whole");
    close(fd);
}

/* While the first client is connected, a second one is never answered. */
static void serves_one_client_only(void **state)
{
    (void)state;
    xt_proc_t *p = start_server();
    int first = xt_connect(PORT);
    expect_some_reply(p, first, "the first client");

    /* The kernel may well complete the second handshake (the backlog), so
     * connecting can succeed; being refused counts as "not served" too. */
    int second = xt_try_connect(PORT);
    char got[64];
    ssize_t n = XT_TIMEOUT;
    if (second >= 0) {
        (void)xt_send_all(second, "hello\n", 6);
        n = xt_recv_deadline(second, got, sizeof got, SILENCE_MS);
    }
    xt_expect(n <= 0, "no reply to a second client within 1 s",
              "%zd bytes came: \"%s\"", n, xt_quote(got, n > 0 ? (size_t)n : 0));

    expect_some_reply(p, first, "the first client, after the second came,");
    xt_expect(true, "a second client gets no reply while the first is still served",
              "second: no reply within 1 s; first: still answered");
    if (second >= 0)
        close(second);
    close(first);
}

static void exits_1_when_client_aborts(void **state)
{
    (void)state;
    xt_proc_t *p = start_server();
    int fd = xt_connect(PORT);
    expect_some_reply(p, fd, "the client");
    xt_close_abort(fd); /* RST: recv() in the server fails with ECONNRESET */
    expect_exit_1(p, "reset the connection");
}

static void exits_1_when_client_closes(void **state)
{
    (void)state;
    xt_proc_t *p = start_server();
    int fd = xt_connect(PORT);
    expect_some_reply(p, fd, "the client");
    close(fd); /* FIN: recv() in the server returns 0 */
    expect_exit_1(p, "closed the connection");
}

int main(void)
{
    const struct CMUnitTest checks[] = {
        XT_CHECK(reverses_random_strings),
        XT_CHECK(reverses_chunk_without_newline),
        XT_CHECK(serves_one_client_only),
        XT_CHECK(exits_1_when_client_aborts),
        XT_CHECK(exits_1_when_client_closes),
    };
    return xt_run_checks("stage 01 (tcp-server)", checks);
}
