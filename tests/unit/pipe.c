/*
 * tests/unit/pipe.c — core/xps_pipe.h checked against its contract.
 *
 * No event loop exists at this layer, so the tests play the loop: a "round"
 * is xps_core_run_tasks() followed by xps_core_collect() (the end of a batch
 * of callbacks). The ends are small structs with counters; every callback
 * appends "<end>.<event>" to one trace, so each test asserts which calls
 * happened, in which order, and how many times.
 *
 * Run under `make SAN=1` and valgrind: ends detach inside callbacks, pipes
 * free themselves, buffers written to a closed pipe must not leak.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/xps_buffer.h"
#include "core/xps_core.h"
#include "core/xps_pipe.h"

/* ------------------------------------------------------------------ trace */

static char trace[4096]; /* "s.produce k.consume ..." */
static bool trace_full;  /* a call did not fit: the trace is not the whole story */

static void trace_reset(void)
{
    trace[0] = '\0';
    trace_full = false;
}

/* Long streams (the filter test) overflow the trace; they assert counts. */
static void trace_add(const char *who, const char *event)
{
    size_t used = strlen(trace);
    int n = snprintf(trace + used, sizeof trace - used, "%s%s.%s", used ? " " : "", who, event);
    if (n < 0 || (size_t)n >= sizeof trace - used) {
        trace[used] = '\0';
        trace_full = true;
    }
}

#define TRACE_IS(want)                                                           \
    do {                                                                         \
        assert_false(trace_full);                                                \
        assert_string_equal(trace, (want));                                      \
    } while (0)

/* -------------------------------------------------------------- test ends */

typedef struct end end_t;
typedef void (*hook_fn)(end_t *e);

/* One pipe end. The work hook is what produce()/consume() does; the finish
 * hook what sink_gone()/source_done() does (NULL: detach, as the header
 * asks). */
struct end {
    const char *name;     /* in the trace */
    xps_pipe_t *pipe;     /* the pipe this end is attached to */
    bool is_source;
    bool attached;        /* attached and not yet detached by the test */
    int works;            /* produce() or consume() calls */
    int finishes;         /* sink_gone() or source_done() calls */
    hook_fn on_work;
    hook_fn on_finish;
    /* source side */
    size_t write_size;    /* bytes per produce() (source_write) */
    size_t to_write;      /* bytes left to write in all */
    size_t written;       /* bytes written so far */
    bool detach_when_done; /* detach after the last byte is written */
    size_t max_len_seen;  /* largest xps_pipe_len() after a write */
    /* sink side */
    size_t read_max;      /* bytes per consume() (sink_read) */
    char *got;            /* what the sink read, owned */
    size_t got_len;
    size_t got_cap;
    /* free for a test's own hooks */
    void *user;
    xps_pipe_t *other;
};

/* The byte at stream position i: a pattern that shows reordering or loss. */
static char pattern_at(size_t i) { return (char)('a' + (i * 7 + i / 26) % 26); }

static xps_buffer_t *pattern_buffer(size_t from, size_t n)
{
    xps_buffer_t *b = xps_buffer_create(n > 0 ? n : 1);
    assert_non_null(b);
    for (size_t i = 0; i < n; i++)
        xps_buffer_space(b)[i] = pattern_at(from + i);
    xps_buffer_produce(b, n);
    return b;
}

static xps_buffer_t *text_buffer(const char *s)
{
    xps_buffer_t *b = xps_buffer_copy_of(s, strlen(s));
    assert_non_null(b);
    return b;
}

static void detach_end(end_t *e)
{
    assert_true(e->attached);
    e->attached = false;
    if (e->is_source)
        xps_pipe_detach_source(e->pipe);
    else
        xps_pipe_detach_sink(e->pipe);
}

/* produce(): writes the next write_size bytes of the pattern. */
static void source_write(end_t *e)
{
    size_t n = e->write_size < e->to_write ? e->write_size : e->to_write;
    if (n > 0) {
        assert_int_equal(xps_pipe_write(e->pipe, pattern_buffer(e->written, n)), XPS_OK);
        e->written += n;
        e->to_write -= n;
        if (xps_pipe_len(e->pipe) > e->max_len_seen)
            e->max_len_seen = xps_pipe_len(e->pipe);
    }
    if (e->to_write == 0 && e->detach_when_done)
        detach_end(e);
}

/* consume(): reads up to read_max bytes into got. */
static void sink_read(end_t *e)
{
    if (e->got_cap - e->got_len < e->read_max) {
        e->got_cap = e->got_len + e->read_max + 4096;
        e->got = realloc(e->got, e->got_cap);
        assert_non_null(e->got);
    }
    size_t copied = 99999;
    assert_int_equal(xps_pipe_read(e->pipe, e->got + e->got_len, e->read_max, &copied), XPS_OK);
    assert_true(copied > 0); /* consume() is only called when there is data */
    e->got_len += copied;
}

static void stay(end_t *e) { (void)e; } /* a finish hook that does not detach */

static void cb_work(xps_pipe_t *pipe, void *data)
{
    end_t *e = data;
    assert_ptr_equal(pipe, e->pipe);
    if (!e->attached)
        fail_msg("%s: called after it detached", e->name);
    e->works++;
    trace_add(e->name, e->is_source ? "produce" : "consume");
    if (e->on_work)
        e->on_work(e);
}

