/*
 * tests/unit/tcp.c — modules/tcp/xps_tcp.h checked against its contract, on
 * a real core and loop: a listener on 127.0.0.1 port 0 whose connections
 * echo through one pipe each (stage 07's composition), and clients made of
 * plain non-blocking sockets.
 *
 * The test and the server share one thread. The clients are driven from a
 * loop timer that fires every millisecond: each tick a client sends what its
 * socket takes, reads up to its read budget, and the test's stop condition
 * is checked; a second timer ends the run at a deadline. So every run is
 * bounded, and a test that waits for something that never happens fails
 * with a message instead of hanging.
 *
 * Covered: round trip (edge- and level-triggered), many clients queued at
 * once (the listener must accept them all from one edge), a slow reader
 * (back-pressure: the pipe never holds more than its threshold and the
 * client's send() meets EAGAIN), half-close, a client's reset (close
 * callback once, with an error), destroy inside the accept callback, the
 * listener destroyed inside its own callback, a connection made from a
 * connected descriptor as source of one pipe and sink of another, a file
 * range sent with sendfile(), running out of descriptors (EMFILE: waiting
 * clients refused, no spin), xps_core_destroy with live connections, and
 * the lingering close (issue 7): an early answer reaches a peer that goes
 * on sending (the reset regression), and the linger ends at the peer's FIN
 * or reset, at its time bound (idle without CPU), at its byte bound, or at
 * once when destroyed, with no callback then; and TCP_NODELAY on every TCP
 * connection and parking between requests (issue 8).
 * Every test ends with the core's member count back where it started and
 * the process's descriptor count back to its value before the test. Run it
 * under `make SAN=1` and valgrind to see that every handle is freed. The
 * "[ERROR] socket: ..." lines in the output are expected: the socket module
 * logs the failures the tests provoke (a non-socket fd, EMFILE).
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
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/xps_buffer.h"
#include "core/xps_core.h"
#include "core/xps_logger.h"
#include "core/xps_pipe.h"
#include "modules/loop/xps_loop.h"
#include "modules/tcp/xps_tcp.h"

enum {
    MAX_CLIENTS = 64,
    RUN_MS = 20000,          /* deadline of one run (valgrind is slow; a pass takes far less) */
    SMALL_THRESHOLD = 64 * 1024, /* pipe threshold of the back-pressure tests */
    SMALL_SOCKBUF = 64 * 1024,   /* SO_SNDBUF/SO_RCVBUF of a slow client */
    STALL_MS = 200,          /* no send progress for this long: the server stopped reading */
};

/* ------------------------------------------------------ sendfile counter */

/* Link-time interposition: this definition wins over libc's for the tcp
 * module linked into this binary, so the test can count the calls it makes
 * and the bytes they moved. It forwards to the system call itself. */
static size_t sendfile_calls, sendfile_bytes;

ssize_t sendfile(int out_fd, int in_fd, off_t *offset, size_t count)
{
    sendfile_calls++;
    long n = syscall(SYS_sendfile, out_fd, in_fd, offset, count);
    if (n > 0)
        sendfile_bytes += (size_t)n;
    return n;
}

/* ---------------------------------------------------------------- helpers */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool fd_is_open(int fd) { return fcntl(fd, F_GETFD) != -1 || errno != EBADF; }

/* Bytes of every value, different for every seed: loss, reordering or a
 * mix-up between clients shows as a mismatch. */
static char *pattern(size_t len, unsigned seed)
{
    char *p = malloc(len ? len : 1);
    assert_non_null(p);
    unsigned long long x = 0x9e3779b97f4a7c15ull ^ ((unsigned long long)seed * 0x100000001b3ull);
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13; /* xorshift64 */
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (char)(x >> 24);
    }
    return p;
}

/* ---------------------------------------------------------------- clients */

/* One plain client socket and what it has done. */
typedef struct client {
    int fd;               /* non-blocking socket, or -1 */
    const char *out;      /* bytes to send, borrowed */
    size_t out_len;
    size_t sent;          /* bytes send() took so far */
    char *in;             /* received bytes, owned (in_cap of them at most) */
    size_t in_cap;        /* bytes expected back */
    size_t got;           /* bytes received into in */
    size_t extra;         /* bytes received beyond in_cap (should stay 0) */
    size_t read_per_tick; /* recv budget per tick: 0 reads nothing */
    size_t send_per_tick; /* send budget per tick: (size_t)-1 sends what the socket takes */
    bool shut_wr;         /* shutdown(SHUT_WR) once everything is sent */
    bool shut_done;
    bool eof;             /* recv() returned 0 */
    int64_t eof_ms;       /* ... at this time */
    int recv_errno;       /* recv() failed with this (e.g. ECONNRESET) */
    int send_errno;       /* send() failed with this (not EAGAIN) */
    size_t eagains;       /* send() found the socket full */
    int64_t last_send_ms; /* when send() last took a byte */
} client_t;

/* Connects a client to 127.0.0.1:port. sockbuf > 0 pins both socket
 * buffers (no autotuning), so a client that does not read fills up soon. */
static void client_open(client_t *c, uint16_t port, int sockbuf)
{
    *c = (client_t){.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0),
                    .read_per_tick = (size_t)-1, .send_per_tick = (size_t)-1,
                    .last_send_ms = now_ms()};
    assert_true(c->fd >= 0);
    if (sockbuf > 0) {
        assert_int_equal(setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &sockbuf, sizeof sockbuf), 0);
        assert_int_equal(setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &sockbuf, sizeof sockbuf), 0);
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* Completes in the kernel's accept queue: the loop need not run. */
    assert_int_equal(connect(c->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK), 0);
}

/* What the client should send, and how much it expects back. */
static void client_expect(client_t *c, const char *out, size_t out_len, size_t in_cap)
{
    c->out = out;
    c->out_len = out_len;
    c->in_cap = in_cap;
    c->in = malloc(in_cap ? in_cap : 1);
    assert_non_null(c->in);
}

static void client_close(client_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->in);
    c->in = NULL;
}

/* Closes with SO_LINGER 0: the server gets a RST instead of a FIN. */
static void client_reset(client_t *c)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    assert_int_equal(setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    close(c->fd);
    c->fd = -1;
}

static void client_send(client_t *c)
{
    size_t budget = c->send_per_tick;
    while (budget > 0 && c->sent < c->out_len && !c->send_errno) {
        size_t len = c->out_len - c->sent < budget ? c->out_len - c->sent : budget;
        ssize_t n = send(c->fd, c->out + c->sent, len, MSG_NOSIGNAL);
        if (n > 0) {
            c->sent += (size_t)n;
            budget -= (size_t)n;
            c->last_send_ms = now_ms();
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            c->eagains++;
            break;
        } else if (n < 0 && errno != EINTR) {
            c->send_errno = errno;
        }
    }
    if (c->sent == c->out_len && c->shut_wr && !c->shut_done) {
        assert_int_equal(shutdown(c->fd, SHUT_WR), 0);
        c->shut_done = true;
    }
}

static void client_recv(client_t *c)
{
    char scratch[4096];
    size_t budget = c->read_per_tick;
    while (budget > 0 && !c->eof && !c->recv_errno) {
        bool room = c->got < c->in_cap;
        char *dst = room ? c->in + c->got : scratch;
        size_t cap = room ? c->in_cap - c->got : sizeof scratch;
        ssize_t n = recv(c->fd, dst, cap < budget ? cap : budget, 0);
        if (n > 0) {
            *(room ? &c->got : &c->extra) += (size_t)n;
            budget -= (size_t)n;
        } else if (n == 0) {
            c->eof = true;
            c->eof_ms = now_ms();
        } else if (errno != EINTR) {
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                c->recv_errno = errno;
            break;
        }
    }
}

static void client_pump(client_t *c)
{
    if (c->fd < 0)
        return;
    client_send(c);
    client_recv(c);
}

/* Everything sent came back, in order, and nothing more. */
static void assert_echoed(const client_t *c)
{
    assert_int_equal(c->sent, c->out_len);
    assert_int_equal(c->got, c->in_cap);
    assert_int_equal(c->extra, 0);
    assert_memory_equal(c->in, c->out, c->in_cap);
}

/* ----------------------------------------------------------------- server */

/* What the accept callback does with a new connection. */
typedef enum accept_action {
    ACCEPT_ECHO,              /* one pipe, the connection at both ends (stage 07) */
    ACCEPT_DESTROY,           /* destroy the connection at once */
    ACCEPT_DESTROY_LISTENER,  /* destroy the listener, then echo */
    ACCEPT_SEND_FILE,         /* the connection sinks a pipe holding bytes + a file range */
    ACCEPT_ANSWER_EARLY,      /* read the first bytes, answer, stop reading (an early 413) */
} accept_action_t;

typedef struct server server_t;
typedef bool (*until_fn)(server_t *s);

