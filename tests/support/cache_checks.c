/*
 * tests/support/cache_checks.c — stage 20's black-box checks (the shared
 * response cache), for stage 20 and every stage after it (cache_checks.h).
 *
 * The binary under test ($XPS_STAGE_BIN) runs in a scratch copy of
 * tests/fixtures/stage-20 with cache.json: the cache in "cache" (the
 * scratch folder's), max_bytes 1 MiB, and
 *   8201 reverse_proxy to test-upstream on 127.0.0.1:3000 with "cache"
 *        (lock_timeout_ms 2000); /cache-count there is not cached;
 *   8202 the same with gzip on (gzip_min_length 0).
 * test-upstream's /cache/CC/TAG[?options] (tests/support/upstream.h) sends
 * Cache-Control: CC and a body "response K ..." where K counts the
 * upstream's /cache/ requests, so a body tells whether it came from the
 * cache (the same K) or the upstream (a new one); /cache-count says K.
 *
 * What is checked:
 *  - MISS then HIT with the same body and an Age that grows; HEAD is
 *    answered from GET's entry; keep-alive goes on after a hit;
 *  - max-age expiry: EXPIRED; with an ETag the upstream is asked with
 *    If-None-Match, its 304 refreshes the entry (the old body, then HIT);
 *    without one the stale entry is fetched again (a new body);
 *  - no-store, private and Set-Cookie responses are never stored;
 *  - a request with Authorization is not answered from an entry that does
 *    not allow it (BYPASS) and does not store; with `public` it is a HIT;
 *  - Vary: Accept-Encoding keeps one variant per value;
 *  - max_bytes: the least recently used entry is evicted, the newest kept;
 *  - 20 concurrent misses for one key make ONE upstream request;
 *  - a hit is served with the upstream gone; a response cut short by the
 *    upstream (RST mid-body) leaves no entry;
 *  - gzip: a client that did not accept gzip never gets it from a hit;
 *  - a bad "cache" key is refused at start-up with its path.
 * Every check of its own starts the binary with cache.json, so they are
 * skipped in the course's layout.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/cache_checks.h"
#include "tests/support/checks.h"
#include "tests/support/harness.h"
#include "tests/support/http_client.h"
#include "tests/support/upstream.h"

enum {
    CACHED = 8201,  /* cache.json: cached proxy to 3000 */
    GZIPPED = 8202, /* cache.json: the same with gzip */
    UPSTREAM = 3000,
};

/* The fixture of the running check (the caller's: stage 20's, or a later stage's copy). */
static const char *FIXTURE = "tests/fixtures/stage-20";

/* ------------------------------------------------------------ helpers */

/* The binary on cache.json and the upstream, both serving. */
static xt_proc_t *start_cached(xt_proc_t **upstream)
{
    xt_skip_in_course_layout("starts the binary with a config of this stage's own");
    xt_require_port_free(CACHED);
    xt_require_port_free(GZIPPED);
    *upstream = xt_upstream_start(UPSTREAM, "http");
    const char *args[] = {"cache.json", NULL};
    xt_start_opts_t opts = {.fixture_dir = FIXTURE};
    xt_proc_t *p = xt_start(xt_stage_bin(), args, &opts);
    xt_wait_port(p, CACHED, 5000);
    xt_wait_port(p, GZIPPED, 5000);
    return p;
}

/* `method` target on a new connection to port, with `extra` header lines
 * ("Name: value\r\n"..., or ""), Connection: close. test_free the result. */
static xt_response_t *ask(uint16_t port, const char *method, const char *target, const char *extra)
{
    char request[1024];
    snprintf(request, sizeof request, "%s %s HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n",
             method, target, extra);
    int fd = xt_connect(port);
    xt_response_t *r = xt_ask(fd, request, strcmp(method, "HEAD") == 0);
    close(fd);
    return r;
}

static xt_response_t *get(const char *target, const char *extra)
{
    return ask(CACHED, "GET", target, extra);
}

/* GET target on CACHED for a body larger than xt_response_t's buffer:
 * the head and the body's first bytes as get() gives them, then the rest
 * read and dropped, so that the client has the whole response before it
 * closes. (A client that closes with bytes unread resets the connection:
 * the proxy is cut off mid-response, and a response cut short is not
 * stored.) *received: the body bytes that came, against Content-Length's
 * *expected (0 without one). test_free the result. */
