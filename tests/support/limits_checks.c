/*
 * tests/support/limits_checks.c — stage 18's black-box checks (rate limits,
 * timeouts and limits), for every stage that keeps its behaviour
 * (limits_checks.h).
 *
 * The binary under test ($XPS_STAGE_BIN) runs in a scratch copy of
 * tests/fixtures/stage-18, with one of its configs as its one argument:
 *
 *   config.json  stage 15's config exactly, without "timeouts" or
 *                "limits": stage 18's DEFAULTS guard it, and every stage
 *                15, 14 and 13 check runs again on it (below) — the
 *                defaults must not cut any of them short;
 *   tight.json   timeouts of 1 s each, max_header_bytes 4096,
 *                max_body_bytes 1024, max_connections 3000:
 *                  8101 files, with rate_limit on /a.txt and /b.txt
 *                       ({rate 2, burst 3}) and /digits.txt ({0.2, 1});
 *                  8102 reverse_proxy to 127.0.0.1:3000 (the check plays
 *                       the upstream: silent, or stalling);
 *                  8103 reverse_proxy to 127.0.0.1:3001 (a listener whose
 *                       backlog the check has filled: it never accepts);
 *   cap.json     max_connections 4, files on 8101.
 *
 * What is checked:
 *  - 429 after the burst, with the Retry-After the bucket implies (1 s at
 *    2/s; 5 s at 0.2/s), and the bucket refills at its rate;
 *  - buckets are per address (127.0.0.2 still served) and per route;
 *  - a spray of 22,000 source addresses with --max-buckets 1000 does not
 *    grow the server's RSS by 1 MiB (22,000 buckets would be over 2 MiB);
 *  - a slow head (a slowloris) gets 408 at header_read_ms, and so does a
 *    connection that sends nothing; the connection closes after it;
 *  - a kept-alive connection left idle is closed quietly at keepalive_ms;
 *  - a client that stops reading a big file is closed at send_ms while
 *    another client is served at once;
 *  - 504 for an upstream that accepts and never answers, and for one that
 *    never accepts (connect timeout); after the first byte, a stall
 *    closes both the client's and the upstream's connection;
 *  - max_connections: the fifth connection is closed at once, unanswered,
 *    while the four open ones are served, and a place freed is reused;
 *  - 431 for a head over max_header_bytes; 413 for a declared body over
 *    max_body_bytes (file and proxy routes; the upstream is not
 *    contacted) and for a chunked body that grows past it (the upstream
 *    never sees the body end);
 *  - 1,000 slow connections at once: a normal client keeps being served
 *    (every request under 250 ms) and all 1,000 get 408 within a bound.
 * Each starts the binary with a config of its own, so they are skipped in
 * the course's layout. (config.json is for the stage's reruns of stages
 * 15, 14 and 13.) A check that measures the server (its descriptors, its
 * RSS) measures xt_serving_pid: stage 21's one worker.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/checks.h"
#include "tests/support/limits_checks.h"
#include "tests/support/harness.h"
#include "tests/support/http_client.h"

enum {
    FILES = 8101,     /* tight.json / cap.json: files */
    PROXY = 8102,     /* tight.json: to 3000 */
    BLACKHOLE = 8103, /* tight.json: to 3001, which never accepts */
    UPSTREAM = 3000,
    FULL = 3001,
    TIMEOUT_MS = 1000, /* every timeout of tight.json */
};

/* The fixture of the running check (the caller's: stage 18's, or a later stage's copy). */
static const char *FIXTURE = "tests/fixtures/stage-18";

/* ------------------------------------------------------------ helpers */

static int make_public(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)ftw;
    chmod(path, type == FTW_D ? 0755 : (st->st_mode & 07777) | 0444);
    return 0;
}

/* The binary with `config` (and extra leading args), in a copy of the
 * fixture; waits for `port`. `measured`: ASan's quarantine off, as in
 * stage 15's memory check, so freed memory does not count as RSS. */