struct server {
    xps_core_t *core;
    xps_loop_t *loop;
    xps_listener_t *listener;   /* NULL once destroyed */
    uint16_t port;
    size_t threshold;           /* of each echo pipe */
    accept_action_t action;
    xps_loop_timer_t *tick;     /* pumps the clients every millisecond */
    xps_loop_timer_t *deadline; /* ends a run */
    until_fn until;             /* a run stops when this holds (NULL: at the deadline) */
    bool satisfied;             /* the last run stopped because `until` held */
    client_t clients[MAX_CLIENTS];
    int n_clients;
    size_t members;             /* core members with the listener (loop + listener) */
    int fds_before;             /* descriptors open before the test */
    /* what the callbacks saw */
    int accepts;
    int accepts_without_nagle; /* accepted with TCP_NODELAY set */
    int closes;                 /* close callbacks, any reason */
    int closes_ok;              /* ... with XPS_OK */
    int last_reason;
    xps_pipe_t *pipe;           /* the newest echo pipe, until its connection closes */
    xps_task_t *sampler;        /* samples pipe's length every round */
    size_t pipe_max_len;        /* the most the pipe was seen to hold */
    /* ACCEPT_SEND_FILE */
    int file_fd;
    int64_t file_offset;
    size_t file_len;
    int file_sink_gone;         /* sink_gone() calls to the test's source end */
    /* ACCEPT_ANSWER_EARLY */
    const char *answer;         /* what the owner sends back, borrowed */
    size_t answer_len;
    size_t request_read;        /* bytes of the request the owner read before it stopped */
    xps_pipe_t *answer_pipe;    /* the owner is its source until it has queued the answer */
    xps_connection_t *conn;     /* the newest connection, until it closes itself */
    bool no_linger;             /* ACCEPT_ANSWER_EARLY: the owner says the peer is done */
    bool stop_on_close;         /* the close callback stops the loop (runs without a tick) */
    int64_t closed_ms;          /* when the last close callback ran */
};

static void on_close(xps_connection_t *c, int reason, void *data)
{
    (void)c;
    server_t *s = data;
    s->closes++;
    s->closes_ok += reason == XPS_OK;
    s->last_reason = reason;
    s->pipe = NULL; /* freed after this batch */
    s->conn = NULL;
    s->closed_ms = now_ms();
    if (s->stop_on_close)
        xps_loop_stop(s->loop);
}

static void attach_echo(server_t *s, xps_connection_t *c)
{
    xps_pipe_t *p = xps_pipe_create(s->core, s->threshold);
    assert_non_null(p);
    assert_int_equal(xps_connection_attach_sink(c, p), XPS_OK);
    assert_int_equal(xps_connection_attach_source(c, p), XPS_OK);
    /* A second pipe end of the same kind is refused. */
    assert_int_equal(xps_connection_attach_source(c, p), XPS_E_FAIL);
    s->pipe = p;
}

static void file_produce(xps_pipe_t *p, void *data) { (void)p, (void)data; }

static void file_sink_gone(xps_pipe_t *p, void *data)
{
    ((server_t *)data)->file_sink_gone++;
    xps_pipe_detach_source(p);
}

/* The test is the source: it writes "head:", a range of the file, ":tail"
 * and ends the stream at once; the connection sends it all and FINs. */
static void attach_file(server_t *s, xps_connection_t *c)
{
    xps_pipe_t *p = xps_pipe_create(s->core, SMALL_THRESHOLD);
    assert_non_null(p);
    assert_int_equal(xps_connection_attach_sink(c, p), XPS_OK);
    assert_int_equal(xps_pipe_attach_source(p, file_produce, file_sink_gone, s), XPS_OK);
    assert_int_equal(xps_pipe_write(p, xps_buffer_copy_of("head:", 5)), XPS_OK);
    assert_int_equal(xps_pipe_write_file(p, s->file_fd, s->file_offset, s->file_len), XPS_OK);
    assert_int_equal(xps_pipe_write(p, xps_buffer_copy_of(":tail", 5)), XPS_OK);
    xps_pipe_detach_source(p);
}

/* The owner of ACCEPT_ANSWER_EARLY, as a server that refuses a request
 * from its head alone: on the first bytes it reads, it queues the answer,
 * ends that stream and stops reading. Whatever else the peer sent, or
 * sends from now on, it never reads. */
static void early_consume(xps_pipe_t *p, void *data)
{
    server_t *s = data;
    char head[64];
    size_t n = 0;
    assert_int_equal(xps_pipe_read(p, head, sizeof head, &n), XPS_OK);
    s->request_read += n;
    assert_non_null(s->answer_pipe);
    assert_int_equal(xps_pipe_write(s->answer_pipe, xps_buffer_copy_of(s->answer, s->answer_len)),
                     XPS_OK);
    if (s->no_linger)
        xps_connection_set_linger(s->conn, false);
    xps_pipe_detach_source(s->answer_pipe); /* the connection sends it, then FIN */
    s->answer_pipe = NULL;
    xps_pipe_detach_sink(p); /* stop reading: the connection is told sink_gone() */
}

static void early_source_done(xps_pipe_t *p, void *data) /* the peer ended first */
{
    (void)data;
    xps_pipe_detach_sink(p);
}

static void early_produce(xps_pipe_t *p, void *data) { (void)p, (void)data; }

static void early_sink_gone(xps_pipe_t *p, void *data)
{
    xps_pipe_detach_source(p);
    ((server_t *)data)->answer_pipe = NULL;
}

static void attach_answer_early(server_t *s, xps_connection_t *c)
{
    xps_pipe_t *in = xps_pipe_create(s->core, XPS_PIPE_DEFAULT_THRESHOLD);
    xps_pipe_t *out = xps_pipe_create(s->core, XPS_PIPE_DEFAULT_THRESHOLD);
    assert_non_null(in);
    assert_non_null(out);
    assert_int_equal(xps_connection_attach_source(c, in), XPS_OK);
    assert_int_equal(xps_connection_attach_sink(c, out), XPS_OK);
    assert_int_equal(xps_pipe_attach_sink(in, early_consume, early_source_done, s), XPS_OK);
    assert_int_equal(xps_pipe_attach_source(out, early_produce, early_sink_gone, s), XPS_OK);
    xps_pipe_set_sink_ready(in, true);
    s->answer_pipe = out;
    s->conn = c;
}

static void on_accept(xps_listener_t *l, xps_connection_t *c, void *data)
{
    server_t *s = data;
    assert_ptr_equal(l, s->listener);
    s->accepts++;
    assert_string_not_equal(xps_connection_peer(c), "?");
    int nodelay = 0;
    socklen_t len = sizeof nodelay;
    if (getsockopt(xps_connection_fd(c), IPPROTO_TCP, TCP_NODELAY, &nodelay, &len) == 0 && nodelay)
        s->accepts_without_nagle++;
    xps_connection_on_close(c, on_close, s);
    switch (s->action) {
    case ACCEPT_DESTROY:
        xps_connection_destroy(c); /* on_close is not called for destroy */
        return;
    case ACCEPT_DESTROY_LISTENER:
        xps_listener_destroy(l); /* its memory lives until this batch ends */
        s->listener = NULL;
        attach_echo(s, c);
        return;
    case ACCEPT_SEND_FILE:
        attach_file(s, c);
        return;
    case ACCEPT_ANSWER_EARLY:
        attach_answer_early(s, c);
        return;
    case ACCEPT_ECHO:
        attach_echo(s, c);
        return;
    }
}

static void on_tick(xps_loop_timer_t *t, void *data)
{
    server_t *s = data;
    for (int i = 0; i < s->n_clients; i++)
        client_pump(&s->clients[i]);
    if (s->until && s->until(s)) {
        s->satisfied = true;
        xps_loop_stop(s->loop);
        return;
    }
    xps_loop_timer_start(t, 1);
}

static void on_deadline(xps_loop_timer_t *t, void *data)
{
    (void)t;
    xps_loop_stop(((server_t *)data)->loop);
}

/* A task that posts itself: runs once every loop iteration, after the
 * pipe's own task of that round or the one before, so it sees every peak. */
static void sample_pipe(void *data)
{
    server_t *s = data;
    if (s->pipe && xps_pipe_len(s->pipe) > s->pipe_max_len)
        s->pipe_max_len = xps_pipe_len(s->pipe);
    xps_task_post(s->sampler);
}

/* Core, loop, a listener with the given options: on 127.0.0.1:0, or
 * [stage 21] on `adopt`, a socket already listening (taken). */
static void server_start_on(server_t *s, const xps_tcp_options_t *options, size_t threshold,
                            accept_action_t action, xps_listen_socket_t *adopt)
{
    *s = (server_t){.threshold = threshold, .action = action, .file_fd = -1};
    s->fds_before = xt_fd_count(getpid());
    s->core = xps_core_create();
    assert_non_null(s->core);
    int err = 12345;
    s->loop = xps_loop_create(s->core, &err);
    assert_non_null(s->loop);
    s->listener = adopt ? xps_listener_adopt(s->loop, adopt, options, on_accept, s, &err)
                        : xps_listener_create(s->loop, "127.0.0.1", 0, options, on_accept, s, &err);
    assert_non_null(s->listener);
    assert_int_equal(err, XPS_OK);
    s->port = xps_listener_port(s->listener);
    assert_true(s->port != 0);
    s->tick = xps_loop_timer_create(s->loop, on_tick, s);
    s->deadline = xps_loop_timer_create(s->loop, on_deadline, s);
    assert_non_null(s->tick);
    assert_non_null(s->deadline);
    s->members = xps_core_member_count(s->core);
    assert_int_equal(s->members, 2); /* the loop and the listener */
}

static void server_start(server_t *s, const xps_tcp_options_t *options, size_t threshold,
                         accept_action_t action)
{
    server_start_on(s, options, threshold, action, NULL);
}

