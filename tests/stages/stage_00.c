/*
 * tests/stages/stage_00.c — black-box checks for stage 00 (setup), the
 * environment doctor.
 *
 * What STAGES.md asks of the binary, and so what is checked here: it prints
 * the compiler and the kernel, the versions of OpenSSL, zlib, cJSON and
 * CMocka, checks epoll, SO_REUSEPORT and the open-file limit, exits 0 when
 * everything is in place, and otherwise names what is missing with a command
 * that fixes it. These checks run on a machine where `make deps` has
 * installed everything, so a correct doctor must say "all set" here.
 *
 * The doctor's text is free-form (a student's own doctor words it its own
 * way), so the checks look for names and version-looking numbers on the
 * same line, case-insensitively, on stdout and stderr together.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include "tests/support/harness.h"

enum { RUN_MS = 10000 }; /* the doctor does a few system calls: 10 s is ample */

/* One finished run of the doctor. */
typedef struct {
    int status; /* wait status */
    char *out;  /* stdout then stderr, NUL-terminated, malloc'd */
} run_t;

/* Runs `bin args...` to completion and collects its output. Fails the check
 * when it does not finish within RUN_MS. */
static run_t run_to_end(const char *bin, const char *const *args)
{
    xt_proc_t *p = xt_start(bin, args, NULL);
    run_t r = {0, NULL};
    bool exited = xt_wait_exit(p, RUN_MS, &r.status);
    xt_expect(exited, "the doctor finishes within 10 s", "still running after 10 s");
    char *out = xt_stdout(p), *err = xt_stderr(p);
    size_t n_out = strlen(out), n_err = strlen(err);
    r.out = malloc(n_out + n_err + 1);
    memcpy(r.out, out, n_out);
    memcpy(r.out + n_out, err, n_err + 1);
    free(out);
    free(err);
    return r;
}

static run_t run_doctor(void)
{
    return run_to_end(xt_stage_bin(), NULL);
}

/* The last `max` bytes of the output, escaped and quoted, for "observed:"
 * texts. */
static const char *tail_of(const char *text, size_t max)
{
    static char shown[700];
    size_t n = strlen(text);
    if (n == 0)
        return "(no output at all)";
    snprintf(shown, sizeof shown, "\"%s\"",
             n > max ? xt_quote(text + n - max, max) : xt_quote(text, n));
    return shown;
}

/* True when `s` contains something like "1.2" (digits, dot, digits). */
static bool has_version(const char *s, size_t len)
{
    for (size_t i = 0; i + 2 < len; i++)
        if (isdigit((unsigned char)s[i]) && s[i + 1] == '.' &&
            isdigit((unsigned char)s[i + 2]))
            return true;
    return false;
}

/* True when some line of `text` names `name` (case-insensitively) and holds
 * a version-looking number. */
static bool names_with_version(const char *text, const char *name)
{
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char buf[1024];
        size_t n = len < sizeof buf - 1 ? len : sizeof buf - 1;
        memcpy(buf, line, n);
        buf[n] = '\0';
        if (strcasestr(buf, name) && has_version(buf, n))
            return true;
        line += len + (end ? 1 : 0);
    }
    return false;
}

/* True when `text` contains any of the NULL-terminated `words`,
 * case-insensitively. */
static bool mentions_any(const char *text, const char *const *words)
{
    for (int i = 0; words[i]; i++)
        if (strcasestr(text, words[i]))
            return true;
    return false;
}

/* ------------------------------------------------------------- checks */

static void says_all_set_and_exits_0_on_a_ready_machine(void **state)
{
    (void)state;
    run_t r = run_doctor();
    bool ok = WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0;
    xt_expect(ok, "exit status 0 (make deps has installed everything here)",
              "%s; output ends %s", xt_status_text(r.status), tail_of(r.out, 300));
    free(r.out);
}

static void names_each_library_with_a_version(void **state)
{
    (void)state;
    static const char *const libraries[] = {"OpenSSL", "zlib", "cJSON", "CMocka"};
    run_t r = run_doctor();
    char lacking[128] = "";
    for (size_t i = 0; i < sizeof libraries / sizeof libraries[0]; i++) {
        if (names_with_version(r.out, libraries[i]))
            continue;
        strcat(lacking, lacking[0] ? ", " : "");
        strcat(lacking, libraries[i]);
    }
    xt_expect(lacking[0] == '\0',
              "OpenSSL, zlib, cJSON and CMocka each on a line with a version like 1.2.3",
              "no version on a line naming %s; output ends %s", lacking, tail_of(r.out, 300));
    free(r.out);
}

