/*
 * tests/stages/stage_08.c — black-box checks for stage 08 (upstream).
 *
 * The binary under test ($XPS_STAGE_BIN) is started with no arguments, so it
 * must listen on 8001-8004: 8001 relays raw TCP to the upstream on
 * 127.0.0.1:3000, which the checks provide with the test upstream
 * (build/bin/test-upstream, HTTP or echo mode) or leave empty on purpose;
 * 8002-8004 echo every byte, as in stage 07.
 *
 * What is checked: echo on 8002-8004; replies through 8001 byte-identical
 * to the upstream's own, for two clients connected at once; 16 MiB each way
 * at once between a client and an upstream played by the check, then end
 * of stream passed on in both directions; an upstream that is
 * down closes the client without a byte and a later client is served once
 * it is up; an upstream killed mid-transfer closes that client only; an
 * upstream that resets mid-reply has its bytes delivered before the client
 * is closed; SIGTERM ends the server with status 0.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

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
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/harness.h"

enum {
    BASE_PORT = 8001,      /* the four ports are 8001..8004 */
    PORTS = 4,
    PROXY_PORT = 8001,     /* the proxy port; 8002-8004 echo */
    UPSTREAM_PORT = 3000,
    START_MS = 5000,       /* for the server to start listening */
    REPLY_MS = 3000,       /* for one reply */
    CLOSE_MS = 3000,       /* for the server to close a client */
    STOP_MS = 3000,        /* for the server to exit after SIGTERM */
    REPLY_CAP = 4096,      /* room for one small HTTP reply */
    BIG_BYTES = 16 * 1024 * 1024, /* the big transfer, each way */
    BULK_MS = 15000,       /* for all of it (well under 1 s on a laptop) */
    STUCK_MS = 3000,       /* no byte moved for this long: give up */
    READ_CAP = 64 * 1024,  /* most bytes one recv() of a streamer takes */
    STREAM_BYTES = 4 * 1024 * 1024, /* offered in the upstream-killed check */
    KILL_AFTER = 256 * 1024, /* echoed bytes seen before the upstream is killed */
    LINE_LEN = 200,        /* bytes per echo round trip */
};

/* ------------------------------------------------------------ helpers */

/* Starts the binary under test with no flags; waits for all four ports. */
static xt_proc_t *start_server(void)
{
    for (int i = 0; i < PORTS; i++)
        xt_require_port_free((uint16_t)(BASE_PORT + i));
    xt_proc_t *p = xt_start(xt_stage_bin(), NULL, NULL);
    for (int i = 0; i < PORTS; i++)
        xt_wait_port(p, (uint16_t)(BASE_PORT + i), START_MS);
    return p;
}

/* "is still running", "exited with status 1", "was killed by signal 11 ...". */
static const char *server_state(xt_proc_t *p)
{
    static char text[160];
    if (xt_alive(p))
        return "is still running";
    int status = 0;
    xt_wait_exit(p, 0, &status);
    const char *what = xt_status_text(status);
    snprintf(text, sizeof text, "%s%s", strncmp(what, "killed", 6) == 0 ? "was " : "", what);
    return text;
}

/* Gives the server 200 ms to show it is exiting, then expects it running. */
static void expect_alive(xt_proc_t *p, const char *after)
{
    char expected[200];
    int status = 0;
    bool exited = xt_wait_exit(p, 200, &status);
    snprintf(expected, sizeof expected, "the server keeps running after %s", after);
    xt_expect(!exited, expected, "the server %s", exited ? xt_status_text(status) : "runs");
}

/* One round trip on an echo port: `len` random bytes must come back as sent. */
static void expect_echo(xt_proc_t *p, int fd, const char *who, size_t len)
{
    char line[LINE_LEN + 1], got[LINE_LEN + 1], expected[LINE_LEN * 2 + 100];
    xt_random_text(line, len);
    xt_send_all(fd, line, len); /* a failure shows up as a missing echo */
    int why = 0;
    size_t n = xt_recv_exact(fd, got, len, REPLY_MS, &why);
    snprintf(expected, sizeof expected, "%s gets back \"%s\"", who, xt_quote(line, len));
    xt_expect(n == len && memcmp(got, line, len) == 0, expected, "\"%s\"%s (the server %s)",
              xt_quote(got, n),
              n == len ? "" : why == XT_TIMEOUT ? ", then nothing for 3 s"
                             : why == XT_ERROR ? ", then a connection error"
                                               : ", then the connection closed",
              server_state(p));
}