static xt_proc_t *start_with(const char *const *args, uint16_t port, bool measured)
{
    xt_skip_in_course_layout("starts the binary with a config of this stage's own");
    xt_require_port_free(port);
    const char *asan = getenv("ASAN_OPTIONS");
    char *saved = asan ? strdup(asan) : NULL;
    if (measured) {
        char opts[512];
        snprintf(opts, sizeof opts, "%s%squarantine_size_mb=0", asan ? asan : "",
                 asan && *asan ? ":" : "");
        setenv("ASAN_OPTIONS", opts, 1);
    }
    xt_start_opts_t opts = {.fixture_dir = FIXTURE};
    xt_proc_t *p = xt_start(xt_stage_bin(), args, &opts);
    if (measured)
        saved ? setenv("ASAN_OPTIONS", saved, 1) : unsetenv("ASAN_OPTIONS");
    free(saved);
    xt_wait_port(p, port, 5000);
    char public[4096];
    snprintf(public, sizeof public, "%s/public", xt_workdir(p));
    nftw(public, make_public, 16, FTW_PHYS);
    return p;
}

static xt_proc_t *start_tight(void)
{
    const char *args[] = {"tight.json", NULL};
    xt_proc_t *p = start_with(args, FILES, false);
    xt_wait_port(p, PROXY, 5000);
    xt_wait_port(p, BLACKHOLE, 5000);
    return p;
}

/* GET target on fd (kept open), HTTP/1.1. */
static xt_response_t *get_on(int fd, const char *target)
{
    char request[512];
    snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", target);
    return xt_ask(fd, request, false);
}

static int get_status_from(const char *source, const char *target, char *retry, size_t cap)
{
    int fd = source ? xt_connect_from(source, FILES) : xt_connect(FILES);
    xt_response_t *r = get_on(fd, target);
    close(fd);
    int status = r->status;
    if (retry && !xt_header_value(r->head, "Retry-After", retry, cap))
        retry[0] = '\0';
    test_free(r);
    return status;
}

/* A listening socket on 127.0.0.1:port with `backlog`, never accepted
 * from unless the check does. */
static int listen_on(uint16_t port, int backlog)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, backlog) != 0)
        xt_fail("cannot listen on 127.0.0.1:%u: %s", port, strerror(errno));
    return fd;
}

/* accept() within ms, or -1. */
static int accept_within(int lfd, int ms)
{
    struct pollfd p = {lfd, POLLIN, 0};
    if (poll(&p, 1, ms) != 1)
        return -1;
    return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
}

/* Reads what comes until EOF, an error or ms; returns bytes read into buf
 * (NUL-terminated) and sets *ended (EOF or reset) and *took_ms. */
static size_t read_to_end(int fd, char *buf, size_t cap, int ms, bool *ended, int64_t *took_ms)
{
    int64_t start = xt_now_ms();
    size_t n = 0;
    *ended = false;
    while (xt_now_ms() - start < ms) {
        ssize_t got = xt_recv_deadline(fd, buf + n, cap - 1 - n, (int)(ms - (xt_now_ms() - start)));
        if (got == 0 || got == XT_ERROR) {
            *ended = true;
            break;
        }
        if (got == XT_TIMEOUT)
            break;
        n += (size_t)got;
        if (n == cap - 1)
            n = 0; /* keep reading; only the end matters to the callers that fill it */
    }
    buf[n] = '\0';
    *took_ms = xt_now_ms() - start;
    return n;
}

/* ---------------------------------------------------------- rate limit */

void xt_limits_check_rate_limit_answers_429_after_the_burst_with_retry_after(const char *fixture)
{
    FIXTURE = fixture;
    start_tight();
    char retry[32];
    for (int i = 0; i < 3; i++) {
        int st = get_status_from(NULL, "/a.txt", NULL, 0);
        xt_expect(st == 200, "/a.txt (rate 2/s, burst 3): each of the 3 of the burst gets 200",
                  "request %d: status %d", i + 1, st);
    }
    int st = get_status_from(NULL, "/a.txt", retry, sizeof retry);
    xt_expect(st == 429 && strcmp(retry, "1") == 0,
              "the 4th request at once gets 429 with Retry-After: 1 (a token in 0.5 s, rounded up)",
              "status %d, Retry-After \"%s\"", st, retry);
    st = get_status_from(NULL, "/digits.txt", NULL, 0);
    int st2 = get_status_from(NULL, "/digits.txt", retry, sizeof retry);
    xt_expect(st == 200 && st2 == 429 && strcmp(retry, "5") == 0,
              "/digits.txt (0.2/s, burst 1): 200, then 429 with Retry-After: 5",
              "statuses %d, %d, Retry-After \"%s\"", st, st2, retry);
    /* The same connection goes on after a 429 (it is a reply like any other). */
    int fd = xt_connect(FILES);
    xt_response_t *r = get_on(fd, "/a.txt");
    xt_response_t *r2 = get_on(fd, "/index.html");
    xt_expect(r->status == 429 && r2->status == 200,
              "a kept connection is served after its 429 (an unlimited route)", "%d then %d",
              r->status, r2->status);
    test_free(r);
    test_free(r2);
    close(fd);
}

