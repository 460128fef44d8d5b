/*
 * tests/stages/stage_02.c — black-box checks for stage 02 (tcp-client).
 *
 * The binary under test ($XPS_STAGE_BIN) is the CLIENT:
 *     stage-02 [--no-read] [--clients N] [host] [port]
 * The servers it talks to are ours: build/bin/stage-01 (the one-client
 * reversal server) and build/bin/test-upstream in echo mode, both on the
 * default port 8080, so the client is always started as
 * `stage-02 [flags] 127.0.0.1 8080`.
 *
 * Normal mode must print each reply to stdout as received (no prefix) and
 * exit 0 when stdin ends or when the server closes the connection; a refused
 * connection must give a message on stderr and a non-zero exit. --clients N
 * must fork N clients that each print "client i: <reply> (<ms> ms)".
 * --no-read must send all of stdin and read nothing back.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/harness.h"

enum {
    PORT = 8080,
    START_MS = 5000, /* for a server to start listening */
    EXIT_MS = 5000,  /* for the client to finish */
    LINES = 4,       /* lines sent in the conversation check */
    NO_READ_BYTES = 1024 * 1024,
};

static const char *const server_args[] = {"127.0.0.1", "8080", NULL};

/* ------------------------------------------------------------ helpers */

/* Our stage 01 on 8080: the reference server for the client. */
static xt_proc_t *start_stage_01(void)
{
    xt_require_port_free(PORT);
    xt_proc_t *p = xt_start(xt_our_bin("stage-01"), NULL, NULL);
    xt_wait_port(p, PORT, START_MS);
    return p;
}

/* The client under test, its stdin a pipe the check writes. */
static xt_proc_t *start_client(const char *const *args)
{
    const xt_start_opts_t opts = {.stdin_pipe = true};
    return xt_start(xt_stage_bin(), args, &opts);
}

static void write_stdin(xt_proc_t *client, const char *text, size_t len)
{
    bool ok = xt_send_all(xt_proc_stdin(client), text, len);
    int status = 0;
    bool exited = !ok && xt_wait_exit(client, 0, &status);
    xt_expect(ok, "the client reads its stdin", "writing to its stdin failed (the client %s)",
              exited ? xt_status_text(status) : "closed its stdin");
}

/* Waits until the client's stdout contains `want` or the deadline passes. */
static bool wait_stdout_contains(xt_proc_t *client, const char *want, int timeout_ms)
{
    int64_t deadline = xt_now_ms() + timeout_ms;
    for (;;) {
        char *out = xt_stdout(client);
        bool found = strstr(out, want) != NULL;
        free(out);
        if (found || xt_now_ms() > deadline)
            return found;
        xt_sleep_ms(10);
    }
}

/* Waits for the client to exit; returns its wait status or fails the check
 * with `expected` when it is still running after EXIT_MS. */
static int wait_client(xt_proc_t *client, const char *expected)
{
    int status = 0;
    bool exited = xt_wait_exit(client, EXIT_MS, &status);
    xt_expect(exited, expected, "the client was still running after %d s", EXIT_MS / 1000);
    return status;
}

static bool exited_0(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }

/* ------------------------------------------------------------- checks */

/* A few random lines through stage 01: each reversal on stdout, in order. */
static void talks_to_stage_01(void **state)
{
    (void)state;
    start_stage_01();
    xt_proc_t *client = start_client(server_args);
    static const size_t lengths[LINES] = {1, 17, 300, 1000};
    char want[LINES][1002];
    for (int i = 0; i < LINES; i++) {
        char line[1002];
        size_t len = lengths[i];
        xt_random_text(line, len);
        line[len] = '\n';
        for (size_t j = 0; j < len; j++)
            want[i][j] = line[len - 1 - j];
        want[i][len] = '\n';
        want[i][len + 1] = '\0';
        write_stdin(client, line, len + 1);
    }
    xt_close_stdin(client);
    int status = wait_client(client, "the client exits when its stdin ends");

    char *out = xt_stdout(client);
    const char *from = out;
    for (int i = 0; i < LINES; i++) {
        const char *hit = strstr(from, want[i]);
        char expected[1300];
        snprintf(expected, sizeof expected, "stdout holds reply %d, \"%s\", after the earlier ones",
                 i + 1, xt_quote(want[i], lengths[i] + 1));
        if (!hit) {
            char observed[700];
            snprintf(observed, sizeof observed, "%s", xt_quote(out, strlen(out)));
            free(out);
            xt_expect(false, expected, "stdout: \"%s\"", observed);
        }
        from = hit + lengths[i] + 1;
    }
    free(out);
    xt_expect(exited_0(status),
              "4 lines sent, 4 reversed replies printed, exit status 0 when stdin ends",
              "replies printed; the client %s", xt_status_text(status));
}