static void cb_finish(xps_pipe_t *pipe, void *data)
{
    end_t *e = data;
    assert_ptr_equal(pipe, e->pipe);
    if (!e->attached)
        fail_msg("%s: told to finish after it detached", e->name);
    e->finishes++;
    trace_add(e->name, e->is_source ? "sink_gone" : "source_done");
    if (e->on_finish)
        e->on_finish(e);
    else
        detach_end(e);
}

static void attach(end_t *e, xps_pipe_t *pipe, bool is_source, const char *name)
{
    end_t init = {.name = name, .pipe = pipe, .is_source = is_source, .attached = true};
    *e = init;
    int rc = is_source ? xps_pipe_attach_source(pipe, cb_work, cb_finish, e)
                       : xps_pipe_attach_sink(pipe, cb_work, cb_finish, e);
    assert_int_equal(rc, XPS_OK);
}

static void end_free(end_t *e) { free(e->got); }

/* --------------------------------------------------------------- rounds */

/* One loop iteration: run the posted tasks, then end the batch. */
static size_t run_round(xps_core_t *core)
{
    size_t ran = xps_core_run_tasks(core);
    xps_core_collect(core);
    return ran;
}

/* Rounds until nothing is posted; fails after `max` rounds. */
static int run_until_idle(xps_core_t *core, int max)
{
    int rounds = 0;
    while (xps_core_has_tasks(core)) {
        if (rounds == max)
            fail_msg("still busy after %d rounds; trace: %s", max, trace);
        run_round(core);
        rounds++;
    }
    return rounds;
}

typedef struct fixture {
    xps_core_t *core;
    xps_pipe_t *pipe;
    end_t src;
    end_t snk;
} fixture_t;

/* A core, a pipe, both ends attached (not ready), empty trace. */
static void fixture_init(fixture_t *f, size_t threshold)
{
    trace_reset();
    f->core = xps_core_create();
    assert_non_null(f->core);
    f->pipe = xps_pipe_create(f->core, threshold);
    assert_non_null(f->pipe);
    attach(&f->src, f->pipe, true, "s");
    attach(&f->snk, f->pipe, false, "k");
}

/* Detaches what is still attached, lets the pipe free itself, destroys the
 * core. Valgrind/ASan then prove nothing was left behind. */
static void fixture_done(fixture_t *f)
{
    f->src.on_finish = f->snk.on_finish = stay;
    if (f->snk.attached)
        detach_end(&f->snk);
    if (f->src.attached)
        detach_end(&f->src);
    run_until_idle(f->core, 10);
    xps_core_collect(f->core);
    assert_int_equal(xps_core_member_count(f->core), 0);
    xps_core_destroy(f->core);
    end_free(&f->src);
    end_free(&f->snk);
}

/* A temporary file holding `n` pattern bytes, already unlinked. */
static int pattern_file(size_t n)
{
    char path[] = "/tmp/xps-unit-pipe-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    for (size_t i = 0; i < n; i++) {
        char c = pattern_at(i);
        assert_int_equal(write(fd, &c, 1), 1);
    }
    return fd;
}

static bool fd_is_open(int fd) { return fcntl(fd, F_GETFD) >= 0; }

/* ------------------------------------------------------------- readiness */

static void no_calls_until_an_end_is_ready(void **state)
{
    (void)state;
    fixture_t f;
    fixture_init(&f, 100);
    assert_true(xps_pipe_has_source(f.pipe));
    assert_true(xps_pipe_has_sink(f.pipe));
    for (int i = 0; i < 3; i++)
        run_round(f.core);
    TRACE_IS("");

    /* Data waiting, sink not ready: still nothing. */
    assert_int_equal(xps_pipe_write(f.pipe, text_buffer("hello")), XPS_OK);
    for (int i = 0; i < 3; i++)
        run_round(f.core);
    TRACE_IS("");
    assert_int_equal(xps_pipe_len(f.pipe), 5);

    /* Sink ready: consumed, but never from inside set_sink_ready(). */
    f.snk.on_work = sink_read;
    f.snk.read_max = 64;
    xps_pipe_set_sink_ready(f.pipe, true);
    TRACE_IS("");
    run_until_idle(f.core, 5);
    TRACE_IS("k.consume");
    assert_int_equal(f.snk.got_len, 5);
    assert_memory_equal(f.snk.got, "hello", 5);
    fixture_done(&f);
}

static void consume_only_while_the_pipe_holds_data(void **state)
{
    (void)state;
    fixture_t f;
    fixture_init(&f, 100);
    f.snk.on_work = sink_read;
    f.snk.read_max = 3;
    xps_pipe_set_sink_ready(f.pipe, true);
    for (int i = 0; i < 3; i++)
        run_round(f.core);
    TRACE_IS(""); /* ready, but empty */

    assert_int_equal(xps_pipe_write(f.pipe, text_buffer("abcdefg")), XPS_OK);
    TRACE_IS(""); /* never from inside write() */
    /* 3 bytes per call, one call per round: 3 + 3 + 1. */
    assert_int_equal(run_round(f.core), 1);
    assert_int_equal(f.snk.works, 1);
    assert_int_equal(run_round(f.core), 1);
    assert_int_equal(f.snk.works, 2);
    assert_int_equal(run_round(f.core), 1);
    assert_int_equal(f.snk.works, 3);
    run_until_idle(f.core, 5);
    TRACE_IS("k.consume k.consume k.consume");
    assert_int_equal(f.snk.got_len, 7);
    assert_memory_equal(f.snk.got, "abcdefg", 7);
    assert_int_equal(xps_pipe_len(f.pipe), 0);
    /* written counts what was queued, consumed or not; empty writes add nothing */
    assert_int_equal(xps_pipe_written(f.pipe), 7);
    assert_int_equal(xps_pipe_write(f.pipe, text_buffer("xy")), XPS_OK);
    assert_int_equal(xps_pipe_write(f.pipe, text_buffer("")), XPS_OK);
    assert_int_equal(xps_pipe_written(f.pipe), 9);
    fixture_done(&f);
}

