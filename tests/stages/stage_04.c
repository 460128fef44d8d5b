/*
 * tests/stages/stage_04.c — black-box checks for stage 04 (tcp-proxy).
 *
 * The binary under test ($XPS_STAGE_BIN) is started with no arguments, so it
 * must listen on 8080 and connect each client to the upstream on
 * 127.0.0.1:3000, which these checks provide with the test upstream
 * (build/bin/test-upstream, HTTP or echo mode), play themselves (a server
 * that writes before it reads), or leave empty on purpose.
 *
 * What is checked: replies through the proxy are byte-identical to replies
 * fetched from the upstream directly, for clients that are connected at the
 * same time; 32 MiB each way survive a client that reads slowly; 8 MiB each
 * way survive a client and an upstream that both send at once (a proxy that
 * relays with blocking send loops deadlocks there); an upstream that is
 * down, killed mid-transfer or resetting one connection closes the affected
 * client and nothing else, and the proxy keeps running.
 *
 * The checks never half-close their side of a connection, so a proxy that
 * closes the pair as soon as one side sends FIN (as the course's does)
 * passes too: that choice is the chapter's business, not the grader's.
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
#include <unistd.h>

#include "tests/support/harness.h"

enum {
    PROXY_PORT = 8080,
    UPSTREAM_PORT = 3000,
    START_MS = 5000,            /* for a server to start listening */
    REPLY_MS = 3000,            /* for one reply */
    CLOSE_MS = 3000,            /* for the proxy to close a client */
    REPLY_CAP = 4096,           /* room for one small HTTP reply */
    SLOW_BYTES = 32 * 1024 * 1024, /* each way in the slow-reader check: more than the
                                       socket buffers on the way hold (~17 MiB here) */
    BULK_BYTES = 8 * 1024 * 1024, /* each way in the both-ends-at-once check */
    BULK_MS = 15000,            /* for all of it (under 1 s on a laptop) */
    STALL_MS = 300,             /* the slow reader reads nothing for at least this long */
    STALL_MAX_MS = 3000,        /* ...and at most this long */
    SMALL_READ = 4096,          /* ...and then reads at most this much at a time */
    SMALL_RCVBUF = 64 * 1024,   /* its receive buffer: the proxy's sends come up short */
    BIG_READ = 64 * 1024,       /* the fake upstream's reads, once it reads */
    STUCK_MS = 3000,            /* no byte moved for this long: give up (deadlock) */
    STREAM_BYTES = 4 * 1024 * 1024, /* offered in the upstream-killed check */
    KILL_AFTER = 256 * 1024,    /* echoed bytes seen before the upstream is killed */
};

/* ------------------------------------------------------------ helpers */

/* Starts the binary under test with no flags and waits until it listens. */
static xt_proc_t *start_proxy(void)
{
    xt_require_port_free(PROXY_PORT);
    xt_proc_t *p = xt_start(xt_stage_bin(), NULL, NULL);
    xt_wait_port(p, PROXY_PORT, START_MS);
    return p;
}

/* What the proxy is doing, to follow "the proxy ": "is still running",
 * "exited with status 1", "was killed by signal 11 (Segmentation fault)". */
static const char *proxy_state(xt_proc_t *p)
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

/* Gives the proxy 200 ms to show that it is exiting (its sockets close a
 * moment before the process is gone), then expects it to be running. */
