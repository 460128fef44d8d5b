/*
 * tests/stages/stage_12.c — black-box checks for stage 12 (config-session).
 *
 * The binary under test ($XPS_STAGE_BIN) is started with ONE argument, the
 * path of its JSON configuration, in a scratch working directory holding a
 * copy of tests/fixtures/stage-12:
 *
 *     config.json   the course's four servers (dir_path "public"):
 *                     8001  "/" file_serve from public, index index.html;
 *                           "/redirect" 302 to http://localhost:8002/
 *                     8002  "/" reverse_proxy to localhost:3000
 *                     8003  "/" 302 to https://expserver.github.io
 *                     8004  no routes
 *     prefix.json   one listener, two blocks (hostnames a.test, then any)
 *                   and routes "/", "/api", "/api/v2/": routing by Host and
 *                   by the longest req_path on a segment boundary
 *     bad.json      a route of type "proxy": must be refused
 *     public/       index.html, sample.txt, cat.jpg, doc.pdf, docs/notes.txt
 *
 * The configuration is the course's, so a course student's binary is
 * graded with the file it was written for. What is checked:
 *  - 8001 serves .txt/.html/.jpg/.pdf with the exact Content-Type and the
 *    file's bytes, "/" with its index file, "/redirect" (and "/redirect/x")
 *    with 302 and Location http://localhost:8002/, and "/redirection"
 *    (not on a segment boundary) from the file route: 404;
 *  - 8002 relays test-upstream's response byte for byte (status, headers,
 *    body), and the request the upstream received kept the Host header,
 *    gained X-Forwarded-For and Via, and lost the hop-by-hop fields; with no
 *    upstream, or one that closes without answering, the client gets 502;
 *  - 8002 relays test-upstream's harder replies: /chunked/5 byte for byte,
 *    /slow/5 completely and as it arrives (not held back until the end),
 *    /big/64 (64 MiB, verified against the pattern in upstream.h) intact
 *    within 20 s, and /abort's 1000 bytes followed by a close, nothing more;
 *  - 8003 answers 302 with Location https://expserver.github.io (never
 *    followed: the checks talk to 127.0.0.1 only); 8004 answers 404;
 *  - prefix.json routes by Host and longest prefix (a table of requests);
 *  - a malformed request gets 400 and the server goes on;
 *  - bad.json, or a missing file, makes the binary exit non-zero at once,
 *    naming the file (and for bad.json the JSON path), nothing listening;
 *  - curl, driven as a user would, sees the redirect and a file;
 *  - SIGTERM ends the server with status 0.
 */
#define _GNU_SOURCE /* memmem, strcasestr */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/checks.h"
#include "tests/support/harness.h"
#include "tests/support/http_client.h"
#include "tests/support/proxy_checks.h"
#include "tests/support/upstream.h"

enum {
    BASE_PORT = 8001, /* the four servers are 8001..8004 */
    PORTS = 4,
    UPSTREAM_PORT = 3000,
    START_MS = 5000,  /* for the server to start listening */
    REPLY_MS = 3000,  /* for a whole response */
    STOP_MS = 3000,   /* for the server to exit (SIGTERM, a bad config) */
    BIG_MIB = 64,     /* size of the large relayed body */
    BIG_MS = 20000,   /* for all of it to arrive (under a sanitizer too) */
    SLOW_LINES = 5,   /* /slow/5: the upstream spreads them over 200 ms */
    SLOW_SPREAD_MS = 100, /* the client must see them spread over at least this */
    CAP = 65536,      /* room for one response (the fixtures are small) */
};

static const char FIXTURE[] = "tests/fixtures/stage-12";

/* ------------------------------------------------------------ helpers */

/* One response, read to EOF (stage 12 closes after each response). */
typedef struct response {
    char raw[CAP];          /* every byte received, NUL-terminated */
    size_t len;
    int status;             /* from the status line; 0 if none */
    const char *body;       /* into raw, after the blank line; NULL if none */
    size_t body_len;
} response_t;

/* Starts the binary on `config` in a copy of the fixture; waits for each
 * of `ports` (NULL-free list, count n). config.json is the course's four
 * servers: in the course's layout the tester's own xps_config.json, the
 * same servers, takes its place; a check on any other file is skipped
 * there, as the tester only ever gives that one. */