static void produce_only_below_the_threshold(void **state)
{
    (void)state;
    fixture_t f;
    fixture_init(&f, 100);
    f.src.on_work = source_write;
    f.src.write_size = 30;
    f.src.to_write = 1000;
    xps_pipe_set_source_ready(f.pipe, true);
    TRACE_IS("");
    /* len after each produce: 30, 60, 90, 120 (over: allowed, then stop). */
    static const size_t room_after[] = {70, 40, 10, 0};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(run_round(f.core), 1);
        assert_int_equal(f.src.works, i + 1);
        assert_int_equal(xps_pipe_len(f.pipe), 30 * (i + 1));
        assert_int_equal(xps_pipe_room(f.pipe), room_after[i]);
    }
    run_until_idle(f.core, 3);
    assert_int_equal(f.src.works, 4);
    TRACE_IS("s.produce s.produce s.produce s.produce");

    /* The sink takes 25 (len 95 < 100): produce resumes, once. */
    f.snk.on_work = sink_read;
    f.snk.read_max = 25;
    xps_pipe_set_sink_ready(f.pipe, true);
    run_round(f.core);
    assert_int_equal(f.snk.works, 1);
    xps_pipe_set_sink_ready(f.pipe, false);
    run_until_idle(f.core, 5);
    TRACE_IS("s.produce s.produce s.produce s.produce k.consume s.produce");
    assert_int_equal(xps_pipe_len(f.pipe), 125);
    assert_int_equal(f.src.max_len_seen, 125);
    fixture_done(&f);
}

static void produce_stops_exactly_at_the_threshold(void **state)
{
    (void)state;
    fixture_t f;
    fixture_init(&f, 100);
    f.src.on_work = source_write;
    f.src.write_size = 50;
    f.src.to_write = 1000;
    xps_pipe_set_source_ready(f.pipe, true);
    run_until_idle(f.core, 5);
    assert_int_equal(f.src.works, 2);
    assert_int_equal(xps_pipe_len(f.pipe), 100);
    assert_int_equal(xps_pipe_room(f.pipe), 0);
    /* One byte below it is room again. */
    xps_pipe_consume(f.pipe, 1);
    assert_int_equal(xps_pipe_room(f.pipe), 1);
    TRACE_IS("s.produce s.produce");
    run_until_idle(f.core, 5);
    TRACE_IS("s.produce s.produce s.produce");
    fixture_done(&f);
}

static void ready_end_without_progress_is_called_once_per_round(void **state)
{
    (void)state;
    fixture_t f;
    fixture_init(&f, 100);
    assert_int_equal(xps_pipe_write(f.pipe, text_buffer("x")), XPS_OK);
    /* Both ready, neither does anything (no hooks). */
    xps_pipe_set_source_ready(f.pipe, true);
    xps_pipe_set_sink_ready(f.pipe, true);
    for (int i = 1; i <= 3; i++) {
        run_round(f.core);
        assert_int_equal(f.snk.works, i);
        assert_int_equal(f.src.works, i);
        assert_true(xps_core_has_tasks(f.core)); /* called again next round */
    }
    /* Marking themselves not ready stops the calls. */
    xps_pipe_set_source_ready(f.pipe, false);
    xps_pipe_set_sink_ready(f.pipe, false);
    run_until_idle(f.core, 2);
    assert_int_equal(f.snk.works, 3);
    assert_int_equal(f.src.works, 3);
    fixture_done(&f);
}

/* ------------------------------------------------------------- ownership */

static void write_moves_the_buffer_into_the_pipe(void **state)
{
    (void)state;
    fixture_t f;
    fixture_init(&f, 100);
    xps_buffer_t *b = text_buffer("skip:payload");
    xps_buffer_consume(b, 5); /* only the unread window is queued */
    const char *data = xps_buffer_data(b);
    assert_int_equal(xps_pipe_write(f.pipe, b), XPS_OK);
    assert_int_equal(xps_pipe_len(f.pipe), 7);
    xps_pipe_chunk_t c;
    assert_int_equal(xps_pipe_peek(f.pipe, &c), XPS_OK);
    assert_ptr_equal(c.bytes, data); /* the same bytes, not a copy */
    assert_int_equal(c.len, 7);
    assert_int_equal(c.fd, -1);
    assert_memory_equal(c.bytes, "payload", 7);

    /* An empty buffer: accepted, nothing queued, nothing leaked. */
    assert_int_equal(xps_pipe_write(f.pipe, xps_buffer_create(8)), XPS_OK);
    assert_int_equal(xps_pipe_len(f.pipe), 7);

    /* Peek again after a partial consume: same block, advanced. */
    xps_pipe_consume(f.pipe, 3);
    assert_int_equal(xps_pipe_peek(f.pipe, &c), XPS_OK);
    assert_ptr_equal(c.bytes, data + 3);
    assert_int_equal(c.len, 4);
    fixture_done(&f); /* the sink detaches with 4 bytes in: dropped, freed */
}

