/*
 * tests/stages/stage_21.c — black-box checks for stage 21 (master and
 * workers).
 *
 * The binary under test ($XPS_STAGE_BIN) runs in a scratch copy of
 * tests/fixtures/stage-21 with "config.json": 4 workers, timeouts
 * keepalive_ms 3000 and drain_ms 5000, one server on 127.0.0.1:8121
 * with / (files), /away (a 302: no file opened, so a connection costs a
 * worker one descriptor and nothing else) and /slow (reverse_proxy to
 * 127.0.0.1:3121, where the check plays the upstream).
 *
 * What is checked:
 *  - a port that cannot be bound is refused before any worker exists
 *    (exit 1, the address named, no child ever forked);
 *  - 4 workers, children of the master, and 32 kept-alive clients are
 *    spread over more than one of them (their descriptors);
 *  - kill -9 of a worker: a new one (another pid) within 1 s, and 100
 *    requests right after the kill all succeed;
 *  - SIGHUP with a changed config (a new route): it answers within 3 s,
 *    the old workers are gone and new ones serve, while a client loop
 *    running all along sees zero failures;
 *  - SIGHUP with a broken config: the same workers keep serving, and the
 *    master's log says the reload was refused and why;
 *  - SIGTERM with a slow request in flight: the request completes (200,
 *    its whole body), the master exits 0, no worker is left;
 *  - the cache is shared (cache.json: 4 workers, 8122 a cached proxy to
 *    test-upstream on 3000): 32 kept-alive clients held by more than one
 *    worker ask for one URL; one MISS, 31 HITs with its body, and the
 *    upstream asked once;
 *  - then every stage 20 check (cache_checks.h) and stage 18 check
 *    (limits_checks.h) and, like stage 18, every stage 17 to 13 check, on
 *    their own fixtures, with "--workers 1" (see main): a master and one
 *    worker.
 * All but the shared checks start the binary with a config of their own,
 * so they are skipped in the course's layout.
 */
#define _GNU_SOURCE
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
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/balancer_checks.h"
#include "tests/support/cache_checks.h"
#include "tests/support/checks.h"
#include "tests/support/client_loop.h"
#include "tests/support/dirlist_checks.h"
#include "tests/support/gzip_checks.h"
#include "tests/support/harness.h"
#include "tests/support/http11_checks.h"
#include "tests/support/http_client.h"
#include "tests/support/ipfilter_checks.h"
#include "tests/support/limits_checks.h"
#include "tests/support/tls_checks.h"

enum {
    PORT = 8121,
    UPSTREAM = 3121,
    CACHED = 8122,         /* cache.json */
    CACHE_UPSTREAM = 3000, /* test-upstream behind it */
    WORKERS = 4,
    MAX_CHILDREN = 64,
};

static const char FIXTURE[] = "tests/fixtures/stage-21";

/* ------------------------------------------------------------ helpers */

static xt_proc_t *start_server(void)
{
    xt_skip_in_course_layout("starts the binary with a config of this stage's own");
    xt_require_port_free(PORT);
    const char *args[] = {"config.json", NULL};
    xt_start_opts_t opts = {.fixture_dir = FIXTURE, .no_stage_flags = true}; /* the config's 4 */
    xt_proc_t *p = xt_start(xt_stage_bin(), args, &opts);
    xt_wait_port(p, PORT, 5000);
    return p;
}

/* The master's children now (their pids, sorted as the kernel lists them). */
static int children_of(pid_t pid, pid_t *out, int cap)
{
    char path[64], list[1024];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    size_t n = fread(list, 1, sizeof list - 1, f);
    fclose(f);
    list[n] = '\0';
    int count = 0;
    char *s = list, *end = NULL;
    for (long v = strtol(s, &end, 10); end != s && count < cap; v = strtol(s, &end, 10)) {
        out[count++] = (pid_t)v;
        s = end;
    }
    return count;
}

/* Waits until the master has `want` children none of which is in
 * `not_these` (n_not of them); returns how many it has then. */