static xt_proc_t *start_with(const char *config, const uint16_t *ports, int n)
{
    if (strcmp(config, "config.json") != 0)
        xt_skip_in_course_layout("runs the binary on a configuration of its own; the course's "
                                 "tester only ever gives it its xps_config.json");
    for (int i = 0; i < n; i++)
        xt_require_port_free(ports[i]);
    const char *args[] = {config, NULL};
    xt_start_opts_t opts = {.fixture_dir = FIXTURE};
    xt_proc_t *p = xt_start_stage(args, &opts);
    for (int i = 0; i < n; i++)
        xt_wait_port(p, ports[i], START_MS);
    return p;
}

static xt_proc_t *start_server(void)
{
    const uint16_t ports[] = {8001, 8002, 8003, 8004};
    return start_with("config.json", ports, PORTS);
}

/* The bytes of a file of the fixture, as copied into the working dir. */
static size_t read_fixture(xt_proc_t *p, const char *rel, char *buf, size_t cap)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", xt_workdir(p), rel);
    chmod(path, 0644); /* world-readable whatever the umask: the rule for serving */
    FILE *f = fopen(path, "rb");
    if (!f)
        xt_fail("cannot open fixture file %s: %s", path, strerror(errno));
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    if (n == 0 || n == cap)
        xt_fail("fixture file %s is empty or too big for the check", path);
    return n;
}

static void parse_response(response_t *r)
{
    int major = 0, minor = 0;
    if (sscanf(r->raw, "HTTP/%d.%d %3d", &major, &minor, &r->status) != 3 || major != 1)
        r->status = 0;
    char *blank = strstr(r->raw, "\r\n\r\n");
    if (blank) {
        r->body = blank + 4;
        r->body_len = r->len - (size_t)(r->body - r->raw);
    }
}

/* Sends `request` on a new connection to port and reads to EOF. */
static response_t *exchange(uint16_t port, const char *request)
{
    response_t *r = test_calloc(1, sizeof *r);
    int fd = xt_connect(port);
    xt_send_all(fd, request, strlen(request)); /* a failure shows up as no response */
    r->len = xt_recv_until_eof(fd, r->raw, sizeof r->raw - 1, REPLY_MS, NULL);
    r->raw[r->len] = '\0';
    close(fd);
    parse_response(r);
    return r;
}


/* "status 302, Location \"...\", 12 body bytes: \"...\"" for messages. */
static const char *describe(const response_t *r)
{
    static char text[900];
    char location[300] = "(none)", type[100] = "(none)";
    xt_header_value(r->raw, "Location", location, sizeof location);
    xt_header_value(r->raw, "Content-Type", type, sizeof type);
    if (r->status == 0) {
        snprintf(text, sizeof text, "no HTTP/1.x status line; received %zu bytes \"%s\"", r->len,
                 xt_quote(r->raw, r->len));
        return text;
    }
    snprintf(text, sizeof text, "status %d, Content-Type %s, Location %s, %zu body bytes \"%s\"",
             r->status, type, location, r->body_len, xt_quote(r->body, r->body_len));
    return text;
}

static void get_request(char *out, size_t cap, const char *path, const char *host)
{
    snprintf(out, cap, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: xps-check\r\n\r\n", path, host);
}

/* A 200 for `path` on 8001 with exactly the file's bytes and type. */
static void expect_file(xt_proc_t *p, const char *path, const char *rel, const char *type)
{
    char want[CAP], request[512], expected[400], ct[100] = "";
    size_t len = read_fixture(p, rel, want, sizeof want);
    get_request(request, sizeof request, path, "localhost:8001");
    response_t *r = exchange(8001, request);
    xt_header_value(r->raw, "Content-Type", ct, sizeof ct);
    snprintf(expected, sizeof expected,
             "GET %s on 8001: status 200, Content-Type \"%s\", the %zu bytes of %s as the body",
             path, type, len, rel);
    bool ok = r->status == 200 && strcmp(ct, type) == 0 && r->body_len == len &&
              memcmp(r->body, want, len) == 0;
    xt_expect(ok, expected, "%s (the server %s)", describe(r),
              xt_alive(p) ? "is running" : "has exited");
    test_free(r);
}

/* `request` on port answers `status` (and Location `location`, if given). */
static void expect_answer(xt_proc_t *p, uint16_t port, const char *request, int status,
                          const char *location)
{
    char expected[600], got[300] = "";
    response_t *r = exchange(port, request);
    size_t line = strcspn(request, "\r");
    bool has = xt_header_value(r->raw, "Location", got, sizeof got);
    snprintf(expected, sizeof expected, "\"%.*s\" on %u: status %d%s%s%s", (int)line, request,
             port, status, location ? ", Location \"" : "", location ? location : "",
             location ? "\"" : "");
    xt_expect(r->status == status && (!location || (has && strcmp(got, location) == 0)), expected,
              "%s (the server %s)", describe(r), xt_alive(p) ? "is running" : "has exited");
    test_free(r);
}

/* A listening socket on 127.0.0.1:port owned by the check (a fake upstream). */
static int listen_on(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 8) != 0)
        xt_fail("cannot listen on 127.0.0.1:%u for a fake upstream: %s", port, strerror(errno));
    return fd;
}

