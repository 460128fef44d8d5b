/*
 * tests/unit/loop.c — modules/loop/xps_loop.h checked against its contract,
 * by running the loop for real on socketpairs, loopback TCP, timers and
 * signals.
 *
 * How a test drives the loop: a "ticker" is a core task posted by a timer
 * of delay 0 that the task itself re-arms. A timer re-armed after step 3
 * fires in the next iteration, and an armed timer that is due keeps
 * epoll_wait from sleeping, so the ticker writes "|" into the trace once
 * per iteration, in step 4 after the I/O callbacks, and stops the loop
 * after a fixed number of them. (A task that simply posted itself would
 * run XPS_LOOP_TASK_ROUNDS times per iteration.) Callbacks append their own
 * tokens, so a whole run reads as one string:
 *     "ra | rb | rc | | | "  = one readable callback in each of the first
 *                              three iterations, none in the last two.
 * Tests without a ticker stop the loop from their last callback; a test
 * that could hang on a broken loop also arms a 2 s fail-safe timer, and
 * every test runs under alarm() as a last resort.
 *
 * Each test ends with no live handles: teardown destroys the core (which
 * destroys the loop) and checks that the process holds exactly the
 * descriptors it held before the test. Run it under ASan
 * (`make SAN=1 build/san/tests/unit-loop`) or valgrind to see that a
 * watcher destroyed inside a callback is never touched after its free.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tests/support/harness.h" /* xt_fd_count */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/xps_core.h"
#include "modules/loop/xps_loop.h"

enum {
    FAILSAFE_MS = 2000, /* a test whose events never come stops after this */
    ALARM_S = 20,       /* and a loop that never stops kills the test binary */
};

/* -------------------------------------------------------------- fixture */

/* What every test gets: a core with a loop in it. */
typedef struct fixture {
    xps_core_t *core;
    xps_loop_t *loop;
    int fds_before; /* descriptors open before the test, epoll excluded */
} fixture_t;

static int setup(void **state)
{
    static fixture_t f;
    alarm(ALARM_S);
    f.fds_before = xt_fd_count(getpid());
    f.core = xps_core_create();
    assert_non_null(f.core);
    int err = 12345;
    f.loop = xps_loop_create(f.core, &err);
    assert_non_null(f.loop);
    assert_int_equal(err, XPS_OK);
    assert_ptr_equal(xps_loop_core(f.loop), f.core);
    *state = &f;
    return 0;
}

/* The loop must be the core's only member left, and destroying the core
 * must close its epoll descriptor: afterwards the process holds what it
 * held before the test. */
static int teardown(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(xps_core_member_count(f->core), 1);
    xps_core_destroy(f->core);
    assert_int_equal(xt_fd_count(getpid()), f->fds_before);
    alarm(0);
    return 0;
}

#define LOOP_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

/* ---------------------------------------------------------------- trace */

static char trace[2048];

/* Appends one token and a space to the trace. */
static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
    size_t used = strlen(trace);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(trace + used, sizeof trace - used, fmt, ap);
    va_end(ap);
    used = strlen(trace);
    if (used + 1 < sizeof trace) {
        trace[used] = ' ';
        trace[used + 1] = '\0';
    }
}

static void trace_reset(void) { trace[0] = '\0'; }

/* --------------------------------------------------------------- ticker */

/* One "|" per iteration (see the top of the file), stops after `stop_after`. */
typedef struct ticker {
    xps_loop_t *loop;
    xps_task_t *task;
    xps_loop_timer_t *timer;        /* delay 0: posts the task next iteration */
    int iterations;                 /* completed so far */
    int stop_after;                 /* iterations to run */
    void (*on_tick)(int iteration); /* optional hook, after the "|" */
} ticker_t;

static void ticker_cb(void *data)
{
    ticker_t *t = data;
    t->iterations++;
    note("|");
    if (t->on_tick)
        t->on_tick(t->iterations);
    if (t->iterations >= t->stop_after)
        xps_loop_stop(t->loop);
    else
        xps_loop_timer_start(t->timer, 0);
}

static void ticker_due(xps_loop_timer_t *timer, void *data)
{
    (void)timer;
    xps_task_post(((ticker_t *)data)->task);
}

/* Runs the loop for exactly `iterations` iterations. */
static void run_iterations(fixture_t *f, int iterations, void (*on_tick)(int))
{
    ticker_t t = {f->loop, NULL, NULL, 0, iterations, on_tick};
    t.task = xps_task_create(f->core, ticker_cb, &t);
    t.timer = xps_loop_timer_create(f->loop, ticker_due, &t);
    assert_non_null(t.task);
    assert_non_null(t.timer);
    xps_task_post(t.task);
    assert_int_equal(xps_loop_run(f->loop), XPS_OK);
    assert_int_equal(t.iterations, iterations);
    xps_loop_timer_destroy(t.timer);
    xps_task_destroy(t.task);
}

/* ------------------------------------------------------------- helpers */

static void on_failsafe(xps_loop_timer_t *timer, void *data)
{
    (void)timer;
    note("FAILSAFE");
    xps_loop_stop(data);
}

/* A timer that stops the loop after FAILSAFE_MS; destroy it after the run. */
static xps_loop_timer_t *arm_failsafe(fixture_t *f)
{
    xps_loop_timer_t *t = xps_loop_timer_create(f->loop, on_failsafe, f->loop);
    assert_non_null(t);
    xps_loop_timer_start(t, FAILSAFE_MS);
    return t;
}

/* A connected AF_UNIX stream pair, both ends non-blocking. */
static void unix_pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