static int wait_children(xt_proc_t *p, int want, const pid_t *not_these, int n_not,
                         pid_t *out, int timeout_ms)
{
    int64_t deadline = xt_now_ms() + timeout_ms;
    for (;;) {
        int n = children_of(xt_pid(p), out, MAX_CHILDREN), fresh = 0;
        for (int i = 0; i < n; i++) {
            bool old = false;
            for (int j = 0; j < n_not; j++)
                old = old || out[i] == not_these[j];
            fresh += !old;
        }
        if ((n == want && fresh == n) || xt_now_ms() >= deadline)
            return fresh == n ? n : -n;
        xt_sleep_ms(10);
    }
}

/* The parent of `pid` (field 4 of /proc/pid/stat), or -1. */
static pid_t parent_of(pid_t pid)
{
    char path[64], stat[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    size_t n = fread(stat, 1, sizeof stat - 1, f);
    fclose(f);
    stat[n] = '\0';
    const char *close_paren = strrchr(stat, ')'); /* the name may hold blanks */
    int ppid = -1;
    char state = 0;
    if (!close_paren || sscanf(close_paren + 1, " %c %d", &state, &ppid) != 2)
        return -1;
    return (pid_t)ppid;
}

static bool pid_exists(pid_t pid)
{
    return kill(pid, 0) == 0 || errno != ESRCH;
}

/* One request on a new connection ("Connection: close"): its status, 0
 * when none came. Plain sockets and no xt_ call that fails the check, so a
 * forked client loop may use it too. */
static int status_of(const char *target)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(PORT)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 3};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int status = 0;
    char req[256], buf[4096];
    int len = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                       target);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        send(fd, req, (size_t)len, MSG_NOSIGNAL) == len) {
        size_t got = 0;
        ssize_t n;
        while (got < sizeof buf - 1 && (n = recv(fd, buf + got, sizeof buf - 1 - got, 0)) > 0)
            got += (size_t)n;
        buf[got] = '\0';
        if (n == 0 || got == sizeof buf - 1) /* the whole response, to the server's close */
            sscanf(buf, "HTTP/1.1 %d", &status);
    }
    if (fd >= 0)
        close(fd);
    return status;
}

/* One request of a client loop (tests/support/client_loop.h): GET / on a
 * new connection answered 200. */
static bool get_root(void *data)
{
    (void)data;
    return status_of("/") == 200;
}

/* Writes `text` to the working copy's config.json. */
static void write_config(xt_proc_t *p, const char *text)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", xt_workdir(p));
    FILE *f = fopen(path, "we");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        xt_fail("cannot write %s: %s", path, strerror(errno));
}

/* The fixture's config.json with one more route, /new (a 301). */
static const char changed_config[] =
    "{ \"server_name\": \"stage-21-checks\", \"workers\": 4,\n"
    "  \"timeouts\": { \"keepalive_ms\": 3000, \"drain_ms\": 5000 },\n"
    "  \"servers\": [ { \"listeners\": [ { \"host\": \"127.0.0.1\", \"port\": 8121 } ],\n"
    "    \"routes\": [\n"
    "      { \"req_path\": \"/\", \"type\": \"file_serve\", \"dir_path\": \"public\",\n"
    "        \"index\": [\"index.html\"] },\n"
    "      { \"req_path\": \"/away\", \"type\": \"redirect\", \"http_status_code\": 302,\n"
    "        \"redirect_url\": \"http://127.0.0.1:8121/\" },\n"
    "      { \"req_path\": \"/new\", \"type\": \"redirect\", \"http_status_code\": 301,\n"
    "        \"redirect_url\": \"http://127.0.0.1:8121/\" } ] } ] }\n";

/* -------------------------------------------------------------- checks */

static void a_port_that_cannot_be_bound_is_refused_before_any_worker(void **state)
{
    (void)state;
    xt_skip_in_course_layout("starts the binary with a config of this stage's own");
    xt_require_port_free(PORT);
    /* The port taken by the check itself. */
    int taken = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(PORT)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (taken < 0 || bind(taken, (struct sockaddr *)&a, sizeof a) != 0 || listen(taken, 8) != 0)
        xt_fail("cannot take 127.0.0.1:%d for the check: %s", PORT, strerror(errno));
    const char *args[] = {"config.json", NULL};
    xt_start_opts_t opts = {.fixture_dir = FIXTURE, .no_stage_flags = true}; /* the config's 4 */
    xt_proc_t *p = xt_start(xt_stage_bin(), args, &opts);
    int status = 0;
    bool exited = xt_wait_exit(p, 5000, &status);
    char *err = xt_stderr(p);
    close(taken);
    xt_expect(exited && WIFEXITED(status) && WEXITSTATUS(status) == 1 &&
                  strstr(err, "127.0.0.1:8121") && !strstr(err, "worker"),
              "a port in use: exit 1 naming 127.0.0.1:8121, and no worker ever started",
              "%s, stderr %s", xt_status_text(status), xt_quote(err, strlen(err)));
    free(err);
}

