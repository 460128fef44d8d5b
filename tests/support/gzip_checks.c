/*
 * tests/support/gzip_checks.c — stage 16's black-box checks (gzip), for
 * every stage that keeps its behaviour (gzip_checks.h).
 *
 * The fixture each check is given (tests/fixtures/stage-16 is one) is
 * started as `<binary> config.json` in a scratch copy; it holds stage 15's
 * servers (which the stage 13-15 checks use) and, before them:
 *
 *     8013  "/" file_serve from gz/, dir_browsing, gzip_enable, gzip_level 8
 *           (the course tester's keys), gzip_static, the default
 *           gzip_min_length (256) and types
 *     8014  "/" reverse_proxy to 127.0.0.1:3000 (test-upstream), gzip_enable
 *     8015  "/" file_serve from gz/, gzip_enable false (gzip_level 8 loads)
 *
 * gz/ holds page.html (8 KiB of HTML), tiny.txt (under 256 bytes), pic.png
 * (a type not on the list) and list/ (no index: listed). The 20 MiB file
 * and the gzip_static pair are made at check time in the scratch copy.
 * Every compressed body is read as the chunked coding (strictly) and
 * inflated here with zlib, then compared with the file's own bytes. What
 * is checked:
 *  - a file: 200, Content-Encoding gzip, Vary: Accept-Encoding, chunked
 *    (no Content-Length), a weak ETag, the file's bytes once inflated;
 *    curl --compressed gets the same bytes;
 *  - Accept-Encoding with q-values: gzip, *, x-gzip, gzip;q=0, "gzip;q=0,
 *    *", br only, identity, malformed, none — gzip or identity each, and
 *    an identity body is the file with its Content-Length;
 *  - Vary on compressed and uncompressed responses of a listed type (no
 *    Accept-Encoding, under the minimum length) and not on pic.png;
 *  - HEAD: GET's headers, no body, the connection still answers next;
 *  - Range → 206 identity (no Content-Encoding), the file's bytes;
 *  - If-None-Match with the compressed variant's weak ETag → 304 with
 *    Vary, no body;
 *  - keep-alive: two compressed responses (pipelined) on one connection,
 *    each complete, then a third request answered;
 *  - a listing compressed: inflates to the identity listing's page;
 *  - proxied: test-upstream's chunked and Content-Length bodies
 *    compressed (the strong ETag weakened), an upstream's own
 *    Content-Encoding passed on as it is (never twice);
 *  - a 20 MiB file compressed with the server's RSS growing under 3 MiB
 *    while the client has read only the start, then inflated whole;
 *  - gzip_static: file.txt.gz sent as it is (its Content-Length, its exact
 *    bytes, Vary), and when older than file.txt ignored (compressed on
 *    the fly instead); no Accept-Encoding: the file itself;
 *  - HTTP/1.0: identity with Vary, the connection as 1.0 asks;
 *  - gzip_enable false: identity, no Vary, no Content-Encoding.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <zlib.h>

#include "tests/support/gzip_checks.h"

#include "tests/support/checks.h"
#include "tests/support/hardening_checks.h"
#include "tests/support/harness.h"
#include "tests/support/http_client.h"
#include "tests/support/upstream.h"

enum {
    GZ = 8013,       /* gzip on */
    PROXY = 8014,    /* gzip proxy */
    OFF = 8015,      /* gzip_enable false */
    UPSTREAM = 3000,
};

/* The fixture of the running check (its entry point sets it). */
static const char *fixture_dir;

/* The server, as stage 13's checks start it, with gz/ public; with
 * `measured`, without ASan's quarantine (hardening_checks.h). */
static xt_proc_t *start_server_for(bool measured)
{
    xt_require_port_free(GZ);
    xt_require_port_free(PROXY);
    xt_require_port_free(OFF);
    return xt_hard_start_served(fixture_dir, "gz", measured);
}

static xt_proc_t *start_server(void)
{
    return start_server_for(false);
}

/* <scratch>/gz/<rel>. */
static const char *gz_path(xt_proc_t *p, const char *rel)
{
    static char path[8192];
    snprintf(path, sizeof path, "%s/gz/%s", xt_workdir(p), rel);
    return path;
}

/* The whole file <scratch>/gz/<rel>, malloc'd; *len its size. */
static char *slurp(xt_proc_t *p, const char *rel, size_t *len)
{
    const char *path = gz_path(p, rel);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
        xt_fail("cannot read %s: %s", path, strerror(errno));
    char *b = xt_alloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, b + got, (size_t)st.st_size - got);
        if (n <= 0)
            xt_fail("cannot read %s: %s", path, strerror(errno));
        got += (size_t)n;
    }
    close(fd);
    b[got] = '\0';
    *len = got;
    return b;
}

static void put_file(xt_proc_t *p, const char *rel, const void *bytes, size_t len)
{
    const char *path = gz_path(p, rel);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, bytes, len) != (ssize_t)len || fchmod(fd, 0644) != 0)
        xt_fail("cannot write %s: %s", path, strerror(errno));
    close(fd);
}