/* The server goes away while the client waits for its next line. */
static void exits_0_when_server_closes(void **state)
{
    (void)state;
    xt_proc_t *server = start_stage_01();
    xt_proc_t *client = start_client(server_args);
    write_stdin(client, "ping\n", 5);
    bool replied = wait_stdout_contains(client, "gnip\n", 3000);
    xt_expect(replied, "the client prints the reply \"gnip\\n\" to \"ping\\n\"",
              "no such reply within 3 s");

    xt_stop(server, SIGKILL, 2000);
    /* A blocking client waiting on stdin learns that the server is gone only
     * when it next talks to it: give it one more line (it may already have
     * exited, if it watches the socket too; a failed write is fine then). */
    if (xt_alive(client))
        (void)xt_send_all(xt_proc_stdin(client), "again\n", 6);
    int status = wait_client(client, "the client exits after the server closed the connection");
    xt_expect(exited_0(status), "exit status 0 when the server closes the connection",
              "the client %s", xt_status_text(status));
}

/* Nothing listens on 8080: connect() is refused. */
static void reports_refused_connection(void **state)
{
    (void)state;
    xt_require_port_free(PORT);
    int64_t start = xt_now_ms();
    xt_proc_t *client = start_client(server_args);
    /* A line to send, for a client that connects only when it has one (it
     * may already have exited: a failed write is fine then). */
    (void)xt_send_all(xt_proc_stdin(client), "hello\n", 6);
    int status = wait_client(client, "the client gives up within 5 s when nothing listens on 8080");
    int64_t took = xt_now_ms() - start;
    char *err = xt_stderr(client);
    char observed[400];
    snprintf(observed, sizeof observed, "the client %s after %lld ms; stderr: \"%s\"",
             xt_status_text(status), (long long)took,
             xt_quote(err, strlen(err) > 200 ? 200 : strlen(err)));
    bool has_message = err[0] != '\0';
    free(err);
    xt_expect(WIFEXITED(status) && WEXITSTATUS(status) != 0 && has_message,
              "a non-zero exit status and a message on stderr when the connection is refused", "%s",
              observed);
}

/* --clients 3 against a server that serves many clients at once. */
static void clients_mode_gets_every_reply(void **state)
{
    (void)state;
    xt_upstream_start(PORT, "echo");
    static const char *const args[] = {"--clients", "3", "127.0.0.1", "8080", NULL};
    xt_proc_t *client = start_client(args);
    int status = wait_client(client, "--clients 3 finishes within 5 s against an echo server");
    char *out = xt_stdout(client);
    char observed[700];
    snprintf(observed, sizeof observed, "%s", xt_quote(out, strlen(out)));
    for (int i = 1; i <= 3; i++) {
        char want[64], expected[160];
        snprintf(want, sizeof want, "client %d: hello from client %d (", i, i);
        snprintf(expected, sizeof expected, "stdout holds a line \"%s<ms> ms)\"", want);
        if (!strstr(out, want)) {
            free(out);
            xt_expect(false, expected, "stdout: \"%s\"", observed);
        }
    }
    free(out);
    xt_expect(exited_0(status),
              "3 lines \"client i: hello from client i (<ms> ms)\" and exit status 0",
              "3 replies printed; the client %s", xt_status_text(status));
}

/* --no-read: 1 MiB of random bytes in, all sent, nothing read back. The
 * echo server sends the bytes back and buffers up to 1 MiB itself, so the
 * client can never be blocked by the replies it does not read. */
static void no_read_sends_all_stdin(void **state)
{
    (void)state;
    xt_upstream_start(PORT, "echo");
    /* A shell feeds exactly NO_READ_BYTES binary bytes into the client. */
    const char *args[] = {"-c", "head -c 1048576 /dev/urandom | \"$0\" --no-read 127.0.0.1 8080",
                          xt_stage_bin(), NULL};
    xt_proc_t *client = xt_start("/bin/sh", args, NULL);
    int status = wait_client(client, "--no-read finishes sending 1 MiB within 5 s");
    char *out = xt_stdout(client), *err = xt_stderr(client);
    char count[32];
    snprintf(count, sizeof count, "%d", NO_READ_BYTES);
    bool counted = strstr(err, count) != NULL;
    size_t out_len = strlen(out);
    char observed[400];
    snprintf(observed, sizeof observed, "the client %s; stdout %zu bytes; stderr: \"%s\"",
             xt_status_text(status), out_len, xt_quote(err, strlen(err) > 200 ? 200 : strlen(err)));
    free(out);
    free(err);
    xt_expect(exited_0(status) && counted && out_len == 0,
              "exit status 0, \"1048576\" (bytes sent) on stderr, nothing on stdout", "%s",
              observed);
}

int main(void)
{
    const struct CMUnitTest checks[] = {
        XT_CHECK(talks_to_stage_01),
        XT_CHECK(exits_0_when_server_closes),
        XT_CHECK(reports_refused_connection),
        XT_CHECK(clients_mode_gets_every_reply),
        XT_CHECK(no_read_sends_all_stdin),
    };
    return xt_run_checks("stage 02 (tcp-client)", checks);
}
