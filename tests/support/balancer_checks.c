/*
 * tests/support/balancer_checks.c — stage 17's black-box checks (load
 * balancing), for every stage that keeps its behaviour (balancer_checks.h).
 *
 * The binary under test is started with ONE argument,
 * "config.json", in a scratch working directory holding a copy of
 * tests/fixtures/stage-17: stage 14's config exactly (stage 13's four
 * servers on 8001-8004, the filtered 8005-8009 and [::1]:8010, so every
 * stage 13 and stage 14 check runs again, below), and before them, so that
 * they listen once 8001-8004 do, five reverse_proxy servers over the same
 * three test upstreams, 127.0.0.1:3101, 3102 and 3103 (test-upstream in
 * http mode, started by each check; GET /whoami names the port that
 * answered):
 *
 *     8021  round_robin (the default), max_fails 1, fail_timeout_ms 10000
 *     8022  least_connections
 *     8023  ip_hash
 *     8024  round_robin, fail_timeout_ms 1000
 *     8025  round_robin, fail_timeout_ms 600000, health_check
 *           {path "/whoami", interval_ms 100}
 *
 * What is checked:
 *  - 30 requests over 3 upstreams → 10/10/10 with round_robin;
 *  - least_connections sends nothing to an upstream busy with a slow
 *    response while the other two are idle (6/6 over them), and all three
 *    again once it is done;
 *  - ip_hash: 127.0.0.1 keeps one upstream and so does 127.0.0.2, eight
 *    client addresses use more than one upstream, and when 127.0.0.1's
 *    upstream is killed its requests all go to one other upstream;
 *  - failover: an upstream killed (SIGKILL) in the middle of 60 requests
 *    costs the client nothing: 60 answers of 200, none from it after;
 *  - all upstreams down: 502 at once (under 500 ms), and while they are
 *    down not even a connect is tried (a listener put on 3101 is not
 *    contacted); the server keeps serving;
 *  - a downed upstream comes back: passively once fail_timeout_ms has
 *    passed (not before), actively through health_check long before its
 *    fail_timeout_ms;
 *  - every stage 14 check (tests/support/ipfilter_checks.h) and every
 *    stage 13 check (tests/support/http11_checks.h).
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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/support/balancer_checks.h"

#include "tests/support/checks.h"
#include "tests/support/hardening_checks.h"
#include "tests/support/harness.h"
#include "tests/support/http_client.h"

enum {
    ROUND_ROBIN = 8021,
    LEAST_CONNECTIONS = 8022,
    IP_HASH = 8023,
    PASSIVE = 8024,  /* fail_timeout_ms 1000 */
    ACTIVE = 8025,   /* health_check every 100 ms, fail_timeout_ms 600000 */
    UP_FIRST = 3101, /* the three upstreams: 3101, 3102, 3103 */
    UPS = 3,
};

/* The fixture of the running check (its entry point sets it). */
static const char *fixture_dir;

/* ------------------------------------------------------------ helpers */

/* The server, with nothing else on its stage 17 ports. */
static xt_proc_t *start_server(void)
{
    const uint16_t ports[] = {ROUND_ROBIN, LEAST_CONNECTIONS, IP_HASH, PASSIVE, ACTIVE};
    for (size_t i = 0; i < sizeof ports / sizeof *ports; i++)
        xt_require_port_free(ports[i]);
    return xt_hard_start_server(fixture_dir);
}

/* The three test upstreams, in http mode. */
static void start_upstreams(xt_proc_t *up[UPS])
{
    for (int i = 0; i < UPS; i++)
        up[i] = xt_upstream_start((uint16_t)(UP_FIRST + i), "http");
}

/* Kills upstream i as a crash would (SIGKILL: no goodbye to anyone). */
static void kill_upstream(xt_proc_t *up[UPS], int i)
{
    xt_stop(up[i], SIGKILL, 2000);
}

/* GET /whoami on the kept connection fd: the upstream's port (3101..),
 * or minus the status when the answer is not an upstream's 200 (-502), or
 * 0 when nothing came. *text gets a description for messages. */
static int whoami_on(int fd, char *text, size_t cap)
{
    xt_response_t *r = xt_ask(fd, "GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n", false);
    unsigned port = 0;
    int got = r->status == 200 && sscanf(r->body, "port %u", &port) == 1 ? (int)port
                                                                          : -r->status;
    if (text)
        snprintf(text, cap, "%s", xt_describe_response(r));
    test_free(r);
    return got;
}