/* Sets the file's modification time to now + delta seconds. */
static void set_mtime(xt_proc_t *p, const char *rel, long delta)
{
    struct timeval now, tv[2];
    gettimeofday(&now, NULL);
    tv[0] = tv[1] = (struct timeval){now.tv_sec + delta, 0};
    if (utimes(gz_path(p, rel), tv) != 0)
        xt_fail("cannot set the time of %s: %s", rel, strerror(errno));
}

/* One response: its head (xt_response_t, no body read there) and its
 * body, read by its framing: chunked (decoded, strictly), Content-Length,
 * or none (HEAD, 304). `framing_ok` false when the chunked framing was
 * broken or the body ended early. */
typedef struct {
    xt_response_t *r;
    char *body;
    size_t len;
    bool chunked, framing_ok;
    char why[160];
} reply_t;

static bool header_is(const xt_response_t *r, const char *name, const char *value)
{
    char v[256];
    return xt_header_value(r->head, name, v, sizeof v) && strcasecmp(v, value) == 0;
}

static bool has_header(const xt_response_t *r, const char *name)
{
    char v[256];
    return xt_header_value(r->head, name, v, sizeof v);
}

static void append(reply_t *y, size_t *cap, const char *bytes, size_t n)
{
    if (y->len + n + 1 > *cap) {
        *cap = (y->len + n + 1) * 2;
        y->body = realloc(y->body, *cap);
        if (!y->body)
            xt_fail("out of memory");
    }
    memcpy(y->body + y->len, bytes, n);
    y->len += n;
    y->body[y->len] = '\0';
}

/* One line ending in CRLF, byte by byte (nothing after it is taken). */
static bool read_line(int fd, char *line, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap) {
        if (xt_recv_deadline(fd, line + n, 1, XT_REPLY_MS) != 1)
            return false;
        n++;
        if (n >= 2 && line[n - 2] == '\r' && line[n - 1] == '\n') {
            line[n - 2] = '\0';
            return true;
        }
    }
    return false;
}

/* Reads one chunk of the chunked coding into y; *last when it was the
 * last-chunk (then the final CRLF is read too, no trailers allowed). */
static bool read_chunk(int fd, reply_t *y, size_t *cap, bool *last)
{
    char line[64];
    if (!read_line(fd, line, sizeof line)) {
        snprintf(y->why, sizeof y->why, "no chunk size line after %zu body bytes", y->len);
        return false;
    }
    char *end = NULL;
    unsigned long size = strtoul(line, &end, 16);
    if (end == line || *end != '\0') {
        snprintf(y->why, sizeof y->why, "bad chunk size line \"%s\"", xt_quote(line, strlen(line)));
        return false;
    }
    *last = size == 0;
    char *data = xt_alloc(size + 2);
    size_t got = xt_recv_exact(fd, data, size + 2, XT_REPLY_MS, NULL);
    bool ok = got == size + 2 && data[size] == '\r' && data[size + 1] == '\n';
    if (ok)
        append(y, cap, data, size);
    else
        snprintf(y->why, sizeof y->why, "a chunk of %lu bytes cut or not ended by CRLF", size);
    free(data);
    return ok;
}

static reply_t *read_reply(int fd, bool no_body)
{
    reply_t *y = xt_alloc(sizeof *y);
    memset(y, 0, sizeof *y);
    y->r = xt_read_response(fd, true);
    y->framing_ok = y->r->status != 0;
    size_t cap = 0;
    append(y, &cap, "", 0);
    y->chunked = header_is(y->r, "Transfer-Encoding", "chunked");
    char length[32] = "";
    if (!y->framing_ok || no_body || y->r->status == 304)
        return y;
    if (y->chunked) {
        bool last = false;
        while (!last && (y->framing_ok = read_chunk(fd, y, &cap, &last)))
            ;
    } else if (xt_header_value(y->r->head, "Content-Length", length, sizeof length)) {
        size_t want = strtoul(length, NULL, 10);
        char *b = xt_alloc(want + 1);
        size_t got = xt_recv_exact(fd, b, want, XT_REPLY_MS, NULL);
        append(y, &cap, b, got);
        free(b);
        y->framing_ok = got == want;
        if (!y->framing_ok)
            snprintf(y->why, sizeof y->why, "%zu of %zu body bytes", got, want);
    }
    return y;
}

static void free_reply(reply_t *y)
{
    if (!y)
        return;
    test_free(y->r);
    free(y->body);
    free(y);
}

/* Sends "<method> <target> HTTP/1.1" with Host and `extra` header lines
 * (each ending in CRLF, may be "") and reads the answer. */
static reply_t *ask(int fd, const char *method, const char *target, const char *extra)
{
    char request[2048];
    snprintf(request, sizeof request, "%s %s HTTP/1.1\r\nHost: x\r\n%s\r\n", method, target, extra);
    xt_send_all(fd, request, strlen(request));
    return read_reply(fd, strcmp(method, "HEAD") == 0);
}

