/*
 * tests/support/hardening_checks.c — see hardening_checks.h. The bytes
 * each check sends are the ones the issue that asked for it quotes.
 */
#define _GNU_SOURCE /* strcasestr, memmem */
#include "tests/support/hardening_checks.h"

#include <errno.h>
#include <ftw.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <stdarg.h>
#include <setjmp.h>
#include <cmocka.h> /* test_calloc, test_free */

#include "tests/support/checks.h"
#include "tests/support/http_client.h"

enum {
    START_MS = 5000,           /* for the server to start listening */
    REPLY_MS = XT_REPLY_MS,    /* for one response */
    BIG_FILE = 2 << 20,        /* the file a non-reading client pipelines GETs of */
    PIPELINED = 1000,          /* how many it sends */
    FEW_FDS = 6,               /* "a few": at most 5 queued files and the socket */
    UPLOAD = 4 << 20,          /* an upload over the 1 MiB body limit */
    UPLOAD_MS = 5000,          /* for the whole upload to go out */
    ROUNDS = 5,                /* repetitions of the upload */
};

static const char DIGITS[] = "0123456789012345678901234567890123456789012345678901234567890123456"
                             "789012345678901234567890123456789";
static const char WEBSOCKET_KEY[] = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

/* ------------------------------------------------------------ helpers */

static void chmod_public(xt_proc_t *p, const char *rel)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/public/%s", xt_workdir(p), rel);
    chmod(path, 0644);
}

xt_proc_t *xt_hard_start_server(const char *fixture)
{
    const uint16_t ports[] = {8001, 8002, 8003, 8004};
    for (int i = 0; i < 4; i++)
        xt_require_port_free(ports[i]);
    const char *args[] = {"config.json", NULL};
    xt_start_opts_t opts = {.fixture_dir = fixture};
    xt_proc_t *p = xt_start(xt_stage_bin(), args, &opts);
    for (int i = 0; i < 4; i++)
        xt_wait_port(p, ports[i], START_MS);
    const char *files[] = {"a.txt", "b.txt", "digits.txt", "docs/notes.txt"};
    for (int i = 0; i < 4; i++) /* whatever the umask: the rule for serving */
        chmod_public(p, files[i]);
    return p;
}

static int make_public(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)ftw;
    chmod(path, type == FTW_D ? 0755 : (st->st_mode & 07777) | 0444);
    return 0;
}

xt_proc_t *xt_hard_start_served(const char *fixture, const char *served, bool measured)
{
    const char *asan = getenv("ASAN_OPTIONS");
    char *saved = asan ? strdup(asan) : NULL;
    if (measured) {
        char opts[512];
        snprintf(opts, sizeof opts, "%s%squarantine_size_mb=0", asan ? asan : "",
                 asan && *asan ? ":" : "");
        setenv("ASAN_OPTIONS", opts, 1);
    }
    xt_proc_t *p = xt_hard_start_server(fixture);
    if (measured)
        saved ? setenv("ASAN_OPTIONS", saved, 1) : unsetenv("ASAN_OPTIONS");
    free(saved);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", xt_workdir(p), served);
    nftw(dir, make_public, 16, FTW_PHYS);
    return p;
}

/* How many lines of `text` start with `name:` (any case). */
static int count_fields(const char *text, const char *name)
{
    int n = 0;
    size_t len = strlen(name);
    for (const char *l = text; l; l = strstr(l, "\r\n"), l = l ? l + 2 : NULL)
        n += strncasecmp(l, name, len) == 0 && l[len] == ':';
    return n;
}

/* Sends `request` (len bytes) on a new connection to port, reads one response. */
static xt_response_t *exchange(uint16_t port, const char *request, size_t len, int *fd_out)
{
    int fd = xt_connect(port);
    xt_send_all(fd, request, len);
    xt_response_t *r = xt_read_response(fd, false);
    if (fd_out)
        *fd_out = fd;
    else
        close(fd);
    return r;
}

/* The strict upstream on 3000 (its log is strict.log in its folder). */
static xt_proc_t *start_strict_upstream(void)
{
    return xt_upstream_start(3000, "strict");
}

