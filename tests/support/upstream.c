/*
 * tests/support/upstream.c — the dummy upstream (see upstream.h).
 *
 * One poll() loop over non-blocking sockets. Each client has an input buffer
 * (the HTTP head being read) and an output buffer (the reply, or the echo
 * not yet sent). The bodies of /slow/N and /big/N are appended to the output
 * buffer as they fall due (produce(), before each poll(); poll()'s timeout is
 * the next /slow line's time), never by sleeping. Kept deliberately plain: it is test equipment, and a reader
 * should be able to trust it at a glance.
 */
#define _GNU_SOURCE
#include "tests/support/upstream.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum {
    HEAD_LIMIT = 64 * 1024,      /* a longer HTTP head is refused */
    ECHO_BACKLOG = 1024 * 1024,  /* stop reading a client with this much unsent echo */
    ABORT_SENT = 1000,           /* body bytes /abort sends before its reset */
    CHUNKED_MAX = 10000,         /* /chunked/N: largest N served */
    SLOW_MAX = 1000,             /* /slow/N: largest N served */
    SLOW_GAP_MS = 50,            /* /slow/N: time between two lines */
    BIG_MAX_MIB = 4096,          /* /big/N: largest N (MiB) served */
    BIG_PENDING = 1024 * 1024,   /* /big/N: generate only while less than this is unsent */
    BIG_STEP = 64 * 1024,        /* /big/N: bytes generated at a time */
};

/* A reply whose body is produced while it is sent (/slow/N, /big/N). */
typedef enum { STREAM_NONE, STREAM_SLOW, STREAM_BIG } stream_kind;

typedef struct {
    int fd;
    char *in;            /* HTTP head received so far */
    size_t in_len;
    char *out;           /* bytes to send; [out_off, out_len) still pending */
    size_t out_len, out_off, out_cap;
    bool answered;       /* HTTP: the reply is in `out`; read no more */
    bool reset_after;    /* HTTP /abort: RST instead of a clean close */
    bool peer_done;      /* the client closed its side */
    stream_kind stream;  /* body still being produced, or STREAM_NONE */
    unsigned long lines_total, lines_sent; /* /slow/N: N, and lines appended so far */
    long long next_send_ms; /* /slow/N: monotonic time the next line is due */
    unsigned long long big_total, big_made; /* /big/N: body bytes, and bytes generated */
} client;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool stream_unfinished(const client *c)
{
    return (c->stream == STREAM_SLOW && c->lines_sent < c->lines_total) ||
           (c->stream == STREAM_BIG && c->big_made < c->big_total);
}

static void out_append(client *c, const void *data, size_t len)
{
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->out_len + len > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + len)
            cap *= 2;
        c->out = realloc(c->out, cap);
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
}

static void reply_head(client *c, const char *status, const char *type, size_t announced_len)
{
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %s\r\nServer: test-upstream\r\nContent-Type: %s\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                     status, type, announced_len);
    out_append(c, head, (size_t)n);
    c->answered = true;
}

/* /chunked/N: "chunk i of N\n" for i = 1..N, each its own chunk, then the
 * zero-size last chunk and no trailers. */
static void reply_chunked(client *c, unsigned long n)
{
    const char *head = "HTTP/1.1 200 OK\r\nServer: test-upstream\r\nContent-Type: text/plain\r\n"
                       "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    out_append(c, head, strlen(head));
    for (unsigned long i = 1; i <= n; i++) {
        char data[64], chunk[96];
        int dl = snprintf(data, sizeof data, "chunk %lu of %lu\n", i, n);
        int cl = snprintf(chunk, sizeof chunk, "%x\r\n%s\r\n", (unsigned)dl, data);
        out_append(c, chunk, (size_t)cl);
    }
    out_append(c, "0\r\n\r\n", 5);
    c->answered = true;
}

/* One line of /slow/N: "line i of N\n". Returns its length. */
static int slow_line(char *buf, size_t cap, unsigned long i, unsigned long n)
{
    return snprintf(buf, cap, "line %lu of %lu\n", i, n);
}

/* /slow/N: the head now, the N lines one per SLOW_GAP_MS (see produce()). */
static void reply_slow(client *c, unsigned long n)
{
    char line[64];
    size_t total = 0;
    for (unsigned long i = 1; i <= n; i++)
        total += (size_t)slow_line(line, sizeof line, i, n);
    reply_head(c, "200 OK", "text/plain", total);
    c->stream = STREAM_SLOW;
    c->lines_total = n;
    c->next_send_ms = now_ms();
}