/* Runs `bin args` to completion (bounded), in a copy of the fixture if
 * asked; returns what it printed, stdout then stderr (free it). */
static char *run_to_exit(const char *bin, const char *const *args, bool fixture, int *status)
{
    xt_start_opts_t opts = {.fixture_dir = fixture ? FIXTURE : NULL};
    return xt_run_to_exit(bin, args, &opts, STOP_MS + 2000, status);
}

/* ------------------------------------------------------------- checks */

/* The milestone of the file server: four kinds of file, exact types. */
static void serves_files_on_8001_with_exact_content_types(void **state)
{
    (void)state;
    xt_proc_t *p = start_server();
    expect_file(p, "/sample.txt", "public/sample.txt", "text/plain");
    expect_file(p, "/index.html", "public/index.html", "text/html");
    expect_file(p, "/cat.jpg", "public/cat.jpg", "image/jpeg");
    expect_file(p, "/doc.pdf", "public/doc.pdf", "application/pdf");
    expect_file(p, "/docs/notes.txt", "public/docs/notes.txt", "text/plain");
}

/* "index": ["index.html"]: the folder "/" is answered with its index. */
static void serves_the_index_file_for_the_root_folder(void **state)
{
    (void)state;
    xt_proc_t *p = start_server();
    expect_file(p, "/", "public/index.html", "text/html");
}

/* The route "/redirect" beats "/" for itself and below it, not for a
 * longer name that merely starts the same ("/redirection"). */
static void redirects_slash_redirect_with_302_on_a_segment_boundary(void **state)
{
    (void)state;
    xt_proc_t *p = start_server();
    char request[300];
    get_request(request, sizeof request, "/redirect", "localhost:8001");
    expect_answer(p, 8001, request, 302, "http://localhost:8002/");
    get_request(request, sizeof request, "/redirect/deeper", "localhost:8001");
    expect_answer(p, 8001, request, 302, "http://localhost:8002/");
    get_request(request, sizeof request, "/redirection", "localhost:8001");
    expect_answer(p, 8001, request, 404, NULL);
}

/* The response through 8002 is the upstream's, byte for byte: test-upstream
 * sends no Date, so its two answers to one request are identical. */
static void relays_the_upstream_response_unchanged_on_8002(void **state)
{
    (void)state;
    xt_require_port_free(UPSTREAM_PORT);
    xt_upstream_start(UPSTREAM_PORT, "http");
    xt_proc_t *p = start_server();
    const char *paths[] = {"/test/1", "/test/42", "/no-such-page"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        char request[300], expected[400];
        get_request(request, sizeof request, paths[i], "localhost:3000");
        response_t *direct = exchange(UPSTREAM_PORT, request);
        response_t *proxied = exchange(8002, request);
        snprintf(expected, sizeof expected,
                 "GET %s on 8002: exactly the %zu bytes test-upstream itself answers (\"%s\")",
                 paths[i], direct->len, xt_quote(direct->raw, direct->len));
        xt_expect(direct->len > 0 && proxied->len == direct->len &&
                      memcmp(proxied->raw, direct->raw, direct->len) == 0,
                  expected, "%zu bytes: \"%s\" (the server %s)", proxied->len,
                  xt_quote(proxied->raw, proxied->len), xt_alive(p) ? "is running" : "has exited");
        test_free(direct);
        test_free(proxied);
    }
}