static void send_get(int fd, const char *path)
{
    char req[256];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
    xt_send_all(fd, req, (size_t)n); /* a failure shows up as a missing reply */
}

/* The reply the upstream itself gives to GET path, fetched around the proxy. */
static size_t fetch_direct(const char *path, char *buf, size_t cap)
{
    int fd = xt_connect(UPSTREAM_PORT);
    send_get(fd, path);
    bool eof = false;
    size_t n = xt_recv_until_eof(fd, buf, cap, REPLY_MS, &eof);
    close(fd);
    if (n == 0)
        xt_fail("the test upstream gave no reply to GET %s (a harness problem)", path);
    return n;
}

/* Reads exactly want_len bytes from fd and expects them to equal want. */
static void expect_same_reply(xt_proc_t *p, int fd, const char *who, const char *path,
                              const char *want, size_t want_len)
{
    char got[REPLY_CAP], expected[300];
    int why = 0;
    size_t n = xt_recv_exact(fd, got, want_len, REPLY_MS, &why);
    snprintf(expected, sizeof expected,
             "%s gets the upstream's reply to GET %s through port 8001 byte for byte (%zu bytes)",
             who, path, want_len);
    const char *how = n == want_len ? "differs"
                      : why == XT_TIMEOUT ? "incomplete after 3 s"
                      : why == XT_ERROR ? "cut by a connection error"
                                        : "cut by the server closing the connection";
    xt_expect(n == want_len && memcmp(got, want, want_len) == 0, expected,
              "%zu bytes, %s: \"%s\" (the server %s)", n, how, xt_quote(got, n),
              server_state(p));
}

static void set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        xt_fail("fcntl(O_NONBLOCK): %s", strerror(errno));
}

static void *xmalloc(size_t len)
{
    void *p = malloc(len);
    if (!p)
        xt_fail("out of memory (%zu bytes)", len);
    return p;
}

/* Fills buf with bytes of every value, from the run's seed (XT_SEED). */
static void random_bytes(unsigned char *buf, size_t len)
{
    char seed_text[8];
    xt_random_text(seed_text, sizeof seed_text);
    unsigned long long x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < sizeof seed_text; i++)
        x = (x ^ (unsigned char)seed_text[i]) * 0x100000001b3ull;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13; /* xorshift64 */
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (unsigned char)(x >> 24);
    }
}

/* One end of a stream through the proxy: it sends `out` and expects
 * `want`, driven by poll() so that it never blocks in send() or recv()
 * (which could deadlock against the proxy's back-pressure). */
typedef struct {
    int fd;
    const unsigned char *out;  /* the bytes to send */
    const unsigned char *want; /* the bytes this end should receive */
    unsigned char *in;         /* where received bytes go (len bytes) */
    size_t len;                /* of out, want and in */
    size_t sent, got;          /* progress */
    bool closed;               /* recv() saw EOF or an error */
    int recv_errno;            /* errno of a failed recv(), 0 for EOF */
} streamer;

static void stream_send(streamer *s)
{
    ssize_t n = send(s->fd, s->out + s->sent, s->len - s->sent, MSG_NOSIGNAL);
    if (n > 0)
        s->sent += (size_t)n;
}

static void stream_recv(streamer *s)
{
    size_t room = s->len - s->got < READ_CAP ? s->len - s->got : READ_CAP;
    unsigned char extra[16];
    ssize_t n = room ? recv(s->fd, s->in + s->got, room, 0) : recv(s->fd, extra, sizeof extra, 0);
    if (n > 0 && room > 0)
        s->got += (size_t)n;
    else if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        s->closed = true;
        s->recv_errno = n < 0 ? errno : 0;
    }
}