static xt_response_t *get_whole(const char *target, size_t *received, size_t *expected)
{
    char request[1024], length[32];
    static char rest[65536];
    snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
             target);
    int fd = xt_connect(CACHED);
    xt_response_t *r = xt_ask(fd, request, false);
    *expected = xt_header_value(r->head, "Content-Length", length, sizeof length)
                    ? strtoul(length, NULL, 10)
                    : 0;
    *received = r->body_len;
    while (*received < *expected) {
        size_t want = *expected - *received < sizeof rest ? *expected - *received : sizeof rest;
        size_t n = xt_recv_exact(fd, rest, want, XT_REPLY_MS, NULL);
        *received += n;
        if (n < want)
            break; /* EOF, error or the deadline: the caller sees the count short */
    }
    close(fd);
    return r;
}

/* X-Cache's value ("" when absent). Static buffer per slot. */
static const char *x_cache(const xt_response_t *r)
{
    static char v[4][32];
    static int slot;
    char *out = v[slot++ % 4];
    if (!xt_header_value(r->head, "X-Cache", out, sizeof v[0]))
        out[0] = '\0';
    return out;
}

/* The first line of a body: "response K for ...". */
static const char *first_line(const xt_response_t *r)
{
    static char v[4][256];
    static int slot;
    char *out = v[slot++ % 4];
    size_t n = strcspn(r->body, "\n");
    snprintf(out, sizeof v[0], "%.*s", (int)(n < 255 ? n : 255), r->body);
    return out;
}

/* How many /cache/ requests the upstream has answered. */
static long upstream_count(void)
{
    xt_response_t *r = get("/cache-count", "");
    long n = -1;
    if (r->status == 200)
        sscanf(r->body, "count %ld", &n);
    test_free(r);
    return n;
}

static long age_of(const xt_response_t *r)
{
    char v[32];
    return xt_header_value(r->head, "Age", v, sizeof v) ? strtol(v, NULL, 10) : -1;
}

/* ------------------------------------------------------------- checks */

void xt_cache_check_a_miss_then_a_hit_with_age(const char *fixture)
{
    FIXTURE = fixture;
    xt_proc_t *up, *p = start_cached(&up);
    xt_response_t *a = get("/cache/max-age=60/a", "");
    xt_response_t *b = get("/cache/max-age=60/a", "");
    xt_expect(a->status == 200 && strcmp(x_cache(a), "MISS") == 0,
              "first GET: 200, X-Cache: MISS", "%s", xt_describe_response(a));
    xt_expect(b->status == 200 && strcmp(x_cache(b), "HIT") == 0 && age_of(b) >= 0 &&
                  strcmp(first_line(a), first_line(b)) == 0,
              "second GET: 200, X-Cache: HIT, an Age, the same body",
              "%s (first: %s)", xt_describe_response(b), first_line(a));
    xt_sleep_ms(2100);
    xt_response_t *c = get("/cache/max-age=60/a", "");
    xt_expect(strcmp(x_cache(c), "HIT") == 0 && age_of(c) >= 2,
              "two seconds later: still a HIT, Age >= 2", "%s", xt_describe_response(c));
    xt_response_t *h = ask(CACHED, "HEAD", "/cache/max-age=60/a", "");
    char len[32] = "";
    xt_header_value(h->head, "Content-Length", len, sizeof len);
    xt_expect(h->status == 200 && strcmp(x_cache(h), "HIT") == 0 &&
                  strtoul(len, NULL, 10) == a->body_len,
              "HEAD: answered from GET's entry, with its Content-Length", "%s (GET's body: %zu bytes)",
              xt_describe_response(h), a->body_len);
    /* keep-alive: a hit, then another request on the same connection */
    int fd = xt_connect(CACHED);
    xt_response_t *k1 = xt_ask(fd, "GET /cache/max-age=60/a HTTP/1.1\r\nHost: x\r\n\r\n", false);
    xt_response_t *k2 = xt_ask(fd, "GET /cache/max-age=60/k HTTP/1.1\r\nHost: x\r\n\r\n", false);
    xt_response_t *k3 = xt_ask(fd, "GET /cache/max-age=60/k HTTP/1.1\r\nHost: x\r\n\r\n", false);
    close(fd);
    xt_expect(strcmp(x_cache(k1), "HIT") == 0 && strcmp(x_cache(k2), "MISS") == 0 &&
                  strcmp(x_cache(k3), "HIT") == 0,
              "one kept-alive connection: HIT, MISS, HIT", "%s / %s / %s", x_cache(k1),
              x_cache(k2), x_cache(k3));
    test_free(a), test_free(b), test_free(c), test_free(h);
    test_free(k1), test_free(k2), test_free(k3);
    xt_expect_running(p, "the server", "after cached requests");
}

