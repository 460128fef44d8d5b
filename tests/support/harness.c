/*
 * tests/support/harness.c — the check runner and process control of
 * harness.h (sockets and /proc probes are in net.c).
 *
 * The runner is CMocka underneath, with one PASS/FAIL line per check on top.
 * Process control is fork/exec in a scratch directory, with every child
 * recorded so teardown can kill it whatever happened in the check.
 */
#define _GNU_SOURCE
#include "tests/support/harness.h"
#include "tests/support/course.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

/* ------------------------------------------------------------ state */

struct xt_proc_s {
    pid_t pid;          /* the child; also its process group id */
    bool reaped;        /* waitpid has collected it */
    int status;         /* wait status once reaped */
    int stdin_fd;       /* write end of its stdin pipe, or -1 */
    char workdir[PATH_MAX];  /* the scratch folder: fixture, logs; removed at teardown */
    char cwd[PATH_MAX + 16]; /* where it runs: workdir, or workdir/build (course layout) */
};

enum { MAX_PROCS = 64 };

/* The running check: what teardown needs to print its line. */
typedef struct {
    const char *name;          /* check (function) name */
    void (*fn)(void **state);  /* the check itself, called by trampoline() */
} check_entry;

static struct {
    xt_proc_t *procs[MAX_PROCS]; /* started and not yet cleaned up */
    const char *check_name;      /* the check now running */
    bool completed;              /* it returned without failing */
    bool skipped;                /* it was skipped (xt_skip_in_course_layout) */
    char skip_why[300];          /* ...and why */
    char expected[512];          /* last xt_expect() texts */
    char observed[512];
    int passed, total, skips;    /* for the score line */
    FILE *report;                /* where PASS/FAIL lines go */
    bool grading;                /* XPS_GRADE=1: report only, CMocka quiet */
    FILE *json;                  /* XT_JSON_REPORT: the autograder report, or NULL */
    int json_tests;              /* entries written to it so far */
} H;

/* ------------------------------------------------------------ messages */

const char *xt_quote(const void *bytes, size_t len)
{
    static char rings[4][600];
    static unsigned next;
    char *out = rings[next++ % 4];
    const unsigned char *b = bytes;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (o > sizeof rings[0] - 16) {
            o += (size_t)snprintf(out + o, 16, "...(%zu B)", len);
            break;
        }
        unsigned char c = b[i];
        if (c == '\n') { out[o++] = '\\'; out[o++] = 'n'; }
        else if (c == '\r') { out[o++] = '\\'; out[o++] = 'r'; }
        else if (c == '\t') { out[o++] = '\\'; out[o++] = 't'; }
        else if (c == '"' || c == '\\') { out[o++] = '\\'; out[o++] = (char)c; }
        else if (c < 0x20 || c >= 0x7f) o += (size_t)snprintf(out + o, 8, "\\x%02x", c);
        else out[o++] = (char)c;
    }
    out[o] = '\0';
    return out;
}

/* Fails the running check: CMocka longjmps back to its runner. In CMocka's
 * plain-text mode our FAIL line says everything; in its other modes (JUnit
 * XML, TAP, subunit) the message goes into its report too. */
static void fail_now(const char *file, int line) __attribute__((noreturn));
static void fail_now(const char *file, int line)
{
    const char *mode = getenv("CMOCKA_MESSAGE_OUTPUT");
    if (mode && strcasecmp(mode, "stdout") != 0) {
        /* _assert_true's "expression" text is what CMocka 1.1 puts in the
         * report's failure message (print_error would only reach stderr). */
        static char message[1100];
        snprintf(message, sizeof message, "expected: %s; observed: %s", H.expected, H.observed);
        _assert_true(0, message, file, line);
    }
    _fail(file, line);
    abort(); /* _fail longjmps back into CMocka; never reached */
}

void xt_expect_at(const char *file, int line, bool ok, const char *expected,
                  const char *observed_fmt, ...)
{
    snprintf(H.expected, sizeof H.expected, "%s", expected);
    va_list ap;
    va_start(ap, observed_fmt);
    vsnprintf(H.observed, sizeof H.observed, observed_fmt, ap);
    va_end(ap);
    if (!ok)
        fail_now(file, line);
}