/* One round for a set of streamers: waits up to wait_ms for any of them,
 * then each sends what its socket takes and reads up to READ_CAP. */
static void pump(streamer *const *ss, int count, int wait_ms)
{
    struct pollfd pfds[2];
    for (int i = 0; i < count; i++) {
        pfds[i] = (struct pollfd){.fd = ss[i]->closed ? -1 : ss[i]->fd, .events = POLLIN};
        if (ss[i]->sent < ss[i]->len)
            pfds[i].events |= POLLOUT;
    }
    if (poll(pfds, (nfds_t)count, wait_ms) <= 0)
        return;
    for (int i = 0; i < count; i++) {
        short ev = pfds[i].revents;
        if ((ev & (POLLOUT | POLLERR | POLLHUP)) && ss[i]->sent < ss[i]->len)
            stream_send(ss[i]);
        if (ev & (POLLIN | POLLERR | POLLHUP))
            stream_recv(ss[i]);
    }
}

/* Pumps until every streamer has all it wants, one is closed, nothing moved
 * for STUCK_MS, or BULK_MS passed. *stuck: it gave up for lack of progress. */
static void pump_until_done(streamer *const *ss, int count, bool *stuck)
{
    int64_t start = xt_now_ms(), last_move = start;
    size_t last = 0;
    *stuck = false;
    for (;;) {
        bool done = true, closed = false;
        size_t moved = 0;
        for (int i = 0; i < count; i++) {
            done = done && ss[i]->got == ss[i]->len;
            closed = closed || ss[i]->closed;
            moved += ss[i]->sent + ss[i]->got;
        }
        if (moved != last) {
            last = moved;
            last_move = xt_now_ms();
        }
        if (done || closed || xt_now_ms() >= start + BULK_MS)
            return;
        if (xt_now_ms() - last_move >= STUCK_MS) {
            *stuck = true;
            return;
        }
        pump(ss, count, 50);
    }
}

static size_t first_difference(const unsigned char *a, const unsigned char *b, size_t len)
{
    size_t i = 0;
    while (i < len && a[i] == b[i])
        i++;
    return i;
}

static bool stream_intact(const streamer *s)
{
    return s->got == s->len && first_difference(s->want, s->in, s->len) == s->len;
}

/* What one end received, for an observed text. */
static const char *stream_outcome(const streamer *s, bool stuck)
{
    static char rings[2][200];
    static int next;
    char *out = rings[next++ % 2];
    size_t same = first_difference(s->want, s->in, s->got);
    if (s->got == s->len && same == s->len)
        snprintf(out, 200, "all %zu bytes arrived intact", s->len);
    else if (same < s->got)
        snprintf(out, 200, "%zu bytes arrived, differing from what was sent at offset %zu",
                 s->got, same);
    else if (s->closed)
        snprintf(out, 200, "%zu bytes arrived, then the connection was closed (%s)", s->got,
                 s->recv_errno ? strerror(s->recv_errno) : "EOF");
    else
        snprintf(out, 200, "%zu bytes arrived, then %s", s->got,
                 stuck ? "nothing moved for 3 s" : "the 15 s were up");
    return out;
}

/* Listens on 127.0.0.1:port itself, to play the upstream in a check. */
static int listen_local(uint16_t port)
{
    xt_require_port_free(port);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int on = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0)
        xt_fail("cannot listen on 127.0.0.1:%u to play the upstream: %s", port,
                strerror(errno));
    return fd;
}

/* ------------------------------------------------------------- checks */

/* Ports 8002-8004 are stage 07's echo: every byte comes back as sent. */
static void echoes_on_ports_8002_to_8004(void **state)
{
    (void)state;
    xt_proc_t *p = start_server();
    for (int i = 1; i < PORTS; i++) {
        char who[64];
        snprintf(who, sizeof who, "a client of port %d", BASE_PORT + i);
        int fd = xt_connect((uint16_t)(BASE_PORT + i));
        expect_echo(p, fd, who, 50);
        expect_echo(p, fd, who, LINE_LEN);
        close(fd);
    }
}