void xt_cache_check_an_expired_entry_is_revalidated(const char *fixture)
{
    FIXTURE = fixture;
    xt_proc_t *up, *p = start_cached(&up);
    xt_response_t *a = get("/cache/max-age=2/e?etag", "");
    xt_response_t *n1 = get("/cache/max-age=2/n", "");
    xt_sleep_ms(3100);
    long before = upstream_count();
    xt_response_t *b = get("/cache/max-age=2/e?etag", "");
    long after = upstream_count();
    char refreshed[32] = "";
    xt_expect(strcmp(x_cache(b), "EXPIRED") == 0 && strcmp(first_line(a), first_line(b)) == 0 &&
                  xt_header_value(b->head, "X-Refreshed", refreshed, sizeof refreshed) &&
                  after == before + 1,
              "stale with an ETag: X-Cache: EXPIRED, the upstream asked once (its 304 "
              "refreshes), the stored body served",
              "%s (first: %s; upstream requests %ld -> %ld)", xt_describe_response(b),
              first_line(a), before, after);
    xt_response_t *c = get("/cache/max-age=2/e?etag", "");
    xt_expect(strcmp(x_cache(c), "HIT") == 0 && strcmp(first_line(a), first_line(c)) == 0,
              "right after the 304: a HIT again", "%s", xt_describe_response(c));
    xt_response_t *n2 = get("/cache/max-age=2/n", "");
    xt_expect(strcmp(x_cache(n2), "EXPIRED") == 0 && strcmp(first_line(n1), first_line(n2)) != 0,
              "stale without a validator: EXPIRED, fetched again (a new body)",
              "%s (first: %s)", xt_describe_response(n2), first_line(n1));
    test_free(a), test_free(b), test_free(c), test_free(n1), test_free(n2);
    xt_expect_running(p, "the server", "after revalidations");
}

void xt_cache_check_uncacheable_responses_are_never_stored(const char *fixture)
{
    FIXTURE = fixture;
    xt_proc_t *up, *p = start_cached(&up);
    const char *targets[] = {"/cache/no-store/s", "/cache/private,max-age=60/s",
                             "/cache/max-age=60/s?cookie"};
    for (size_t i = 0; i < 3; i++) {
        xt_response_t *a = get(targets[i], ""), *b = get(targets[i], "");
        xt_expect(a->status == 200 && b->status == 200 && strcmp(x_cache(b), "HIT") != 0 &&
                      strcmp(first_line(a), first_line(b)) != 0,
                  "never stored: both answers from the upstream", "%s: %s, then %s", targets[i],
                  first_line(a), xt_describe_response(b));
        test_free(a), test_free(b);
    }
    xt_expect_running(p, "the server", "after uncacheable responses");
}

void xt_cache_check_authorization_is_not_answered_from_a_shared_entry(const char *fixture)
{
    FIXTURE = fixture;
    xt_proc_t *up, *p = start_cached(&up);
    xt_response_t *a = get("/cache/max-age=60/z", "");
    xt_response_t *b = get("/cache/max-age=60/z", "Authorization: Basic dTpw\r\n");
    xt_expect(strcmp(x_cache(b), "BYPASS") == 0 && strcmp(first_line(a), first_line(b)) != 0,
              "Authorization, entry without public/s-maxage: BYPASS, from the upstream",
              "%s (stored: %s)", xt_describe_response(b), first_line(a));
    xt_response_t *c = get("/cache/max-age=60/w", "Authorization: Basic dTpw\r\n");
    xt_response_t *d = get("/cache/max-age=60/w", "");
    xt_expect(strcmp(x_cache(d), "HIT") != 0,
              "a response to a request with Authorization is not stored (RFC 9111 §3.5)", "%s",
              xt_describe_response(d));
    xt_response_t *e = get("/cache/public,max-age=60/q", "");
    xt_response_t *f = get("/cache/public,max-age=60/q", "Authorization: Basic dTpw\r\n");
    xt_expect(strcmp(x_cache(f), "HIT") == 0 && strcmp(first_line(e), first_line(f)) == 0,
              "Authorization, entry marked public: a HIT", "%s", xt_describe_response(f));
    test_free(a), test_free(b), test_free(c), test_free(d), test_free(e), test_free(f);
    xt_expect_running(p, "the server", "after requests with Authorization");
}