/* test-upstream's /echo-request answers with the head it received: the
 * proxy's rewrite, seen from the upstream. */
static void forwards_host_x_forwarded_for_and_via_without_hop_by_hop_fields(void **state)
{
    (void)state;
    xt_require_port_free(UPSTREAM_PORT);
    xt_upstream_start(UPSTREAM_PORT, "http");
    xt_proc_t *p = start_server();
    response_t *r = exchange(8002, "GET /echo-request?x=1 HTTP/1.1\r\nHost: www.example.test\r\n"
                                   "Connection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\n"
                                   "X-Hop: for this connection only\r\nX-End: end to end\r\n\r\n");
    const char *seen = r->body ? r->body : "";
    char host[200] = "(none)", xff[200] = "(none)", via[200] = "(none)", v[200], end[200] = "";
    bool has_host = xt_header_value(seen, "Host", host, sizeof host);
    bool has_xff = xt_header_value(seen, "X-Forwarded-For", xff, sizeof xff);
    bool has_via = xt_header_value(seen, "Via", via, sizeof via);
    xt_header_value(seen, "X-End", end, sizeof end);
    bool hop = xt_header_value(seen, "Keep-Alive", v, sizeof v) ||
               xt_header_value(seen, "X-Hop", v, sizeof v);
    bool ok = r->status == 200 && strncmp(seen, "GET /echo-request?x=1 HTTP/1.", 29) == 0 &&
              has_host && strcmp(host, "www.example.test") == 0 && has_xff &&
              strstr(xff, "127.0.0.1") && has_via && strstr(via, "1.1 ") &&
              strcmp(end, "end to end") == 0 && !hop;
    xt_expect(ok,
              "the upstream received \"GET /echo-request?x=1\", Host \"www.example.test\" "
              "(kept), X-Forwarded-For with 127.0.0.1, Via with \"1.1 <name>\", X-End kept, "
              "and no Keep-Alive nor X-Hop line (hop-by-hop: RFC 9110 §7.6.1)",
              "status %d; the upstream saw \"%s\" (the server %s)", r->status,
              xt_quote(seen, strlen(seen)), xt_alive(p) ? "is running" : "has exited");
    test_free(r);
}

/* A chunked reply is relayed as it is: the chunk sizes, the last chunk and
 * the blank line after it, byte for byte (stage 12 relays, it does not
 * re-frame). */
static void relays_a_chunked_upstream_response_byte_for_byte(void **state)
{
    (void)state;
    xt_require_port_free(UPSTREAM_PORT);
    xt_upstream_start(UPSTREAM_PORT, "http");
    xt_proc_t *p = start_server();
    char request[300], expected[600];
    get_request(request, sizeof request, "/chunked/5", "localhost:3000");
    response_t *direct = exchange(UPSTREAM_PORT, request);
    if (!strstr(direct->raw, "chunk 5 of 5\n")) {
        test_free(direct);
        xt_fail("the test upstream does not answer GET /chunked/5 with 5 chunks: rebuild "
                "test-upstream (a harness problem)");
    }
    response_t *proxied = exchange(8002, request);
    snprintf(expected, sizeof expected,
             "GET /chunked/5 on 8002: exactly the %zu bytes test-upstream itself answers, "
             "Transfer-Encoding: chunked with its 5 chunks and the last chunk (\"%s\")",
             direct->len, xt_quote(direct->raw, direct->len));
    xt_expect(direct->len > 0 && proxied->len == direct->len &&
                  memcmp(proxied->raw, direct->raw, direct->len) == 0,
              expected, "%zu bytes: \"%s\" (the server %s)", proxied->len,
              xt_quote(proxied->raw, proxied->len), xt_server_state(p));
    test_free(direct);
    test_free(proxied);
}

/* /slow/5 sends its head and first line at once, then a line every 50 ms.
 * The client must get all of it, and get it as it comes: a proxy that
 * waited for the whole body would deliver the five lines together. */