static void expect_proxy_alive(xt_proc_t *p, const char *after)
{
    char expected[200];
    int status = 0;
    bool exited = xt_wait_exit(p, 200, &status);
    snprintf(expected, sizeof expected, "the proxy keeps running after %s", after);
    xt_expect(!exited, expected, "the proxy %s", exited ? xt_status_text(status) : "runs");
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

/* Reads a reply of exactly want_len bytes from fd and expects it to equal
 * want: the proxy must relay the upstream's reply byte for byte. */
static void expect_same_reply(xt_proc_t *proxy, int fd, const char *who, const char *path,
                              const char *want, size_t want_len)
{
    char got[REPLY_CAP], expected[300];
    int why = 0;
    size_t n = xt_recv_exact(fd, got, want_len, REPLY_MS, &why);
    snprintf(expected, sizeof expected,
             "%s gets the upstream's reply to GET %s byte for byte (%zu bytes)", who, path,
             want_len);
    const char *how = n == want_len ? "differs"
                      : why == XT_TIMEOUT ? "incomplete after 3 s"
                      : why == XT_ERROR ? "cut by a connection error"
                                        : "cut by the proxy closing the connection";
    xt_expect(n == want_len && memcmp(got, want, want_len) == 0, expected,
              "%zu bytes, %s: \"%s\" (the proxy %s)", n, how, xt_quote(got, n),
              proxy_state(proxy));
}

static void set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        xt_fail("fcntl(O_NONBLOCK): %s", strerror(errno));
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

/* One end of a stream through the proxy: it sends `out` and expects `want`
 * back, driven by poll() so that it never blocks in send() or recv(). */
typedef struct {
    int fd;
    const unsigned char *out;  /* the bytes to send */
    const unsigned char *want; /* the bytes this end should receive */
    unsigned char *in;         /* where received bytes go (as long as want) */
    size_t len;                /* of out, want and in */
    size_t sent, got;          /* progress */
    size_t read_cap;           /* most bytes one recv() may take; 0: read nothing now */
    bool writes_first;         /* reads nothing until all of out is sent */
    bool closed;               /* recv() saw EOF or an error */
    bool send_failed;          /* send() failed (the peer closed on us) */
    int recv_errno;            /* errno of a failed recv(), 0 for EOF */
    size_t full_waits;         /* times it had bytes to send and the socket was full */
} streamer;

static void stream_send(streamer *s)
{
    ssize_t n = send(s->fd, s->out + s->sent, s->len - s->sent, MSG_NOSIGNAL);
    if (n > 0)
        s->sent += (size_t)n;
    else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        s->full_waits++;
    else if (n < 0 && errno != EINTR)
        s->send_failed = true;
}

static void stream_recv(streamer *s)
{
    unsigned char sink[SMALL_READ];
    size_t room = s->len - s->got < s->read_cap ? s->len - s->got : s->read_cap;
    unsigned char *dst = room > 0 ? s->in + s->got : sink; /* bytes beyond len: read anyway */
    ssize_t n = recv(s->fd, dst, room > 0 ? room : sizeof sink, 0);
    if (n > 0 && room > 0)
        s->got += (size_t)n;
    else if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        s->closed = true;
        s->recv_errno = n < 0 ? errno : 0;
    }
}

/* One round for a set of streamers: waits up to wait_ms for any of them,
 * then each sends what its socket takes and reads up to its read_cap. */
static void pump(streamer *const *ss, int count, int wait_ms)
{
    struct pollfd pfds[2];
    for (int i = 0; i < count; i++) {
        const streamer *s = ss[i];
        pfds[i] = (struct pollfd){.fd = s->closed ? -1 : s->fd, .events = 0};
        if (s->sent < s->len && !s->send_failed)
            pfds[i].events |= POLLOUT;
        if (s->read_cap > 0 && (!s->writes_first || s->sent == s->len))
            pfds[i].events |= POLLIN;
    }
    int ready = poll(pfds, (nfds_t)count, wait_ms);
    for (int i = 0; i < count; i++) {
        short ev = ready > 0 ? pfds[i].revents : 0;
        if ((pfds[i].events & POLLOUT) && !(ev & POLLOUT))
            ss[i]->full_waits++;
        if ((ev & (POLLOUT | POLLERR | POLLHUP)) && (pfds[i].events & POLLOUT))
            stream_send(ss[i]);
        if ((ev & (POLLIN | POLLERR | POLLHUP)) && (pfds[i].events & POLLIN))
            stream_recv(ss[i]);
    }
}