void xt_limits_check_buckets_refill_at_their_rate(const char *fixture)
{
    FIXTURE = fixture;
    start_tight();
    for (int i = 0; i < 3; i++)
        get_status_from(NULL, "/a.txt", NULL, 0);
    int empty = get_status_from(NULL, "/a.txt", NULL, 0);
    xt_sleep_ms(600); /* 2/s: one token after 500 ms */
    int one = get_status_from(NULL, "/a.txt", NULL, 0);
    int none = get_status_from(NULL, "/a.txt", NULL, 0);
    xt_expect(empty == 429 && one == 200 && none == 429,
              "empty (429), 600 ms later one token (200), then empty again (429)",
              "%d, %d, %d", empty, one, none);
    xt_sleep_ms(1600); /* 3 tokens after 1.5 s: the burst again */
    int burst[4];
    for (int i = 0; i < 4; i++)
        burst[i] = get_status_from(NULL, "/a.txt", NULL, 0);
    xt_expect(burst[0] == 200 && burst[1] == 200 && burst[2] == 200 && burst[3] == 429,
              "1.6 s idle refills the whole burst (3 x 200) and no more (then 429)",
              "%d %d %d %d", burst[0], burst[1], burst[2], burst[3]);
}

void xt_limits_check_buckets_are_per_address_and_per_route(const char *fixture)
{
    FIXTURE = fixture;
    start_tight();
    for (int i = 0; i < 3; i++)
        get_status_from("127.0.0.1", "/a.txt", NULL, 0);
    int mine = get_status_from("127.0.0.1", "/a.txt", NULL, 0);
    int other_addr = get_status_from("127.0.0.2", "/a.txt", NULL, 0);
    int other_route = get_status_from("127.0.0.1", "/b.txt", NULL, 0);
    int unlimited = get_status_from("127.0.0.1", "/index.html", NULL, 0);
    xt_expect(mine == 429 && other_addr == 200 && other_route == 200 && unlimited == 200,
              "127.0.0.1 emptied /a.txt (429); 127.0.0.2 on /a.txt, 127.0.0.1 on /b.txt "
              "(another route with the same rule) and on / are still served (200)",
              "%d; %d, %d, %d", mine, other_addr, other_route, unlimited);
}

/* One request from `source`, the response read to the server's close. */
static void one_request_from(const char *source)
{
    int fd = xt_connect_from(source, FILES);
    static const char req[] = "GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    char buf[1024];
    if (!xt_send_all(fd, req, sizeof req - 1))
        xt_fail("send from %s: %s", source, strerror(errno));
    bool eof = false;
    xt_recv_until_eof(fd, buf, sizeof buf, 3000, &eof);
    close(fd);
}

void xt_limits_check_a_spray_of_addresses_stays_within_the_bucket_cap(const char *fixture)
{
    FIXTURE = fixture;
    const char *args[] = {"--max-buckets", "1000", "tight.json", NULL};
    xt_proc_t *p = start_with(args, FILES, true);
    char source[32];
    /* Warm up: the table full (2,000 addresses > the cap) and the
     * allocator used to sessions; then measure. */
    for (int i = 0; i < 2000; i++) {
        snprintf(source, sizeof source, "127.1.%d.%d", i / 250, 1 + i % 250);
        one_request_from(source);
    }
    long before = xt_rss_kib(xt_serving_pid(p));
    for (int i = 0; i < 20000; i++) {
        snprintf(source, sizeof source, "127.2.%d.%d", i / 250, 1 + i % 250);
        one_request_from(source);
    }
    long after = xt_rss_kib(xt_serving_pid(p));
    xt_expect(before > 0 && after - before < 1024,
              "20,000 more source addresses (after 2,000) on a rate-limited route, cap 1,000 "
              "buckets: RSS grows by under 1 MiB (20,000 buckets would take over 2 MiB)",
              "RSS %ld KiB -> %ld KiB (%+ld KiB)%s", before, after, after - before,
              xt_server_note(p));
    /* The newest address is still remembered: its bucket (burst 3) drains. */
    int st[4];
    for (int i = 0; i < 4; i++)
        st[i] = get_status_from("127.2.79.250", "/a.txt", NULL, 0);
    xt_expect(st[0] == 200 && st[1] == 200 && st[2] == 429 && st[3] == 429,
              "the last address of the spray keeps its bucket: 2 more tokens, then 429",
              "%d %d %d %d", st[0], st[1], st[2], st[3]);
}