/* A connected loopback TCP pair: sv[0] the accepted end, sv[1] the client. */
static void tcp_pair(int sv[2])
{
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(l >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof a), 0); /* port 0: any free */
    assert_int_equal(listen(l, 1), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&a, &len), 0);
    sv[1] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(sv[1] >= 0);
    assert_int_equal(connect(sv[1], (struct sockaddr *)&a, sizeof a), 0);
    sv[0] = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    assert_true(sv[0] >= 0);
    close(l);
}

static void put(int fd, const char *bytes)
{
    size_t len = strlen(bytes);
    assert_int_equal(write(fd, bytes, len), (ssize_t)len);
}

static xps_loop_io_t *attach(fixture_t *f, int fd, unsigned interest, xps_loop_trigger_t trigger,
                             xps_loop_io_cb cb, void *data)
{
    int err = 12345;
    xps_loop_io_t *io = xps_loop_io_attach(f->loop, fd, interest, trigger, cb, data, &err);
    assert_non_null(io);
    assert_int_equal(err, XPS_OK);
    assert_int_equal(xps_loop_io_fd(io), fd);
    return io;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* ------------------------------------------------- readiness and modes */

/* Reads one byte per call: "r<byte>". */
static void read_one(xps_loop_io_t *io, unsigned events, void *data)
{
    (void)data;
    assert_true(events & XPS_LOOP_READABLE);
    char c;
    assert_int_equal(read(xps_loop_io_fd(io), &c, 1), 1);
    note("r%c", c);
}

/* Level-triggered: reported on every iteration while bytes wait, so three
 * bytes read one per callback take three iterations; then silence. */
static void level_readable_fires_every_iteration_until_drained(void **state)
{
    fixture_t *f = *state;
    int sv[2];
    unix_pair(sv);
    put(sv[1], "abc");
    xps_loop_io_t *io = attach(f, sv[0], XPS_LOOP_READABLE, XPS_LOOP_LEVEL, read_one, NULL);
    trace_reset();
    run_iterations(f, 5, NULL);
    assert_string_equal(trace, "ra | rb | rc | | | ");
    xps_loop_io_detach(io);
    close(sv[0]);
    close(sv[1]);
}

/* Notes "e" and reads nothing: edge mode must not report again anyway. */
static void note_edge(xps_loop_io_t *io, unsigned events, void *data)
{
    (void)io;
    (void)data;
    assert_true(events & XPS_LOOP_READABLE);
    note("e");
}

static int edge_writer_fd;
static void write_on_ticks_2_and_4(int iteration)
{
    if (iteration == 2 || iteration == 4)
        put(edge_writer_fd, "x");
}

/* Edge-triggered: one callback per arrival, not per byte waiting. Two writes
 * before the loop waits are one arrival (one callback); a write while the
 * loop runs is a new one; the unread bytes never trigger a repeat. */
static void edge_readable_fires_once_per_arrival(void **state)
{
    fixture_t *f = *state;
    int sv[2];
    unix_pair(sv);
    xps_loop_io_t *io = attach(f, sv[0], XPS_LOOP_READABLE, XPS_LOOP_EDGE, note_edge, NULL);
    put(sv[1], "a");
    put(sv[1], "b"); /* twice, without reading */
    edge_writer_fd = sv[1];
    trace_reset();
    run_iterations(f, 6, write_on_ticks_2_and_4);
    assert_string_equal(trace, "e | | e | | e | | ");
    xps_loop_io_detach(io);
    close(sv[0]);
    close(sv[1]);
}

/* Notes which of READABLE / WRITABLE came, then follows a small script:
 * after the 2nd writable event, watch READABLE only; on a readable event,
 * read the byte and watch both again. */
static int modify_writables;
static void follow_modify_script(xps_loop_io_t *io, unsigned events, void *data)
{
    (void)data;
    note("%s%s", events & XPS_LOOP_READABLE ? "r" : "", events & XPS_LOOP_WRITABLE ? "w" : "");
    if (events & XPS_LOOP_READABLE) {
        char c;
        assert_int_equal(read(xps_loop_io_fd(io), &c, 1), 1);
        assert_int_equal(xps_loop_io_modify(io, XPS_LOOP_READABLE | XPS_LOOP_WRITABLE), XPS_OK);
    } else if (++modify_writables == 2) {
        assert_int_equal(xps_loop_io_modify(io, XPS_LOOP_READABLE), XPS_OK);
    }
}

static int modify_writer_fd;
static void write_on_tick_4(int iteration)
{
    if (iteration == 4)
        put(modify_writer_fd, "x");
}

/* A level-triggered WRITABLE interest fires on every iteration (a socket
 * almost always has room); xps_loop_io_modify takes it away and gives it
 * back, and an event carries only the bits that were asked for. */
static void writable_interest_follows_modify(void **state)
{
    fixture_t *f = *state;
    int sv[2];
    unix_pair(sv);
    modify_writables = 0;
    modify_writer_fd = sv[1];
    xps_loop_io_t *io =
        attach(f, sv[0], XPS_LOOP_WRITABLE, XPS_LOOP_LEVEL, follow_modify_script, NULL);
    trace_reset();
    run_iterations(f, 6, write_on_tick_4);
    /* 1-2 writable; 3-4 silent (READABLE only, no data); the byte written
     * at the end of 4 arrives in 5 as READABLE alone; 6 writable again. */
    assert_string_equal(trace, "w | w | | | r | w | ");
    xps_loop_io_detach(io);
    close(sv[0]);
    close(sv[1]);
}

static void note_writable(xps_loop_io_t *io, unsigned events, void *data)
{
    (void)io;
    (void)data;
    note("%s", events == XPS_LOOP_WRITABLE ? "w" : "?");
}

/* Edge-triggered WRITABLE is reported when room appears, once: no busy
 * loop on an idle socket (what stage 07 relies on). */
static void edge_writable_fires_once(void **state)
{
    fixture_t *f = *state;
    int sv[2];
    unix_pair(sv);
    xps_loop_io_t *io = attach(f, sv[0], XPS_LOOP_WRITABLE, XPS_LOOP_EDGE, note_writable, NULL);
    trace_reset();
    run_iterations(f, 4, NULL);
    assert_string_equal(trace, "w | | | | ");
    xps_loop_io_detach(io);
    close(sv[0]);
    close(sv[1]);
}

/* ----------------------------------------------------- hang-ups, errors */

typedef struct hangup_case {
    const char *name;
    void (*make_pair)(int sv[2]);
    unsigned interest;     /* what the watched end asks for */
    bool reset;            /* the peer closes with a RST (SO_LINGER 0) */
    unsigned must_report;  /* bits the first event must carry */
} hangup_case_t;

static unsigned seen_events;
static void record_and_stop(xps_loop_io_t *io, unsigned events, void *data)
{
    seen_events = events;
    xps_loop_io_detach(io);
    xps_loop_stop(data);
}

/* A peer that closes or resets is reported as HANGUP (and a reset as
 * ERROR too), whatever the interest: hang-ups and errors are always
 * reported. Over TCP an orderly close (FIN) is what EPOLLRDHUP reports. */
static void peer_close_and_reset_are_reported(void **state)
{
    fixture_t *f = *state;
    static const hangup_case_t cases[] = {
        {"unix close", unix_pair, XPS_LOOP_READABLE, false, XPS_LOOP_HANGUP | XPS_LOOP_READABLE},
        {"unix close, no interest", unix_pair, 0, false, XPS_LOOP_HANGUP},
        {"tcp FIN", tcp_pair, XPS_LOOP_READABLE, false, XPS_LOOP_HANGUP | XPS_LOOP_READABLE},
        {"tcp RST", tcp_pair, XPS_LOOP_READABLE, true, XPS_LOOP_HANGUP | XPS_LOOP_ERROR},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const hangup_case_t *c = &cases[i];
        int sv[2];
        c->make_pair(sv);
        attach(f, sv[0], c->interest, XPS_LOOP_LEVEL, record_and_stop, f->loop);
        if (c->reset) {
            struct linger lg = {1, 0};
            assert_int_equal(setsockopt(sv[1], SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
        }
        close(sv[1]);
        xps_loop_timer_t *failsafe = arm_failsafe(f);
        seen_events = 0;
        trace_reset();
        assert_int_equal(xps_loop_run(f->loop), XPS_OK);
        xps_loop_timer_destroy(failsafe);
        if ((seen_events & c->must_report) != c->must_report || trace[0] != '\0')
            fail_msg("%s: events 0x%x must include 0x%x (trace \"%s\")", c->name, seen_events,
                     c->must_report, trace);
        close(sv[0]);
    }
}

/* ------------------------------------------------------ data.ptr dispatch */

typedef struct watcher {
    int sv[2];
    xps_loop_io_t *io;
    char expect; /* the byte its peer wrote */
    int calls;
} watcher_t;

static void check_own_data(xps_loop_io_t *io, unsigned events, void *data)
{
    watcher_t *w = data;
    assert_true(events & XPS_LOOP_READABLE);
    assert_ptr_equal(io, w->io);
    assert_int_equal(xps_loop_io_fd(io), w->sv[0]);
    char c;
    assert_int_equal(read(w->sv[0], &c, 1), 1);
    assert_int_equal(c, w->expect);
    w->calls++;
}

/* Each watcher's callback receives its own io and data pointer: the loop
 * goes from the event to the object without looking anything up. */
static void each_watcher_gets_its_own_data(void **state)
{
    fixture_t *f = *state;
    enum { N = 5 };
    watcher_t w[N];
    for (int i = 0; i < N; i++) {
        unix_pair(w[i].sv);
        w[i].expect = (char)('A' + i);
        w[i].calls = 0;
        w[i].io = attach(f, w[i].sv[0], XPS_LOOP_READABLE, XPS_LOOP_LEVEL, check_own_data, &w[i]);
    }
    for (int i = N - 1; i >= 0; i--) /* readiness in the reverse order */
        put(w[i].sv[1], (char[]){w[i].expect, '\0'});
    run_iterations(f, 2, NULL);
    for (int i = 0; i < N; i++) {
        assert_int_equal(w[i].calls, 1);
        xps_loop_io_detach(w[i].io);
        close(w[i].sv[0]);
        close(w[i].sv[1]);
    }
}

/* ------------------------------------------- destroy inside a callback */

/* Detaches its own watcher and closes both ends, with bytes still unread:
 * a level-triggered watcher would be reported again if it were not gone. */
static void detach_self(xps_loop_io_t *io, unsigned events, void *data)
{
    (void)events;
    int *sv = data;
    note("x");
    xps_loop_io_detach(io);
    close(sv[0]);
    close(sv[1]);
}

static void callback_that_detaches_itself_gets_no_more_calls(void **state)
{
    fixture_t *f = *state;
    int sv[2];
    unix_pair(sv);
    put(sv[1], "still unread");
    attach(f, sv[0], XPS_LOOP_READABLE, XPS_LOOP_LEVEL, detach_self, sv);
    trace_reset();
    run_iterations(f, 3, NULL);
    assert_string_equal(trace, "x | | | ");
}

/* Two readable pairs whose events come in the same batch. Whichever
 * callback runs first destroys the other watcher, closes its descriptors,
 * and opens a new pair in their place (same fd numbers: the kernel reuses
 * the lowest free ones) with a new watcher. The destroyed one's event is
 * stale: it must not be called, and its record must not have been freed
 * yet (ASan would see the read). The new watcher starts next iteration. */
typedef struct sibling {
    const char *name;
    int sv[2];
    xps_loop_io_t *io;
    struct sibling *other; /* the one to destroy */
    int calls;
} sibling_t;

static sibling_t replacement;
static fixture_t *current;

static void drain_replacement(xps_loop_io_t *io, unsigned events, void *data)
{
    (void)events;
    sibling_t *s = data;
    char buf[16];
    assert_true(read(xps_loop_io_fd(io), buf, sizeof buf) > 0);
    s->calls++;
    note("%s", s->name);
}

static void destroy_sibling(xps_loop_io_t *io, unsigned events, void *data)
{
    (void)io;
    (void)events;
    sibling_t *s = data, *victim = s->other;
    s->calls++;
    note("first");
    char buf[16];
    assert_true(read(s->sv[0], buf, sizeof buf) > 0);
    int old_fd = victim->sv[0];
    xps_loop_io_detach(victim->io);
    victim->io = NULL;
    close(victim->sv[0]);
    close(victim->sv[1]);
    s->other->other = NULL;

    unix_pair(replacement.sv);
    assert_int_equal(replacement.sv[0], old_fd); /* the same number, a new socket */
    put(replacement.sv[1], "new");
    replacement.io = attach(current, replacement.sv[0], XPS_LOOP_READABLE, XPS_LOOP_LEVEL,
                            drain_replacement, &replacement);
}

static void detaching_a_sibling_in_the_same_batch_suppresses_its_event(void **state)
{
    fixture_t *f = *state;
    current = f;
    sibling_t a = {"a", {-1, -1}, NULL, NULL, 0}, b = {"b", {-1, -1}, NULL, NULL, 0};
    replacement = (sibling_t){"new", {-1, -1}, NULL, NULL, 0};
    a.other = &b;
    b.other = &a;
    unix_pair(a.sv);
    unix_pair(b.sv);
    a.io = attach(f, a.sv[0], XPS_LOOP_READABLE, XPS_LOOP_LEVEL, destroy_sibling, &a);
    b.io = attach(f, b.sv[0], XPS_LOOP_READABLE, XPS_LOOP_LEVEL, destroy_sibling, &b);
    put(a.sv[1], "a");
    put(b.sv[1], "b");
    /* The premise: both ready before the first epoll_wait, so one batch. */
    struct pollfd p[2] = {{a.sv[0], POLLIN, 0}, {b.sv[0], POLLIN, 0}};
    assert_int_equal(poll(p, 2, 0), 2);

    trace_reset();
    run_iterations(f, 3, NULL);
    assert_string_equal(trace, "first | new | | ");
    assert_int_equal(a.calls + b.calls, 1);
    assert_int_equal(replacement.calls, 1);

    sibling_t *survivor = a.io ? &a : &b;
    xps_loop_io_detach(survivor->io);
    close(survivor->sv[0]);
    close(survivor->sv[1]);
    xps_loop_io_detach(replacement.io);
    close(replacement.sv[0]);
    close(replacement.sv[1]);
}

/* ---------------------------------------------------------------- timers */

typedef struct timed {
    const char *name;
    xps_loop_timer_t *timer;
    xps_loop_t *loop;
    int *remaining; /* the last one to fire stops the loop */
    uint64_t fired_at;
} timed_t;

static void note_timer(xps_loop_timer_t *timer, void *data)
{
    timed_t *t = data;
    assert_ptr_equal(timer, t->timer);
    assert_false(xps_loop_timer_active(timer)); /* no longer active when it runs */
    t->fired_at = xps_loop_now_ms(t->loop);
    note("%s", t->name);
    if (t->remaining && --*t->remaining == 0)
        xps_loop_stop(t->loop);
}

/* A stopped timer whose callback is `cb` (note_timer when NULL). */
static void make_timer(fixture_t *f, timed_t *t, const char *name, int *remaining,
                       xps_loop_timer_cb cb)
{
    *t = (timed_t){name, NULL, f->loop, remaining, 0};
    t->timer = xps_loop_timer_create(f->loop, cb ? cb : note_timer, t);
    assert_non_null(t->timer);
    assert_false(xps_loop_timer_active(t->timer));
}

/* Deadline order, and arming order among equal delays. The delays are 10 ms
 * apart, so a clock tick while arming cannot swap two of them. */
static void timers_fire_in_deadline_order_ties_in_arming_order(void **state)
{
    fixture_t *f = *state;
    static const struct {
        const char *name;
        uint64_t delay_ms;
    } table[] = {{"t0", 40}, {"t1", 0},  {"t2", 40}, {"t3", 20},
                 {"t4", 0},  {"t5", 40}, {"t6", 10}, {"t7", 20}};
    enum { N = sizeof table / sizeof table[0] };
    timed_t t[N];
    int remaining = N;
    for (int i = 0; i < N; i++)
        make_timer(f, &t[i], table[i].name, &remaining, NULL);
    for (int i = 0; i < N; i++) {
        xps_loop_timer_start(t[i].timer, table[i].delay_ms);
        assert_true(xps_loop_timer_active(t[i].timer));
    }
    xps_loop_timer_t *failsafe = arm_failsafe(f);
    trace_reset();
    assert_int_equal(xps_loop_run(f->loop), XPS_OK);
    assert_string_equal(trace, "t1 t4 t6 t3 t7 t0 t2 t5 ");
    for (int i = 0; i < N; i++)
        xps_loop_timer_destroy(t[i].timer);
    xps_loop_timer_destroy(failsafe);
}

static timed_t *victim_timer;
static void stop_victim(xps_loop_timer_t *timer, void *data)
{
    note_timer(timer, data);
    xps_loop_timer_stop(victim_timer->timer);
    assert_false(xps_loop_timer_active(victim_timer->timer));
}

/* A stopped timer does not fire: stopped before the run, or by another
 * timer's callback before its deadline. Stopping twice is harmless. */
static void stopped_timer_does_not_fire(void **state)
{
    fixture_t *f = *state;
    int remaining = 1;
    timed_t early, stopper, victim, last;
    make_timer(f, &early, "early", NULL, NULL);
    make_timer(f, &stopper, "stopper", NULL, stop_victim);
    make_timer(f, &victim, "victim", NULL, NULL);
    make_timer(f, &last, "last", &remaining, NULL);
    victim_timer = &victim;

    xps_loop_timer_start(early.timer, 10);
    xps_loop_timer_stop(early.timer);
    xps_loop_timer_stop(early.timer);
    assert_false(xps_loop_timer_active(early.timer));
    xps_loop_timer_start(stopper.timer, 0);
    xps_loop_timer_start(victim.timer, 20);
    xps_loop_timer_start(last.timer, 40);
    trace_reset();
    assert_int_equal(xps_loop_run(f->loop), XPS_OK);
    assert_string_equal(trace, "stopper last ");
    xps_loop_timer_destroy(early.timer);
    xps_loop_timer_destroy(stopper.timer);
    xps_loop_timer_destroy(victim.timer);
    xps_loop_timer_destroy(last.timer);
}

/* Re-arming an active timer replaces its deadline, later or earlier. */
static void rearming_moves_the_deadline(void **state)
{
    fixture_t *f = *state;
    static const struct {
        uint64_t first, second; /* "a" armed with first, then second */
        const char *order;      /* "b" fires at 30 ms */
    } table[] = {{10, 60, "b a "}, {100, 10, "a b "}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        int remaining = 2;
        timed_t a, b;
        make_timer(f, &a, "a", &remaining, NULL);
        make_timer(f, &b, "b", &remaining, NULL);
        uint64_t start = mono_ms();
        xps_loop_timer_start(a.timer, table[i].first);
        xps_loop_timer_start(b.timer, 30);
        xps_loop_timer_start(a.timer, table[i].second);
        trace_reset();
        assert_int_equal(xps_loop_run(f->loop), XPS_OK);
        assert_string_equal(trace, table[i].order);
        assert_true(a.fired_at >= start + table[i].second);
        assert_true(b.fired_at >= start + 30);
        xps_loop_timer_destroy(a.timer);
        xps_loop_timer_destroy(b.timer);
    }
}

static int zero_fires;
static void rearm_zero(xps_loop_timer_t *timer, void *data)
{
    (void)data;
    note("t");
    if (++zero_fires < 4)
        xps_loop_timer_start(timer, 0);
}

/* A timer that re-arms itself with delay 0 fires once per iteration: the
 * timer phase runs only timers armed before it began, so this is no busy
 * loop inside one iteration (which would also starve epoll and tasks). */
static void zero_delay_rearm_in_own_callback_fires_next_iteration(void **state)
{
    fixture_t *f = *state;
    zero_fires = 0;
    xps_loop_timer_t *t = xps_loop_timer_create(f->loop, rearm_zero, NULL);
    assert_non_null(t);
    xps_loop_timer_start(t, 0);
    trace_reset();
    run_iterations(f, 6, NULL);
    assert_string_equal(trace, "t | t | t | t | | | ");
    xps_loop_timer_destroy(t);
}

/* Timers destroyed from callbacks: by their own, by another timer's
 * (both due in the same phase), by an I/O callback before the deadline. */
static timed_t *destroy_target;
static xps_loop_timer_t *destroyed_by_io;

static void destroy_self_timer(xps_loop_timer_t *timer, void *data)
{
    note_timer(timer, data);
    ((timed_t *)data)->timer = NULL;
    xps_loop_timer_destroy(timer);
}

static void destroy_other_timer(xps_loop_timer_t *timer, void *data)
{
    note_timer(timer, data);
    xps_loop_timer_destroy(destroy_target->timer);
    destroy_target->timer = NULL;
}

static void io_destroys_timer(xps_loop_io_t *io, unsigned events, void *data)
{
    (void)events;
    (void)data;
    note("io");
    xps_loop_timer_destroy(destroyed_by_io);
    destroyed_by_io = NULL;
    xps_loop_io_detach(io);
}

static void timers_destroyed_inside_callbacks_never_fire_again(void **state)
{
    fixture_t *f = *state;
    int remaining = 1;
    timed_t self, killer, killed, by_io, last;
    make_timer(f, &self, "self", NULL, destroy_self_timer);
    make_timer(f, &killer, "killer", NULL, destroy_other_timer);
    make_timer(f, &killed, "killed", NULL, NULL);
    make_timer(f, &by_io, "by_io", NULL, NULL);
    make_timer(f, &last, "last", &remaining, NULL);
    destroy_target = &killed;
    destroyed_by_io = by_io.timer;

    int sv[2];
    unix_pair(sv);
    put(sv[1], "go");
    attach(f, sv[0], XPS_LOOP_READABLE, XPS_LOOP_LEVEL, io_destroys_timer, NULL);
    xps_loop_timer_start(self.timer, 0);
    xps_loop_timer_start(killer.timer, 10);
    xps_loop_timer_start(killed.timer, 10); /* same delay, armed after */
    xps_loop_timer_start(by_io.timer, 20);
    xps_loop_timer_start(last.timer, 40);
    trace_reset();
    assert_int_equal(xps_loop_run(f->loop), XPS_OK);
    assert_string_equal(trace, "io self killer last ");
    assert_null(self.timer);
    assert_null(killed.timer);
    assert_null(destroyed_by_io);
    xps_loop_timer_destroy(killer.timer);
    xps_loop_timer_destroy(last.timer);
    xps_loop_timer_destroy(NULL);
    close(sv[0]);
    close(sv[1]);
}

/* With nothing else to do, epoll_wait sleeps until the nearest deadline:
 * the run returns after about 50 ms, neither at once nor never. */
static void nearest_deadline_bounds_the_wait(void **state)
{
    fixture_t *f = *state;
    int remaining = 1;
    timed_t t;
    make_timer(f, &t, "t", &remaining, NULL);
    uint64_t start = mono_ms();
    xps_loop_timer_start(t.timer, 50);
    assert_int_equal(xps_loop_run(f->loop), XPS_OK);
    uint64_t took = mono_ms() - start;
    assert_in_range(took, 50, 1500); /* generous: valgrind, a loaded machine */
    xps_loop_timer_destroy(t.timer);
}

/* -------------------------------------------- tasks and deferred frees */

typedef struct phase_probe {
    xps_task_t *task;
    bool freed; /* set by the deferred free */
    int io_calls;
} phase_probe_t;

static void probe_free(void *object)
{
    phase_probe_t *p = object;
    p->freed = true;
    note("free");
}

static void probe_task(void *data)
{
    phase_probe_t *p = data;
    assert_false(p->freed);
    note("task");
}

static void probe_timer(xps_loop_timer_t *timer, void *data)
{
    (void)timer;
    phase_probe_t *p = data;
    assert_false(p->freed);
    note("timer");
}

/* Both I/O callbacks of one batch: the first posts the task, hands the
 * probe to deferred free and stops the loop; the second must still find
 * the probe alive. */
static void probe_io(xps_loop_io_t *io, unsigned events, void *data)
{
    (void)events;
    phase_probe_t *p = data;
    assert_false(p->freed);
    char buf[8];
    assert_true(read(xps_loop_io_fd(io), buf, sizeof buf) > 0);
    note("io");
    if (p->io_calls++ == 0) {
        xps_task_post(p->task);
        xps_task_post(p->task); /* posting twice runs it once */
        xps_core_defer_free(xps_loop_core(current->loop), probe_free, p);
        xps_loop_stop(current->loop);
    }
    xps_loop_io_detach(io);
}

/* One iteration, in the header's order: I/O callbacks, due timers, posted
 * tasks, then deferred frees. A stop asked for in the I/O phase still lets
 * the rest of that iteration run. */
static void one_iteration_runs_io_timers_tasks_then_frees(void **state)
{
    fixture_t *f = *state;
    current = f;
    phase_probe_t probe = {NULL, false, 0};
    probe.task = xps_task_create(f->core, probe_task, &probe);
    assert_non_null(probe.task);
    int a[2], b[2];
    unix_pair(a);
    unix_pair(b);
    put(a[1], "a");
    put(b[1], "b");
    attach(f, a[0], XPS_LOOP_READABLE, XPS_LOOP_LEVEL, probe_io, &probe);
    attach(f, b[0], XPS_LOOP_READABLE, XPS_LOOP_LEVEL, probe_io, &probe);
    xps_loop_timer_t *t = xps_loop_timer_create(f->loop, probe_timer, &probe);
    assert_non_null(t);
    xps_loop_timer_start(t, 0);
    xps_loop_timer_t *failsafe = arm_failsafe(f);
    trace_reset();
    assert_int_equal(xps_loop_run(f->loop), XPS_OK);
    assert_string_equal(trace, "io io timer task free ");
    assert_false(xps_core_has_tasks(f->core));
    xps_task_destroy(probe.task);
    xps_loop_timer_destroy(t);
    xps_loop_timer_destroy(failsafe);
    close(a[0]);
    close(a[1]);
    close(b[0]);
    close(b[1]);
}

static void note_task(void *data)
{
    (void)data;
    note("task");
}

/* A task posted before the run runs in the first iteration; after that the
 * queue is empty and epoll_wait must sleep until the 200 ms timer rather
 * than poll in a busy loop: the run costs far less CPU than wall time. */
static void empty_task_queue_lets_the_loop_sleep(void **state)
{
    fixture_t *f = *state;
    xps_task_t *task = xps_task_create(f->core, note_task, NULL);
    assert_non_null(task);
    xps_task_post(task);
    assert_true(xps_core_has_tasks(f->core));
    int remaining = 1;
    timed_t t;
    make_timer(f, &t, "timer", &remaining, NULL);
    xps_loop_timer_start(t.timer, 200);
    trace_reset();
    uint64_t wall0 = mono_ms();
    double cpu0 = cpu_ms();
    assert_int_equal(xps_loop_run(f->loop), XPS_OK);
    double cpu = cpu_ms() - cpu0;
    uint64_t wall = mono_ms() - wall0;
    assert_string_equal(trace, "task timer ");
    assert_true(wall >= 195); /* both clocks read in whole ms */
    if (cpu > 100.0)
        fail_msg("the loop used %.1f ms of CPU in %llu ms: it did not sleep", cpu,
                 (unsigned long long)wall);
    xps_task_destroy(task);
    xps_loop_timer_destroy(t.timer);
}

/* A task that posts itself: it runs again in the same iteration, round
 * after round (so a request's hops from pipe to pipe cost no extra
 * epoll_wait), but only XPS_LOOP_TASK_ROUNDS times, so the loop still
 * comes back to epoll and the ticker's iterations go on. */
static int echo_runs;
static xps_task_t *echo_task;

static void echo_task_cb(void *data)
{
    (void)data;
    echo_runs++;
    xps_task_post(echo_task);
}

static int echo_runs_at_tick[4];
static void count_echo_runs(int iteration) { echo_runs_at_tick[iteration] = echo_runs; }

static void posted_tasks_run_in_rounds_bounded_per_iteration(void **state)
{
    fixture_t *f = *state;
    echo_runs = 0;
    echo_task = xps_task_create(f->core, echo_task_cb, NULL);
    assert_non_null(echo_task);
    xps_task_post(echo_task);
    run_iterations(f, 3, count_echo_runs);
    /* The ticker runs in round 1 of each iteration, after the echo task
     * (posted first); the echo task's other rounds follow it. */
    assert_int_equal(echo_runs_at_tick[1], 1);
    assert_int_equal(echo_runs_at_tick[2], 1 + XPS_LOOP_TASK_ROUNDS);
    assert_int_equal(echo_runs_at_tick[3], 1 + 2 * XPS_LOOP_TASK_ROUNDS);
    xps_task_destroy(echo_task);
}

/* --------------------------------------------------------------- signals */

typedef struct signal_probe {
    xps_loop_signal_t *watcher;
    xps_loop_t *loop;
} signal_probe_t;

static void on_signal(xps_loop_signal_t *signal, int signo, void *data)
{
    signal_probe_t *p = data;
    assert_ptr_equal(signal, p->watcher);
    note("%s", signo == SIGUSR1 ? "USR1" : signo == SIGUSR2 ? "USR2" : "other");
    if (signo == SIGUSR1) {
        raise(SIGUSR2); /* pending until the loop reads it */
    } else {
        xps_loop_signal_detach(signal); /* its own watcher, inside its callback */
        p->watcher = NULL;
        xps_loop_stop(p->loop);
    }
}

static bool is_blocked(int signo)
{
    sigset_t now;
    sigprocmask(SIG_BLOCK, NULL, &now);
    return sigismember(&now, signo);
}

/* Signals arrive as ordinary callbacks with their number; the process is
 * not killed (SIGUSR1's default action). Detaching unblocks them. */
static void signals_arrive_as_callbacks(void **state)
{
    fixture_t *f = *state;
    static const int signals[] = {SIGUSR1, SIGUSR2};
    signal_probe_t p = {NULL, f->loop};
    int err = 12345;
    p.watcher = xps_loop_signal_attach(f->loop, signals, 2, on_signal, &p, &err);
    assert_non_null(p.watcher);
    assert_int_equal(err, XPS_OK);
    assert_true(is_blocked(SIGUSR1) && is_blocked(SIGUSR2));
    raise(SIGUSR1);
    xps_loop_timer_t *failsafe = arm_failsafe(f);
    trace_reset();
    assert_int_equal(xps_loop_run(f->loop), XPS_OK);
    assert_string_equal(trace, "USR1 USR2 ");
    assert_null(p.watcher);
    assert_false(is_blocked(SIGUSR1) || is_blocked(SIGUSR2));
    sigset_t pending;
    sigpending(&pending);
    assert_false(sigismember(&pending, SIGUSR1) || sigismember(&pending, SIGUSR2));
    xps_loop_timer_destroy(failsafe);
    xps_loop_signal_detach(NULL);
}

/* ---------------------------------------------------- errors, NULLs */

/* Watching a descriptor twice is refused (XPS_E_FAIL), and so is one epoll
 * cannot watch (a regular file); the destroy functions accept NULL. The
 * two "[ERROR] loop: epoll_ctl" lines printed here are expected. */
static void attach_errors_and_null_handles(void **state)
{
    fixture_t *f = *state;
    int sv[2];
    unix_pair(sv);
    xps_loop_io_t *io = attach(f, sv[0], XPS_LOOP_READABLE, XPS_LOOP_LEVEL, read_one, NULL);
    int err = 12345;
    assert_null(
        xps_loop_io_attach(f->loop, sv[0], XPS_LOOP_READABLE, XPS_LOOP_LEVEL, read_one, NULL, &err));
    assert_int_equal(err, XPS_E_FAIL);

    char path[] = "/tmp/xps-unit-loop-XXXXXX";
    int file = mkstemp(path);
    assert_true(file >= 0);
    unlink(path);
    err = 12345;
    assert_null(
        xps_loop_io_attach(f->loop, file, XPS_LOOP_READABLE, XPS_LOOP_LEVEL, read_one, NULL, &err));
    assert_true(err < 0);
    close(file);

    xps_loop_io_detach(io);
    xps_loop_io_detach(NULL);
    xps_loop_timer_destroy(NULL);
    xps_loop_signal_detach(NULL);
    xps_loop_destroy(NULL);
    close(sv[0]);
    close(sv[1]);
}

/* ------------------------------------------------- destroy with the core */

typedef struct member_probe {
    const char *name;
    xps_core_member_t *member;
    xps_loop_io_t *io; /* "new" detaches this: the loop must still exist */
    int sv[2];
    xps_core_t *core;
    int fds_expected; /* "old" checks the loop's epoll fd is closed by then */
} member_probe_t;

static void member_destroy(void *object)
{
    member_probe_t *m = object;
    note("%s", m->name);
    xps_core_remove_member(m->member);
    if (m->io) {
        xps_loop_io_detach(m->io);
        close(m->sv[0]);
        close(m->sv[1]);
    } else {
        assert_int_equal(xps_core_member_count(m->core), 0);
        assert_int_equal(xt_fd_count(getpid()), m->fds_expected);
    }
}

/* xps_core_destroy destroys members newest first: a member made after the
 * loop (a listener, say) can still detach from it; then the loop goes (its
 * epoll fd closed, its watchers freed); then older members. The core
 * unlinks each membership before the destroy runs, so the last one sees a
 * member count of 0. xps_loop_destroy alone also leaves the core. */
static void loop_is_destroyed_with_the_core_newest_member_first(void **state)
{
    (void)state;
    alarm(ALARM_S);
    int fds_before = xt_fd_count(getpid());
    xps_core_t *core = xps_core_create();
    assert_non_null(core);
    int err;
    xps_loop_t *loop = xps_loop_create(core, &err);
    assert_non_null(loop);
    assert_int_equal(xps_core_member_count(core), 1);
    xps_loop_destroy(loop);
    assert_int_equal(xps_core_member_count(core), 0);
    assert_int_equal(xt_fd_count(getpid()), fds_before);

    member_probe_t old = {"old", NULL, NULL, {-1, -1}, core, fds_before};
    old.member = xps_core_add_member(core, member_destroy, &old);
    assert_non_null(old.member);
    loop = xps_loop_create(core, &err);
    assert_non_null(loop);
    member_probe_t young = {"new", NULL, NULL, {-1, -1}, core, 0};
    unix_pair(young.sv);
    young.io = xps_loop_io_attach(loop, young.sv[0], XPS_LOOP_READABLE, XPS_LOOP_LEVEL, read_one,
                                  NULL, &err);
    assert_non_null(young.io);
    young.member = xps_core_add_member(core, member_destroy, &young);
    assert_non_null(young.member);
    assert_int_equal(xps_core_member_count(core), 3);
    trace_reset();
    xps_core_destroy(core);
    assert_string_equal(trace, "new old ");
    assert_int_equal(xt_fd_count(getpid()), fds_before);
    alarm(0);
}

/* Destroying a loop that still has watchers frees their records (valgrind
 * and ASan would report them otherwise) and leaves their descriptors open:
 * the loop never owned them. It logs a warning about them. A signal
 * watcher still attached is detached: its signalfd closed, its signals
 * unblocked. */
static void loop_destroy_frees_leftover_watchers_but_not_their_fds(void **state)
{
    (void)state;
    int fds_before = xt_fd_count(getpid());
    xps_core_t *core = xps_core_create();
    assert_non_null(core);
    int err;
    xps_loop_t *loop = xps_loop_create(core, &err);
    assert_non_null(loop);
    int sv[2];
    unix_pair(sv);
    assert_non_null(xps_loop_io_attach(loop, sv[0], XPS_LOOP_READABLE, XPS_LOOP_LEVEL, read_one,
                                       NULL, &err));
    xps_loop_timer_t *t = xps_loop_timer_create(loop, on_failsafe, loop);
    assert_non_null(t);
    xps_loop_timer_start(t, 1000);
    xps_loop_timer_t *stopped = xps_loop_timer_create(loop, on_failsafe, loop);
    assert_non_null(stopped);
    static const int usr1[] = {SIGUSR1};
    assert_non_null(xps_loop_signal_attach(loop, usr1, 1, on_signal, NULL, &err));
    assert_true(is_blocked(SIGUSR1));
    xps_loop_destroy(loop);
    assert_int_equal(xps_core_member_count(core), 0);
    assert_false(is_blocked(SIGUSR1));
    assert_true(fcntl(sv[0], F_GETFD) != -1);
    close(sv[0]);
    close(sv[1]);
    xps_core_destroy(core);
    assert_int_equal(xt_fd_count(getpid()), fds_before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LOOP_TEST(level_readable_fires_every_iteration_until_drained),
        LOOP_TEST(edge_readable_fires_once_per_arrival),
        LOOP_TEST(writable_interest_follows_modify),
        LOOP_TEST(edge_writable_fires_once),
        LOOP_TEST(peer_close_and_reset_are_reported),
        LOOP_TEST(each_watcher_gets_its_own_data),
        LOOP_TEST(callback_that_detaches_itself_gets_no_more_calls),
        LOOP_TEST(detaching_a_sibling_in_the_same_batch_suppresses_its_event),
        LOOP_TEST(timers_fire_in_deadline_order_ties_in_arming_order),
        LOOP_TEST(stopped_timer_does_not_fire),
        LOOP_TEST(rearming_moves_the_deadline),
        LOOP_TEST(zero_delay_rearm_in_own_callback_fires_next_iteration),
        LOOP_TEST(timers_destroyed_inside_callbacks_never_fire_again),
        LOOP_TEST(nearest_deadline_bounds_the_wait),
        LOOP_TEST(one_iteration_runs_io_timers_tasks_then_frees),
        LOOP_TEST(empty_task_queue_lets_the_loop_sleep),
        LOOP_TEST(posted_tasks_run_in_rounds_bounded_per_iteration),
        LOOP_TEST(signals_arrive_as_callbacks),
        LOOP_TEST(attach_errors_and_null_handles),
        cmocka_unit_test(loop_is_destroyed_with_the_core_newest_member_first),
        cmocka_unit_test(loop_destroy_frees_leftover_watchers_but_not_their_fds),
    };
    return cmocka_run_group_tests_name("loop", tests, NULL, NULL);
}
