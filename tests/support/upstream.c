/*
 * tests/support/upstream.c — the dummy upstream (see upstream.h).
 *
 * One poll() loop over non-blocking sockets. Each client has an input buffer
 * (the HTTP head being read) and an output buffer (the reply, or the echo
 * not yet sent). The bodies of /slow/N and /big/N are appended to the output
 * buffer as they fall due (produce(), before each poll(); poll()'s timeout is
 * the next /slow line's time), never by sleeping. Strict mode keeps its own
 * per-connection parser state (struct strict, further down): the bytes of
 * the request being parsed, how far it got, the decoded body. Kept
 * deliberately plain: it is test equipment, and a reader should be able to
 * trust it at a glance.
 */
#define _GNU_SOURCE
#include "tests/support/upstream.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

enum {
    HEAD_LIMIT = 64 * 1024,      /* a longer HTTP head is refused */
    ECHO_BACKLOG = 1024 * 1024,  /* stop reading a client with this much unsent echo */
    ABORT_SENT = 1000,           /* body bytes /abort sends before its reset */
    CHUNKED_MAX = 10000,         /* /chunked/N: largest N served */
    SLOW_MAX = 1000,             /* /slow/N: largest N served */
    SLOW_GAP_MS = 50,            /* /slow/N: time between two lines */
    CACHE_DELAY_MS = 300,        /* /cache/...?delay: the body this long after the head */
    BIG_MAX_MIB = 4096,          /* /big/N: largest N (MiB) served */
    BIG_PENDING = 1024 * 1024,   /* /big/N: generate only while less than this is unsent */
    BIG_STEP = 64 * 1024,        /* /big/N: bytes generated at a time */
    STRICT_BODY_LIMIT = 16 * 1024 * 1024, /* strict: a longer request body is refused */
    CHUNK_LINE_MAX = 64,         /* strict: a chunk-size line longer than this is refused */
};

struct strict;

/* A reply whose body is produced while it is sent (/slow/N, /big/N). */
typedef enum { STREAM_NONE, STREAM_SLOW, STREAM_BIG, STREAM_HELD } stream_kind;

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
    char *held;          /* /cache/...?delay: the body, sent at next_send_ms */
    size_t held_len;
    struct strict *strict; /* strict mode: the parser's state; NULL in the other modes */
    SSL *ssl;            /* xt_upstream_use_tls: the connection's TLS; NULL: plain */
    bool tls_ready;      /* ... its handshake is over */
    bool tls_wants_write; /* ... and is waiting to write */
} client;

/* xt_upstream_use_tls: every connection speaks TLS with this context. */
static SSL_CTX *tls_ctx;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool stream_unfinished(const client *c)
{
    return (c->stream == STREAM_SLOW && c->lines_sent < c->lines_total) ||
           (c->stream == STREAM_BIG && c->big_made < c->big_total) ||
           (c->stream == STREAM_HELD && c->held);
}

/* Appends len bytes to the buffer *data holding *len of *cap, doubling
 * its capacity as needed. */
static void append(char **data, size_t *len, size_t *cap, const void *add, size_t add_len)
{
    if (add_len == 0) /* add may be NULL then, which memcpy() does not allow */
        return;
    if (*len + add_len > *cap) {
        size_t grown = *cap ? *cap : 4096;
        while (grown < *len + add_len)
            grown *= 2;
        *data = realloc(*data, grown);
        *cap = grown;
    }
    memcpy(*data + *len, add, add_len);
    *len += add_len;
}