static void peek_and_read_on_an_empty_pipe(void **state)
{
    (void)state;
    fixture_t f;
    fixture_init(&f, 100);
    xps_pipe_chunk_t c;
    assert_int_equal(xps_pipe_peek(f.pipe, &c), XPS_E_AGAIN);
    char dst[4];
    size_t copied = 123;
    assert_int_equal(xps_pipe_read(f.pipe, dst, sizeof dst, &copied), XPS_OK);
    assert_int_equal(copied, 0);
    fixture_done(&f);
}

static void read_and_consume_cross_items(void **state)
{
    (void)state;
    fixture_t f;
    fixture_init(&f, 100);
    static const char *const pieces[] = {"ab", "cde", "f", "ghij"};
    for (int i = 0; i < 4; i++)
        assert_int_equal(xps_pipe_write(f.pipe, text_buffer(pieces[i])), XPS_OK);
    assert_int_equal(xps_pipe_len(f.pipe), 10);
    xps_pipe_consume(f.pipe, 3); /* "ab" and "c" */
    xps_pipe_chunk_t c;
    assert_int_equal(xps_pipe_peek(f.pipe, &c), XPS_OK);
    assert_int_equal(c.len, 2);
    assert_memory_equal(c.bytes, "de", 2);
    char dst[16];
    size_t copied = 0;
    assert_int_equal(xps_pipe_read(f.pipe, dst, 4, &copied), XPS_OK); /* "de", "f", "g" */
    assert_int_equal(copied, 4);
    assert_memory_equal(dst, "defg", 4);
    assert_int_equal(xps_pipe_len(f.pipe), 3);
    assert_int_equal(xps_pipe_read(f.pipe, dst, sizeof dst, &copied), XPS_OK);
    assert_int_equal(copied, 3);
    assert_memory_equal(dst, "hij", 3);
    assert_int_equal(xps_pipe_len(f.pipe), 0);
    fixture_done(&f);
}

/* ----------------------------------------------------------- file ranges */

static void file_ranges_count_peek_and_read(void **state)
{
    (void)state;
    fixture_t f;
    fixture_init(&f, 1000);
    int fd = pattern_file(2000);
    assert_int_equal(xps_pipe_write_file(f.pipe, fd, 100, 500), XPS_OK);
    close(fd); /* the pipe has its own duplicate */
    assert_int_equal(xps_pipe_len(f.pipe), 500);
    assert_int_equal(xps_pipe_room(f.pipe), 500);

    xps_pipe_chunk_t c;
    assert_int_equal(xps_pipe_peek(f.pipe, &c), XPS_OK);
    assert_null(c.bytes);
    assert_true(c.fd >= 0);
    assert_true(fd_is_open(c.fd));
    assert_int_equal(c.offset, 100);
    assert_int_equal(c.len, 500);
    int pipe_fd = c.fd;

    xps_pipe_consume(f.pipe, 120);
    assert_int_equal(xps_pipe_peek(f.pipe, &c), XPS_OK);
    assert_int_equal(c.offset, 220);
    assert_int_equal(c.len, 380);
    assert_int_equal(xps_pipe_len(f.pipe), 380);
    assert_int_equal(xps_pipe_room(f.pipe), 620);

    /* read() copies the file's bytes with pread. */
    char dst[50];
    size_t copied = 0;
    assert_int_equal(xps_pipe_read(f.pipe, dst, sizeof dst, &copied), XPS_OK);
    assert_int_equal(copied, 50);
    for (size_t i = 0; i < 50; i++)
        assert_int_equal(dst[i], pattern_at(220 + i));
    assert_int_equal(xps_pipe_peek(f.pipe, &c), XPS_OK);
    assert_int_equal(c.offset, 270);
    assert_int_equal(xps_pipe_len(f.pipe), 330);

    /* A second range pushes the pipe over its threshold: no produce. */
    fd = pattern_file(2000);
    assert_int_equal(xps_pipe_write_file(f.pipe, fd, 0, 700), XPS_OK);
    close(fd);
    assert_int_equal(xps_pipe_len(f.pipe), 1030);
    assert_int_equal(xps_pipe_room(f.pipe), 0);
    xps_pipe_set_source_ready(f.pipe, true);
    run_until_idle(f.core, 3);
    TRACE_IS("");

    /* Consuming the rest of the first range releases its descriptor. */
    xps_pipe_consume(f.pipe, 330);
    assert_false(fd_is_open(pipe_fd));
    fixture_done(&f);
}

static void bytes_and_file_ranges_read_in_order(void **state)
{
    (void)state;
    fixture_t f;
    fixture_init(&f, 1000);
    int fd = pattern_file(300);
    assert_int_equal(xps_pipe_write(f.pipe, text_buffer("HEAD")), XPS_OK);
    assert_int_equal(xps_pipe_write_file(f.pipe, fd, 10, 20), XPS_OK);
    assert_int_equal(xps_pipe_write(f.pipe, text_buffer("TAIL")), XPS_OK);
    close(fd);
    assert_int_equal(xps_pipe_len(f.pipe), 28);
    /* A sink reading 6 bytes a round sees one stream. */
    f.snk.on_work = sink_read;
    f.snk.read_max = 6;
    xps_pipe_set_sink_ready(f.pipe, true);
    run_until_idle(f.core, 10);
    assert_int_equal(f.snk.works, 5);
    assert_int_equal(f.snk.got_len, 28);
    assert_memory_equal(f.snk.got, "HEAD", 4);
    for (size_t i = 0; i < 20; i++)
        assert_int_equal(f.snk.got[4 + i], pattern_at(10 + i));
    assert_memory_equal(f.snk.got + 24, "TAIL", 4);
    fixture_done(&f);
}

