/*
 * tests/support/ipfilter_checks.c — stage 14's black-box checks, for every
 * stage that keeps its fixture's filtered servers (see ipfilter_checks.h).
 * Moved here from tests/stages/stage_14.c unchanged but for the fixture,
 * which each check now takes as its argument.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/checks.h"
#include "tests/support/hardening_checks.h"
#include "tests/support/harness.h"
#include "tests/support/ipfilter_checks.h"
#include "tests/support/http_client.h"

enum {
    START_MS = 5000, /* for the server to start listening */
    UPSTREAM = 3000, /* where the proxy routes go */
    V6_PORT = 8010,  /* the [::1] listener */
};

/* The fixture of the check running (its function's argument). */
static const char *current;

/* ------------------------------------------------------------ helpers */

/* The server, started as stage 13's checks start it (8001-8004 waited
 * for, public/ readable); the filtered listeners come before 8001 in the
 * config, so they listen by then too. */
static xt_proc_t *start_server(void)
{
    for (uint16_t port = 8005; port <= 8009; port++)
        xt_require_port_free(port);
    return xt_hard_start_server(current);
}


/* "GET <target>" on fd, kept open; its response. */
static xt_response_t *get_on(int fd, const char *target)
{
    char request[256];
    snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", target);
    return xt_ask(fd, request, false);
}

/* The strict upstream's answer numbers (X-Connection: which upstream
 * connection, in accept order; X-Request-Number: which request on it). */
static void answer_numbers(const xt_response_t *r, long *connection, long *request)
{
    char v[32];
    *connection = xt_header_value(r->head, "X-Connection", v, sizeof v) ? atol(v) : 0;
    *request = xt_header_value(r->head, "X-Request-Number", v, sizeof v) ? atol(v) : 0;
}

/* How many "request " lines the strict upstream has logged. It logs a
 * request before answering it, so once its answer has arrived its line is
 * in the file. */
static int upstream_requests(xt_proc_t *up, char *log, size_t cap)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/strict.log", xt_workdir(up));
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(log, 1, cap - 1, f) : 0;
    log[n] = '\0';
    if (f)
        fclose(f);
    int count = 0;
    for (const char *l = log; *l; l += strcspn(l, "\n"), l += *l == '\n')
        count += strncmp(l, "request ", 8) == 0;
    return count;
}

/* ------------------------------------------------------------- checks */

/* The course's milestone: `curl --interface 127.0.0.2` is another client. */
void xt_ipf_check_curl_interface_127_0_0_2_gets_403_where_127_0_0_1_gets_200(const char *fixture)
{
    current = fixture;
    xt_proc_t *p = start_server();
    static const struct {
        const char *url, *what;
        int from_1, from_2; /* the status for 127.0.0.1, for 127.0.0.2 */
    } rows[] = {
        {"http://127.0.0.1:8005/a.txt", "ip_whitelist [127.0.0.1, ::1]", 200, 403},
        {"http://127.0.0.1:8006/a.txt", "ip_blacklist [127.0.0.2]", 200, 403},
        {"http://127.0.0.1:8008/a.txt", "ip_whitelist [1.1.1.1]", 403, 403},
        {"http://127.0.0.1:8001/a.txt", "no lists", 200, 200},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        for (int k = 0; k < 2; k++) {
            const char *source = k ? "127.0.0.2" : "127.0.0.1";
            int want = k ? rows[i].from_2 : rows[i].from_1;
            const char *args[] = {"-s", "-o", "/dev/null", "--max-time", "3", "-w",
                                  "%{http_code}", "--interface", source, rows[i].url, NULL};
            int status = 0;
            char *said = xt_run_curl(args, &status);
            char expected[300], want_text[8];
            snprintf(want_text, sizeof want_text, "%d", want);
            snprintf(expected, sizeof expected, "curl --interface %s %s (%s) prints %d", source,
                     rows[i].url, rows[i].what, want);
            xt_expect(strcmp(said, want_text) == 0, expected, "curl printed \"%s\" and %s%s",
                      xt_quote(said, strlen(said)), xt_status_text(status), xt_server_note(p));
            free(said);
        }
    }
}

