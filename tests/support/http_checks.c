/*
 * tests/support/http_checks.c — the file-server checks of stages 10 and 11
 * (see http_checks.h for what each verifies). Moved here unchanged from
 * tests/stages/stage_10.c, which stage_11.c had copied.
 */
#define _GNU_SOURCE /* memmem */
#include "tests/support/http_checks.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdarg.h>
#include <setjmp.h>
#include <cmocka.h> /* test_calloc, test_free */

enum {
    BASE_PORT = XT_HTTP_BASE_PORT,
    PORTS = XT_HTTP_PORTS,
    START_MS = 5000,  /* for the server to start listening */
    REPLY_MS = 3000,  /* for a whole response */
    STOP_MS = 3000,   /* for the server to exit after SIGTERM */
    HEAD_CAP = 8192,  /* room for a response head */
    BODY_CAP = 65536, /* room for a response body (the fixtures are small) */
    MAX_HEADERS = 32,
    PIECE = 3,        /* bytes per piece of a slowly sent request */
    PIECE_GAP_MS = 20,
    ROUNDS = 5,       /* responses per port read for the one-write check */
};

/* ------------------------------------------------------------ helpers */

/* What came back for one request. */
typedef struct response {
    int status;             /* from the status line; 0 if there was none */
    char head[HEAD_CAP];    /* the head as received, NUL-terminated */
    size_t head_len;        /* bytes of it, blank line included */
    size_t first_recv;      /* bytes in the first recv() that had any */
    char *names[MAX_HEADERS], *values[MAX_HEADERS]; /* into `fields` */
    int count;              /* header lines */
    char fields[HEAD_CAP];  /* a copy of the head, cut into names and values */
    char body[BODY_CAP];    /* the body, Content-Length bytes (or to EOF) */
    size_t body_len;
    const char *problem;    /* why the response is unreadable, or NULL */
} response_t;

static void chmod_in(xt_proc_t *p, const char *rel, mode_t mode)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", xt_workdir(p), rel);
    if (chmod(path, mode) != 0)
        xt_fail("fixture file %s: %s (a harness problem)", path, strerror(errno));
}

/* Starts the binary with no flags in a copy of the fixture, waits for all
 * four ports. The fixture's files are made world-readable whatever umask
 * copied them (the rule for what may be served). */
xt_proc_t *xt_http_start_server(const char *fixture)
{
    static const char *files[] = {"public/index.html", "public/sample.txt", "public/cat.jpg",
                                  "public/doc.pdf", "public/docs/notes.txt", "temp/file.txt"};
    for (int i = 0; i < PORTS; i++)
        xt_require_port_free((uint16_t)(BASE_PORT + i));
    xt_start_opts_t opts = {.fixture_dir = fixture};
    xt_proc_t *p = xt_start_stage(NULL, &opts);
    for (int i = 0; i < PORTS; i++)
        xt_wait_port(p, (uint16_t)(BASE_PORT + i), START_MS);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        chmod_in(p, files[i], 0644);
    return p;
}

/* The bytes of a fixture file in the server's working directory. */
size_t xt_http_read_fixture(xt_proc_t *p, const char *rel, char *buf, size_t cap)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", xt_workdir(p), rel);
    FILE *f = fopen(path, "rb");
    if (!f)
        xt_fail("cannot open fixture file %s: %s", path, strerror(errno));
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    if (n == 0 || n == cap)
        xt_fail("fixture file %s is empty or too big for the check", path);
    return n;
}

/* A header's value (names in any case), or NULL. */
static const char *header(const response_t *r, const char *name)
{
    for (int i = 0; i < r->count; i++)
        if (strcasecmp(r->names[i], name) == 0)
            return r->values[i];
    return NULL;
}

/* Cuts a copy of the head into the status and "name: value" pairs. */
static void parse_head(response_t *r)
{
    memcpy(r->fields, r->head, r->head_len + 1);
    int major = 0, minor = 0;
    if (sscanf(r->fields, "HTTP/%d.%d %3d", &major, &minor, &r->status) != 3 || major != 1)
        r->status = 0, r->problem = "no HTTP/1.x status line";
    r->count = xt_http_cut_fields(r->fields, r->names, r->values, MAX_HEADERS);
}