void xt_note(const char *fmt, ...)
{
    FILE *to = H.report ? H.report : stdout;
    va_list ap;
    va_start(ap, fmt);
    fputs("  (", to);
    vfprintf(to, fmt, ap);
    fputs(")\n", to);
    va_end(ap);
}

void xt_fail(const char *fmt, ...)
{
    snprintf(H.expected, sizeof H.expected, "the check to run to the end");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(H.observed, sizeof H.observed, fmt, ap);
    va_end(ap);
    fail_now(__FILE__, __LINE__);
}

/* --------------------------------------------------------- the runner */

static int check_seconds(void)
{
    const char *s = getenv("XT_CHECK_SECONDS");
    int n = s ? atoi(s) : 0;
    return n > 0 ? n : 60;
}

/* The watchdog: a check that has not finished in time fails. CMocka itself
 * longjmps out of its signal handlers the same way; SA_NODEFER keeps SIGALRM
 * deliverable for the next check after that longjmp. */
static int watchdog_seconds; /* the running check's: check_seconds(), or xt_watchdog's */

static void on_watchdog(int sig)
{
    (void)sig;
    xt_fail("the check was still running after %d s (a hang: a reply that never came?)",
            watchdog_seconds);
}

/* Descriptors open when the check began; teardown closes any other, so a
 * socket a failed check left open (say, a listener on 3000) cannot break
 * the next check. */
static unsigned char fds_at_setup[1024 / 8];

static void for_each_open_fd(void (*fn)(int fd))
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return;
    int skip = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && atoi(e->d_name) != skip)
            fn(atoi(e->d_name));
    closedir(d);
}

static void note_fd(int fd)
{
    if (fd < 1024)
        fds_at_setup[fd / 8] |= (unsigned char)(1u << (fd % 8));
}

static void close_if_new(int fd)
{
    if (fd >= 1024 || !(fds_at_setup[fd / 8] & (1u << (fd % 8))))
        close(fd);
}

int xt_setup(void **state)
{
    memset(fds_at_setup, 0, sizeof fds_at_setup);
    for_each_open_fd(note_fd);
    const check_entry *e = *state;
    H.check_name = e->name;
    H.completed = false;
    H.skipped = false;
    snprintf(H.expected, sizeof H.expected, "(no expectation recorded)");
    H.observed[0] = '\0';
    watchdog_seconds = check_seconds();
    alarm((unsigned)watchdog_seconds);
    return 0;
}

static void trampoline(void **state)
{
    const check_entry *e = *state;
    *state = NULL;
    e->fn(state);
    H.completed = true;
}

static void remove_tree(const char *dir);

/* ------------------------------------------------- the JSON report
 * XT_JSON_REPORT=path (`make grade FORMAT=json`) writes, besides the PASS
 * and FAIL lines, the report autograders read (Gradescope's results.json
 * shape): {"score", "max_score", "tests": [{"name", "status", "score",
 * "max_score", "output"}]}. Each check is worth 1. A skipped check, which
 * cannot apply in the course's layout, has status "skipped" and is worth
 * 0, so it adds nothing to max_score either. */

static void json_string(FILE *f, const char *text)
{
    fputc('"', f);
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        if (*c == '"' || *c == '\\')
            fprintf(f, "\\%c", *c);
        else if (*c == '\n')
            fputs("\\n", f);
        else if (*c < 0x20 || *c == 0x7f)
            fprintf(f, "\\u%04x", *c);
        else
            fputc(*c, f); /* UTF-8 passes as it is */
    }
    fputc('"', f);
}

static void json_begin(const char *title)
{
    const char *path = getenv("XT_JSON_REPORT");
    if (!path || !*path)
        return;
    H.json = fopen(path, "w");
    if (!H.json) {
        fprintf(stderr, "cannot write the JSON report %s: %s\n", path, strerror(errno));
        exit(2);
    }
    fputs("{\n  \"title\": ", H.json);
    json_string(H.json, title);
    fputs(",\n  \"tests\": [", H.json);
}

