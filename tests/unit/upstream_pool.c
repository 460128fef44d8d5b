/*
 * tests/unit/upstream_pool.c — modules/upstream/xps_upstream_pool.h checked
 * against its contract, on loopback TCP only (127.0.0.1, ephemeral ports).
 *
 * Each "upstream connection" is real: a blocking client socket connected
 * to a local listener, wrapped in an xps_connection_t, with two pipes
 * attached as a proxy session would (the test is the other end of both).
 * The test keeps the accepted (server) side as a plain descriptor, so it
 * can play the upstream: close it, send bytes nobody asked for, or read
 * and see whether the pool closed our side (EOF). Every run of the loop is
 * bounded by a fail-safe timer and the binary by alarm(). Each test ends
 * with the loop as the core's only member and exactly the descriptors that
 * were open before it.
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
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/xps_buffer.h"
#include "core/xps_core.h"
#include "core/xps_pipe.h"
#include "modules/loop/xps_loop.h"
#include "modules/tcp/xps_tcp.h"
#include "modules/upstream/xps_upstream_pool.h"

enum {
    FAILSAFE_MS = 3000, /* a wait whose event never comes gives up after this */
    SETTLE_MS = 30,     /* a run that only lets queued work finish */
    ALARM_S = 30,       /* and a loop that never stops kills the binary */
    SHORT_IDLE_MS = 50, /* the idle timeout of the expiry test */
};

/* -------------------------------------------------------------- fixture */