static void out_append(client *c, const void *data, size_t len)
{
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    append(&c->out, &c->out_len, &c->out_cap, data, len);
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
    if (c->stream == STREAM_HELD && c->held && now >= c->next_send_ms) {
        out_append(c, c->held, c->held_len);
        free(c->held);
        c->held = NULL;
    } else if (c->stream == STREAM_SLOW) {
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

/* CRC-32 of RFC 1952 (the gzip trailer's), bit by bit: short bodies only. */
static uint32_t crc32_of(const unsigned char *p, size_t len)
{
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return crc ^ 0xffffffffu;
}

/* The text of /encoded and /tagged: XT_UPSTREAM_TEXT_LINES lines. */
static size_t text_body(char *buf, size_t cap)
{
    size_t n = 0;
    for (int i = 1; i <= XT_UPSTREAM_TEXT_LINES && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, XT_UPSTREAM_TEXT_LINE, i);
    return n < cap ? n : cap;
}

/* /encoded: that text as one gzip member of one stored deflate block
 * (RFC 1952 around RFC 1951 §3.2.4), with Content-Encoding: gzip; /tagged:
 * the text as it is. Both with the strong ETag "upstream-text". */
static void reply_text(client *c, bool encoded)
{
    static char text[XT_UPSTREAM_TEXT_LINES * 64];
    size_t len = text_body(text, sizeof text);
    unsigned char body[sizeof text + 64];
    size_t n = 0;
    if (encoded) {
        static const unsigned char header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
        memcpy(body, header, sizeof header);
        n = sizeof header;
        body[n++] = 1; /* BFINAL, BTYPE 00: stored */
        body[n++] = (unsigned char)(len & 0xff), body[n++] = (unsigned char)(len >> 8);
        body[n++] = (unsigned char)(~len & 0xff), body[n++] = (unsigned char)((~len >> 8) & 0xff);
        memcpy(body + n, text, len);
        n += len;
        uint32_t crc = crc32_of((const unsigned char *)text, len);
        for (int k = 0; k < 4; k++)
            body[n++] = (unsigned char)(crc >> (8 * k));
        for (int k = 0; k < 4; k++)
            body[n++] = (unsigned char)(len >> (8 * k));
    } else {
        memcpy(body, text, len);
        n = len;
    }
    char head[320];
    int h = snprintf(head, sizeof head,
                     "HTTP/1.1 200 OK\r\nServer: test-upstream\r\nContent-Type: text/plain\r\n"
                     "ETag: \"upstream-text\"\r\n%sContent-Length: %zu\r\nConnection: close\r\n\r\n",
                     encoded ? "Content-Encoding: gzip\r\n" : "", n);
    out_append(c, head, (size_t)h);
    out_append(c, body, n);
    c->answered = true;
}
static uint16_t serving_port; /* the port xt_upstream_serve listens on: /whoami */
static unsigned long cache_requests; /* /cache/... requests answered: /cache-count */

/* The value of request header `name` in the head c->in ("" when absent). */
static void request_field(const client *c, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    out[0] = '\0';
    for (const char *line = strstr(c->in, "\r\n"); line && line[2] != '\r'; line = strstr(line + 2, "\r\n")) {
        if (strncasecmp(line + 2, name, n) == 0 && line[2 + n] == ':') {
            const char *v = line + 3 + n, *end = strstr(v, "\r\n");
            while (*v == ' ')
                v++;
            size_t len = (size_t)(end - v) < cap - 1 ? (size_t)(end - v) : cap - 1;
            memcpy(out, v, len);
            out[len] = '\0';
            return;
        }
    }
}

/* GET /cache/<cache-control>/<tag>[?options]: a response for a cache's
 * checks (see upstream.h). */
static void reply_cache(client *c, const char *path)
{
    char cc[256], ae[128], head[1024], date[64];
    const char *rest = path + 7; /* after "/cache/" */
    const char *slash = strchr(rest, '/');
    size_t cc_len = slash ? (size_t)(slash - rest) : strlen(rest);
    snprintf(cc, sizeof cc, "%.*s", (int)(cc_len < 255 ? cc_len : 255), rest);
    const char *query = strchr(path, '?');
    query = query ? query + 1 : "";
    bool cookie = strstr(query, "cookie") != NULL, vary = strstr(query, "vary") != NULL;
    bool delay = strstr(query, "delay") != NULL, abort_ = strstr(query, "abort") != NULL;
    bool etag = strstr(query, "etag") != NULL;
    const char *kib_at = strstr(query, "kib=");
    unsigned long kib = kib_at ? strtoul(kib_at + 4, NULL, 10) : 0;
    if (kib > 1024)
        kib = 1024;
    request_field(c, "Accept-Encoding", ae, sizeof ae);
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cache_requests++;
    char inm[128];
    request_field(c, "If-None-Match", inm, sizeof inm);
    if (etag && strcmp(inm, "\"v1\"") == 0) { /* still good: 304, no body */
        int n = snprintf(head, sizeof head,
                         "HTTP/1.1 304 Not Modified\r\nServer: test-upstream\r\nDate: %s\r\n"
                         "ETag: \"v1\"\r\nCache-Control: %s\r\nX-Refreshed: %lu\r\n"
                         "Connection: close\r\n\r\n", date, cc, cache_requests);
        out_append(c, head, (size_t)n);
        c->answered = true;
        return;
    }
    char line[1400];
    int line_len = snprintf(line, sizeof line, "response %lu for %s accept-encoding=%s\n",
                            cache_requests, path, ae[0] ? ae : "-");
    size_t body_len = (size_t)line_len > kib * 1024 ? (size_t)line_len : kib * 1024;
    char *body = malloc(body_len);
    if (!body)
        abort();
    memset(body, '.', body_len);
    memcpy(body, line, (size_t)line_len);
    if (body_len > (size_t)line_len)
        body[body_len - 1] = '\n';
    bool has_cc = strcmp(cc, "none") != 0;
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 200 OK\r\nServer: test-upstream\r\nDate: %s\r\n"
                     "Content-Type: text/plain\r\nContent-Length: %zu\r\n%s%s%s%s%s%s"
                     "Connection: close\r\n\r\n",
                     date, abort_ ? body_len * 100 : body_len, has_cc ? "Cache-Control: " : "",
                     has_cc ? cc : "", has_cc ? "\r\n" : "",
                     cookie ? "Set-Cookie: session=secret\r\n" : "",
                     vary ? "Vary: Accept-Encoding\r\n" : "", etag ? "ETag: \"v1\"\r\n" : "");
    out_append(c, head, (size_t)n);
    c->answered = true;
    if (abort_)
        c->reset_after = true;
    if (delay) { /* the body 300 ms after the head */
        c->stream = STREAM_HELD;
        c->held = body, c->held_len = body_len;
        c->next_send_ms = now_ms() + CACHE_DELAY_MS;
        return;
    }
    out_append(c, body, body_len);
    free(body);
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
    } else if (strcmp(path, "/encoded") == 0 || strcmp(path, "/tagged") == 0) {
        reply_text(c, path[1] == 'e');
    } else if (strncmp(path, "/cache/", 7) == 0) {
        reply_cache(c, path);
    } else if (strcmp(path, "/cache-count") == 0) {
        char b[48];
        snprintf(b, sizeof b, "count %lu\n", cache_requests);
        reply(c, "200 OK", "text/plain", b, strlen(b));
    } else if (strcmp(path, "/whoami") == 0) {
        /* Which of several upstreams answered (a balancer's checks). */
        char b[32];
        snprintf(b, sizeof b, "port %u\n", (unsigned)serving_port);
        reply(c, "200 OK", "text/plain", b, strlen(b));
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

/* ------------------------------------------------------------ strict mode */

/* A growable run of bytes. */
typedef struct {
    char *data;
    size_t len, cap;
} bytes;

static void bytes_add(bytes *b, const void *data, size_t len)
{
    append(&b->data, &b->len, &b->cap, data, len);
}

/* Where the parser of a strict-mode connection is. */
typedef enum {
    AT_HEAD,       /* waiting for the blank line that ends the head */
    AT_BODY,       /* Content-Length: `need` body bytes still to come */
    AT_CHUNK_SIZE, /* chunked: waiting for a chunk-size line */
    AT_CHUNK_DATA, /* chunked: `need` data bytes, then CRLF */
    AT_LAST_CRLF,  /* chunked: after the last chunk, the CRLF that ends the body */
    TUNNEL,        /* after a 101: every byte is echoed raw */
    REFUSED,       /* an error was logged: read no more, close once the output is sent */
} strict_phase;

struct strict {
    strict_phase phase;
    bytes in;                /* received bytes from the start of the request being parsed */
    size_t pos;              /* how many bytes of `in` have been parsed */
    unsigned long number;    /* requests parsed on this connection */
    unsigned long connection; /* this connection's number: 1, 2, ... in accept order */
    /* the request being parsed, once its head is complete */
    size_t head_len;         /* request line to blank line, inclusive */
    size_t method_len;       /* the method starts `in` */
    size_t target_off, target_len;
    bool has_via, has_upgrade;
    bytes via, upgrade;      /* field values (several lines joined with ", ") */
    size_t need;             /* AT_BODY / AT_CHUNK_DATA: bytes still expected */
    bytes body;              /* the decoded body */
};

static int strict_log_fd = -1; /* the strict log, opened O_APPEND by xt_upstream_serve */
static unsigned long strict_accepted; /* strict connections accepted so far */

/* One record of the log, with one write(2): readers see whole records. */
static void log_record(const char *data, size_t len)
{
    if (write(strict_log_fd, data, len) != (ssize_t)len)
        fprintf(stderr, "test-upstream: cannot write the strict log: %s\n", strerror(errno));
}

/* The request is refused: "error <reason>", no answer, and the connection
 * closes once what earlier requests were answered is sent. */
static void refuse_strict(struct strict *s, const char *reason)
{
    char line[128];
    int n = snprintf(line, sizeof line, "error %s\n", reason);
    log_record(line, (size_t)n);
    s->phase = REFUSED;
}

/* RFC 9110 §5.6.2: tchar. */
static bool is_tchar(unsigned char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static size_t token_len(const char *p, const char *end)
{
    const char *q = p;
    while (q < end && is_tchar((unsigned char)*q))
        q++;
    return (size_t)(q - p);
}

static bool name_is(const char *name, size_t len, const char *want)
{
    return len == strlen(want) && strncasecmp(name, want, len) == 0;
}

/* Finds the blank line that ends the head in `in`: the head's length, 0
 * while more bytes are needed, or (size_t)-1 with *reason. Every LF must
 * follow a CR and every CR precede an LF (RFC 9112 §2.2; the bare LF that
 * RFC lets a recipient accept is refused here). */
static size_t find_head_end(const char *in, size_t len, const char **reason)
{
    size_t line_start = 0;
    for (size_t i = 0; i < len && i < HEAD_LIMIT; i++) {
        if (in[i] == '\r' && i + 1 == len)
            return 0;
        if (in[i] == '\r' && in[i + 1] != '\n') {
            *reason = "bare CR";
            return (size_t)-1;
        }
        if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r')) {
            *reason = "bare LF";
            return (size_t)-1;
        }
        if (in[i] == '\n' && i + 1 - line_start == 2)
            return i + 1; /* a line that is CRLF alone */
        if (in[i] == '\n')
            line_start = i + 1;
    }
    if (len >= HEAD_LIMIT) {
        *reason = "head too large";
        return (size_t)-1;
    }
    return 0;
}

/* request-line = method SP request-target SP HTTP-version (RFC 9112 §3),
 * the method a token, the target visible characters, the version 1.0 or 1.1. */
static bool request_line_ok(struct strict *s, const char *p, const char *eol)
{
    size_t m = token_len(p, eol);
    if (m == 0 || p + m == eol || p[m] != ' ')
        return false;
    const char *t = p + m + 1, *q = t;
    while (q < eol && *q > ' ' && *q < 0x7f)
        q++;
    if (q == t || q == eol || *q != ' ')
        return false;
    const char *v = q + 1;
    if (eol - v != 8 || (memcmp(v, "HTTP/1.1", 8) != 0 && memcmp(v, "HTTP/1.0", 8) != 0))
        return false;
    s->method_len = m;
    s->target_off = (size_t)(t - s->in.data);
    s->target_len = (size_t)(q - t);
    return true;
}

/* What the framing fields said (RFC 9112 §6). */
typedef struct {
    int cl_lines, te_lines;
    const char *cl, *te; /* the value of the (single) line */
    size_t cl_len, te_len;
} framing;

/* field-line = field-name ":" OWS field-value OWS (RFC 9112 §5), the name
 * a token with nothing between it and the colon, no obs-fold (§5.2), the
 * value visible characters, obs-text, SP and HTAB only. */
static const char *field_line(struct strict *s, const char *p, const char *eol, framing *f)
{
    if (*p == ' ' || *p == '\t')
        return "obs-fold";
    size_t n = token_len(p, eol), w = n;
    while (p + w < eol && (p[w] == ' ' || p[w] == '\t'))
        w++;
    if (n > 0 && w > n && p + w < eol && p[w] == ':')
        return "whitespace before colon";
    if (n == 0 || p + n == eol || p[n] != ':')
        return "bad field name";
    const char *v = p + n + 1, *e = eol;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    for (const char *q = v; q < e; q++)
        if ((unsigned char)*q < ' ' ? *q != '\t' : *q == 0x7f)
            return "bad field value";
    size_t len = (size_t)(e - v);
    bytes *list = NULL;
    bool *seen = NULL;
    if (name_is(p, n, "Content-Length"))
        f->cl_lines++, f->cl = v, f->cl_len = len;
    else if (name_is(p, n, "Transfer-Encoding"))
        f->te_lines++, f->te = v, f->te_len = len;
    else if (name_is(p, n, "Via"))
        list = &s->via, seen = &s->has_via;
    else if (name_is(p, n, "Upgrade"))
        list = &s->upgrade, seen = &s->has_upgrade;
    if (list && *seen)
        bytes_add(list, ", ", 2);
    if (list) {
        bytes_add(list, v, len);
        *seen = true;
    }
    return NULL;
}

/* Decides how the body is framed: at most one Content-Length line, of
 * digits only; Transfer-Encoding exactly "chunked" on one line; not both;
 * neither: no body. NULL, or the reason to refuse. */
static const char *choose_framing(struct strict *s, const framing *f)
{
    if (f->cl_lines > 1)
        return "duplicate Content-Length";
    if (f->te_lines > 1)
        return "duplicate Transfer-Encoding";
    if (f->cl_lines && f->te_lines)
        return "Content-Length with Transfer-Encoding";
    if (f->te_lines) {
        if (f->te_len != 7 || strncasecmp(f->te, "chunked", 7) != 0)
            return "bad Transfer-Encoding";
        s->phase = AT_CHUNK_SIZE;
        return NULL;
    }
    s->need = 0;
    for (size_t i = 0; i < f->cl_len; i++) {
        if (f->cl[i] < '0' || f->cl[i] > '9')
            return "bad Content-Length";
        s->need = s->need * 10 + (size_t)(f->cl[i] - '0');
        if (s->need > STRICT_BODY_LIMIT)
            return "body too large";
    }
    if (f->cl_lines && f->cl_len == 0)
        return "bad Content-Length";
    s->phase = AT_BODY; /* need 0: no body (no Content-Length, or 0) */
    return NULL;
}

/* The head is complete (s->head_len): checks it line by line. */
static const char *check_head(struct strict *s)
{
    const char *p = s->in.data, *end = s->in.data + s->head_len - 2; /* before the blank line */
    const char *eol = memchr(p, '\r', (size_t)(end - p + 2));
    if (!request_line_ok(s, p, eol))
        return "bad request line";
    framing f = {0};
    for (p = eol + 2; p < end; p = eol + 2) {
        eol = memchr(p, '\r', (size_t)(end - p));
        const char *why = field_line(s, p, eol, &f);
        if (why)
            return why;
    }
    return choose_framing(s, &f);
}

/* chunk = chunk-size CRLF chunk-data CRLF, last-chunk = 1*"0" CRLF, then
 * the CRLF that ends the (empty) trailer section (RFC 9112 §7.1): no chunk
 * extensions, no trailers. Parses one chunk-size line at s->pos. Returns
 * false while the line is incomplete. */
static bool chunk_size_line(struct strict *s, const char **reason)
{
    const char *p = s->in.data + s->pos, *end = s->in.data + s->in.len;
    size_t size = 0, digits = 0;
    for (; p < end && isxdigit((unsigned char)*p); p++, digits++) {
        size = size * 16 + (size_t)(isdigit((unsigned char)*p) ? *p - '0' : (*p | 0x20) - 'a' + 10);
        if (s->body.len + size > STRICT_BODY_LIMIT) {
            *reason = "body too large";
            return true;
        }
    }
    if (p == end || (*p == '\r' && p + 1 == end)) { /* the line goes on */
        if (end - (s->in.data + s->pos) > CHUNK_LINE_MAX)
            *reason = "bad chunk size";
        return *reason != NULL;
    }
    if (*p == '\n')
        *reason = "bare LF";
    else if (*p == '\r' && p[1] != '\n')
        *reason = "bare CR";
    else if (*p == ';' && digits > 0)
        *reason = "chunk extension";
    else if (*p != '\r' || digits == 0)
        *reason = "bad chunk size";
    if (*reason)
        return true;
    s->pos = (size_t)(p + 2 - s->in.data);
    s->need = size;
    s->phase = size == 0 ? AT_LAST_CRLF : AT_CHUNK_DATA;
    return true;
}

/* One step of the parser over the bytes in s->in: more bytes are needed
 * (or the request was refused: phase REFUSED), the request is complete
 * (its body decoded), or it moved on and can take another step. */
typedef enum { STEP_MORE, STEP_DONE, STEP_ON } step;

static step parse_step(struct strict *s)
{
    const char *why = NULL;
    size_t avail = s->in.len - s->pos, len;
    switch (s->phase) {
    case AT_HEAD:
        if ((len = find_head_end(s->in.data, s->in.len, &why)) == 0)
            return STEP_MORE;
        if (!why) {
            s->head_len = s->pos = len;
            why = check_head(s); /* and sets the phase for the body */
        }
        break;
    case AT_BODY:
        if (avail < s->need)
            return STEP_MORE;
        bytes_add(&s->body, s->in.data + s->pos, s->need);
        s->pos += s->need;
        return STEP_DONE;
    case AT_CHUNK_SIZE:
        if (!chunk_size_line(s, &why))
            return STEP_MORE;
        break;
    case AT_CHUNK_DATA:
        if (avail < s->need + 2)
            return STEP_MORE;
        bytes_add(&s->body, s->in.data + s->pos, s->need);
        if (memcmp(s->in.data + s->pos + s->need, "\r\n", 2) != 0)
            why = "bad chunk end";
        s->pos += s->need + 2;
        s->phase = AT_CHUNK_SIZE;
        break;
    case AT_LAST_CRLF:
        if (avail < 2)
            return STEP_MORE;
        if (memcmp(s->in.data + s->pos, "\r\n", 2) != 0) {
            why = "trailer section";
            break;
        }
        s->pos += 2;
        return STEP_DONE;
    case TUNNEL:
    case REFUSED:
        return STEP_MORE;
    }
    if (why) {
        refuse_strict(s, why);
        return STEP_MORE;
    }
    return STEP_ON;
}

/* True when a whole request is parsed. */
static bool parse_request(struct strict *s)
{
    step r;
    while ((r = parse_step(s)) == STEP_ON)
        continue;
    return r == STEP_DONE;
}

/* "request <n> <method> <target> via=<Via or -> body=<body>\n". */
static void log_request(const struct strict *s)
{
    bytes line = {0};
    char head[64];
    int n = snprintf(head, sizeof head, "request %lu ", s->number);
    bytes_add(&line, head, (size_t)n);
    bytes_add(&line, s->in.data, s->method_len);
    bytes_add(&line, " ", 1);
    bytes_add(&line, s->in.data + s->target_off, s->target_len);
    bytes_add(&line, " via=", 5);
    if (s->has_via)
        bytes_add(&line, s->via.data, s->via.len);
    else
        bytes_add(&line, "-", 1);
    bytes_add(&line, " body=", 6);
    bytes_add(&line, s->body.data, s->body.len);
    bytes_add(&line, "\n", 1);
    log_record(line.data, line.len);
    free(line.data);
}

/* Whether the parsed request's target starts with `prefix`. */
static bool target_starts(const struct strict *s, const char *prefix)
{
    size_t n = strlen(prefix);
    return s->target_len >= n && memcmp(s->in.data + s->target_off, prefix, n) == 0;
}

/* Answers the complete request: 101 and a tunnel for an Upgrade to a
 * target starting /ws-accept, otherwise 200 whose body is the head as
 * received and the decoded body. */
static void answer_strict(client *c)
{
    struct strict *s = c->strict;
    char head[256];
    if (s->has_upgrade && s->target_len >= 10 &&
        memcmp(s->in.data + s->target_off, "/ws-accept", 10) == 0) {
        int n = snprintf(head, sizeof head,
                         "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ");
        out_append(c, head, (size_t)n);
        out_append(c, s->upgrade.data, s->upgrade.len);
        out_append(c, "\r\n\r\n", 4);
        log_record("tunnel\n", 7);
        s->phase = TUNNEL;
        return;
    }
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                     "X-Request-Number: %lu\r\nX-Connection: %lu\r\n%s\r\n",
                     s->head_len + s->body.len, s->number, s->connection,
                     target_starts(s, "/close") ? "Connection: close\r\n" : "");
    out_append(c, head, (size_t)n);
    out_append(c, s->in.data, s->head_len);
    out_append(c, s->body.data, s->body.len);
}

/* Drops the parsed request from `in` and forgets it: the next one starts
 * at the front. */
static void next_request(struct strict *s)
{
    memmove(s->in.data, s->in.data + s->pos, s->in.len - s->pos);
    s->in.len -= s->pos;
    s->pos = 0;
    s->head_len = 0;
    s->has_via = s->has_upgrade = false;
    s->via.len = s->upgrade.len = s->body.len = 0;
    if (s->phase != TUNNEL)
        s->phase = AT_HEAD;
}

/* New bytes from a strict-mode client: parsed, each complete request
 * logged and answered in turn (Connection: close or not), until more bytes
 * are needed, the connection becomes a tunnel (what follows the request is
 * echoed) or a request is refused. */
static void on_strict_bytes(client *c, const char *buf, size_t len)
{
    struct strict *s = c->strict;
    if (s->phase == TUNNEL) {
        out_append(c, buf, len);
        return;
    }
    if (s->phase == REFUSED)
        return; /* only a hang-up is still read */
    bytes_add(&s->in, buf, len);
    while (parse_request(s)) {
        s->number++;
        log_request(s);
        if (target_starts(s, "/vanish") && s->number > 1) { /* as if closed while idle */
            log_record("vanish\n", 7);
            s->phase = REFUSED;
            return;
        }
        answer_strict(c);
        bool closing = target_starts(s, "/close");
        next_request(s);
        if (closing) { /* it said so: close once the answer is sent */
            s->phase = REFUSED;
            return;
        }
        if (s->phase == TUNNEL) {
            out_append(c, s->in.data, s->in.len); /* the first tunnelled bytes */
            s->in.len = 0;
            return;
        }
    }
}

/* The peer closed: a request cut short is logged (nothing is answered). */
static void on_strict_eof(struct strict *s)
{
    if (s->phase != TUNNEL && s->phase != REFUSED && s->in.len > 0)
        refuse_strict(s, "incomplete request at EOF");
}

static void strict_free(struct strict *s)
{
    if (!s)
        return;
    free(s->in.data);
    free(s->via.data);
    free(s->upgrade.data);
    free(s->body.data);
    free(s);
}

/* recv(), or SSL_read() on a TLS connection: -1 with errno EAGAIN when
 * nothing is there yet, 0 at the end (close_notify, or a close or error
 * without it: this is test equipment, not a judge of truncation). */
static ssize_t conn_recv(client *c, char *buf, size_t len)
{
    if (!c->ssl)
        return recv(c->fd, buf, len, 0);
    size_t got = 0;
    if (SSL_read_ex(c->ssl, buf, len, &got) == 1)
        return (ssize_t)got;
    int e = SSL_get_error(c->ssl, 0);
    ERR_clear_error();
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        errno = EAGAIN;
        return -1;
    }
    return 0;
}