static void json_test_entry(void)
{
    if (!H.json)
        return;
    char output[1400];
    const char *status = H.skipped ? "skipped" : H.completed ? "passed" : "failed";
    if (H.skipped)
        snprintf(output, sizeof output, "skipped: %s", H.skip_why);
    else if (H.completed)
        snprintf(output, sizeof output, "expected: %s", H.expected);
    else
        snprintf(output, sizeof output, "expected: %s\nobserved: %s", H.expected,
                 H.observed[0] ? H.observed : "(nothing)");
    fprintf(H.json, "%s\n    {\"name\": ", H.json_tests++ ? "," : "");
    json_string(H.json, H.check_name);
    fprintf(H.json, ", \"status\": \"%s\", \"score\": %d, \"max_score\": %d, \"output\": ",
            status, H.completed ? 1 : 0, H.skipped ? 0 : 1);
    json_string(H.json, output);
    fputc('}', H.json);
    fflush(H.json);
}

static void json_end(void)
{
    if (!H.json)
        return;
    fprintf(H.json, "\n  ],\n  \"score\": %d,\n  \"max_score\": %d\n}\n", H.passed, H.total);
    fclose(H.json);
    H.json = NULL;
}

/* After a failed check: the end of each process's stderr, which is where a
 * server says why it stopped (or a sanitizer says what went wrong). */
static void show_stderr_tails(void)
{
    for (int i = 0; i < MAX_PROCS; i++) {
        xt_proc_t *p = H.procs[i];
        if (!p)
            continue;
        char *err = xt_stderr(p);
        size_t len = strlen(err), from = len > 1500 ? len - 1500 : 0;
        if (len > 0)
            fprintf(H.report, "        stderr of pid %d (%s), last %zu bytes:\n%s%s",
                    (int)p->pid, xt_status_text(p->status), len - from, err + from,
                    err[len - 1] == '\n' ? "" : "\n");
        free(err);
    }
}

static void cleanup_procs(void)
{
    for (int i = 0; i < MAX_PROCS; i++) {
        xt_proc_t *p = H.procs[i];
        if (!p)
            continue;
        xt_stop(p, SIGKILL, 2000);
        if (p->stdin_fd >= 0)
            close(p->stdin_fd);
        if (!getenv("XT_KEEP"))
            remove_tree(p->workdir);
        free(p);
        H.procs[i] = NULL;
    }
}

int xt_teardown(void **state)
{
    (void)state;
    alarm(0);
    /* SIGTERM first, so a server gets the chance to shut down as it would in
     * real life; cleanup_procs() then makes sure with SIGKILL. */
    for (int i = 0; i < MAX_PROCS; i++)
        if (H.procs[i])
            xt_stop(H.procs[i], SIGTERM, 2000);
    H.total += !H.skipped;
    H.passed += H.completed;
    H.skips += H.skipped;
    if (H.skipped)
        fprintf(H.report, "  SKIP  %-40s %s\n", H.check_name, H.skip_why);
    else if (H.completed)
        fprintf(H.report, "  PASS  %-40s %s\n", H.check_name, H.expected);
    else
        fprintf(H.report, "  FAIL  %-40s expected: %s; observed: %s\n", H.check_name,
                H.expected, H.observed[0] ? H.observed : "(nothing)");
    if (!H.completed && !H.skipped)
        show_stderr_tails();
    json_test_entry();
    fflush(H.report);
    cleanup_procs();
    for_each_open_fd(close_if_new);
    return 0;
}

/* Under `make grade`, the line that says how the binary is started. */
static void announce_layout(void)
{
    const xt_course_step_t *step = xt_course_active();
    const char *flags = getenv("XPS_COURSE_FLAGS");
    if (step)
        fprintf(H.report, "  as the course's stage %d (%s), in the course's layout: "
                "./<binary> %s%s<scratch>/public/xps_config.json, run from <scratch>/build\n",
                step->course, step->title, flags ? flags : "", flags && *flags ? " " : "");
}