/* Runs the loop until `until` holds (true) or ms pass (false). */
static bool run_until(server_t *s, until_fn until, int ms)
{
    s->until = until;
    s->satisfied = false;
    xps_loop_timer_start(s->tick, 0);
    xps_loop_timer_start(s->deadline, (uint64_t)ms);
    assert_int_equal(xps_loop_run(s->loop), XPS_OK);
    xps_loop_timer_stop(s->tick);
    xps_loop_timer_stop(s->deadline);
    return s->satisfied;
}

static client_t *add_client(server_t *s, int sockbuf)
{
    assert_true(s->n_clients < MAX_CLIENTS);
    client_t *c = &s->clients[s->n_clients++];
    client_open(c, s->port, sockbuf);
    return c;
}

/* Tears everything down and checks that nothing is left: no descriptor,
 * and (under ASan / valgrind) no memory. */
static void server_finish(server_t *s)
{
    for (int i = 0; i < s->n_clients; i++)
        client_close(&s->clients[i]);
    xps_loop_timer_destroy(s->tick);
    xps_loop_timer_destroy(s->deadline);
    xps_task_destroy(s->sampler);
    xps_core_destroy(s->core);
    if (s->file_fd >= 0)
        close(s->file_fd);
    assert_int_equal(xt_fd_count(getpid()), s->fds_before);
}

/* -------------------------------------------------------- stop conditions */

static size_t members_now(server_t *s) { return xps_core_member_count(s->core); }

/* Every client got all it expects. */
static bool all_echoed(server_t *s)
{
    for (int i = 0; i < s->n_clients; i++)
        if (s->clients[i].got < s->clients[i].in_cap)
            return false;
    return true;
}

/* Every client got all it expects and then EOF, and the server has no
 * connection left (only the loop and the listener are members). */
static bool all_echoed_and_closed(server_t *s)
{
    for (int i = 0; i < s->n_clients; i++)
        if (!s->clients[i].eof)
            return false;
    return all_echoed(s) && members_now(s) == s->members;
}

/* Every client's connection has ended: EOF or an error. */
static bool all_clients_ended(server_t *s)
{
    for (int i = 0; i < s->n_clients; i++)
        if (!s->clients[i].eof && !s->clients[i].recv_errno)
            return false;
    return true;
}

static bool one_close_and_no_connection(server_t *s)
{
    return s->closes >= 1 && members_now(s) == s->members;
}

/* Client 0's send() has made no progress for STALL_MS after meeting a
 * full socket: the server has stopped reading it. */
static bool first_client_stalled(server_t *s)
{
    const client_t *c = &s->clients[0];
    return c->sent == c->out_len ||
           (c->eagains > 0 && now_ms() - c->last_send_ms >= STALL_MS);
}

/* ------------------------------------------------------------------ tests */

/* A line goes out and comes back; the client closes; the server connection
 * sees EOF, drains, closes itself with XPS_OK at once (the peer's FIN ended
 * its reading: no lingering close, however long one may last) and frees
 * everything. Same for level-triggered registration (the flawed mode must
 * still be correct). */
static void echoes_a_round_trip_and_closes_cleanly(void **state)
{
    (void)state;
    static const xps_loop_trigger_t triggers[] = {XPS_LOOP_EDGE, XPS_LOOP_LEVEL};
    for (size_t i = 0; i < sizeof triggers / sizeof triggers[0]; i++) {
        xps_tcp_options_t opts = xps_tcp_default_options();
        assert_int_equal(opts.trigger, XPS_LOOP_EDGE);
        opts.trigger = triggers[i];
        opts.linger_ms = 60000;
        server_t s;
        server_start(&s, &opts, XPS_PIPE_DEFAULT_THRESHOLD, ACCEPT_ECHO);
        static const char line[] = "hello, xps\n";
        client_t *c = add_client(&s, 0);
        client_expect(c, line, sizeof line - 1, sizeof line - 1);
        assert_true(run_until(&s, all_echoed, RUN_MS));
        assert_echoed(c);
        assert_int_equal(s.accepts, 1);
        assert_int_equal(members_now(&s), s.members + 1); /* the connection */

        c->shut_wr = true; /* everything is sent: FIN on the next tick */
        int64_t t0 = now_ms();
        assert_true(run_until(&s, all_echoed_and_closed, RUN_MS));
        assert_true(s.closed_ms - t0 < 1000);
        assert_int_equal(s.closes, 1);
        assert_int_equal(s.last_reason, XPS_OK);
        server_finish(&s);
    }
}

/* [stage 21] A listener adopts a socket bound elsewhere (as a worker does
 * with its master's): blocking as bound, it is made non-blocking, and with
 * accept_exclusive it registers with EPOLLEXCLUSIVE; clients queued before
 * the adoption are accepted and echoed, and destroying the core closes the
 * socket (server_finish counts the descriptors). */
static void an_adopted_socket_accepts_like_its_own(void **state)
{
    (void)state;
    int err = 12345;
    xps_listen_socket_t *bound = xps_listen_socket_create("127.0.0.1", 0, 16, false, &err);
    assert_non_null(bound);
    uint16_t port = xps_listen_socket_port(bound);
    client_t early;
    client_open(&early, port, 0); /* in the queue before anyone watches the socket */
    for (int exclusive = 0; exclusive < 2; exclusive++) {
        xps_tcp_options_t opts = xps_tcp_default_options();
        opts.accept_exclusive = exclusive;
        server_t s;
        int fds = xt_fd_count(getpid());
        server_start_on(&s, &opts, XPS_PIPE_DEFAULT_THRESHOLD, ACCEPT_ECHO,
                        exclusive ? xps_listen_socket_create("127.0.0.1", 0, 16, true, &err)
                                  : bound);
        /* Gone at the end: the adopted socket and its spare descriptor (with
         * the core), and the early client. */
        s.fds_before = fds - (exclusive ? 0 : 3);
        if (!exclusive)
            assert_int_equal(s.port, port);
        static const char line[] = "adopted\n";
        client_t *c = exclusive ? add_client(&s, 0) : &s.clients[s.n_clients++];
        if (!exclusive)
            *c = early;
        client_expect(c, line, sizeof line - 1, sizeof line - 1);
        assert_true(run_until(&s, all_echoed, RUN_MS));
        assert_echoed(c);
        assert_int_equal(s.accepts, 1);
        server_finish(&s);
    }
}

/* 64 clients connect before the loop runs: one edge on the listening
 * socket announces them all, so the listener must accept until EAGAIN.
 * Each sends its own bytes and gets exactly those back. */
static void accepts_every_queued_client_and_echoes_each_its_own_bytes(void **state)
{
    (void)state;
    server_t s;
    server_start(&s, NULL, XPS_PIPE_DEFAULT_THRESHOLD, ACCEPT_ECHO);
    char *outs[MAX_CLIENTS];
    for (int i = 0; i < MAX_CLIENTS; i++) {
        size_t len = 1000 + 97 * (size_t)i;
        outs[i] = pattern(len, (unsigned)i + 1);
        client_t *c = add_client(&s, 0);
        client_expect(c, outs[i], len, len);
        c->shut_wr = true;
    }
    assert_true(run_until(&s, all_echoed_and_closed, RUN_MS));
    for (int i = 0; i < MAX_CLIENTS; i++)
        assert_echoed(&s.clients[i]);
    assert_int_equal(s.accepts, MAX_CLIENTS);
    assert_int_equal(s.closes_ok, MAX_CLIENTS);
    server_finish(&s);
    for (int i = 0; i < MAX_CLIENTS; i++)
        free(outs[i]);
}

/* Back-pressure. The client sends 24 MiB and reads nothing: the server's
 * send buffer fills, the 64 KiB pipe fills, the server stops reading, its
 * receive buffer fills, and the client's send() meets EAGAIN and makes no
 * more progress. Then the client reads slowly (64 KiB a tick): every byte
 * comes back intact, and the pipe never held more than its threshold. */
static void slow_reader_gets_every_byte_and_the_pipe_stays_under_its_threshold(void **state)
{
    (void)state;
    enum { TOTAL = 24 * 1024 * 1024 };
    server_t s;
    server_start(&s, NULL, SMALL_THRESHOLD, ACCEPT_ECHO);
    s.sampler = xps_task_create(s.core, sample_pipe, &s);
    assert_non_null(s.sampler);
    xps_task_post(s.sampler);
    char *out = pattern(TOTAL, 7);
    client_t *c = add_client(&s, SMALL_SOCKBUF);
    client_expect(c, out, TOTAL, TOTAL);
    c->read_per_tick = 0;

    assert_true(run_until(&s, first_client_stalled, RUN_MS));
    print_message("slow reader: %zu of %d bytes sent before the server stopped reading\n",
                  c->sent, TOTAL);
    assert_true(c->sent < TOTAL); /* the stream stalled: the server stopped reading */
    assert_true(c->eagains > 0);
    assert_int_equal(c->got, 0);
    assert_non_null(s.pipe);
    assert_int_equal(xps_pipe_len(s.pipe), SMALL_THRESHOLD); /* full, and no fuller */

    c->read_per_tick = 64 * 1024;
    c->shut_wr = true;
    assert_true(run_until(&s, all_echoed_and_closed, RUN_MS));
    assert_echoed(c);
    assert_true(s.pipe_max_len <= SMALL_THRESHOLD);
    assert_int_equal(s.closes_ok, 1);
    server_finish(&s);
    free(out);
}

/* The client sends 1 MiB, then shutdown(SHUT_WR) while most of the echo is
 * still on its way. The server reads the FIN only after the pipe has made
 * room, sends every remaining byte, and only then FINs: the client reads all
 * of it, then EOF, and the server connection is gone. */