static size_t progress(streamer *const *ss, int count)
{
    size_t total = 0;
    for (int i = 0; i < count; i++)
        total += ss[i]->sent + ss[i]->got;
    return total;
}

/* Pumps until every streamer has received all it wants, one is closed, or
 * nothing has moved for STUCK_MS (or BULK_MS have passed). Returns the
 * milliseconds spent; *stuck tells whether it gave up for lack of progress. */
static int64_t pump_until_done(streamer *const *ss, int count, bool *stuck)
{
    int64_t start = xt_now_ms(), deadline = start + BULK_MS, last_move = start;
    size_t last = progress(ss, count);
    *stuck = false;
    for (;;) {
        bool done = true, closed = false;
        for (int i = 0; i < count; i++) {
            done = done && ss[i]->got == ss[i]->len;
            closed = closed || ss[i]->closed;
        }
        int64_t now = xt_now_ms();
        if (done || closed || now >= deadline)
            break;
        if (now - last_move >= STUCK_MS) {
            *stuck = true;
            break;
        }
        pump(ss, count, 50);
        size_t moved = progress(ss, count);
        if (moved != last) {
            last = moved;
            last_move = xt_now_ms();
        }
    }
    return xt_now_ms() - start;
}

/* Offset of the first byte where a and b differ, or len if none does. */
static size_t first_difference(const unsigned char *a, const unsigned char *b, size_t len)
{
    size_t i = 0;
    while (i < len && a[i] == b[i])
        i++;
    return i;
}

/* What happened to one direction of a stream, for an observed text. */
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
                 stuck ? "nothing moved for 3 s (a deadlock?)" : "the 15 s were up");
    return out;
}