/* Whitelist, blacklist, both; a file, a redirect, the proxy; from three
 * addresses. One connection per (server, client): the 403s keep it. */
void xt_ipf_check_whitelist_blacklist_and_both_on_every_route_type(const char *fixture)
{
    current = fixture;
    xt_proc_t *p = start_server();
    xt_upstream_start(UPSTREAM, "strict");
    static const struct {
        uint16_t port;
        const char *list;    /* for messages */
        const char *allowed; /* which of .1 .2 .3 get in: "12" = 127.0.0.1 and .2 */
    } servers[] = {
        {8005, "ip_whitelist [127.0.0.1, ::1]", "1"},
        {8006, "ip_blacklist [127.0.0.2]", "13"},
        {8007, "ip_whitelist [127.0.0.0/8] + ip_blacklist [127.0.0.2]", "13"},
        {8008, "ip_whitelist [1.1.1.1] (\"/\" only)", ""},
    };
    static const struct {
        const char *target, *type;
        int status;          /* when allowed */
        const char *content; /* in the body (200) or Location (302) */
    } routes[] = {
        {"/a.txt", "file_serve", 200, "aaaa\n"},
        {"/go", "redirect", 302, "http://localhost:8001/"},
        {"/api/x", "reverse_proxy", 200, "GET /api/x HTTP/1.1"},
        {"/missing.txt", "file_serve (no such file)", 404, NULL},
        {"/docs", "file_serve (a folder: 301 to /docs/)", 301, "/docs/"},
    };
    for (size_t s = 0; s < sizeof servers / sizeof *servers; s++) {
        for (char c = '1'; c <= '3'; c++) {
            char source[16];
            snprintf(source, sizeof source, "127.0.0.%c", c);
            bool in = strchr(servers[s].allowed, c) != NULL;
            int fd = xt_connect_from(source, servers[s].port);
            for (size_t r = 0; r < sizeof routes / sizeof *routes; r++) {
                int want = in ? routes[r].status : 403;
                xt_response_t *resp = get_on(fd, routes[r].target);
                char location[256] = "";
                xt_header_value(resp->head, "Location", location, sizeof location);
                bool content = !in || !routes[r].content ||
                               (want == 302 || want == 301
                                    ? strcmp(location, routes[r].content) == 0
                                    : strstr(resp->body, routes[r].content) != NULL);
                char expected[400];
                snprintf(expected, sizeof expected,
                         "%s %s GET %s (%s) on %u, %s: %d%s%s%s", source,
                         in ? "(allowed)" : "(refused)", routes[r].target,
                         servers[s].port == 8008 ? "its only route, file_serve" : routes[r].type,
                         servers[s].port,
                         servers[s].list, want, in && routes[r].content ? " with \"" : "",
                         in && routes[r].content
                             ? xt_quote(routes[r].content, strlen(routes[r].content))
                             : "",
                         in && routes[r].content ? "\"" : "");
                xt_expect(resp->status == want && content, expected, "%s%s",
                          xt_describe_response(resp), xt_server_note(p));
                test_free(resp);
            }
            close(fd);
        }
    }
}

/* IPv6: ::1 against entries of each kind, on a listener bound to ::1. */
void xt_ipf_check_an_ipv6_client_is_matched_by_its_own_entries(const char *fixture)
{
    current = fixture;
    xt_proc_t *p = start_server();
    xt_upstream_start(UPSTREAM, "strict");
    static const struct {
        const char *target, *rule;
        int want;
        const char *body; /* in the body of a 200 */
    } rows[] = {
        {"/a.txt", "route \"/\": ip_whitelist [::1]", 200, "aaaa\n"},
        {"/docs/notes.txt", "route \"/docs\": ip_whitelist [127.0.0.0/8] (IPv4 only)", 403, NULL},
        {"/b.txt", "route \"/b.txt\": ip_blacklist [::1]", 403, NULL},
        {"/go", "route \"/go\" (redirect): ip_blacklist [::/0]", 403, NULL},
        {"/api/v6", "route \"/api\" (reverse_proxy): ip_whitelist [::1/128]", 200,
         "GET /api/v6 HTTP/1.1"},
    };
    int fd = xt_connect_from("::1", V6_PORT);
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        xt_response_t *r = get_on(fd, rows[i].target);
        char expected[300];
        snprintf(expected, sizeof expected, "from ::1, GET [::1]:%u%s (%s): %d", V6_PORT,
                 rows[i].target, rows[i].rule, rows[i].want);
        bool body = !rows[i].body || strstr(r->body, rows[i].body);
        xt_expect(r->status == rows[i].want && body, expected, "%s%s", xt_describe_response(r),
                  xt_server_note(p));
        test_free(r);
    }
    close(fd);
}