static void reports_compiler_and_kernel(void **state)
{
    (void)state;
    static const char *const compiler_words[] = {"g++", "gcc", "clang", "compiler", NULL};
    struct utsname u;
    if (uname(&u) != 0)
        xt_fail("uname failed in the checker itself");
    run_t r = run_doctor();
    xt_expect(mentions_any(r.out, compiler_words), "the compiler named (g++, gcc or clang)",
              "none of those words in %s", tail_of(r.out, 300));
    char expected[160];
    snprintf(expected, sizeof expected, "the kernel release \"%s\" (uname -r)", u.release);
    xt_expect(strstr(r.out, u.release) != NULL, expected, "not in %s", tail_of(r.out, 300));
    free(r.out);
}

static void reports_epoll_and_so_reuseport(void **state)
{
    (void)state;
    static const char *const epoll_words[] = {"epoll", NULL};
    static const char *const reuseport_words[] = {"reuseport", "reuse_port", "reuse port", NULL};
    run_t r = run_doctor();
    xt_expect(mentions_any(r.out, epoll_words), "a line about epoll",
              "\"epoll\" not in %s", tail_of(r.out, 300));
    xt_expect(mentions_any(r.out, reuseport_words), "a line about SO_REUSEPORT",
              "\"reuseport\" not in %s", tail_of(r.out, 300));
    free(r.out);
}

/* The soft open-file limit is lowered to 256 by a shell that then execs the
 * doctor, so the doctor inherits it; the hard limit is left alone, so
 * `ulimit -n 4096` really would fix it. */
static void fails_and_says_how_to_raise_a_low_open_file_limit(void **state)
{
    (void)state;
    static const char *const limit_words[] = {"open file", "open-file", "nofile",
                                              "descriptor", "fd limit", "file limit", NULL};
    static const char *const command_words[] = {"ulimit -n", "ulimit -Sn", "ulimit -S -n",
                                                "prlimit", "limits.conf", NULL};
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_max < 256)
        xt_fail("the checker cannot set a soft open-file limit of 256 here");
    const char *args[] = {"-c", "ulimit -S -n 256 && exec \"$0\"", xt_stage_bin(), NULL};
    run_t r = run_to_end("/bin/sh", args);
    bool failed = WIFEXITED(r.status) && WEXITSTATUS(r.status) != 0;
    xt_expect(failed, "a non-zero exit status with a soft open-file limit of 256",
              "%s; output ends %s", xt_status_text(r.status), tail_of(r.out, 300));
    xt_expect(mentions_any(r.out, limit_words), "the open-file limit named as the problem",
              "no mention of it in %s", tail_of(r.out, 400));
    xt_expect(mentions_any(r.out, command_words),
              "a command that raises it (e.g. ulimit -n 4096)",
              "no such command in %s", tail_of(r.out, 400));
    free(r.out);
}

static void help_prints_usage_and_exits_0(void **state)
{
    (void)state;
    const char *args[] = {"--help", NULL};
    xt_proc_t *p = xt_start(xt_stage_bin(), args, NULL);
    int status = 0;
    bool exited = xt_wait_exit(p, RUN_MS, &status);
    xt_expect(exited, "--help finishes within 10 s", "still running after 10 s");
    char *out = xt_stdout(p);
    xt_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "--help exits with status 0",
              "%s", xt_status_text(status));
    xt_expect(strcasestr(out, "usage") != NULL, "usage text on stdout",
              "stdout was %s", tail_of(out, 200));
    free(out);
}

int main(void)
{
    const struct CMUnitTest checks[] = {
        XT_CHECK(says_all_set_and_exits_0_on_a_ready_machine),
        XT_CHECK(names_each_library_with_a_version),
        XT_CHECK(reports_compiler_and_kernel),
        XT_CHECK(reports_epoll_and_so_reuseport),
        XT_CHECK(fails_and_says_how_to_raise_a_low_open_file_limit),
        XT_CHECK(help_prints_usage_and_exits_0),
    };
    return xt_run_checks("stage 00 (setup)", checks);
}