static void relays_a_slow_upstream_response_completely_as_it_arrives(void **state)
{
    (void)state;
    xt_require_port_free(UPSTREAM_PORT);
    xt_upstream_start(UPSTREAM_PORT, "http");
    xt_reply_t want;
    xt_fetch_direct(UPSTREAM_PORT, "/slow/5", &want);
    const char *want_body = memmem(want.bytes, want.len, "\r\n\r\n", 4);
    if (!want_body || !memmem(want.bytes, want.len, "line 5 of 5\n", 12))
        xt_fail("the test upstream does not answer GET /slow/5 with 5 lines: rebuild "
                "test-upstream (a harness problem)");
    size_t head_len = (size_t)(want_body + 4 - want.bytes);
    xt_proc_t *p = start_server();

    int fd = xt_connect(8002);
    xt_send_get(fd, "/slow/5");
    char got[sizeof want.bytes];
    size_t n = 0;
    int64_t start = xt_now_ms(), first_line = -1, last_line = -1;
    bool closed = false;
    while (n < sizeof got && xt_now_ms() - start < REPLY_MS) {
        ssize_t r = xt_recv_deadline(fd, got + n, sizeof got - n,
                                     (int)(REPLY_MS - (xt_now_ms() - start)));
        if (r <= 0) {
            closed = r == 0 || r == XT_ERROR;
            break;
        }
        n += (size_t)r;
        if (first_line < 0 && n > head_len)
            first_line = xt_now_ms();
        if (n >= want.len && last_line < 0)
            last_line = xt_now_ms();
    }
    close(fd);
    char expected[400];
    snprintf(expected, sizeof expected,
             "GET /slow/5 on 8002: the %zu bytes test-upstream answers (%d lines, one every "
             "50 ms), then the connection closed within 3 s",
             want.len, SLOW_LINES);
    xt_expect(closed && n == want.len && memcmp(got, want.bytes, n) == 0, expected,
              "%zu bytes%s: \"%s\" (the server %s)", n, closed ? " then a close" : ", no close",
              xt_quote(got, n), xt_server_state(p));
    if (n == want.len && first_line >= 0 && last_line >= 0) {
        xt_expect(last_line - first_line >= SLOW_SPREAD_MS,
                  "the lines reach the client as the upstream sends them: the last arrives at "
                  "least 100 ms after the first (the upstream spreads them over 200 ms)",
                  "the last line arrived %lld ms after the first: the body was held back",
                  (long long)(last_line - first_line));
    }
}

/* Verifies body bytes [off, off + len) of /big/N against the pattern;
 * returns the offset of the first wrong byte, or -1. */
static long long big_mismatch(const unsigned char *bytes, size_t len, uint64_t off)
{
    for (size_t i = 0; i < len; i++)
        if (bytes[i] != XT_UPSTREAM_BIG_BYTE(off + i))
            return (long long)(off + i);
    return -1;
}

/* 64 MiB through the proxy: the head as the upstream sends it, then every
 * body byte checked against upstream.h's pattern as it arrives (nothing is
 * stored), then the close. Bounded: 20 s is ample on loopback. */