static bool stream_intact(const streamer *s)
{
    return s->got == s->len && first_difference(s->want, s->in, s->len) == s->len;
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

static void *xmalloc(size_t len)
{
    void *p = malloc(len);
    if (!p)
        xt_fail("out of memory (%zu bytes)", len);
    return p;
}

/* ------------------------------------------------------------- checks */

/* The eXpServer tester's check: two clients, both connected before either
 * asks, each gets exactly what the upstream gives for its own path. */
static void two_clients_get_the_upstreams_replies_byte_for_byte(void **state)
{
    (void)state;
    xt_upstream_start(UPSTREAM_PORT, "http");
    char want1[REPLY_CAP], want2[REPLY_CAP];
    size_t len1 = fetch_direct("/test/1", want1, sizeof want1);
    size_t len2 = fetch_direct("/test/2", want2, sizeof want2);

    xt_proc_t *proxy = start_proxy();
    int a = xt_connect(PROXY_PORT);
    int b = xt_connect(PROXY_PORT);
    send_get(b, "/test/2"); /* the second client asks first */
    send_get(a, "/test/1");
    expect_same_reply(proxy, b, "client 2", "/test/2", want2, len2);
    expect_same_reply(proxy, a, "client 1", "/test/1", want1, len1);
    close(a);
    close(b);
}

/* 32 MiB each way through the echo upstream, with a client that first reads
 * nothing while it sends as fast as the proxy takes the bytes, until its own
 * socket is full (every buffer on the way is full, and the proxy's sends come
 * up short) and at least 300 ms have passed; then it reads 4 KiB at a time.
 * Every byte must come back, in order. */
static void relays_32_mib_each_way_to_a_slow_reader(void **state)
{
    (void)state;
    xt_upstream_start(UPSTREAM_PORT, "echo");
    xt_proc_t *proxy = start_proxy();
    unsigned char *out = xmalloc(SLOW_BYTES), *in = xmalloc(SLOW_BYTES);
    random_bytes(out, SLOW_BYTES);

    streamer c = {.fd = xt_connect(PROXY_PORT), .out = out, .want = out, .in = in,
                  .len = SLOW_BYTES};
    set_nonblocking(c.fd);
    int rcvbuf = SMALL_RCVBUF;
    setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    streamer *const ss[] = {&c};
    int64_t start = xt_now_ms(), stall_min = start + STALL_MS, stall_max = start + STALL_MAX_MS;
    for (int64_t now = start; now < stall_max && c.sent < c.len && !c.send_failed;
         now = xt_now_ms()) {
        if (now >= stall_min && c.full_waits > 0)
            break;
        pump(ss, 1, 20);
    }
    size_t sent_in_stall = c.sent;
    int64_t stalled = xt_now_ms() - start;
    c.read_cap = SMALL_READ;
    bool stuck = false;
    int64_t took = stalled + pump_until_done(ss, 1, &stuck);

    xt_note("slow reader: sent %zu bytes in %lld ms before reading any (found its socket "
            "full %zu times), %lld ms in all",
            sent_in_stall, (long long)stalled, c.full_waits, (long long)took);
    xt_expect(stream_intact(&c),
              "32 MiB of random bytes sent through the proxy to the echo upstream come back "
              "intact to a client that reads slowly",
              "%zu bytes sent; %s; the proxy %s", c.sent, stream_outcome(&c, stuck),
              proxy_state(proxy));
    close(c.fd);
    free(out);
    free(in);
}

/* The check plays the upstream itself: a server that writes its whole 8 MiB
 * answer before it reads anything (as one refusing an upload does), while the
 * client uploads 8 MiB at the same time and reads the answer slowly. Talking
 * directly, the two would finish. A proxy that blocks in send() towards the
 * upstream, while the upstream is blocked sending to the proxy, never does. */
static void relays_8_mib_each_way_when_both_ends_send_at_once(void **state)
{
    (void)state;
    xt_proc_t *proxy = start_proxy();
    unsigned char *up = xmalloc(BULK_BYTES), *down = xmalloc(BULK_BYTES);
    unsigned char *in_c = xmalloc(BULK_BYTES), *in_u = xmalloc(BULK_BYTES);
    random_bytes(up, BULK_BYTES);
    random_bytes(down, BULK_BYTES);

    /* Nothing may fail the check while the listener is open: a failed check
     * does not return, and the port would stay taken for the next checks. */
    int listener = listen_local(UPSTREAM_PORT);
    int client_fd = xt_try_connect(PROXY_PORT);
    ssize_t first = -1; /* a proxy may wait for the client's first byte to connect */
    if (client_fd >= 0) {
        set_nonblocking(client_fd);
        first = send(client_fd, up, SMALL_READ, MSG_NOSIGNAL);
    }
    struct pollfd lp = {.fd = listener, .events = POLLIN};
    int upstream_fd = client_fd >= 0 && poll(&lp, 1, REPLY_MS) == 1
                          ? accept(listener, NULL, NULL)
                          : -1;
    close(listener);
    xt_expect(client_fd >= 0, "a client can connect to the proxy on port 8080",
              "connect: %s (the proxy %s)", strerror(-client_fd), proxy_state(proxy));
    xt_expect(upstream_fd >= 0,
              "the proxy connects to the upstream 127.0.0.1:3000 for a new client",
              "no connection came within 3 s (the proxy %s)", proxy_state(proxy));
    set_nonblocking(upstream_fd);
    streamer c = {.fd = client_fd, .out = up, .want = down, .in = in_c, .len = BULK_BYTES,
                  .sent = first > 0 ? (size_t)first : 0};
    streamer u = {.fd = upstream_fd, .out = down, .want = up, .in = in_u, .len = BULK_BYTES,
                  .read_cap = BIG_READ, .writes_first = true};
    streamer *const ss[] = {&c, &u};
    int64_t stall_end = xt_now_ms() + STALL_MS;
    for (int64_t now = xt_now_ms(); now < stall_end; now = xt_now_ms())
        pump(ss, 2, (int)(stall_end - now));
    c.read_cap = SMALL_READ;
    bool stuck = false;
    int64_t took = STALL_MS + pump_until_done(ss, 2, &stuck);

    xt_note("both ends at once: %lld ms", (long long)took);
    xt_expect(stream_intact(&c) && stream_intact(&u),
              "with client and upstream both sending 8 MiB at once, each gets the other's "
              "bytes intact through the proxy",
              "client -> upstream: %s; upstream -> client: %s; the proxy %s",
              stream_outcome(&u, stuck), stream_outcome(&c, stuck), proxy_state(proxy));
    close(c.fd);
    close(u.fd);
    free(up);
    free(down);
    free(in_c);
    free(in_u);
}

/* Nothing listens on 3000: each client is closed, promptly and without a
 * byte, and the proxy serves clients again once the upstream is up. */
static void unreachable_upstream_closes_only_that_client(void **state)
{
    (void)state;
    xt_require_port_free(UPSTREAM_PORT); /* no upstream, on purpose */
    xt_proc_t *proxy = start_proxy();

    for (int i = 1; i <= 2; i++) {
        char buf[REPLY_CAP], expected[200];
        int fd = xt_try_connect(PROXY_PORT);
        snprintf(expected, sizeof expected, "client %d can connect to the proxy on port 8080", i);
        xt_expect(fd >= 0, expected, "connect: %s (the proxy %s)", strerror(-fd),
                  proxy_state(proxy));
        send_get(fd, "/test/1"); /* a proxy that connects on the first byte must try now */
        ssize_t n = xt_recv_deadline(fd, buf, sizeof buf, CLOSE_MS);
        snprintf(expected, sizeof expected,
                 "with nothing listening on port 3000, client %d is closed by the proxy (EOF "
                 "or reset) within 3 s, without a byte",
                 i);
        xt_expect(n == 0 || n == XT_ERROR, expected, "%s (the proxy %s)",
                  n == XT_TIMEOUT ? "the connection was still open after 3 s"
                  : n > 0         ? xt_quote(buf, (size_t)n)
                                  : "closed",
                  proxy_state(proxy));
        close(fd);
        expect_proxy_alive(proxy, "failing to reach the upstream");
    }

    xt_upstream_start(UPSTREAM_PORT, "http");
    char want[REPLY_CAP];
    size_t len = fetch_direct("/test/1", want, sizeof want);
    int fd = xt_connect(PROXY_PORT);
    send_get(fd, "/test/1");
    expect_same_reply(proxy, fd, "a client arriving once the upstream is up", "/test/1", want,
                      len);
    close(fd);
}

/* The echo upstream is killed (SIGKILL) while a client streams through it:
 * that client is closed within 3 s, the proxy keeps running, and once the
 * upstream is back a new client is relayed again. */
static void upstream_killed_mid_transfer_closes_the_client(void **state)
{
    (void)state;
    xt_proc_t *upstream = xt_upstream_start(UPSTREAM_PORT, "echo");
    xt_proc_t *proxy = start_proxy();

    unsigned char *out = xmalloc(STREAM_BYTES), *in = xmalloc(STREAM_BYTES);
    random_bytes(out, STREAM_BYTES);
    streamer s = {.fd = xt_connect(PROXY_PORT), .out = out, .want = out, .in = in,
                  .len = STREAM_BYTES, .read_cap = SMALL_READ};
    set_nonblocking(s.fd);
    streamer *const ss[] = {&s};

    int64_t deadline = xt_now_ms() + REPLY_MS;
    for (int64_t now = xt_now_ms(); s.got < KILL_AFTER && !s.closed && now < deadline;
         now = xt_now_ms())
        pump(ss, 1, (int)(deadline - now));
    xt_expect(s.got >= KILL_AFTER && first_difference(out, in, s.got) == s.got,
              "the first 256 KiB a client streams through the proxy come back from the echo "
              "upstream",
              "%s", stream_outcome(&s, false));

    xt_stop(upstream, SIGKILL, 2000);
    int64_t killed = xt_now_ms();
    deadline = killed + CLOSE_MS;
    for (int64_t now = killed; !s.closed && now < deadline; now = xt_now_ms())
        pump(ss, 1, (int)(deadline - now));
    xt_expect(s.closed,
              "the streaming client is closed (EOF or reset) within 3 s of the upstream being "
              "killed",
              "%s after %lld ms; %zu bytes had come back (the proxy %s)",
              s.closed ? "closed" : "still open", (long long)(xt_now_ms() - killed), s.got,
              proxy_state(proxy));
    close(s.fd);
    free(out);
    free(in);
    expect_proxy_alive(proxy, "its upstream was killed mid-transfer");

    xt_upstream_start(UPSTREAM_PORT, "echo");
    int fd = xt_connect(PROXY_PORT);
    char line[64], got[64];
    size_t len = 40;
    xt_random_text(line, len);
    xt_send_all(fd, line, len);
    int why = 0;
    size_t n = xt_recv_exact(fd, got, len, REPLY_MS, &why);
    char expected[200];
    snprintf(expected, sizeof expected,
             "after the upstream restarts, a new client's \"%s\" comes back through the proxy",
             xt_quote(line, len));
    xt_expect(n == len && memcmp(got, line, len) == 0, expected, "\"%s\"%s (the proxy %s)",
              xt_quote(got, n),
              why == XT_TIMEOUT ? ", then nothing for 3 s" : why ? ", then an error" : "",
              proxy_state(proxy));
    close(fd);
}

/* GET /abort makes the upstream send 1000 of 1000000 announced body bytes
 * and reset its connection. The client that asked gets a start of that reply
 * and then a closed connection; a client connected alongside it is served
 * normally afterwards. */
static void upstream_reset_closes_only_that_client(void **state)
{
    (void)state;
    xt_upstream_start(UPSTREAM_PORT, "http");
    char want_abort[REPLY_CAP], want2[REPLY_CAP];
    size_t abort_len = fetch_direct("/abort", want_abort, sizeof want_abort);
    size_t len2 = fetch_direct("/test/2", want2, sizeof want2);
    xt_proc_t *proxy = start_proxy();

    int a = xt_connect(PROXY_PORT);
    int b = xt_connect(PROXY_PORT);
    send_get(a, "/abort");
    char got[REPLY_CAP];
    bool closed = false;
    size_t n = xt_recv_until_eof(a, got, sizeof got, CLOSE_MS, &closed);
    static const char status_line[] = "HTTP/1.1 200 OK\r\n";
    bool starts_right = n >= sizeof status_line - 1 && n <= abort_len &&
                        memcmp(got, want_abort, n) == 0;
    xt_expect(closed && starts_right,
              "the client asking GET /abort gets the start of the upstream's reply, then its "
              "connection closed within 3 s when the upstream resets",
              "%zu bytes (%s...), %s (the proxy %s)", n, xt_quote(got, n < 40 ? n : 40),
              closed ? "then closed" : "and the connection still open after 3 s",
              proxy_state(proxy));
    close(a);
    expect_proxy_alive(proxy, "an upstream connection was reset");

    send_get(b, "/test/2");
    expect_same_reply(proxy, b, "a client connected alongside it", "/test/2", want2, len2);
    close(b);
}

int main(void)
{
    const struct CMUnitTest checks[] = {
        XT_CHECK(two_clients_get_the_upstreams_replies_byte_for_byte),
        XT_CHECK(relays_32_mib_each_way_to_a_slow_reader),
        XT_CHECK(relays_8_mib_each_way_when_both_ends_send_at_once),
        XT_CHECK(unreachable_upstream_closes_only_that_client),
        XT_CHECK(upstream_killed_mid_transfer_closes_the_client),
        XT_CHECK(upstream_reset_closes_only_that_client),
    };
    return xt_run_checks("stage 04 (tcp-proxy)", checks);
}
