/*
 * tests/stages/cli.c — the command lines of our own stage binaries.
 *
 * The stage checks (stage_NN.c) grade behaviour on the course's default
 * ports, so they can grade any student's binary. Our binaries also promise
 * flags (STAGES.md: every port and upstream can be overridden, `--help`
 * lists them); those promises are ours alone and are tested here.
 */
#define _GNU_SOURCE
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

enum { ALT_PORT = 39181, ALT_UPSTREAM = 39191 }; /* not the defaults, on purpose; the
                                                    upstream above ALT_PORT..+3 */

/* Runs `stage args...`, waits for it to exit, and returns its wait status;
 * *out and *err get its stdout and stderr (the caller frees). */
static int run(const char *stage, const char *const *args, char **out, char **err)
{
    xt_proc_t *p = xt_start(xt_our_bin(stage), args, NULL);
    int status = 0;
    xt_expect(xt_wait_exit(p, 5000, &status), "the program to exit within 5 s", "%s",
              xt_status_text(status));
    *out = xt_stdout(p);
    *err = xt_stderr(p);
    return status;
}

/* What each of our stage binaries promises on its command line. */
typedef struct {
    const char *name;
    const char *port_flag; /* "--port" (one port), "--base-port" (N..N+3), or NULL */
    const char *serves;    /* per port from the flag's value: 'R' reverses a line,
                              'E' echoes it, '-' serves something else (proxy, file) */
} stage_cli_t;

static const stage_cli_t stages[] = {
    {"stage-00", NULL, ""},
    {"stage-01", "--port", "R"},
    {"stage-02", NULL, ""},
    {"stage-03", "--port", "R"},
    {"stage-04", "--port", "-"},
    {"stage-05", "--base-port", "RRRR"},
    {"stage-06", "--base-port", "RRRR"},
    {"stage-07", "--base-port", "EEEE"},
    {"stage-08", "--base-port", "-EEE"},
    {"stage-09", "--base-port", "---E"},
    {"stage-10", "--base-port", "----"},
    {"stage-11", "--base-port", "----"},
    {"stage-12", NULL, ""}, /* takes a config file; its ports come from there */
    {"stage-13", NULL, ""},
};
enum { STAGE_COUNT = sizeof stages / sizeof *stages };

static void help_exits_0_with_usage_on_stdout(void **state)
{
    (void)state;
    for (size_t i = 0; i < STAGE_COUNT; i++) {
        const char *args[] = {"--help", NULL};
        char *out, *err;
        int st = run(stages[i].name, args, &out, &err);
        char expected[96];
        snprintf(expected, sizeof expected, "%s --help: exit 0, usage on stdout", stages[i].name);
        xt_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0 && strstr(out, "usage") != NULL,
                  expected, "%s, stdout %s", xt_status_text(st), xt_quote(out, strlen(out)));
        free(out);
        free(err);
    }
}

static void unknown_flag_exits_2_with_usage_on_stderr(void **state)
{
    (void)state;
    for (size_t i = 0; i < STAGE_COUNT; i++) {
        const char *args[] = {"--no-such-flag", NULL};
        char *out, *err;
        int st = run(stages[i].name, args, &out, &err);
        char expected[96];
        snprintf(expected, sizeof expected, "%s --no-such-flag: exit 2, usage on stderr",
                 stages[i].name);
        xt_expect(WIFEXITED(st) && WEXITSTATUS(st) == 2 && strstr(err, "usage") != NULL,
                  expected, "%s, stderr %s", xt_status_text(st), xt_quote(err, strlen(err)));
        free(out);
        free(err);
    }
}