/* One GET on a fresh connection. */
static reply_t *get(uint16_t port, const char *target, const char *extra)
{
    int fd = xt_connect(port);
    reply_t *y = ask(fd, "GET", target, extra);
    close(fd);
    return y;
}

/* in[0..len) inflated as exactly one gzip member; NULL (and why) if not. */
static char *gunzip(const char *in, size_t len, size_t *out_len, char *why, size_t why_cap)
{
    size_t cap = len * 8 + 1024;
    char *out = xt_alloc(cap);
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 15 + 16) != Z_OK)
        xt_fail("inflateInit2 failed");
    z.next_in = (Bytef *)in, z.avail_in = (uInt)len;
    int rc = Z_OK;
    while (rc == Z_OK) {
        if (z.total_out == cap) {
            cap *= 2;
            out = realloc(out, cap);
        }
        z.next_out = (Bytef *)out + z.total_out, z.avail_out = (uInt)(cap - z.total_out);
        rc = inflate(&z, Z_NO_FLUSH);
        if (rc == Z_BUF_ERROR && z.avail_out == 0)
            rc = Z_OK;
    }
    *out_len = z.total_out;
    bool ok = rc == Z_STREAM_END && z.avail_in == 0;
    if (!ok)
        snprintf(why, why_cap, "inflate: %d (%s), %u bytes left after the gzip member", rc,
                 z.msg ? z.msg : "no message", z.avail_in);
    inflateEnd(&z);
    if (!ok) {
        free(out);
        return NULL;
    }
    return out;
}

/* Whether y is a compressed answer whose body inflates to want[0..len):
 * Content-Encoding gzip, Vary: Accept-Encoding, chunked, no
 * Content-Length. Observed text in why. */
static bool inflates_to(const reply_t *y, const char *want, size_t want_len, char *why, size_t cap)
{
    if (!y->framing_ok || y->r->status != 200 || !header_is(y->r, "Content-Encoding", "gzip") ||
        !header_is(y->r, "Vary", "Accept-Encoding") || !y->chunked ||
        has_header(y->r, "Content-Length")) {
        snprintf(why, cap, "%s%s%s", y->why, y->why[0] ? "; " : "", xt_describe_response(y->r));
        return false;
    }
    size_t n = 0;
    char *plain = gunzip(y->body, y->len, &n, why, cap);
    bool ok = plain && n == want_len && memcmp(plain, want, n) == 0;
    if (plain && !ok)
        snprintf(why, cap, "inflated to %zu bytes (want %zu), first difference at %zu", n,
                 want_len, xt_first_difference((const unsigned char *)plain,
                                               (const unsigned char *)want, n < want_len ? n : want_len));
    free(plain);
    return ok;
}

/* Whether y is an identity answer: the bytes want, with their
 * Content-Length, no Content-Encoding. */
static bool identity_of(const reply_t *y, const char *want, size_t want_len)
{
    char length[32] = "";
    xt_header_value(y->r->head, "Content-Length", length, sizeof length);
    return y->framing_ok && y->r->status == 200 && !has_header(y->r, "Content-Encoding") &&
           strtoul(length, NULL, 10) == want_len && y->len == want_len &&
           memcmp(y->body, want, want_len) == 0;
}

static const char ACCEPT_GZIP[] = "Accept-Encoding: gzip\r\n";

/* ------------------------------------------------------------- checks */

/* A file of a listed type, to a client that accepts gzip. */
void xt_gz_check_a_file_is_sent_compressed_and_inflates_to_its_bytes(const char *fixture)
{
    fixture_dir = fixture;
    xt_proc_t *p = start_server();
    size_t len = 0;
    char *page = slurp(p, "page.html", &len);
    reply_t *y = get(GZ, "/page.html", ACCEPT_GZIP);
    char why[600], etag[96] = "";
    xt_header_value(y->r->head, "ETag", etag, sizeof etag);
    xt_expect(inflates_to(y, page, len, why, sizeof why) && strncmp(etag, "W/\"", 3) == 0 &&
                  y->len < len / 2,
              "GET /page.html with Accept-Encoding: gzip: 200, Content-Encoding: gzip, Vary: "
              "Accept-Encoding, chunked (no Content-Length), a weak ETag, a body under half the "
              "file's size that zlib inflates to the file's bytes",
              "%s; %zu compressed bytes for %zu; ETag %s%s", why, y->len, len, etag,
              xt_server_note(p));
    free_reply(y);
    /* curl, an independent client, decodes it to the same bytes */
    const char *args[] = {"-s", "--compressed", "http://127.0.0.1:8013/page.html", NULL};
    int status = 0;
    char *out = xt_run_curl(args, &status);
    xt_expect(out && strcmp(out, page) == 0,
              "curl --compressed http://127.0.0.1:8013/page.html prints the file's bytes",
              "curl printed %zu bytes: %s", out ? strlen(out) : 0,
              out ? xt_quote(out, strlen(out)) : "nothing");
    free(out);
    free(page);
}

