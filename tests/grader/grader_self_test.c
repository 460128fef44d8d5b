/*
 * tests/grader/grader_self_test.c — the grader graded.
 *
 * A grader that passes everything is worse than none. These checks run the
 * stage 01 checks exactly as `make grade STAGE=1 BIN=...` does, against our
 * stage 01 (everything must pass) and against wrong-stage-01, an echo server
 * that behaves like stage 01 in every way but the reversal (the reversal
 * checks, and only they, must fail, each with a readable reason).
 *
 * And the course's layout (`make grade COURSE=N`): layout-probe, a binary
 * that reports how it was started, shows that xt_start_stage() starts it as
 * the course's tester does (from build/, ./<name> [flags] <abs>/public/
 * xps_config.json, the tester's configuration there, the fixture beside);
 * graded as course stage 1, our stage 01 gets full marks and wrong-stage-01,
 * which refuses every argument as our stages 01-11 once did, fails every
 * check; course-map names our stage for a course stage, or says why none.
 *
 * And the instructor's tools: the JSON report (FORMAT=json) parsed and
 * summed, `make grade-all` over a folder of submissions, `make new-stage`
 * scaffolding a stage that builds at once and fails clearly, `make
 * skeleton` handing out stage 14, and docs/stages.md naming the checks.
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

#include <cjson/cJSON.h>

#include <sys/stat.h>

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

/* A whole file, NUL-terminated (free it), or NULL if it cannot be read. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *text = malloc(cap);
    for (size_t n; (n = fread(text + len, 1, cap - len - 1, f)) > 0;)
        if ((len += n) + 1 == cap)
            text = realloc(text, cap *= 2);
    text[len] = '\0';
    fclose(f);
    return text;
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

/* The JSON report (`make grade FORMAT=json`) of a binary that fails some
 * checks: parsed with cJSON, it must hold one entry per check with the
 * autograder's fields, the failures' expected/observed, and totals that are
 * the sums of the entries. */
static cJSON *graded_json(const char *bin, int *status)
{
    char path[PATH_MAX], env[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/grader-self-test-%d.json",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
    snprintf(env, sizeof env, "XT_JSON_REPORT=%s", path);
    free(grade_stage_01(bin, env, status));
    char *text = slurp(path);
    unlink(path);
    cJSON *report = text ? cJSON_Parse(text) : NULL;
    xt_expect(report != NULL, "a JSON report that parses", "%s",
              text ? xt_quote(text, strlen(text)) : "no file written");
    free(text);
    return report;
}

static void json_report_scores_every_check(void **state)
{
    (void)state;
    int status;
    cJSON *report = graded_json(sibling("wrong-stage-01"), &status);
    const cJSON *tests = cJSON_GetObjectItemCaseSensitive(report, "tests");
    int entries = 0, sum = 0, max_sum = 0, failed = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, tests) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(t, "name");
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(t, "status");
        const cJSON *score = cJSON_GetObjectItemCaseSensitive(t, "score");
        const cJSON *max = cJSON_GetObjectItemCaseSensitive(t, "max_score");
        const cJSON *output = cJSON_GetObjectItemCaseSensitive(t, "output");
        /* printed once, freed after both uses: an argument of xt_expect is
         * evaluated even when the check passes */
        char *entry = cJSON_PrintUnformatted(t);
        xt_expect(cJSON_IsString(name) && cJSON_IsString(st) && cJSON_IsNumber(score) &&
                      cJSON_IsNumber(max) && cJSON_IsString(output),
                  "every test entry: name, status, score, max_score, output", "%s", entry);
        bool fail = strcmp(st->valuestring, "failed") == 0;
        xt_expect(!fail || (score->valueint == 0 && max->valueint == 1 &&
                            strstr(output->valuestring, "expected: ") &&
                            strstr(output->valuestring, "observed: ")),
                  "a failed entry scores 0 of 1 and says expected/observed", "%s", entry);
        cJSON_free(entry);
        entries++, failed += fail, sum += score->valueint, max_sum += max->valueint;
    }
    const cJSON *score = cJSON_GetObjectItemCaseSensitive(report, "score");
    const cJSON *max = cJSON_GetObjectItemCaseSensitive(report, "max_score");
    xt_expect(WIFEXITED(status) && WEXITSTATUS(status) != 0 && entries >= 3 && failed >= 1 &&
                  cJSON_IsNumber(score) && cJSON_IsNumber(max) && score->valueint == sum &&
                  max->valueint == max_sum && sum == max_sum - failed,
              "a failing run: entries, some failed, score and max_score the entries' sums",
              "%s; %d entries, %d failed, sums %d/%d, totals %d/%d", xt_status_text(status),
              entries, failed, sum, max_sum, cJSON_IsNumber(score) ? score->valueint : -1,
              cJSON_IsNumber(max) ? max->valueint : -1);
    cJSON_Delete(report);

    report = graded_json(xt_our_bin("stage-01"), &status);
    score = cJSON_GetObjectItemCaseSensitive(report, "score");
    max = cJSON_GetObjectItemCaseSensitive(report, "max_score");
    xt_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0 && cJSON_IsNumber(score) &&
                  cJSON_IsNumber(max) && max->valueint == entries && score->valueint == entries,
              "our stage 01: full marks, the same checks", "score %d/%d over %d checks",
              cJSON_IsNumber(score) ? score->valueint : -1,
              cJSON_IsNumber(max) ? max->valueint : -1, entries);
    cJSON_Delete(report);
}