static void read_of_a_range_past_the_end_of_file_is_eof(void **state)
{
    (void)state;
    fixture_t f;
    fixture_init(&f, 1000);
    int fd = pattern_file(10);
    assert_int_equal(xps_pipe_write_file(f.pipe, fd, 4, 100), XPS_OK); /* 6 exist */
    close(fd);
    char dst[200];
    size_t copied = 0;
    assert_int_equal(xps_pipe_read(f.pipe, dst, sizeof dst, &copied), XPS_E_EOF);
    assert_int_equal(copied, 6);
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(dst[i], pattern_at(4 + i));
    fixture_done(&f);
}

static void write_file_of_zero_bytes_and_of_a_bad_descriptor(void **state)
{
    (void)state;
    fixture_t f;
    fixture_init(&f, 100);
    int fd = pattern_file(10);
    assert_int_equal(xps_pipe_write_file(f.pipe, fd, 0, 0), XPS_OK);
    assert_int_equal(xps_pipe_len(f.pipe), 0);
    close(fd);
    /* Not a descriptor at all: an error, nothing queued. */
    assert_true(xps_pipe_write_file(f.pipe, fd, 0, 5) < 0);
    assert_int_equal(xps_pipe_len(f.pipe), 0);
    fixture_done(&f);
}

/* ------------------------------------------------------------ closing */

static void source_done_only_after_every_byte_is_consumed(void **state)
{
    (void)state;
    fixture_t f;
    fixture_init(&f, 100);
    assert_int_equal(xps_pipe_write(f.pipe, text_buffer("0123456789")), XPS_OK);
    detach_end(&f.src);
    assert_false(xps_pipe_has_source(f.pipe));
    /* The sink is not ready: no source_done while bytes remain. */
    for (int i = 0; i < 3; i++)
        run_round(f.core);
    TRACE_IS("");
    f.snk.on_work = sink_read;
    f.snk.read_max = 4;
    f.snk.on_finish = stay; /* do not detach: source_done must not repeat */
    xps_pipe_set_sink_ready(f.pipe, true);
    for (int i = 0; i < 3; i++) {
        run_round(f.core);
        if (f.snk.finishes != 0 && xps_pipe_len(f.pipe) != 0)
            fail_msg("source_done with %zu bytes left", xps_pipe_len(f.pipe));
    }
    run_until_idle(f.core, 5);
    for (int i = 0; i < 3; i++)
        run_round(f.core);
    TRACE_IS("k.consume k.consume k.consume k.source_done");
    assert_int_equal(f.snk.got_len, 10);
    assert_memory_equal(f.snk.got, "0123456789", 10);
    assert_int_equal(f.snk.finishes, 1);
    fixture_done(&f); /* the sink detaches: both gone, pipe freed */
}

/* The source detaches from inside produce() after its last write. */
static void source_detaching_in_produce_is_drained_then_done(void **state)
{
    (void)state;
    fixture_t f;
    fixture_init(&f, 64);
    f.src.on_work = source_write;
    f.src.write_size = 40;
    f.src.to_write = 200;
    f.src.detach_when_done = true;
    f.snk.on_work = sink_read;
    f.snk.read_max = 25;
    xps_pipe_set_source_ready(f.pipe, true);
    xps_pipe_set_sink_ready(f.pipe, true);
    run_until_idle(f.core, 100); /* the sink detaches in source_done */
    assert_int_equal(f.src.written, 200);
    assert_int_equal(f.snk.got_len, 200);
    for (size_t i = 0; i < 200; i++)
        assert_int_equal(f.snk.got[i], pattern_at(i));
    assert_int_equal(f.src.works, 5);
    assert_int_equal(f.snk.finishes, 1);
    assert_int_equal(f.src.finishes, 0); /* the source left first */
    /* source_done is the last call, and only once. */
    const char *last = strrchr(trace, ' ');
    assert_string_equal(last ? last + 1 : trace, "k.source_done");
    assert_false(f.snk.attached);
    /* The pipe is gone; only the core is left. */
    xps_core_destroy(f.core);
    end_free(&f.src);
    end_free(&f.snk);
}

static void source_done_with_an_empty_pipe_needs_no_readiness(void **state)
{
    (void)state;
    fixture_t f;
    fixture_init(&f, 100);
    detach_end(&f.src);
    TRACE_IS("");
    run_until_idle(f.core, 5);
    TRACE_IS("k.source_done");
    assert_false(f.snk.attached);
    xps_core_destroy(f.core); /* freed by the two detaches */
}