/* Accept-Encoding values, with q-values: gzip or identity. */
void xt_gz_check_accept_encoding_q_values_choose_the_coding(const char *fixture)
{
    fixture_dir = fixture;
    static const struct {
        const char *header; /* "" none */
        bool gzip;
    } rows[] = {
        {"Accept-Encoding: gzip\r\n", true},
        {"Accept-Encoding: deflate, gzip;q=0.5, br\r\n", true},
        {"Accept-Encoding: *\r\n", true},
        {"Accept-Encoding: x-gzip\r\n", true},
        {"Accept-Encoding: GZip;Q=1.0\r\n", true},
        {"Accept-Encoding: gzip;q=0\r\n", false},
        {"Accept-Encoding: gzip;q=0, *\r\n", false},
        {"Accept-Encoding: *;q=0\r\n", false},
        {"Accept-Encoding: br\r\n", false},
        {"Accept-Encoding: identity\r\n", false},
        {"Accept-Encoding: gzip;q=2\r\n", false},
        {"Accept-Encoding: \r\n", false},
        {"", false},
    };
    xt_proc_t *p = start_server();
    size_t len = 0;
    char *page = slurp(p, "page.html", &len);
    int fd = xt_connect(GZ); /* all on one connection: each answer is framed */
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        reply_t *y = ask(fd, "GET", "/page.html", rows[i].header);
        char why[600] = "", expected[300];
        bool ok = rows[i].gzip ? inflates_to(y, page, len, why, sizeof why)
                               : identity_of(y, page, len) &&
                                     header_is(y->r, "Vary", "Accept-Encoding");
        snprintf(expected, sizeof expected, "GET /page.html with %s: %s",
                 rows[i].header[0] ? xt_quote(rows[i].header, strlen(rows[i].header) - 2)
                                   : "no Accept-Encoding",
                 rows[i].gzip ? "gzip-coded, inflating to the file"
                              : "identity: the file's bytes, its Content-Length, Vary: "
                                "Accept-Encoding, no Content-Encoding");
        xt_expect(ok, expected, "%s%s", why[0] ? why : xt_describe_response(y->r),
                  xt_server_note(p));
        free_reply(y);
    }
    close(fd);
    free(page);
}

/* Vary on every response of a listed type, compressed or not; none on a
 * type that is not on the list. */
void xt_gz_check_vary_on_compressed_and_uncompressed_responses_of_a_listed_type(const char *fixture)
{
    fixture_dir = fixture;
    xt_proc_t *p = start_server();
    size_t tiny_len = 0, pic_len = 0;
    char *tiny = slurp(p, "tiny.txt", &tiny_len);
    char *pic = slurp(p, "pic.png", &pic_len);
    reply_t *y = get(GZ, "/tiny.txt", ACCEPT_GZIP);
    xt_expect(identity_of(y, tiny, tiny_len) && header_is(y->r, "Vary", "Accept-Encoding"),
              "GET /tiny.txt (37 bytes, under gzip_min_length 256) with Accept-Encoding: gzip: "
              "identity with its Content-Length, and Vary: Accept-Encoding",
              "%s", xt_describe_response(y->r));
    free_reply(y);
    y = get(GZ, "/pic.png", ACCEPT_GZIP);
    xt_expect(identity_of(y, pic, pic_len) && !has_header(y->r, "Vary"),
              "GET /pic.png (image/png, not on the list) with Accept-Encoding: gzip: identity, "
              "no Vary, no Content-Encoding",
              "%s", xt_describe_response(y->r));
    free_reply(y);
    y = get(GZ, "/page.html", "");
    xt_expect(y->r->status == 200 && header_is(y->r, "Vary", "Accept-Encoding") &&
                  !has_header(y->r, "Content-Encoding"),
              "GET /page.html without Accept-Encoding: identity, with Vary: Accept-Encoding "
              "(a cache must not hand it to a gzip client, nor the gzip one to this client)",
              "%s", xt_describe_response(y->r));
    free_reply(y);
    free(tiny);
    free(pic);
}

/* HEAD: the headers GET gets, no body; the connection goes on. */
void xt_gz_check_head_gets_the_headers_of_get_and_no_body(const char *fixture)
{
    fixture_dir = fixture;
    start_server();
    reply_t *g = get(GZ, "/page.html", ACCEPT_GZIP);
    int fd = xt_connect(GZ);
    reply_t *h = ask(fd, "HEAD", "/page.html", ACCEPT_GZIP);
    char ge[96] = "", he[96] = "";
    xt_header_value(g->r->head, "ETag", ge, sizeof ge);
    xt_header_value(h->r->head, "ETag", he, sizeof he);
    xt_expect(h->r->status == 200 && header_is(h->r, "Content-Encoding", "gzip") &&
                  header_is(h->r, "Vary", "Accept-Encoding") && h->chunked &&
                  !has_header(h->r, "Content-Length") && strcmp(ge, he) == 0 && ge[0],
              "HEAD /page.html with Accept-Encoding: gzip: GET's headers (Content-Encoding gzip, "
              "Vary, Transfer-Encoding chunked, the same ETag), no Content-Length",
              "GET: %s; HEAD: %s", xt_quote(g->r->head, strlen(g->r->head)),
              xt_describe_response(h->r));
    /* No body came: the next response on the connection starts right away. */
    reply_t *next = ask(fd, "GET", "/tiny.txt", "");
    xt_expect(next->r->status == 200 && next->len == 37,
              "after the HEAD, no body bytes: GET /tiny.txt on the same connection is answered "
              "with its 37 bytes",
              "%s", xt_describe_response(next->r));
    close(fd);
    free_reply(g), free_reply(h), free_reply(next);
}