/* Reads one response from fd: the head (up to the blank line), then
 * Content-Length bytes of body, or everything up to EOF without it. */
static void read_response(int fd, response_t *r, bool head_only)
{
    int64_t deadline = xt_now_ms() + REPLY_MS;
    char *blank = NULL;
    while (!blank && r->head_len < sizeof r->head - 1) {
        int64_t left = deadline - xt_now_ms();
        ssize_t n = xt_recv_deadline(fd, r->head + r->head_len, sizeof r->head - 1 - r->head_len,
                                     left > 0 ? (int)left : 0);
        if (n <= 0) {
            r->problem = n == 0 ? "the connection closed before the end of the head"
                         : n == XT_TIMEOUT ? "no complete head within 3 s"
                                           : "a connection reset";
            r->head[r->head_len] = '\0';
            return;
        }
        if (r->first_recv == 0)
            r->first_recv = (size_t)n;
        r->head_len += (size_t)n;
        r->head[r->head_len] = '\0';
        blank = strstr(r->head, "\r\n\r\n");
    }
    if (!blank) {
        r->problem = "a head with no blank line";
        return;
    }
    size_t extra = r->head_len - (size_t)(blank + 4 - r->head);
    r->head_len -= extra;
    memcpy(r->body, blank + 4, extra); /* body bytes that came with the head */
    r->body_len = extra;
    r->head[r->head_len] = '\0';
    parse_head(r);
    const char *cl = header(r, "Content-Length");
    size_t want = cl ? strtoul(cl, NULL, 10) : sizeof r->body;
    if (head_only || want > sizeof r->body)
        return;
    int why = 0;
    int64_t left = deadline - xt_now_ms();
    if (r->body_len < want)
        r->body_len += xt_recv_exact(fd, r->body + r->body_len, want - r->body_len,
                                     left > 0 ? (int)left : 0, &why);
    if (cl && r->body_len < want)
        r->problem = "a body shorter than its Content-Length";
}

/* One request on a new connection to port, sent at once. */
static response_t *exchange(uint16_t port, const char *request, size_t len)
{
    response_t *r = test_calloc(1, sizeof *r);
    int fd = xt_connect(port);
    xt_send_all(fd, request, len); /* a failure shows up as no response */
    read_response(fd, r, false);
    close(fd);
    return r;
}

static response_t *get(uint16_t port, const char *request)
{
    return exchange(port, request, strlen(request));
}

/* "status 404, Content-Type ..., 28 bytes of body" or the problem. */
static const char *describe(const response_t *r)
{
    static char text[600];
    const char *type = header(r, "Content-Type"), *server = header(r, "Server");
    if (r->problem && r->status == 0) {
        snprintf(text, sizeof text, "%s; received \"%s\"", r->problem, xt_quote(r->head, r->head_len));
        return text;
    }
    snprintf(text, sizeof text, "status %d, Content-Type %s%s%s, Server %s%s%s, %zu body bytes%s%s",
             r->status, type ? "\"" : "", type ? type : "(none)", type ? "\"" : "",
             server ? "\"" : "", server ? server : "(none)", server ? "\"" : "", r->body_len,
             r->problem ? ", " : "", r->problem ? r->problem : "");
    return text;
}

/* A 200 for `path` with exactly the file's bytes and the right headers. */
static void expect_file(xt_proc_t *p, uint16_t port, const char *path, const char *type)
{
    char rel[256], want[BODY_CAP], request[512], expected[400];
    snprintf(rel, sizeof rel, "public%s", path);
    size_t len = xt_http_read_fixture(p, rel, want, sizeof want);
    snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: localhost:%u\r\n\r\n", path, port);
    response_t *r = get(port, request);
    const char *ct = header(r, "Content-Type"), *cl = header(r, "Content-Length"),
               *server = header(r, "Server");
    snprintf(expected, sizeof expected,
             "GET %s on port %u: status 200, Content-Type \"%s\", Content-Length %zu, Server "
             "\"eXpServer\", the file's %zu bytes as the body",
             path, port, type, len, len);
    bool ok = r->status == 200 && ct && strcmp(ct, type) == 0 && cl &&
              strtoul(cl, NULL, 10) == len && server && strcmp(server, "eXpServer") == 0 &&
              r->body_len == len && memcmp(r->body, want, len) == 0;
    xt_expect(ok, expected, "%s%s (the server %s)", describe(r),
              r->body_len == len && memcmp(r->body, want, len) != 0 ? ", the body differs" : "",
              xt_alive(p) ? "is running" : "has exited");
    test_free(r);
}

