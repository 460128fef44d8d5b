/*
 * tests/support/harness.h — black-box test harness for xps stage binaries.
 *
 * What it is: the small toolkit every stage check is written with. A check
 * starts a binary (ours or a student's) in a fresh temporary working
 * directory, waits until its port accepts, talks to it over 127.0.0.1 with
 * deadlines on every read, watches it from /proc (CPU time, RSS, open fds),
 * and stops it. The same checks run under `make test` and `make grade`.
 *
 * Cleanup contract: every process started through this harness is recorded.
 * The per-check teardown (xt_teardown, installed by XT_CHECK) kills whatever
 * is still running, reaps it and removes its working directory, so a check
 * that fails half-way never leaves a server behind. Children also get
 * PR_SET_PDEATHSIG, so they die with the test binary even if it is killed.
 * Each check runs under a watchdog (XT_CHECK_SECONDS, default 60 s): a hang
 * becomes a failure with a message, never a stuck build.
 *
 * Failure contract: functions whose failure means "the check cannot go on"
 * (cannot fork, cannot connect when a connection is required) fail the
 * running CMocka test with a readable message themselves. Functions whose
 * result is what a check observes (recv with a deadline, exit status)
 * return it, and the check compares it with xt_expect().
 *
 * Grading output: every check ends in exactly one line, PASS with what it
 * verified, FAIL with expected and observed (see xt_expect), or SKIP with
 * why it cannot apply in the course's layout. Under `make grade`
 * (XPS_GRADE=1) the runner then prints "score: passed/total".
 *
 * Only 127.0.0.1 is ever contacted; harness-owned servers bind 127.0.0.1.
 */
#ifndef XPS_TESTS_HARNESS_H
#define XPS_TESTS_HARNESS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- checks */

/* One check: a CMocka test with the harness's setup (watchdog, record
 * reset) and teardown (process cleanup, the PASS/FAIL line). */
#define XT_CHECK(fn) cmocka_unit_test_setup_teardown(fn, xt_setup, xt_teardown)

int xt_setup(void **state);
int xt_teardown(void **state);

/* Runs a group of checks and returns the number that failed (the process
 * exit status). `title` names the suite, e.g. "stage 01 (tcp-server)".
 * With XT_LIST set it runs nothing and prints the checks' names instead.
 * Call as: return xt_run_checks("stage 01", checks, N); */
struct CMUnitTest;
int xt_run_checks_n(const char *title, const struct CMUnitTest *checks,
                    size_t count);
#define xt_run_checks(title, checks) \
    xt_run_checks_n((title), (checks), sizeof(checks) / sizeof((checks)[0]))

/* Records one expectation of the running check. When `ok` is false the check
 * fails at once; its report line reads
 *     FAIL  name  expected: <expected>; observed: <observed>
 * When every expectation holds, the line reads
 *     PASS  name  <expected of the last xt_expect>
 * so make the last expectation the one that sums the check up. Write the
 * observed text from what was actually seen (a status, a count, the bytes),
 * so it is true whichever way the comparison goes. */
#define xt_expect(ok, expected, ...) \
    xt_expect_at(__FILE__, __LINE__, (ok), (expected), __VA_ARGS__)
void xt_expect_at(const char *file, int line, bool ok, const char *expected,
                  const char *observed_fmt, ...) __attribute__((format(printf, 5, 6)));

/* The absolute path of `relative`, a file of the repository these checks
 * were built from (e.g. "tests/grader/grade_all"). A static buffer, one of
 * four used in turn (so one call can take up to four). */
const char *xt_repo_path(const char *relative);

/* Prints an aside in the report, e.g. the random seed: "  (text)". */
void xt_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Fails the running check with a message (no expected/observed pair). */
void xt_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Printable, escaped copy of bytes for messages: "ab\n" -> "ab\\n", long
 * inputs shortened with "...". Returns a pointer into one of a few rotating
 * static buffers (valid until the fourth next call). */
const char *xt_quote(const void *bytes, size_t len);

/* ------------------------------------------------------------ processes */

typedef struct xt_proc_s xt_proc_t;

typedef struct xt_start_opts_s {
    const char *fixture_dir; /* copied (recursively) into the working dir, may be NULL */
    bool stdin_pipe;         /* true: the test writes the child's stdin (xt_proc_stdin) */
    const char *const *env;  /* extra "NAME=value" entries, NULL-terminated, may be NULL */
    bool no_stage_flags;     /* true: not xt_set_stage_flags' words (a check that tests
                                what they override) */
} xt_start_opts_t;

/* Starts `bin` with `args` (NULL-terminated, not including argv[0]; may be
 * NULL) in a new temporary working directory, stdout and stderr captured to
 * files there, in its own process group. (The binary under test is started
 * with xt_start_stage() instead, which knows the course's layout.) opts may be NULL. Fails the check
 * if the binary cannot be started. Owned by the harness: stop it with
 * xt_stop() or let teardown kill it. */
