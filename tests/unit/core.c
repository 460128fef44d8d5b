/*
 * tests/unit/core.c — core/xps_core.h checked against its contract: the
 * ready queue (order, rounds, destroying queued tasks), deferred free, and
 * members destroyed with the core. Also the small shared pieces of
 * core/xps.h (error sentences, errno mapping) and core/xps_logger.h (level
 * names).
 *
 * Every callback appends to one trace, so each test asserts the exact order
 * and count of calls. Run it under `make SAN=1` and valgrind: destroyed
 * tasks must never be touched after their memory is released.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/xps.h"
#include "core/xps_core.h"
#include "core/xps_logger.h"

/* ------------------------------------------------------------------ trace */

enum { TRACE_MAX = 64 };
static int trace[TRACE_MAX]; /* ids of the callbacks that ran, in order */
static size_t trace_len;

static void trace_reset(void) { trace_len = 0; }

static void trace_add(int id)
{
    assert_true(trace_len < TRACE_MAX);
    trace[trace_len++] = id;
}

/* Fails with both sequences printed when the trace is not `want`. */
static void trace_expect(const int *want, size_t n, const char *what)
{
    bool same = n == trace_len;
    for (size_t i = 0; same && i < n; i++)
        same = trace[i] == want[i];
    if (same)
        return;
    char got_s[256] = "", want_s[256] = "";
    for (size_t i = 0; i < trace_len; i++)
        snprintf(got_s + strlen(got_s), sizeof got_s - strlen(got_s), " %d", trace[i]);
    for (size_t i = 0; i < n; i++)
        snprintf(want_s + strlen(want_s), sizeof want_s - strlen(want_s), " %d", want[i]);
    fail_msg("%s: calls were [%s ], expected [%s ]", what, got_s, want_s);
}

#define TRACE_EXPECT(what, ...)                                                  \
    do {                                                                         \
        const int want_[] = {__VA_ARGS__};                                       \
        trace_expect(want_, sizeof want_ / sizeof want_[0], (what));             \
    } while (0)
#define TRACE_EXPECT_NONE(what) trace_expect(NULL, 0, (what))

static xps_core_t *new_core(void)
{
    trace_reset();
    xps_core_t *core = xps_core_create();
    assert_non_null(core);
    return core;
}

/* ------------------------------------------------------------------ tasks */

/* A test task. Its callback records `id`, then does what `action` says. */
typedef struct probe {
    int id;
    xps_task_t *task;
    int runs;               /* times the callback ran */
    int repost_until;       /* posts itself again while runs < this */
    struct probe *post;     /* another probe to post, or NULL */
    struct probe *kill;     /* another probe to destroy, or NULL */
    bool kill_self;         /* destroy its own task after the rest */
} probe_t;

static void probe_cb(void *data)
{
    probe_t *p = data;
    p->runs++;
    trace_add(p->id);
    if (p->runs < p->repost_until)
        xps_task_post(p->task);
    if (p->post)
        xps_task_post(p->post->task);
    if (p->kill) {
        xps_task_destroy(p->kill->task);
        p->kill->task = NULL;
        p->kill = NULL;
    }
    if (p->kill_self) {
        xps_task_destroy(p->task);
        p->task = NULL;
    }
}

static void probes_init(xps_core_t *core, probe_t *probes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        probes[i] = (probe_t){.id = (int)i};
        probes[i].task = xps_task_create(core, probe_cb, &probes[i]);
        assert_non_null(probes[i].task);
    }
}

/* Destroys the tasks still alive, then the core (which collects them). */
static void probes_done(xps_core_t *core, probe_t *probes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        xps_task_destroy(probes[i].task);
    xps_core_destroy(core);
}

static void tasks_run_in_post_order(void **state)
{
    (void)state;
    xps_core_t *core = new_core();
    probe_t p[4];
    probes_init(core, p, 4);
    assert_false(xps_core_has_tasks(core));
    xps_task_post(p[2].task);
    xps_task_post(p[0].task);
    xps_task_post(p[3].task);
    xps_task_post(p[1].task);
    assert_true(xps_core_has_tasks(core));
    assert_int_equal(xps_core_run_tasks(core), 4);
    TRACE_EXPECT("post order", 2, 0, 3, 1);
    assert_false(xps_core_has_tasks(core));
    assert_int_equal(xps_core_run_tasks(core), 0); /* a run empties the queue */
    TRACE_EXPECT("nothing more", 2, 0, 3, 1);
    probes_done(core, p, 4);
}