/* A response with `status` to a raw request; the body must not hold `secret`. */
static void expect_status(xt_proc_t *p, uint16_t port, const char *what, const char *request,
                          int status, const char *secret)
{
    char expected[400];
    response_t *r = get(port, request);
    snprintf(expected, sizeof expected, "%s (\"%s\") on port %u: status %d", what,
             xt_quote(request, strlen(request)), port, status);
    bool leaked = secret && memmem(r->body, r->body_len, secret, strlen(secret));
    xt_expect(r->status == status && !leaked, expected, "%s%s (the server %s)", describe(r),
              leaked ? ", and the body holds the secret file" : "",
              xt_alive(p) ? "is running" : "has exited");
    test_free(r);
}

int xt_http_cut_fields(char *head, char **names, char **values, int max)
{
    char *line = strstr(head, "\r\n"), *end;
    if (!line || line == head)
        return 0; /* no status line, or an empty one: no header lines either */
    int count = 0;
    for (line += 2; (end = strstr(line, "\r\n")) && end != line && count < max; line = end + 2) {
        *end = '\0';
        char *colon = strchr(line, ':');
        if (colon) {
            *colon = '\0';
            char *v = colon + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            names[count] = line;
            values[count++] = v;
        }
    }
    return count;
}

/* ------------------------------------------------------------- checks */

/* The milestone: four kinds of file, each with its exact media type. */
void xt_http_check_serves_txt_html_jpg_pdf_with_exact_content_types(const char *fixture)
{
    xt_proc_t *p = xt_http_start_server(fixture);
    expect_file(p, 8001, "/sample.txt", "text/plain");
    expect_file(p, 8002, "/index.html", "text/html");
    expect_file(p, 8003, "/cat.jpg", "image/jpeg");
    expect_file(p, 8004, "/doc.pdf", "application/pdf");
    expect_file(p, 8001, "/docs/notes.txt", "text/plain");
}

/* HTTP/1.0 needs no Host; header names match in any case (RFC 9110 §5.1). */
void xt_http_check_serves_http_1_0_without_host_and_headers_in_any_case(const char *fixture)
{
    xt_proc_t *p = xt_http_start_server(fixture);
    char want[BODY_CAP];
    size_t len = xt_http_read_fixture(p, "public/sample.txt", want, sizeof want);
    const char *requests[] = {"GET /sample.txt HTTP/1.0\r\n\r\n",
                              "GET /sample.txt HTTP/1.1\r\nhOST: localhost\r\n\r\n"};
    for (int i = 0; i < 2; i++) {
        uint16_t port = (uint16_t)(8002 + i);
        response_t *r = get(port, requests[i]);
        char expected[300];
        snprintf(expected, sizeof expected, "\"%s\" on port %u: status 200 and sample.txt",
                 xt_quote(requests[i], strlen(requests[i])), port);
        xt_expect(r->status == 200 && r->body_len == len && memcmp(r->body, want, len) == 0,
                  expected, "%s", describe(r));
        test_free(r);
    }
}

void xt_http_check_answers_404_for_a_missing_file(const char *fixture)
{
    xt_proc_t *p = xt_http_start_server(fixture);
    expect_status(p, 8002, "a missing file", "GET /no-such-file.txt HTTP/1.1\r\nHost: h\r\n\r\n",
                  404, NULL);
    expect_status(p, 8003, "a missing file in a folder",
                  "GET /docs/missing.pdf HTTP/1.1\r\nHost: h\r\n\r\n", 404, NULL);
}