/* GET /whoami on a new connection from `source` ("127.0.0.2"; NULL:
 * 127.0.0.1) to `port`. */
static int whoami_from(const char *source, uint16_t port, char *text, size_t cap)
{
    int fd = source ? xt_connect_from(source, port) : xt_connect(port);
    int got = whoami_on(fd, text, cap);
    close(fd);
    return got;
}

/* Requests per upstream: hits[i] for port UP_FIRST + i; other answers in
 * *errors (with the first one's description in first_error). */
typedef struct {
    int hits[UPS];
    int errors;
    char first_error[256];
} tally_t;

static void count(tally_t *t, int got, const char *text)
{
    if (got >= UP_FIRST && got < UP_FIRST + UPS) {
        t->hits[got - UP_FIRST]++;
    } else if (t->errors++ == 0) {
        snprintf(t->first_error, sizeof t->first_error, "%s", text);
    }
}

/* n requests on one kept connection to port, counted into t. */
static void ask_n(uint16_t port, int n, tally_t *t)
{
    int fd = xt_connect(port);
    for (int k = 0; k < n; k++) {
        char text[256];
        count(t, whoami_on(fd, text, sizeof text), text);
    }
    close(fd);
}

static const char *tally_text(const tally_t *t)
{
    static char out[512];
    snprintf(out, sizeof out, "3101: %d, 3102: %d, 3103: %d, other answers: %d%s%s", t->hits[0],
             t->hits[1], t->hits[2], t->errors, t->errors ? " (first: " : "",
             t->errors ? t->first_error : "");
    if (t->errors)
        strncat(out, ")", sizeof out - strlen(out) - 1);
    return out;
}

/* How many upstreams got at least one request. */
static int used(const tally_t *t)
{
    int n = 0;
    for (int i = 0; i < UPS; i++)
        n += t->hits[i] > 0;
    return n;
}

/* ------------------------------------------------------------- checks */

void xt_lb_check_round_robin_shares_30_requests_10_10_10(const char *fixture)
{
    fixture_dir = fixture;
    xt_proc_t *up[UPS];
    start_upstreams(up);
    start_server();
    tally_t t = {0};
    ask_n(ROUND_ROBIN, 30, &t);
    xt_expect(t.hits[0] == 10 && t.hits[1] == 10 && t.hits[2] == 10 && t.errors == 0,
              "30 GET /whoami on 8021 (round_robin over 3101-3103, one kept connection): "
              "10 answered by each upstream",
              "%s", tally_text(&t));
}

void xt_lb_check_least_connections_avoids_a_busy_upstream(const char *fixture)
{
    fixture_dir = fixture;
    xt_proc_t *up[UPS];
    start_upstreams(up);
    start_server();
    /* A slow response (40 lines, one every 50 ms: about 2 s) holds one
     * upstream; its head is here once the upstream has been chosen. */
    int slow = xt_connect(LEAST_CONNECTIONS);
    const char *get_slow = "GET /slow/40 HTTP/1.1\r\nHost: x\r\n\r\n";
    xt_send_all(slow, get_slow, strlen(get_slow));
    char head[4096];
    size_t got = xt_read_until(slow, head, sizeof head, "\r\n\r\n", XT_REPLY_MS);
    xt_expect(got > 0 && strncmp(head, "HTTP/1.1 200", 12) == 0,
              "GET /slow/40 on 8022: its 200 head arrives at once", "%s",
              xt_quote(head, got));
    int64_t start = xt_now_ms();
    tally_t busy = {0};
    ask_n(LEAST_CONNECTIONS, 12, &busy);
    int64_t took = xt_now_ms() - start;
    int idle = 0, pairs_even = 1;
    for (int i = 0; i < UPS; i++) {
        idle += busy.hits[i] == 0;
        pairs_even &= busy.hits[i] == 0 || busy.hits[i] == 6;
    }
    xt_expect(busy.errors == 0 && idle == 1 && pairs_even && took < 1500,
              "12 GET /whoami on 8022 while the slow response is in flight (under 1.5 s): none "
              "to the busy upstream, 6 to each of the two idle ones",
              "%s, in %lld ms", tally_text(&busy), (long long)took);
    /* The head's read may have taken the first line(s) of the body too. */
    const char *blank = strstr(head, "\r\n\r\n");
    size_t early = blank ? got - (size_t)(blank + 4 - head) : 0;
    const size_t whole = 9 * strlen("line 1 of 40\n") + 31 * strlen("line 10 of 40\n");
    char body[4096];
    size_t rest = early <= whole ? xt_recv_exact(slow, body, whole - early, XT_REPLY_MS * 2, NULL)
                                 : 0;
    close(slow);
    xt_expect(early + rest == whole, "the slow response then ends whole (its 40 lines)",
              "%zu body bytes", early + rest);
    tally_t after = {0};
    ask_n(LEAST_CONNECTIONS, 3, &after);
    xt_expect(used(&after) == 3 && after.errors == 0,
              "12 GET /whoami on 8022 while the slow response is in flight: none to the busy "
              "upstream (6 and 6 to the idle two); once it is done, 3 requests go to all three",
              "%s", tally_text(&after));
}