static void posting_twice_runs_once(void **state)
{
    (void)state;
    xps_core_t *core = new_core();
    probe_t p[2];
    probes_init(core, p, 2);
    xps_task_post(p[0].task);
    xps_task_post(p[1].task);
    xps_task_post(p[0].task); /* already queued: keeps its place */
    xps_task_post(p[1].task);
    assert_int_equal(xps_core_run_tasks(core), 2);
    TRACE_EXPECT("each once, first post's order", 0, 1);
    assert_int_equal(xps_core_run_tasks(core), 0);
    probes_done(core, p, 2);
}

static void task_posting_itself_runs_next_round(void **state)
{
    (void)state;
    xps_core_t *core = new_core();
    probe_t p[2];
    probes_init(core, p, 2);
    p[0].repost_until = 3; /* runs 3 times, one per round */
    xps_task_post(p[0].task);
    xps_task_post(p[1].task);
    assert_int_equal(xps_core_run_tasks(core), 2);
    TRACE_EXPECT("round 1", 0, 1);
    assert_true(xps_core_has_tasks(core));
    assert_int_equal(xps_core_run_tasks(core), 1);
    assert_int_equal(xps_core_run_tasks(core), 1);
    assert_false(xps_core_has_tasks(core));
    assert_int_equal(xps_core_run_tasks(core), 0);
    TRACE_EXPECT("rounds 2 and 3", 0, 1, 0, 0);
    probes_done(core, p, 2);
}

/* Posting from inside a run: table of who posts whom. */
static void post_during_run_waits_for_next_round(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        int queued[3];  /* ids posted before the run, -1 ends */
        int poster;     /* who posts */
        int target;     /* whom */
        size_t ran1;    /* first run's count */
        int trace1[4];  /* first run's ids, -1 ends */
        size_t ran2;    /* second run's count */
    } cases[] = {
        {"an idle task posted by an earlier one", {0, -1}, 0, 1, 1, {0, -1}, 1},
        {"a task later in this round", {0, 1, -1}, 0, 1, 2, {0, 1, -1}, 0},
        {"a task that already ran this round", {0, 1, -1}, 1, 0, 2, {0, 1, -1}, 1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        xps_core_t *core = new_core();
        probe_t p[2];
        probes_init(core, p, 2);
        p[cases[c].poster].post = &p[cases[c].target];
        for (size_t i = 0; cases[c].queued[i] >= 0; i++)
            xps_task_post(p[cases[c].queued[i]].task);
        size_t ran = xps_core_run_tasks(core);
        size_t n = 0;
        while (cases[c].trace1[n] >= 0)
            n++;
        if (ran != cases[c].ran1)
            fail_msg("%s: first run ran %zu, expected %zu", cases[c].what, ran, cases[c].ran1);
        trace_expect(cases[c].trace1, n, cases[c].what);
        p[cases[c].poster].post = NULL;
        ran = xps_core_run_tasks(core);
        if (ran != cases[c].ran2)
            fail_msg("%s: second run ran %zu, expected %zu", cases[c].what, ran, cases[c].ran2);
        if (ran == 1)
            assert_int_equal(trace[trace_len - 1], cases[c].target);
        probes_done(core, p, 2);
    }
}

static void destroyed_queued_task_never_runs(void **state)
{
    (void)state;
    /* 0 destroys 2, which is queued later in the same round. */
    xps_core_t *core = new_core();
    probe_t p[3];
    probes_init(core, p, 3);
    p[0].kill = &p[2];
    for (int i = 0; i < 3; i++)
        xps_task_post(p[i].task);
    assert_int_equal(xps_core_run_tasks(core), 2);
    TRACE_EXPECT("2 skipped", 0, 1);
    assert_int_equal(p[2].runs, 0);
    xps_core_collect(core);
    assert_int_equal(xps_core_run_tasks(core), 0);
    probes_done(core, p, 3);
}

static void task_may_destroy_itself(void **state)
{
    (void)state;
    xps_core_t *core = new_core();
    probe_t p[3];
    probes_init(core, p, 3);
    p[1].kill_self = true;
    for (int i = 0; i < 3; i++)
        xps_task_post(p[i].task);
    assert_int_equal(xps_core_run_tasks(core), 3);
    TRACE_EXPECT("all ran, the rest after the self-destroyer", 0, 1, 2);
    xps_core_collect(core);
    assert_int_equal(xps_core_run_tasks(core), 0);
    probes_done(core, p, 3);
}