/* `make grade-all`: a folder with our stage 01, the impostor (under a name
 * CSV must quote) and a file that is not executable. Two rows, each with
 * the checks' columns; ours full marks, the impostor's reversal columns 0. */
static void grade_all_writes_one_row_per_submission(void **state)
{
    (void)state;
    char dir[PATH_MAX], reports[PATH_MAX + 16], cmd[12 * PATH_MAX];
    snprintf(dir, sizeof dir, "%s/grade-all-%d", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             (int)getpid());
    snprintf(reports, sizeof reports, "%s/reports", dir);
    snprintf(cmd, sizeof cmd,
             "rm -rf '%s' && mkdir -p '%s/subs' && cp '%s' '%s/subs/ours' && "
             "cp '%s' '%s/subs/the impostor, v2' && echo notes >'%s/subs/README' && "
             "'%s' '%s' '%s/subs' '%s' >'%s/out.txt' 2>&1",
             dir, dir, xt_our_bin("stage-01"), dir, sibling("wrong-stage-01"), dir, dir,
             xt_repo_path("tests/grader/grade_all"), sibling("stage-01"), dir, reports, dir);
    int rc = system(cmd);
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/stage-01.csv", reports);
    char *csv = slurp(path);
    if (!csv)
        csv = strdup("");
    int rows = 0;
    for (const char *c = csv; *c; c++)
        rows += *c == '\n';
    const char *ours = strstr(csv, "\nours,");
    const char *impostor = strstr(csv, "\n\"the impostor, v2\",");
    int our_score = -1, our_max = -1, its_score = -1, its_max = -1;
    if (ours)
        sscanf(ours, "\nours,%d,%d", &our_score, &our_max);
    if (impostor)
        sscanf(impostor, "\n\"the impostor, v2\",%d,%d", &its_score, &its_max);
    bool ok = rc == 0 && strncmp(csv, "submission,score,max_score,reverses_", 36) == 0 &&
              rows == 3 && !strstr(csv, "README") && our_max >= 3 && our_score == our_max &&
              its_max == our_max && its_score >= 1 && its_score < its_max;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        xt_note("could not remove %s", dir);
    xt_expect(ok,
              "exit 0; a header with the checks' names, one row per executable (not README), "
              "ours full marks, the impostor fewer of the same checks",
              "exit %d, csv: %s", rc, xt_quote(csv, strlen(csv)));
    free(csv);
}

/* `make new-stage` in a scratch copy of the repository (its sources, and
 * this build's objects so only the new stage compiles): the scaffold
 * builds at once, and its checks pass --help and fail the one that says
 * the stage's own checks are missing; a second scaffold of the same
 * number is refused. */