/* Outside the root by "..", and a private file inside it. */
void xt_http_check_answers_403_outside_the_root_and_for_a_private_file(const char *fixture)
{
    xt_proc_t *p = xt_http_start_server(fixture);
    char path[4096];
    snprintf(path, sizeof path, "%s/public/private.txt", xt_workdir(p));
    FILE *f = fopen(path, "w");
    if (!f || fputs("PRIVATE: mode 0600\n", f) < 0 || fclose(f) != 0 || chmod(path, 0600) != 0)
        xt_fail("cannot make %s: %s (a harness problem)", path, strerror(errno));
    expect_status(p, 8004, "a path climbing out of the root",
                  "GET /../temp/file.txt HTTP/1.1\r\nHost: h\r\n\r\n", 403, "SECRET");
    expect_status(p, 8001, "a path climbing out of the root from a folder",
                  "GET /docs/../../temp/file.txt HTTP/1.1\r\nHost: h\r\n\r\n", 403, "SECRET");
    expect_status(p, 8002, "a file in the root that is not world-readable (0600)",
                  "GET /private.txt HTTP/1.1\r\nHost: h\r\n\r\n", 403, "PRIVATE");
    /* Percent-encoded dots are decoded by stage 13's rules at the latest;
     * here any refusal will do, as long as the file stays private. */
    response_t *r = get(8003, "GET /%2e%2e/temp/file.txt HTTP/1.1\r\nHost: h\r\n\r\n");
    bool leaked = memmem(r->body, r->body_len, "SECRET", 6) != NULL;
    xt_expect(r->status >= 400 && r->status < 500 && !leaked,
              "\"GET /%2e%2e/temp/file.txt\" on port 8003: a 4xx refusal, never the file "
              "outside the root",
              "%s%s", describe(r), leaked ? ", and the body holds the secret file" : "");
    test_free(r);
}

/* The seven kinds of bad request, each a 400; the server serves on after.
 * The course tester's own five are among them, as it sends them ("GOT",
 * "HTTX/2.0", "Host localhost:8001"): it wants 400 for an unknown method
 * too, where RFC 9110 §9.1 (and our stage 13) says 501. */
void xt_http_check_answers_400_for_each_malformed_request(const char *fixture)
{
    static const struct {
        const char *what, *request;
    } bad[] = {
        {"a malformed request line (one word)", "HELLO\r\nHost: h\r\n\r\n"},
        {"a malformed request line (junk after the version)",
         "GET /sample.txt HTTP/1.1 junk\r\nHost: h\r\n\r\n"},
        {"an invalid method token", "GE@T /sample.txt HTTP/1.1\r\nHost: h\r\n\r\n"},
        {"an unknown method (the course's tester: 400, not RFC 9110's 501)",
         "GOT /index.html HTTP/1.1\r\nHost: localhost:8001\r\n\r\n"},
        {"a missing version", "GET /sample.txt\r\nHost: h\r\n\r\n"},
        {"a missing version (the course tester's request)",
         "GET /index.html\r\nHost: localhost:8001\r\n\r\n"},
        {"an unknown version", "GET /sample.txt HTTP/2.0\r\nHost: h\r\n\r\n"},
        {"an unknown version", "GET /sample.txt HTTP/1.7\r\nHost: h\r\n\r\n"},
        {"a version that is not HTTP", "GET /sample.txt FTP/1.1\r\nHost: h\r\n\r\n"},
        {"a version that is not HTTP (the course tester's HTTX/2.0)",
         "GET /index.html HTTX/2.0\r\nHost: localhost:8001\r\n\r\n"},
        {"a header line without a colon", "GET /sample.txt HTTP/1.1\r\nHost h\r\n\r\n"},
        {"a header line without a colon (the course tester's)",
         "GET /index.html HTTP/1.1\r\nHost localhost:8001\r\n\r\n"},
        {"HTTP/1.1 without Host", "GET /sample.txt HTTP/1.1\r\nAccept: */*\r\n\r\n"},
        {"HTTP/1.1 without Host (the course tester's request)",
         "GET /index.html HTTP/1.1\r\n\r\n"},
    };
    xt_proc_t *p = xt_http_start_server(fixture);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_status(p, (uint16_t)(BASE_PORT + i % PORTS), bad[i].what, bad[i].request, 400, NULL);
    expect_file(p, 8001, "/sample.txt", "text/plain"); /* and it still serves */
}