static void bad_port_values_are_refused(void **state)
{
    (void)state;
    for (size_t s = 0; s < STAGE_COUNT; s++) {
        if (!stages[s].port_flag)
            continue;
        char too_high[16]; /* the first value whose last port would pass 65535 */
        snprintf(too_high, sizeof too_high, "%d", 65536 - (int)strlen(stages[s].serves) + 1);
        const char *bad[] = {"0", too_high, "80x", ""};
        for (size_t b = 0; b < 4; b++) {
            const char *args[] = {stages[s].port_flag, bad[b], NULL};
            char *out, *err;
            int st = run(stages[s].name, args, &out, &err);
            char expected[96];
            snprintf(expected, sizeof expected, "%s %s \"%s\": exit 2", stages[s].name,
                     stages[s].port_flag, bad[b]);
            xt_expect(WIFEXITED(st) && WEXITSTATUS(st) == 2, expected, "%s, stderr %s",
                      xt_status_text(st), xt_quote(err, strlen(err)));
            free(out);
            free(err);
        }
    }
}

/* Sends `line` to 127.0.0.1:port and returns whether `want` comes back. */
static bool answers(uint16_t port, const char *line, const char *want)
{
    int fd = xt_connect(port);
    char reply[64];
    xt_send_all(fd, line, strlen(line));
    size_t n = xt_recv_exact(fd, reply, strlen(want), 3000, NULL);
    close(fd);
    return n == strlen(want) && memcmp(reply, want, n) == 0;
}

static void port_flag_moves_the_servers(void **state)
{
    (void)state;
    char port[8];
    snprintf(port, sizeof port, "%d", ALT_PORT);
    for (size_t s = 0; s < STAGE_COUNT; s++) {
        const char *serves = stages[s].serves;
        if (!stages[s].port_flag || strspn(serves, "-") == strlen(serves))
            continue;
        const char *args[] = {stages[s].port_flag, port, NULL};
        xt_require_port_free(ALT_PORT);
        xt_proc_t *p = xt_start(xt_our_bin(stages[s].name), args, NULL);
        for (int i = 0; serves[i]; i++) {
            uint16_t at = (uint16_t)(ALT_PORT + i);
            xt_wait_port(p, at, 5000);
            if (serves[i] == '-')
                continue;
            bool ok = answers(at, "flag\n", serves[i] == 'R' ? "galf\n" : "flag\n");
            char expected[96];
            snprintf(expected, sizeof expected, "%s %s %d: %s on port %u", stages[s].name,
                     stages[s].port_flag, ALT_PORT, serves[i] == 'R' ? "reversal" : "echo", at);
            xt_expect(ok, expected, ok ? "served" : "no correct reply");
        }
        xt_stop(p, SIGTERM, 2000);
    }
}

static void upstream_flag_moves_the_proxy_target(void **state)
{
    (void)state;
    char port[8], upstream[32];
    snprintf(port, sizeof port, "%d", ALT_PORT);
    snprintf(upstream, sizeof upstream, "127.0.0.1:%d", ALT_UPSTREAM);
    xt_upstream_start(ALT_UPSTREAM, "echo");
    const char *args[] = {"--port", port, "--upstream", upstream, NULL};
    xt_require_port_free(ALT_PORT);
    xt_proc_t *p = xt_start(xt_our_bin("stage-04"), args, NULL);
    xt_wait_port(p, ALT_PORT, 5000);
    int fd = xt_connect(ALT_PORT);
    char reply[16];
    xt_send_all(fd, "relay me\n", 9);
    size_t n = xt_recv_exact(fd, reply, 9, 3000, NULL);
    close(fd);
    xt_expect(n == 9 && memcmp(reply, "relay me\n", 9) == 0,
              "stage-04 --port/--upstream: bytes relayed to the echo upstream and back",
              "%s", xt_quote(reply, n));
}

int main(void)
{
    const struct CMUnitTest checks[] = {
        XT_CHECK(help_exits_0_with_usage_on_stdout),
        XT_CHECK(unknown_flag_exits_2_with_usage_on_stderr),
        XT_CHECK(bad_port_values_are_refused),
        XT_CHECK(port_flag_moves_the_servers),
        XT_CHECK(upstream_flag_moves_the_proxy_target),
    };
    return xt_run_checks("command lines of our stage binaries", checks);
}
