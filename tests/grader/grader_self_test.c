/*
 * tests/grader/grader_self_test.c — the grader graded.
 *
 * A grader that passes everything is worse than none. These checks run the
 * stage 01 checks exactly as `make grade STAGE=1 BIN=...` does, against our
 * stage 01 (everything must pass) and against wrong-stage-01, an echo server
 * that behaves like stage 01 in every way but the reversal (the reversal
 * checks, and only they, must fail, each with a readable reason).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/harness.h"

/* A binary built beside this one, in build/tests/. */
static const char *sibling(const char *name)
{
    static char paths[2][PATH_MAX];
    static unsigned next;
    char *out = paths[next++ % 2];
    ssize_t n = readlink("/proc/self/exe", out, PATH_MAX - 1);
    out[n > 0 ? n : 0] = '\0';
    snprintf(strrchr(out, '/') + 1, PATH_MAX - (size_t)(strrchr(out, '/') + 1 - out), "%s", name);
    return out;
}

/* Runs the stage 01 checks in grade mode against `bin`; returns the report
 * (malloc'd) and the exit status. */
static char *grade_stage_01(const char *bin, const char *extra_env, int *status)
{
    static char bin_env[PATH_MAX + 32];
    snprintf(bin_env, sizeof bin_env, "XPS_STAGE_BIN=%s", bin);
    const char *env[] = {"XPS_GRADE=1", bin_env, extra_env, NULL};
    xt_start_opts_t opts = {.env = env};
    xt_proc_t *p = xt_start(sibling("stage-01"), NULL, &opts);
    xt_expect(xt_wait_exit(p, 120000, status), "the grader to finish within 120 s",
              "%s", xt_status_text(*status));
    return xt_stdout(p);
}

static int count_lines_starting(const char *text, const char *prefix)
{
    int n = 0;
    for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        n += strncmp(line, prefix, strlen(prefix)) == 0;
    return n;
}

static void our_stage_01_gets_full_marks(void **state)
{
    (void)state;
    int status;
    char *report = grade_stage_01(xt_our_bin("stage-01"), NULL, &status);
    int pass = count_lines_starting(report, "  PASS  ");
    int fail = count_lines_starting(report, "  FAIL  ");
    char score[64];
    snprintf(score, sizeof score, "score: %d/%d checks passed", pass, pass);
    xt_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0 && fail == 0 && pass >= 3 &&
                  strstr(report, score),
              "exit 0, no FAIL line, a full score",
              "%s, %d PASS / %d FAIL lines; report: %s", xt_status_text(status), pass, fail,
              xt_quote(report, strlen(report)));
    free(report);
}

static void echo_impostor_fails_only_the_reversal_checks(void **state)
{
    (void)state;
    int status;
    char *report = grade_stage_01(sibling("wrong-stage-01"), NULL, &status);
    int pass = count_lines_starting(report, "  PASS  ");
    int fail = count_lines_starting(report, "  FAIL  ");
    xt_expect(WIFEXITED(status) && WEXITSTATUS(status) != 0, "a non-zero exit status",
              "%s", xt_status_text(status));
    xt_expect(fail >= 1 && pass >= 1, "some checks failing, the exit-status ones passing",
              "%d PASS / %d FAIL lines in: %s", pass, fail, xt_quote(report, strlen(report)));
    for (const char *l = strstr(report, "  FAIL  "); l; l = strstr(l + 1, "  FAIL  ")) {
        const char *end = strchr(l, '\n');
        size_t len = end ? (size_t)(end - l) : strlen(l);
        char line[1024];
        snprintf(line, sizeof line, "%.*s", (int)(len < 1000 ? len : 1000), l);
        xt_expect(strstr(line, "revers") && strstr(line, "expected: ") && strstr(line, "observed: "),
                  "every FAIL line is a reversal check with expected and observed",
                  "%s", line);
    }
    char score[64];
    snprintf(score, sizeof score, "score: %d/%d checks passed", pass, pass + fail);
    xt_expect(strstr(report, score) != NULL, "the FAIL lines, then the score line", "%s",
              xt_quote(report, strlen(report)));
    free(report);
}

static void junit_report_names_the_failure(void **state)
{
    (void)state;
    char xml_path[PATH_MAX], env[PATH_MAX + 32];
    snprintf(xml_path, sizeof xml_path, "%s/grader-self-test-%d.xml",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
    snprintf(env, sizeof env, "CMOCKA_XML_FILE=%s", xml_path);
    setenv("CMOCKA_MESSAGE_OUTPUT", "xml", 1);
    int status;
    char *report = grade_stage_01(sibling("wrong-stage-01"), env, &status);
    unsetenv("CMOCKA_MESSAGE_OUTPUT");
    free(report);
    FILE *f = fopen(xml_path, "r");
    char xml[65536] = "";
    size_t n = f ? fread(xml, 1, sizeof xml - 1, f) : 0;
    xml[n] = '\0';
    if (f)
        fclose(f);
    unlink(xml_path);
    xt_expect(strstr(xml, "<testsuite") && strstr(xml, "<failure") && strstr(xml, "observed: "),
              "a JUnit XML file with a <failure> carrying expected/observed",
              "%s", n ? xt_quote(xml, n) : "no file written");
}

int main(void)
{
    const struct CMUnitTest checks[] = {
        XT_CHECK(our_stage_01_gets_full_marks),
        XT_CHECK(echo_impostor_fails_only_the_reversal_checks),
        XT_CHECK(junit_report_names_the_failure),
    };
    return xt_run_checks("grader self-test", checks);
}