/* 3 bytes every 20 ms, each piece its own segment (TCP_NODELAY): the
 * server must put the head together across many reads. */
void xt_http_check_answers_a_request_sent_in_tiny_pieces(const char *fixture)
{
    xt_proc_t *p = xt_http_start_server(fixture);
    char want[BODY_CAP];
    size_t len = xt_http_read_fixture(p, "public/sample.txt", want, sizeof want);
    const char request[] = "GET /sample.txt HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n";
    int fd = xt_connect(8004);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (size_t at = 0; at < sizeof request - 1; at += PIECE) {
        size_t n = sizeof request - 1 - at < PIECE ? sizeof request - 1 - at : PIECE;
        xt_send_all(fd, request + at, n);
        xt_sleep_ms(PIECE_GAP_MS);
    }
    response_t *r = test_calloc(1, sizeof *r);
    read_response(fd, r, false);
    close(fd);
    xt_expect(r->status == 200 && r->body_len == len && memcmp(r->body, want, len) == 0,
              "GET /sample.txt on port 8004 sent 3 bytes every 20 ms: status 200 and sample.txt",
              "%s", describe(r));
    test_free(r);
}

/* One client stops half-way through its request line; another is served
 * meanwhile; then the first finishes and is served too. */
void xt_http_check_a_stalled_client_holds_up_no_one(const char *fixture)
{
    xt_proc_t *p = xt_http_start_server(fixture);
    int slow = xt_connect(8001);
    xt_send_all(slow, "GET /sample.txt HTT", 19);
    xt_sleep_ms(100);
    expect_file(p, 8001, "/index.html", "text/html");
    xt_send_all(slow, "P/1.1\r\nHost: h\r\n\r\n", 19);
    response_t *r = test_calloc(1, sizeof *r);
    read_response(slow, r, false);
    close(slow);
    xt_expect(r->status == 200,
              "the client stalled after \"GET /sample.txt HTT\" is answered 200 once it sends the "
              "rest", "%s", describe(r));
    test_free(r);
}

/* The first recv() holds the whole head: one write (see the banner). Each
 * port is asked ROUNDS times: a server that writes line by line would have
 * to see its lines merge every time to pass. */
void xt_http_check_sends_the_status_line_and_headers_in_one_write(const char *fixture)
{
    xt_proc_t *p = xt_http_start_server(fixture);
    const char *paths[] = {"/sample.txt", "/cat.jpg", "/missing.txt", "/doc.pdf"};
    for (int round = 0; round < ROUNDS * PORTS; round++) {
        int i = round % PORTS;
        char request[256], expected[300];
        snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: h\r\n\r\n", paths[i]);
        response_t *r = get((uint16_t)(BASE_PORT + i), request);
        snprintf(expected, sizeof expected,
                 "GET %s on port %d: the first read holds the status line and every header up to "
                 "the blank line (%zu bytes), %d times per port", paths[i], BASE_PORT + i,
                 r->head_len, ROUNDS);
        xt_expect(r->head_len > 0 && r->first_recv >= r->head_len && !r->problem, expected,
                  "%zu bytes in the first read: \"%s\"%s%s (the server %s)", r->first_recv,
                  xt_quote(r->head, r->first_recv < r->head_len ? r->first_recv : r->head_len),
                  r->problem ? "; " : "", r->problem ? r->problem : "",
                  xt_alive(p) ? "is running" : "has exited");
        test_free(r);
    }
}

void xt_http_check_exits_0_within_3_s_of_sigterm(const char *fixture)
{
    xt_proc_t *p = xt_http_start_server(fixture);
    int idle = xt_connect(8002);
    xt_send_all(idle, "GET /", 5); /* a request in progress */
    int64_t sent_at = xt_now_ms();
    int status = xt_stop(p, SIGTERM, STOP_MS);
    int64_t took = xt_now_ms() - sent_at;
    close(idle);
    xt_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "the server exits with status 0 within 3 s of SIGTERM, a request half-sent",
              "%s after %lld ms", xt_status_text(status), (long long)took);
}