static void half_close_gets_every_byte_back_then_eof(void **state)
{
    (void)state;
    enum { TOTAL = 1024 * 1024 };
    server_t s;
    server_start(&s, NULL, SMALL_THRESHOLD, ACCEPT_ECHO);
    char *out = pattern(TOTAL, 11);
    client_t *c = add_client(&s, SMALL_SOCKBUF);
    client_expect(c, out, TOTAL, TOTAL);
    c->shut_wr = true;
    c->read_per_tick = 16 * 1024;
    assert_true(run_until(&s, all_echoed_and_closed, RUN_MS));
    assert_echoed(c);
    assert_true(c->eof);
    assert_int_equal(c->recv_errno, 0);
    assert_int_equal(s.closes, 1);
    assert_int_equal(s.last_reason, XPS_OK);
    server_finish(&s);
    free(out);
}

/* A client resets its connection: the server connection closes itself, its
 * close callback runs exactly once with an error, and it is freed. Once
 * while idle (the reset is found by recv(), the source side), once with
 * echo bytes waiting that the client never read (found by send(), the
 * sink side). */
static void client_reset_closes_the_connection_once_with_an_error(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        size_t send;     /* bytes sent before the reset */
        bool read_echo;  /* read the echo before resetting */
    } cases[] = {
        {"idle", 6, true},
        {"echo pending", 8 * 1024 * 1024, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        server_t s;
        server_start(&s, NULL, SMALL_THRESHOLD, ACCEPT_ECHO);
        char *out = pattern(cases[i].send, 3);
        client_t *c = add_client(&s, SMALL_SOCKBUF);
        client_expect(c, out, cases[i].send, cases[i].read_echo ? cases[i].send : 0);
        c->read_per_tick = cases[i].read_echo ? (size_t)-1 : 0;
        assert_true(run_until(&s, cases[i].read_echo ? all_echoed : first_client_stalled,
                              RUN_MS));
        assert_int_equal(members_now(&s), s.members + 1);

        client_reset(c);
        assert_true(run_until(&s, one_close_and_no_connection, RUN_MS));
        run_until(&s, NULL, 50); /* a little longer: no second call may come */
        print_message("reset (%s): close reason \"%s\"\n", cases[i].name,
                      xps_strerror(s.last_reason));
        assert_int_equal(s.closes, 1);
        assert_int_not_equal(s.last_reason, XPS_OK);
        server_finish(&s);
        free(out);
    }
}

/* The accept callback destroys the connection it was given: the client
 * sees its connection end, no close callback runs, nothing is left. */
static void connection_destroyed_inside_the_accept_callback(void **state)
{
    (void)state;
    server_t s;
    server_start(&s, NULL, XPS_PIPE_DEFAULT_THRESHOLD, ACCEPT_DESTROY);
    client_t *c = add_client(&s, 0);
    client_expect(c, "x", 1, 1);
    assert_true(run_until(&s, all_clients_ended, RUN_MS));
    assert_int_equal(c->got, 0);
    assert_int_equal(s.accepts, 1);
    assert_int_equal(s.closes, 0);
    assert_int_equal(members_now(&s), s.members);
    server_finish(&s);
}

static bool first_echoed_second_ended(server_t *s)
{
    const client_t *b = &s->clients[1];
    return s->clients[0].got == s->clients[0].in_cap && (b->eof || b->recv_errno);
}

/* Two clients wait in the accept queue. The first accept callback destroys
 * the listener (and echoes for its client): accepting stops at once, the
 * second client's queued connection is reset by the kernel, the first is
 * served to the end, and the port refuses new clients. */
static void listener_destroyed_inside_its_own_accept_callback(void **state)
{
    (void)state;
    server_t s;
    server_start(&s, NULL, XPS_PIPE_DEFAULT_THRESHOLD, ACCEPT_DESTROY_LISTENER);
    client_t *a = add_client(&s, 0);
    client_t *b = add_client(&s, 0);
    client_expect(a, "first\n", 6, 6);
    client_expect(b, "second\n", 7, 7);
    assert_true(run_until(&s, first_echoed_second_ended, RUN_MS));
    assert_echoed(a);
    assert_int_equal(b->got, 0);
    assert_int_equal(s.accepts, 1);
    assert_null(s.listener);
    assert_int_equal(members_now(&s), s.members); /* loop + connection; listener gone */

    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(s.port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof addr), -1);
    assert_int_equal(errno, ECONNREFUSED);
    close(fd);

    a->shut_wr = true;
    s.members--; /* from now on "no connection" means the loop alone */
    s.n_clients = 1;
    assert_true(run_until(&s, all_echoed_and_closed, RUN_MS));
    assert_int_equal(s.closes_ok, 1);
    s.n_clients = 2;
    server_finish(&s);
}

/* ---- a connection from a connected descriptor, between two test ends */

/* A pipe end played by the test. */
typedef struct test_end {
    xps_pipe_t *pipe;
    bool attached;
    int works;            /* produce() / consume() calls */
    int finishes;         /* sink_gone() / source_done() calls */
    const char *to_write; /* source: written on the first produce(), then detach */
    char got[256];        /* sink: what it read */
    size_t got_len;
} test_end_t;

static void end_produce(xps_pipe_t *p, void *data)
{
    test_end_t *e = data;
    e->works++;
    assert_int_equal(xps_pipe_write(p, xps_buffer_copy_of(e->to_write, strlen(e->to_write))),
                     XPS_OK);
    xps_pipe_detach_source(p); /* end of stream */
    e->attached = false;
}

static void end_sink_gone(xps_pipe_t *p, void *data)
{
    test_end_t *e = data;
    e->finishes++;
    xps_pipe_detach_source(p);
    e->attached = false;
}

static void end_consume(xps_pipe_t *p, void *data)
{
    test_end_t *e = data;
    e->works++;
    size_t n = 0;
    assert_int_equal(xps_pipe_read(p, e->got + e->got_len, sizeof e->got - 1 - e->got_len, &n),
                     XPS_OK);
    e->got_len += n;
}

static void end_source_done(xps_pipe_t *p, void *data)
{
    test_end_t *e = data;
    e->finishes++;
    xps_pipe_detach_sink(p);
    e->attached = false;
}

static test_end_t *g_in_end; /* for the stop condition below */

static bool pair_done(server_t *s)
{
    const client_t *peer = &s->clients[0];
    return peer->eof && peer->got == peer->in_cap && g_in_end->finishes == 1 && s->closes == 1;
}

/* xps_connection_create() wraps one end of a socketpair. It is the source of
 * pipe `in` (what the peer sends reaches the test's sink end) and the sink
 * of pipe `out` (what the test's source end writes reaches the peer). Each
 * side ends its stream; each end hears of it; the connection, with neither
 * pipe left, closes itself with XPS_OK and closes its descriptor. */
static void connection_over_a_socketpair_is_source_of_one_pipe_and_sink_of_another(void **state)
{
    (void)state;
    server_t s;
    server_start(&s, NULL, XPS_PIPE_DEFAULT_THRESHOLD, ACCEPT_ECHO);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    int err = 12345;
    xps_connection_t *conn = xps_connection_create(s.loop, sv[0], NULL, &err);
    assert_non_null(conn);
    assert_int_equal(err, XPS_OK);
    assert_true(fcntl(sv[0], F_GETFL) & O_NONBLOCK); /* made non-blocking */
    xps_connection_on_close(conn, on_close, &s);
    assert_int_equal(members_now(&s), s.members + 1);

    static const char to_peer[] = "pong from the out pipe";
    static const char from_peer[] = "ping from the peer";
    test_end_t in_end = {.attached = true}, out_end = {.attached = true, .to_write = to_peer};
    g_in_end = &in_end;
    in_end.pipe = xps_pipe_create(s.core, XPS_PIPE_DEFAULT_THRESHOLD);
    out_end.pipe = xps_pipe_create(s.core, XPS_PIPE_DEFAULT_THRESHOLD);
    assert_int_equal(xps_connection_attach_source(conn, in_end.pipe), XPS_OK);
    assert_int_equal(xps_pipe_attach_sink(in_end.pipe, end_consume, end_source_done, &in_end),
                     XPS_OK);
    assert_int_equal(xps_connection_attach_sink(conn, out_end.pipe), XPS_OK);
    assert_int_equal(xps_pipe_attach_source(out_end.pipe, end_produce, end_sink_gone, &out_end),
                     XPS_OK);
    xps_pipe_set_sink_ready(in_end.pipe, true);
    xps_pipe_set_source_ready(out_end.pipe, true);

    /* The peer: a plain non-blocking socket, driven like a TCP client. */
    client_t *peer = &s.clients[s.n_clients++];
    *peer = (client_t){.fd = sv[1], .read_per_tick = (size_t)-1, .send_per_tick = (size_t)-1,
                       .shut_wr = true};
    assert_int_equal(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
    client_expect(peer, from_peer, strlen(from_peer), strlen(to_peer));

    assert_true(run_until(&s, pair_done, RUN_MS));
    assert_memory_equal(peer->in, to_peer, strlen(to_peer)); /* then EOF */
    assert_int_equal(in_end.got_len, strlen(from_peer));
    assert_memory_equal(in_end.got, from_peer, strlen(from_peer));
    assert_int_equal(out_end.works, 1);     /* one produce(), then it detached */
    assert_int_equal(out_end.finishes, 0);  /* the connection never left early */
    assert_int_equal(in_end.finishes, 1);   /* source_done() once, after the bytes */
    assert_true(in_end.works >= 1);
    assert_int_equal(s.closes_ok, 1);
    assert_int_equal(members_now(&s), s.members);
    run_until(&s, NULL, 10); /* let the deferred frees run */
    assert_false(fd_is_open(sv[0])); /* the connection closed its descriptor */
    server_finish(&s);
}

static bool accepted_one(server_t *s) { return s->accepts == 1; }

/* Nagle's algorithm is off on every TCP connection, accepted or wrapped:
 * a small response must not wait for the ACK of the segment before it
 * (the 40 ms stall of issue 8; docs/performance.md). */
static void tcp_connections_have_nagle_off(void **state)
{
    (void)state;
    server_t s;
    server_start(&s, NULL, XPS_PIPE_DEFAULT_THRESHOLD, ACCEPT_ECHO);
    add_client(&s, 0);
    assert_true(run_until(&s, accepted_one, RUN_MS));
    assert_int_equal(s.accepts_without_nagle, 1);

    /* xps_connection_create() on a connected TCP descriptor: its own end
     * of a second client's connection, accepted by hand. */
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(lfd, 1), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &alen), 0);
    int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(connect(cfd, (struct sockaddr *)&a, sizeof a), 0);
    int sfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(sfd >= 0);
    int nodelay = 0;
    socklen_t len = sizeof nodelay;
    assert_int_equal(getsockopt(sfd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &len), 0);
    assert_int_equal(nodelay, 0); /* the kernel's default: Nagle on */
    int err = 12345;
    xps_connection_t *conn = xps_connection_create(s.loop, sfd, NULL, &err);
    assert_non_null(conn);
    assert_int_equal(xps_connection_fd(conn), sfd);
    assert_int_equal(getsockopt(sfd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &len), 0);
    assert_int_equal(nodelay, 1);
    xps_connection_destroy(conn);
    close(cfd);
    close(lfd);
    run_until(&s, NULL, 10); /* let the deferred frees run */
    server_finish(&s);
}