/* send(), or SSL_write(): -1 with errno as send's. */
static ssize_t conn_send(client *c, const char *buf, size_t len)
{
    if (!c->ssl)
        return send(c->fd, buf, len, MSG_NOSIGNAL);
    size_t sent = 0;
    if (SSL_write_ex(c->ssl, buf, len, &sent) == 1)
        return (ssize_t)sent;
    int e = SSL_get_error(c->ssl, 0);
    ERR_clear_error();
    errno = e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? EAGAIN : EPIPE;
    return -1;
}

/* One step of a TLS connection's handshake. Returns false when it failed
 * (the client is dropped). Strict mode logs each completed handshake as
 *   tls <connection> sni=<the server name the client sent, or ->\n
 * so a check sees how many handshakes a proxy made, and with which name. */
static bool handshake_step(client *c)
{
    int rc = SSL_do_handshake(c->ssl);
    c->tls_wants_write = false;
    if (rc == 1) {
        c->tls_ready = true;
        if (c->strict) {
            const char *sni = SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name);
            char line[320];
            int len = snprintf(line, sizeof line, "tls %lu sni=%s\n", c->strict->connection,
                               sni ? sni : "-");
            log_record(line, (size_t)len);
        }
        return true;
    }
    int e = SSL_get_error(c->ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        c->tls_wants_write = e == SSL_ERROR_WANT_WRITE;
        ERR_clear_error();
        return true;
    }
    unsigned long err = ERR_get_error();
    ERR_clear_error();
    fprintf(stderr, "test-upstream: TLS handshake failed: %s\n",
            err ? ERR_reason_error_string(err) : "the client closed");
    return false;
}