static void four_workers_children_of_the_master_share_the_clients(void **state)
{
    (void)state;
    xt_proc_t *p = start_server();
    pid_t kids[MAX_CHILDREN];
    int n = wait_children(p, WORKERS, NULL, 0, kids, 3000);
    int theirs = 0;
    for (int i = 0; i < n; i++)
        theirs += parent_of(kids[i]) == xt_pid(p);
    xt_expect(n == WORKERS && theirs == WORKERS, "4 worker processes, children of the master",
              "%d children, %d of them the master's", n, theirs);
    /* Let every worker settle (its loop made, its listeners adopted). */
    for (int i = 0; i < 8; i++)
        status_of("/away");
    xt_sleep_ms(100);
    int before[WORKERS], after[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        before[i] = xt_fd_count(kids[i]);
    enum { CLIENTS = 32 };
    int fds[CLIENTS], answered = 0;
    for (int i = 0; i < CLIENTS; i++) {
        fds[i] = xt_connect(PORT);
        xt_response_t *r = xt_ask(fds[i], "GET /away HTTP/1.1\r\nHost: x\r\n\r\n", false);
        answered += r->status == 302;
        test_free(r);
    }
    xt_sleep_ms(100);
    int used = 0, total = 0;
    char counts[128] = "";
    for (int i = 0; i < WORKERS; i++) {
        after[i] = xt_fd_count(kids[i]);
        used += after[i] > before[i];
        total += after[i] - before[i];
        size_t at = strlen(counts);
        snprintf(counts + at, sizeof counts - at, "%s%+d", i ? " " : "", after[i] - before[i]);
    }
    xt_expect(answered == CLIENTS && total == CLIENTS && used > 1,
              "32 kept-alive clients: every one answered, each held by a worker, "
              "more than one worker holding some",
              "%d answered; connections held per worker: %s", answered, counts);
    for (int i = 0; i < CLIENTS; i++)
        close(fds[i]);
}

static void a_worker_killed_with_sigkill_is_replaced_at_once(void **state)
{
    (void)state;
    xt_proc_t *p = start_server();
    pid_t kids[MAX_CHILDREN], now[MAX_CHILDREN];
    int n = wait_children(p, WORKERS, NULL, 0, kids, 3000);
    if (n != WORKERS)
        xt_fail("the master has %d children, not %d", n, WORKERS);
    /* Under load: a client loop runs across the kill. It has one request
     * at a time in flight, so at most that one may be lost with the
     * worker; every other request must be answered. */
    xt_client_loop_t loop = xt_client_loop_start(get_root, NULL);
    xt_sleep_ms(200);
    int64_t t0 = xt_now_ms();
    kill(kids[0], SIGKILL);
    int ok = 0;
    for (int i = 0; i < 100; i++)
        ok += status_of("/") == 200;
    /* Four again, one of them new: the other three and a replacement. */
    int m = 0, fresh = 0;
    int64_t deadline = t0 + 1000;
    do {
        m = children_of(xt_pid(p), now, MAX_CHILDREN);
        fresh = 0;
        for (int i = 0; i < m; i++)
            fresh += now[i] != kids[0] && now[i] != kids[1] && now[i] != kids[2] &&
                     now[i] != kids[3];
        if (m == WORKERS && fresh == 1)
            break;
        xt_sleep_ms(10);
    } while (xt_now_ms() < deadline);
    xt_expect(m == WORKERS && fresh == 1 && !pid_exists(kids[0]),
              "kill -9 of a worker: 4 workers again within 1 s, one of them new",
              "%d children, %d new, after %lld ms", m, fresh, (long long)(xt_now_ms() - t0));
    xt_sleep_ms(200);
    long requests = 0, failures = 0;
    xt_client_loop_stop(loop, &requests, &failures);
    xt_expect(requests > 0 && failures <= 1,
              "a client loop running across the kill lost at most its one request in flight",
              "%ld requests, %ld failed", requests, failures);
    xt_expect(ok == 100, "100 requests right after the kill: every one 200",
              "%d of 100%s", ok, xt_server_note(p));
    xt_expect_running(p, "the master", "after a worker's death");
}

static void sighup_with_a_changed_config_takes_effect_with_zero_failures(void **state)
{
    (void)state;
    xt_proc_t *p = start_server();
    pid_t old[MAX_CHILDREN], kids[MAX_CHILDREN];
    if (wait_children(p, WORKERS, NULL, 0, old, 3000) != WORKERS)
        xt_fail("the master does not have %d children", WORKERS);
    int before = status_of("/new");
    xt_client_loop_t c = xt_client_loop_start(get_root, NULL);
    xt_sleep_ms(300); /* the loop at work */
    write_config(p, changed_config);
    int64_t t0 = xt_now_ms();
    kill(xt_pid(p), SIGHUP);
    int after = 0;
    while ((after = status_of("/new")) != 301 && xt_now_ms() - t0 < 3000)
        xt_sleep_ms(20);
    int64_t took = xt_now_ms() - t0;
    int n = wait_children(p, WORKERS, old, WORKERS, kids, 6000); /* the old drained */
    xt_sleep_ms(300); /* the loop on the new generation alone */
    long requests = 0, failures = 0;
    xt_client_loop_stop(c, &requests, &failures);
    xt_expect(before == 404 && after == 301,
              "SIGHUP after adding a route: /new, 404 before, answers 301 within 3 s",
              "%d before, %d after %lld ms", before, after, (long long)took);
    xt_expect(n == WORKERS, "after the reload, 4 workers, none of the old generation",
              "%d children, all new: %s", n < 0 ? -n : n, n == WORKERS ? "yes" : "no");
    xt_expect(requests > 20 && failures == 0,
              "a client loop running through the reload: zero failed requests",
              "%ld requests, %ld failed%s", requests, failures, xt_server_note(p));
}

static void sighup_with_a_broken_config_keeps_serving_and_logs_why(void **state)
{
    (void)state;
    xt_proc_t *p = start_server();
    pid_t kids[MAX_CHILDREN], now[MAX_CHILDREN];
    if (wait_children(p, WORKERS, NULL, 0, kids, 3000) != WORKERS)
        xt_fail("the master does not have %d children", WORKERS);
    write_config(p, "{ \"servers\": [ { \"listeners\": [], \"routes\": [] } ] }\n");
    kill(xt_pid(p), SIGHUP);
    xt_sleep_ms(500);
    int ok = 0;
    for (int i = 0; i < 20; i++)
        ok += status_of("/") == 200;
    int m = children_of(xt_pid(p), now, MAX_CHILDREN), same = 0;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < WORKERS; j++)
            same += now[i] == kids[j];
    char *err = xt_stderr(p);
    const char *refused = strstr(err, "reload refused");
    xt_expect(ok == 20 && m == WORKERS && same == WORKERS,
              "SIGHUP with a broken config: the same 4 workers serve (20 of 20 answered)",
              "%d of 20; %d children, %d of them the old ones", ok, m, same);
    xt_expect(refused && strstr(refused, "config.json") && strstr(refused, "listeners"),
              "the master logs that the reload was refused, naming the file and the bad key",
              "stderr %s", xt_quote(err, strlen(err)));
    free(err);
}