void xt_cache_check_vary_keeps_one_variant_per_value(const char *fixture)
{
    FIXTURE = fixture;
    xt_proc_t *up, *p = start_cached(&up);
    const char *gz = "Accept-Encoding: gzip\r\n";
    xt_response_t *a = get("/cache/max-age=60/v?vary", gz), *b = get("/cache/max-age=60/v?vary", "");
    xt_response_t *c = get("/cache/max-age=60/v?vary", gz), *d = get("/cache/max-age=60/v?vary", "");
    xt_expect(strcmp(x_cache(a), "MISS") == 0 && strcmp(x_cache(b), "MISS") == 0,
              "Vary: Accept-Encoding: one miss per value", "%s / %s", x_cache(a), x_cache(b));
    xt_expect(strcmp(x_cache(c), "HIT") == 0 && strstr(c->body, "accept-encoding=gzip") &&
                  strcmp(x_cache(d), "HIT") == 0 && strstr(d->body, "accept-encoding=-"),
              "then each value gets its own variant", "%s / %s", xt_describe_response(c),
              first_line(d));
    test_free(a), test_free(b), test_free(c), test_free(d);
    xt_expect_running(p, "the server", "after Vary");
}

void xt_cache_check_max_bytes_evicts_the_least_recently_used(const char *fixture)
{
    FIXTURE = fixture;
    xt_proc_t *up, *p = start_cached(&up);
    /* 1 MiB holds three entries of 300 KiB: the fourth evicts the oldest */
    const char *t[] = {"/cache/max-age=60/l1?kib=300", "/cache/max-age=60/l2?kib=300",
                       "/cache/max-age=60/l3?kib=300", "/cache/max-age=60/l4?kib=300"};
    /* Each read to its end: a client that leaves mid-body stores nothing */
    for (int i = 0; i < 4; i++) {
        size_t received, expected;
        xt_response_t *r = get_whole(t[i], &received, &expected);
        xt_expect(r->status == 200 && expected == 300 * 1024 && received == expected,
                  "each 300 KiB response arrives whole", "%s: status %d, %zu of %zu body bytes",
                  t[i], r->status, received, expected);
        test_free(r);
    }
    size_t received, expected;
    xt_response_t *newest = get_whole(t[3], &received, &expected);
    xt_response_t *oldest = get_whole(t[0], &received, &expected);
    xt_expect(strcmp(x_cache(newest), "HIT") == 0 && strcmp(x_cache(oldest), "MISS") == 0,
              "past max_bytes: the newest entry is a HIT, the least recently used was evicted",
              "newest %s, oldest %s", x_cache(newest), x_cache(oldest));
    test_free(newest), test_free(oldest);
    xt_expect_running(p, "the server", "after evictions");
}

void xt_cache_check_concurrent_misses_make_one_upstream_request(const char *fixture)
{
    FIXTURE = fixture;
    xt_proc_t *up, *p = start_cached(&up);
    enum { N = 20 };
    int fds[N];
    long before = upstream_count();
    static const char request[] = "GET /cache/max-age=60/c?delay HTTP/1.1\r\nHost: x\r\n"
                                  "Connection: close\r\n\r\n";
    for (int i = 0; i < N; i++) {
        fds[i] = xt_connect(CACHED);
        xt_send_all(fds[i], request, sizeof request - 1);
    }
    int same = 0;
    char first[256] = "";
    for (int i = 0; i < N; i++) {
        xt_response_t *r = xt_read_response(fds[i], false);
        if (i == 0)
            snprintf(first, sizeof first, "%s", first_line(r));
        same += r->status == 200 && strcmp(first_line(r), first) == 0;
        test_free(r);
        close(fds[i]);
    }
    long after = upstream_count();
    xt_expect(same == N && after == before + 1,
              "20 concurrent GETs of one uncached key: 20 identical answers, 1 upstream request",
              "%d of %d the same, upstream requests %ld -> %ld", same, N, before, after);
    xt_expect_running(p, "the server", "after concurrent misses");
}

