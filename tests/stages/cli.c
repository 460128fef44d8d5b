/*
 * tests/stages/cli.c — the command lines of our own stage binaries.
 *
 * The stage checks (stage_NN.c) grade behaviour on the course's default
 * ports, so they can grade any student's binary. Our binaries also promise
 * flags (STAGES.md: every port and upstream can be overridden, `--help`
 * lists them); those promises are ours alone and are tested here. So are
 * the ways stages 01-11 meet the course's tester, which starts every stage
 * as ./<binary> <path of its xps_config.json>, from a folder whose files
 * are in ../public: a last argument ending in ".json" is accepted and not
 * read (the path need not even exist), other stray words are still
 * refused, stage 07's --reverse reverses, and the file stages 09-11 fall
 * back to ../public when there is no ./public, saying so in their log.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/harness.h"

/* Not the defaults, on purpose; the upstream above ALT_PORT..+3. Below
 * 32768, where Linux's ephemeral ports start: a client socket of an earlier
 * check left in TIME_WAIT on one of them would make bind() fail. */
enum { ALT_PORT = 19181, ALT_UPSTREAM = 19191 };

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
    {"stage-14", NULL, ""},
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

/* Starts `stage` with its port flag at ALT_PORT plus `extra` (NULL-
 * terminated, at most 4) and expects each of its ports to answer as
 * `serves` says; `how` names the case in the texts. Stops it. */
static void expect_serving(const stage_cli_t *st, const char *const *extra, const char *how)
{
    char port[8];
    snprintf(port, sizeof port, "%d", ALT_PORT);
    const char *args[8] = {st->port_flag, port};
    for (int i = 0; extra[i] && i < 4; i++)
        args[2 + i] = extra[i];
    xt_require_port_free(ALT_PORT);
    xt_proc_t *p = xt_start(xt_our_bin(st->name), args, NULL);
    for (int i = 0; st->serves[i]; i++) {
        uint16_t at = (uint16_t)(ALT_PORT + i);
        xt_wait_port(p, at, 5000);
        if (st->serves[i] == '-')
            continue;
        bool ok = answers(at, "flag\n", st->serves[i] == 'R' ? "galf\n" : "flag\n");
        char expected[160];
        snprintf(expected, sizeof expected, "%s %s: %s on port %u", st->name, how,
                 st->serves[i] == 'R' ? "reversal" : "echo", at);
        xt_expect(ok, expected, ok ? "served" : "no correct reply");
    }
    xt_stop(p, SIGTERM, 2000);
}

/* Stages 01-11 run as the course's tester runs them, with a trailing path
 * to a .json file that they do not read: here one that does not exist.
 * The client (02) gets it too: it still tries its server (exit 1, nothing
 * listens on port 1), where a refused argument would be exit 2. */
static void a_last_json_path_is_accepted_and_not_read(void **state)
{
    (void)state;
    static const char *const missing[] = {"/no/such/folder/xps_config.json", NULL};
    for (size_t s = 0; s < STAGE_COUNT; s++)
        if (stages[s].port_flag && strspn(stages[s].serves, "-") < strlen(stages[s].serves))
            expect_serving(&stages[s], missing, "--port/--base-port N /no/such/.../xps_config.json");
    const char *client[] = {"127.0.0.1", "1", missing[0], NULL};
    char *out, *err;
    int st = run("stage-02", client, &out, &err);
    xt_expect(WIFEXITED(st) && WEXITSTATUS(st) == 1,
              "stage-02 127.0.0.1 1 /no/such/.../xps_config.json: the path accepted, the "
              "connection refused: exit 1",
              "%s, stderr %s", xt_status_text(st), xt_quote(err, strlen(err)));
    free(out);
    free(err);
}

/* The .json path is accepted last only; any other stray word is refused
 * as before, and --help of stages 01-11 says what the path is for. */
static void other_stray_words_are_refused_and_help_names_the_config(void **state)
{
    (void)state;
    for (size_t s = 1; s < STAGE_COUNT; s++) {
        const char *name = stages[s].name;
        if (strcmp(name, "stage-12") == 0 || strcmp(name, "stage-13") == 0 ||
            strcmp(name, "stage-14") == 0)
            continue; /* they take a configuration, and read it */
        /* Not last, the first path is a stray word; the client (02) would
         * take it for a host name, so it gets a third positional instead. */
        const char *twice[] = {"xps_config.json", "xps_config.json", NULL};
        const char *word[] = {"config.txt", NULL};
        const char *client[] = {"127.0.0.1", "8080", "extra", NULL};
        const char *const *bad[] = {stages[s].port_flag ? twice : client, word};
        for (int b = 0; b < (stages[s].port_flag ? 2 : 1); b++) {
            char *out, *err;
            int st = run(name, bad[b], &out, &err);
            char expected[160];
            snprintf(expected, sizeof expected, "%s %s%s%s%s%s: exit 2, usage on stderr", name,
                     bad[b][0], bad[b][1] ? " " : "", bad[b][1] ? bad[b][1] : "",
                     bad[b][1] && bad[b][2] ? " " : "", bad[b][1] && bad[b][2] ? bad[b][2] : "");
            xt_expect(WIFEXITED(st) && WEXITSTATUS(st) == 2 && strstr(err, "usage"), expected,
                      "%s, stderr %s", xt_status_text(st), xt_quote(err, strlen(err)));
            free(out);
            free(err);
        }
        const char *help[] = {"--help", NULL};
        char *out, *err;
        run(name, help, &out, &err);
        char expected[96];
        snprintf(expected, sizeof expected, "%s --help names CONFIG.json and the course's tester",
                 name);
        xt_expect(strstr(out, "CONFIG.json") && strstr(out, "tester"), expected, "stdout %s",
                  xt_quote(out, strlen(out)));
        free(out);
        free(err);
    }
}