/* Refused requests to three proxy routes (whitelist, blacklist, both),
 * then one allowed: the upstream has seen no connection before it. */
void xt_ipf_check_a_refused_request_never_reaches_the_upstream(const char *fixture)
{
    current = fixture;
    xt_proc_t *p = start_server();
    xt_proc_t *up = xt_upstream_start(UPSTREAM, "strict");
    const uint16_t ports[] = {8005, 8006, 8007, 8009};
    for (size_t i = 0; i < sizeof ports / sizeof *ports; i++) {
        for (int round = 0; round < 2; round++) { /* on a new connection, then after a 403 */
            int fd = xt_connect_from("127.0.0.2", ports[i]);
            xt_response_t *r = get_on(fd, "/api/refused");
            char expected[160];
            snprintf(expected, sizeof expected,
                     "127.0.0.2, GET /api/refused on %u (its proxy route refuses it): 403",
                     ports[i]);
            xt_expect(r->status == 403, expected, "%s%s", xt_describe_response(r),
                      xt_server_note(p));
            test_free(r);
            if (round == 1) { /* and a POST with a body on the same kept connection */
                r = xt_ask(fd, "POST /api/refused HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                               "\r\nbody", false);
                xt_expect(r->status == 403, "then a POST with a body to it: 403", "%s",
                          xt_describe_response(r));
                test_free(r);
            }
            close(fd);
        }
    }
    int fd = xt_connect_from("127.0.0.1", 8005);
    xt_response_t *r = get_on(fd, "/api/allowed");
    long connection = 0, number = 0;
    answer_numbers(r, &connection, &number);
    char log[8192];
    int logged = upstream_requests(up, log, sizeof log);
    xt_expect(r->status == 200 && connection == 1 && number == 1 && logged == 1 &&
                  strstr(log, " /api/allowed ") && !strstr(log, "/api/refused"),
              "after 12 refused requests to proxy routes, the first allowed one (127.0.0.1, "
              "8005) is the upstream's connection 1, request 1, and the only one it ever got",
              "%s; X-Connection %ld, X-Request-Number %ld; the upstream logged %d request(s): "
              "\"%s\"", xt_describe_response(r), connection, number, logged,
              xt_quote(log, strlen(log)));
    test_free(r);
    close(fd);
}

/* inotify sees every open() of a file in the watched folders, by anyone:
 * none may come while refused requests for files are answered. */
void xt_ipf_check_a_refused_request_opens_no_file(const char *fixture)
{
    current = fixture;
    xt_proc_t *p = start_server();
    int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (in < 0)
        xt_fail("inotify_init1(): %s", strerror(errno));
    char dir[4096];
    const char *folders[] = {"public", "public/docs"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(dir, sizeof dir, "%s/%s", xt_workdir(p), folders[i]);
        if (inotify_add_watch(in, dir, IN_OPEN | IN_ACCESS) < 0)
            xt_fail("inotify_add_watch(%s): %s", dir, strerror(errno));
    }
    static const struct {
        uint16_t port;
        const char *target;
    } refused[] = {{8005, "/a.txt"}, {8005, "/docs/"}, {8006, "/digits.txt"},
                   {8007, "/docs/notes.txt"}, {8008, "/"}, {8009, "/docs/notes.txt"}};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        int fd = xt_connect_from("127.0.0.2", refused[i].port);
        xt_response_t *r = get_on(fd, refused[i].target);
        char expected[160];
        snprintf(expected, sizeof expected, "127.0.0.2, GET %s on %u: 403", refused[i].target,
                 refused[i].port);
        xt_expect(r->status == 403, expected, "%s", xt_describe_response(r));
        test_free(r);
        close(fd);
    }
    /* Every 403 has arrived, so any open() made for them is in the queue. */
    char events[4096];
    ssize_t n = read(in, events, sizeof events);
    const struct inotify_event *e = (const struct inotify_event *)events;
    xt_expect(n < 0 && errno == EAGAIN,
              "while six refused requests for files and folders are answered 403, nothing in "
              "public/ is opened (inotify: no IN_OPEN, no IN_ACCESS)",
              "inotify reported %s \"%s\"", n > 0 ? (e->mask & IN_OPEN ? "an open of" : "a read of")
                                                  : "an error on",
              n > 0 && e->len ? e->name : "(the folder)");
    /* The control: the same probe sees an allowed request's open. */
    int fd = xt_connect_from("127.0.0.1", 8005);
    xt_response_t *r = get_on(fd, "/a.txt");
    n = read(in, events, sizeof events);
    bool opened = false;
    for (ssize_t at = 0; at < n;) {
        e = (const struct inotify_event *)(events + at);
        opened = opened || ((e->mask & IN_OPEN) && e->len && strcmp(e->name, "a.txt") == 0);
        at += (ssize_t)(sizeof *e + e->len);
    }
    xt_expect(r->status == 200 && opened,
              "then 127.0.0.1's GET /a.txt on 8005 gets 200, and inotify sees a.txt opened "
              "(the probe works)", "%s; inotify %s", xt_describe_response(r),
              opened ? "saw the open" : "saw no open of a.txt");
    test_free(r);
    close(fd);
    close(in);
}