/* ------------------------------------------------------------ timeouts */

void xt_limits_check_a_slow_head_gets_408_and_the_connection_closes(const char *fixture)
{
    FIXTURE = fixture;
    start_tight();
    int fd = xt_connect(FILES);
    static const char head[] = "GET /index.html HTTP/1.1\r\nHost: x\r\nX-Slow: yes\r\n";
    int64_t start = xt_now_ms();
    char buf[4096];
    size_t i = 0;
    ssize_t got = XT_TIMEOUT;
    /* One byte every 100 ms, as a slowloris does: never the blank line. */
    for (; i < sizeof head - 1 && got == XT_TIMEOUT; i++) {
        if (!xt_send_all(fd, head + i, 1))
            break;
        got = xt_recv_deadline(fd, buf, sizeof buf - 1, 100);
    }
    bool ended = false;
    int64_t took = 0;
    size_t n = got > 0 ? (size_t)got : 0;
    if (got > 0) {
        buf[n] = '\0';
        read_to_end(fd, buf + n, sizeof buf - n, 3000, &ended, &took);
    }
    int64_t at = xt_now_ms() - start;
    xt_expect(got > 0 && strncmp(buf, "HTTP/1.1 408 ", 13) == 0 && ended && at >= 900 &&
                  at < 2500,
              "a head sent a byte per 100 ms gets 408 at header_read_ms (1 s), then the close",
              "after %lld ms and %zu bytes sent: %s%s", (long long)at, i,
              got > 0 ? xt_quote(buf, strlen(buf)) : "nothing", ended ? ", closed" : ", open");
    close(fd);
    /* Nothing at all: the same 408. */
    fd = xt_connect(FILES);
    start = xt_now_ms();
    n = read_to_end(fd, buf, sizeof buf, 3000, &ended, &took);
    xt_expect(strncmp(buf, "HTTP/1.1 408 ", 13) == 0 && ended && took >= 900 && took < 2500,
              "a connection that sends nothing gets 408 after 1 s, then the close",
              "after %lld ms: %s", (long long)took, xt_quote(buf, n));
    close(fd);
}

void xt_limits_check_an_idle_kept_connection_is_closed_quietly(const char *fixture)
{
    FIXTURE = fixture;
    start_tight();
    int fd = xt_connect(FILES);
    xt_response_t *r = get_on(fd, "/index.html");
    int first = r->status;
    test_free(r);
    xt_sleep_ms(300); /* still open well before the bound: a second request works */
    r = get_on(fd, "/index.html");
    int second = r->status;
    test_free(r);
    char buf[1024];
    bool ended = false;
    int64_t took = 0;
    size_t n = read_to_end(fd, buf, sizeof buf, 4000, &ended, &took);
    xt_expect(first == 200 && second == 200 && ended && n == 0 && took >= 900 && took < 2500,
              "a kept connection idle after its response is closed at keepalive_ms (1 s), "
              "without a byte",
              "statuses %d, %d; then %s after %lld ms with %zu bytes %s", first, second,
              ended ? "closed" : "still open", (long long)took, n, xt_quote(buf, n));
    close(fd);
}