/* /big/N: the head now, N MiB of the pattern in upstream.h as the peer takes it. */
static void reply_big(client *c, unsigned long mib)
{
    reply_head(c, "200 OK", "application/octet-stream", (size_t)mib * 1024 * 1024);
    c->stream = STREAM_BIG;
    c->big_total = (unsigned long long)mib * 1024 * 1024;
}

/* Appends the part of a streamed body that is due: the next /slow line once
 * its time has come; /big bytes while less than BIG_PENDING is unsent (so a
 * slow reader pushes back instead of growing memory). */
static void produce(client *c, long long now)
{
    if (c->stream == STREAM_SLOW) {
        while (c->lines_sent < c->lines_total && now >= c->next_send_ms) {
            char line[64];
            int len = slow_line(line, sizeof line, ++c->lines_sent, c->lines_total);
            out_append(c, line, (size_t)len);
            c->next_send_ms += SLOW_GAP_MS;
        }
    } else if (c->stream == STREAM_BIG) {
        if (c->out_len - c->out_off > BIG_PENDING / 2)
            return;
        if (c->out_off > 0) { /* slide the unsent bytes to the front */
            memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
            c->out_len -= c->out_off;
            c->out_off = 0;
        }
        unsigned char block[BIG_STEP];
        while (c->big_made < c->big_total && c->out_len - c->out_off < BIG_PENDING) {
            size_t len = c->big_total - c->big_made < BIG_STEP
                             ? (size_t)(c->big_total - c->big_made) : BIG_STEP;
            for (size_t k = 0; k < len; k++) {
                unsigned long long i = c->big_made + k;
                block[k] = XT_UPSTREAM_BIG_BYTE(i);
            }
            out_append(c, block, len);
            c->big_made += len;
        }
    }
}

static void reply(client *c, const char *status, const char *type, const char *body,
                  size_t announced_len)
{
    reply_head(c, status, type, announced_len);
    out_append(c, body, strlen(body));
}

/* Answers the request whose head is complete in c->in. */
static void answer(client *c)
{
    char method[16], path[1024];
    unsigned long n;
    char tail;
    if (sscanf(c->in, "%15s %1023s", method, path) != 2) {
        const char *b = "bad request\n";
        reply(c, "400 Bad Request", "text/plain", b, strlen(b));
    } else if (strcmp(path, "/") == 0) {
        const char *b = "<!doctype html>\n<html><head><title>test-upstream</title></head><body>\n"
                        "<h1>test-upstream</h1>\n<ul>\n<li><a href=\"/test/1\">/test/1</a></li>\n"
                        "<li><a href=\"/test/2\">/test/2</a></li>\n"
                        "<li><a href=\"/test/3\">/test/3</a></li>\n</ul>\n</body></html>\n";
        reply(c, "200 OK", "text/html", b, strlen(b));
    } else if (sscanf(path, "/test/%lu%c", &n, &tail) == 1) {
        char b[96];
        snprintf(b, sizeof b, "test %lu: served by test-upstream\n", n);
        reply(c, "200 OK", "text/plain", b, strlen(b));
    } else if (strncmp(path, "/echo-request", 13) == 0 && (path[13] == '\0' || path[13] == '?')) {
        /* The head exactly as received, blank line included: what a proxy
         * in front of us forwarded (checks of stage 12 on read it). */
        char *end = strstr(c->in, "\r\n\r\n");
        size_t len = (size_t)(end + 4 - c->in);
        char saved = c->in[len];
        c->in[len] = '\0';
        reply(c, "200 OK", "text/plain", c->in, len);
        c->in[len] = saved;
    } else if (sscanf(path, "/chunked/%lu%c", &n, &tail) == 1 && n <= CHUNKED_MAX) {
        reply_chunked(c, n);
    } else if (sscanf(path, "/slow/%lu%c", &n, &tail) == 1 && n <= SLOW_MAX) {
        reply_slow(c, n);
    } else if (sscanf(path, "/big/%lu%c", &n, &tail) == 1 && n <= BIG_MAX_MIB) {
        reply_big(c, n);
    } else if (strcmp(path, "/abort") == 0) {
        char b[ABORT_SENT + 1];
        memset(b, 'a', ABORT_SENT);
        b[ABORT_SENT] = '\0';
        reply(c, "200 OK", "text/plain", b, 1000000);
        c->reset_after = true;
    } else {
        char b[1100];
        snprintf(b, sizeof b, "not found: %s\n", path);
        reply(c, "404 Not Found", "text/plain", b, strlen(b));
    }
}