/* 403s are framed replies on a kept connection: pipelined requests mixing
 * refused and allowed routes come back in order, then "close" is honoured. */
void xt_ipf_check_keeps_the_connection_and_the_order_of_pipelined_requests_across_403s(const char *fixture)
{
    current = fixture;
    xt_proc_t *p = start_server();
    xt_upstream_start(UPSTREAM, "strict");
    const char *four = "GET /docs/notes.txt HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /api/p HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /b.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    for (int k = 0; k < 2; k++) {
        const char *source = k ? "127.0.0.2" : "127.0.0.1";
        int fd = xt_connect_from(source, 8009);
        xt_send_all(fd, four, strlen(four));
        const struct {
            int status;
            const char *body;
        } want[] = {{k ? 403 : 200, k ? NULL : "Notes in a sub-folder"},
                    {200, "aaaa\n"},
                    {k ? 403 : 200, k ? NULL : "GET /api/p HTTP/1.1"},
                    {200, "bbbb\n"}};
        for (int i = 0; i < 4; i++) {
            xt_response_t *r = xt_read_response(fd, false);
            char expected[300];
            snprintf(expected, sizeof expected,
                     "%s sends four requests to 8009 in one write (/docs and /api are for "
                     "127.0.0.1 only): response %d is %d%s", source, i + 1, want[i].status,
                     want[i].body ? " with its body" : "");
            xt_expect(r->status == want[i].status &&
                          (!want[i].body || strstr(r->body, want[i].body)),
                      expected, "%s%s", xt_describe_response(r), xt_server_note(p));
            test_free(r);
        }
        xt_expect(xt_closes_silently(fd), "then the server closes (the last said close)",
                  "the connection stayed open for %d ms", XT_REPLY_MS);
        close(fd);
    }
}

/* A refused request's body is not read: answering 403 closes the
 * connection, so a request hidden in the body is never parsed, by xps or
 * by the upstream. */