/* A Range request is answered from the identity: 206, never compressed. */
void xt_gz_check_a_range_gets_206_identity(const char *fixture)
{
    fixture_dir = fixture;
    xt_proc_t *p = start_server();
    size_t len = 0;
    char *page = slurp(p, "page.html", &len);
    reply_t *y = get(GZ, "/page.html", "Accept-Encoding: gzip\r\nRange: bytes=100-199\r\n");
    char range[96] = "", expect_range[96];
    xt_header_value(y->r->head, "Content-Range", range, sizeof range);
    snprintf(expect_range, sizeof expect_range, "bytes 100-199/%zu", len);
    xt_expect(y->r->status == 206 && !has_header(y->r, "Content-Encoding") &&
                  strcmp(range, expect_range) == 0 && y->len == 100 &&
                  memcmp(y->body, page + 100, 100) == 0,
              "GET /page.html with Accept-Encoding: gzip and Range: bytes=100-199: 206 identity "
              "(no Content-Encoding), Content-Range bytes 100-199/<size>, the file's bytes 100-199",
              "%s", xt_describe_response(y->r));
    free_reply(y);
    free(page);
}

/* The compressed variant's weak ETag in If-None-Match gets 304. */
void xt_gz_check_the_weak_etag_of_the_compressed_variant_gets_304(const char *fixture)
{
    fixture_dir = fixture;
    start_server();
    reply_t *y = get(GZ, "/page.html", ACCEPT_GZIP);
    char etag[96] = "";
    xt_header_value(y->r->head, "ETag", etag, sizeof etag);
    xt_expect(header_is(y->r, "Content-Encoding", "gzip") && strncmp(etag, "W/\"", 3) == 0,
              "the compressed /page.html has a weak ETag (W/\"...\")", "%s",
              xt_describe_response(y->r));
    free_reply(y);
    char extra[256];
    snprintf(extra, sizeof extra, "Accept-Encoding: gzip\r\nIf-None-Match: %s\r\n", etag);
    int fd = xt_connect(GZ);
    y = ask(fd, "GET", "/page.html", extra);
    char again[96] = "";
    xt_header_value(y->r->head, "ETag", again, sizeof again);
    bool ok = y->r->status == 304 && header_is(y->r, "Vary", "Accept-Encoding") &&
              strcmp(again, etag) == 0 && !has_header(y->r, "Content-Encoding");
    free_reply(y);
    reply_t *next = ask(fd, "GET", "/tiny.txt", "");
    xt_expect(ok && next->r->status == 200 && next->len == 37,
              "If-None-Match: <that weak ETag>: 304 (weak comparison, RFC 9110 §13.1.2) with "
              "Vary and the same ETag, no Content-Encoding (no body to code), no body: the next "
              "request on the connection is answered",
              "304 answer ok %d; next %s", ok, xt_describe_response(next->r));
    close(fd);
    free_reply(next);
}

/* Two compressed responses, pipelined, on one kept connection. */
void xt_gz_check_two_compressed_responses_share_one_connection(const char *fixture)
{
    fixture_dir = fixture;
    xt_proc_t *p = start_server();
    size_t len = 0;
    char *page = slurp(p, "page.html", &len);
    int fd = xt_connect(GZ);
    static const char two[] = "GET /page.html HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n"
                              "GET /list/ HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n";
    xt_send_all(fd, two, sizeof two - 1);
    reply_t *a = read_reply(fd, false);
    reply_t *b = read_reply(fd, false);
    char why[600] = "", why_b[600] = "";
    bool first = inflates_to(a, page, len, why, sizeof why);
    size_t n = 0;
    char *listing = b->framing_ok && header_is(b->r, "Content-Encoding", "gzip")
                        ? gunzip(b->body, b->len, &n, why_b, sizeof why_b)
                        : NULL;
    xt_expect(first && listing && strstr(listing, "href=\"/list/alpha.txt\""),
              "two pipelined GETs with Accept-Encoding: gzip on one connection: /page.html "
              "inflates to the file, then /list/ inflates to its listing",
              "first: %s; second: %s %s", first ? "ok" : why, why_b, xt_describe_response(b->r));
    reply_t *c = ask(fd, "GET", "/tiny.txt", "");
    xt_expect(first && listing && c->r->status == 200 && c->len == 37,
              "and the connection stays: a third request is answered on it", "%s",
              xt_describe_response(c->r));
    free(listing);
    close(fd);
    free_reply(a), free_reply(b), free_reply(c);
    free(page);
}