/* Two clients, both connected before either asks, each gets exactly what
 * the upstream gives for its own path (the eXpServer tester's check). */
static void two_clients_through_8001_get_the_upstreams_replies(void **state)
{
    (void)state;
    xt_upstream_start(UPSTREAM_PORT, "http");
    char want1[REPLY_CAP], want2[REPLY_CAP];
    size_t len1 = fetch_direct("/test/1", want1, sizeof want1);
    size_t len2 = fetch_direct("/test/2", want2, sizeof want2);

    xt_proc_t *p = start_server();
    int a = xt_connect(PROXY_PORT);
    int b = xt_connect(PROXY_PORT);
    send_get(b, "/test/2"); /* the second client asks first */
    send_get(a, "/test/1");
    expect_same_reply(p, b, "client 2", "/test/2", want2, len2);
    expect_same_reply(p, a, "client 1", "/test/1", want1, len1);
    close(a);
    close(b);
}

/* The check plays the upstream on 3000 itself, so that it sees both ends
 * (a server that merely echoed on 8001 could not pass): 16 MiB of random
 * bytes each way at the same time, each end reading as it sends. Then the
 * client ends its stream (shutdown SHUT_WR): the upstream must see EOF, and
 * when the upstream closes in turn, so must the client. (Whether the proxy
 * lets the upstream answer after the client's FIN, a true half-close, is
 * the chapter's business and the unit tests': a proxy that closes both
 * sides on the first FIN passes here too.) */
static void relays_16_mib_each_way_through_8001_and_passes_end_of_stream(void **state)
{
    (void)state;
    xt_proc_t *p = start_server();
    unsigned char *up = xmalloc(BIG_BYTES), *down = xmalloc(BIG_BYTES);
    unsigned char *in_c = xmalloc(BIG_BYTES), *in_u = xmalloc(BIG_BYTES);
    random_bytes(up, BIG_BYTES);
    random_bytes(down, BIG_BYTES);

    /* Nothing may fail the check while the listener is open: a failed check
     * does not return, and the port would stay taken for the next checks. */
    int listener = listen_local(UPSTREAM_PORT);
    int client_fd = xt_try_connect(PROXY_PORT);
    struct pollfd lp = {.fd = listener, .events = POLLIN};
    int upstream_fd = client_fd >= 0 && poll(&lp, 1, REPLY_MS) == 1
                          ? accept(listener, NULL, NULL)
                          : -1;
    close(listener);
    xt_expect(client_fd >= 0, "a client can connect to port 8001", "connect: %s (the server %s)",
              strerror(-client_fd), server_state(p));
    xt_expect(upstream_fd >= 0,
              "for a new client of port 8001 the server connects to the upstream 127.0.0.1:3000",
              "no connection came within 3 s (the server %s)", server_state(p));
    set_nonblocking(client_fd);
    set_nonblocking(upstream_fd);
    streamer c = {.fd = client_fd, .out = up, .want = down, .in = in_c, .len = BIG_BYTES};
    streamer u = {.fd = upstream_fd, .out = down, .want = up, .in = in_u, .len = BIG_BYTES};
    streamer *const ss[] = {&c, &u};
    bool stuck = false;
    int64_t start = xt_now_ms();
    pump_until_done(ss, 2, &stuck);
    xt_note("16 MiB each way through port 8001 in %lld ms", (long long)(xt_now_ms() - start));
    xt_expect(stream_intact(&c) && stream_intact(&u),
              "16 MiB of random bytes each way at once pass intact between a client of port "
              "8001 and the upstream",
              "client -> upstream: %s; upstream -> client: %s; the server %s",
              stream_outcome(&u, stuck), stream_outcome(&c, stuck), server_state(p));

    shutdown(c.fd, SHUT_WR);
    char byte;
    ssize_t n = xt_recv_deadline(u.fd, &byte, 1, CLOSE_MS);
    xt_expect(n == 0 || n == XT_ERROR,
              "the client's FIN (shutdown SHUT_WR) reaches the upstream as EOF within 3 s",
              "%s (the server %s)",
              n == XT_TIMEOUT ? "the upstream's connection was still open after 3 s"
                              : "a byte more arrived",
              server_state(p));
    close(u.fd);
    bool closed = false;
    size_t extra = xt_recv_until_eof(c.fd, in_c, BIG_BYTES, CLOSE_MS, &closed);
    xt_expect(closed && extra == 0,
              "once the upstream closes too, the client's connection is closed within 3 s, "
              "with no byte more",
              "%s, %zu bytes more (the server %s)", closed ? "closed" : "still open after 3 s",
              extra, server_state(p));
    close(c.fd);
    free(up);
    free(down);
    free(in_c);
    free(in_u);
}