void xt_ipf_check_a_request_hidden_in_a_refused_body_is_never_parsed(const char *fixture)
{
    current = fixture;
    xt_proc_t *p = start_server();
    xt_proc_t *up = xt_upstream_start(UPSTREAM, "strict");
    const char *hidden = "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n";
    char by_length[512], chunked[512];
    snprintf(by_length, sizeof by_length,
             "POST /api/x HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%s", strlen(hidden),
             hidden);
    snprintf(chunked, sizeof chunked,
             "POST /api/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n%zx\r\n%s\r\n"
             "0\r\n\r\n", strlen(hidden), hidden);
    const char *requests[] = {by_length, chunked};
    const char *how[] = {"Content-Length", "chunked"};
    for (int i = 0; i < 2; i++) {
        int fd = xt_connect_from("127.0.0.2", 8005);
        xt_response_t *r = xt_ask(fd, requests[i], false);
        char conn[32] = "";
        xt_header_value(r->head, "Connection", conn, sizeof conn);
        bool closes = xt_closes_silently(fd);
        char expected[300];
        snprintf(expected, sizeof expected,
                 "127.0.0.2 POSTs to 8005's refused /api with a %s body that is a GET: one 403 "
                 "with \"Connection: close\", then the close, and no second response", how[i]);
        xt_expect(r->status == 403 && strcasecmp(conn, "close") == 0 && closes, expected,
                  "%s; then %s%s", xt_describe_response(r),
                  closes ? "the close" : "more bytes or no close", xt_server_note(p));
        test_free(r);
        close(fd);
    }
    /* The same bytes from an allowed client reach the upstream as one POST. */
    int fd = xt_connect_from("127.0.0.1", 8005);
    xt_response_t *r = xt_ask(fd, by_length, false);
    long connection = 0, number = 0;
    answer_numbers(r, &connection, &number);
    char log[8192];
    int logged = upstream_requests(up, log, sizeof log);
    xt_expect(r->status == 200 && connection == 1 && number == 1 && logged == 1 &&
                  strstr(log, "request 1 POST /api/x ") && strstr(r->body, hidden),
              "then 127.0.0.1 sends the same POST: the upstream's connection 1, request 1, the "
              "only request it ever parsed, with the hidden GET as its body's bytes",
              "%s; X-Connection %ld, X-Request-Number %ld; the upstream logged %d request(s): "
              "\"%s\"", xt_describe_response(r), connection, number, logged,
              xt_quote(log, strlen(log)));
    test_free(r);
    close(fd);
}

/* A bad entry stops the server before it listens. */
void xt_ipf_check_a_bad_access_list_entry_stops_the_server_before_it_listens(const char *fixture)
{
    current = fixture;
    xt_require_port_free(8005);
    static const struct {
        const char *file, *path, *why;
    } bad[] = {
        {"bad-cidr.json", "servers[0].routes[1].ip_whitelist[1]",
         "\"10.0.0.0/33\" is not an IP address or a CIDR block: /33 is longer than an IPv4 "
         "address (32 bits)"},
        {"bad-entry.json", "servers[0].routes[0].ip_blacklist[0]",
         "\"nonsense\" is not an IP address or a CIDR block"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *args[] = {bad[i].file, NULL};
        xt_start_opts_t opts = {.fixture_dir = current};
        int status = 0;
        char *said = xt_run_to_exit(xt_stage_bin(), args, &opts, 5000, &status);
        int probe = xt_try_connect(8005);
        if (probe >= 0)
            close(probe);
        char expected[400];
        snprintf(expected, sizeof expected,
                 "started with %s: exits non-zero, saying \"%s: %s: %s\", nothing on 8005",
                 bad[i].file, bad[i].file, bad[i].path, bad[i].why);
        char must[300];
        snprintf(must, sizeof must, "%s: %s", bad[i].path, bad[i].why);
        xt_expect(WIFEXITED(status) && WEXITSTATUS(status) != 0 && strstr(said, bad[i].file) &&
                      strstr(said, must) && probe < 0,
                  expected, "%s, printed \"%s\"%s", xt_status_text(status),
                  xt_quote(said, strlen(said)), probe >= 0 ? ", and 8005 accepted" : "");
        free(said);
    }
}

