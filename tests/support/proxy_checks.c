/*
 * tests/support/proxy_checks.c — what the checks of the proxying stages
 * share (see proxy_checks.h).
 */
#include "tests/support/proxy_checks.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/support/checks.h"

enum {
    REPLY_MS = 3000,  /* for one reply */
    BULK_MS = 15000,  /* for a whole stream (well under 1 s on a laptop) */
    STUCK_MS = 3000,  /* no byte moved for this long: give up (deadlock) */
    SINK = 4096,      /* room for bytes beyond what a streamer wants */
};

/* -------------------------------------------------------- HTTP replies */

void xt_send_get(int fd, const char *path)
{
    char req[256];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
    xt_send_all(fd, req, (size_t)n); /* a failure shows up as a missing reply */
}

void xt_fetch_direct(uint16_t upstream_port, const char *path, xt_reply_t *reply)
{
    int fd = xt_connect(upstream_port);
    xt_send_get(fd, path);
    bool eof = false;
    reply->path = path;
    reply->len = xt_recv_until_eof(fd, reply->bytes, sizeof reply->bytes, REPLY_MS, &eof);
    close(fd);
    if (reply->len == 0)
        xt_fail("the test upstream gave no reply to GET %s (a harness problem)", path);
}

void xt_expect_same_reply(xt_proc_t *server, const char *name, int fd, const char *who,
                          const xt_reply_t *reply)
{
    char got[sizeof reply->bytes], expected[300], cut[120];
    int why = 0;
    size_t n = xt_recv_exact(fd, got, reply->len, REPLY_MS, &why);
    snprintf(expected, sizeof expected,
             "%s gets the upstream's reply to GET %s byte for byte (%zu bytes)", who,
             reply->path, reply->len);
    snprintf(cut, sizeof cut, "cut by %s closing the connection", name);
    const char *how = n == reply->len ? "differs"
                      : why == XT_TIMEOUT ? "incomplete after 3 s"
                      : why == XT_ERROR ? "cut by a connection error"
                                        : cut;
    xt_expect(n == reply->len && memcmp(got, reply->bytes, n) == 0, expected,
              "%zu bytes, %s: \"%s\" (%s %s)", n, how, xt_quote(got, n), name,
              xt_server_state(server));
}

void xt_check_two_clients_get_the_upstreams_replies(xt_proc_t *server, const char *name,
                                                     uint16_t proxy_port,
                                                     uint16_t upstream_port)
{
    xt_reply_t want1, want2;
    xt_fetch_direct(upstream_port, "/test/1", &want1);
    xt_fetch_direct(upstream_port, "/test/2", &want2);
    int a = xt_connect(proxy_port);
    int b = xt_connect(proxy_port);
    xt_send_get(b, "/test/2"); /* the second client asks first */
    xt_send_get(a, "/test/1");
    char who[64];
    snprintf(who, sizeof who, "client 2 of port %u", (unsigned)proxy_port);
    xt_expect_same_reply(server, name, b, who, &want2);
    snprintf(who, sizeof who, "client 1 of port %u", (unsigned)proxy_port);
    xt_expect_same_reply(server, name, a, who, &want1);
    close(a);
    close(b);
}

int xt_listen_local(uint16_t port)
{
    xt_require_port_free(port);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int on = 1; /* SO_REUSEADDR: the previous check's connections may be in TIME_WAIT */
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0)
        xt_fail("cannot listen on 127.0.0.1:%u to play the upstream: %s", (unsigned)port,
                strerror(errno));
    return fd;
}

xt_relay_t xt_relay_open(xt_proc_t *server, const char *name, uint16_t proxy_port,
                         uint16_t upstream_port, const void *first, size_t first_len)
{
    /* Nothing may fail the check while the listener is open: a failed check
     * does not return, and the port would stay taken for the next checks. */
    int listener = xt_listen_local(upstream_port);
    xt_relay_t r = {.client = xt_try_connect(proxy_port), .upstream = -1};
    if (r.client >= 0 && first_len > 0) {
        xt_set_nonblocking(r.client); /* send what fits, without waiting */
        ssize_t n = send(r.client, first, first_len, MSG_NOSIGNAL);
        r.first_sent = n > 0 ? (size_t)n : 0;
    }
    struct pollfd lp = {.fd = listener, .events = POLLIN};
    if (r.client >= 0 && poll(&lp, 1, REPLY_MS) == 1)
        r.upstream = accept(listener, NULL, NULL);
    close(listener);
    char expected[200];
    snprintf(expected, sizeof expected, "a client can connect to port %u", (unsigned)proxy_port);
    xt_expect(r.client >= 0, expected, "connect: %s (%s %s)", strerror(-r.client), name,
              xt_server_state(server));
    snprintf(expected, sizeof expected,
             "for a new client of port %u, %s connects to the upstream 127.0.0.1:%u",
             (unsigned)proxy_port, name, (unsigned)upstream_port);
    xt_expect(r.upstream >= 0, expected, "no connection came within 3 s (%s %s)", name,
              xt_server_state(server));
    xt_set_nonblocking(r.client);
    xt_set_nonblocking(r.upstream);
    return r;
}

/* ------------------------------------------------------------ streams */

static void stream_send(xt_streamer_t *s)
{
    ssize_t n = send(s->fd, s->out + s->sent, s->len - s->sent, MSG_NOSIGNAL);
    if (n > 0)
        s->sent += (size_t)n;
    else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        s->full_waits++;
    else if (n < 0 && errno != EINTR)
        s->send_failed = true;
}

static void stream_recv(xt_streamer_t *s)
{
    unsigned char sink[SINK];
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

void xt_pump(xt_streamer_t *const *ss, int count, int wait_ms)
{
    struct pollfd pfds[XT_PUMP_MAX];
    if (count > XT_PUMP_MAX)
        xt_fail("xt_pump: %d streamers, at most %d", count, XT_PUMP_MAX);
    for (int i = 0; i < count; i++) {
        const xt_streamer_t *s = ss[i];
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

static size_t progress(xt_streamer_t *const *ss, int count)
{
    size_t total = 0;
    for (int i = 0; i < count; i++)
        total += ss[i]->sent + ss[i]->got;
    return total;
}

int64_t xt_pump_until_done(xt_streamer_t *const *ss, int count, bool *stuck)
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
        xt_pump(ss, count, 50);
        size_t moved = progress(ss, count);
        if (moved != last) {
            last = moved;
            last_move = xt_now_ms();
        }
    }
    return xt_now_ms() - start;
}

bool xt_stream_intact(const xt_streamer_t *s)
{
    return s->got == s->len && xt_first_difference(s->want, s->in, s->len) == s->len;
}

const char *xt_stream_outcome(const xt_streamer_t *s, bool stuck)
{
    static char rings[2][200];
    static int next;
    char *out = rings[next++ % 2];
    size_t same = xt_first_difference(s->want, s->in, s->got);
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
