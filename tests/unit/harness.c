/*
 * tests/unit/harness.c — the test harness tested: every stage check and
 * every grade rests on these helpers telling the truth.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/harness.h"

/* A port nothing of ours uses by default, below the ephemeral range (see
 * tests/stages/cli.c). */
enum { SCRATCH_PORT = 19517 };

static void quote_escapes_control_bytes(void **state)
{
    (void)state;
    const char *q = xt_quote("a\nb\r\"\x01", 6);
    xt_expect(strcmp(q, "a\\nb\\r\\\"\\x01") == 0, "control bytes escaped", "%s", q);
    char big[5000];
    memset(big, 'x', sizeof big);
    q = xt_quote(big, sizeof big);
    xt_expect(strlen(q) < 600 && strstr(q, "(5000 B)") != NULL,
              "a shortened quote naming the size", "%zu chars ending %s", strlen(q),
              q + strlen(q) - 12);
}

static void exit_status_and_output_are_reported(void **state)
{
    (void)state;
    const char *args[] = {"-c", "echo out; echo err >&2; exit 3", NULL};
    xt_proc_t *p = xt_start("/bin/sh", args, NULL);
    int status = 0;
    xt_expect(xt_wait_exit(p, 5000, &status), "exit within 5 s", "%s", xt_status_text(status));
    xt_expect(WIFEXITED(status) && WEXITSTATUS(status) == 3, "exited with status 3", "%s",
              xt_status_text(status));
    char *out = xt_stdout(p), *err = xt_stderr(p);
    xt_expect(strcmp(out, "out\n") == 0 && strcmp(err, "err\n") == 0,
              "stdout \"out\\n\", stderr \"err\\n\"", "stdout \"%s\", stderr \"%s\"",
              xt_quote(out, strlen(out)), xt_quote(err, strlen(err)));
    free(out);
    free(err);
}

static void stop_reports_the_signal(void **state)
{
    (void)state;
    const char *args[] = {"60", NULL};
    xt_proc_t *p = xt_start("/bin/sleep", args, NULL);
    xt_expect(xt_alive(p), "sleep running", "not running");
    int status = xt_stop(p, SIGTERM, 2000);
    xt_expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM, "killed by signal 15",
              "%s", xt_status_text(status));
    xt_expect(!xt_alive(p), "not running after xt_stop",
              xt_alive(p) ? "still running" : "not running");
}

static void stdin_pipe_and_workdir(void **state)
{
    (void)state;
    const char *args[] = {"-c", "cat > got.txt; pwd", NULL};
    xt_start_opts_t opts = {.stdin_pipe = true};
    xt_proc_t *p = xt_start("/bin/sh", args, &opts);
    xt_expect(xt_send_all(xt_proc_stdin(p), "hello", 5), "stdin accepts bytes", "write failed");
    xt_close_stdin(p);
    int status;
    xt_expect(xt_wait_exit(p, 5000, &status) && WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "sh exits 0 after stdin ends", "%s", xt_status_text(status));
    char *out = xt_stdout(p);
    char want[4200];
    snprintf(want, sizeof want, "%s\n", xt_workdir(p));
    xt_expect(strcmp(out, want) == 0, "the child runs in its scratch working directory",
              "pwd printed %s, scratch directory is %s", xt_quote(out, strlen(out)),
              xt_workdir(p));
    free(out);
}

static void fixture_is_copied(void **state)
{
    (void)state;
    xt_start_opts_t opts = {.fixture_dir = "tests/support"};
    const char *args[] = {"-c", "test -f harness.h && test -f upstream.c", NULL};
    xt_proc_t *p = xt_start("/bin/sh", args, &opts);
    int status;
    xt_expect(xt_wait_exit(p, 5000, &status) && WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "the fixture's files in the working directory", "%s", xt_status_text(status));
}

static void recv_helpers_respect_deadlines(void **state)
{
    (void)state;
    int sv[2];
    xt_expect(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "a socketpair", "none");
    char buf[64];
    int64_t t0 = xt_now_ms();
    ssize_t n = xt_recv_deadline(sv[0], buf, sizeof buf, 150);
    int64_t took = xt_now_ms() - t0;
    xt_expect(n == XT_TIMEOUT && took >= 140 && took < 1000, "XT_TIMEOUT after ~150 ms",
              "%zd after %lld ms", n, (long long)took);

    xt_send_all(sv[1], "one\ntwo\n", 8);
    size_t got = xt_read_until(sv[0], buf, sizeof buf, "\n", 1000);
    xt_expect(got >= 4 && strncmp(buf, "one\n", 4) == 0, "reads through \"one\\n\"", "%s",
              xt_quote(buf, got));

    xt_send_all(sv[1], "tail", 4);
    close(sv[1]);
    bool eof = false;
    char rest[64];
    got = xt_recv_until_eof(sv[0], rest, sizeof rest, 1000, &eof);
    xt_expect(eof && got == 4, "\"tail\" then EOF", "%s then %s", xt_quote(rest, got),
              eof ? "EOF" : "no EOF");
    close(sv[0]);
}

static void proc_counters_read_this_process(void **state)
{
    (void)state;
    pid_t me = getpid();
    int before = xt_fd_count(me);
    int fd = dup(0);
    int after = xt_fd_count(me);
    close(fd);
    xt_expect(before > 0 && after == before + 1, "one more fd after dup()", "%d then %d",
              before, after);
    xt_expect(xt_rss_kib(me) > 0, "a positive RSS", "%ld KiB", xt_rss_kib(me));
    xt_expect(xt_cpu_seconds(me) >= 0, "a CPU time", "%f s", xt_cpu_seconds(me));
}

static void upstream_answers_test_paths_and_echoes(void **state)
{
    (void)state;
    xt_proc_t *up = xt_upstream_start(SCRATCH_PORT, "http");
    int fd = xt_connect(SCRATCH_PORT);
    const char *req = "GET /test/42 HTTP/1.1\r\nHost: x\r\n\r\n";
    xt_send_all(fd, req, strlen(req));
    char reply[1024];
    bool eof;
    size_t n = xt_recv_until_eof(fd, reply, sizeof reply - 1, 3000, &eof);
    reply[n] = '\0';
    close(fd);
    xt_expect(eof && strstr(reply, "HTTP/1.1 200 OK\r\n") == reply &&
                  strstr(reply, "\r\n\r\ntest 42: served by test-upstream\n"),
              "a 200 whose body names test 42, then close", "%s", xt_quote(reply, n));
    xt_stop(up, SIGTERM, 2000);

    xt_upstream_start(SCRATCH_PORT, "echo");
    fd = xt_connect(SCRATCH_PORT);
    xt_send_all(fd, "ping\n", 5);
    n = xt_recv_exact(fd, reply, 5, 3000, NULL);
    close(fd);
    xt_expect(n == 5 && memcmp(reply, "ping\n", 5) == 0, "\"ping\\n\" echoed", "%s",
              xt_quote(reply, n));
}

int main(void)
{
    const struct CMUnitTest checks[] = {
        XT_CHECK(quote_escapes_control_bytes),
        XT_CHECK(exit_status_and_output_are_reported),
        XT_CHECK(stop_reports_the_signal),
        XT_CHECK(stdin_pipe_and_workdir),
        XT_CHECK(fixture_is_copied),
        XT_CHECK(recv_helpers_respect_deadlines),
        XT_CHECK(proc_counters_read_this_process),
        XT_CHECK(upstream_answers_test_paths_and_echoes),
    };
    return xt_run_checks("unit: test harness", checks);
}