/* Nothing listens on 3000: each client of 8001 is closed promptly without a
 * byte; the server goes on (8002 still echoes) and serves 8001 again once
 * the upstream is up. */
static void upstream_down_closes_the_client_without_a_byte(void **state)
{
    (void)state;
    xt_require_port_free(UPSTREAM_PORT); /* no upstream, on purpose */
    xt_proc_t *p = start_server();
    for (int i = 1; i <= 2; i++) {
        char buf[REPLY_CAP], expected[200];
        int fd = xt_connect(PROXY_PORT);
        send_get(fd, "/test/1");
        ssize_t n = xt_recv_deadline(fd, buf, sizeof buf, CLOSE_MS);
        snprintf(expected, sizeof expected,
                 "with nothing listening on port 3000, client %d of port 8001 is closed (EOF or "
                 "reset) within 3 s, without a byte",
                 i);
        xt_expect(n == 0 || n == XT_ERROR, expected, "%s (the server %s)",
                  n == XT_TIMEOUT ? "the connection was still open after 3 s"
                  : n > 0         ? xt_quote(buf, (size_t)n)
                                  : "closed",
                  server_state(p));
        close(fd);
        expect_alive(p, "failing to reach the upstream");
    }
    int echo = xt_connect(BASE_PORT + 1);
    expect_echo(p, echo, "a client of port 8002, after the failed proxying", 40);
    close(echo);

    xt_upstream_start(UPSTREAM_PORT, "http");
    char want[REPLY_CAP];
    size_t len = fetch_direct("/test/1", want, sizeof want);
    int fd = xt_connect(PROXY_PORT);
    send_get(fd, "/test/1");
    expect_same_reply(p, fd, "a client arriving once the upstream is up", "/test/1", want, len);
    close(fd);
}

/* The echo upstream is killed (SIGKILL) while a client streams through
 * 8001: that client is closed within 3 s; a client of 8002 connected all
 * along is still echoed; the server keeps running. */
static void upstream_killed_mid_transfer_closes_only_that_client(void **state)
{
    (void)state;
    xt_proc_t *upstream = xt_upstream_start(UPSTREAM_PORT, "echo");
    xt_proc_t *p = start_server();
    int bystander = xt_connect(BASE_PORT + 1);
    expect_echo(p, bystander, "a client of port 8002", 40);

    unsigned char *out = xmalloc(STREAM_BYTES), *in = xmalloc(STREAM_BYTES);
    random_bytes(out, STREAM_BYTES);
    streamer s = {.fd = xt_connect(PROXY_PORT), .out = out, .want = out, .in = in,
                  .len = STREAM_BYTES};
    streamer *const ss[] = {&s};
    set_nonblocking(s.fd);
    int64_t deadline = xt_now_ms() + REPLY_MS;
    while (s.got < KILL_AFTER && !s.closed && xt_now_ms() < deadline)
        pump(ss, 1, 50);
    xt_expect(s.got >= KILL_AFTER && first_difference(out, in, s.got) == s.got,
              "the first 256 KiB a client streams through port 8001 come back from the echo "
              "upstream",
              "%s", stream_outcome(&s, false));

    xt_stop(upstream, SIGKILL, 2000);
    int64_t killed = xt_now_ms();
    deadline = killed + CLOSE_MS;
    while (!s.closed && xt_now_ms() < deadline)
        pump(ss, 1, 50);
    xt_expect(s.closed,
              "the streaming client of port 8001 is closed (EOF or reset) within 3 s of the "
              "upstream being killed",
              "%s after %lld ms; %zu bytes had come back (the server %s)",
              s.closed ? "closed" : "still open", (long long)(xt_now_ms() - killed), s.got,
              server_state(p));
    close(s.fd);
    free(out);
    free(in);
    expect_alive(p, "its upstream was killed mid-transfer");
    expect_echo(p, bystander, "the client of port 8002, after the upstream died", 40);
    close(bystander);
}