static void new_stage_scaffold_builds_and_fails_clearly(void **state)
{
    (void)state;
    char build[PATH_MAX];
    snprintf(build, sizeof build, "%s", sibling("x"));
    *strrchr(build, '/') = '\0';              /* .../build/tests or .../build/san/tests */
    *strrchr(build, '/') = '\0';              /* .../build or .../build/san */
    bool san = strcmp(strrchr(build, '/'), "/san") == 0;
    char dir[PATH_MAX], cmd[16 * PATH_MAX];
    snprintf(dir, sizeof dir, "%s/new-stage-%d", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             (int)getpid());
    char root[PATH_MAX];
    snprintf(root, sizeof root, "%s", xt_repo_path("."));
    snprintf(cmd, sizeof cmd,
             "set -e; rm -rf '%s'; mkdir -p '%s/%s'; cd '%s'; "
             "tar --exclude=./build --exclude=./.git -cf - . | tar xf - -C '%s'; "
             "cp -a '%s/obj' '%s/lib' '%s/%s/'; cd '%s'; "
             "make -s new-stage NUM=99 NAME=scaffold-probe >out.txt 2>&1; "
             "make -s SAN=%d build/%sbin/stage-99 build/%stests/stage-99 >>out.txt 2>&1; "
             "XPS_GRADE=1 XPS_STAGE_BIN=$PWD/build/%sbin/stage-99 build/%stests/stage-99 "
             ">grade.txt 2>&1 && echo 'the checks passed' >>grade.txt; "
             "make -s new-stage NUM=99 NAME=again >again.txt 2>&1 && echo 'accepted' >>again.txt; "
             "true",
             dir, dir, san ? "build/san" : "build", root, dir, build, build, dir,
             san ? "build/san" : "build", dir, san, san ? "san/" : "", san ? "san/" : "",
             san ? "san/" : "", san ? "san/" : "");
    int rc = system(cmd);
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/grade.txt", dir);
    char *grade = slurp(path);
    snprintf(path, sizeof path, "%s/again.txt", dir);
    char *again = slurp(path);
    snprintf(path, sizeof path, "%s/out.txt", dir);
    char *out = slurp(path);
    bool ok = rc == 0 && grade && again &&
              strstr(grade, "  PASS  prints_its_usage_with_help") &&
              strstr(grade, "  FAIL  checks_the_stages_own_behaviour") &&
              strstr(grade, "has no checks of its own yet") && strstr(grade, "score: 1/2") &&
              !strstr(grade, "the checks passed") && strstr(again, "exists already") &&
              !strstr(again, "accepted");
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        xt_note("could not remove %s", dir);
    xt_expect(ok,
              "the scaffold builds; its checks: --help passes, the missing own checks fail "
              "saying so; NUM=99 again refused",
              "make: %s; grade: %s; again: %s", out ? xt_quote(out, strlen(out)) : "(none)",
              grade ? xt_quote(grade, strlen(grade)) : "(none)",
              again ? xt_quote(again, strlen(again)) : "(none)");
    free(grade);
    free(again);
    free(out);
}

/* `make skeleton STAGE=14`: the hand-out, built with this build's objects
 * (only the stubs compile), passes stage 13's checks, fails stage 14's
 * saying which function is not written yet, and passes them once the real
 * modules/ipfilter/xps_ipfilter.cpp is copied back over the stub. */