xt_proc_t *xt_start(const char *bin, const char *const *args,
                    const xt_start_opts_t *opts);

/* Words (separated by blanks; NULL: none) that xt_start puts before the
 * args whenever it starts the binary under test, for the rest of the run:
 * how a stage runs earlier stages' checks in a mode of its own (stage 21:
 * "--workers 1", since their configs say 4 and those checks count on one
 * process's state). Our layout only; copied. */
void xt_set_stage_flags(const char *flags);

/* The binary under test: $XPS_STAGE_BIN, which `make test` and `make grade`
 * set. Fails the check when it is not set. */
const char *xt_stage_bin(void);

/* ------------------------------------------------------- the two layouts */

/*
 * A check starts the binary under test with xt_start_stage(), which puts it
 * in one of two layouts.
 *
 * Our layout (`make test`, `make grade STAGE=N`): as xt_start(xt_stage_bin(),
 * args, opts): a scratch folder holding a copy of the fixture is the working
 * directory, and the binary gets `args` (none for most stages, the config
 * path for stage 12).
 *
 * The course's layout (`make grade COURSE=N`, $XPS_COURSE=N): the way the
 * eXpServer course's tester starts EVERY stage binary. In its container the
 * binary is /usr/src/app/<name>, run from that folder as
 *     ./<name> /usr/src/public/xps_config.json
 * with the stage's public files in /usr/src/public, i.e. ../public. Here:
 *     <scratch>/            the fixture (public/, temp/, ...), as in ours
 *     <scratch>/public/     + xps_config.json: the tester's configuration
 *                           (tests/fixtures/course/xps_config.json)
 *     <scratch>/build/      a copy of the binary, and its working directory
 * and the binary is started as
 *     ./<name> $XPS_COURSE_FLAGS <scratch>/public/xps_config.json
 * `args` is dropped: calling xt_start_stage() says that they are our
 * layout's spelling of the tester's one argument. A check whose arguments
 * mean something else (another config, a flag of ours) calls
 * xt_skip_in_course_layout() first. $XPS_COURSE_FLAGS is set by `make` for
 * our own binaries only ("--reverse" for stage 07 as course stages 8 and
 * 9): a student's binary is the course's and gets no flag.
 *
 * In both layouts xt_workdir() is the scratch folder (fixture files are
 * found the same way) and the process's stdout and stderr are kept there.
 */

/* Starts the binary under test in the layout of this run (see above). */
xt_proc_t *xt_start_stage(const char *const *args, const xt_start_opts_t *opts);

/* Whether this run grades in the course's layout ($XPS_COURSE is set). */
bool xt_course_layout(void);

/* In the course's layout, ends the running check as SKIPPED, its report
 * line "SKIP <name> <why>"; in ours, does nothing. `why` says why the check
 * cannot apply when the tester's invocation is the only one, e.g. "starts
 * the binary with --port, a flag of ours". Skipped checks count neither as
 * passed nor as failed. */
void xt_skip_in_course_layout(const char *why);

/* Ends the running check as SKIPPED, in any layout, its report line "SKIP
 * <name> <why>": for a check whose tool cannot run on this machine (`why`
 * says what is missing and how to get it), never for a failure of the
 * binary under test. */
void xt_skip(const char *why);

/* Re-arms the running check's watchdog to `seconds` from now (instead of
 * XT_CHECK_SECONDS): for a check that builds something before it looks. */
void xt_watchdog(int seconds);

/* One of our own helper binaries built beside the checks ("stage-01",
 * "test-upstream"): <build>/bin/<name>, found relative to this executable. */
const char *xt_our_bin(const char *name);

/* Waits until 127.0.0.1:port accepts a connection. Fails the check with the
 * process's exit status and stderr if it exits first, or after timeout_ms. */
void xt_wait_port(xt_proc_t *p, uint16_t port, int timeout_ms);

/* Fails the check unless nothing is listening on 127.0.0.1:port, naming the
 * port: run before starting a server on a fixed port. */
void xt_require_port_free(uint16_t port);

/* Waits up to timeout_ms for the process to exit. Returns true when it has;
 * *status gets the wait status. */
bool xt_wait_exit(xt_proc_t *p, int timeout_ms, int *status);

/* Stops the process: sends `sig` to its process group, waits up to
 * timeout_ms, then SIGKILL. Returns the wait status. Safe to call twice. */
int xt_stop(xt_proc_t *p, int sig, int timeout_ms);

/* "exited with status 1", "killed by signal 9 (Killed)", "still running". */
const char *xt_status_text(int wait_status);