static void sink_detach_drops_data_and_tells_the_source_once(void **state)
{
    (void)state;
    fixture_t f;
    fixture_init(&f, 100);
    int fd = pattern_file(100);
    assert_int_equal(xps_pipe_write(f.pipe, text_buffer("unread")), XPS_OK);
    assert_int_equal(xps_pipe_write_file(f.pipe, fd, 0, 50), XPS_OK);
    close(fd);
    assert_int_equal(xps_pipe_write(f.pipe, text_buffer("more")), XPS_OK);
    xps_pipe_consume(f.pipe, 6); /* the file range is now in front */
    xps_pipe_chunk_t c;
    assert_int_equal(xps_pipe_peek(f.pipe, &c), XPS_OK);
    int pipe_fd = c.fd;
    assert_true(fd_is_open(pipe_fd));

    f.src.on_work = source_write;
    f.src.write_size = 10;
    f.src.to_write = 1000;
    f.src.on_finish = stay; /* stays attached: sink_gone must not repeat */
    detach_end(&f.snk);
    assert_false(xps_pipe_has_sink(f.pipe));
    assert_int_equal(xps_pipe_len(f.pipe), 0); /* dropped */
    assert_false(fd_is_open(pipe_fd));          /* its duplicate closed */
    assert_int_equal(xps_pipe_peek(f.pipe, &c), XPS_E_AGAIN);
    TRACE_IS(""); /* not from inside detach */

    xps_pipe_set_source_ready(f.pipe, true); /* ready, room: still no produce */
    run_until_idle(f.core, 5);
    for (int i = 0; i < 3; i++)
        run_round(f.core);
    TRACE_IS("s.sink_gone");
    assert_int_equal(f.src.finishes, 1);

    /* Writing now fails, and the buffer is not leaked (valgrind). */
    assert_int_equal(xps_pipe_write(f.pipe, text_buffer("late")), XPS_E_CLOSED);
    fd = pattern_file(10);
    assert_int_equal(xps_pipe_write_file(f.pipe, fd, 0, 5), XPS_E_CLOSED);
    close(fd);
    assert_int_equal(xps_pipe_len(f.pipe), 0);
    fixture_done(&f);
}

static void sink_detaching_in_consume(void **state)
{
    (void)state;
    fixture_t f;
    fixture_init(&f, 100);
    f.snk.on_work = detach_end; /* takes nothing, leaves */
    f.src.on_work = source_write;
    f.src.write_size = 5;
    f.src.to_write = 100;
    assert_int_equal(xps_pipe_write(f.pipe, text_buffer("abc")), XPS_OK);
    xps_pipe_set_sink_ready(f.pipe, true);
    xps_pipe_set_source_ready(f.pipe, true);
    run_until_idle(f.core, 10); /* the source detaches in sink_gone */
    /* Whatever the source produced before it heard, it heard once, last. */
    assert_int_equal(f.snk.works, 1);
    assert_int_equal(f.src.finishes, 1);
    const char *last = strrchr(trace, ' ');
    assert_string_equal(last ? last + 1 : trace, "s.sink_gone");
    assert_memory_equal(trace, "k.consume", 9);
    assert_false(f.src.attached);
    assert_false(f.snk.attached);
    xps_core_destroy(f.core);
}

/* Both ends detach outside any run while the pipe's task is posted: the pipe
 * frees itself at the end of the batch and the next run must not touch it. */
static void both_ends_detached_with_work_pending(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        bool sink_first;
    } cases[] = {{"sink then source", true}, {"source then sink", false}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fixture_t f;
        fixture_init(&f, 100);
        xps_pipe_set_sink_ready(f.pipe, true); /* posts the task */
        assert_int_equal(xps_pipe_write(f.pipe, text_buffer("pending")), XPS_OK);
        f.src.on_finish = f.snk.on_finish = stay;
        if (cases[i].sink_first) {
            detach_end(&f.snk);
            detach_end(&f.src);
        } else {
            detach_end(&f.src);
            detach_end(&f.snk);
        }
        xps_core_collect(f.core); /* the batch ends: the pipe is freed */
        run_until_idle(f.core, 3);
        if (trace[0] != '\0')
            fail_msg("%s: calls after both ends detached: %s", cases[i].what, trace);
        xps_core_destroy(f.core);
        end_free(&f.src);
        end_free(&f.snk);
    }
}

/* A "connection": the sink of pipe A and the source of pipe B. In A's
 * consume() it fails and detaches both its ends: its own end and, in the
 * same callback, an end of another pipe. */
static void detach_both_of_a_connections_ends(end_t *e)
{
    end_t *conn_src = e->user;
    detach_end(e);
    detach_end(conn_src);
}

static void callback_detaches_ends_of_two_pipes(void **state)
{
    (void)state;
    trace_reset();
    xps_core_t *core = xps_core_create();
    assert_non_null(core);
    xps_pipe_t *a = xps_pipe_create(core, 100), *b = xps_pipe_create(core, 100);
    assert_non_null(a);
    assert_non_null(b);
    end_t a_src, conn_snk, conn_src, b_snk;
    attach(&a_src, a, true, "a_src");
    attach(&conn_snk, a, false, "conn_snk");
    attach(&conn_src, b, true, "conn_src");
    attach(&b_snk, b, false, "b_snk");
    conn_snk.on_work = detach_both_of_a_connections_ends;
    conn_snk.user = &conn_src;
    assert_int_equal(xps_pipe_write(b, text_buffer("queued for b")), XPS_OK);
    b_snk.on_work = sink_read;
    b_snk.read_max = 100;
    assert_int_equal(xps_pipe_write(a, text_buffer("x")), XPS_OK);
    xps_pipe_set_sink_ready(a, true);
    run_until_idle(core, 10);
    /* a's source heard sink_gone, b's sink got its bytes then source_done. */
    assert_int_equal(conn_snk.works, 1);
    assert_int_equal(a_src.finishes, 1);
    assert_int_equal(b_snk.finishes, 0); /* not ready: bytes still in b */
    xps_pipe_set_sink_ready(b, true);
    run_until_idle(core, 10);
    assert_int_equal(b_snk.finishes, 1);
    assert_int_equal(b_snk.got_len, 12);
    assert_memory_equal(b_snk.got, "queued for b", 12);
    assert_false(a_src.attached || conn_snk.attached || conn_src.attached || b_snk.attached);
    assert_int_equal(a_src.works + conn_src.works, 0);
    xps_core_destroy(core);
    end_free(&b_snk);
}