void xt_limits_check_a_client_that_stops_reading_is_closed_at_send_ms(const char *fixture)
{
    FIXTURE = fixture;
    xt_proc_t *p = start_tight();
    /* 32 MiB: more than the socket buffers hold, so the server has to wait. */
    char path[4200];
    snprintf(path, sizeof path, "%s/public/big.bin", xt_workdir(p));
    int f = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f < 0 || ftruncate(f, 32 << 20) != 0 || fchmod(f, 0644) != 0)
        xt_fail("cannot make %s: %s", path, strerror(errno));
    close(f);
    /* Both files once first: the open-file cache keeps them (and their
     * folder) open, and those descriptors are not the connections'. */
    int warm = xt_connect(FILES);
    xt_response_t *head = xt_ask(warm, "HEAD /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", true);
    test_free(head);
    close(warm);
    get_status_from(NULL, "/index.html", NULL, 0); /* the other client's file, likewise */
    xt_sleep_ms(100);
    int baseline = xt_fd_count(xt_serving_pid(p));
    int lazy = xt_connect(FILES);
    int small = 4096; /* a small receive buffer: the server's sends stall sooner */
    setsockopt(lazy, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    static const char req[] = "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n";
    xt_send_all(lazy, req, sizeof req - 1);
    xt_sleep_ms(200);
    int during = xt_fd_count(xt_serving_pid(p));
    /* Another client is served at once meanwhile. */
    int64_t t0 = xt_now_ms();
    int other = get_status_from(NULL, "/index.html", NULL, 0);
    int64_t other_ms = xt_now_ms() - t0;
    int left = xt_wait_fd_count_at_most(p, baseline, 3000);
    xt_expect(other == 200 && other_ms < 250,
              "while one client reads nothing of a 32 MiB file, another is served at once",
              "status %d in %lld ms%s", other, (long long)other_ms, xt_server_note(p));
    xt_expect(during > baseline && left <= baseline,
              "the server lets go of the non-reading client's connection within 3 s "
              "(send_ms: 1 s without a byte taken)",
              "descriptors: %d before, %d while it waits, %d 3 s later%s", baseline, during,
              left, xt_server_note(p));
    close(lazy);
}