static void task_that_reposted_then_destroyed_itself_never_runs_again(void **state)
{
    (void)state;
    xps_core_t *core = new_core();
    probe_t p[1];
    probes_init(core, p, 1);
    p[0].repost_until = 100;
    p[0].kill_self = true; /* posts itself, then destroys itself */
    xps_task_post(p[0].task);
    assert_int_equal(xps_core_run_tasks(core), 1);
    assert_false(xps_core_has_tasks(core));
    xps_core_collect(core);
    assert_int_equal(xps_core_run_tasks(core), 0);
    TRACE_EXPECT("ran once", 0);
    probes_done(core, p, 1);
}

/* The loop collects after each batch of callbacks, and a task may have been
 * posted and destroyed in that batch (a connection got data, then closed).
 * The next run must not touch the freed task. */
static void task_posted_destroyed_and_collected_before_the_run(void **state)
{
    (void)state;
    xps_core_t *core = new_core();
    probe_t p[3];
    probes_init(core, p, 3);
    xps_task_post(p[0].task);
    xps_task_post(p[1].task);
    xps_task_post(p[2].task);
    xps_task_destroy(p[1].task);
    p[1].task = NULL;
    xps_core_collect(core); /* the end of the batch */
    assert_int_equal(xps_core_run_tasks(core), 2);
    TRACE_EXPECT("1 never runs", 0, 2);

    /* The only queued task destroyed: nothing is queued any more. */
    xps_task_post(p[0].task);
    xps_task_destroy(p[0].task);
    p[0].task = NULL;
    assert_false(xps_core_has_tasks(core));
    xps_core_collect(core);
    assert_int_equal(xps_core_run_tasks(core), 0);
    probes_done(core, p, 3);
}

/* Same, inside a run: 0 posts 1 for the next round, then 2 destroys it; the
 * batch ends (collect) before the next run. */
static void task_posted_for_next_round_then_destroyed(void **state)
{
    (void)state;
    xps_core_t *core = new_core();
    probe_t p[3];
    probes_init(core, p, 3);
    p[0].post = &p[1];
    p[2].kill = &p[1];
    xps_task_post(p[0].task);
    xps_task_post(p[2].task);
    assert_int_equal(xps_core_run_tasks(core), 2);
    xps_core_collect(core);
    assert_int_equal(xps_core_run_tasks(core), 0);
    TRACE_EXPECT("1 never runs", 0, 2);
    probes_done(core, p, 3);
}

static void task_destroy_accepts_null(void **state)
{
    (void)state;
    xps_task_destroy(NULL);
    xps_core_destroy(NULL);
    xps_core_remove_member(NULL);
}

/* ---------------------------------------------------------- deferred free */

typedef struct freeable {
    int id;
    xps_core_t *core;
    struct freeable *then; /* registered by this free, or NULL */
} freeable_t;

static void freeable_free(void *object)
{
    freeable_t *f = object;
    trace_add(f->id);
    if (f->then)
        xps_core_defer_free(f->core, freeable_free, f->then);
}

static void deferred_free_runs_at_collect(void **state)
{
    (void)state;
    xps_core_t *core = new_core();
    freeable_t f[4] = {{.id = 10}, {.id = 11}, {.id = 12}, {.id = 13}};
    for (int i = 0; i < 4; i++)
        f[i].core = core;
    f[1].then = &f[3]; /* a free that registers another free */
    xps_core_defer_free(core, freeable_free, &f[0]);
    xps_core_defer_free(core, freeable_free, &f[1]);
    xps_core_defer_free(core, freeable_free, &f[2]);
    assert_int_equal(xps_core_run_tasks(core), 0);
    TRACE_EXPECT_NONE("not before collect");
    xps_core_collect(core);
    TRACE_EXPECT("registered order, then the one registered by a free", 10, 11, 12, 13);
    xps_core_collect(core);
    TRACE_EXPECT("a second collect has nothing", 10, 11, 12, 13);
    xps_core_destroy(core);
    TRACE_EXPECT("nothing left for destroy", 10, 11, 12, 13);
}

static freeable_t *task_frees; /* what defer_in_task registers */
static void defer_in_task(void *data)
{
    xps_core_t *core = data;
    trace_add(1);
    xps_core_defer_free(core, freeable_free, task_frees);
    trace_add(2);
}

static void deferred_free_from_a_task_waits_for_collect(void **state)
{
    (void)state;
    xps_core_t *core = new_core();
    freeable_t f = {.id = 10, .core = core};
    task_frees = &f;
    xps_task_t *t = xps_task_create(core, defer_in_task, core);
    assert_non_null(t);
    xps_task_post(t);
    assert_int_equal(xps_core_run_tasks(core), 1);
    TRACE_EXPECT("the free waits", 1, 2);
    xps_core_collect(core);
    TRACE_EXPECT("then runs", 1, 2, 10);
    xps_task_destroy(t);
    xps_core_destroy(core);
}