/* A source that, in its produce(), detaches the pipe's sink end (it owns
 * both, e.g. a connection closing a loop-back pipe). */
static void detach_the_other_end(end_t *e) { detach_end(e->user); }

static void source_detaching_the_sink_in_produce(void **state)
{
    (void)state;
    fixture_t f;
    fixture_init(&f, 100);
    f.src.on_work = detach_the_other_end;
    f.src.user = &f.snk;
    xps_pipe_set_source_ready(f.pipe, true);
    xps_pipe_set_sink_ready(f.pipe, true);
    run_until_idle(f.core, 10);
    TRACE_IS("s.produce s.sink_gone");
    assert_false(f.src.attached);
    assert_false(f.snk.attached);
    xps_core_destroy(f.core);
}

/* ------------------------------------------- a filter between two pipes */

/* Upper-cases what it consumes from pipe 1 into pipe 2, never past pipe 2's
 * room: the sink of one pipe writing into another inside its callback. */
static void filter_consume(end_t *e)
{
    xps_pipe_t *out = e->other;
    end_t *out_end = e->user;
    size_t room = xps_pipe_room(out);
    if (room == 0) {
        /* Wait for produce() on pipe 2 before taking more. */
        xps_pipe_set_sink_ready(e->pipe, false);
        xps_pipe_set_source_ready(out, true);
        return;
    }
    char tmp[64];
    size_t want = room < sizeof tmp ? room : sizeof tmp, copied = 0;
    assert_int_equal(xps_pipe_read(e->pipe, tmp, want, &copied), XPS_OK);
    for (size_t i = 0; i < copied; i++)
        tmp[i] = (char)(tmp[i] - 'a' + 'A');
    xps_buffer_t *b = xps_buffer_copy_of(tmp, copied);
    assert_non_null(b);
    assert_int_equal(xps_pipe_write(out, b), XPS_OK);
    out_end->written += copied;
    if (xps_pipe_len(out) > out_end->max_len_seen)
        out_end->max_len_seen = xps_pipe_len(out);
}

/* Pipe 2 has room again: resume taking from pipe 1. */
static void filter_produce(end_t *e)
{
    end_t *in_end = e->user;
    xps_pipe_set_source_ready(e->pipe, false);
    xps_pipe_set_sink_ready(in_end->pipe, true);
}

/* Pipe 1's source is done: finish pipe 2, leave pipe 1. */
static void filter_source_done(end_t *e)
{
    end_t *out_end = e->user;
    detach_end(e);
    detach_end(out_end);
}

static void filter_moves_a_stream_through_two_pipes(void **state)
{
    (void)state;
    trace_reset();
    enum { TOTAL = 20000, T1 = 100, T2 = 64 };
    xps_core_t *core = xps_core_create();
    assert_non_null(core);
    xps_pipe_t *p1 = xps_pipe_create(core, T1), *p2 = xps_pipe_create(core, T2);
    assert_non_null(p1);
    assert_non_null(p2);
    end_t src, f_in, f_out, snk;
    attach(&src, p1, true, "src");
    attach(&f_in, p1, false, "f_in");
    attach(&f_out, p2, true, "f_out");
    attach(&snk, p2, false, "snk");
    src.on_work = source_write;
    src.write_size = 30;
    src.to_write = TOTAL;
    src.detach_when_done = true;
    f_in.on_work = filter_consume;
    f_in.on_finish = filter_source_done;
    f_in.other = p2;
    f_in.user = &f_out;
    f_out.on_work = filter_produce;
    f_out.user = &f_in;
    snk.on_work = sink_read;
    snk.read_max = 17;
    xps_pipe_set_source_ready(p1, true);
    xps_pipe_set_sink_ready(p1, true);
    xps_pipe_set_sink_ready(p2, true);
    run_until_idle(core, 10000);

    assert_int_equal(snk.got_len, TOTAL);
    for (size_t i = 0; i < TOTAL; i++)
        if (snk.got[i] != pattern_at(i) - 'a' + 'A')
            fail_msg("byte %zu: '%c', expected '%c'", i, snk.got[i], pattern_at(i) - 'a' + 'A');
    /* Back-pressure held: a write never took a pipe past threshold + one write. */
    assert_true(src.max_len_seen < T1 + 30);
    assert_true(f_out.max_len_seen <= T2);
    assert_int_equal(snk.finishes, 1);
    assert_int_equal(f_in.finishes, 1);
    assert_int_equal(src.finishes + f_out.finishes, 0);
    assert_false(src.attached || f_in.attached || f_out.attached || snk.attached);
    xps_core_destroy(core);
    end_free(&snk);
}

/* ------------------------------------------------------------ lifecycle */

static void attaching_an_end_twice_fails(void **state)
{
    (void)state;
    fixture_t f;
    fixture_init(&f, 100);
    end_t extra = {.name = "extra"};
    assert_int_equal(xps_pipe_attach_source(f.pipe, cb_work, cb_finish, &extra), XPS_E_FAIL);
    assert_int_equal(xps_pipe_attach_sink(f.pipe, cb_work, cb_finish, &extra), XPS_E_FAIL);
    /* Still fails once the first end has detached: an end attaches once. */
    f.src.on_finish = f.snk.on_finish = stay;
    detach_end(&f.src);
    assert_int_equal(xps_pipe_attach_source(f.pipe, cb_work, cb_finish, &extra), XPS_E_FAIL);
    run_until_idle(f.core, 5);
    TRACE_IS("k.source_done"); /* the extra end never heard anything */
    assert_int_equal(extra.works + extra.finishes, 0);
    fixture_done(&f);
}