static void skeleton_passes_earlier_stages_and_fails_its_own_until_written(void **state)
{
    (void)state;
    xt_watchdog(300); /* three gradings and two small builds, slower under SAN=1 */
    char build[PATH_MAX];
    snprintf(build, sizeof build, "%s", sibling("x"));
    *strrchr(build, '/') = '\0';
    *strrchr(build, '/') = '\0';
    bool san = strcmp(strrchr(build, '/'), "/san") == 0;
    const char *rel = san ? "build/san" : "build";
    char dir[PATH_MAX], cmd[16 * PATH_MAX];
    snprintf(dir, sizeof dir, "%s/skeleton-%d", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             (int)getpid());
    snprintf(cmd, sizeof cmd,
             "rm -rf '%s' && mkdir -p '%s' && cd '%s' && "
             "'%s' '%s' 14 '%s/tree' >out.txt 2>&1 && test -d tree/stages/stage-14-ip-filter && "
             "! ls -d tree/stages/stage-15-* >/dev/null 2>&1 && ! test -e tree/tests/stages/stage_15.c && "
             "mkdir -p tree/%s && cp -a '%s/obj' '%s/lib' tree/%s/ && cd tree && "
             "{ make -s SAN=%d grade STAGE=13 >../grade-13.txt 2>&1; "
             "  make -s SAN=%d grade STAGE=14 >../grade-14-stub.txt 2>&1; "
             "  cp '%s' modules/ipfilter/xps_ipfilter.cpp && "
             "  make -s SAN=%d grade STAGE=14 >../grade-14-real.txt 2>&1; true; }",
             dir, dir, dir, xt_repo_path("tests/grader/skeleton"), build, dir, rel, build,
             build, rel, san, san, xt_repo_path("modules/ipfilter/xps_ipfilter.cpp"), san);
    int rc = system(cmd);
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/out.txt", dir);
    char *out = slurp(path);
    snprintf(path, sizeof path, "%s/grade-13.txt", dir);
    char *g13 = slurp(path);
    snprintf(path, sizeof path, "%s/grade-14-stub.txt", dir);
    char *stub = slurp(path);
    snprintf(path, sizeof path, "%s/grade-14-real.txt", dir);
    char *real = slurp(path);
    int p13 = -1, t13 = -2, ps = -1, ts = -2, pr = -1, tr = -2;
    const char *at;
    if (g13 && (at = strstr(g13, "score: ")))
        sscanf(at, "score: %d/%d", &p13, &t13);
    if (stub && (at = strstr(stub, "score: ")))
        sscanf(at, "score: %d/%d", &ps, &ts);
    if (real && (at = strstr(real, "score: ")))
        sscanf(at, "score: %d/%d", &pr, &tr);
    xt_expect(rc == 0, "the skeleton made: stage 14 kept, stage 15 and its checks gone",
              "exit %d: %s", rc, out ? xt_quote(out, strlen(out)) : "(no output)");
    xt_expect(t13 > 0 && p13 == t13, "stage 13's checks all pass in the hand-out", "%s",
              g13 ? xt_quote(g13, strlen(g13)) : "(no report)");
    xt_expect(ts > 0 && ps < ts && strstr(stub, "  FAIL  ") &&
                  strstr(stub, "xps_ipfilter_create is not written yet"),
              "stage 14's fail, saying which function is not written yet", "%s",
              stub ? xt_quote(stub, strlen(stub)) : "(no report)");
    xt_expect(tr == ts && pr == tr, "the real xps_ipfilter.cpp copied back: stage 14's all pass",
              "%s", real ? xt_quote(real, strlen(real)) : "(no report)");
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        xt_note("could not remove %s", dir);
    xt_expect(true,
              "skeleton STAGE=14: stage 13 passes, stage 14 fails naming the stub, and passes "
              "with the real file back", "%d/%d, %d/%d, then %d/%d", p13, t13, ps, ts, pr, tr);
    free(out), free(g13), free(stub), free(real);
}

/* docs/stages.md lists every stage's checks as the check binaries name
 * them (tests/grader/stages_doc): a check added, renamed or dropped
 * without `make stages-doc` fails here, naming the first difference. */
static void stages_doc_lists_the_checks_as_they_are(void **state)
{
    (void)state;
    char build[PATH_MAX], cmd[4 * PATH_MAX];
    snprintf(build, sizeof build, "%s", sibling("x"));
    *strrchr(build, '/') = '\0';
    *strrchr(build, '/') = '\0';
    char *doc = slurp(xt_repo_path("docs/stages.md"));
    snprintf(cmd, sizeof cmd, "'%s' '%s'", xt_repo_path("tests/grader/stages_doc"), build);
    FILE *p = popen(cmd, "r");
    char section[65536];
    size_t n = p ? fread(section, 1, sizeof section - 1, p) : 0;
    section[n] = '\0';
    int rc = p ? pclose(p) : -1;
    const char *in_doc = doc ? strstr(doc, "<!-- checks: ") : NULL;
    size_t same = 0;
    while (in_doc && same < n && in_doc[same] == section[same])
        same++;
    size_t line_start = same;
    while (line_start > 0 && section[line_start - 1] != '\n')
        line_start--;
    xt_expect(rc == 0 && n > 1000 && in_doc && same == n,
              "docs/stages.md's checks section is what the check binaries list (else: make "
              "stages-doc)",
              "%s; first difference at: %s", rc == 0 ? "the section made" : "stages_doc failed",
              xt_quote(section + line_start, strcspn(section + line_start, "\n")));
    free(doc);
}

/* The value of the probe's "name: value" line, or "" (static buffer). */
static const char *probe_line(const char *report, const char *name)
{
    static char value[4200];
    char key[64];
    snprintf(key, sizeof key, "\n%s: ", name);
    char *text = malloc(strlen(report) + 2);
    snprintf(text, strlen(report) + 2, "\n%s", report);
    const char *at = strstr(text, key);
    value[0] = '\0';
    if (at) {
        at += strlen(key);
        size_t len = strcspn(at, "\n");
        snprintf(value, sizeof value, "%.*s", (int)(len < 4100 ? len : 4100), at);
    }
    free(text);
    return value;
}

