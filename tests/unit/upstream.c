/*
 * tests/unit/upstream.c — modules/upstream/xps_upstream.h checked against
 * its contract, on loopback TCP only (127.0.0.1, ephemeral ports).
 *
 * The three outcomes of a connect are produced for real:
 *  - success: a listener on 127.0.0.1:0;
 *  - refusal: a port bound (so nobody else takes it) but not listening, so
 *    the kernel answers the SYN with a reset;
 *  - timeout: a listener with backlog 0 whose one queue slot is filled by a
 *    connection nobody accepts. Linux then drops further SYNs (the accept
 *    queue is full), the client retransmits after 1 s, 3 s, ..., and the
 *    connect stays in progress: the module's deadline (200 ms here) fires.
 *    No packet leaves 127.0.0.0/8.
 *
 * Callbacks append tokens to a trace, so a test asserts the order and the
 * count of what happened as one string. Every run of the loop is bounded by
 * a fail-safe timer, and the whole binary by alarm(). Each test ends with
 * the loop as the core's only member and exactly the descriptors that were
 * open before it: no live handle, no leaked socket. Run it under ASan
 * (`make SAN=1 build/san/tests/unit-upstream`) and valgrind too.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tests/support/harness.h" /* xt_fd_count */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/xps_buffer.h"
#include "core/xps_core.h"
#include "core/xps_pipe.h"
#include "modules/loop/xps_loop.h"
#include "modules/tcp/xps_tcp.h"
#include "modules/upstream/xps_upstream.h"

enum {
    FAILSAFE_MS = 3000, /* a run whose events never come stops after this */
    TIMEOUT_MS = 200,   /* the connect deadline of the timeout tests */
    ALARM_S = 30,       /* and a loop that never stops kills the binary */
};

/* -------------------------------------------------------------- fixture */

typedef struct fixture {
    xps_core_t *core;
    xps_loop_t *loop;
    int fds_before; /* descriptors open before the test */
} fixture_t;

static int setup(void **state)
{
    static fixture_t f;
    alarm(ALARM_S);
    f.fds_before = xt_fd_count(getpid());
    f.core = xps_core_create();
    assert_non_null(f.core);
    int err = XPS_E_FAIL;
    f.loop = xps_loop_create(f.core, &err);
    assert_non_null(f.loop);
    *state = &f;
    return 0;
}

/* No attempt, tunnel or connection may be left: the loop is the core's only
 * member, and destroying the core leaves the descriptors as they were. */
static int teardown(void **state)
{
    fixture_t *f = *state;
    if (f->core) {
        assert_int_equal(xps_core_member_count(f->core), 1);
        xps_core_destroy(f->core);
    }
    assert_int_equal(xt_fd_count(getpid()), f->fds_before);
    alarm(0);
    return 0;
}

#define UP_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

/* ---------------------------------------------------------------- trace */

static char trace[1024];

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
    size_t used = strlen(trace);
    if (used > 0 && used + 1 < sizeof trace)
        trace[used++] = ' ', trace[used] = '\0';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(trace + used, sizeof trace - used, fmt, ap);
    va_end(ap);
}