/* ---- parking (issue 8): a kept connection waits between requests with no pipe */

typedef struct park_watch {
    int wakes;
    xps_connection_t *woken;
} park_watch_t;

static void on_wake(xps_connection_t *c, void *data)
{
    park_watch_t *w = data;
    w->wakes++;
    w->woken = c;
}

static park_watch_t *g_watch; /* for the stop conditions below */

static bool answer_arrived(server_t *s) { return s->clients[0].got == s->clients[0].in_cap; }
static bool woken_once(server_t *s) { (void)s; return g_watch->wakes == 1; }
static bool woken_twice(server_t *s) { (void)s; return g_watch->wakes == 2; }
static bool next_request_read(server_t *s) { (void)s; return g_in_end->got_len == 4; }

/* The owner's side of one exchange: a pipe the connection fills (the test
 * is its sink) and a pipe holding `answer` the connection sends. */
static void attach_exchange(server_t *s, xps_connection_t *conn, test_end_t *in_end,
                            xps_pipe_t **out, const char *answer)
{
    *in_end = (test_end_t){.attached = true};
    in_end->pipe = xps_pipe_create(s->core, XPS_PIPE_DEFAULT_THRESHOLD);
    *out = xps_pipe_create(s->core, XPS_PIPE_DEFAULT_THRESHOLD);
    assert_int_equal(xps_connection_attach_source(conn, in_end->pipe), XPS_OK);
    assert_int_equal(xps_pipe_attach_sink(in_end->pipe, end_consume, end_source_done, in_end),
                     XPS_OK);
    xps_pipe_set_sink_ready(in_end->pipe, true);
    assert_int_equal(xps_connection_attach_sink(conn, *out), XPS_OK);
    assert_int_equal(xps_pipe_attach_source(*out, file_produce, file_sink_gone, s), XPS_OK);
    if (answer)
        assert_int_equal(xps_pipe_write(*out, xps_buffer_copy_of(answer, strlen(answer))),
                         XPS_OK);
}

/* The owner parks, then lets go of both pipes at once: the answer still
 * reaches the peer, which sees no FIN; the connection closes nothing and
 * calls nobody while the peer is silent; the peer's next bytes wake it,
 * and they wait unread in the socket for the owner's new pipe; parked
 * again, the peer's close wakes it too. No close callback (park clears
 * it); the owner destroys it, and every member and descriptor is gone. */