void xt_cache_check_a_hit_survives_the_upstream_and_a_cut_response_is_not_stored(const char *fixture)
{
    FIXTURE = fixture;
    xt_proc_t *up, *p = start_cached(&up);
    xt_response_t *a = get("/cache/max-age=60/x?abort&kib=8", "");
    xt_response_t *b = get("/cache/max-age=60/x?abort&kib=8", "");
    xt_expect(strcmp(x_cache(b), "HIT") != 0 && strcmp(first_line(a), first_line(b)) != 0,
              "an upstream that dies mid-body leaves no entry", "%s, then %s", first_line(a),
              xt_describe_response(b));
    xt_response_t *c = get("/cache/max-age=60/y", "");
    xt_stop(up, SIGKILL, 2000);
    xt_response_t *d = get("/cache/max-age=60/y", "");
    xt_response_t *e = get("/cache/max-age=60/never-seen", "");
    xt_expect(strcmp(x_cache(d), "HIT") == 0 && strcmp(first_line(c), first_line(d)) == 0 &&
                  e->status == 502,
              "upstream killed: a stored entry is still a HIT; a miss gets 502",
              "%s; miss: %d", xt_describe_response(d), e->status);
    test_free(a), test_free(b), test_free(c), test_free(d), test_free(e);
    xt_expect_running(p, "the server", "after the upstream died");
}

void xt_cache_check_a_hit_never_sends_gzip_to_a_client_that_did_not_ask(const char *fixture)
{
    FIXTURE = fixture;
    xt_proc_t *up, *p = start_cached(&up);
    xt_response_t *a = ask(GZIPPED, "GET", "/cache/max-age=60/g?kib=4", "Accept-Encoding: gzip\r\n");
    xt_response_t *b = ask(GZIPPED, "GET", "/cache/max-age=60/g?kib=4", "");
    char enc[32] = "";
    bool gz_a = xt_header_value(a->head, "Content-Encoding", enc, sizeof enc);
    bool gz_b = xt_header_value(b->head, "Content-Encoding", enc, sizeof enc);
    xt_expect(a->status == 200 && gz_a && strcmp(x_cache(a), "MISS") == 0,
              "the miss of a gzip client: compressed on the way out", "%s",
              xt_describe_response(a));
    xt_expect(b->status == 200 && !gz_b && strcmp(x_cache(b), "HIT") == 0 &&
                  strncmp(b->body, "response ", 9) == 0 && b->body_len == 4096,
              "then a client without Accept-Encoding: a HIT in identity (the entry is the "
              "upstream's body)", "%s", xt_describe_response(b));
    test_free(a), test_free(b);
    xt_expect_running(p, "the server", "after gzip and the cache");
}

void xt_cache_check_a_bad_cache_key_is_refused_at_start(const char *fixture)
{
    FIXTURE = fixture;
    xt_skip_in_course_layout("starts the binary with a config of this stage's own");
    const char *cases[][2] = {
        {"{\"cache\": {\"max_bytes\": 5}, \"servers\": [{\"listeners\": [{\"host\": "
         "\"127.0.0.1\", \"port\": 8203}]}]}",
         "cache.max_bytes"},
        {"{\"cache\": {\"folder\": \"x\"}, \"servers\": [{\"listeners\": [{\"host\": "
         "\"127.0.0.1\", \"port\": 8203}]}]}",
         "cache.folder"},
    };
    for (size_t i = 0; i < 2; i++) {
        char path[64];
        snprintf(path, sizeof path, "/tmp/xps-stage20-bad-%d-%zu.json", (int)getpid(), i);
        FILE *f = fopen(path, "w");
        fputs(cases[i][0], f);
        fclose(f);
        const char *args[] = {path, NULL};
        int status = 0;
        char *out = xt_run_to_exit(xt_stage_bin(), args, NULL, 5000, &status);
        unlink(path);
        xt_expect(WIFEXITED(status) && WEXITSTATUS(status) == 1 && strstr(out, cases[i][1]),
                  "a bad cache key: exit 1 naming it", "%s: %s, output %s", cases[i][1],
                  xt_status_text(status), xt_quote(out, strlen(out)));
        free(out);
    }
}