/* A listing: compressed, inflating to the identity listing's page. */
void xt_gz_check_a_listing_is_compressed(const char *fixture)
{
    fixture_dir = fixture;
    xt_proc_t *p = start_server();
    reply_t *plain = get(GZ, "/list/", "");
    reply_t *y = get(GZ, "/list/", ACCEPT_GZIP);
    char why[600] = "";
    bool ok = plain->r->status == 200 && strstr(plain->body, "href=\"/list/beta.txt\"") &&
              inflates_to(y, plain->body, plain->len, why, sizeof why);
    xt_expect(ok && header_is(y->r, "Content-Type", "text/html"),
              "GET /list/ (no index, dir_browsing) with Accept-Encoding: gzip: Content-Type "
              "text/html, gzip-coded, chunked, inflating to the page GET /list/ gets without it",
              "%s; identity %s%s", why, xt_describe_response(plain->r), xt_server_note(p));
    free_reply(plain), free_reply(y);
}

/* The text test-upstream's /tagged and /encoded carry. */
static char *upstream_text(size_t *len)
{
    char *t = xt_alloc(XT_UPSTREAM_TEXT_LINES * 64);
    size_t n = 0;
    for (int i = 1; i <= XT_UPSTREAM_TEXT_LINES; i++)
        n += (size_t)sprintf(t + n, XT_UPSTREAM_TEXT_LINE, i);
    *len = n;
    return t;
}

/* Proxied bodies: compressed on the way (chunked or with a length);
 * already encoded: passed on as they are. */
void xt_gz_check_proxied_bodies_are_compressed_and_never_twice(const char *fixture)
{
    fixture_dir = fixture;
    xt_proc_t *p = start_server();
    xt_upstream_start(UPSTREAM, "http");
    /* chunked from the upstream */
    char want[20000];
    size_t want_len = 0;
    for (int i = 1; i <= 300; i++)
        want_len += (size_t)sprintf(want + want_len, "chunk %d of 300\n", i);
    reply_t *y = get(PROXY, "/chunked/300", ACCEPT_GZIP);
    char why[600] = "";
    xt_expect(inflates_to(y, want, want_len, why, sizeof why),
              "GET /chunked/300 through 8014 (gzip_enable, upstream chunked text/plain) with "
              "Accept-Encoding: gzip: gzip-coded, chunked, inflating to the upstream's 300 lines",
              "%s%s", why, xt_server_note(p));
    free_reply(y);
    /* with a Content-Length and a strong ETag */
    size_t text_len = 0;
    char *text = upstream_text(&text_len);
    int fd = xt_connect(PROXY);
    y = ask(fd, "GET", "/tagged", ACCEPT_GZIP);
    xt_expect(inflates_to(y, text, text_len, why, sizeof why) &&
                  header_is(y->r, "ETag", "W/\"upstream-text\""),
              "GET /tagged through 8014 (Content-Length, ETag \"upstream-text\"): gzip-coded, "
              "inflating to the text, the ETag weakened to W/\"upstream-text\"",
              "%s; %s", why, xt_describe_response(y->r));
    free_reply(y);
    /* the same request without Accept-Encoding, on the same connection */
    y = ask(fd, "GET", "/tagged", "");
    xt_expect(identity_of(y, text, text_len) && header_is(y->r, "Vary", "Accept-Encoding") &&
                  header_is(y->r, "ETag", "\"upstream-text\""),
              "GET /tagged without Accept-Encoding (the proxy's connection kept): identity with "
              "the upstream's Content-Length and strong ETag, and Vary: Accept-Encoding",
              "%s", xt_describe_response(y->r));
    free_reply(y);
    close(fd);
    /* already gzip-coded by the upstream: as it is */
    y = get(PROXY, "/encoded", ACCEPT_GZIP);
    char length[32] = "";
    xt_header_value(y->r->head, "Content-Length", length, sizeof length);
    size_t n = 0;
    char *plain = y->framing_ok ? gunzip(y->body, y->len, &n, why, sizeof why) : NULL;
    const char *ce = strcasestr(y->r->head, "Content-Encoding");
    xt_expect(y->r->status == 200 && plain && n == text_len && memcmp(plain, text, n) == 0 &&
                  !y->chunked && strtoul(length, NULL, 10) == y->len && ce &&
                  !strcasestr(ce + 1, "Content-Encoding") &&
                  header_is(y->r, "Content-Encoding", "gzip") &&
                  header_is(y->r, "ETag", "\"upstream-text\""),
              "GET /encoded through 8014 (the upstream's own Content-Encoding: gzip): passed on "
              "as it is — one Content-Encoding, its Content-Length, its strong ETag, a body that "
              "inflates once to the text (never compressed twice)",
              "%s; %s", why, xt_describe_response(y->r));
    free(plain);
    free_reply(y);
    free(text);
}

/* The line of the big file at a byte offset: fixed-length lines. */
enum { BIG_LINE = 64, BIG_BYTES = 20 << 20 };