/* ---------------------------------------------------------------- members */

typedef struct member_obj {
    int id;
    xps_core_member_t *membership;
    bool destroyed;
    struct member_obj *also;  /* destroyed from this one's destroy, or NULL */
    freeable_t *defer;        /* registered as a deferred free by destroy */
    xps_core_t *core;
} member_obj_t;

/* An object's destroy, as the header asks: end the membership first. */
static void member_destroy(void *object)
{
    member_obj_t *m = object;
    if (m->destroyed)
        fail_msg("member %d destroyed twice", m->id);
    m->destroyed = true;
    xps_core_remove_member(m->membership);
    m->membership = NULL;
    trace_add(m->id);
    if (m->defer)
        xps_core_defer_free(m->core, freeable_free, m->defer);
    if (m->also && !m->also->destroyed)
        member_destroy(m->also);
}

static void members_init(xps_core_t *core, member_obj_t *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        m[i] = (member_obj_t){.id = (int)i + 1, .core = core};
        m[i].membership = xps_core_add_member(core, member_destroy, &m[i]);
        assert_non_null(m[i].membership);
        assert_int_equal(xps_core_member_count(core), i + 1);
    }
}

static void members_destroyed_newest_first(void **state)
{
    (void)state;
    xps_core_t *core = new_core();
    member_obj_t m[4];
    members_init(core, m, 4);
    xps_core_destroy(core);
    TRACE_EXPECT("newest first", 4, 3, 2, 1);
}

static void member_destroyed_early_is_not_destroyed_again(void **state)
{
    (void)state;
    xps_core_t *core = new_core();
    member_obj_t m[3];
    members_init(core, m, 3);
    member_destroy(&m[1]); /* its owner destroys it first */
    assert_int_equal(xps_core_member_count(core), 2);
    member_destroy(&m[2]);
    assert_int_equal(xps_core_member_count(core), 1);
    xps_core_destroy(core);
    TRACE_EXPECT("2 and 3 by their owners, 1 by the core", 2, 3, 1);
}

static void all_members_destroyed_early_count_back_to_zero(void **state)
{
    (void)state;
    xps_core_t *core = new_core();
    member_obj_t m[3];
    members_init(core, m, 3);
    for (int i = 0; i < 3; i++)
        member_destroy(&m[i]);
    assert_int_equal(xps_core_member_count(core), 0);
    xps_core_destroy(core);
    TRACE_EXPECT("only the owners' destroys", 1, 2, 3);
}

static void member_destroy_may_destroy_another_member(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        int destroyer, victim; /* ids; the destroyer's destroy destroys the victim */
        int order[4];
    } cases[] = {
        {"newest destroys oldest", 4, 1, {4, 1, 3, 2}},
        {"newest destroys next", 4, 3, {4, 3, 2, 1}},
        {"middle destroys older", 3, 1, {4, 3, 1, 2}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        xps_core_t *core = new_core();
        member_obj_t m[4];
        members_init(core, m, 4);
        m[cases[c].destroyer - 1].also = &m[cases[c].victim - 1];
        xps_core_destroy(core);
        trace_expect(cases[c].order, 4, cases[c].what);
    }
}

static void members_destroyed_before_deferred_frees(void **state)
{
    (void)state;
    xps_core_t *core = new_core();
    freeable_t early = {.id = 10, .core = core}, late = {.id = 20, .core = core};
    member_obj_t m[2];
    members_init(core, m, 2);
    m[1].defer = &late;
    xps_core_defer_free(core, freeable_free, &early); /* pending already */
    xps_core_destroy(core);
    TRACE_EXPECT("members, then every deferred free", 2, 1, 10, 20);
}

/* ------------------------------------------------- errors and log levels */

static void error_codes_have_sentences(void **state)
{
    (void)state;
    static const int codes[] = {
        XPS_OK,        XPS_E_FAIL,      XPS_E_AGAIN,   XPS_E_NEXT,    XPS_E_NOTFOUND,
        XPS_E_PERMISSION, XPS_E_EOF,    XPS_E_NOMEM,   XPS_E_INVAL,   XPS_E_ADDRINUSE,
        XPS_E_REFUSED, XPS_E_TIMEOUT,   XPS_E_CLOSED,  XPS_E_LIMIT,
    };
    const char *unknown = xps_strerror(-999);
    assert_non_null(unknown);
    assert_string_equal(unknown, "unknown error");
    assert_string_equal(xps_strerror(12345), "unknown error");
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *s = xps_strerror(codes[i]);
        assert_non_null(s);
        if (strcmp(s, unknown) == 0 || s[0] == '\0')
            fail_msg("code %d has no sentence of its own", codes[i]);
        for (size_t k = 0; k < i; k++) /* distinct sentences */
            if (strcmp(s, xps_strerror(codes[k])) == 0)
                fail_msg("codes %d and %d share \"%s\"", codes[i], codes[k], s);
    }
    assert_string_equal(xps_strerror(XPS_E_ADDRINUSE), "address already in use");
    /* The course's codes keep their values. */
    assert_int_equal(XPS_E_FAIL, -1);
    assert_int_equal(XPS_E_EOF, -6);
}