bool xt_alive(xt_proc_t *p);
pid_t xt_pid(const xt_proc_t *p);
/* The process that serves, for measuring it (descriptors, RSS, CPU): the
 * binary's own, or, when it has exactly one child — a stage 21 master
 * with `workers: 1` — that child (read from /proc/PID/task/PID/children
 * at each call: a replaced worker is the new one). */
pid_t xt_serving_pid(const xt_proc_t *p);
const char *xt_workdir(const xt_proc_t *p);

/* Write end of the child's stdin (opts.stdin_pipe) and closing it (EOF). */
int xt_proc_stdin(xt_proc_t *p);
void xt_close_stdin(xt_proc_t *p);

/* Everything the process has written to stdout / stderr so far, NUL-
 * terminated, malloc'd: the caller frees. */
char *xt_stdout(const xt_proc_t *p);
char *xt_stderr(const xt_proc_t *p);

/* Runs `bin args` (as xt_start, opts may be NULL) to its end, at most
 * timeout_ms (then killed, and said so in the text); *status gets its
 * wait status. Returns what it printed, stdout then stderr, malloc'd. */
char *xt_run_to_exit(const char *bin, const char *const *args, const xt_start_opts_t *opts,
                     int timeout_ms, int *status);

/* ------------------------------------------------------------- /proc */

double xt_cpu_seconds(pid_t pid); /* user + system time; -1 if unreadable */
long xt_rss_kib(pid_t pid);       /* VmRSS in KiB; -1 if unreadable */
long xt_minor_faults(pid_t pid);  /* page faults served without I/O so far; -1 if unreadable */
int xt_fd_count(pid_t pid);       /* entries in /proc/pid/fd; -1 if unreadable */

/* ------------------------------------------------------------- sockets */

#define XT_TIMEOUT (-1) /* recv helpers: deadline passed */
#define XT_ERROR (-2)   /* recv helpers: error, e.g. ECONNRESET (errno kept) */

/* Connection to 127.0.0.1:port (a blocking socket once connected); fails the
 * check when refused or when the handshake does not complete within 3 s. */
int xt_connect(uint16_t port);
/* Same, but returns -errno (-ECONNREFUSED, -ETIMEDOUT) instead of failing. */
int xt_try_connect(uint16_t port);
/* A connection to 127.0.0.1:port from the local address `source`
 * ("127.0.0.2": a second client on one machine, for the IP filter), or to
 * [::1]:port when source is "::1". Fails the check when it cannot connect. */
int xt_connect_from(const char *source, uint16_t port);

/* Sends every byte (loops over partial writes); MSG_NOSIGNAL. Returns true
 * on success, false if the peer is gone (errno kept). */
bool xt_send_all(int fd, const void *buf, size_t len);

/* One recv() of up to cap bytes within timeout_ms: > 0 bytes, 0 on EOF,
 * XT_TIMEOUT or XT_ERROR. */
ssize_t xt_recv_deadline(int fd, void *buf, size_t cap, int timeout_ms);

/* Receives until `len` bytes, EOF, error or the deadline. Returns the byte
 * count received (may be short); *why gets 0 (complete), 0 (EOF: see count),
 * XT_TIMEOUT or XT_ERROR when short. why may be NULL. */
size_t xt_recv_exact(int fd, void *buf, size_t len, int timeout_ms, int *why);

/* Receives until `delim` has arrived (it is included), cap-1 bytes, EOF or
 * the deadline; buf is NUL-terminated. Returns bytes stored. */
size_t xt_read_until(int fd, char *buf, size_t cap, const char *delim,
                     int timeout_ms);

/* Receives until EOF or the deadline. Returns bytes stored; *eof tells
 * whether the peer closed (may be NULL). */
size_t xt_recv_until_eof(int fd, void *buf, size_t cap, int timeout_ms,
                         bool *eof);

/* Closes with SO_LINGER 0 so the peer gets a RST: an abrupt disconnect. */
void xt_close_abort(int fd);

/* Fills buf with len random printable characters (no '\n'); seeded once per
 * run, seed printed so a failure can be reproduced with XT_SEED=n. */
void xt_random_text(char *buf, size_t len);

/* Monotonic milliseconds, for measuring in checks. */
int64_t xt_now_ms(void);
void xt_sleep_ms(int ms);

/* ------------------------------------------------------ test upstream */

/* Starts our test upstream (build/bin/test-upstream) on 127.0.0.1:port.
 * mode "http": answers GET /test/N with a body naming N (see upstream.h);
 * mode "echo": sends back every byte it receives. Waits until it accepts. */
xt_proc_t *xt_upstream_start(uint16_t port, const char *mode);

#ifdef __cplusplus
}
#endif

#endif /* XPS_TESTS_HARNESS_H */