static void destroy_a_pipe_never_attached(void **state)
{
    (void)state;
    xps_core_t *core = xps_core_create();
    assert_non_null(core);
    xps_pipe_t *pipe = xps_pipe_create(core, XPS_PIPE_DEFAULT_THRESHOLD);
    assert_non_null(pipe);
    assert_false(xps_pipe_has_source(pipe));
    assert_false(xps_pipe_has_sink(pipe));
    assert_int_equal(xps_pipe_len(pipe), 0);
    assert_int_equal(xps_pipe_room(pipe), XPS_PIPE_DEFAULT_THRESHOLD);
    xps_pipe_destroy(pipe);
    xps_pipe_destroy(NULL);
    assert_int_equal(run_round(core), 0);
    xps_core_destroy(core); /* valgrind: pipe and task freed */
}

/* The header: XPS_E_CLOSED only "when the sink has detached". A source set
 * up before its sink (a client's first bytes arrive before the upstream
 * is connected) may write; the bytes wait for the sink. */
static void write_before_the_sink_attaches_is_kept(void **state)
{
    (void)state;
    trace_reset();
    xps_core_t *core = xps_core_create();
    assert_non_null(core);
    xps_pipe_t *pipe = xps_pipe_create(core, 100);
    assert_non_null(pipe);
    end_t src, snk;
    attach(&src, pipe, true, "s");
    assert_int_equal(xps_pipe_write(pipe, text_buffer("early")), XPS_OK);
    int fd = pattern_file(10);
    assert_int_equal(xps_pipe_write_file(pipe, fd, 0, 3), XPS_OK);
    close(fd);
    assert_int_equal(xps_pipe_len(pipe), 8);
    attach(&snk, pipe, false, "k");
    snk.on_work = sink_read;
    snk.read_max = 100;
    xps_pipe_set_sink_ready(pipe, true);
    detach_end(&src);
    run_until_idle(core, 5);
    TRACE_IS("k.consume k.source_done");
    assert_int_equal(snk.got_len, 8);
    assert_memory_equal(snk.got, "early", 5);
    xps_core_destroy(core);
    end_free(&snk);
}

/* The sink came and went before the source attached: the source still
 * hears sink_gone (it is not ready: readiness does not matter), once, and
 * its writes are refused. */
static void source_attaching_after_the_sink_left_hears_sink_gone(void **state)
{
    (void)state;
    trace_reset();
    xps_core_t *core = xps_core_create();
    assert_non_null(core);
    xps_pipe_t *pipe = xps_pipe_create(core, 100);
    assert_non_null(pipe);
    end_t src, snk;
    attach(&snk, pipe, false, "k");
    detach_end(&snk);
    run_until_idle(core, 5);
    TRACE_IS("");
    attach(&src, pipe, true, "s");
    src.on_finish = stay;
    assert_int_equal(xps_pipe_write(pipe, text_buffer("nobody")), XPS_E_CLOSED);
    run_until_idle(core, 5);
    for (int i = 0; i < 3; i++)
        run_round(core);
    TRACE_IS("s.sink_gone");
    detach_end(&src); /* both gone: the pipe frees itself */
    run_until_idle(core, 5);
    xps_core_destroy(core);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_calls_until_an_end_is_ready),
        cmocka_unit_test(consume_only_while_the_pipe_holds_data),
        cmocka_unit_test(produce_only_below_the_threshold),
        cmocka_unit_test(produce_stops_exactly_at_the_threshold),
        cmocka_unit_test(ready_end_without_progress_is_called_once_per_round),
        cmocka_unit_test(write_moves_the_buffer_into_the_pipe),
        cmocka_unit_test(peek_and_read_on_an_empty_pipe),
        cmocka_unit_test(read_and_consume_cross_items),
        cmocka_unit_test(file_ranges_count_peek_and_read),
        cmocka_unit_test(bytes_and_file_ranges_read_in_order),
        cmocka_unit_test(read_of_a_range_past_the_end_of_file_is_eof),
        cmocka_unit_test(write_file_of_zero_bytes_and_of_a_bad_descriptor),
        cmocka_unit_test(source_done_only_after_every_byte_is_consumed),
        cmocka_unit_test(source_detaching_in_produce_is_drained_then_done),
        cmocka_unit_test(source_done_with_an_empty_pipe_needs_no_readiness),
        cmocka_unit_test(sink_detach_drops_data_and_tells_the_source_once),
        cmocka_unit_test(sink_detaching_in_consume),
        cmocka_unit_test(both_ends_detached_with_work_pending),
        cmocka_unit_test(callback_detaches_ends_of_two_pipes),
        cmocka_unit_test(source_detaching_the_sink_in_produce),
        cmocka_unit_test(filter_moves_a_stream_through_two_pipes),
        cmocka_unit_test(attaching_an_end_twice_fails),
        cmocka_unit_test(destroy_a_pipe_never_attached),
        cmocka_unit_test(write_before_the_sink_attaches_is_kept),
        cmocka_unit_test(source_attaching_after_the_sink_left_hears_sink_gone),
    };
    return cmocka_run_group_tests_name("core/xps_pipe", tests, NULL, NULL);
}