static void relays_64_mib_from_the_upstream_intact_within_20_s(void **state)
{
    (void)state;
    xt_require_port_free(UPSTREAM_PORT);
    xt_upstream_start(UPSTREAM_PORT, "http");
    char want_head[1024];
    int d = xt_connect(UPSTREAM_PORT);
    xt_send_get(d, "/big/64");
    size_t dn = xt_read_until(d, want_head, sizeof want_head, "\r\n\r\n", REPLY_MS);
    close(d);
    char *hend = strstr(want_head, "\r\n\r\n");
    if (dn == 0 || !hend || strncmp(want_head, "HTTP/1.1 200 ", 13) != 0)
        xt_fail("the test upstream does not answer GET /big/64 with 200: rebuild "
                "test-upstream (a harness problem)");
    size_t head_len = (size_t)(hend + 4 - want_head);
    xt_proc_t *p = start_server();

    const uint64_t total = (uint64_t)BIG_MIB * 1024 * 1024;
    static unsigned char buf[65536]; /* one recv at a time: the body is never stored */
    char head[1024];
    size_t have_head = 0;
    uint64_t body = 0;
    long long wrong = -1;
    bool head_ok = true, closed = false;
    int fd = xt_connect(8002);
    xt_send_get(fd, "/big/64");
    int64_t start = xt_now_ms();
    while (xt_now_ms() - start < BIG_MS) {
        ssize_t r = xt_recv_deadline(fd, buf, sizeof buf, (int)(BIG_MS - (xt_now_ms() - start)));
        if (r <= 0) {
            closed = r == 0 || r == XT_ERROR;
            break;
        }
        size_t at = 0;
        if (have_head < head_len) { /* the head first: compared with the direct one */
            at = (size_t)r < head_len - have_head ? (size_t)r : head_len - have_head;
            memcpy(head + have_head, buf, at);
            have_head += at;
            head_ok = head_ok && memcmp(head, want_head, have_head) == 0;
        }
        size_t len = (size_t)r - at;
        if (wrong < 0 && body + len <= total)
            wrong = big_mismatch(buf + at, len, body);
        body += len;
    }
    int64_t took = xt_now_ms() - start;
    close(fd);
    char expected[400];
    snprintf(expected, sizeof expected,
             "GET /big/64 on 8002: the upstream's %zu-byte head, then the %llu body bytes of "
             "its pattern (byte i = (i * 7 + i / 4096) & 0xff), then a close, within 20 s",
             head_len, (unsigned long long)total);
    const char *how = !head_ok || have_head < head_len ? "a different head"
                      : wrong >= 0                     ? "a wrong body byte"
                      : body != total                  ? "a body of the wrong length"
                      : !closed                        ? "no close"
                                                       : "intact";
    xt_expect(head_ok && have_head == head_len && wrong < 0 && body == total && closed, expected,
              "%s: head \"%s\", %llu body bytes, first wrong byte at %lld, %s after %lld ms "
              "(the server %s)",
              how, xt_quote(head, have_head), (unsigned long long)body, wrong,
              closed ? "closed" : "still open", (long long)took, xt_server_state(p));
}

/* GET /abort: the upstream sends a head announcing 1000000 body bytes, 1000
 * of them, then resets. The client gets exactly those bytes (none made up,
 * no error page glued on) and then its connection closes. */
static void relays_what_an_aborting_upstream_sent_then_closes(void **state)
{
    (void)state;
    xt_require_port_free(UPSTREAM_PORT);
    xt_upstream_start(UPSTREAM_PORT, "http");
    xt_reply_t want;
    xt_fetch_direct(UPSTREAM_PORT, "/abort", &want);
    xt_proc_t *p = start_server();
    int fd = xt_connect(8002);
    xt_send_get(fd, "/abort");
    char got[sizeof want.bytes];
    bool closed = false; /* EOF or reset */
    size_t n = xt_recv_until_eof(fd, got, sizeof got, REPLY_MS, &closed);
    close(fd);
    char expected[300];
    snprintf(expected, sizeof expected,
             "GET /abort on 8002: the %zu bytes the upstream sent before its reset, nothing "
             "more, then the connection closed within 3 s",
             want.len);
    xt_expect(closed && n == want.len && memcmp(got, want.bytes, n) == 0, expected,
              "%zu bytes (\"%s\"...), %s (the server %s)", n, xt_quote(got, n < 60 ? n : 60),
              closed ? "then closed" : "and the connection still open after 3 s",
              xt_server_state(p));
    xt_expect_running(p, "the server", "after its upstream reset a connection");
}

/* Nothing on 3000: the connect is refused. */
static void answers_502_when_the_upstream_is_down(void **state)
{
    (void)state;
    xt_require_port_free(UPSTREAM_PORT);
    xt_proc_t *p = start_server();
    char request[300];
    get_request(request, sizeof request, "/test/1", "localhost:8002");
    expect_answer(p, 8002, request, 502, NULL);
    expect_answer(p, 8002, request, 502, NULL); /* and again: nothing was left broken */
}