/* The strict upstream's log so far (malloc'd, NUL-terminated). */
static char *upstream_log(xt_proc_t *up)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/strict.log", xt_workdir(up));
    FILE *f = fopen(path, "r");
    char *text = xt_alloc(65536);
    size_t n = f ? fread(text, 1, 65535, f) : 0;
    text[n] = '\0';
    if (f)
        fclose(f);
    return text;
}

/* Expects the upstream to have parsed `want` requests in all (want < 0:
 * any number), each carrying a Via (so it came through the proxy's
 * forwarding), and none for "/smuggled". Give it a moment to log first. */
static void expect_only_forwarded_requests(xt_proc_t *up, int want, const char *after)
{
    xt_sleep_ms(100);
    char *log = upstream_log(up);
    int requests = 0, bare = 0;
    for (const char *l = log; *l; l += strcspn(l, "\n"), l += *l == '\n') {
        if (strncmp(l, "request ", 8) != 0)
            continue;
        requests++;
        const char *via = strstr(l, " via=");
        bare += !via || strncmp(via + 5, "- ", 2) == 0;
    }
    bool smuggled = strstr(log, " /smuggled ") != NULL;
    char expected[400];
    snprintf(expected, sizeof expected,
             "after %s, the strict upstream parsed %s request(s), each with the proxy's Via, "
             "and never GET /smuggled",
             after, want < 0 ? "only forwarded" : (want == 1 ? "exactly 1" : "exactly these"));
    xt_expect((want < 0 || requests == want) && bare == 0 && !smuggled, expected,
              "%d request(s), %d without Via, /smuggled %s; its log: \"%s\"", requests, bare,
              smuggled ? "parsed" : "not parsed", xt_quote(log, strlen(log)));
    free(log);
}

/* Sends len bytes within deadline_ms, waiting for room with poll(), on a
 * non-blocking fd. Returns bytes sent; *error gets errno when the
 * connection failed (0 otherwise: complete, or the deadline passed). */
static size_t send_within(int fd, const char *bytes, size_t len, int deadline_ms, int *error)
{
    int64_t end = xt_now_ms() + deadline_ms;
    size_t sent = 0;
    *error = 0;
    while (sent < len && xt_now_ms() < end) {
        ssize_t n = send(fd, bytes + sent, len - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            poll(&p, 1, 50);
        } else if (n < 0 && errno != EINTR) {
            *error = errno;
            break;
        }
    }
    return sent;
}

/* Makes a socket that xt_set_nonblocking made non-blocking block again,
 * so the harness's deadline reads apply. */
static void blocking_again(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
}

/* Writes a world-readable file of `len` bytes of `c` at `path`. */
static void write_file(const char *path, size_t len, char c)
{
    char *bytes = xt_alloc(len);
    memset(bytes, c, len);
    FILE *f = fopen(path, "w");
    if (!f || fwrite(bytes, 1, len, f) != len || fclose(f) != 0)
        xt_fail("cannot write %s (a harness problem)", path);
    free(bytes);
    chmod(path, 0644);
}

/* ------------------------------------------------------------- checks */