static void errno_values_map_to_codes(void **state)
{
    (void)state;
    static const struct {
        int e, code;
    } cases[] = {
        {EADDRINUSE, XPS_E_ADDRINUSE}, {EAGAIN, XPS_E_AGAIN},   {EWOULDBLOCK, XPS_E_AGAIN},
        {ECONNREFUSED, XPS_E_REFUSED}, {ETIMEDOUT, XPS_E_TIMEOUT}, {ENOENT, XPS_E_NOTFOUND},
        {EACCES, XPS_E_PERMISSION},    {ENOMEM, XPS_E_NOMEM},   {EINVAL, XPS_E_INVAL},
        {ECONNRESET, XPS_E_CLOSED},    {EPIPE, XPS_E_CLOSED},   {EMFILE, XPS_E_LIMIT},
        {ENFILE, XPS_E_LIMIT},         {EXDEV, XPS_E_FAIL},     {EIO, XPS_E_FAIL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = xps_error_from_errno(cases[i].e);
        if (got != cases[i].code)
            fail_msg("errno %d (%s): got %d, expected %d", cases[i].e, strerror(cases[i].e),
                     got, cases[i].code);
    }
}

static void log_level_names_parse(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int rc;
        xps_log_level_t level;
    } cases[] = {
        {"error", XPS_OK, XPS_LOG_ERROR}, {"warn", XPS_OK, XPS_LOG_WARN},
        {"info", XPS_OK, XPS_LOG_INFO},   {"debug", XPS_OK, XPS_LOG_DEBUG},
        {"DEBUG", XPS_OK, XPS_LOG_DEBUG}, {"Warn", XPS_OK, XPS_LOG_WARN},
        {"", XPS_E_INVAL, 0},             {"warning", XPS_E_INVAL, 0},
        {"inf", XPS_E_INVAL, 0},          {"info ", XPS_E_INVAL, 0},
        {"3", XPS_E_INVAL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        xps_log_level_t level = (xps_log_level_t)77; /* untouched on failure */
        int rc = xps_log_parse_level(cases[i].name, &level);
        if (rc != cases[i].rc)
            fail_msg("\"%s\": returned %d, expected %d", cases[i].name, rc, cases[i].rc);
        if (rc == XPS_OK && level != cases[i].level)
            fail_msg("\"%s\": level %d, expected %d", cases[i].name, level, cases[i].level);
        if (rc != XPS_OK && level != (xps_log_level_t)77)
            fail_msg("\"%s\": failed but changed *level", cases[i].name);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tasks_run_in_post_order),
        cmocka_unit_test(posting_twice_runs_once),
        cmocka_unit_test(task_posting_itself_runs_next_round),
        cmocka_unit_test(post_during_run_waits_for_next_round),
        cmocka_unit_test(destroyed_queued_task_never_runs),
        cmocka_unit_test(task_may_destroy_itself),
        cmocka_unit_test(task_that_reposted_then_destroyed_itself_never_runs_again),
        cmocka_unit_test(task_posted_destroyed_and_collected_before_the_run),
        cmocka_unit_test(task_posted_for_next_round_then_destroyed),
        cmocka_unit_test(task_destroy_accepts_null),
        cmocka_unit_test(deferred_free_runs_at_collect),
        cmocka_unit_test(deferred_free_from_a_task_waits_for_collect),
        cmocka_unit_test(members_destroyed_newest_first),
        cmocka_unit_test(member_destroyed_early_is_not_destroyed_again),
        cmocka_unit_test(all_members_destroyed_early_count_back_to_zero),
        cmocka_unit_test(member_destroy_may_destroy_another_member),
        cmocka_unit_test(members_destroyed_before_deferred_frees),
        cmocka_unit_test(error_codes_have_sentences),
        cmocka_unit_test(errno_values_map_to_codes),
        cmocka_unit_test(log_level_names_parse),
    };
    return cmocka_run_group_tests_name("core/xps_core", tests, NULL, NULL);
}