/* Reads what is available. Returns false when the client is finished with. */
static bool on_readable(client *c, xt_upstream_mode_t mode)
{
    char buf[65536];
    ssize_t n = conn_recv(c, buf, sizeof buf);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR;
    if (n == 0) {
        c->peer_done = true;
        if (mode == XT_UPSTREAM_STRICT)
            on_strict_eof(c->strict);
        /* flush what is owed, then close */
        return c->out_off < c->out_len || stream_unfinished(c);
    }
    if (mode == XT_UPSTREAM_ECHO) {
        out_append(c, buf, (size_t)n);
        return true;
    }
    if (mode == XT_UPSTREAM_STRICT) { /* a refused request closes once earlier answers are sent */
        on_strict_bytes(c, buf, (size_t)n);
        return c->strict->phase != REFUSED || c->out_off < c->out_len;
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
        ssize_t n = conn_send(c, c->out + c->out_off, c->out_len - c->out_off);
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
    /* HTTP closes after its one reply; echo closes once the client has;
     * strict too, or after a refusal. */
    if (mode == XT_UPSTREAM_STRICT)
        return !c->peer_done && c->strict->phase != REFUSED;
    return mode == XT_UPSTREAM_ECHO && !c->peer_done;
}

static void drop(client *c)
{
    if (c->ssl) {
        if (c->tls_ready && !c->reset_after)
            SSL_shutdown(c->ssl); /* close_notify, best effort */
        SSL_free(c->ssl);
        ERR_clear_error();
    }
    close(c->fd);
    strict_free(c->strict);
    free(c->in);
    free(c->out);
    free(c->held);
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

static const char *mode_name(xt_upstream_mode_t mode)
{
    return mode == XT_UPSTREAM_ECHO ? "echo" : mode == XT_UPSTREAM_STRICT ? "strict" : "http";
}

/* Whether to poll a client for input: not once it has closed its side,
 * nor while 1 MiB of output waits (echo, strict: back-pressure), nor after
 * the HTTP mode's one reply or a strict refusal. */
static bool wants_input(const client *c, xt_upstream_mode_t mode)
{
    if (c->peer_done)
        return false;
    if (mode == XT_UPSTREAM_HTTP)
        return !c->answered;
    if (mode == XT_UPSTREAM_STRICT && c->strict->phase == REFUSED)
        return false;
    return c->out_len - c->out_off < ECHO_BACKLOG;
}

int xt_upstream_use_tls(const char *cert_path, const char *key_path)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, cert_path) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key_path, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        unsigned long err = ERR_get_error();
        fprintf(stderr, "test-upstream: cannot use %s and %s: %s\n", cert_path, key_path,
                err ? ERR_reason_error_string(err) : "out of memory");
        SSL_CTX_free(ctx);
        return -1;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* the output buffer moves when it grows; a write may take part of it */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_free(tls_ctx);
    tls_ctx = ctx;
    return 0;
}