/* GET /abort: the upstream sends a head announcing 1000000 body bytes, sends
 * 1000 of them, and resets. The bytes it sent reach the client before the
 * proxy closes it (a pipe drains before it passes the end on), exactly as
 * a client asking the upstream directly receives them. A client of 8001
 * connected alongside is served normally. */
static void upstream_reset_mid_reply_delivers_its_bytes_then_closes(void **state)
{
    (void)state;
    xt_upstream_start(UPSTREAM_PORT, "http");
    char want_abort[REPLY_CAP], want2[REPLY_CAP];
    size_t abort_len = fetch_direct("/abort", want_abort, sizeof want_abort);
    size_t len2 = fetch_direct("/test/2", want2, sizeof want2);
    xt_proc_t *p = start_server();

    int a = xt_connect(PROXY_PORT);
    int b = xt_connect(PROXY_PORT);
    send_get(a, "/abort");
    char got[REPLY_CAP];
    bool closed = false; /* EOF or reset */
    size_t n = xt_recv_until_eof(a, got, sizeof got, CLOSE_MS, &closed);
    char expected[300];
    snprintf(expected, sizeof expected,
             "the client asking GET /abort through port 8001 gets the %zu bytes the upstream "
             "sent before its reset, then its connection closed within 3 s",
             abort_len);
    xt_expect(closed && n == abort_len && memcmp(got, want_abort, n) == 0, expected,
              "%zu bytes (%s...), %s (the server %s)", n, xt_quote(got, n < 40 ? n : 40),
              closed ? "then closed" : "and the connection still open after 3 s",
              server_state(p));
    close(a);
    expect_alive(p, "an upstream connection was reset");

    send_get(b, "/test/2");
    expect_same_reply(p, b, "a client connected alongside it", "/test/2", want2, len2);
    close(b);
}

/* SIGTERM with clients connected (one proxied, one echoed) ends the
 * server with status 0 within 3 s. */
static void exits_0_within_3_s_of_sigterm(void **state)
{
    (void)state;
    xt_upstream_start(UPSTREAM_PORT, "echo");
    xt_proc_t *p = start_server();
    int proxied = xt_connect(PROXY_PORT);
    int echoed = xt_connect(BASE_PORT + 1);
    expect_echo(p, proxied, "a client of port 8001 (echo upstream)", 40);
    expect_echo(p, echoed, "a client of port 8002", 40);

    int64_t sent_at = xt_now_ms();
    int status = xt_stop(p, SIGTERM, STOP_MS);
    int64_t took = xt_now_ms() - sent_at;
    close(proxied);
    close(echoed);
    bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    bool killed_by_us = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    xt_expect(clean, "the server exits with status 0 within 3 s of SIGTERM, 2 clients connected",
              "%s after %lld ms%s", xt_status_text(status), (long long)took,
              killed_by_us ? " (it was still running after 3 s and was killed)" : "");
}

int main(void)
{
    const struct CMUnitTest checks[] = {
        XT_CHECK(echoes_on_ports_8002_to_8004),
        XT_CHECK(two_clients_through_8001_get_the_upstreams_replies),
        XT_CHECK(relays_16_mib_each_way_through_8001_and_passes_end_of_stream),
        XT_CHECK(upstream_down_closes_the_client_without_a_byte),
        XT_CHECK(upstream_killed_mid_transfer_closes_only_that_client),
        XT_CHECK(upstream_reset_mid_reply_delivers_its_bytes_then_closes),
        XT_CHECK(exits_0_within_3_s_of_sigterm),
    };
    return xt_run_checks("stage 08 (upstream)", checks);
}