typedef struct fixture {
    xps_core_t *core;
    xps_loop_t *loop;
    int listener;       /* 127.0.0.1:port, blocking */
    uint16_t port;
    int fds_before;     /* descriptors open before the test */
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
    f.listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(f.listener >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(f.listener, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(f.listener, 64), 0);
    assert_int_equal(getsockname(f.listener, (struct sockaddr *)&a, &len), 0);
    f.port = ntohs(a.sin_port);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    close(f->listener);
    assert_int_equal(xps_core_member_count(f->core), 1); /* the loop alone */
    xps_core_destroy(f->core);
    assert_int_equal(xt_fd_count(getpid()), f->fds_before);
    alarm(0);
    return 0;
}

#define POOL_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

/* ------------------------------------------------------------- runs */

static void on_stop(xps_loop_timer_t *timer, void *data)
{
    (void)timer;
    xps_loop_stop(data);
}

/* Runs the loop for `ms`: queued work finishes, timers due fire. */
static void run_for(fixture_t *f, int ms)
{
    xps_loop_timer_t *t = xps_loop_timer_create(f->loop, on_stop, f->loop);
    assert_non_null(t);
    xps_loop_timer_start(t, (uint64_t)ms);
    assert_int_equal(xps_loop_run(f->loop), XPS_OK);
    xps_loop_timer_destroy(t);
}

/* Runs the loop until the pool holds `want` connections to 127.0.0.1:port
 * (checked every few ms), for FAILSAFE_MS at most. */
typedef struct waiting {
    fixture_t *f;
    xps_upstream_pool_t *pool;
    uint16_t port;
    size_t want;
    int64_t left_ms;
} waiting_t;

static void on_check(xps_loop_timer_t *timer, void *data)
{
    waiting_t *w = data;
    w->left_ms -= 5;
    if (xps_upstream_pool_idle(w->pool, "127.0.0.1", w->port, NULL) == w->want || w->left_ms <= 0)
        return xps_loop_stop(w->f->loop);
    xps_loop_timer_start(timer, 5);
}

static void run_until_idle(fixture_t *f, xps_upstream_pool_t *pool, uint16_t port, size_t want)
{
    waiting_t w = {f, pool, port, want, FAILSAFE_MS};
    xps_loop_timer_t *t = xps_loop_timer_create(f->loop, on_check, &w);
    assert_non_null(t);
    xps_loop_timer_start(t, 0);
    assert_int_equal(xps_loop_run(f->loop), XPS_OK);
    xps_loop_timer_destroy(t);
    assert_int_equal(xps_upstream_pool_idle(pool, "127.0.0.1", port, NULL), want);
}

/* ------------------------------------------------- upstream connections */

/* The test's ends of a connection's two pipes: it writes into `up` (the
 * connection sends it) and reads from `down` (what the connection read). */
typedef struct exchange {
    xps_connection_t *c;
    xps_pipe_t *up, *down;
    int server; /* the accepted side: the test plays the upstream on it */
} exchange_t;

static void nothing(xps_pipe_t *pipe, void *data)
{
    (void)pipe;
    (void)data;
}

static void source_gone(xps_pipe_t *pipe, void *data)
{
    (void)data;
    xps_pipe_detach_source(pipe);
}

static void sink_done(xps_pipe_t *pipe, void *data)
{
    (void)data;
    xps_pipe_detach_sink(pipe);
}

/* Attaches a fresh pair of pipes to e->c, the test at their far ends. */
static void plumb(fixture_t *f, exchange_t *e)
{
    xps_core_t *core = xps_loop_core(f->loop);
    e->up = xps_pipe_create(core, XPS_PIPE_DEFAULT_THRESHOLD);
    e->down = xps_pipe_create(core, XPS_PIPE_DEFAULT_THRESHOLD);
    assert_non_null(e->up);
    assert_non_null(e->down);
    assert_int_equal(xps_pipe_attach_source(e->up, nothing, source_gone, e), XPS_OK);
    assert_int_equal(xps_pipe_attach_sink(e->down, nothing, sink_done, e), XPS_OK);
    assert_int_equal(xps_connection_attach_sink(e->c, e->up), XPS_OK);
    assert_int_equal(xps_connection_attach_source(e->c, e->down), XPS_OK);
}

/* A connection to the fixture's listener, plumbed, with its server side. */
static exchange_t open_exchange(fixture_t *f)
{
    exchange_t e = {0};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(f->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    e.server = accept4(f->listener, NULL, NULL, SOCK_CLOEXEC);
    assert_true(e.server >= 0);
    int err = XPS_E_FAIL;
    e.c = xps_connection_create(f->loop, fd, NULL, &err);
    assert_non_null(e.c);
    plumb(f, &e);
    return e;
}

/* The session's side of giving a connection back: put, then let go of
 * both pipes at once (the contract of xps_upstream_pool_put). */
static void give_back(xps_upstream_pool_t *pool, uint16_t port, exchange_t *e)
{
    assert_int_equal(xps_upstream_pool_put(pool, "127.0.0.1", port, NULL, e->c), XPS_OK);
    xps_pipe_detach_source(e->up);
    xps_pipe_detach_sink(e->down);
    e->up = e->down = NULL;
}

/* Whether the server side sees our side closed within FAILSAFE_MS: EOF,
 * or a reset when it had sent bytes we never read (closing a socket with
 * unread bytes makes the kernel reset it). False if it stays open or
 * bytes come instead. */
static bool server_sees_eof(int server)
{
    struct pollfd p = {.fd = server, .events = POLLIN};
    if (poll(&p, 1, FAILSAFE_MS) != 1)
        return false;
    char b;
    ssize_t n = recv(server, &b, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

/* Whether the server side has nothing to read right now (our side open). */
static bool server_quiet(int server)
{
    struct pollfd p = {.fd = server, .events = POLLIN};
    return poll(&p, 1, 0) == 0;
}

static xps_upstream_pool_t *new_pool(fixture_t *f, size_t max_idle, uint64_t idle_ms)
{
    int err = XPS_E_FAIL;
    xps_upstream_pool_t *pool = xps_upstream_pool_create(f->loop, max_idle, idle_ms, &err);
    assert_non_null(pool);
    assert_int_equal(err, XPS_OK);
    return pool;
}

/* ---------------------------------------------------------------- tests */

/* Put, then take: the same connection comes back, open (no FIN was sent
 * while it waited) and able to carry a new exchange. Taken in the same
 * batch as the put, it is not idle yet (it is letting go of its pipes). */
static void put_then_take_gives_the_same_open_connection(void **state)
{
    fixture_t *f = *state;
    xps_upstream_pool_t *pool = new_pool(f, XPS_UPSTREAM_POOL_MAX_IDLE, XPS_UPSTREAM_POOL_IDLE_MS);
    exchange_t e = open_exchange(f);
    give_back(pool, f->port, &e);
    assert_int_equal(xps_upstream_pool_idle(pool, "127.0.0.1", f->port, NULL), 1);
    assert_null(xps_upstream_pool_take(pool, "127.0.0.1", f->port, NULL)); /* still settling */
    run_for(f, SETTLE_MS);
    assert_true(server_quiet(e.server)); /* no FIN, no byte */
    xps_connection_t *c = xps_upstream_pool_take(pool, "127.0.0.1", f->port, NULL);
    assert_ptr_equal(c, e.c);
    assert_int_equal(xps_upstream_pool_idle(pool, "127.0.0.1", f->port, NULL), 0);
    assert_null(xps_upstream_pool_take(pool, "127.0.0.1", f->port, NULL));
    plumb(f, &e); /* a new exchange on it */
    xps_buffer_t *b = xps_buffer_copy_of("ping", 4);
    assert_int_equal(xps_pipe_write(e.up, b), XPS_OK);
    run_for(f, SETTLE_MS);
    char got[8] = "";
    assert_int_equal(recv(e.server, got, sizeof got, MSG_DONTWAIT), 4);
    assert_memory_equal(got, "ping", 4);
    xps_pipe_detach_source(e.up);
    xps_pipe_detach_sink(e.down);
    xps_connection_destroy(c);
    xps_upstream_pool_destroy(pool);
    close(e.server);
}

/* At most max_idle per upstream: the 33rd closes the one idle longest. */
static void keeps_at_most_32_and_closes_the_oldest(void **state)
{
    fixture_t *f = *state;
    xps_upstream_pool_t *pool = new_pool(f, XPS_UPSTREAM_POOL_MAX_IDLE, XPS_UPSTREAM_POOL_IDLE_MS);
    enum { N = XPS_UPSTREAM_POOL_MAX_IDLE + 1 };
    exchange_t e[N];
    for (int i = 0; i < N; i++) {
        e[i] = open_exchange(f);
        give_back(pool, f->port, &e[i]);
        run_for(f, 1);
    }
    assert_int_equal(xps_upstream_pool_idle(pool, "127.0.0.1", f->port, NULL), 32);
    assert_true(server_sees_eof(e[0].server)); /* the oldest went */
    for (int i = 1; i < N; i++)
        assert_true(server_quiet(e[i].server));
    run_for(f, SETTLE_MS);
    /* take() serves the newest first */
    xps_connection_t *c = xps_upstream_pool_take(pool, "127.0.0.1", f->port, NULL);
    assert_ptr_equal(c, e[N - 1].c);
    xps_connection_destroy(c);
    xps_upstream_pool_destroy(pool); /* closes the 31 others */
    for (int i = 1; i < N - 1; i++)
        assert_true(server_sees_eof(e[i].server));
    for (int i = 0; i < N; i++)
        close(e[i].server);
}

/* A connection idle for idle_ms is closed by the pool's timer. */
static void closes_a_connection_idle_past_the_timeout(void **state)
{
    fixture_t *f = *state;
    xps_upstream_pool_t *pool = new_pool(f, XPS_UPSTREAM_POOL_MAX_IDLE, SHORT_IDLE_MS);
    exchange_t a = open_exchange(f), b = open_exchange(f);
    give_back(pool, f->port, &a);
    give_back(pool, f->port, &b);
    assert_int_equal(xps_upstream_pool_idle(pool, "127.0.0.1", f->port, NULL), 2);
    run_until_idle(f, pool, f->port, 0);
    assert_true(server_sees_eof(a.server));
    assert_true(server_sees_eof(b.server));
    assert_null(xps_upstream_pool_take(pool, "127.0.0.1", f->port, NULL));
    xps_upstream_pool_destroy(pool);
    close(a.server);
    close(b.server);
}

/* The upstream closes an idle connection: the pool drops it; the other
 * one stays. */
static void discards_a_connection_the_upstream_closed(void **state)
{
    fixture_t *f = *state;
    xps_upstream_pool_t *pool = new_pool(f, XPS_UPSTREAM_POOL_MAX_IDLE, XPS_UPSTREAM_POOL_IDLE_MS);
    exchange_t a = open_exchange(f), b = open_exchange(f);
    give_back(pool, f->port, &a);
    give_back(pool, f->port, &b);
    run_for(f, SETTLE_MS);
    close(b.server); /* the newest: take() would have chosen it */
    run_until_idle(f, pool, f->port, 1);
    xps_connection_t *c = xps_upstream_pool_take(pool, "127.0.0.1", f->port, NULL);
    assert_ptr_equal(c, a.c);
    xps_connection_destroy(c);
    xps_upstream_pool_destroy(pool);
    close(a.server);
}

/* Bytes from an idle upstream are nobody's answer: the connection is
 * closed, so they can never pass for the response to the next request. */
static void discards_a_connection_that_sent_unasked_bytes(void **state)
{
    fixture_t *f = *state;
    xps_upstream_pool_t *pool = new_pool(f, XPS_UPSTREAM_POOL_MAX_IDLE, XPS_UPSTREAM_POOL_IDLE_MS);
    exchange_t a = open_exchange(f);
    give_back(pool, f->port, &a);
    run_for(f, SETTLE_MS);
    const char junk[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    assert_int_equal(send(a.server, junk, sizeof junk - 1, 0), (ssize_t)(sizeof junk - 1));
    run_until_idle(f, pool, f->port, 0);
    assert_null(xps_upstream_pool_take(pool, "127.0.0.1", f->port, NULL));
    assert_true(server_sees_eof(a.server));
    xps_upstream_pool_destroy(pool);
    close(a.server);
}

/* Connections wait per host:port: one put for port P is not handed out
 * for another port, nor for another spelling of the host. */
static void keeps_upstreams_apart(void **state)
{
    fixture_t *f = *state;
    xps_upstream_pool_t *pool = new_pool(f, XPS_UPSTREAM_POOL_MAX_IDLE, XPS_UPSTREAM_POOL_IDLE_MS);
    uint16_t other = (uint16_t)(f->port == 65535 ? 1 : f->port + 1);
    exchange_t a = open_exchange(f), b = open_exchange(f);
    give_back(pool, f->port, &a);
    assert_int_equal(xps_upstream_pool_put(pool, "127.0.0.1", other, NULL, b.c), XPS_OK);
    xps_pipe_detach_source(b.up);
    xps_pipe_detach_sink(b.down);
    run_for(f, SETTLE_MS);
    assert_int_equal(xps_upstream_pool_idle(pool, "127.0.0.1", f->port, NULL), 1);
    assert_int_equal(xps_upstream_pool_idle(pool, "127.0.0.1", other, NULL), 1);
    assert_null(xps_upstream_pool_take(pool, "localhost", f->port, NULL));
    xps_connection_t *c = xps_upstream_pool_take(pool, "127.0.0.1", other, NULL);
    assert_ptr_equal(c, b.c);
    xps_connection_destroy(c);
    c = xps_upstream_pool_take(pool, "127.0.0.1", f->port, NULL);
    assert_ptr_equal(c, a.c);
    xps_connection_destroy(c);
    assert_null(xps_upstream_pool_take(pool, "127.0.0.1", f->port, NULL));
    xps_upstream_pool_destroy(pool);
    close(a.server);
    close(b.server);
}

/* put() refuses a connection it cannot park (no pipes): the caller keeps
 * it; create() refuses empty bounds. Destroying the core destroys a pool
 * and what it holds. */
static void refuses_what_it_cannot_keep_and_dies_with_the_core(void **state)
{
    fixture_t *f = *state;
    int err = XPS_OK;
    assert_null(xps_upstream_pool_create(f->loop, 0, 1000, &err));
    assert_int_equal(err, XPS_E_INVAL);
    assert_null(xps_upstream_pool_create(f->loop, 4, 0, &err));
    assert_int_equal(err, XPS_E_INVAL);
    xps_upstream_pool_t *pool = new_pool(f, 4, XPS_UPSTREAM_POOL_IDLE_MS);
    exchange_t a = open_exchange(f);
    xps_pipe_detach_source(a.up); /* the connection lets go of its sink pipe */
    run_for(f, SETTLE_MS);
    assert_int_equal(xps_upstream_pool_put(pool, "127.0.0.1", f->port, NULL, a.c), XPS_E_INVAL);
    assert_int_equal(xps_upstream_pool_idle(pool, "127.0.0.1", f->port, NULL), 0);
    xps_connection_destroy(a.c); /* still ours */
    xps_pipe_detach_sink(a.down);
    exchange_t b = open_exchange(f);
    give_back(pool, f->port, &b);
    run_for(f, SETTLE_MS);
    /* the pool, and the parked connection, go with the core (teardown
     * checks that no descriptor is left): replace the core here */
    xps_core_destroy(f->core);
    f->core = xps_core_create();
    assert_non_null(f->core);
    f->loop = xps_loop_create(f->core, &err);
    assert_non_null(f->loop);
    assert_true(server_sees_eof(b.server));
    close(a.server);
    close(b.server);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        POOL_TEST(put_then_take_gives_the_same_open_connection),
        POOL_TEST(keeps_at_most_32_and_closes_the_oldest),
        POOL_TEST(closes_a_connection_idle_past_the_timeout),
        POOL_TEST(discards_a_connection_the_upstream_closed),
        POOL_TEST(discards_a_connection_that_sent_unasked_bytes),
        POOL_TEST(keeps_upstreams_apart),
        POOL_TEST(refuses_what_it_cannot_keep_and_dies_with_the_core),
    };
    return cmocka_run_group_tests_name("upstream_pool", tests, NULL, NULL);
}