/* Starts layout-probe as the binary under test, in the layout that
 * XPS_COURSE (course, or NULL for ours) asks for, with `args` as a check
 * of stage 12 gives its config; returns its report (free it). */
static char *probe(const char *course, xt_proc_t **started)
{
    setenv("XPS_STAGE_BIN", sibling("layout-probe"), 1);
    if (course) {
        setenv("XPS_COURSE", course, 1);
        setenv("XPS_COURSE_FLAGS", "--reverse", 1);
    }
    const char *args[] = {"config.json", NULL};
    xt_start_opts_t opts = {.fixture_dir = "tests/fixtures/stage-10"};
    xt_proc_t *p = xt_start_stage(args, &opts);
    unsetenv("XPS_COURSE");
    unsetenv("XPS_COURSE_FLAGS");
    unsetenv("XPS_STAGE_BIN");
    int status = 0;
    xt_expect(xt_wait_exit(p, 5000, &status) && WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "layout-probe runs and exits 0", "%s", xt_status_text(status));
    *started = p;
    return xt_stdout(p);
}

static void course_layout_starts_the_binary_as_the_tester_does(void **state)
{
    (void)state;
    xt_proc_t *p;
    char *report = probe("16", &p);
    char cwd[PATH_MAX + 16], config[PATH_MAX + 32], fixture[PATH_MAX + 32];
    snprintf(cwd, sizeof cwd, "%s/build", xt_workdir(p));
    snprintf(config, sizeof config, "%s/public/xps_config.json", xt_workdir(p));
    snprintf(fixture, sizeof fixture, "%s/public/sample.txt", xt_workdir(p));
    struct stat st;
    bool ok = strcmp(probe_line(report, "cwd"), cwd) == 0 &&
              strcmp(probe_line(report, "argc"), "3") == 0 &&
              strcmp(probe_line(report, "argv[0]"), "./layout-probe") == 0 &&
              strcmp(probe_line(report, "argv[1]"), "--reverse") == 0 &&
              strcmp(probe_line(report, "argv[2]"), config) == 0 &&
              strcmp(probe_line(report, "../public/xps_config.json"), "the tester's") == 0 &&
              stat(fixture, &st) == 0;
    xt_expect(ok,
              "XPS_COURSE=16: run from <scratch>/build as ./layout-probe --reverse "
              "<scratch>/public/xps_config.json (the check's own argument dropped), the tester's "
              "configuration in ../public beside the fixture's files",
              "report %s", xt_quote(report, strlen(report)));
    free(report);
}

static void our_layout_keeps_the_checks_arguments(void **state)
{
    (void)state;
    xt_proc_t *p;
    char *report = probe(NULL, &p);
    bool ok = strcmp(probe_line(report, "cwd"), xt_workdir(p)) == 0 &&
              strcmp(probe_line(report, "argc"), "2") == 0 &&
              strcmp(probe_line(report, "argv[1]"), "config.json") == 0 &&
              strcmp(probe_line(report, "../public/xps_config.json"), "missing") == 0;
    xt_expect(ok, "no XPS_COURSE: run from the scratch folder with the check's own argument, "
                  "no xps_config.json",
              "report %s", xt_quote(report, strlen(report)));
    free(report);
}

static void course_layout_our_stage_01_gets_full_marks(void **state)
{
    (void)state;
    int status;
    char *report = grade_stage_01(xt_our_bin("stage-01"), "XPS_COURSE=1", &status);
    int pass = count_lines_starting(report, "  PASS  ");
    int fail = count_lines_starting(report, "  FAIL  ");
    xt_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0 && fail == 0 && pass >= 3 &&
                  strstr(report, "as the course's stage 1 (TCP Server), in the course's layout"),
              "graded as course stage 1: the layout announced, exit 0, no FAIL line",
              "%s, %d PASS / %d FAIL lines; report: %s", xt_status_text(status), pass, fail,
              xt_quote(report, strlen(report)));
    free(report);
}