int xt_run_checks_n(const char *title, const struct CMUnitTest *checks, size_t count)
{
    if (getenv("XT_LIST")) { /* the names only, one per line (docs/stages.md is made so) */
        for (size_t i = 0; i < count; i++)
            printf("%s\n", checks[i].name);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0); /* keep our lines in order with CMocka's */
    struct sigaction sa = {0};
    sa.sa_handler = on_watchdog;
    sa.sa_flags = SA_NODEFER;
    sigaction(SIGALRM, &sa, NULL);
    atexit(cleanup_procs);

    xt_course_active(); /* a wrong $XPS_COURSE stops the run here, before any check */
    H.report = stdout;
    H.grading = getenv("XPS_GRADE") && strcmp(getenv("XPS_GRADE"), "1") == 0;
    if (H.grading) {
        /* The grade report is ours alone: CMocka's own lines go to /dev/null
         * (its JUnit XML, if asked for, still goes to its file). */
        fflush(stdout);
        H.report = fdopen(dup(STDOUT_FILENO), "w");
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, STDOUT_FILENO);
        dup2(devnull, STDERR_FILENO);
        close(devnull);
        const char *bin = getenv("XPS_STAGE_BIN");
        fprintf(H.report, "grading %s: %s\n", title, bin ? bin : "(XPS_STAGE_BIN not set)");
        announce_layout();
    }

    check_entry *entries = calloc(count, sizeof *entries);
    struct CMUnitTest *wrapped = calloc(count, sizeof *wrapped);
    for (size_t i = 0; i < count; i++) {
        entries[i].name = checks[i].name;
        entries[i].fn = checks[i].test_func;
        wrapped[i] = checks[i];
        wrapped[i].test_func = trampoline;
        wrapped[i].initial_state = &entries[i];
    }
    json_begin(title);
    int failed = _cmocka_run_group_tests(title, wrapped, count, NULL, NULL);
    json_end();
    free(wrapped);
    free(entries);

    if (H.grading && H.skips)
        fprintf(H.report, "score: %d/%d checks passed%s; %d skipped (they cannot apply in the "
                "course's layout: see the SKIP lines)\n", H.passed, H.total,
                H.passed == H.total ? "" : " — see the FAIL lines above", H.skips);
    else if (H.grading)
        fprintf(H.report, "score: %d/%d checks passed%s\n", H.passed, H.total,
                H.passed == H.total ? "" : " — see the FAIL lines above");
    fflush(H.report);
    return failed;
}

/* ------------------------------------------------------------ paths */

static const char *self_dir(void)
{
    static char dir[PATH_MAX];
    if (!dir[0]) {
        ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
        if (n <= 0)
            xt_fail("cannot read /proc/self/exe: %s", strerror(errno));
        dir[n] = '\0';
        *strrchr(dir, '/') = '\0';
    }
    return dir;
}

const char *xt_our_bin(const char *name)
{
    static char paths[4][PATH_MAX];
    static unsigned next;
    char *out = paths[next++ % 4];
    snprintf(out, PATH_MAX, "%s/../bin/%s", self_dir(), name);
    if (access(out, X_OK) != 0)
        xt_fail("our helper binary %s is missing (run `make`)", out);
    return out;
}

const char *xt_stage_bin(void)
{
    const char *bin = getenv("XPS_STAGE_BIN");
    if (!bin || !*bin)
        xt_fail("XPS_STAGE_BIN is not set: run the checks through `make test` or "
                "`make grade STAGE=N [BIN=path]`");
    return bin;
}

/* The repository root: the nearest parent of this executable that holds
 * tests/support/harness.h. Fixture paths are relative to it. */
static const char *repo_root(void)
{
    static char root[PATH_MAX];
    if (root[0])
        return root;
    snprintf(root, sizeof root, "%s", self_dir());
    for (;;) {
        char probe[PATH_MAX + 32];
        snprintf(probe, sizeof probe, "%s/tests/support/harness.h", root);
        if (access(probe, R_OK) == 0)
            return root;
        char *slash = strrchr(root, '/');
        if (!slash || slash == root)
            xt_fail("cannot find the repository root above %s", self_dir());
        *slash = '\0';
    }
}

const char *xt_repo_path(const char *relative)
{
    static char paths[4][PATH_MAX + 64];
    static unsigned next;
    char *out = paths[next++ % 4];
    snprintf(out, sizeof paths[0], "%s/%s", repo_root(), relative);
    return out;
}

/* ------------------------------------------------------------ processes */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st; (void)flag; (void)ftw;
    remove(path);
    return 0;
}