void xt_lb_check_ip_hash_keeps_each_client_on_its_upstream(const char *fixture)
{
    fixture_dir = fixture;
    xt_proc_t *up[UPS];
    start_upstreams(up);
    start_server();
    const char *clients[] = {"127.0.0.1", "127.0.0.2"};
    int home[2] = {0, 0};
    for (int c = 0; c < 2; c++) {
        tally_t t = {0};
        for (int k = 0; k < 10; k++) {
            char text[256];
            count(&t, whoami_from(clients[c], IP_HASH, text, sizeof text), text);
        }
        for (int i = 0; i < UPS; i++)
            if (t.hits[i] == 10)
                home[c] = UP_FIRST + i;
        xt_expect(home[c] != 0, "10 GET /whoami on 8023 (ip_hash) from one client address, "
                                "each on a new connection: all answered by the same upstream",
                  "from %s: %s", clients[c], tally_text(&t));
    }
    tally_t spread = {0};
    for (int c = 1; c <= 8; c++) {
        char source[32], text[256];
        snprintf(source, sizeof source, "127.0.0.%d", c);
        count(&spread, whoami_from(source, IP_HASH, text, sizeof text), text);
    }
    xt_expect(used(&spread) >= 2 && spread.errors == 0,
              "clients 127.0.0.1 to 127.0.0.8: more than one upstream in use", "%s",
              tally_text(&spread));
    /* 127.0.0.1's upstream dies: its requests move, all to one other. */
    kill_upstream(up, home[0] - UP_FIRST);
    tally_t moved = {0};
    for (int k = 0; k < 6; k++) {
        char text[256];
        count(&moved, whoami_from("127.0.0.1", IP_HASH, text, sizeof text), text);
    }
    xt_expect(used(&moved) == 1 && moved.errors == 0 && moved.hits[home[0] - UP_FIRST] == 0,
              "127.0.0.1 and 127.0.0.2 each keep one upstream (10 of 10); with 127.0.0.1's "
              "upstream killed, its 6 requests get 200 from one other upstream",
              "127.0.0.1's upstream was %d (127.0.0.2's %d); after the kill: %s", home[0],
              home[1], tally_text(&moved));
}

void xt_lb_check_failover_while_an_upstream_is_killed_costs_the_client_nothing(const char *fixture)
{
    fixture_dir = fixture;
    xt_proc_t *up[UPS];
    start_upstreams(up);
    start_server();
    int fd = xt_connect(ROUND_ROBIN);
    tally_t before = {0}, after = {0};
    for (int k = 0; k < 60; k++) {
        if (k == 20)
            kill_upstream(up, 1); /* 3102, between two requests */
        char text[256];
        count(k < 20 ? &before : &after, whoami_on(fd, text, sizeof text), text);
    }
    close(fd);
    xt_expect(before.errors == 0 && after.errors == 0 && after.hits[1] == 0 &&
                  after.hits[0] == 20 && after.hits[2] == 20 && used(&before) == 3,
              "60 GET /whoami on one connection to 8021, 3102 killed after the 20th: 60 times "
              "200; the last 40 shared by 3101 and 3103 (20 each)",
              "first 20: %s; last 40: %s", tally_text(&before), tally_text(&after));
}