int xt_upstream_serve(uint16_t port, xt_upstream_mode_t mode, const char *log_path)
{
    signal(SIGPIPE, SIG_IGN);
    if (!log_path)
        log_path = "strict.log";
    if (mode == XT_UPSTREAM_STRICT &&
        (strict_log_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)) < 0) {
        fprintf(stderr, "test-upstream: cannot open %s: %s\n", log_path, strerror(errno));
        return -1;
    }
    int lfd = listen_on(port);
    if (lfd < 0)
        return -1;
    serving_port = port;
    fprintf(stderr, "test-upstream: %s mode on 127.0.0.1:%u%s%s%s\n", mode_name(mode), port,
            tls_ctx ? " over TLS" : "", mode == XT_UPSTREAM_STRICT ? ", log " : "",
            mode == XT_UPSTREAM_STRICT ? log_path : "");

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
            if ((c->stream == STREAM_SLOW && c->lines_sent < c->lines_total) ||
                (c->stream == STREAM_HELD && c->held)) {
                long long wait = c->next_send_ms - now;
                if (timeout < 0 || wait < timeout)
                    timeout = wait < 0 ? 0 : (int)wait;
            }
            bool pending = c->out_off < c->out_len;
            bool want_read = wants_input(c, mode);
            if (c->ssl && !c->tls_ready) /* the handshake first */
                pending = c->tls_wants_write, want_read = !c->tls_wants_write;
            else if (c->ssl && want_read && SSL_pending(c->ssl) > 0)
                timeout = 0; /* plaintext already inside OpenSSL: no poll event for it */
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
            if (c->ssl && !c->tls_ready) {
                if (ev && !handshake_step(c))
                    alive = false;
                else if (!c->tls_ready) /* not yet: nothing to read or write */
                    ev = 0;
                else /* the client's first request may have come with its Finished */
                    ev |= POLLIN;
            } else if (c->ssl && wants_input(c, mode) && SSL_pending(c->ssl) > 0) {
                ev |= POLLIN;
            }
            if (alive && (ev & (POLLIN | POLLHUP | POLLERR)))
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
                if (tls_ctx && (!(clients[n - 1].ssl = SSL_new(tls_ctx)) ||
                                SSL_set_fd(clients[n - 1].ssl, fd) != 1)) {
                    drop(&clients[--n]); /* out of memory: this client only */
                    continue;
                }
                if (tls_ctx)
                    SSL_set_accept_state(clients[n - 1].ssl);
                if (mode == XT_UPSTREAM_STRICT) {
                    clients[n - 1].strict = calloc(1, sizeof(struct strict));
                    clients[n - 1].strict->connection = ++strict_accepted;
                }
            }
        }
    }
}