static void remove_tree(const char *dir)
{
    if (dir[0])
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Runs `cp <flag> src dst`; fails the check if it does not succeed. */
static void copy_path(const char *flag, const char *src, const char *dst)
{
    pid_t pid = fork();
    if (pid == 0) {
        execlp("cp", "cp", flag, src, dst, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        xt_fail("could not copy %s to %s", src, dst);
}

static void copy_fixture(const char *fixture, const char *workdir)
{
    char src[PATH_MAX * 2];
    if (fixture[0] == '/')
        snprintf(src, sizeof src, "%s/.", fixture);
    else
        snprintf(src, sizeof src, "%s/%s/.", repo_root(), fixture);
    copy_path("-R", src, workdir);
}

static void register_proc(xt_proc_t *p)
{
    for (int i = 0; i < MAX_PROCS; i++) {
        if (!H.procs[i]) {
            H.procs[i] = p;
            return;
        }
    }
    xt_fail("more than %d processes started in one check", MAX_PROCS);
}

/* In the child, between fork and exec. Only async-signal-safe calls. The
 * logs are opened by their absolute paths: in the course's layout the
 * working directory is not the scratch folder that keeps them. */
static void exec_child(const char *bin, char *const argv[], char *const envp[], const char *cwd,
                       const char *const logs[2], int stdin_fd, int report_fd)
{
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGALRM, SIG_DFL);
    if (chdir(cwd) != 0)
        goto fail;
    int out = open(logs[0], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = open(logs[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0 || err < 0)
        goto fail;
    dup2(stdin_fd, STDIN_FILENO);
    dup2(out, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    /* A clean descriptor table: only 0, 1, 2 and the report pipe (which is
     * close-on-exec), whatever the test process or its parent held open. So
     * a check's fd counts mean the same everywhere. */
    if (report_fd > 3)
        close_range(3, (unsigned)report_fd - 1, 0);
    close_range((unsigned)report_fd + 1, ~0U, 0);
    execve(bin, argv, envp);
fail:;
    int e = errno;
    ssize_t ignored = write(report_fd, &e, sizeof e);
    (void)ignored;
    _exit(127);
}

/* A new process record and its scratch folder, the fixture copied in; it
 * will run in that folder unless the caller changes p->cwd. */
static xt_proc_t *new_proc(const xt_start_opts_t *opts)
{
    xt_proc_t *p = calloc(1, sizeof *p);
    p->stdin_fd = -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(p->workdir, sizeof p->workdir, "%s/xps-check-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(p->workdir)) {
        free(p);
        xt_fail("cannot create a scratch directory: %s", strerror(errno));
    }
    register_proc(p);
    if (opts->fixture_dir)
        copy_fixture(opts->fixture_dir, p->workdir);
    snprintf(p->cwd, sizeof p->cwd, "%s", p->workdir);
    return p;
}

/* Forks and execs `exe` (argv[0] as given) in p->cwd, with opts' stdin and
 * environment; fails the check if it cannot be started. */
static xt_proc_t *spawn(xt_proc_t *p, const char *exe, char *const argv[],
                        const xt_start_opts_t *opts)
{
    /* Logs and environment, built before fork so the child only execs. */
    char out_log[PATH_MAX + 16], err_log[PATH_MAX + 16];
    snprintf(out_log, sizeof out_log, "%s/stdout.log", p->workdir);
    snprintf(err_log, sizeof err_log, "%s/stderr.log", p->workdir);
    const char *const logs[2] = {out_log, err_log};
    extern char **environ;
    size_t n_env = 0, n_extra = 0;
    while (environ[n_env]) n_env++;
    while (opts->env && opts->env[n_extra]) n_extra++;
    /* Extras first: getenv() takes the first match, so they override. */
    char **envp = calloc(n_env + n_extra + 1, sizeof *envp);
    for (size_t i = 0; i < n_extra; i++)
        envp[i] = (char *)opts->env[i];
    memcpy(envp + n_extra, environ, n_env * sizeof *envp);

    int in_pipe[2] = {-1, -1};
    int report[2];
    if ((opts->stdin_pipe && pipe2(in_pipe, O_CLOEXEC) != 0) || pipe2(report, O_CLOEXEC) != 0)
        xt_fail("pipe: %s", strerror(errno));
    int child_stdin = opts->stdin_pipe ? in_pipe[0] : open("/dev/null", O_RDONLY | O_CLOEXEC);

    p->pid = fork();
    if (p->pid < 0)
        xt_fail("fork: %s", strerror(errno));
    if (p->pid == 0)
        exec_child(exe, argv, envp, p->cwd, logs, child_stdin, report[1]);
    setpgid(p->pid, p->pid); /* also here: no race with an early killpg */
    free(envp);
    close(report[1]);
    close(child_stdin);
    p->stdin_fd = in_pipe[1];

    int child_errno = 0;
    ssize_t got = read(report[0], &child_errno, sizeof child_errno);
    close(report[0]);
    if (got == (ssize_t)sizeof child_errno)
        xt_fail("cannot start %s: %s", exe, strerror(child_errno));
    return p;
}

enum { MAX_ARGS = 64 };

static char stage_flags[256];

void xt_set_stage_flags(const char *flags)
{
    snprintf(stage_flags, sizeof stage_flags, "%s", flags ? flags : "");
}

xt_proc_t *xt_start(const char *bin, const char *const *args, const xt_start_opts_t *opts)
{
    static const xt_start_opts_t none = {0};
    if (!opts)
        opts = &none;
    xt_proc_t *p = new_proc(opts);
    char *argv[MAX_ARGS];
    int argc = 0;
    argv[argc++] = (char *)bin;
    static char words[sizeof stage_flags];
    snprintf(words, sizeof words, "%s", stage_flags);
    const char *stage = getenv("XPS_STAGE_BIN");
    if (words[0] && !opts->no_stage_flags && stage && strcmp(bin, stage) == 0)
        for (char *save = NULL, *w = strtok_r(words, " ", &save); w && argc < MAX_ARGS - 2;
             w = strtok_r(NULL, " ", &save))
            argv[argc++] = w;
    for (int i = 0; args && args[i] && argc < MAX_ARGS - 1; i++)
        argv[argc++] = (char *)args[i];
    argv[argc] = NULL;
    return spawn(p, bin, argv, opts);
}

/* ------------------------------------------------------- course layout */

bool xt_course_layout(void)
{
    return xt_course_active() != NULL;
}

void xt_skip(const char *why)
{
    H.skipped = true;
    snprintf(H.skip_why, sizeof H.skip_why, "%s", why);
    skip(); /* CMocka's: longjmps back to its runner, the check counted as skipped */
}

void xt_watchdog(int seconds)
{
    watchdog_seconds = seconds > 0 ? seconds : 1;
    alarm((unsigned)watchdog_seconds);
}

void xt_skip_in_course_layout(const char *why)
{
    if (xt_course_layout())
        xt_skip(why);
}

/* Builds the course's layout in p's scratch folder (see harness.h) for
 * `bin`: build/<name> and public/xps_config.json. *exe gets the copy's
 * path, *config the configuration's; p will run in build/. */
static void make_course_layout(xt_proc_t *p, const char *bin, char *exe, char *config)
{
    const char *slash = strrchr(bin, '/');
    const char *name = slash ? slash + 1 : bin;
    char tester_config[PATH_MAX + 64];
    snprintf(p->cwd, sizeof p->cwd, "%s/build", p->workdir);
    snprintf(config, PATH_MAX + 32, "%s/public", p->workdir);
    if (mkdir(p->cwd, 0755) != 0 || (mkdir(config, 0755) != 0 && errno != EEXIST))
        xt_fail("cannot make the course's layout in %s: %s", p->workdir, strerror(errno));
    snprintf(exe, PATH_MAX + 32, "%s/%s", p->cwd, name);
    copy_path("-p", bin, exe);
    snprintf(config, PATH_MAX + 32, "%s/public/xps_config.json", p->workdir);
    snprintf(tester_config, sizeof tester_config, "%s/tests/fixtures/course/xps_config.json",
             repo_root());
    copy_path("-p", tester_config, config);
    chmod(config, 0644); /* world-readable, as the tester's own files */
}

xt_proc_t *xt_start_stage(const char *const *args, const xt_start_opts_t *opts)
{
    static const xt_start_opts_t none = {0};
    if (!xt_course_layout())
        return xt_start(xt_stage_bin(), args, opts);
    if (!opts)
        opts = &none;
    const char *bin = xt_stage_bin();
    xt_proc_t *p = new_proc(opts);
    static char exe[PATH_MAX + 32], config[PATH_MAX + 32], dot_name[PATH_MAX + 4], flags[512];
    make_course_layout(p, bin, exe, config);
    snprintf(dot_name, sizeof dot_name, "./%s", strrchr(exe, '/') + 1);
    char *argv[MAX_ARGS] = {dot_name};
    int argc = 1;
    /* $XPS_COURSE_FLAGS: words separated by spaces (make sets "--reverse"),
     * before the path, which stays last as the tester has it. */
    const char *given = getenv("XPS_COURSE_FLAGS");
    snprintf(flags, sizeof flags, "%s", given ? given : "");
    for (char *save = NULL, *w = strtok_r(flags, " ", &save); w && argc < MAX_ARGS - 2;
         w = strtok_r(NULL, " ", &save))
        argv[argc++] = w;
    argv[argc++] = config;
    argv[argc] = NULL;
    return spawn(p, exe, argv, opts);
}

static bool try_reap(xt_proc_t *p)
{
    if (p->reaped)
        return true;
    int status;
    pid_t r = waitpid(p->pid, &status, WNOHANG);
    if (r == p->pid) {
        p->reaped = true;
        p->status = status;
        kill(-p->pid, SIGKILL); /* anything it forked and left behind */
    }
    return p->reaped;
}

bool xt_wait_exit(xt_proc_t *p, int timeout_ms, int *status)
{
    int64_t deadline = xt_now_ms() + timeout_ms;
    while (!try_reap(p) && xt_now_ms() < deadline)
        xt_sleep_ms(5);
    if (p->reaped && status)
        *status = p->status;
    return p->reaped;
}

int xt_stop(xt_proc_t *p, int sig, int timeout_ms)
{
    if (!try_reap(p)) {
        kill(-p->pid, sig);
        if (!xt_wait_exit(p, timeout_ms, NULL)) {
            kill(-p->pid, SIGKILL);
            waitpid(p->pid, &p->status, 0);
            p->reaped = true;
        }
    }
    return p->status;
}

const char *xt_status_text(int st)
{
    static char rings[4][96];
    static unsigned next;
    char *out = rings[next++ % 4];
    if (WIFEXITED(st))
        snprintf(out, 96, "exited with status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(out, 96, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    else
        snprintf(out, 96, "still running");
    return out;
}

bool xt_alive(xt_proc_t *p) { return !try_reap(p); }
pid_t xt_pid(const xt_proc_t *p) { return p->pid; }

pid_t xt_serving_pid(const xt_proc_t *p)
{
    char path[64], list[256];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)p->pid, (int)p->pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return p->pid;
    size_t n = fread(list, 1, sizeof list - 1, f);
    fclose(f);
    list[n] = '\0';
    int child = 0, more = 0;
    int fields = sscanf(list, "%d %d", &child, &more);
    return fields == 1 && child > 0 ? (pid_t)child : p->pid;
}
const char *xt_workdir(const xt_proc_t *p) { return p->workdir; }
int xt_proc_stdin(xt_proc_t *p) { return p->stdin_fd; }

void xt_close_stdin(xt_proc_t *p)
{
    if (p->stdin_fd >= 0)
        close(p->stdin_fd);
    p->stdin_fd = -1;
}

static char *slurp(const char *dir, const char *name)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (f) {
        size_t n;
        while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
            len += n;
            if (cap - len < 2)
                buf = realloc(buf, cap *= 2);
        }
        fclose(f);
    }
    buf[len] = '\0';
    return buf;
}

char *xt_stdout(const xt_proc_t *p) { return slurp(p->workdir, "stdout.log"); }
char *xt_stderr(const xt_proc_t *p) { return slurp(p->workdir, "stderr.log"); }

char *xt_run_to_exit(const char *bin, const char *const *args, const xt_start_opts_t *opts,
                     int timeout_ms, int *status)
{
    xt_proc_t *p = xt_start(bin, args, opts);
    if (!xt_wait_exit(p, timeout_ms, status)) {
        *status = xt_stop(p, SIGKILL, 1000);
        char text[96];
        snprintf(text, sizeof text, "(still running after %d ms: killed)", timeout_ms);
        return strdup(text);
    }
    char *out = xt_stdout(p), *err = xt_stderr(p);
    size_t n = strlen(out) + strlen(err) + 1;
    char *both = malloc(n);
    snprintf(both, n, "%s%s", out, err);
    free(out);
    free(err);
    return both;
}

xt_proc_t *xt_upstream_start(uint16_t port, const char *mode)
{
    char port_text[8];
    snprintf(port_text, sizeof port_text, "%u", port);
    const char *args[] = {"--port", port_text, "--mode", mode, NULL};
    xt_require_port_free(port);
    xt_proc_t *p = xt_start(xt_our_bin("test-upstream"), args, NULL);
    xt_wait_port(p, port, 5000);
    return p;
}
