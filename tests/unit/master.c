/*
 * tests/unit/master.c — modules/master/xps_master.h with real processes.
 * Each test forks a master (xps_master_run in a child of the test) whose
 * workers report on a pipe: "start <generation> <index> <pid>" when they
 * begin, "term <pid>" when SIGTERM reaches them. What is checked: N
 * workers start and a SIGTERM drains them all (master exit 0, no worker
 * left); a worker killed with SIGKILL is replaced at once; a worker that
 * dies at start is restarted with growing pauses (a handful of forks, not
 * thousands); a worker that ignores SIGTERM is killed after the drain
 * time; SIGHUP starts a new generation and drains the old when the reload
 * succeeds, and changes nothing when it fails.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/xps.h"
#include "modules/master/xps_master.h"

enum mode { SERVE, CRASH, IGNORE_TERM };

typedef struct {
    int report;         /* write end of the pipe */
    enum mode mode;
    const char *reload_ok_file; /* reload succeeds while this file exists */
} world_t;

static int report_fd = -1;

static void on_term(int sig)
{
    (void)sig;
    char line[64];
    int n = snprintf(line, sizeof line, "term %d\n", (int)getpid());
    (void)!write(report_fd, line, (size_t)n);
    _exit(0);
}

static int worker_main(void *data, int index, int generation)
{
    world_t *w = data;
    report_fd = w->report;
    /* the handler first: a SIGTERM sent as soon as "start" is read must find it */
    signal(SIGTERM, w->mode == IGNORE_TERM ? SIG_IGN : on_term);
    char line[96];
    int n = snprintf(line, sizeof line, "start %d %d %d\n", generation, index, (int)getpid());
    (void)!write(w->report, line, (size_t)n);
    if (w->mode == CRASH)
        return 3;
    for (;;)
        pause();
}

static int reload(void *data, char *err, size_t err_size)
{
    world_t *w = data;
    if (access(w->reload_ok_file, F_OK) == 0)
        return XPS_OK;
    snprintf(err, err_size, "%s: no such file (the test's stand-in for a bad config)",
             w->reload_ok_file);
    return XPS_E_INVAL;
}

typedef struct {
    pid_t master;
    int read_fd;
    char buf[16384];
    size_t len;
    world_t world;
    char ok_file[64];
} run_t;

static void start_master(run_t *r, int workers, enum mode mode, uint64_t drain_ms)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    r->read_fd = fds[0];
    r->len = 0;
    snprintf(r->ok_file, sizeof r->ok_file, "/tmp/xps-unit-master-%d.ok", (int)getpid());
    r->world = (world_t){.report = fds[1], .mode = mode, .reload_ok_file = r->ok_file};
    r->master = fork();
    assert_true(r->master >= 0);
    if (r->master == 0) {
        close(fds[0]);
        xps_master_config_t config = {.workers = workers, .worker_main = worker_main,
                                      .data = &r->world, .reload = reload,
                                      .drain_ms = drain_ms};
        _exit(xps_master_run(&config) == XPS_OK ? 0 : 1);
    }
    close(fds[1]);
    fcntl(r->read_fd, F_SETFL, O_NONBLOCK);
}

static long long ms_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

/* The line after `l`, or NULL at the end of what has arrived. */
static const char *next_line(const char *l)
{
    const char *nl = strchr(l, '\n');
    return nl ? nl + 1 : NULL;
}

/* Reads reports for `ms` milliseconds, or until `count` lines matching
 * `prefix` have arrived since `from` (a byte offset); returns how many. */
static int lines_after(run_t *r, size_t from, const char *prefix, int count, int ms)
{
    long long end = ms_now() + ms;
    for (;;) {
        int n = 0;
        for (const char *l = r->buf + from; l && l < r->buf + r->len; l = next_line(l))
            n += strncmp(l, prefix, strlen(prefix)) == 0;
        long long left = end - ms_now();
        if ((count > 0 && n >= count) || left <= 0)
            return n;
        struct pollfd p = {r->read_fd, POLLIN, 0};
        if (poll(&p, 1, (int)left) > 0) {
            ssize_t got = read(r->read_fd, r->buf + r->len, sizeof r->buf - 1 - r->len);
            if (got > 0)
                r->len += (size_t)got;
            else if (got == 0)
                return n;
            r->buf[r->len] = '\0';
        }
    }
}

/* The pids of the "start G ..." lines after `from`, into pids[]. */
static int started_pids(const run_t *r, size_t from, int generation, int *pids, int cap)
{
    int n = 0;
    for (const char *l = r->buf + from; l && l < r->buf + r->len && n < cap; l = next_line(l)) {
        int g, index, pid;
        if (sscanf(l, "start %d %d %d", &g, &index, &pid) == 3 && g == generation)
            pids[n++] = pid;
    }
    return n;
}

static bool alive(int pid) { return kill(pid, 0) == 0; }