/* An upstream that accepts, reads the request, and closes without a byte. */
static void answers_502_when_the_upstream_closes_without_answering(void **state)
{
    (void)state;
    xt_require_port_free(UPSTREAM_PORT);
    int lfd = listen_on(UPSTREAM_PORT);
    xt_proc_t *p = start_server();
    int fd = xt_connect(8002);
    xt_send_all(fd, "GET /test/1 HTTP/1.1\r\nHost: localhost:8002\r\n\r\n", 46);
    struct pollfd pfd = {.fd = lfd, .events = POLLIN};
    if (poll(&pfd, 1, REPLY_MS) != 1) {
        close(fd);
        close(lfd);
        xt_expect(false, "the proxy connects to 127.0.0.1:3000 for GET /test/1 on 8002",
                  "no connection within 3 s (the server %s)",
                  xt_alive(p) ? "is running" : "has exited");
        return;
    }
    int up = accept(lfd, NULL, NULL);
    char head[4096];
    xt_read_until(up, head, sizeof head, "\r\n\r\n", REPLY_MS);
    close(up); /* no response at all */
    response_t *r = test_calloc(1, sizeof *r);
    r->len = xt_recv_until_eof(fd, r->raw, sizeof r->raw - 1, REPLY_MS, NULL);
    parse_response(r);
    close(fd);
    close(lfd);
    xt_expect(r->status == 502,
              "GET /test/1 on 8002, the upstream closing without a byte of response: status 502",
              "%s (the server %s)", describe(r), xt_alive(p) ? "is running" : "has exited");
    test_free(r);
}

static void redirects_8003_to_the_course_site_and_8004_has_no_routes(void **state)
{
    (void)state;
    xt_proc_t *p = start_server();
    char request[300];
    get_request(request, sizeof request, "/", "localhost:8003");
    expect_answer(p, 8003, request, 302, "https://expserver.github.io");
    get_request(request, sizeof request, "/any/path?q=1", "localhost:8003");
    expect_answer(p, 8003, request, 302, "https://expserver.github.io");
    get_request(request, sizeof request, "/", "localhost:8004");
    expect_answer(p, 8004, request, 404, NULL);
    get_request(request, sizeof request, "/sample.txt", "localhost:8004");
    expect_answer(p, 8004, request, 404, NULL);
}

/* prefix.json: block a.test first, then a block for any Host with routes
 * "/" (files), "/api" (302) and "/api/v2/" (307). */
static void routes_by_host_and_longest_prefix(void **state)
{
    (void)state;
    static const struct {
        const char *host, *path;
        int status;
        const char *location; /* NULL: a file route answer */
    } table[] = {
        {"a.test", "/api", 302, "http://a.test/from-block-a"},
        {"A.TEST:8001", "/anything", 302, "http://a.test/from-block-a"},
        {"b.test", "/api", 302, "http://localhost/route-api"},
        {"b.test", "/api/users/7", 302, "http://localhost/route-api"},
        {"b.test", "/api/v2", 302, "http://localhost/route-api"},
        {"b.test", "/api/v2/x", 307, "http://localhost/route-api-v2"},
        {"b.test", "/apix", 404, NULL},
        {"b.test", "/ap", 404, NULL},
        {"b.test", "/sample.txt", 200, NULL},
    };
    const uint16_t port = 8001;
    xt_proc_t *p = start_with("prefix.json", &port, 1);
    char want[CAP];
    read_fixture(p, "public/sample.txt", want, sizeof want);
    for (size_t i = 0; i < sizeof table / sizeof *table; i++) {
        char request[300];
        get_request(request, sizeof request, table[i].path, table[i].host);
        expect_answer(p, port, request, table[i].status, table[i].location);
    }
}

static void answers_400_to_a_malformed_request_and_goes_on(void **state)
{
    (void)state;
    xt_proc_t *p = start_server();
    expect_answer(p, 8001, "GET /sample.txt HTTP/1.1\r\nHost localhost\r\n\r\n", 400, NULL);
    expect_answer(p, 8002, "GE@T / HTTP/1.1\r\nHost: h\r\n\r\n", 400, NULL);
    expect_file(p, "/sample.txt", "public/sample.txt", "text/plain");
}

/* A bad file is refused before anything listens, with a message that
 * names the file and, for a bad key, its JSON path. */