static void sigterm_lets_a_slow_request_finish_and_the_master_exit_0(void **state)
{
    (void)state;
    xt_skip_in_course_layout("starts the binary with a config of this stage's own");
    xt_require_port_free(UPSTREAM);
    int up = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(UPSTREAM)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(up, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (up < 0 || bind(up, (struct sockaddr *)&a, sizeof a) != 0 || listen(up, 8) != 0)
        xt_fail("cannot listen on 127.0.0.1:%d: %s", UPSTREAM, strerror(errno));
    xt_proc_t *p = start_server();
    pid_t kids[MAX_CHILDREN];
    int n = wait_children(p, WORKERS, NULL, 0, kids, 3000);
    int client = xt_connect(PORT);
    static const char req[] = "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n";
    xt_send_all(client, req, sizeof req - 1);
    /* The request reaches the upstream (us): it is in flight. */
    struct pollfd pf = {up, POLLIN, 0};
    int conn = poll(&pf, 1, 3000) == 1 ? accept4(up, NULL, NULL, SOCK_CLOEXEC) : -1;
    char head[4096];
    size_t got = conn >= 0 ? xt_read_until(conn, head, sizeof head, "\r\n\r\n", 3000) : 0;
    if (got == 0)
        xt_fail("the proxied request never reached the upstream");
    kill(xt_pid(p), SIGTERM);
    xt_sleep_ms(500); /* draining now: the answer is still owed */
    static const char body[] = "slow but sure\n";
    char res[256];
    int len = snprintf(res, sizeof res,
                       "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nContent-Type: text/plain\r\n"
                       "\r\n%s", sizeof body - 1, body);
    xt_send_all(conn, res, (size_t)len);
    xt_response_t *r = xt_read_response(client, false);
    char connection[64] = "";
    xt_header_value(r->head, "Connection", connection, sizeof connection);
    bool whole = r->status == 200 && r->body_len == sizeof body - 1 &&
                 memcmp(r->body, body, sizeof body - 1) == 0;
    xt_expect(whole, "SIGTERM with a request in flight: it is answered, 200 and its whole body",
              "%s", xt_describe_response(r));
    bool closed = xt_closes_silently(client);
    xt_expect(closed, "... and the connection closes after it (the worker is draining)",
              "Connection: %s; closed: %s", connection[0] ? connection : "(none)",
              closed ? "yes" : "no");
    test_free(r);
    int status = 0;
    bool exited = xt_wait_exit(p, 6000, &status);
    int left = 0;
    for (int i = 0; i < n; i++)
        left += pid_exists(kids[i]);
    xt_expect(exited && WIFEXITED(status) && WEXITSTATUS(status) == 0 && left == 0,
              "then the master exits 0 and no worker is left",
              "master %s, %d of %d workers still there", xt_status_text(status), left, n);
    close(client);
    close(conn);
    close(up);
}

/* The entry one worker stores is every worker's: the index is in shared
 * memory made before the fork, the entries are files. The 32 connections
 * are kept open while they ask, so the descriptors say which workers hold
 * them (as in four_workers_children_of_the_master_share_the_clients). */
static void one_cache_entry_serves_every_worker(void **state)
{
    (void)state;
    xt_skip_in_course_layout("starts the binary with a config of this stage's own");
    xt_require_port_free(CACHED);
    xt_proc_t *up = xt_upstream_start(CACHE_UPSTREAM, "http");
    const char *args[] = {"cache.json", NULL};
    xt_start_opts_t opts = {.fixture_dir = FIXTURE, .no_stage_flags = true}; /* its 4 workers */
    xt_proc_t *p = xt_start(xt_stage_bin(), args, &opts);
    xt_wait_port(p, CACHED, 5000);
    pid_t kids[MAX_CHILDREN];
    int n = wait_children(p, WORKERS, NULL, 0, kids, 3000);
    xt_expect(n == WORKERS, "4 workers", "%d children", n);
    xt_sleep_ms(100); /* every worker's listener adopted */
    int before[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        before[i] = xt_fd_count(kids[i]);
    enum { CLIENTS = 32 };
    int fds[CLIENTS];
    for (int i = 0; i < CLIENTS; i++)
        fds[i] = xt_connect(CACHED);
    xt_sleep_ms(100);
    int holding = 0;
    for (int i = 0; i < WORKERS; i++)
        holding += xt_fd_count(kids[i]) > before[i];
    int misses = 0, hits = 0, same = 0;
    char first[128] = "";
    for (int i = 0; i < CLIENTS; i++) {
        xt_response_t *r =
            xt_ask(fds[i], "GET /cache/max-age=60/shared HTTP/1.1\r\nHost: x\r\n\r\n", false);
        char x[32] = "";
        xt_header_value(r->head, "X-Cache", x, sizeof x);
        misses += r->status == 200 && strcmp(x, "MISS") == 0;
        hits += r->status == 200 && strcmp(x, "HIT") == 0;
        size_t line = strcspn(r->body, "\n");
        if (i == 0)
            snprintf(first, sizeof first, "%.*s", (int)line, r->body);
        same += strlen(first) == line && strncmp(r->body, first, line) == 0;
        test_free(r);
    }
    for (int i = 0; i < CLIENTS; i++)
        close(fds[i]);
    int fd = xt_connect(CACHED);
    xt_response_t *count =
        xt_ask(fd, "GET /cache-count HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false);
    close(fd);
    xt_expect(holding > 1 && misses == 1 && hits == CLIENTS - 1 && same == CLIENTS &&
                  strncmp(count->body, "count 1\n", 8) == 0,
              "32 clients held by more than one worker ask one URL: 1 MISS, 31 HITs with its "
              "body, the upstream asked once",
              "%d workers holding clients; %d MISS, %d HIT, %d with the first body (%s); "
              "upstream: %s",
              holding, misses, hits, same, first, xt_quote(count->body, count->body_len));
    test_free(count);
    xt_expect_running(p, "the master", "after the cached requests");
    xt_expect_running(up, "test-upstream", "after the cached requests");
}

/* ------------------------------------------------------------- shared */

XT_STAGE20_CHECKS_ON("tests/fixtures/stage-20")

XT_STAGE19_CHECKS_ON("tests/fixtures/stage-19")
XT_STAGE18_CHECKS_ON("tests/fixtures/stage-18")
XT_STAGE17_CHECKS_ON("tests/fixtures/stage-17")
XT_STAGE16_CHECKS_ON("tests/fixtures/stage-16")
XT_STAGE15_CHECKS_ON("tests/fixtures/stage-18")
XT_STAGE14_CHECKS_ON("tests/fixtures/stage-18")
XT_STAGE13_CHECKS_ON("tests/fixtures/stage-18")

static void prints_its_usage_with_help(void **state)
{
    (void)state;
    const char *args[] = {"--help", NULL};
    xt_proc_t *p = xt_start_stage(args, NULL);
    int status = 0;
    bool exited = xt_wait_exit(p, 5000, &status);
    char *out = xt_stdout(p);
    xt_expect(exited && WIFEXITED(status) && WEXITSTATUS(status) == 0 && strstr(out, "usage: "),
              "--help: exit 0 and a usage line", "%s, stdout %s", xt_status_text(status),
              xt_quote(out, strlen(out)));
    free(out);
}

int main(void)
{
    /* The earlier stages' checks count on one process's state (a route's
     * balancer, a rate limit's buckets, the descriptors and RSS they
     * measure), and their configs say "workers": 4: one worker, behind
     * the master, whatever the config says. Ours opt out. */
    xt_set_stage_flags("--workers 1");
    const struct CMUnitTest checks[] = {
        XT_CHECK(prints_its_usage_with_help),
        XT_CHECK(a_port_that_cannot_be_bound_is_refused_before_any_worker),
        XT_CHECK(four_workers_children_of_the_master_share_the_clients),
        XT_CHECK(a_worker_killed_with_sigkill_is_replaced_at_once),
        XT_CHECK(sighup_with_a_changed_config_takes_effect_with_zero_failures),
        XT_CHECK(sighup_with_a_broken_config_keeps_serving_and_logs_why),
        XT_CHECK(sigterm_lets_a_slow_request_finish_and_the_master_exit_0),
        XT_CHECK(one_cache_entry_serves_every_worker),
        XT_STAGE20_CHECK_LIST,
        XT_STAGE19_CHECK_LIST,
        XT_STAGE18_CHECK_LIST,
        XT_STAGE17_CHECK_LIST,
        XT_STAGE16_CHECK_LIST,
        XT_STAGE15_CHECK_LIST,
        XT_STAGE14_CHECK_LIST,
        XT_STAGE13_CHECK_LIST,
    };
    return xt_run_checks("stage 21 (multiprocess)", checks);
}