static void course_layout_fails_a_binary_that_refuses_the_testers_argument(void **state)
{
    (void)state;
    int status;
    char *report = grade_stage_01(sibling("wrong-stage-01"), "XPS_COURSE=1", &status);
    int pass = count_lines_starting(report, "  PASS  ");
    int fail = count_lines_starting(report, "  FAIL  ");
    char score[64];
    snprintf(score, sizeof score, "score: 0/%d checks passed", fail);
    xt_expect(WIFEXITED(status) && WEXITSTATUS(status) != 0 && pass == 0 && fail >= 3 &&
                  strstr(report, score) && strstr(report, "exited with status 2"),
              "graded as course stage 1, a binary refusing ./<binary> <config> fails every "
              "check, each saying it exited with status 2",
              "%s, %d PASS / %d FAIL lines; report: %s", xt_status_text(status), pass, fail,
              xt_quote(report, strlen(report)));
    free(report);
}

/* course-map N: exit status, stdout and stderr. */
static int course_map(const char *arg, char **out, char **err)
{
    const char *args[] = {arg, NULL};
    xt_proc_t *p = xt_start(sibling("course-map"), args, NULL);
    int status = 0;
    xt_expect(xt_wait_exit(p, 5000, &status), "course-map to exit within 5 s", "%s",
              xt_status_text(status));
    *out = xt_stdout(p);
    *err = xt_stderr(p);
    return status;
}

static void course_map_names_our_stage_or_says_why_none(void **state)
{
    (void)state;
    static const struct {
        const char *course, *out, *err; /* err: NULL means exit 0, else exit 2 with it */
    } rows[] = {
        {"1", "01\tTCP Server\t\n", NULL},
        {"8", "07\tNon-blocking Sockets\t--reverse\n", NULL},
        {"10", "07\tPipe Module\t\n", NULL},
        {"13", "09\tSession Module\t\n", NULL},
        {"14", "10\tHTTP Request Module\t\n", NULL},
        {"16", "12\tHTTP Config Module\t\n", NULL},
        {"3", "", "no stage of ours grades it"},
        {"17", "", "make grade STAGE=15"},
        {"2", "", "make grade STAGE=2"},
        {"18", "", "the course has no stage 18"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char *out, *err;
        int st = course_map(rows[i].course, &out, &err);
        bool ok = rows[i].err ? WIFEXITED(st) && WEXITSTATUS(st) == 2 && strstr(err, rows[i].err)
                              : WIFEXITED(st) && WEXITSTATUS(st) == 0;
        ok = ok && strcmp(out, rows[i].out) == 0;
        char expected[200];
        snprintf(expected, sizeof expected, "course-map %s: %s \"%s\"", rows[i].course,
                 rows[i].err ? "exit 2 saying" : "exit 0 printing",
                 rows[i].err ? rows[i].err : xt_quote(rows[i].out, strlen(rows[i].out)));
        xt_expect(ok, expected, "%s, stdout \"%s\", stderr \"%s\"", xt_status_text(st),
                  xt_quote(out, strlen(out)), xt_quote(err, strlen(err)));
        free(out);
        free(err);
    }
    char *out, *err;
    course_map("--list", &out, &err);
    xt_expect(count_lines_starting(out, "") == 14 && strstr(out, "9\t07\t--reverse\n") &&
                  strstr(out, "16\t12\t\n") && !strstr(out, "\n3\t") && !strstr(out, "17\t"),
              "course-map --list: the 14 course stages that one of ours is graded for",
              "%s", xt_quote(out, strlen(out)));
    free(out);
    free(err);
}

int main(void)
{
    const struct CMUnitTest checks[] = {
        XT_CHECK(our_stage_01_gets_full_marks),
        XT_CHECK(echo_impostor_fails_only_the_reversal_checks),
        XT_CHECK(junit_report_names_the_failure),
        XT_CHECK(json_report_scores_every_check),
        XT_CHECK(grade_all_writes_one_row_per_submission),
        XT_CHECK(new_stage_scaffold_builds_and_fails_clearly),
        XT_CHECK(skeleton_passes_earlier_stages_and_fails_its_own_until_written),
        XT_CHECK(stages_doc_lists_the_checks_as_they_are),
        XT_CHECK(course_layout_starts_the_binary_as_the_tester_does),
        XT_CHECK(our_layout_keeps_the_checks_arguments),
        XT_CHECK(course_layout_our_stage_01_gets_full_marks),
        XT_CHECK(course_layout_fails_a_binary_that_refuses_the_testers_argument),
        XT_CHECK(course_map_names_our_stage_or_says_why_none),
    };
    return xt_run_checks("grader self-test", checks);
}