static const char *status_name(int status)
{
    switch (status) {
    case XPS_OK: return "ok";
    case XPS_E_REFUSED: return "refused";
    case XPS_E_TIMEOUT: return "timeout";
    default: return xps_strerror(status);
    }
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------- runs */

static void on_failsafe(xps_loop_timer_t *timer, void *data)
{
    (void)timer;
    note("FAILSAFE");
    xps_loop_stop(data);
}

/* The planned end of a run in which nothing should happen. */
static void on_quiet(xps_loop_timer_t *timer, void *data)
{
    (void)timer;
    note("quiet");
    xps_loop_stop(data);
}

/* Runs the loop until a callback stops it, or for `ms` at most; the stop
 * then writes "quiet" when that was the plan, "FAILSAFE" when not. */
static void run_for(fixture_t *f, int ms, bool quiet)
{
    xps_loop_timer_t *t = xps_loop_timer_create(f->loop, quiet ? on_quiet : on_failsafe, f->loop);
    assert_non_null(t);
    xps_loop_timer_start(t, (uint64_t)ms);
    assert_int_equal(xps_loop_run(f->loop), XPS_OK);
    xps_loop_timer_destroy(t);
}

static void run(fixture_t *f) { run_for(f, FAILSAFE_MS, false); }

/* ------------------------------------------------------ local servers */

/* A blocking socket bound to 127.0.0.1 on a free port; listening with
 * `backlog` unless backlog < 0 (bound only: connects to it are refused). */
static int local_socket(int backlog, uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    if (backlog >= 0)
        assert_int_equal(listen(fd, backlog), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* A blocking client connected to 127.0.0.1:port (the handshake is done by
 * the kernel, whether or not anyone has called accept yet). */
static int local_client(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* A listener whose accept queue is full: further connects hang. *filler is
 * the connection occupying the one slot (close it, with the listener). */
static int full_listener(uint16_t *port, int *filler)
{
    int l = local_socket(0, port);
    *filler = local_client(*port); /* backlog 0 still queues one */
    return l;
}

/* ------------------------------------------------------- connect results */

typedef struct result {
    xps_loop_t *loop;
    const char *name;             /* token prefix in the trace */
    int calls;                    /* callbacks received */
    int status;                   /* the last status */
    xps_connection_t *connection; /* the last connection (owned by the test) */
    xps_upstream_t *cancel_self;  /* if set: the callback cancels this handle */
    xps_upstream_t *cancel_other; /* if set: the callback cancels this attempt */
    bool keep_running;            /* do not stop the loop from the callback */
} result_t;

static void on_result(xps_upstream_t *upstream, xps_connection_t *connection, int status,
                      void *data)
{
    result_t *r = data;
    note("%s:%s", r->name, status_name(status));
    r->calls++;
    r->status = status;
    r->connection = connection;
    assert_true((status == XPS_OK) == (connection != NULL));
    assert_non_null(xps_upstream_target(upstream));
    if (r->cancel_self)
        xps_upstream_cancel(upstream); /* over already: must do nothing */
    if (r->cancel_other)
        xps_upstream_cancel(r->cancel_other);
    if (!r->keep_running)
        xps_loop_stop(r->loop);
}

/* -------------------------------------------------------------- connect */

/* A name ("localhost") and a numeric address both connect, and the
 * callback comes from the loop, never from inside connect(). */
static void connects_to_a_listener_and_reports_from_the_loop(void **state)
{
    fixture_t *f = *state;
    const char *hosts[] = {"127.0.0.1", "localhost"};
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
        trace[0] = '\0';
        uint16_t port;
        int l = local_socket(16, &port);
        result_t r = {.loop = f->loop, .name = "up"};
        int err = XPS_E_FAIL;
        xps_upstream_t *u = xps_upstream_connect(f->loop, hosts[i], port, 2000, on_result, &r, &err);
        assert_non_null(u);
        assert_int_equal(err, XPS_OK);
        assert_int_equal(r.calls, 0); /* not inline */
        char want[64];
        snprintf(want, sizeof want, "%s:%u", hosts[i], port);
        assert_string_equal(xps_upstream_target(u), want);
        run(f);
        assert_string_equal(trace, "up:ok");
        assert_int_equal(r.calls, 1);
        int server = accept4(l, NULL, NULL, SOCK_CLOEXEC); /* it is in the queue */
        assert_true(server >= 0);
        char peer[64];
        snprintf(peer, sizeof peer, "127.0.0.1:%u", port);
        assert_string_equal(xps_connection_peer(r.connection), peer);
        xps_connection_destroy(r.connection);
        close(server);
        close(l);
    }
}

/* The far end of the test's connection: a raw accepted socket on the loop
 * that reads until EOF, then answers and closes. */
typedef struct raw_server {
    int fd;
    xps_loop_io_t *io;
    char got[256];
    size_t got_len;
    const char *answer;
} raw_server_t;

static void raw_server_readable(xps_loop_io_t *io, unsigned events, void *data)
{
    (void)io;
    (void)events;
    raw_server_t *s = data;
    ssize_t n = recv(s->fd, s->got + s->got_len, sizeof s->got - s->got_len - 1, 0);
    if (n > 0) {
        s->got_len += (size_t)n;
        return;
    }
    if (n < 0 && errno == EAGAIN)
        return;
    note("server:got-eof");
    assert_int_equal(send(s->fd, s->answer, strlen(s->answer), MSG_NOSIGNAL),
                     (ssize_t)strlen(s->answer));
    xps_loop_io_detach(s->io);
    s->io = NULL;
    close(s->fd); /* FIN after the answer */
    s->fd = -1;
}

/* The test's ends of the two pipes around the connection. */
typedef struct pipe_ends {
    xps_loop_t *loop;
    int endings;          /* pipe:eof and closed seen so far: stop at 2 */
    const char *to_send;  /* written once into `out`, then end of stream */
    char got[256];        /* what came out of `in` */
    size_t got_len;
} pipe_ends_t;

static void test_produce(xps_pipe_t *pipe, void *data)
{
    pipe_ends_t *e = data;
    xps_buffer_t *b = xps_buffer_copy_of(e->to_send, strlen(e->to_send));
    assert_non_null(b);
    assert_int_equal(xps_pipe_write(pipe, b), XPS_OK);
    xps_pipe_detach_source(pipe); /* end of stream: the connection sends FIN */
}

static void test_sink_gone(xps_pipe_t *pipe, void *data)
{
    (void)data;
    note("sink-gone");
    xps_pipe_detach_source(pipe);
}

static void test_consume(xps_pipe_t *pipe, void *data)
{
    pipe_ends_t *e = data;
    size_t n = 0;
    assert_int_equal(xps_pipe_read(pipe, e->got + e->got_len, sizeof e->got - e->got_len - 1, &n),
                     XPS_OK);
    e->got_len += n;
}

static void test_source_done(xps_pipe_t *pipe, void *data)
{
    pipe_ends_t *e = data;
    note("pipe:eof");
    xps_pipe_detach_sink(pipe);
    if (++e->endings == 2)
        xps_loop_stop(e->loop);
}

static void on_connection_close(xps_connection_t *c, int reason, void *data)
{
    (void)c;
    pipe_ends_t *e = data;
    note("closed:%s", status_name(reason));
    if (++e->endings == 2)
        xps_loop_stop(e->loop);
}

/* The connection an upstream hands back is a full modules/tcp connection:
 * bytes go both ways through pipes, end of stream passes both ways (the
 * server answers only after our FIN), and it closes itself when done (its
 * close comes before the pipe's task tells our sink the stream ended). */
static void connection_carries_bytes_both_ways_through_pipes(void **state)
{
    fixture_t *f = *state;
    trace[0] = '\0';
    uint16_t port;
    int l = local_socket(16, &port);
    result_t r = {.loop = f->loop, .name = "up"};
    int err;
    assert_non_null(xps_upstream_connect(f->loop, "127.0.0.1", port, 2000, on_result, &r, &err));
    run(f);
    assert_int_equal(r.status, XPS_OK);

    raw_server_t s = {.answer = "pong from the server"};
    s.fd = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    assert_true(s.fd >= 0);
    s.io = xps_loop_io_attach(f->loop, s.fd, XPS_LOOP_READABLE, XPS_LOOP_LEVEL,
                              raw_server_readable, &s, &err);
    assert_non_null(s.io);

    pipe_ends_t e = {.loop = f->loop, .to_send = "ping from xps"};
    xps_pipe_t *out = xps_pipe_create(f->core, XPS_PIPE_DEFAULT_THRESHOLD);
    xps_pipe_t *in = xps_pipe_create(f->core, XPS_PIPE_DEFAULT_THRESHOLD);
    assert_int_equal(xps_pipe_attach_source(out, test_produce, test_sink_gone, &e), XPS_OK);
    assert_int_equal(xps_connection_attach_sink(r.connection, out), XPS_OK);
    assert_int_equal(xps_connection_attach_source(r.connection, in), XPS_OK);
    assert_int_equal(xps_pipe_attach_sink(in, test_consume, test_source_done, &e), XPS_OK);
    xps_pipe_set_source_ready(out, true);
    xps_pipe_set_sink_ready(in, true);
    xps_connection_on_close(r.connection, on_connection_close, &e);
    run(f);

    assert_string_equal(trace, "up:ok server:got-eof closed:ok pipe:eof");
    s.got[s.got_len] = '\0';
    e.got[e.got_len] = '\0';
    assert_string_equal(s.got, "ping from xps");
    assert_string_equal(e.got, "pong from the server");
    close(l);
}

/* Nothing listens: the kernel resets the SYN. Reported through the
 * callback (the attempt itself started fine), quickly. */
static void refused_port_is_reported_through_the_callback(void **state)
{
    fixture_t *f = *state;
    trace[0] = '\0';
    uint16_t port;
    int bound = local_socket(-1, &port); /* holds the port, does not listen */
    result_t r = {.loop = f->loop, .name = "up"};
    int err = XPS_E_FAIL;
    int64_t t0 = now_ms();
    xps_upstream_t *u = xps_upstream_connect(f->loop, "127.0.0.1", port, 2000, on_result, &r, &err);
    assert_non_null(u);
    assert_int_equal(err, XPS_OK);
    assert_int_equal(r.calls, 0);
    run(f);
    assert_string_equal(trace, "up:refused");
    assert_null(r.connection);
    assert_true(now_ms() - t0 < 1000);
    close(bound);
}

/* A SYN the listener drops (its accept queue is full) leaves the connect
 * in progress: the deadline ends it with XPS_E_TIMEOUT. */
static void silent_listener_times_out(void **state)
{
    fixture_t *f = *state;
    trace[0] = '\0';
    uint16_t port;
    int filler;
    int l = full_listener(&port, &filler);
    result_t r = {.loop = f->loop, .name = "up"};
    int err;
    int64_t t0 = now_ms();
    assert_non_null(
        xps_upstream_connect(f->loop, "127.0.0.1", port, TIMEOUT_MS, on_result, &r, &err));
    run(f);
    int64_t took = now_ms() - t0;
    assert_string_equal(trace, "up:timeout");
    assert_true(took >= TIMEOUT_MS - 10 && took < TIMEOUT_MS + 500);
    close(filler);
    close(l);
}

/* Cancelled before the loop ever ran: no callback, socket closed. */
static void cancel_before_the_loop_runs_means_no_callback(void **state)
{
    fixture_t *f = *state;
    trace[0] = '\0';
    uint16_t port;
    int l = local_socket(16, &port);
    result_t r = {.loop = f->loop, .name = "up"};
    int err;
    xps_upstream_t *u = xps_upstream_connect(f->loop, "127.0.0.1", port, 2000, on_result, &r, &err);
    assert_non_null(u);
    xps_upstream_cancel(u);
    xps_upstream_cancel(NULL); /* accepted */
    run_for(f, 100, true);
    assert_string_equal(trace, "quiet");
    assert_int_equal(r.calls, 0);
    close(l);
}

typedef struct canceller {
    xps_upstream_t *victim;
} canceller_t;

static void cancel_from_timer(xps_loop_timer_t *timer, void *data)
{
    (void)timer;
    note("cancel");
    xps_upstream_cancel(((canceller_t *)data)->victim);
}

/* A pending attempt (whose deadline is not yet due) cancelled from inside
 * a timer callback never calls back, not even with the deadline later. */
static void cancel_inside_another_callback_stops_a_pending_attempt(void **state)
{
    fixture_t *f = *state;
    trace[0] = '\0';
    uint16_t port;
    int filler;
    int l = full_listener(&port, &filler);
    result_t r = {.loop = f->loop, .name = "up"};
    int err;
    canceller_t c = {
        xps_upstream_connect(f->loop, "127.0.0.1", port, TIMEOUT_MS, on_result, &r, &err)};
    assert_non_null(c.victim);
    xps_loop_timer_t *t = xps_loop_timer_create(f->loop, cancel_from_timer, &c);
    assert_non_null(t);
    xps_loop_timer_start(t, 50);
    run_for(f, 2 * TIMEOUT_MS, true); /* well past the cancelled deadline */
    assert_string_equal(trace, "cancel quiet");
    xps_loop_timer_destroy(t);
    close(filler);
    close(l);
}

/* Inside its own callback the attempt is over: cancel does nothing (and
 * must not free it twice, which ASan would see). */
static void cancel_inside_own_callback_is_harmless(void **state)
{
    fixture_t *f = *state;
    trace[0] = '\0';
    uint16_t port;
    int bound = local_socket(-1, &port);
    result_t r = {.loop = f->loop, .name = "up"};
    int err;
    r.cancel_self = xps_upstream_connect(f->loop, "127.0.0.1", port, 2000, on_result, &r, &err);
    assert_non_null(r.cancel_self);
    run(f);
    assert_string_equal(trace, "up:refused");
    close(bound);
}

/* Two attempts: the first to finish (refused) cancels the other (pending,
 * silent). Only one callback ever runs. */
static void a_callback_may_cancel_another_attempt(void **state)
{
    fixture_t *f = *state;
    trace[0] = '\0';
    uint16_t dead, slow;
    int bound = local_socket(-1, &dead), filler;
    int l = full_listener(&slow, &filler);
    result_t fast = {.loop = f->loop, .name = "fast", .keep_running = true};
    result_t pending = {.loop = f->loop, .name = "slow"};
    int err;
    fast.cancel_other =
        xps_upstream_connect(f->loop, "127.0.0.1", slow, TIMEOUT_MS, on_result, &pending, &err);
    assert_non_null(fast.cancel_other);
    assert_non_null(xps_upstream_connect(f->loop, "127.0.0.1", dead, 0, on_result, &fast, &err));
    run_for(f, 2 * TIMEOUT_MS, true);
    assert_string_equal(trace, "fast:refused quiet");
    assert_int_equal(pending.calls, 0);
    close(filler);
    close(l);
    close(bound);
}

/* A pending attempt is a member of the core: destroying the core closes
 * its socket and calls nobody. (teardown then checks the descriptors.) */
static void destroying_the_core_cancels_pending_attempts(void **state)
{
    fixture_t *f = *state;
    trace[0] = '\0';
    uint16_t port;
    int filler;
    int l = full_listener(&port, &filler);
    result_t r = {.loop = f->loop, .name = "up"};
    int err;
    assert_non_null(xps_upstream_connect(f->loop, "127.0.0.1", port, 0, on_result, &r, &err));
    assert_int_equal(xps_core_member_count(f->core), 2);
    xps_core_destroy(f->core);
    f->core = NULL;
    assert_int_equal(r.calls, 0);
    close(filler);
    close(l);
}

/* Arguments that cannot work fail at once, leaving nothing behind. */
static void bad_arguments_fail_at_once(void **state)
{
    fixture_t *f = *state;
    static const struct {
        const char *host;
        uint16_t port;
        int error;
    } cases[] = {
        {"127.0.0.1", 0, XPS_E_INVAL},
        {"", 3000, XPS_E_INVAL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        result_t r = {.loop = f->loop, .name = "up"};
        int err = XPS_OK;
        assert_null(xps_upstream_connect(f->loop, cases[i].host, cases[i].port, 100, on_result,
                                         &r, &err));
        assert_int_equal(err, cases[i].error);
        assert_int_equal(r.calls, 0);
    }
}

/* --------------------------------------------------------------- tunnel */

/* An echo server on the loop: accepts, sends back what it reads, and
 * closes its side after the client's FIN. One connection at a time. */
typedef struct echo_server {
    xps_loop_t *loop;
    int listen_fd;
    xps_loop_io_t *listen_io;
    int fd;             /* the accepted connection, or -1 */
    xps_loop_io_t *io;
} echo_server_t;

static void echo_readable(xps_loop_io_t *io, unsigned events, void *data)
{
    (void)io;
    (void)events;
    echo_server_t *s = data;
    char buf[4096];
    ssize_t n = recv(s->fd, buf, sizeof buf, 0);
    if (n > 0) {
        assert_int_equal(send(s->fd, buf, (size_t)n, MSG_NOSIGNAL), n);
        return;
    }
    if (n < 0 && errno == EAGAIN)
        return;
    note("upstream:eof");
    xps_loop_io_detach(s->io);
    s->io = NULL;
    close(s->fd);
    s->fd = -1;
}

static void echo_accept(xps_loop_io_t *io, unsigned events, void *data)
{
    (void)io;
    (void)events;
    echo_server_t *s = data;
    assert_int_equal(s->fd, -1);
    s->fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    assert_true(s->fd >= 0);
    note("upstream:accepted");
    int err;
    s->io = xps_loop_io_attach(s->loop, s->fd, XPS_LOOP_READABLE, XPS_LOOP_LEVEL, echo_readable,
                               s, &err);
    assert_non_null(s->io);
}

static void echo_start(fixture_t *f, echo_server_t *s, int listen_fd)
{
    int err;
    *s = (echo_server_t){.loop = f->loop, .listen_fd = listen_fd, .fd = -1};
    s->listen_io = xps_loop_io_attach(f->loop, listen_fd, XPS_LOOP_READABLE, XPS_LOOP_LEVEL,
                                      echo_accept, s, &err);
    assert_non_null(s->listen_io);
}

static void echo_stop(echo_server_t *s)
{
    xps_loop_io_detach(s->listen_io);
    xps_loop_io_detach(s->io);
    if (s->fd >= 0)
        close(s->fd);
    close(s->listen_fd);
}

/* The proxy's listener: every client is tunnelled to 127.0.0.1:port. */
typedef struct proxy {
    uint16_t upstream_port;
    uint64_t timeout_ms;
    xps_loop_t *loop;
} proxy_t;

static void proxy_accept(xps_listener_t *listener, xps_connection_t *client, void *data)
{
    (void)listener;
    proxy_t *p = data;
    note("proxy:client");
    assert_int_equal(
        xps_upstream_tunnel(p->loop, client, "127.0.0.1", p->upstream_port, p->timeout_ms),
        XPS_OK);
}

/* The test's client, watched by the loop: collects what arrives and stops
 * the loop at EOF or a reset. */
typedef struct client {
    xps_loop_t *loop;
    int fd;
    xps_loop_io_t *io;
    char got[256];
    size_t got_len;
} client_t;

static void client_readable(xps_loop_io_t *io, unsigned events, void *data)
{
    (void)events;
    client_t *c = data;
    ssize_t n = recv(c->fd, c->got + c->got_len, sizeof c->got - c->got_len - 1, MSG_DONTWAIT);
    if (n > 0) {
        c->got_len += (size_t)n;
        return;
    }
    if (n < 0 && errno == EAGAIN)
        return;
    note(n == 0 ? "client:eof" : "client:reset");
    xps_loop_io_detach(io);
    c->io = NULL;
    xps_loop_stop(c->loop);
}

/* Connects a client to the proxy listener, sends `text` and its FIN. */
static void client_start(fixture_t *f, client_t *c, uint16_t proxy_port, const char *text)
{
    *c = (client_t){.loop = f->loop, .fd = local_client(proxy_port)};
    assert_int_equal(send(c->fd, text, strlen(text), MSG_NOSIGNAL), (ssize_t)strlen(text));
    assert_int_equal(shutdown(c->fd, SHUT_WR), 0);
    int err;
    c->io = xps_loop_io_attach(f->loop, c->fd, XPS_LOOP_READABLE, XPS_LOOP_LEVEL, client_readable,
                               c, &err);
    assert_non_null(c->io);
}

/* A listener on 127.0.0.1:0 whose clients are tunnelled to upstream_port. */
static xps_listener_t *proxy_start(fixture_t *f, proxy_t *p, uint16_t upstream_port,
                                   uint64_t timeout_ms, uint16_t *proxy_port)
{
    *p = (proxy_t){upstream_port, timeout_ms, f->loop};
    int err;
    xps_listener_t *l = xps_listener_create(f->loop, "127.0.0.1", 0, NULL, proxy_accept, p, &err);
    assert_non_null(l);
    *proxy_port = xps_listener_port(l);
    return l;
}

/* Bytes both ways, and the client's FIN reaches the upstream (which echoes,
 * then closes), whose FIN comes back after the echo: end of stream passes
 * through in each direction, nothing lost. */
static void tunnel_relays_both_ways_and_passes_end_of_stream(void **state)
{
    fixture_t *f = *state;
    trace[0] = '\0';
    uint16_t up_port, proxy_port;
    echo_server_t up;
    echo_start(f, &up, local_socket(16, &up_port));
    proxy_t p;
    xps_listener_t *l = proxy_start(f, &p, up_port, 2000, &proxy_port);
    client_t c;
    client_start(f, &c, proxy_port, "hello through the tunnel");
    run(f);
    assert_string_equal(trace, "proxy:client upstream:accepted upstream:eof client:eof");
    c.got[c.got_len] = '\0';
    assert_string_equal(c.got, "hello through the tunnel");
    xps_listener_destroy(l);
    echo_stop(&up);
    close(c.fd);
}

/* Upstream refused: the client is closed and gets no byte. If it had sent
 * bytes nobody read, the kernel closes with a reset, else with a FIN. */
static void tunnel_closes_the_client_when_the_upstream_refuses(void **state)
{
    fixture_t *f = *state;
    static const struct {
        const char *send;
        const char *trace;
    } cases[] = {
        {"", "proxy:client client:eof"},
        {"GET / HTTP/1.0\r\n\r\n", "proxy:client client:reset"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        trace[0] = '\0';
        uint16_t dead, proxy_port;
        int bound = local_socket(-1, &dead);
        proxy_t p;
        xps_listener_t *l = proxy_start(f, &p, dead, 2000, &proxy_port);
        client_t c;
        client_start(f, &c, proxy_port, cases[i].send);
        run(f);
        assert_string_equal(trace, cases[i].trace);
        assert_int_equal(c.got_len, 0);
        xps_listener_destroy(l);
        close(c.fd);
        close(bound);
    }
}

/* While the connect is pending the client's bytes wait (in its socket:
 * a pipe without a sink never asks its source to read); when the upstream
 * finally accepts (after the kernel's 1 s SYN retransmission), they flow. */
static void tunnel_holds_client_bytes_until_the_upstream_accepts(void **state)
{
    fixture_t *f = *state;
    trace[0] = '\0';
    uint16_t up_port, proxy_port;
    int filler;
    int up_listen = full_listener(&up_port, &filler);
    proxy_t p;
    xps_listener_t *l = proxy_start(f, &p, up_port, 5000, &proxy_port);
    client_t c;
    client_start(f, &c, proxy_port, "early bytes");
    run_for(f, 150, true);
    assert_string_equal(trace, "proxy:client quiet");
    assert_int_equal(c.got_len, 0);

    int queued = accept4(up_listen, NULL, NULL, SOCK_CLOEXEC); /* make room */
    assert_true(queued >= 0);
    close(queued);
    close(filler);
    echo_server_t up;
    echo_start(f, &up, up_listen);
    run(f);
    assert_string_equal(trace,
                        "proxy:client quiet upstream:accepted upstream:eof client:eof");
    c.got[c.got_len] = '\0';
    assert_string_equal(c.got, "early bytes");
    xps_listener_destroy(l);
    echo_stop(&up);
    close(c.fd);
}

/* A tunnel still waiting for its upstream is destroyed with the core: the
 * client, both pipes and the attempt go, no callback, nothing leaks. */
static void destroying_the_core_during_a_pending_tunnel_leaks_nothing(void **state)
{
    fixture_t *f = *state;
    trace[0] = '\0';
    uint16_t up_port, proxy_port;
    int filler;
    int up_listen = full_listener(&up_port, &filler);
    proxy_t p;
    proxy_start(f, &p, up_port, 0, &proxy_port);
    client_t c;
    client_start(f, &c, proxy_port, "never delivered");
    run_for(f, 100, true);
    assert_string_equal(trace, "proxy:client quiet");
    xps_loop_io_detach(c.io);
    xps_core_destroy(f->core); /* listener, tunnel, attempt, client, pipes */
    f->core = NULL;
    char byte;
    assert_true(recv(c.fd, &byte, 1, 0) <= 0); /* the client was closed */
    close(c.fd);
    close(filler);
    close(up_listen);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        UP_TEST(connects_to_a_listener_and_reports_from_the_loop),
        UP_TEST(connection_carries_bytes_both_ways_through_pipes),
        UP_TEST(refused_port_is_reported_through_the_callback),
        UP_TEST(silent_listener_times_out),
        UP_TEST(cancel_before_the_loop_runs_means_no_callback),
        UP_TEST(cancel_inside_another_callback_stops_a_pending_attempt),
        UP_TEST(cancel_inside_own_callback_is_harmless),
        UP_TEST(a_callback_may_cancel_another_attempt),
        UP_TEST(destroying_the_core_cancels_pending_attempts),
        UP_TEST(bad_arguments_fail_at_once),
        UP_TEST(tunnel_relays_both_ways_and_passes_end_of_stream),
        UP_TEST(tunnel_closes_the_client_when_the_upstream_refuses),
        UP_TEST(tunnel_holds_client_bytes_until_the_upstream_accepts),
        UP_TEST(destroying_the_core_during_a_pending_tunnel_leaks_nothing),
    };
    return cmocka_run_group_tests_name("upstream", tests, NULL, NULL);
}