static void big_line(size_t line, char out[BIG_LINE])
{
    static const char *words[] = {"gzip", "deflate", "window", "chunk", "pipe", "vary"};
    char text[BIG_LINE + 32];
    snprintf(text, sizeof text, "%09zu %s %s %s %s %s %s %s %s", line, words[line % 6],
             words[(line / 6) % 6], words[(line / 36) % 6], words[(line / 216) % 6],
             words[(line * 7) % 6], words[(line * 11) % 6], words[(line / 5) % 6],
             words[(line / 3) % 6]);
    memset(out, '.', BIG_LINE);
    memcpy(out, text, strlen(text) < BIG_LINE - 1 ? strlen(text) : BIG_LINE - 1);
    out[BIG_LINE - 1] = '\n';
}

/* 20 MiB compressed while the client reads slowly: the server's RSS stays
 * bounded (the body streams through zlib), and the whole inflates back. */
void xt_gz_check_a_20_mib_file_is_compressed_with_bounded_memory(const char *fixture)
{
    fixture_dir = fixture;
    xt_proc_t *p = start_server_for(true);
    {
        int fd = open(gz_path(p, "big.txt"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
            xt_fail("cannot make big.txt: %s", strerror(errno));
        static char block[BIG_LINE * 1024];
        for (size_t line = 0; line < BIG_BYTES / BIG_LINE; line += 1024) {
            for (size_t k = 0; k < 1024; k++)
                big_line(line + k, block + k * BIG_LINE);
            if (write(fd, block, sizeof block) != (ssize_t)sizeof block)
                xt_fail("cannot write big.txt: %s", strerror(errno));
        }
        fchmod(fd, 0644);
        close(fd);
    }
    /* warm-up: one compressed answer, so "before" counts a stream's memory
     * once made and freed */
    free_reply(get(GZ, "/page.html", ACCEPT_GZIP));
    long before = xt_rss_kib(xt_serving_pid(p));
    int fd = xt_connect(GZ);
    int modest = 65536;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &modest, sizeof modest);
    static const char req[] = "GET /big.txt HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n";
    xt_send_all(fd, req, sizeof req - 1);
    reply_t *y = xt_alloc(sizeof *y);
    memset(y, 0, sizeof *y);
    y->r = xt_read_response(fd, true);
    xt_expect(y->r->status == 200 && header_is(y->r, "Content-Encoding", "gzip") &&
                  header_is(y->r, "Transfer-Encoding", "chunked"),
              "GET /big.txt (20 MiB of text) with Accept-Encoding: gzip: 200, gzip, chunked",
              "%s%s", xt_describe_response(y->r), xt_server_note(p));
    /* The server's memory while it waits for the client to read. */
    size_t cap = 0;
    bool last = false;
    xt_sleep_ms(300); /* let the server fill what the pipe and socket take */
    long during = xt_rss_kib(xt_serving_pid(p));
    /* The rest, inflated as it comes and compared line by line. */
    z_stream z;
    memset(&z, 0, sizeof z);
    inflateInit2(&z, 15 + 16);
    static char out[1 << 16];
    char line[BIG_LINE];
    size_t plain = 0, bad_at = (size_t)-1, cur_line = (size_t)-1;
    int rc = Z_OK;
    int64_t start = xt_now_ms();
    while (!last && rc != Z_STREAM_END && xt_now_ms() - start < 40000) {
        y->len = 0;
        if (!(y->framing_ok = read_chunk(fd, y, &cap, &last)))
            break;
        z.next_in = (Bytef *)y->body, z.avail_in = (uInt)y->len;
        do {
            z.next_out = (Bytef *)out, z.avail_out = sizeof out;
            rc = inflate(&z, Z_NO_FLUSH);
            size_t got = sizeof out - z.avail_out;
            for (size_t k = 0; k < got && bad_at == (size_t)-1; k++) {
                size_t at = plain + k;
                if (at / BIG_LINE != cur_line)
                    big_line(cur_line = at / BIG_LINE, line);
                if (out[k] != line[at % BIG_LINE])
                    bad_at = at;
            }
            plain += got;
        } while (z.avail_in > 0 && rc == Z_OK);
    }
    if (!last && y->framing_ok && rc == Z_STREAM_END) /* the last-chunk follows */
        read_chunk(fd, y, &cap, &last);
    inflateEnd(&z);
    close(fd);
    xt_expect(rc == Z_STREAM_END && last && plain == BIG_BYTES && bad_at == (size_t)-1,
              "the whole body, chunk by chunk, inflates to the 20 MiB file, then the last-chunk",
              "inflate %d, %zu bytes back, first wrong byte %zd, last-chunk %d; %s%s", rc, plain,
              bad_at == (size_t)-1 ? (ssize_t)-1 : (ssize_t)bad_at, last, y->why,
              xt_server_note(p));
    xt_expect(before > 0 && during > 0 && during - before < 3 * 1024,
              "while the client had read only the head, the server's RSS grew by under 3 MiB "
              "(the 20 MiB file streams through zlib a piece at a time)",
              "RSS %ld KiB before, %ld KiB during (+%ld KiB)", before, during, during - before);
    free_reply(y);
}

/* gzip_static: file.txt.gz beside file.txt, as it is; older: ignored. */
void xt_gz_check_gzip_static_sends_a_fresher_gz_as_it_is_and_ignores_an_older_one(const char *fixture)
{
    fixture_dir = fixture;
    xt_proc_t *p = start_server();
    /* The text, and its .gz made here at level 9 with a name in its header
     * (so its bytes differ from anything the server would produce). */
    char text[12000];
    size_t text_len = 0;
    for (int i = 1; i <= 200; i++)
        text_len += (size_t)sprintf(text + text_len, "static line %d: precompressed once\n", i);
    put_file(p, "static.txt", text, text_len);
    unsigned char gz[16000];
    z_stream z;
    memset(&z, 0, sizeof z);
    deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY);
    gz_header h;
    memset(&h, 0, sizeof h);
    h.name = (Bytef *)"static.txt";
    deflateSetHeader(&z, &h);
    z.next_in = (Bytef *)text, z.avail_in = (uInt)text_len;
    z.next_out = gz, z.avail_out = sizeof gz;
    deflate(&z, Z_FINISH);
    size_t gz_len = z.total_out;
    deflateEnd(&z);
    put_file(p, "static.txt.gz", gz, gz_len);
    set_mtime(p, "static.txt", -100);
    set_mtime(p, "static.txt.gz", -50); /* newer than the file */
    reply_t *y = get(GZ, "/static.txt", ACCEPT_GZIP);
    char length[32] = "";
    xt_header_value(y->r->head, "Content-Length", length, sizeof length);
    xt_expect(y->r->status == 200 && header_is(y->r, "Content-Encoding", "gzip") &&
                  header_is(y->r, "Vary", "Accept-Encoding") &&
                  header_is(y->r, "Content-Type", "text/plain") && !y->chunked &&
                  strtoul(length, NULL, 10) == gz_len && y->len == gz_len &&
                  memcmp(y->body, gz, gz_len) == 0,
              "GET /static.txt with Accept-Encoding: gzip, static.txt.gz newer beside it: "
              "Content-Encoding gzip, Content-Type text/plain, Vary, the .gz's own "
              "Content-Length, and exactly the .gz's bytes",
              "%zu-byte .gz; %s", gz_len, xt_describe_response(y->r));
    free_reply(y);
    y = get(GZ, "/static.txt", "");
    xt_expect(identity_of(y, text, text_len) && header_is(y->r, "Vary", "Accept-Encoding"),
              "without Accept-Encoding: the file itself, with Vary", "%s",
              xt_describe_response(y->r));
    free_reply(y);
    set_mtime(p, "static.txt.gz", -200); /* now older than the file */
    y = get(GZ, "/static.txt", ACCEPT_GZIP);
    char why[600] = "";
    bool fly = inflates_to(y, text, text_len, why, sizeof why);
    xt_expect(fly && !(y->len == gz_len && memcmp(y->body, gz, gz_len) == 0),
              "once static.txt.gz is older than static.txt it is ignored: the file is "
              "compressed on the fly (chunked), inflating to static.txt, not the .gz's bytes",
              "%s", why);
    free_reply(y);
}