/* stage-07 --reverse: the reverse filter on every port (the course's stages
 * 8 and 9), with a trailing .json path as the tester gives it. */
static void stage_07_reverse_reverses_on_every_port(void **state)
{
    (void)state;
    static const stage_cli_t reversing = {"stage-07", "--base-port", "RRRR"};
    static const char *const extra[] = {"--reverse", "xps_config.json", NULL};
    expect_serving(&reversing, extra, "--base-port N --reverse xps_config.json");
}

/* Starts a file stage (09-11) with --base-port ALT_PORT, from `dir` under
 * a copy of `fixture` (which holds public/ and temp/), by way of sh, and
 * waits for its first port. */
static xt_proc_t *start_file_stage_in(const char *name, const char *fixture, const char *dir,
                                      const char *root)
{
    static char script[256];
    snprintf(script, sizeof script, "cd %s && exec \"$0\" --base-port %d%s%s", dir, ALT_PORT,
             root ? " --root " : "", root ? root : "");
    const char *args[] = {"-c", script, xt_our_bin(name), NULL};
    xt_start_opts_t opts = {.fixture_dir = fixture};
    xt_require_port_free(ALT_PORT);
    xt_proc_t *p = xt_start("/bin/sh", args, &opts);
    xt_wait_port(p, ALT_PORT, 5000);
    return p;
}

/* The first bytes a GET of /sample.txt on port gets back (stages 10-11),
 * or what port sends unasked (stage 09's file port). */
static size_t fetch_sample(uint16_t port, bool http, char *buf, size_t cap)
{
    int fd = xt_connect(port);
    static const char request[] = "GET /sample.txt HTTP/1.0\r\n\r\n";
    if (http)
        xt_send_all(fd, request, sizeof request - 1);
    bool eof = false;
    size_t n = xt_recv_until_eof(fd, buf, cap - 1, 3000, &eof);
    buf[n] = '\0';
    close(fd);
    return n;
}

/* With no --root, stages 09-11 serve ./public if there is one, else the
 * course's ../public, and say which in their log: run from temp/ (no
 * public/ in it, ../public beside it) they serve the fixture's sample.txt;
 * run from the fixture's top they take ./public; --root wins over both. */
static void file_stages_fall_back_to_the_courses_public(void **state)
{
    (void)state;
    static const struct {
        const char *name, *fixture;
        bool http; /* 10, 11: GET /sample.txt; 09: base+1 sends it unasked */
    } file_stages[] = {{"stage-09", "tests/fixtures/stage-09", false},
                       {"stage-10", "tests/fixtures/stage-10", true},
                       {"stage-11", "tests/fixtures/stage-10", true}};
    static const struct {
        const char *dir, *root, *log;
    } cases[] = {{"temp", NULL, "serving files from ../public: ./public not found, using the "
                                "course's ../public"},
                 {".", NULL, "serving files from ./public: ./public is a folder"},
                 {"temp", "../public", "serving files from ../public: given with --root"}};
    for (size_t f = 0; f < 3; f++) {
        for (size_t c = 0; c < 3; c++) {
            xt_proc_t *p = start_file_stage_in(file_stages[f].name, file_stages[f].fixture,
                                               cases[c].dir, cases[c].root);
            char body[4096], path[4200], want[4096] = "";
            snprintf(path, sizeof path, "%s/public/sample.txt", xt_workdir(p));
            chmod(path, 0644); /* world-readable whatever the umask: the rule for serving */
            FILE *file = fopen(path, "r");
            size_t want_len = file ? fread(want, 1, sizeof want - 1, file) : 0;
            if (file)
                fclose(file);
            want[want_len] = '\0';
            uint16_t port = (uint16_t)(ALT_PORT + (file_stages[f].http ? 0 : 1));
            fetch_sample(port, file_stages[f].http, body, sizeof body);
            char *err = xt_stderr(p);
            char expected[300];
            snprintf(expected, sizeof expected, "%s run from %s%s%s: serves public/sample.txt, "
                     "its log says \"%s\"", file_stages[f].name, cases[c].dir,
                     cases[c].root ? " with --root " : "", cases[c].root ? cases[c].root : "",
                     cases[c].log);
            xt_expect(want_len > 0 && strstr(body, want) && strstr(err, cases[c].log), expected,
                      "reply %s; log %s", xt_quote(body, strlen(body)), xt_quote(err, strlen(err)));
            free(err);
            xt_stop(p, SIGTERM, 2000);
        }
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
        XT_CHECK(a_last_json_path_is_accepted_and_not_read),
        XT_CHECK(other_stray_words_are_refused_and_help_names_the_config),
        XT_CHECK(stage_07_reverse_reverses_on_every_port),
        XT_CHECK(file_stages_fall_back_to_the_courses_public),
    };
    return xt_run_checks("command lines of our stage binaries", checks);
}