static void refuses_a_bad_config_naming_the_file_and_the_json_path(void **state)
{
    (void)state;
    xt_skip_in_course_layout("runs the binary on broken configurations; the course's tester "
                             "only ever gives it its xps_config.json");
    xt_require_port_free(8001);
    static const struct {
        const char *file, *must_name;
    } bad[] = {
        {"bad.json", "servers[0].routes[1].type"},
        {"missing.json", "missing.json"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int status = 0;
        const char *args[] = {bad[i].file, NULL};
        char *said = run_to_exit(xt_stage_bin(), args, true, &status);
        int probe = xt_try_connect(8001);
        if (probe >= 0)
            close(probe);
        char expected[300];
        snprintf(expected, sizeof expected,
                 "started with %s: exits with a non-zero status within 5 s, a message naming "
                 "\"%s\" and \"%s\", nothing listening on 8001",
                 bad[i].file, bad[i].file, bad[i].must_name);
        xt_expect(WIFEXITED(status) && WEXITSTATUS(status) != 0 && strstr(said, bad[i].file) &&
                      strstr(said, bad[i].must_name) && probe < 0,
                  expected, "%s, printed \"%s\"%s", xt_status_text(status),
                  xt_quote(said, strlen(said)), probe >= 0 ? ", and 8001 accepted" : "");
        free(said);
    }
}

/* curl, as a user would run it; what curl reports is what is checked. */
static void curl_sees_the_redirect_and_a_file(void **state)
{
    (void)state;
    if (access("/usr/bin/curl", X_OK) != 0)
        xt_fail("/usr/bin/curl is missing: run `make deps`");
    xt_proc_t *p = start_server();
    static const struct {
        const char *url, *want;
    } runs[] = {
        {"http://127.0.0.1:8001/redirect", "302 http://localhost:8002/"},
        {"http://127.0.0.1:8003/", "302 https://expserver.github.io/"},
        {"http://127.0.0.1:8001/sample.txt", "200 text/plain"},
        {"http://127.0.0.1:8004/", "404 "},
    };
    for (size_t i = 0; i < sizeof runs / sizeof *runs; i++) {
        const char *format = strstr(runs[i].want, "text/") ? "%{http_code} %{content_type}"
                                                            : "%{http_code} %{redirect_url}";
        const char *args[] = {"-s", "-o", "/dev/null", "--max-time", "3", "-w", format,
                              runs[i].url, NULL};
        int status = 0;
        char *said = run_to_exit("/usr/bin/curl", args, false, &status);
        char expected[300];
        snprintf(expected, sizeof expected, "curl -w '%s' %s prints \"%s\"", format, runs[i].url,
                 runs[i].want);
        xt_expect(strcmp(said, runs[i].want) == 0, expected,
                  "curl printed \"%s\" and %s (the server %s)", xt_quote(said, strlen(said)),
                  xt_status_text(status), xt_alive(p) ? "is running" : "has exited");
        free(said);
    }
}

static void exits_0_within_3_s_of_sigterm(void **state)
{
    (void)state;
    xt_proc_t *p = start_server();
    int idle = xt_connect(8001);
    xt_send_all(idle, "GET /", 5); /* a request in progress */
    int64_t sent_at = xt_now_ms();
    int status = xt_stop(p, SIGTERM, STOP_MS);
    int64_t took = xt_now_ms() - sent_at;
    close(idle);
    xt_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "the server exits with status 0 within 3 s of SIGTERM, a request half-sent",
              "%s after %lld ms", xt_status_text(status), (long long)took);
}

int main(void)
{
    const struct CMUnitTest checks[] = {
        XT_CHECK(serves_files_on_8001_with_exact_content_types),
        XT_CHECK(serves_the_index_file_for_the_root_folder),
        XT_CHECK(redirects_slash_redirect_with_302_on_a_segment_boundary),
        XT_CHECK(relays_the_upstream_response_unchanged_on_8002),
        XT_CHECK(forwards_host_x_forwarded_for_and_via_without_hop_by_hop_fields),
        XT_CHECK(relays_a_chunked_upstream_response_byte_for_byte),
        XT_CHECK(relays_a_slow_upstream_response_completely_as_it_arrives),
        XT_CHECK(relays_64_mib_from_the_upstream_intact_within_20_s),
        XT_CHECK(relays_what_an_aborting_upstream_sent_then_closes),
        XT_CHECK(answers_502_when_the_upstream_is_down),
        XT_CHECK(answers_502_when_the_upstream_closes_without_answering),
        XT_CHECK(redirects_8003_to_the_course_site_and_8004_has_no_routes),
        XT_CHECK(routes_by_host_and_longest_prefix),
        XT_CHECK(answers_400_to_a_malformed_request_and_goes_on),
        XT_CHECK(refuses_a_bad_config_naming_the_file_and_the_json_path),
        XT_CHECK(curl_sees_the_redirect_and_a_file),
        XT_CHECK(exits_0_within_3_s_of_sigterm),
    };
    return xt_run_checks("stage 12 (config-session)", checks);
}