void xt_limits_check_an_upstream_that_never_answers_gets_504(const char *fixture)
{
    FIXTURE = fixture;
    start_tight();
    int up = listen_on(UPSTREAM, 16); /* accepts (the kernel does), never answers */
    int fd = xt_connect(PROXY);
    int64_t t0 = xt_now_ms();
    xt_response_t *r = xt_ask(fd, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n", false);
    int64_t took = xt_now_ms() - t0;
    xt_expect(r->status == 504 && took >= 900 && took < 2500,
              "an upstream that accepts and stays silent: 504 at upstream_read_ms (1 s)",
              "after %lld ms: %s", (long long)took, xt_describe_response(r));
    test_free(r);
    close(fd);
    close(up);
}

void xt_limits_check_an_upstream_that_never_accepts_gets_504(const char *fixture)
{
    FIXTURE = fixture;
    start_tight();
    /* A backlog of 0, filled: the kernel drops further SYNs, so the
     * server's connect stays pending. */
    int full = listen_on(FULL, 0);
    int fillers[3];
    for (int i = 0; i < 3; i++) {
        fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(FULL)};
        inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
        connect(fillers[i], (struct sockaddr *)&a, sizeof a);
    }
    xt_sleep_ms(100);
    int fd = xt_connect(BLACKHOLE);
    int64_t t0 = xt_now_ms();
    xt_response_t *r = xt_ask(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", false);
    int64_t took = xt_now_ms() - t0;
    xt_expect(r->status == 504 && took >= 900 && took < 2500,
              "an upstream whose backlog is full (it never accepts): 504 at "
              "upstream_connect_ms (1 s)",
              "after %lld ms: %s", (long long)took, xt_describe_response(r));
    test_free(r);
    close(fd);
    for (int i = 0; i < 3; i++)
        close(fillers[i]);
    close(full);
}

void xt_limits_check_a_stall_after_the_first_byte_closes_both_sides(const char *fixture)
{
    FIXTURE = fixture;
    start_tight();
    int lfd = listen_on(UPSTREAM, 16);
    int fd = xt_connect(PROXY);
    static const char req[] = "GET /stall HTTP/1.1\r\nHost: x\r\n\r\n";
    xt_send_all(fd, req, sizeof req - 1);
    int up = accept_within(lfd, 3000);
    if (up < 0)
        xt_fail("the proxy did not connect to the upstream on %d", UPSTREAM);
    char buf[4096];
    xt_read_until(up, buf, sizeof buf, "\r\n\r\n", 3000);
    static const char part[] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc";
    xt_send_all(up, part, sizeof part - 1);
    bool ended = false, up_ended = false;
    int64_t took = 0, up_took = 0;
    size_t n = read_to_end(fd, buf, sizeof buf, 4000, &ended, &took);
    char ubuf[256];
    read_to_end(up, ubuf, sizeof ubuf, 2000, &up_ended, &up_took);
    xt_expect(strstr(buf, "200 OK") && strstr(buf, "\r\n\r\nabc") && !strstr(buf, "504") &&
                  ended && took >= 900 && took < 2500,
              "the client gets the head and the 3 bytes sent, then its connection closes "
              "at upstream_read_ms (no 504: a response had begun)",
              "after %lld ms (%s): %s", (long long)took, ended ? "closed" : "open",
              xt_quote(buf, n));
    xt_expect(up_ended, "the upstream's connection is closed too", "still open");
    close(up);
    close(fd);
    close(lfd);
}

/* -------------------------------------------------------------- limits */

void xt_limits_check_max_connections_closes_the_extra_one_and_serves_the_others(const char *fixture)
{
    FIXTURE = fixture;
    const char *args[] = {"cap.json", NULL};
    xt_proc_t *p = start_with(args, FILES, false);
    int held[4];
    for (int i = 0; i < 4; i++)
        held[i] = xt_connect(FILES);
    xt_sleep_ms(200); /* all four accepted */
    int extra = xt_connect(FILES);
    xt_send_all(extra, "GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n", 37);
    char buf[512];
    bool ended = false;
    int64_t took = 0;
    size_t n = read_to_end(extra, buf, sizeof buf, 2000, &ended, &took);
    xt_expect(ended && n == 0 && took < 1000,
              "with max_connections 4 and four open, a fifth is closed at once without a byte",
              "%s after %lld ms, %zu bytes %s", ended ? "closed" : "still open",
              (long long)took, n, xt_quote(buf, n));
    close(extra);
    int ok = 0;
    for (int i = 0; i < 4; i++) {
        xt_response_t *r = get_on(held[i], "/index.html");
        ok += r->status == 200;
        test_free(r);
    }
    xt_expect(ok == 4, "the four open connections are all served", "%d of 4 got 200%s", ok,
              xt_server_note(p));
    close(held[0]);
    int status = 0;
    for (int tries = 0; tries < 20 && status != 200; tries++) {
        xt_sleep_ms(100);
        int fd = xt_connect(FILES);
        xt_send_all(fd, "GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 56);
        xt_response_t *r = xt_read_response(fd, false);
        status = r->status;
        test_free(r);
        close(fd);
    }
    xt_expect(status == 200, "once one leaves, a new connection takes its place (200)",
              "status %d", status);
    for (int i = 1; i < 4; i++)
        close(held[i]);
}

void xt_limits_check_a_head_over_max_header_bytes_gets_431(const char *fixture)
{
    FIXTURE = fixture;
    start_tight();
    char req[6000];
    int len = snprintf(req, sizeof req, "GET /index.html HTTP/1.1\r\nHost: x\r\nX-Pad: %04500d\r\n\r\n", 0);
    int fd = xt_connect(FILES);
    xt_send_all(fd, req, (size_t)len);
    xt_response_t *r = xt_read_response(fd, false);
    xt_expect(r->status == 431, "a 4.5 KiB head (max_header_bytes 4096) gets 431", "%s",
              xt_describe_response(r));
    test_free(r);
    close(fd);
    /* Just under the limit is fine. */
    len = snprintf(req, sizeof req, "GET /index.html HTTP/1.1\r\nHost: x\r\nX-Pad: %03900d\r\n\r\n", 0);
    fd = xt_connect(FILES);
    xt_send_all(fd, req, (size_t)len);
    r = xt_read_response(fd, false);
    xt_expect(r->status == 200, "a 3.9 KiB head is served", "%s", xt_describe_response(r));
    test_free(r);
    close(fd);
}

void xt_limits_check_a_body_over_max_body_bytes_gets_413_and_never_goes_up_whole(const char *fixture)
{
    FIXTURE = fixture;
    start_tight();
    int lfd = listen_on(UPSTREAM, 16);
    static const char declared[] = "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n";
    int fd = xt_connect(FILES);
    xt_send_all(fd, declared, sizeof declared - 1);
    xt_response_t *r = xt_read_response(fd, false);
    xt_expect(r->status == 413, "a file route: Content-Length 2000 (max_body_bytes 1024) -> 413",
              "%s", xt_describe_response(r));
    test_free(r);
    close(fd);
    fd = xt_connect(PROXY);
    xt_send_all(fd, declared, sizeof declared - 1);
    r = xt_read_response(fd, false);
    int up = accept_within(lfd, 300);
    xt_expect(r->status == 413 && up < 0,
              "the proxy: Content-Length 2000 -> 413 from the head, the upstream never contacted",
              "%s; upstream %s", xt_describe_response(r), up < 0 ? "not contacted" : "CONTACTED");
    test_free(r);
    if (up >= 0)
        close(up);
    close(fd);
    /* Chunked: 1000 bytes, then a chunk that takes it past 1024. */
    char body[1200];
    memset(body, 'b', sizeof body);
    fd = xt_connect(PROXY);
    static const char head[] = "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    xt_send_all(fd, head, sizeof head - 1);
    xt_send_all(fd, "3e8\r\n", 5);
    xt_send_all(fd, body, 1000);
    xt_send_all(fd, "\r\n", 2);
    up = accept_within(lfd, 3000);
    xt_sleep_ms(100);
    xt_send_all(fd, "40\r\n", 4);
    xt_send_all(fd, body, 64);
    xt_send_all(fd, "\r\n0\r\n\r\n", 7);
    r = xt_read_response(fd, false);
    static char seen[8192];
    bool ended = false;
    int64_t took = 0;
    size_t n = up >= 0 ? read_to_end(up, seen, sizeof seen, 2000, &ended, &took) : 0;
    xt_expect(r->status == 413, "a chunked body growing past 1024 bytes -> 413", "%s",
              xt_describe_response(r));
    size_t bs = 0;
    for (size_t i = 0; i < n; i++)
        bs += seen[i] == 'b';
    xt_expect(up < 0 || (ended && !strstr(seen, "\r\n0\r\n\r\n") && bs <= 1000),
              "the upstream never gets the body's end, nor the bytes past the limit, and its "
              "connection is closed",
              "%s, %zu bytes (%zu of the body): %s", ended ? "closed" : "open", n, bs,
              xt_quote(seen, n));
    test_free(r);
    if (up >= 0)
        close(up);
    close(fd);
    close(lfd);
}

/* ------------------------------------------------- 1,000 slow clients */

void xt_limits_check_a_thousand_slow_connections_do_not_stop_a_normal_client(const char *fixture)
{
    FIXTURE = fixture;
    xt_proc_t *p = start_tight();
    enum { SLOW = 1000 };
    static int slow[SLOW];
    static const char part[] = "GET /index.html HTTP/1.1\r\nHost: x\r\n";
    for (int i = 0; i < SLOW; i++) {
        slow[i] = xt_connect(FILES);
        xt_send_all(slow[i], part, sizeof part - 1);
    }
    int64_t opened = xt_now_ms();
    /* A normal client, all the while: each request answered quickly. */
    int served = 0;
    int64_t worst = 0;
    for (int i = 0; i < 10; i++) {
        int64_t t0 = xt_now_ms();
        int st = get_status_from(NULL, "/index.html", NULL, 0);
        int64_t ms = xt_now_ms() - t0;
        served += st == 200;
        worst = ms > worst ? ms : worst;
        xt_sleep_ms(50);
    }
    xt_expect(served == 10 && worst < 250,
              "1,000 slow heads open: a normal client gets 10 of 10 answers, each under 250 ms",
              "%d of 10, slowest %lld ms%s", served, (long long)worst, xt_server_note(p));
    /* Every slow one has had its 408 by header_read_ms plus a margin. */
    int got408 = 0;
    for (int i = 0; i < SLOW; i++) {
        char buf[64] = "";
        int64_t left = 4000 - (xt_now_ms() - opened);
        ssize_t n = xt_recv_deadline(slow[i], buf, sizeof buf - 1, left > 0 ? (int)left : 1);
        got408 += n >= 13 && strncmp(buf, "HTTP/1.1 408 ", 13) == 0;
        close(slow[i]);
    }
    xt_expect(got408 == SLOW, "all 1,000 slow connections got 408 within 4 s of opening",
              "%d of %d%s", got408, SLOW, xt_server_note(p));
    xt_expect_running(p, "the server", "after 1,000 slowloris connections");
}