static void parked_connection_sends_its_answer_keeps_no_pipe_and_wakes_on_bytes_or_close(
    void **state)
{
    (void)state;
    server_t s;
    server_start(&s, NULL, XPS_PIPE_DEFAULT_THRESHOLD, ACCEPT_ECHO);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    int err = 0;
    xps_connection_t *conn = xps_connection_create(s.loop, sv[0], NULL, &err);
    assert_non_null(conn);
    xps_connection_on_close(conn, on_close, &s);
    client_t *peer = &s.clients[s.n_clients++];
    *peer = (client_t){.fd = sv[1], .read_per_tick = (size_t)-1, .send_per_tick = (size_t)-1};
    assert_int_equal(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
    client_expect(peer, "", 0, strlen("answer"));

    park_watch_t watch = {0};
    g_watch = &watch;
    test_end_t in_end;
    g_in_end = &in_end;
    xps_pipe_t *out;
    attach_exchange(&s, conn, &in_end, &out, "answer");
    assert_int_equal(xps_connection_park(conn, on_wake, &watch), XPS_OK);
    assert_int_equal(xps_connection_park(conn, on_wake, &watch), XPS_E_INVAL); /* once */
    xps_pipe_detach_source(out);         /* no more to send: not the end of the stream */
    xps_pipe_detach_sink(in_end.pipe);   /* nobody reads: not the end either */
    assert_true(run_until(&s, answer_arrived, RUN_MS));
    assert_memory_equal(peer->in, "answer", 6);
    run_until(&s, NULL, 50); /* the peer is silent: nothing happens */
    assert_false(peer->eof);              /* no FIN */
    assert_int_equal(watch.wakes, 0);
    assert_int_equal(s.closes, 0);
    assert_int_equal(members_now(&s), s.members + 1); /* the connection; its pipes are gone */

    peer->out = "next", peer->out_len = 4; /* the next request */
    assert_true(run_until(&s, woken_once, RUN_MS));
    assert_ptr_equal(watch.woken, conn);
    assert_int_equal(xps_connection_unpark(conn), XPS_E_INVAL); /* woken: not parked */
    attach_exchange(&s, conn, &in_end, &out, NULL);
    assert_true(run_until(&s, next_request_read, RUN_MS));
    assert_memory_equal(in_end.got, "next", 4);

    assert_int_equal(xps_connection_park(conn, on_wake, &watch), XPS_OK);
    xps_pipe_detach_source(out);
    xps_pipe_detach_sink(in_end.pipe);
    run_until(&s, NULL, 20);
    close(sv[1]); /* the peer leaves while parked */
    peer->fd = -1;
    assert_true(run_until(&s, woken_twice, RUN_MS));
    assert_int_equal(s.closes, 0);
    xps_connection_destroy(conn);
    assert_int_equal(s.closes, 0); /* park cleared the close callback */
    run_until(&s, NULL, 10);       /* let the deferred frees run */
    assert_false(fd_is_open(sv[0]));
    assert_int_equal(members_now(&s), s.members);
    free(peer->in);
    peer->in = NULL;
    server_finish(&s);
}

/* xps_connection_unpark: a pool takes an idle connection back before the
 * peer spoke. Only a connection parked with both pipes let go can be taken
 * (one still holding its pipes is refused); taken, it is never woken and
 * works as after an accept: the bytes the peer sends next reach the new
 * owner's pipe, and its answer reaches the peer. */
static void unparked_connection_is_never_woken_and_carries_a_new_exchange(void **state)
{
    (void)state;
    server_t s;
    server_start(&s, NULL, XPS_PIPE_DEFAULT_THRESHOLD, ACCEPT_ECHO);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    int err = 0;
    xps_connection_t *conn = xps_connection_create(s.loop, sv[0], NULL, &err);
    assert_non_null(conn);
    client_t *peer = &s.clients[s.n_clients++];
    *peer = (client_t){.fd = sv[1], .read_per_tick = (size_t)-1, .send_per_tick = (size_t)-1};
    assert_int_equal(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
    client_expect(peer, "", 0, strlen("first") + strlen("second"));

    park_watch_t watch = {0};
    g_watch = &watch;
    test_end_t in_end;
    g_in_end = &in_end;
    xps_pipe_t *out;
    assert_int_equal(xps_connection_unpark(conn), XPS_E_INVAL); /* never parked */
    attach_exchange(&s, conn, &in_end, &out, "first");
    assert_int_equal(xps_connection_park(conn, on_wake, &watch), XPS_OK);
    assert_int_equal(xps_connection_unpark(conn), XPS_E_INVAL); /* still holds its pipes */
    xps_pipe_detach_source(out);
    xps_pipe_detach_sink(in_end.pipe);
    run_until(&s, NULL, 50);
    assert_int_equal(peer->got, strlen("first"));
    assert_int_equal(xps_connection_unpark(conn), XPS_OK);

    attach_exchange(&s, conn, &in_end, &out, "second");
    peer->out = "next", peer->out_len = 4;
    assert_true(run_until(&s, next_request_read, RUN_MS));
    assert_true(run_until(&s, answer_arrived, RUN_MS));
    assert_memory_equal(peer->in, "firstsecond", 11);
    assert_int_equal(watch.wakes, 0);
    xps_pipe_detach_source(out);
    xps_pipe_detach_sink(in_end.pipe);
    xps_connection_destroy(conn);
    run_until(&s, NULL, 10);
    assert_int_equal(members_now(&s), s.members);
    client_close(peer);
    server_finish(&s);
}

/* A descriptor that is not a socket is refused, and closed (the connection
 * took ownership of it either way). */
static void connection_create_refuses_a_descriptor_that_is_not_a_socket(void **state)
{
    (void)state;
    server_t s;
    server_start(&s, NULL, XPS_PIPE_DEFAULT_THRESHOLD, ACCEPT_ECHO);
    int fds[2];
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    int err = 12345;
    assert_null(xps_connection_create(s.loop, fds[0], NULL, &err));
    assert_int_equal(err, XPS_E_INVAL);
    assert_false(fd_is_open(fds[0]));
    close(fds[1]);
    assert_int_equal(members_now(&s), s.members);
    server_finish(&s);
}

/* A pipe holding bytes, a 12 MiB range of a file and bytes again, sunk by a
 * connection to a slowly reading client: the range goes out with sendfile()
 * (the bytes never enter the process), several calls since the socket
 * buffers (4 MiB at most by default) cannot take it at once, each resuming
 * where the last stopped; the client gets every byte in order, then EOF. */
static void file_range_is_sent_with_sendfile_byte_exact(void **state)
{
    (void)state;
    enum { FILE_LEN = 12 * 1024 * 1024 + 123, OFFSET = 1000, RANGE = FILE_LEN - 2 * OFFSET };
    server_t s;
    server_start(&s, NULL, XPS_PIPE_DEFAULT_THRESHOLD, ACCEPT_SEND_FILE);
    char path[] = "/tmp/xps-unit-tcp-XXXXXX";
    s.file_fd = mkstemp(path);
    assert_true(s.file_fd >= 0);
    unlink(path);
    char *content = pattern(FILE_LEN, 5);
    assert_int_equal(write(s.file_fd, content, FILE_LEN), FILE_LEN);
    s.file_offset = OFFSET;
    s.file_len = RANGE;

    size_t want_len = 5 + RANGE + 5;
    char *want = malloc(want_len);
    assert_non_null(want);
    memcpy(want, "head:", 5);
    memcpy(want + 5, content + OFFSET, RANGE);
    memcpy(want + 5 + RANGE, ":tail", 5);

    sendfile_calls = sendfile_bytes = 0;
    client_t *c = add_client(&s, SMALL_SOCKBUF);
    client_expect(c, "", 0, want_len);
    c->read_per_tick = 256 * 1024;
    assert_true(run_until(&s, all_echoed_and_closed, RUN_MS));
    assert_int_equal(c->got, want_len);
    assert_int_equal(c->extra, 0);
    assert_memory_equal(c->in, want, want_len);
    print_message("file range: %zu bytes in %zu sendfile() calls\n", sendfile_bytes,
                  sendfile_calls);
    assert_int_equal(sendfile_bytes, RANGE);
    assert_true(sendfile_calls >= 2); /* the slow reader made it come up short */
    assert_int_equal(s.file_sink_gone, 0);
    assert_int_equal(s.closes_ok, 1);
    server_finish(&s);
    free(content);
    free(want);
}

static bool newest_echoed(server_t *s)
{
    const client_t *c = &s->clients[s->n_clients - 1];
    return c->got == c->in_cap;
}

/* Out of descriptors: accept() fails with EMFILE, so the listener refuses
 * the waiting clients (the socket module's spare descriptor) and the loop
 * goes on: no spin, no hang (an alarm turns a hang into a failure). Once
 * descriptors are available again, new clients are served. */
static void out_of_descriptors_refuses_waiting_clients_and_recovers(void **state)
{
    (void)state;
    server_t s;
    server_start(&s, NULL, XPS_PIPE_DEFAULT_THRESHOLD, ACCEPT_ECHO);
    for (int i = 0; i < 3; i++)
        client_expect(add_client(&s, 0), "refused?", 8, 8);
    struct rlimit saved, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
    int lowest_free = dup(0); /* every descriptor below it is taken */
    assert_true(lowest_free >= 0);
    close(lowest_free);
    low = saved;
    low.rlim_cur = (rlim_t)lowest_free;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    alarm(30);
    bool ended = run_until(&s, all_clients_ended, RUN_MS);
    alarm(0);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
    assert_true(ended); /* each waiting client was closed by the server */
    assert_int_equal(s.accepts, 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(s.clients[i].got, 0);

    client_t *c = add_client(&s, 0);
    client_expect(c, "served again\n", 13, 13);
    assert_true(run_until(&s, newest_echoed, RUN_MS));
    assert_echoed(c);
    assert_int_equal(s.accepts, 1);
    server_finish(&s);
}

static bool all_accepted_and_first_stalled(server_t *s)
{
    return s->accepts == s->n_clients && first_client_stalled(s);
}

/* The server is torn down in the middle of its work: eight connections,
 * one with a full pipe and full socket buffers, one whose echo waits
 * unread in its client's socket, the others idle. xps_core_destroy() destroys them all (no close
 * callback: that is for connections that end themselves), every client sees
 * its connection end, and no descriptor or byte of memory is left. */
static void core_destroy_with_live_connections_frees_everything(void **state)
{
    (void)state;
    enum { FLOOD = 8 * 1024 * 1024 };
    server_t s;
    server_start(&s, NULL, SMALL_THRESHOLD, ACCEPT_ECHO);
    char *out = pattern(FLOOD, 9);
    client_t *flood = add_client(&s, SMALL_SOCKBUF);
    client_expect(flood, out, FLOOD, 0);
    flood->read_per_tick = 0;
    client_t *unread = add_client(&s, 0);
    client_expect(unread, "unread echo\n", 12, 12);
    unread->read_per_tick = 0;
    for (int i = 2; i < 8; i++)
        client_expect(add_client(&s, 0), "", 0, 0);
    assert_true(run_until(&s, all_accepted_and_first_stalled, RUN_MS));
    assert_true(members_now(&s) > s.members);

    xps_loop_timer_destroy(s.tick);
    xps_loop_timer_destroy(s.deadline);
    s.tick = s.deadline = NULL;
    xps_core_destroy(s.core);
    s.core = NULL;
    assert_int_equal(s.closes, 0);
    for (int i = 0; i < s.n_clients; i++) { /* each sees EOF or a reset */
        client_t *c = &s.clients[i];
        c->read_per_tick = (size_t)-1;
        int64_t until = now_ms() + 2000;
        while (!c->eof && !c->recv_errno && now_ms() < until) {
            struct pollfd p = {.fd = c->fd, .events = POLLIN};
            poll(&p, 1, 100);
            client_recv(c);
        }
        assert_true(c->eof || c->recv_errno);
    }
    for (int i = 0; i < s.n_clients; i++)
        client_close(&s.clients[i]);
    assert_int_equal(xt_fd_count(getpid()), s.fds_before);
    free(out);
}

/* ------------------------------------------------------ lingering close */

enum {
    TINY_SOCKBUF = 4096,    /* a client receive buffer far smaller than the answer */
    EARLY_ANSWER = 64 * 1024, /* the early answer: most of it waits in the server's send queue */
};

static bool client_sent_all_or_failed(server_t *s)
{
    const client_t *c = &s->clients[0];
    return c->sent == c->out_len || c->send_errno;
}

/* The regression of issue 7 (defect 8), made deterministic. The owner reads
 * the first bytes, answers 64 KiB and stops reading; the peer, whose tiny
 * receive buffer holds only a little of the answer, goes on sending 128 KiB
 * (1 KiB a millisecond, long after the server's FIN), then reads. Closing
 * with the peer's bytes unread (or when the next ones arrive) makes the
 * kernel reset the connection and drop the answer still in its send queue;
 * a lingering close reads and discards them instead, so the peer's send()
 * never fails and it reads every byte of the answer, then EOF. When it
 * closes in turn, the connection closes itself at once with XPS_OK. */
static void early_answer_survives_a_peer_that_goes_on_sending(void **state)
{
    (void)state;
    enum { PEER_SENDS = 128 * 1024 };
    server_t s;
    server_start(&s, NULL, XPS_PIPE_DEFAULT_THRESHOLD, ACCEPT_ANSWER_EARLY);
    char *answer = pattern(EARLY_ANSWER, 21);
    char *out = pattern(PEER_SENDS, 22);
    s.answer = answer;
    s.answer_len = EARLY_ANSWER;
    client_t *c = add_client(&s, TINY_SOCKBUF);
    client_expect(c, out, PEER_SENDS, EARLY_ANSWER);
    c->send_per_tick = 1024;
    c->read_per_tick = 0;
    assert_true(run_until(&s, client_sent_all_or_failed, RUN_MS));
    assert_true(s.request_read > 0 && s.request_read < PEER_SENDS);

    c->read_per_tick = (size_t)-1;
    assert_true(run_until(&s, all_clients_ended, RUN_MS));
    print_message("early answer: peer sent %zu bytes (send errno %d), read %zu of %d (recv errno "
                  "%d)\n", c->sent, c->send_errno, c->got, EARLY_ANSWER, c->recv_errno);
    assert_int_equal(c->send_errno, 0); /* no reset while it was sending */
    assert_int_equal(c->recv_errno, 0);
    assert_int_equal(c->got, EARLY_ANSWER);
    assert_memory_equal(c->in, answer, EARLY_ANSWER);
    assert_true(c->eof);
    assert_int_equal(s.closes, 0); /* lingering: the peer has not closed yet */
    assert_int_equal(members_now(&s), s.members + 1);

    c->shut_wr = true; /* the peer closes its side: the lingering read sees EOF */
    assert_true(run_until(&s, one_close_and_no_connection, RUN_MS));
    assert_int_equal(s.closes, 1);
    assert_int_equal(s.last_reason, XPS_OK);
    server_finish(&s);
    free(answer);
    free(out);
}

/* What the tests below start from: a connection in its lingering close. The
 * client sent a head and part of a body; the owner answered 413 from the
 * head alone, stopped reading and ended its answer; the client has read the
 * answer and the server's FIN, and keeps its own side open. */
static const char early_413[] =
    "HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

static client_t *start_lingering(server_t *s, const xps_tcp_options_t *options, char **body)
{
    enum { REQUEST = 8 * 1024 };
    server_start(s, options, XPS_PIPE_DEFAULT_THRESHOLD, ACCEPT_ANSWER_EARLY);
    s->answer = early_413;
    s->answer_len = strlen(early_413);
    *body = pattern(REQUEST, 31);
    client_t *c = add_client(s, 0);
    client_expect(c, *body, REQUEST, s->answer_len);
    assert_true(run_until(s, all_clients_ended, RUN_MS));
    assert_true(c->eof);
    assert_int_equal(c->got, s->answer_len);
    assert_memory_equal(c->in, early_413, s->answer_len);
    assert_int_equal(members_now(s), s->members + 1); /* lingering */
    assert_int_equal(s->closes, 0);
    assert_non_null(s->conn);
    return c;
}

/* Runs the loop with the clients left alone (no tick) until a close
 * callback stops it or ms pass; true if a close came. */
static bool run_until_close(server_t *s, int ms)
{
    int before = s->closes;
    s->stop_on_close = true;
    xps_loop_timer_start(s->deadline, (uint64_t)ms);
    assert_int_equal(xps_loop_run(s->loop), XPS_OK);
    xps_loop_timer_stop(s->deadline);
    s->stop_on_close = false;
    return s->closes > before;
}

static int64_t cpu_ms(void)
{
    struct rusage u;
    assert_int_equal(getrusage(RUSAGE_SELF, &u), 0);
    return ((int64_t)u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000 +
           (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1000;
}

/* A lingering connection closes as soon as the peer ends: at its FIN with
 * XPS_OK, at its reset with the error, in either case long before the time
 * bound (60 s here, beyond the run's deadline), and its close callback runs
 * once. Until then it waits: 100 ms after the peer saw our FIN it is still
 * there. */
static void lingering_close_ends_at_once_when_the_peer_closes(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        bool reset;  /* the peer resets instead of sending FIN */
        int reason;  /* the close callback's */
    } cases[] = {
        {"peer FIN", false, XPS_OK},
        {"peer reset", true, XPS_E_CLOSED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        xps_tcp_options_t opts = xps_tcp_default_options();
        opts.linger_ms = 60000;
        server_t s;
        char *body;
        client_t *c = start_lingering(&s, &opts, &body);
        run_until(&s, NULL, 100);
        assert_int_equal(members_now(&s), s.members + 1);
        assert_int_equal(s.closes, 0);

        int64_t t0 = now_ms();
        if (cases[i].reset)
            client_reset(c);
        else
            assert_int_equal(shutdown(c->fd, SHUT_WR), 0);
        assert_true(run_until_close(&s, RUN_MS));
        print_message("lingering close, %s: closed %lld ms later (%s)\n", cases[i].name,
                      (long long)(s.closed_ms - t0), xps_strerror(s.last_reason));
        assert_true(s.closed_ms - t0 < 1000);
        assert_int_equal(s.last_reason, cases[i].reason);
        run_until(&s, NULL, 50); /* no second call may come */
        assert_int_equal(s.closes, 1);
        assert_int_equal(members_now(&s), s.members);
        server_finish(&s);
        free(body);
    }
}

/* A peer that neither closes nor sends: the lingering connection closes at
 * its time bound (XPS_E_TIMEOUT), not before, and while it waits it costs no
 * CPU. Also level-triggered, where leaving EPOLLOUT registered would report
 * the idle socket writable every round and spin (stage 07's experiment). */
static void lingering_close_ends_at_its_time_bound_and_idles_without_cpu(void **state)
{
    (void)state;
    enum { LINGER_MS = 400 };
    static const xps_loop_trigger_t triggers[] = {XPS_LOOP_EDGE, XPS_LOOP_LEVEL};
    for (size_t i = 0; i < sizeof triggers / sizeof triggers[0]; i++) {
        xps_tcp_options_t opts = xps_tcp_default_options();
        opts.trigger = triggers[i];
        opts.linger_ms = LINGER_MS;
        server_t s;
        char *body;
        client_t *c = start_lingering(&s, &opts, &body);
        int64_t cpu0 = cpu_ms();
        assert_true(run_until_close(&s, RUN_MS));
        int64_t cpu = cpu_ms() - cpu0, after_fin = s.closed_ms - c->eof_ms;
        print_message("lingering close, %s-triggered: time bound after %lld ms, %lld ms of CPU\n",
                      triggers[i] == XPS_LOOP_EDGE ? "edge" : "level", (long long)after_fin,
                      (long long)cpu);
        assert_int_equal(s.last_reason, XPS_E_TIMEOUT);
        assert_int_equal(s.closes, 1);
        /* Our FIN (the start of the linger) came at most a few ticks
         * before the client saw it. */
        assert_true(after_fin >= LINGER_MS / 2 && after_fin <= LINGER_MS + 1000);
        assert_true(cpu < LINGER_MS / 4);
        assert_int_equal(members_now(&s), s.members);
        server_finish(&s);
        free(body);
    }
}

/* A peer that floods after our FIN: the lingering connection reads and
 * drops up to its byte bound, then closes (XPS_E_LIMIT), long before its
 * time bound (60 s, beyond the run's deadline). */
static void lingering_close_ends_at_its_byte_bound_when_the_peer_floods(void **state)
{
    (void)state;
    enum { LINGER_BYTES = 256 * 1024, FLOOD = 64 * 1024 * 1024 };
    xps_tcp_options_t opts = xps_tcp_default_options();
    opts.linger_ms = 60000;
    opts.linger_bytes = LINGER_BYTES;
    server_t s;
    char *body;
    client_t *c = start_lingering(&s, &opts, &body);
    char *flood = pattern(FLOOD, 32);
    c->out = flood; /* sends on every tick from now on, as much as it can */
    c->out_len = FLOOD;
    c->sent = 0;
    int64_t t0 = now_ms();
    assert_true(run_until(&s, one_close_and_no_connection, RUN_MS));
    print_message("lingering close, flood: closed after %lld ms, peer sent %zu bytes (%s)\n",
                  (long long)(s.closed_ms - t0), c->sent, xps_strerror(s.last_reason));
    assert_int_equal(s.last_reason, XPS_E_LIMIT);
    assert_int_equal(s.closes, 1);
    assert_true(c->sent > LINGER_BYTES);
    assert_true(c->sent < FLOOD); /* it stopped reading: the flood was cut off */
    server_finish(&s);
    free(body);
    free(flood);
}

/* An owner that knows the peer has sent its last byte turns lingering off
 * (xps_connection_set_linger): after its FIN the connection closes at once
 * (XPS_OK), although the peer neither closes nor sends, and the peer has
 * the whole answer and EOF. */
static void an_owner_that_knows_the_peer_is_done_closes_without_lingering(void **state)
{
    (void)state;
    xps_tcp_options_t opts = xps_tcp_default_options();
    opts.linger_ms = 60000; /* beyond the run's deadline: only "no linger" can close it */
    server_t s;
    server_start(&s, &opts, XPS_PIPE_DEFAULT_THRESHOLD, ACCEPT_ANSWER_EARLY);
    s.answer = early_413;
    s.answer_len = strlen(early_413);
    s.no_linger = true;
    const char request[] = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    client_t *c = add_client(&s, 0);
    client_expect(c, request, sizeof request - 1, s.answer_len);
    assert_true(run_until(&s, all_clients_ended, RUN_MS));
    assert_true(c->eof);
    assert_memory_equal(c->in, early_413, s.answer_len);
    assert_true(run_until(&s, one_close_and_no_connection, RUN_MS));
    assert_int_equal(s.closes, 1);
    assert_int_equal(s.last_reason, XPS_OK);
    assert_true(s.closed_ms - c->eof_ms < 1000);
    server_finish(&s);
}

/* The owner aborts a lingering connection (xps_connection_destroy), or the
 * whole server goes (xps_core_destroy): it is gone at once, its time bound
 * never fires, no close callback comes, nothing is left (descriptors here,
 * memory under ASan). */
static void lingering_connection_destroyed_is_gone_at_once_without_a_callback(void **state)
{
    (void)state;
    enum { LINGER_MS = 100 };
    for (int destroy_core = 0; destroy_core <= 1; destroy_core++) {
        xps_tcp_options_t opts = xps_tcp_default_options();
        opts.linger_ms = LINGER_MS;
        server_t s;
        char *body;
        start_lingering(&s, &opts, &body);
        if (!destroy_core) {
            xps_connection_destroy(s.conn);
            assert_int_equal(members_now(&s), s.members); /* at once */
            run_until(&s, NULL, 3 * LINGER_MS); /* past the time bound */
        }
        server_finish(&s); /* destroys the core, and a connection still lingering */
        assert_int_equal(s.closes, 0);
        free(body);
    }
}

/* ------------------------------------------- timeouts and cap [stage 18] */

/* send_timeout_ms: a peer that sends 8 MiB and reads none of the echo
 * stops taking bytes; the connection closes itself with XPS_E_TIMEOUT
 * about send_timeout_ms after its last send made progress. A reading
 * peer with the same option gets its whole echo, however long the
 * transfer: the clock only runs while no byte is taken. */
static void send_timeout_closes_a_peer_that_stops_reading(void **state)
{
    (void)state;
    enum { FLOOD = 8 * 1024 * 1024, ECHO = 2 * 1024 * 1024 };
    xps_tcp_options_t opts = xps_tcp_default_options();
    assert_int_equal(opts.send_timeout_ms, 0);
    opts.send_timeout_ms = 300;
    server_t s;
    server_start(&s, &opts, SMALL_THRESHOLD, ACCEPT_ECHO);
    char *out = pattern(FLOOD, 21);
    client_t *c = add_client(&s, SMALL_SOCKBUF);
    client_expect(c, out, FLOOD, 0);
    c->read_per_tick = 0;
    int64_t started = now_ms(); /* the server's sends stall after this */
    assert_true(run_until(&s, one_close_and_no_connection, RUN_MS));
    int64_t took = s.closed_ms - started;
    print_message("send timeout 300 ms: closed %lld ms after the flood began\n", (long long)took);
    assert_int_equal(s.closes, 1);
    assert_int_equal(s.last_reason, XPS_E_TIMEOUT);
    assert_true(took >= 300 && took < 3000);
    server_finish(&s);
    free(out);

    server_start(&s, &opts, SMALL_THRESHOLD, ACCEPT_ECHO);
    out = pattern(ECHO, 22);
    c = add_client(&s, SMALL_SOCKBUF);
    client_expect(c, out, ECHO, ECHO);
    c->read_per_tick = 64 * 1024; /* slow but steady */
    c->shut_wr = true;
    assert_true(run_until(&s, all_echoed_and_closed, RUN_MS));
    assert_echoed(c);
    assert_int_equal(s.last_reason, XPS_OK);
    server_finish(&s);
    free(out);
}

static bool connection_gone(server_t *s) { return members_now(s) == s->members; }

/* park_timeout_ms: parked, everything sent, the peer silent: the
 * connection closes quietly (no wake, no close callback: park cleared it)
 * about park_timeout_ms later, and the peer sees EOF. A peer that speaks
 * in time wakes it as before. */
static void park_timeout_closes_a_silent_parked_connection(void **state)
{
    (void)state;
    xps_tcp_options_t opts = xps_tcp_default_options();
    opts.park_timeout_ms = 200;
    for (int speak = 0; speak < 2; speak++) {
        server_t s;
        server_start(&s, NULL, XPS_PIPE_DEFAULT_THRESHOLD, ACCEPT_ECHO);
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        int err = 0;
        xps_connection_t *conn = xps_connection_create(s.loop, sv[0], &opts, &err);
        assert_non_null(conn);
        client_t *peer = &s.clients[s.n_clients++];
        *peer = (client_t){.fd = sv[1], .read_per_tick = (size_t)-1, .send_per_tick = (size_t)-1};
        assert_int_equal(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
        client_expect(peer, "", 0, strlen("answer"));
        park_watch_t watch = {0};
        g_watch = &watch;
        test_end_t in_end;
        g_in_end = &in_end;
        xps_pipe_t *out;
        attach_exchange(&s, conn, &in_end, &out, "answer");
        assert_int_equal(xps_connection_park(conn, on_wake, &watch), XPS_OK);
        xps_pipe_detach_source(out);
        xps_pipe_detach_sink(in_end.pipe);
        assert_true(run_until(&s, answer_arrived, RUN_MS));
        int64_t parked = now_ms();
        if (speak) {
            run_until(&s, NULL, 100); /* half the bound */
            peer->out = "next", peer->out_len = 4;
            assert_true(run_until(&s, woken_once, RUN_MS));
            run_until(&s, NULL, 300); /* past the bound: woken, so not timed */
            assert_int_equal(members_now(&s), s.members + 1);
            xps_connection_destroy(conn);
            run_until(&s, NULL, 10);
        } else {
            assert_true(run_until(&s, connection_gone, RUN_MS));
            int64_t took = now_ms() - parked;
            print_message("park timeout 200 ms: closed after %lld ms\n", (long long)took);
            assert_true(took >= 150 && took < 1500);
            assert_int_equal(watch.wakes, 0);
            assert_int_equal(s.closes, 0);
            char byte;
            assert_int_equal(recv(sv[1], &byte, 1, 0), 0); /* EOF */
        }
        assert_false(fd_is_open(sv[0]));
        free(peer->in);
        peer->in = NULL;
        server_finish(&s);
    }
}

static bool three_tried(server_t *s)
{
    return s->clients[2].eof || s->clients[2].recv_errno;
}

/* A cap of 2 shared by the listener's connections: the third client is
 * closed at once (it sees EOF or a reset, never an echo) and counted as
 * refused, the two open ones echo; when one leaves, the next client is
 * accepted. open counts every accepted connection until it is gone. */
static void the_cap_closes_connections_over_it_at_once(void **state)
{
    (void)state;
    xps_tcp_cap_t cap = {.max = 2};
    xps_tcp_options_t opts = xps_tcp_default_options();
    opts.cap = &cap;
    server_t s;
    server_start(&s, &opts, XPS_PIPE_DEFAULT_THRESHOLD, ACCEPT_ECHO);
    for (int i = 0; i < 3; i++)
        client_expect(add_client(&s, 0), "ping\n", 5, i < 2 ? 5 : 0);
    assert_true(run_until(&s, three_tried, RUN_MS));
    run_until(&s, NULL, 50);
    assert_int_equal(s.accepts, 2);
    assert_int_equal(cap.open, 2);
    assert_int_equal(cap.refused, 1);
    assert_int_equal(s.clients[2].got, 0);
    assert_int_equal(s.clients[0].got, 5);
    assert_int_equal(s.clients[1].got, 5);
    client_close(&s.clients[0]); /* one leaves: its connection ends, a place frees */
    s.clients[0].eof = true;
    int64_t until = now_ms() + 2000;
    while (cap.open != 1 && now_ms() < until)
        run_until(&s, NULL, 10);
    assert_int_equal(cap.open, 1);
    client_expect(add_client(&s, 0), "pong\n", 5, 5);
    s.clients[2].eof = true; /* done with: all_echoed looks at in_cap only */
    assert_true(run_until(&s, all_echoed, RUN_MS));
    assert_int_equal(s.accepts, 3);
    assert_int_equal(cap.open, 2);
    server_finish(&s);
    assert_int_equal(cap.open, 0); /* every counted connection gone */
    assert_int_equal(cap.refused, 1);
}

int main(void)
{
    xps_log_set_level(XPS_LOG_WARN); /* XPS_LOG_LEVEL=debug shows the module's detail */
    xps_log_init_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(echoes_a_round_trip_and_closes_cleanly),
        cmocka_unit_test(accepts_every_queued_client_and_echoes_each_its_own_bytes),
        cmocka_unit_test(slow_reader_gets_every_byte_and_the_pipe_stays_under_its_threshold),
        cmocka_unit_test(half_close_gets_every_byte_back_then_eof),
        cmocka_unit_test(client_reset_closes_the_connection_once_with_an_error),
        cmocka_unit_test(connection_destroyed_inside_the_accept_callback),
        cmocka_unit_test(listener_destroyed_inside_its_own_accept_callback),
        cmocka_unit_test(connection_over_a_socketpair_is_source_of_one_pipe_and_sink_of_another),
        cmocka_unit_test(connection_create_refuses_a_descriptor_that_is_not_a_socket),
        cmocka_unit_test(file_range_is_sent_with_sendfile_byte_exact),
        cmocka_unit_test(out_of_descriptors_refuses_waiting_clients_and_recovers),
        cmocka_unit_test(core_destroy_with_live_connections_frees_everything),
        cmocka_unit_test(early_answer_survives_a_peer_that_goes_on_sending),
        cmocka_unit_test(lingering_close_ends_at_once_when_the_peer_closes),
        cmocka_unit_test(lingering_close_ends_at_its_time_bound_and_idles_without_cpu),
        cmocka_unit_test(lingering_close_ends_at_its_byte_bound_when_the_peer_floods),
        cmocka_unit_test(lingering_connection_destroyed_is_gone_at_once_without_a_callback),
        cmocka_unit_test(an_owner_that_knows_the_peer_is_done_closes_without_lingering),
        cmocka_unit_test(tcp_connections_have_nagle_off),
        cmocka_unit_test(parked_connection_sends_its_answer_keeps_no_pipe_and_wakes_on_bytes_or_close),
        cmocka_unit_test(unparked_connection_is_never_woken_and_carries_a_new_exchange),
        cmocka_unit_test(send_timeout_closes_a_peer_that_stops_reading),
        cmocka_unit_test(park_timeout_closes_a_silent_parked_connection),
        cmocka_unit_test(the_cap_closes_connections_over_it_at_once),
        cmocka_unit_test(an_adopted_socket_accepts_like_its_own),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