void xt_hard_check_refuses_to_tunnel_before_the_upstreams_101(const char *fixture)
{
    xt_hard_start_server(fixture);
    xt_proc_t *up = start_strict_upstream();
    static const struct {
        const char *what, *request, *absent; /* absent: must not reach the upstream */
    } rows[] = {
        {"Upgrade: websocket",
         "GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
         "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
         "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
         "GET /smuggled"},
        {"Upgrade: h2c",
         "GET /h2 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
         "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
         "h2c"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        int fd;
        xt_response_t *r = exchange(8002, rows[i].request, strlen(rows[i].request), &fd);
        char expected[300];
        snprintf(expected, sizeof expected,
                 "%s and a second request in one write, to an upstream that answers 200, not "
                 "101: that 200, whose echo of the forwarded head lacks \"%s\"",
                 rows[i].what, rows[i].absent);
        xt_expect(r->status == 200 && strncmp(r->body, "GET /", 5) == 0 &&
                      !strcasestr(r->body, rows[i].absent),
                  expected, "%s", xt_describe_response(r));
        xt_expect(xt_closes_silently(fd), "then the connection ends: no second response",
                  "more bytes, or no close, within %d ms", REPLY_MS);
        close(fd);
        test_free(r);
        expect_only_forwarded_requests(up, (int)i + 1, rows[i].what);
    }
}

void xt_hard_check_tunnels_a_websocket_upgrade_after_the_101(const char *fixture)
{
    xt_hard_start_server(fixture);
    xt_proc_t *up = start_strict_upstream();
    int fd = xt_connect(8002);
    char request[600];
    snprintf(request, sizeof request,
             "GET /ws-accept HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
             "Sec-WebSocket-Version: 13\r\n%s\r\nearly bytes;", WEBSOCKET_KEY);
    xt_send_all(fd, request, strlen(request));
    char got[4096];
    size_t n = xt_read_until(fd, got, sizeof got, "\r\n\r\n", REPLY_MS);
    xt_expect(strncmp(got, "HTTP/1.1 101 ", 13) == 0 && strcasestr(got, "\r\nUpgrade: websocket\r\n"),
              "an Upgrade to /ws-accept: the upstream's \"101 Switching Protocols\" with "
              "\"Upgrade: websocket\" comes back",
              "received \"%s\"", xt_quote(got, n));
    size_t head = (size_t)(strstr(got, "\r\n\r\n") + 4 - got);
    if (!memmem(got + head, n - head, "early bytes;", 12))
        n += xt_read_until(fd, got + n, sizeof got - n, "early bytes;", REPLY_MS);
    xt_expect(memmem(got + head, n - head, "early bytes;", 12) != NULL,
              "the bytes sent with the head, held until the 101, then come back through the "
              "tunnel (the upstream echoes)",
              "after the 101: \"%s\"", xt_quote(got + head, n - head));
    char frame[33];
    xt_random_text(frame, 32);
    frame[32] = '\0';
    xt_send_all(fd, frame, 32);
    n = xt_read_until(fd, got, sizeof got, frame, REPLY_MS);
    xt_expect(strstr(got, frame) != NULL,
              "32 bytes sent after the 101 come back through the tunnel",
              "received \"%s\" after sending \"%s\"", xt_quote(got, n), frame);
    close(fd);
    expect_only_forwarded_requests(up, 1, "the tunnel");
}

void xt_hard_check_refuses_loose_chunked_framing_with_400(const char *fixture)
{
    xt_hard_start_server(fixture);
    xt_proc_t *up = start_strict_upstream();
    static char long_ext[8200];
    snprintf(long_ext, sizeof long_ext,
             "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;");
    size_t at = strlen(long_ext);
    memset(long_ext + at, 'e', 8000);
    strcpy(long_ext + at + 8000, "\r\nhello\r\n0\r\n\r\n");
    static const struct {
        const char *what, *request;
    } rows[] = {
        {"a bare LF ending the chunk-size line \"2;\" (then a smuggled GET)",
         "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2;\nxx\r\n32\r\n0\r\n"
         "\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"},
        {"a chunk-size followed by a space (\"5 \\r\\n\")",
         "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n"},
        {"an 8,000-byte chunk extension", long_ext},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        xt_response_t *r = exchange(8002, rows[i].request, strlen(rows[i].request), NULL);
        char expected[300];
        snprintf(expected, sizeof expected, "%s, through the proxy: 400", rows[i].what);
        xt_expect(r->status == 400, expected, "%s", xt_describe_response(r));
        test_free(r);
    }
    expect_only_forwarded_requests(up, -1, "three requests with loose chunked framing");
}

void xt_hard_check_forwards_framing_of_its_own_not_the_clients(const char *fixture)
{
    xt_hard_start_server(fixture);
    xt_proc_t *up = start_strict_upstream();
    static const struct {
        const char *what, *request, *framing; /* framing: the one line the upstream must get */
        int lengths, encodings;               /* Content-Length / Transfer-Encoding lines */
    } rows[] = {
        {"Content-Length: 5, 5",
         "POST /cl HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello",
         "\r\nContent-Length: 5\r\n", 1, 0},
        {"two equal Content-Length lines",
         "POST /cl2 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\nhello",
         "\r\nContent-Length: 5\r\n", 1, 0},
        {"Transfer-Encoding: ,chunked, with a chunk extension and a trailer Content-Length: 40",
         "POST /te HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ,chunked,\r\n\r\n5;ext=1\r\nhello\r\n"
         "0\r\nContent-Length: 40\r\n\r\n",
         "\r\nTransfer-Encoding: chunked\r\n", 0, 1},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        xt_response_t *r = exchange(8002, rows[i].request, strlen(rows[i].request), NULL);
        /* the strict upstream's body: the head it received, then the decoded body */
        char *blank = strstr(r->body, "\r\n\r\n");
        if (blank)
            blank[2] = '\0'; /* the head alone, ending in one CRLF */
        bool framed = blank && strstr(r->body, rows[i].framing) &&
                      count_fields(r->body, "Content-Length") == rows[i].lengths &&
                      count_fields(r->body, "Transfer-Encoding") == rows[i].encodings;
        bool body = blank && strcmp(blank + 4, "hello") == 0;
        char expected[400];
        snprintf(expected, sizeof expected,
                 "%s: the strict upstream answers 200, having received exactly one framing line, "
                 "\"%s\", and the body \"hello\"",
                 rows[i].what, xt_quote(rows[i].framing + 2, strlen(rows[i].framing) - 4));
        if (blank)
            blank[2] = '\r';
        xt_expect(r->status == 200 && framed && body, expected, "%s", xt_describe_response(r));
        test_free(r);
    }
    expect_only_forwarded_requests(up, 3, "three bodies");
    char *log = upstream_log(up);
    xt_expect(strstr(log, "POST /te ") && strstr(strstr(log, "POST /te "), "body=hello\n"),
              "the chunked body reached the upstream decoded as \"hello\"", "its log: \"%s\"",
              xt_quote(log, strlen(log)));
    free(log);
}

void xt_hard_check_drops_underscore_fields_and_those_connection_names(const char *fixture)
{
    xt_hard_start_server(fixture);
    xt_proc_t *up = start_strict_upstream();
    const char *request = "GET /h HTTP/1.1\r\nHost: x\r\nTransfer_Encoding: chunked\r\n"
                          "Connection: X-Drop\r\nX-Drop: 1\r\nX-Keep: 1\r\n\r\n";
    xt_response_t *r = exchange(8002, request, strlen(request), NULL);
    xt_expect(r->status == 200 && !strcasestr(r->body, "Transfer_Encoding") &&
                  !strcasestr(r->body, "\r\nX-Drop:") && strstr(r->body, "\r\nX-Keep: 1\r\n"),
              "the upstream receives X-Keep but neither Transfer_Encoding ('_' in the name) nor "
              "X-Drop (named by Connection)",
              "%s", xt_describe_response(r));
    test_free(r);
    expect_only_forwarded_requests(up, 1, "one request");
}

void xt_hard_check_redirects_a_folder_only_to_this_origin(const char *fixture)
{
    xt_hard_start_server(fixture);
    static const char *targets[] = {"//evil.example/%2e%2e/docs", "//evil.example/../docs",
                                    "/\\evil.example/%2e%2e/docs"};
    for (size_t i = 0; i < sizeof targets / sizeof *targets; i++) {
        char request[200], location[200] = "", expected[200];
        snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", targets[i]);
        xt_response_t *r = exchange(8001, request, strlen(request), NULL);
        xt_header_value(r->head, "Location", location, sizeof location);
        snprintf(expected, sizeof expected,
                 "GET %s (docs is a folder): 301 with Location exactly \"/docs/\"", targets[i]);
        xt_expect(r->status == 301 && strcmp(location, "/docs/") == 0, expected, "%s",
                  xt_describe_response(r));
        test_free(r);
    }
}

/* A client that pipelines PIPELINED GETs of `path` and reads nothing;
 * returns its socket. */
static int pipeline_without_reading(const char *path)
{
    char one[128];
    int len = snprintf(one, sizeof one, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
    size_t total = (size_t)len * PIPELINED;
    char *all = xt_alloc(total);
    for (int i = 0; i < PIPELINED; i++)
        memcpy(all + (size_t)i * (size_t)len, one, (size_t)len);
    int fd = xt_connect(8001), error;
    xt_set_nonblocking(fd);
    send_within(fd, all, total, 1000, &error); /* what fits: it never reads */
    free(all);
    return fd;
}

void xt_hard_check_bounds_what_a_client_that_never_reads_holds(const char *fixture)
{
    xt_proc_t *p = xt_hard_start_server(fixture);
    char path[4096];
    snprintf(path, sizeof path, "%s/public/big.bin", xt_workdir(p));
    write_file(path, BIG_FILE, 'b');
    int base = xt_fd_count(xt_serving_pid(p));
    int big = pipeline_without_reading("/big.bin");
    xt_sleep_ms(500);
    int with_big = xt_fd_count(xt_serving_pid(p));
    int small = pipeline_without_reading("/a.txt");
    xt_sleep_ms(500);
    int with_both = xt_fd_count(xt_serving_pid(p));
    char expected[300];
    snprintf(expected, sizeof expected,
             "a client pipelining %d GETs of a 2 MiB file without reading adds at most %d "
             "descriptors to the server's %d; another pipelining %d GETs of a small file at "
             "most %d more",
             PIPELINED, FEW_FDS, base, PIPELINED, FEW_FDS);
    xt_expect(with_big >= 0 && with_big <= base + FEW_FDS && with_both <= with_big + FEW_FDS,
              expected, "%d, then %d, descriptors%s", with_big, with_both, xt_server_note(p));
    xt_response_t *r = exchange(8001, "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", 33, NULL);
    xt_expect(r->status == 200 && strcmp(r->body, "aaaa\n") == 0,
              "meanwhile a third client's GET /a.txt gets 200 \"aaaa\\n\"", "%s", xt_describe_response(r));
    test_free(r);
    /* Once the first reads, its requests are answered, in order. */
    blocking_again(big);
    char *body = xt_alloc(BIG_FILE);
    int whole = 0;
    for (int i = 0; i < 3; i++) {
        xt_response_t *h = xt_read_response(big, false); /* the rest of the 2 MiB below */
        size_t got = h->body_len + xt_recv_exact(big, body, BIG_FILE - h->body_len, REPLY_MS, NULL);
        whole += h->status == 200 && got == BIG_FILE;
        test_free(h);
    }
    free(body);
    xt_expect(whole == 3, "once that client reads, its first 3 responses arrive whole (2 MiB each)",
              "%d of 3 did", whole);
    close(big);
    close(small);
}

void xt_hard_check_if_range_for_another_version_gets_the_whole_file(const char *fixture)
{
    xt_proc_t *p = xt_hard_start_server(fixture);
    char path[4096];
    snprintf(path, sizeof path, "%s/public/digits.txt", xt_workdir(p));
    struct timeval hour_ago[2];
    gettimeofday(&hour_ago[0], NULL);
    hour_ago[0].tv_sec -= 3600;
    hour_ago[1] = hour_ago[0];
    utimes(path, hour_ago); /* a Last-Modified older than a second is a strong validator */
    const char *get = "GET /digits.txt HTTP/1.1\r\nHost: x\r\n\r\n";
    xt_response_t *r = exchange(8001, get, strlen(get), NULL);
    char etag[128] = "", modified[64] = "";
    xt_header_value(r->head, "ETag", etag, sizeof etag);
    xt_header_value(r->head, "Last-Modified", modified, sizeof modified);
    test_free(r);
    const struct {
        const char *what, *value;
        int want;
    } rows[] = {
        {"If-Range: Thu, 01 Jan 1970 00:00:00 GMT", "Thu, 01 Jan 1970 00:00:00 GMT", 200},
        {"If-Range: <its weak ETag> (If-Range compares strongly)", etag, 200},
        {"If-Range: <its Last-Modified>", modified, 206},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        char request[300], expected[300];
        snprintf(request, sizeof request,
                 "GET /digits.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9\r\nIf-Range: %s\r\n\r\n",
                 rows[i].value);
        r = exchange(8001, request, strlen(request), NULL);
        const char *want = rows[i].want == 206 ? "0123456789" : DIGITS;
        snprintf(expected, sizeof expected, "Range: bytes=0-9 with %s: %d and %s", rows[i].what,
                 rows[i].want, rows[i].want == 206 ? "the 10 bytes" : "all 100 bytes");
        xt_expect(r->status == rows[i].want && strcmp(r->body, want) == 0, expected, "%s",
                  xt_describe_response(r));
        test_free(r);
    }
}

/* One raw upload of UPLOAD bytes announced by Content-Length; true when
 * every byte went out and a 413 came back. *why describes what happened. */
static bool upload_gets_413(char *why, size_t cap)
{
    int fd = xt_connect(8001);
    char head[128];
    snprintf(head, sizeof head, "POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n",
             UPLOAD);
    xt_send_all(fd, head, strlen(head));
    xt_set_nonblocking(fd);
    char *body = xt_alloc(UPLOAD);
    memset(body, 'u', UPLOAD);
    int error = 0;
    size_t sent = send_within(fd, body, UPLOAD, UPLOAD_MS, &error);
    free(body);
    blocking_again(fd);
    xt_response_t *r = xt_read_response(fd, false);
    bool ok = sent == UPLOAD && r->status == 413;
    snprintf(why, cap, "sent %zu of %d body bytes%s%s, then read status %d", sent, UPLOAD,
             error ? ": " : "", error ? strerror(error) : "", r->status);
    test_free(r);
    close(fd);
    return ok;
}

void xt_hard_check_an_upload_over_the_limit_gets_its_413_not_a_reset(const char *fixture)
{
    xt_proc_t *p = xt_hard_start_server(fixture);
    char why[200];
    for (int i = 0; i < ROUNDS; i++)
        xt_expect(upload_gets_413(why, sizeof why),
                  "a 4 MiB upload over the 1 MiB limit: the client sends every byte (no reset) "
                  "and reads 413",
                  "round %d: %s", i + 1, why);
    char path[4096], file[4100]; /* beside public/, not in it */
    snprintf(path, sizeof path, "%s/upload.bin", xt_workdir(p));
    write_file(path, UPLOAD, 'u');
    snprintf(file, sizeof file, "@%s", path); /* curl: the body is this file's contents */
    for (int i = 0; i < ROUNDS; i++) {
        const char *args[] = {"-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "4",
                              "-H", "Expect:", "--data-binary", file,
                              "http://127.0.0.1:8001/a.txt", NULL};
        int status = 0;
        char *out = xt_run_curl(args, &status);
        xt_expect(strcmp(out, "413") == 0,
                  "curl -H 'Expect:' --data-binary @4MiB (five times) prints 413",
                  "round %d: curl printed \"%s\" and %s", i + 1, xt_quote(out, strlen(out)),
                  xt_status_text(status));
        free(out);
    }
}

void xt_hard_check_answers_options_star_with_200_and_allow(const char *fixture)
{
    xt_hard_start_server(fixture);
    int fd;
    const char *options = "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n";
    xt_response_t *r = exchange(8001, options, strlen(options), &fd);
    char allow[100] = "";
    xt_header_value(r->head, "Allow", allow, sizeof allow);
    xt_expect(r->status == 200 && strstr(allow, "GET") && strstr(allow, "HEAD") &&
                  r->body_len == 0,
              "OPTIONS *: 200, no body, Allow naming GET and HEAD", "%s", xt_describe_response(r));
    test_free(r);
    const char *get = "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n";
    xt_send_all(fd, get, strlen(get));
    r = xt_read_response(fd, false);
    xt_expect(r->status == 200 && strcmp(r->body, "aaaa\n") == 0,
              "then GET /a.txt on the same connection: 200 \"aaaa\\n\"", "%s", xt_describe_response(r));
    test_free(r);
    close(fd);
}