/* Reads what is available. Returns false when the client is finished with. */
static bool on_readable(client *c, xt_upstream_mode_t mode)
{
    char buf[65536];
    ssize_t n = recv(c->fd, buf, sizeof buf, 0);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR;
    if (n == 0) {
        c->peer_done = true;
        /* flush what is owed, then close */
        return c->out_off < c->out_len || stream_unfinished(c);
    }
    if (mode == XT_UPSTREAM_ECHO) {
        out_append(c, buf, (size_t)n);
        return true;
    }
    if (c->in_len + (size_t)n > HEAD_LIMIT) {
        const char *b = "request head too large\n";
        reply(c, "431 Request Header Fields Too Large", "text/plain", b, strlen(b));
        return true;
    }
    c->in = realloc(c->in, c->in_len + (size_t)n + 1);
    memcpy(c->in + c->in_len, buf, (size_t)n);
    c->in_len += (size_t)n;
    c->in[c->in_len] = '\0';
    if (strstr(c->in, "\r\n\r\n"))
        answer(c);
    return true;
}

/* Sends what is pending. Returns false when the client is finished with. */
static bool on_writable(client *c, xt_upstream_mode_t mode)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN || errno == EINTR;
        c->out_off += (size_t)n;
    }
    if (c->reset_after) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    if (stream_unfinished(c))
        return true; /* more of a /slow or /big body is still to come */
    /* HTTP closes after its one reply; echo closes once the client has. */
    return mode == XT_UPSTREAM_ECHO && !c->peer_done;
}

static void drop(client *c)
{
    close(c->fd);
    free(c->in);
    free(c->out);
}

static int listen_on(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 512) != 0) {
        fprintf(stderr, "test-upstream: cannot listen on 127.0.0.1:%u: %s\n", port,
                strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

int xt_upstream_serve(uint16_t port, xt_upstream_mode_t mode)
{
    signal(SIGPIPE, SIG_IGN);
    int lfd = listen_on(port);
    if (lfd < 0)
        return -1;
    fprintf(stderr, "test-upstream: %s mode on 127.0.0.1:%u\n",
            mode == XT_UPSTREAM_ECHO ? "echo" : "http", port);

    client *clients = NULL;
    struct pollfd *pfds = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (cap < n + 1) {
            cap = cap ? cap * 2 : 64;
            clients = realloc(clients, cap * sizeof *clients);
            pfds = realloc(pfds, cap * sizeof *pfds);
        }
        pfds[0] = (struct pollfd){.fd = lfd, .events = POLLIN};
        long long now = now_ms();
        int timeout = -1; /* until the next /slow line is due, if any */
        for (size_t i = 0; i < n; i++) {
            client *c = &clients[i];
            produce(c, now);
            if (c->stream == STREAM_SLOW && c->lines_sent < c->lines_total) {
                long long wait = c->next_send_ms - now;
                if (timeout < 0 || wait < timeout)
                    timeout = wait < 0 ? 0 : (int)wait;
            }
            bool pending = c->out_off < c->out_len;
            bool want_read = !c->peer_done && (mode == XT_UPSTREAM_ECHO
                                                   ? c->out_len - c->out_off < ECHO_BACKLOG
                                                   : !c->answered);
            pfds[i + 1] = (struct pollfd){
                .fd = c->fd, .events = (short)((want_read ? POLLIN : 0) | (pending ? POLLOUT : 0))};
        }
        if (poll(pfds, n + 1, timeout) < 0 && errno != EINTR)
            return -1;

        size_t kept = 0;
        for (size_t i = 0; i < n; i++) {
            client *c = &clients[i];
            short ev = pfds[i + 1].revents;
            bool alive = true;
            if (ev & (POLLIN | POLLHUP | POLLERR))
                alive = on_readable(c, mode);
            if (alive && c->out_off < c->out_len && (ev & (POLLOUT | POLLERR | POLLHUP)))
                alive = on_writable(c, mode);
            if (alive)
                clients[kept++] = *c;
            else
                drop(c);
        }
        n = kept;

        if (pfds[0].revents & POLLIN) {
            for (;;) {
                int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0)
                    break;
                if (n + 1 >= cap) {
                    cap *= 2;
                    clients = realloc(clients, cap * sizeof *clients);
                    pfds = realloc(pfds, cap * sizeof *pfds);
                }
                clients[n++] = (client){.fd = fd};
            }
        }
    }
}