/* SIGTERMs the master and waits for its exit status (-1 if it hangs). */
static int stop_master(run_t *r, int ms)
{
    kill(r->master, SIGTERM);
    long long end = ms_now() + ms;
    int status = 0;
    while (ms_now() < end) {
        if (waitpid(r->master, &status, WNOHANG) == r->master) {
            close(r->read_fd);
            unlink(r->ok_file);
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        usleep(10000);
    }
    kill(r->master, SIGKILL);
    waitpid(r->master, &status, 0);
    close(r->read_fd);
    unlink(r->ok_file);
    return -1;
}

static void workers_start_and_sigterm_drains_them_all(void **state)
{
    (void)state;
    run_t r;
    start_master(&r, 3, SERVE, 2000);
    assert_int_equal(lines_after(&r, 0, "start 0 ", 3, 3000), 3);
    int pids[3];
    assert_int_equal(started_pids(&r, 0, 0, pids, 3), 3);
    assert_true(pids[0] != pids[1] && pids[1] != pids[2] && pids[0] != pids[2]);
    size_t mark = r.len;
    kill(r.master, SIGTERM);
    assert_int_equal(lines_after(&r, mark, "term ", 3, 3000), 3);
    /* stop_master's SIGTERM is a second one, sent while the master is
     * reaping or already on its way out: still exit status 0, not 143 */
    assert_int_equal(stop_master(&r, 3000), 0);
    for (int i = 0; i < 3; i++)
        assert_false(alive(pids[i]));
}

static void a_killed_worker_is_replaced_at_once(void **state)
{
    (void)state;
    run_t r;
    start_master(&r, 2, SERVE, 2000);
    assert_int_equal(lines_after(&r, 0, "start 0 ", 2, 3000), 2);
    int pids[2];
    started_pids(&r, 0, 0, pids, 2);
    size_t mark = r.len;
    long long t = ms_now();
    kill(pids[0], SIGKILL);
    assert_int_equal(lines_after(&r, mark, "start 0 ", 1, 2000), 1);
    long long took = ms_now() - t;
    int replacement = 0;
    started_pids(&r, mark, 0, &replacement, 1);
    if (took > 500 || replacement == pids[0] || !alive(replacement) || !alive(pids[1]))
        fail_msg("after kill -9 of %d: replacement %d after %lld ms; the other (%d) %s", pids[0],
                 replacement, took, pids[1], alive(pids[1]) ? "alive" : "gone");
    assert_int_equal(stop_master(&r, 3000), 0);
}

static void a_crash_loop_is_throttled(void **state)
{
    (void)state;
    run_t r;
    start_master(&r, 1, CRASH, 1000);
    int starts = lines_after(&r, 0, "start 0 ", 0, 1600); /* count for 1.6 s */
    /* at once, then after 100, 200, 400 and 800 ms: 5; without the pause, thousands */
    if (starts < 3 || starts > 8)
        fail_msg("a worker dying at start was started %d times in 1.6 s (expected 3 to 8)",
                 starts);
    assert_int_equal(stop_master(&r, 3000), 0);
}

static void a_worker_ignoring_sigterm_is_killed_after_the_drain(void **state)
{
    (void)state;
    run_t r;
    start_master(&r, 1, IGNORE_TERM, 300);
    assert_int_equal(lines_after(&r, 0, "start 0 ", 1, 3000), 1);
    int pid = 0;
    started_pids(&r, 0, 0, &pid, 1);
    long long t = ms_now();
    int status = stop_master(&r, 3000);
    long long took = ms_now() - t;
    if (status != 0 || took < 250 || took > 1500 || alive(pid))
        fail_msg("drain of 300 ms: master status %d after %lld ms, worker %s", status, took,
                 alive(pid) ? "alive" : "gone");
}

static void sighup_starts_a_new_generation_only_when_the_reload_succeeds(void **state)
{
    (void)state;
    run_t r;
    start_master(&r, 2, SERVE, 2000);
    assert_int_equal(lines_after(&r, 0, "start 0 ", 2, 3000), 2);
    int old[2];
    started_pids(&r, 0, 0, old, 2);

    size_t mark = r.len; /* a failing reload: nothing changes */
    kill(r.master, SIGHUP);
    assert_int_equal(lines_after(&r, mark, "start ", 1, 500), 0);
    assert_true(alive(old[0]) && alive(old[1]));

    FILE *f = fopen(r.ok_file, "w");
    assert_non_null(f);
    fclose(f);
    mark = r.len;
    kill(r.master, SIGHUP);
    assert_int_equal(lines_after(&r, mark, "start 1 ", 2, 3000), 2);
    assert_int_equal(lines_after(&r, mark, "term ", 2, 3000), 2);
    int fresh[2];
    assert_int_equal(started_pids(&r, mark, 1, fresh, 2), 2);
    usleep(100000);
    assert_true(!alive(old[0]) && !alive(old[1]) && alive(fresh[0]) && alive(fresh[1]));
    assert_int_equal(stop_master(&r, 3000), 0);
    assert_true(!alive(fresh[0]) && !alive(fresh[1]));
}

static void bad_configs_are_refused(void **state)
{
    (void)state;
    xps_master_config_t none = {.workers = 0, .worker_main = worker_main};
    assert_int_equal(xps_master_run(&none), XPS_E_INVAL);
    xps_master_config_t no_main = {.workers = 2};
    assert_int_equal(xps_master_run(&no_main), XPS_E_INVAL);
    assert_int_equal(xps_master_run(NULL), XPS_E_INVAL);
    assert_true(xps_master_auto_workers() >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(workers_start_and_sigterm_drains_them_all),
        cmocka_unit_test(a_killed_worker_is_replaced_at_once),
        cmocka_unit_test(a_crash_loop_is_throttled),
        cmocka_unit_test(a_worker_ignoring_sigterm_is_killed_after_the_drain),
        cmocka_unit_test(sighup_starts_a_new_generation_only_when_the_reload_succeeds),
        cmocka_unit_test(bad_configs_are_refused),
    };
    return cmocka_run_group_tests_name("master", tests, NULL, NULL);
}