void xt_lb_check_all_upstreams_down_gets_502_at_once(const char *fixture)
{
    fixture_dir = fixture;
    xt_proc_t *server = start_server();
    char text[256];
    int64_t start = xt_now_ms();
    int first = whoami_from(NULL, ROUND_ROBIN, text, sizeof text);
    int64_t took = xt_now_ms() - start;
    xt_expect(first == -502 && took < 500,
              "GET /whoami on 8021 with no upstream running: 502 in under 500 ms",
              "%s, in %lld ms", text, (long long)took);
    /* Down now, for fail_timeout_ms (10 s): a listener put on 3101 is not
     * even tried. */
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(UP_FIRST)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 16) != 0)
        xt_fail("cannot listen on 127.0.0.1:%d: %s", UP_FIRST, strerror(errno));
    start = xt_now_ms();
    int again = whoami_from(NULL, ROUND_ROBIN, text, sizeof text);
    took = xt_now_ms() - start;
    int contacted = accept(lfd, NULL, NULL);
    bool untouched = contacted < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    if (contacted >= 0)
        close(contacted);
    close(lfd);
    xt_expect(again == -502 && took < 500 && untouched,
              "again while all are down: 502 in under 500 ms, without a connect to 3101 "
              "(listening again, but within its fail_timeout_ms)",
              "%s, in %lld ms; 3101 %s", text, (long long)took,
              untouched ? "not contacted" : "was contacted");
    int ok = whoami_from(NULL, 8001, text, sizeof text); /* any answer: it serves */
    xt_expect(ok != 0, "the server goes on answering (8001)", "%s", text);
    xt_expect_running(server, "the server", "after answering 502s");
    xt_expect(first == -502 && again == -502 && untouched,
              "with every upstream down, 502 at once, and no connect tried while they are down",
              "first %d, then %d", first, again);
}

void xt_lb_check_a_downed_upstream_comes_back_after_fail_timeout(const char *fixture)
{
    fixture_dir = fixture;
    xt_proc_t *up[UPS];
    start_upstreams(up);
    start_server();
    kill_upstream(up, 1);
    tally_t down = {0};
    ask_n(PASSIVE, 6, &down);
    int64_t marked = xt_now_ms();
    up[1] = xt_upstream_start(UP_FIRST + 1, "http"); /* back at once... */
    tally_t soon = {0};
    ask_n(PASSIVE, 6, &soon);
    int64_t soon_ms = xt_now_ms() - marked;
    xt_expect(down.errors == 0 && down.hits[1] == 0 && soon.errors == 0 &&
                  (soon.hits[1] == 0 || soon_ms >= 1000),
              "8024 (fail_timeout_ms 1000), 3102 killed: 6 requests get 200 from 3101 and 3103; "
              "restarted, it gets none within its fail_timeout",
              "while dead: %s; restarted, %lld ms later: %s", tally_text(&down),
              (long long)soon_ms, tally_text(&soon));
    xt_sleep_ms(1100);
    tally_t later = {0};
    ask_n(PASSIVE, 6, &later);
    xt_expect(later.errors == 0 && later.hits[0] == 2 && later.hits[1] == 2 && later.hits[2] == 2,
              "a downed upstream is skipped for fail_timeout_ms (1 s on 8024) and then used "
              "again: 6 requests, 2 to each of the three",
              "while dead: %s; 1.1 s later: %s", tally_text(&down), tally_text(&later));
}

void xt_lb_check_a_health_check_brings_a_downed_upstream_back_at_once(const char *fixture)
{
    fixture_dir = fixture;
    xt_proc_t *up[UPS];
    start_upstreams(up);
    start_server();
    kill_upstream(up, 1);
    tally_t down = {0};
    ask_n(ACTIVE, 6, &down);
    xt_sleep_ms(300); /* probes of a dead upstream, refused: it stays down */
    tally_t still = {0};
    ask_n(ACTIVE, 4, &still);
    up[1] = xt_upstream_start(UP_FIRST + 1, "http");
    int64_t start = xt_now_ms(), back = -1;
    while (back < 0 && xt_now_ms() - start < 3000) {
        tally_t t = {0};
        ask_n(ACTIVE, 3, &t);
        if (t.errors)
            xt_fail("while waiting for 3102: %s", tally_text(&t));
        if (t.hits[1] > 0)
            back = xt_now_ms() - start;
        else
            xt_sleep_ms(50);
    }
    xt_expect(down.errors == 0 && down.hits[1] == 0 && still.hits[1] == 0 && still.errors == 0 &&
                  back >= 0 && back < 2000,
              "8025 (health_check every 100 ms, fail_timeout_ms 600000), 3102 killed: no request "
              "to it while dead, and used again within 2 s of its restart, not 10 minutes",
              "while dead: %s, then %s; back %lld ms after the restart", tally_text(&down),
              tally_text(&still), (long long)back);
}