/* An HTTP/1.0 client gets identity (with Vary). */
void xt_gz_check_an_http_1_0_client_gets_identity(const char *fixture)
{
    fixture_dir = fixture;
    xt_proc_t *p = start_server();
    size_t len = 0;
    char *page = slurp(p, "page.html", &len);
    int fd = xt_connect(GZ);
    static const char req[] = "GET /page.html HTTP/1.0\r\nAccept-Encoding: gzip\r\n\r\n";
    xt_send_all(fd, req, sizeof req - 1);
    reply_t *y = read_reply(fd, false);
    xt_expect(identity_of(y, page, len) && header_is(y->r, "Vary", "Accept-Encoding"),
              "GET /page.html HTTP/1.0 with Accept-Encoding: gzip: identity (1.0 has no "
              "chunked coding), its Content-Length, Vary: Accept-Encoding",
              "%s", xt_describe_response(y->r));
    close(fd);
    free_reply(y);
    free(page);
}

/* gzip_enable false: nothing changes. */
void xt_gz_check_gzip_enable_false_is_identity_without_vary(const char *fixture)
{
    fixture_dir = fixture;
    xt_proc_t *p = start_server();
    size_t len = 0;
    char *page = slurp(p, "page.html", &len);
    reply_t *y = get(OFF, "/page.html", ACCEPT_GZIP);
    xt_expect(identity_of(y, page, len) && !has_header(y->r, "Vary"),
              "GET /page.html on 8015 (gzip_enable false, gzip_level 8) with Accept-Encoding: "
              "gzip: identity, its Content-Length, no Vary, no Content-Encoding",
              "%s", xt_describe_response(y->r));
    free_reply(y);
    y = get(OFF, "/list/", ACCEPT_GZIP);
    xt_expect(y->r->status == 200 && !has_header(y->r, "Content-Encoding") &&
                  !has_header(y->r, "Vary") && strstr(y->body, "alpha.txt"),
              "GET /list/ on 8015: the listing as it is, no Vary", "%s",
              xt_describe_response(y->r));
    free_reply(y);
    free(page);
}

