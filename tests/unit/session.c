/*
 * tests/unit/session.c — modules/session checked against its header.
 *
 * Without the network, as tables:
 *  - xps_session_route: (listener, Host, method, target) → action, on a
 *    configuration made here over a folder made here: files, index files,
 *    a folder named without its '/', a folder without an index, a private
 *    file, methods other than GET/HEAD, redirects, the proxy route, the
 *    metrics route, a Host no block lists, a listener nobody configured;
 *  - [stage 14] the same with a client address: 403 before the route
 *    acts, for every route type, for clients the access lists refuse;
 *  (the request head the proxy sends upstream is tests/unit/proxy.c's).
 *
 * Then whole sessions on a real core and loop: a listener on 127.0.0.1
 * port 0 whose clients get sessions, a plain client socket and a plain
 * upstream socket driven from a 1 ms loop timer (as in tests/unit/tcp.c:
 * one thread, every run bounded by a deadline). Covered: a file, a proxied
 * request with its head rewritten and its chunked body forwarded, 502 for
 * a refused connect and for an upstream that closes without a byte, a
 * client sending its head in pieces, xps_core_destroy with sessions in
 * flight, and (stage 13) one send() per small response on a kept
 * connection, which is parked between requests. Each ends with the core's member count back to what it was (the
 * session and both connections freed themselves). Run it under `make
 * SAN=1` and valgrind for leaks.
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
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/xps_buffer.h"
#include "core/xps_core.h"
#include "core/xps_logger.h"
#include "http/xps_http_parser.h"
#include "http/xps_http_request.h"
#include "modules/config/xps_config.h"
#include "modules/file/xps_file.h"
#include "modules/loop/xps_loop.h"
#include "modules/session/xps_session.h"
#include "modules/tcp/xps_tcp.h"

enum { RUN_MS = 10000, CAP = 65536 };

/* ------------------------------------------------------- send counter */

/* Link-time interposition, as tests/unit/tcp.c does for sendfile(): this
 * send() wins over libc's for the library linked into this binary. It
 * records the length of every send() whose bytes start a response, then
 * makes the system call. */
static size_t response_sends;
static size_t response_send_len[8];

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
    if (len >= 9 && memcmp(buf, "HTTP/1.1 ", 9) == 0 && response_sends < 8)
        response_send_len[response_sends++] = len;
    return sendto(fd, buf, len, flags, NULL, 0);
}

static char tree[PATH_MAX / 2]; /* the scratch folder: tree/public/... */

/* ------------------------------------------------------------ fixtures */

static void put(const char *rel, const char *text, mode_t mode)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", tree, rel);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static void folder(const char *rel)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", tree, rel);
    assert_int_equal(mkdir(path, 0755), 0);
}

static int group_setup(void **state)
{
    (void)state;
    xps_log_set_level(XPS_LOG_ERROR); /* XPS_LOG_LEVEL=debug shows the sessions' lines */
    xps_log_init_from_env();
    const char *tmp = getenv("TMPDIR");
    snprintf(tree, sizeof tree, "%s/xps-session-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(tree));
    assert_int_equal(chmod(tree, 0755), 0);
    folder("public");
    folder("public/docs");
    folder("public/files");
    put("public/index.html", "<h1>index</h1>\n", 0644);
    put("public/a.txt", "file a\n", 0644);
    put("public/private.txt", "PRIVATE\n", 0600);
    put("public/docs/index.html", "<h1>docs</h1>\n", 0644);
    put("public/files/readme.txt", "no index here\n", 0644);
    return 0;
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st, (void)type, (void)ftw;
    return remove(path);
}

static int group_teardown(void **state)
{
    (void)state;
    return nftw(tree, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* The configuration of the route tests and of the sessions: block 1 for
 * Host site.test, block 2 for any other Host, on the same listener.
 * `upstream_port` is where "/api" (and every path of block 2) proxies. */
static xps_config_t *make_config(unsigned upstream_port)
{
    char json[2048], err[XPS_CONFIG_ERR_MAX];
    snprintf(json, sizeof json,
             "{\"server_name\": \"unit test\", \"servers\": ["
             " {\"listeners\": [{\"host\": \"127.0.0.1\", \"port\": 9001}],"
             "  \"hostnames\": [\"site.test\"],"
             "  \"routes\": ["
             "   {\"req_path\": \"/\", \"type\": \"file_serve\", \"dir_path\": \"public\","
             "    \"index\": [\"missing.html\", \"index.html\"]},"
             "   {\"req_path\": \"/go\", \"type\": \"redirect\", \"http_status_code\": 301,"
             "    \"redirect_url\": \"https://x.test/\"},"
             "   {\"req_path\": \"/api\", \"type\": \"reverse_proxy\","
             "    \"upstreams\": [\"127.0.0.1:%u\", \"127.0.0.1:1\"]},"
             "   {\"req_path\": \"/metrics\", \"type\": \"metrics\"},"
             "   {\"req_path\": \"/health\", \"type\": \"health\"}]},"
             " {\"listeners\": [{\"host\": \"127.0.0.1\", \"port\": 9001}],"
             "  \"routes\": [{\"req_path\": \"/\", \"type\": \"reverse_proxy\","
             "    \"upstreams\": [\"127.0.0.1:%u\"]}]},"
             " {\"listeners\": [{\"host\": \"127.0.0.1\", \"port\": 9002}]}]}",
             upstream_port, upstream_port);
    xps_config_t *c = xps_config_parse(json, "unit.json", tree, err, sizeof err);
    if (!c)
        fail_msg("config: %s", err);
    return c;
}

/* A request object for raw text (a complete head), or a failed test. */
static xps_http_request_t *request_of(const char *raw, xps_http_parser_t **parser)
{
    *parser = xps_http_parser_create(NULL);
    assert_non_null(*parser);
    assert_int_equal(xps_http_parser_parse_head(*parser, raw, strlen(raw)), XPS_OK);
    int error = XPS_OK;
    xps_http_request_t *req = xps_http_request_create(xps_http_parser_head(*parser), raw, &error);
    assert_non_null(req);
    return req;
}

/* ------------------------------------------------------- route table */

static void routes_requests_to_actions(void **state)
{
    (void)state;
    static const struct {
        uint16_t port;
        const char *request;
        xps_session_action_kind_t kind;
        int status;
        const char *detail; /* FILE: the file's path under public; REPLY 3xx:
                               Location; 405: Allow; PROXY: the upstream's text */
    } rows[] = {
        {9001, "GET / HTTP/1.1\r\nHost: site.test\r\n\r\n", XPS_SESSION_FILE, 200, "/index.html"},
        {9001, "HEAD /a.txt HTTP/1.1\r\nHost: SITE.test:9001\r\n\r\n", XPS_SESSION_FILE, 200,
         "/a.txt"},
        {9001, "GET /docs HTTP/1.1\r\nHost: site.test\r\n\r\n", XPS_SESSION_REPLY, 301, "/docs/"},
        {9001, "GET /docs?x=1 HTTP/1.1\r\nHost: site.test\r\n\r\n", XPS_SESSION_REPLY, 301,
         "/docs/?x=1"},
        {9001, "GET /docs/ HTTP/1.1\r\nHost: site.test\r\n\r\n", XPS_SESSION_FILE, 200,
         "/docs/index.html"},
        {9001, "GET /files/ HTTP/1.1\r\nHost: site.test\r\n\r\n", XPS_SESSION_REPLY, 404, NULL},
        {9001, "GET /missing HTTP/1.1\r\nHost: site.test\r\n\r\n", XPS_SESSION_REPLY, 404, NULL},
        {9001, "GET /private.txt HTTP/1.1\r\nHost: site.test\r\n\r\n", XPS_SESSION_REPLY, 403,
         NULL},
        {9001, "POST /a.txt HTTP/1.1\r\nHost: site.test\r\nContent-Length: 0\r\n\r\n",
         XPS_SESSION_REPLY, 405, "GET, HEAD, OPTIONS"},
        /* OPTIONS (RFC 9110 §9.3.7): "*" is the server as a whole */
        {9001, "OPTIONS * HTTP/1.1\r\nHost: site.test\r\n\r\n", XPS_SESSION_REPLY, 200,
         "GET, HEAD, OPTIONS"},
        {9001, "OPTIONS /a.txt HTTP/1.1\r\nHost: site.test\r\n\r\n", XPS_SESSION_REPLY, 200,
         "GET, HEAD, OPTIONS"},
        {9001, "OPTIONS /docs/ HTTP/1.1\r\nHost: site.test\r\n\r\n", XPS_SESSION_REPLY, 200,
         "GET, HEAD, OPTIONS"},
        {9001, "OPTIONS /missing HTTP/1.1\r\nHost: site.test\r\n\r\n", XPS_SESSION_REPLY, 404,
         NULL},
        /* a folder's 301 is built from the normalised path: never another origin */
        {9001, "GET //evil.example/%2e%2e/docs HTTP/1.1\r\nHost: site.test\r\n\r\n",
         XPS_SESSION_REPLY, 301, "/docs/"},
        {9001, "GET //evil.example/../docs HTTP/1.1\r\nHost: site.test\r\n\r\n",
         XPS_SESSION_REPLY, 301, "/docs/"},
        {9001, "GET /\\evil.example/%2e%2e/docs?a=b HTTP/1.1\r\nHost: site.test\r\n\r\n",
         XPS_SESSION_REPLY, 301, "/docs/?a=b"},
        {9001, "GET /%64ocs HTTP/1.1\r\nHost: site.test\r\n\r\n", XPS_SESSION_REPLY, 301,
         "/docs/"},
        {9001, "PROPFIND /a.txt HTTP/1.1\r\nHost: site.test\r\n\r\n", XPS_SESSION_REPLY, 501, NULL},
        {9001, "GET /go/far HTTP/1.1\r\nHost: site.test\r\n\r\n", XPS_SESSION_REPLY, 301,
         "https://x.test/"},
        {9001, "GET /gone HTTP/1.1\r\nHost: site.test\r\n\r\n", XPS_SESSION_REPLY, 404, NULL},
        {9001, "DELETE /api/users/7 HTTP/1.1\r\nHost: site.test\r\n\r\n", XPS_SESSION_PROXY, 0,
         "127.0.0.1:3999"},
        {9001, "GET /metrics HTTP/1.1\r\nHost: site.test\r\n\r\n", XPS_SESSION_REPLY, 501, NULL},
        {9001, "GET /a.txt HTTP/1.1\r\nHost: other.test\r\n\r\n", XPS_SESSION_PROXY, 0,
         "127.0.0.1:3999"},
        {9001, "CONNECT other.test:443 HTTP/1.1\r\nHost: other.test:443\r\n\r\n",
         XPS_SESSION_REPLY, 501, NULL},
        {9002, "GET / HTTP/1.1\r\nHost: site.test\r\n\r\n", XPS_SESSION_REPLY, 404, NULL},
        {9003, "GET / HTTP/1.1\r\nHost: site.test\r\n\r\n", XPS_SESSION_REPLY, 404, NULL},
    };
    xps_core_t *core = xps_core_create();
    assert_non_null(core);
    xps_config_t *config = make_config(3999);
    char root[PATH_MAX + 16];
    snprintf(root, sizeof root, "%s/public", tree);
    char real_root[PATH_MAX];
    assert_non_null(realpath(root, real_root));
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        xps_http_parser_t *parser;
        xps_http_request_t *req = request_of(rows[i].request, &parser);
        xps_session_action_t a;
        const xps_session_origin_t from = {"127.0.0.1", rows[i].port, NULL, false, NULL, NULL, 0,
                                           false, false};
        assert_int_equal(xps_session_route(core, config, &from, req, &a), XPS_OK);
        const char *detail = NULL;
        char path[PATH_MAX];
        if (a.kind == XPS_SESSION_FILE) {
            const char *p = xps_file_path(a.file);
            snprintf(path, sizeof path, "%s", strncmp(p, real_root, strlen(real_root)) == 0
                                                  ? p + strlen(real_root) : p);
            detail = path;
        } else if (a.kind == XPS_SESSION_PROXY) {
            detail = a.upstream->text;
        } else {
            detail = a.location ? a.location : a.allow;
        }
        if (a.kind != rows[i].kind || a.status != rows[i].status ||
            (rows[i].detail ? !detail || strcmp(detail, rows[i].detail) != 0 : detail != NULL))
            fail_msg("row %zu (\"%s\" on %u): expected kind %d status %d \"%s\", got kind %d "
                     "status %d \"%s\" (%s)",
                     i, rows[i].request, rows[i].port, rows[i].kind, rows[i].status,
                     rows[i].detail ? rows[i].detail : "(none)", a.kind, a.status,
                     detail ? detail : "(none)", a.reason);
        assert_non_null(a.reason);
        xps_session_action_release(&a);
        assert_null(a.file);
        assert_null(a.location);
        xps_session_action_release(&a); /* twice is allowed */
        xps_http_request_destroy(req);
        xps_http_parser_destroy(parser);
    }
    /* [apps/xps] With an observer's counters (origin.metrics) the metrics
     * route is answered: its page for GET and HEAD, 405 for the rest. */
    static const struct {
        const char *request;
        xps_session_action_kind_t kind;
        int status;
        const char *allow;
    } metrics_rows[] = {
        {"GET /metrics HTTP/1.1\r\nHost: site.test\r\n\r\n", XPS_SESSION_METRICS, 200, NULL},
        {"HEAD /metrics HTTP/1.1\r\nHost: site.test\r\n\r\n", XPS_SESSION_METRICS, 200, NULL},
        {"POST /metrics HTTP/1.1\r\nHost: site.test\r\n\r\n", XPS_SESSION_REPLY, 405, "GET, HEAD"},
    };
    for (size_t i = 0; i < sizeof metrics_rows / sizeof *metrics_rows; i++) {
        xps_http_parser_t *parser;
        xps_http_request_t *req = request_of(metrics_rows[i].request, &parser);
        xps_session_action_t a;
        const xps_session_origin_t from = {"127.0.0.1", 9001, NULL, false, NULL, NULL, 0,
                                           false, true}; /* not draining; metrics served */
        assert_int_equal(xps_session_route(core, config, &from, req, &a), XPS_OK);
        if (a.kind != metrics_rows[i].kind || a.status != metrics_rows[i].status ||
            (metrics_rows[i].allow ? !a.allow || strcmp(a.allow, metrics_rows[i].allow) != 0
                                   : a.allow != NULL))
            fail_msg("%s: got kind %d status %d", metrics_rows[i].request, a.kind, a.status);
        xps_session_action_release(&a);
        xps_http_request_destroy(req);
        xps_http_parser_destroy(parser);
    }
    xps_config_destroy(config);
    xps_core_destroy(core);
}

/* A health route: 200 with the text "ok" while the worker serves, 503 (and
 * no text: the error page) once the origin says it drains. [stage 21] */
static void a_health_route_says_ok_until_the_worker_drains(void **state)
{
    (void)state;
    xps_core_t *core = xps_core_create();
    assert_non_null(core);
    xps_config_t *config = make_config(3999);
    for (int draining = 0; draining <= 1; draining++) {
        xps_http_parser_t *parser;
        xps_http_request_t *req =
            request_of("GET /health HTTP/1.1\r\nHost: site.test\r\n\r\n", &parser);
        const xps_session_origin_t from = {"127.0.0.1", 9001, NULL, false, NULL, NULL, 0,
                                           draining == 1, false};
        xps_session_action_t a;
        assert_int_equal(xps_session_route(core, config, &from, req, &a), XPS_OK);
        assert_int_equal(a.kind, XPS_SESSION_REPLY);
        assert_int_equal(a.status, draining ? 503 : 200);
        if (draining)
            assert_null(a.text);
        else
            assert_string_equal(a.text, "ok");
        xps_session_action_release(&a);
        xps_http_request_destroy(req);
        xps_http_parser_destroy(parser);
    }
    xps_config_destroy(config);
    xps_core_destroy(core);
}

/* ------------------------------------------------ access lists [stage 14] */

/* xps_session_route with a client address: a refused client gets REPLY
 * 403 on every route type, with no file opened and no upstream chosen
 * (and 403 also for a file that does not exist: it learns nothing of the
 * route); an allowed one gets what the route does. Without a client
 * (stages 12 and 13) the lists are never asked. */
static void refused_clients_get_403_before_the_route_acts(void **state)
{
    (void)state;
    char err[XPS_CONFIG_ERR_MAX];
    xps_config_t *config = xps_config_parse(
        "{\"servers\": [{\"listeners\": [{\"host\": \"127.0.0.1\", \"port\": 9005}], \"routes\": ["
        " {\"req_path\": \"/\", \"type\": \"file_serve\", \"dir_path\": \"public\","
        "  \"ip_whitelist\": [\"127.0.0.1\", \"::1\"]},"
        " {\"req_path\": \"/open\", \"type\": \"file_serve\", \"dir_path\": \"public\"},"
        " {\"req_path\": \"/go\", \"type\": \"redirect\", \"redirect_url\": \"/\","
        "  \"ip_blacklist\": [\"127.0.0.2\"]},"
        " {\"req_path\": \"/api\", \"type\": \"reverse_proxy\", \"upstreams\": [\"127.0.0.1:1\"],"
        "  \"ip_whitelist\": [\"10.0.0.0/8\"], \"ip_blacklist\": [\"10.0.0.2\"]},"
        " {\"req_path\": \"/metrics\", \"type\": \"metrics\", \"ip_whitelist\": [\"::1\"]}]}]}",
        "unit.json", tree, err, sizeof err);
    if (!config)
        fail_msg("config: %s", err);
    static const struct {
        const char *client; /* NULL: no access check */
        const char *target;
        xps_session_action_kind_t kind;
        int status;
    } rows[] = {
        {"127.0.0.1", "/a.txt", XPS_SESSION_FILE, 200},
        {"::1", "/a.txt", XPS_SESSION_FILE, 200},
        {"::ffff:127.0.0.1", "/a.txt", XPS_SESSION_FILE, 200},
        {"127.0.0.2", "/a.txt", XPS_SESSION_REPLY, 403},
        {"127.0.0.2", "/missing.txt", XPS_SESSION_REPLY, 403}, /* not 404 */
        {"127.0.0.2", "/docs", XPS_SESSION_REPLY, 403},        /* not the folder's 301 */
        {"::2", "/a.txt", XPS_SESSION_REPLY, 403},
        {"127.0.0.2", "/open/", XPS_SESSION_REPLY, 404}, /* no lists: the route answers */
        {"127.0.0.1", "/go", XPS_SESSION_REPLY, 302},
        {"127.0.0.2", "/go", XPS_SESSION_REPLY, 403},
        {"10.0.0.1", "/api/x", XPS_SESSION_PROXY, 0},
        {"10.0.0.2", "/api/x", XPS_SESSION_REPLY, 403},
        {"127.0.0.1", "/api/x", XPS_SESSION_REPLY, 403},
        {"127.0.0.1", "/metrics", XPS_SESSION_REPLY, 403},
        {"::1", "/metrics", XPS_SESSION_REPLY, 501},
        {NULL, "/a.txt", XPS_SESSION_FILE, 200},
        {NULL, "/api/x", XPS_SESSION_PROXY, 0},
        {NULL, "/go", XPS_SESSION_REPLY, 302},
    };
    xps_core_t *core = xps_core_create();
    assert_non_null(core);
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        char raw[256];
        snprintf(raw, sizeof raw, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", rows[i].target);
        xps_http_parser_t *parser;
        xps_http_request_t *req = request_of(raw, &parser);
        xps_ipfilter_addr_t addr;
        if (rows[i].client)
            assert_int_equal(xps_ipfilter_addr_parse(rows[i].client, &addr), XPS_OK);
        const xps_session_origin_t from = {"127.0.0.1", 9005, rows[i].client ? &addr : NULL,
                                           false, NULL, NULL, 0, false, false};
        xps_session_action_t a;
        assert_int_equal(xps_session_route(core, config, &from, req, &a), XPS_OK);
        if (a.kind != rows[i].kind || a.status != rows[i].status)
            fail_msg("row %zu: client %s, GET %s: expected kind %d status %d, got kind %d "
                     "status %d (%s)", i, rows[i].client ? rows[i].client : "(no check)",
                     rows[i].target, rows[i].kind, rows[i].status, a.kind, a.status, a.reason);
        if (a.status == 403) { /* refused: nothing of the route was prepared */
            assert_null(a.file);
            assert_null(a.location);
            assert_null(a.upstream);
        }
        xps_session_action_release(&a);
        xps_http_request_destroy(req);
        xps_http_parser_destroy(parser);
    }
    xps_core_destroy(core);
    xps_config_destroy(config);
}

/* ------------------------------------------------ listings [stage 15] */

/* xps_session_route and dir_browsing: a folder with none of its index
 * files is LISTING only when the route says dir_browsing AND the session
 * allows listings (from->dir_listing, stage 15); either off → 404, as in
 * stages 12-14. A folder with an index file is still its index; the
 * folder's 301 still comes first; OPTIONS on a listable folder is 200
 * with Allow and no listing; a refused client gets 403 before any of it. */
static void folders_are_listed_only_when_route_and_stage_allow(void **state)
{
    (void)state;
    char err[XPS_CONFIG_ERR_MAX];
    xps_config_t *config = xps_config_parse(
        "{\"servers\": [{\"listeners\": [{\"host\": \"127.0.0.1\", \"port\": 9006}], \"routes\": ["
        " {\"req_path\": \"/\", \"type\": \"file_serve\", \"dir_path\": \"public\","
        "  \"dir_browsing\": true},"
        " {\"req_path\": \"/files\", \"type\": \"file_serve\", \"dir_path\": \"public\"},"
        " {\"req_path\": \"/docs\", \"type\": \"file_serve\", \"dir_path\": \"public\","
        "  \"dir_browsing\": true, \"index\": [\"none.html\"], \"ip_whitelist\": [\"::1\"]}]}]}",
        "unit.json", tree, err, sizeof err);
    if (!config)
        fail_msg("config: %s", err);
    static const struct {
        bool may_list;      /* from->dir_listing */
        const char *method; /* "GET", "HEAD", "OPTIONS" */
        const char *target;
        const char *client; /* NULL: no access check */
        xps_session_action_kind_t kind;
        int status;
        size_t entries;     /* LISTING: how many entries it lists */
    } rows[] = {
        {true, "GET", "/", NULL, XPS_SESSION_FILE, 200, 0},       /* index.html wins */
        {true, "GET", "/docs/", NULL, XPS_SESSION_LISTING, 200, 1}, /* none.html: listed (index.html) */
        {true, "HEAD", "/docs/", NULL, XPS_SESSION_LISTING, 200, 1},
        {true, "GET", "/docs", NULL, XPS_SESSION_REPLY, 301, 0},  /* the '/' first */
        {true, "OPTIONS", "/docs/", NULL, XPS_SESSION_REPLY, 200, 0},
        {false, "GET", "/docs/", NULL, XPS_SESSION_REPLY, 404, 0}, /* stage 12-14 */
        {true, "GET", "/files/", NULL, XPS_SESSION_REPLY, 404, 0}, /* route: off */
        {true, "GET", "/docs/", "127.0.0.1", XPS_SESSION_REPLY, 403, 0},
        {true, "GET", "/docs/", "::1", XPS_SESSION_LISTING, 200, 1},
        {true, "GET", "/nowhere/", NULL, XPS_SESSION_REPLY, 404, 0},
    };
    xps_core_t *core = xps_core_create();
    assert_non_null(core);
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        char raw[256];
        snprintf(raw, sizeof raw, "%s %s HTTP/1.1\r\nHost: x\r\n\r\n", rows[i].method,
                 rows[i].target);
        xps_http_parser_t *parser;
        xps_http_request_t *req = request_of(raw, &parser);
        xps_ipfilter_addr_t addr;
        if (rows[i].client)
            assert_int_equal(xps_ipfilter_addr_parse(rows[i].client, &addr), XPS_OK);
        const xps_session_origin_t from = {"127.0.0.1", 9006, rows[i].client ? &addr : NULL,
                                           rows[i].may_list, NULL, NULL, 0, false, false};
        xps_session_action_t a;
        assert_int_equal(xps_session_route(core, config, &from, req, &a), XPS_OK);
        if (a.kind != rows[i].kind || a.status != rows[i].status)
            fail_msg("row %zu: %s %s: expected kind %d status %d, got kind %d status %d (%s)", i,
                     rows[i].method, rows[i].target, rows[i].kind, rows[i].status, a.kind,
                     a.status, a.reason);
        if (a.kind == XPS_SESSION_LISTING) {
            assert_non_null(a.listing);
            assert_int_equal(xps_dirlist_count(a.listing), rows[i].entries);
        } else {
            assert_null(a.listing);
        }
        xps_session_action_release(&a);
        assert_null(a.listing);
        xps_http_request_destroy(req);
        xps_http_parser_destroy(parser);
    }
    xps_core_destroy(core);
    xps_config_destroy(config);
}

/* --------------------------------------------- rate limits [stage 18] */

/* xps_session_route and rate_limit: with a table (from->limiter), a route
 * with a rate_limit takes a token per request of (address, route): an
 * empty bucket is REPLY 429 with retry_after, before the file is opened
 * or the upstream chosen; the access check comes first (a refused client
 * takes no token); without a table (stages 12-17) nothing is counted.
 * One script on one table and a fake clock. */
static void rate_limited_routes_answer_429_after_the_access_check(void **state)
{
    (void)state;
    char err[XPS_CONFIG_ERR_MAX];
    xps_config_t *config = xps_config_parse(
        "{\"servers\": [{\"listeners\": [{\"host\": \"127.0.0.1\", \"port\": 9007}], \"routes\": ["
        " {\"req_path\": \"/\", \"type\": \"file_serve\", \"dir_path\": \"public\","
        "  \"rate_limit\": {\"rate\": 1, \"burst\": 2}},"
        " {\"req_path\": \"/api\", \"type\": \"reverse_proxy\", \"upstreams\": [\"127.0.0.1:3000\"],"
        "  \"rate_limit\": {\"rate\": 0.25, \"burst\": 1}, \"ip_blacklist\": [\"127.0.0.9\"]},"
        " {\"req_path\": \"/free\", \"type\": \"redirect\", \"redirect_url\": \"/\"}]}]}",
        "unit.json", tree, err, sizeof err);
    if (!config)
        fail_msg("config: %s", err);
    static const struct {
        uint64_t at_ms;
        bool table;         /* a limiter in the origin */
        const char *client;
        const char *target;
        xps_session_action_kind_t kind;
        int status;
        uint32_t retry;
    } rows[] = {
        {0, true, "127.0.0.1", "/a.txt", XPS_SESSION_FILE, 200, 0},
        {0, true, "127.0.0.1", "/missing", XPS_SESSION_REPLY, 404, 0}, /* takes a token too */
        {0, true, "127.0.0.1", "/a.txt", XPS_SESSION_REPLY, 429, 1},
        {0, true, "127.0.0.2", "/a.txt", XPS_SESSION_FILE, 200, 0},    /* its own bucket */
        {0, true, "127.0.0.1", "/free", XPS_SESSION_REPLY, 302, 0},    /* no rate_limit */
        {0, false, "127.0.0.1", "/a.txt", XPS_SESSION_FILE, 200, 0},   /* no table: 12-17 */
        {1000, true, "127.0.0.1", "/a.txt", XPS_SESSION_FILE, 200, 0}, /* refilled one */
        {1000, true, "127.0.0.1", "/a.txt", XPS_SESSION_REPLY, 429, 1},
        {0, true, "127.0.0.1", "/api/x", XPS_SESSION_PROXY, 0, 0},     /* another route */
        {10, true, "127.0.0.1", "/api/x", XPS_SESSION_REPLY, 429, 4},
        {10, true, "127.0.0.9", "/api/x", XPS_SESSION_REPLY, 403, 0},  /* refused first */
        {20, true, "127.0.0.9", "/api/x", XPS_SESSION_REPLY, 403, 0},  /* ... takes nothing */
        {4010, true, "127.0.0.1", "/api/x", XPS_SESSION_PROXY, 0, 0},
    };
    int error = XPS_OK;
    xps_ratelimit_t *table = xps_ratelimit_create(16, &error);
    assert_non_null(table);
    xps_core_t *core = xps_core_create();
    assert_non_null(core);
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        char raw[256];
        snprintf(raw, sizeof raw, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", rows[i].target);
        xps_http_parser_t *parser;
        xps_http_request_t *req = request_of(raw, &parser);
        xps_ipfilter_addr_t addr;
        assert_int_equal(xps_ipfilter_addr_parse(rows[i].client, &addr), XPS_OK);
        const xps_session_origin_t from = {"127.0.0.1", 9007, &addr, false,
                                           rows[i].table ? table : NULL, &addr, rows[i].at_ms,
                                           false, false};
        xps_session_action_t a;
        assert_int_equal(xps_session_route(core, config, &from, req, &a), XPS_OK);
        if (a.kind != rows[i].kind || a.status != rows[i].status ||
            (a.status == 429 && a.retry_after != rows[i].retry))
            fail_msg("row %zu: %s GET %s at %llu ms: expected kind %d status %d (Retry-After "
                     "%u), got kind %d status %d (%u, %s)", i, rows[i].client, rows[i].target,
                     (unsigned long long)rows[i].at_ms, rows[i].kind, rows[i].status,
                     rows[i].retry, a.kind, a.status, a.retry_after, a.reason);
        if (a.status == 429) { /* nothing of the route was prepared */
            assert_null(a.file);
            assert_null(a.upstream);
        }
        xps_session_action_release(&a);
        xps_http_request_destroy(req);
        xps_http_parser_destroy(parser);
    }
    /* By 4010 ms the buckets of "/" (127.0.0.1, 127.0.0.2) were full again and
     * have been forgotten; the one of /api, just used, remains. */
    assert_int_equal(xps_ratelimit_count(table), 1);
    xps_core_destroy(core);
    xps_ratelimit_destroy(table);
    xps_config_destroy(config);
}

/* ----------------------------------------------------- whole sessions */

/* A server whose clients get sessions, a client socket, a fake upstream. */
typedef struct rig {
    xps_core_t *core;
    xps_loop_t *loop;
    xps_listener_t *listener;
    xps_config_t *config;
    const xps_config_listener_t *record; /* 127.0.0.1:9001 of the config */
    xps_loop_timer_t *tick, *deadline;
    size_t members;          /* the loop and the listener */
    int sessions;            /* created by on_accept */

    int client;              /* non-blocking client socket, or -1 */
    const char *pieces[4];   /* what the client sends, one piece per tick */
    int next_piece;
    char got[CAP];           /* what the client received */
    size_t got_len;
    bool eof;

    int up_listen;           /* the fake upstream's listening socket, or -1 */
    uint16_t up_port;
    int up_conn;             /* its accepted connection, or -1 */
    const char *up_until;    /* the upstream answers once this has arrived */
    const char *up_reply;    /* ...with this, or NULL: it closes silently */
    char up_got[CAP];        /* what the upstream received */
    size_t up_len;
    bool up_done;

    bool done;               /* the stop condition held */

    bool http11;             /* sessions get stage 13's rules and park while idle */
    bool in_turn;            /* send a piece only once every earlier one is answered */
    int wakes;               /* parked connections woken (a new session each) */
} rig_t;

static void on_wake(xps_connection_t *c, void *data);

static void start_session(rig_t *r, xps_connection_t *c)
{
    int error = 12345;
    xps_session_t *s = xps_session_create(r->loop, c, r->config, r->record, &error);
    assert_non_null(s);
    assert_int_equal(error, XPS_OK);
    if (r->http11) {
        xps_session_set_http11(s, true);
        xps_session_set_idle_park(s, on_wake, r);
    }
}

static void on_accept(xps_listener_t *l, xps_connection_t *c, void *data)
{
    (void)l;
    rig_t *r = data;
    r->sessions++;
    start_session(r, c);
}

/* A parked client connection spoke again: a session of its own, as the
 * listeners of xps_session_listen_all do. */
static void on_wake(xps_connection_t *c, void *data)
{
    rig_t *r = data;
    r->wakes++;
    start_session(r, c);
}

/* Responses that have arrived whole, counted by their status lines. */
static int responses_in(const rig_t *r)
{
    int n = 0;
    for (const char *p = r->got; (p = strstr(p, "HTTP/1.1 ")); p++)
        n++;
    return n;
}

static void upstream_step(rig_t *r)
{
    if (r->up_listen >= 0 && r->up_conn < 0)
        r->up_conn = accept4(r->up_listen, NULL, NULL, SOCK_NONBLOCK);
    if (r->up_conn < 0 || r->up_done)
        return;
    ssize_t n = recv(r->up_conn, r->up_got + r->up_len, sizeof r->up_got - 1 - r->up_len, 0);
    if (n > 0)
        r->up_len += (size_t)n;
    r->up_got[r->up_len] = '\0';
    if (strstr(r->up_got, r->up_until) || n == 0) {
        if (r->up_reply)
            assert_int_equal(send(r->up_conn, r->up_reply, strlen(r->up_reply), MSG_NOSIGNAL),
                             (ssize_t)strlen(r->up_reply));
        close(r->up_conn);
        r->up_conn = -1;
        r->up_done = true;
    }
}

static void client_step(rig_t *r)
{
    if (r->client < 0)
        return;
    bool my_turn = !r->in_turn || responses_in(r) == r->next_piece;
    if (r->next_piece < 4 && r->pieces[r->next_piece] && my_turn) {
        const char *p = r->pieces[r->next_piece++];
        assert_int_equal(send(r->client, p, strlen(p), MSG_NOSIGNAL), (ssize_t)strlen(p));
    }
    ssize_t n = recv(r->client, r->got + r->got_len, sizeof r->got - 1 - r->got_len, 0);
    if (n > 0)
        r->got_len += (size_t)n;
    else if (n == 0)
        r->eof = true;
    r->got[r->got_len] = '\0';
}

static void on_tick(xps_loop_timer_t *t, void *data)
{
    rig_t *r = data;
    upstream_step(r);
    client_step(r);
    if (r->eof) /* the open-file cache stays by design (xps_file.h); the exchange must not */
        xps_file_cache_drop(r->core);
    if (r->eof && xps_core_member_count(r->core) == r->members) {
        r->done = true;
        xps_loop_stop(r->loop);
        return;
    }
    xps_loop_timer_start(t, 1);
}

static void on_deadline(xps_loop_timer_t *t, void *data)
{
    (void)t;
    xps_loop_stop(((rig_t *)data)->loop);
}

/* A listening socket on 127.0.0.1, ephemeral port: the fake upstream. */
static int listen_any(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* Sets up the rig; upstream: true for a listening fake upstream, false for
 * a port where nothing listens (a connect there is refused). */
static void rig_start(rig_t *r, bool upstream)
{
    memset(r, 0, sizeof *r);
    r->client = r->up_listen = r->up_conn = -1;
    r->up_listen = listen_any(&r->up_port);
    if (!upstream) { /* the port is free again once closed: refused */
        close(r->up_listen);
        r->up_listen = -1;
    }
    r->config = make_config(r->up_port);
    r->record = xps_config_listener(r->config, 0);
    assert_int_equal(r->record->port, 9001);
    r->core = xps_core_create();
    int error = 12345;
    r->loop = xps_loop_create(r->core, &error);
    assert_non_null(r->loop);
    /* The socket is on an ephemeral port; the sessions are told it is the
     * config's 127.0.0.1:9001, which is what routing looks at. */
    r->listener = xps_listener_create(r->loop, "127.0.0.1", 0, NULL, on_accept, r, &error);
    assert_non_null(r->listener);
    r->tick = xps_loop_timer_create(r->loop, on_tick, r);
    r->deadline = xps_loop_timer_create(r->loop, on_deadline, r);
    r->members = xps_core_member_count(r->core);
    assert_int_equal(r->members, 2);
    r->up_until = "\r\n\r\n";
}

static struct sockaddr_in server_address(const rig_t *r)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons(xps_listener_port(r->listener))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

/* Connects the client and runs until it has EOF and every session,
 * connection and pipe of the exchange is gone, or the deadline. */
static void rig_run(rig_t *r)
{
    r->client = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = server_address(r);
    assert_int_equal(connect(r->client, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(fcntl(r->client, F_SETFL, O_NONBLOCK), 0);
    xps_loop_timer_start(r->tick, 0);
    xps_loop_timer_start(r->deadline, RUN_MS);
    assert_int_equal(xps_loop_run(r->loop), XPS_OK);
    if (!r->done)
        fail_msg("no end within %d ms: client got %zu bytes \"%s\" (eof %d), members %zu (want "
                 "%zu), upstream got \"%s\"",
                 RUN_MS, r->got_len, r->got, r->eof, xps_core_member_count(r->core), r->members,
                 r->up_got);
}

static void rig_stop(rig_t *r)
{
    if (r->client >= 0)
        close(r->client);
    if (r->up_conn >= 0)
        close(r->up_conn);
    if (r->up_listen >= 0)
        close(r->up_listen);
    xps_loop_timer_destroy(r->tick);
    xps_loop_timer_destroy(r->deadline);
    xps_core_destroy(r->core);
    xps_config_destroy(r->config);
}

static void expect_status_line(const rig_t *r, const char *line)
{
    if (strncmp(r->got, line, strlen(line)) != 0)
        fail_msg("expected a response starting \"%s\", got \"%s\"", line, r->got);
}

static void a_session_serves_a_file_sent_in_pieces(void **state)
{
    (void)state;
    rig_t r;
    rig_start(&r, true);
    r.pieces[0] = "GET /a.t";
    r.pieces[1] = "xt HTTP/1.1\r\nHo";
    r.pieces[2] = "st: site.test\r\n\r\n";
    rig_run(&r);
    expect_status_line(&r, "HTTP/1.1 200 OK\r\n");
    assert_non_null(strstr(r.got, "\r\nContent-Type: text/plain\r\n"));
    assert_non_null(strstr(r.got, "\r\nConnection: close\r\n"));
    assert_non_null(strstr(r.got, "\r\nContent-Length: 7\r\n"));
    const char *body = strstr(r.got, "\r\n\r\n");
    assert_non_null(body);
    assert_string_equal(body + 4, "file a\n");
    assert_int_equal(r.sessions, 1);
    rig_stop(&r);
}

static void a_session_proxies_a_chunked_post_with_a_rewritten_head(void **state)
{
    (void)state;
    rig_t r;
    rig_start(&r, true);
    r.pieces[0] = "POST /api/x HTTP/1.1\r\nHost: site.test\r\nConnection: keep-alive\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n5\r\nhel";
    r.pieces[1] = "lo\r\n0\r\n\r\n";
    r.up_until = "0\r\n\r\n";
    r.up_reply = "HTTP/1.1 201 Created\r\nX-Up: yes\r\nContent-Length: 2\r\n\r\nok";
    rig_run(&r);
    assert_string_equal(r.got, r.up_reply); /* relayed unchanged */
    assert_string_equal(r.up_got, "POST /api/x HTTP/1.1\r\nHost: site.test\r\n"
                                  "Transfer-Encoding: chunked\r\nX-Forwarded-For: 127.0.0.1\r\n"
                                  "Via: 1.1 unit-test\r\nConnection: close\r\n\r\n"
                                  "3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n"); /* our chunks */
    rig_stop(&r);
}

static void a_session_answers_502_when_the_connect_is_refused(void **state)
{
    (void)state;
    rig_t r;
    rig_start(&r, false);
    r.pieces[0] = "GET /api HTTP/1.1\r\nHost: site.test\r\n\r\n";
    rig_run(&r);
    expect_status_line(&r, "HTTP/1.1 502 Bad Gateway\r\n");
    rig_stop(&r);
}

static void a_session_answers_502_when_the_upstream_closes_silently(void **state)
{
    (void)state;
    rig_t r;
    rig_start(&r, true);
    r.pieces[0] = "GET /anything HTTP/1.1\r\nHost: elsewhere.test\r\n\r\n";
    rig_run(&r);
    assert_true(r.up_done);
    expect_status_line(&r, "HTTP/1.1 502 Bad Gateway\r\n");
    rig_stop(&r);
}

static void a_session_answers_400_to_a_head_cut_short(void **state)
{
    (void)state;
    rig_t r;
    rig_start(&r, true);
    r.pieces[0] = "GET /a.txt HTTP/1.1\r\nHost: si";
    r.client = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = server_address(&r);
    assert_int_equal(connect(r.client, (struct sockaddr *)&a, sizeof a), 0);
    assert_true(send(r.client, r.pieces[0], strlen(r.pieces[0]), 0) > 0);
    shutdown(r.client, SHUT_WR); /* FIN before the blank line */
    r.pieces[0] = NULL;
    assert_int_equal(fcntl(r.client, F_SETFL, O_NONBLOCK), 0);
    xps_loop_timer_start(r.tick, 0);
    xps_loop_timer_start(r.deadline, RUN_MS);
    assert_int_equal(xps_loop_run(r.loop), XPS_OK);
    assert_true(r.done);
    expect_status_line(&r, "HTTP/1.1 400 Bad Request\r\n");
    rig_stop(&r);
}

/* Sessions in every phase when the core goes: everything is freed (the
 * sanitizer and valgrind runs are what see it). */
static void destroying_the_core_frees_sessions_in_flight(void **state)
{
    (void)state;
    rig_t r;
    rig_start(&r, true);
    r.pieces[0] = "GET /api/slow HTTP/1.1\r\nHost: site.test\r\n\r\n"; /* upstream stays silent */
    r.up_until = "never arrives";
    int half = socket(AF_INET, SOCK_STREAM, 0); /* and one stuck in its head */
    struct sockaddr_in a = server_address(&r);
    assert_int_equal(connect(half, (struct sockaddr *)&a, sizeof a), 0);
    assert_true(send(half, "GET /a", 6, 0) == 6);
    xps_loop_timer_start(r.deadline, 300); /* no EOF will come: stop after 300 ms */
    r.client = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(r.client, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(fcntl(r.client, F_SETFL, O_NONBLOCK), 0);
    xps_loop_timer_start(r.tick, 0);
    assert_int_equal(xps_loop_run(r.loop), XPS_OK);
    assert_false(r.done);
    assert_int_equal(r.sessions, 2);
    assert_true(r.up_len > 0); /* the proxied session is waiting for its answer */
    assert_true(xps_core_member_count(r.core) > r.members);
    close(half);
    rig_stop(&r); /* xps_core_destroy with both sessions alive */
}

/* Stage 13 on a kept connection (issue 8): each small file's response,
 * head and body, leaves in ONE send() (no second write for Nagle and the
 * peer's delayed ACK to hold back); between the two requests the session
 * parks the connection and ends, and the second request wakes it into a
 * new session; "Connection: close" then ends it, and everything is freed. */
static void a_kept_connection_gets_each_small_response_in_one_send_and_parks_between(
    void **state)
{
    (void)state;
    rig_t r;
    rig_start(&r, true);
    r.http11 = r.in_turn = true;
    r.pieces[0] = "GET /a.txt HTTP/1.1\r\nHost: site.test\r\n\r\n";
    r.pieces[1] = "GET /a.txt HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n";
    response_sends = 0;
    rig_run(&r);
    assert_int_equal(responses_in(&r), 2);
    const char *second = strstr(r.got + 1, "HTTP/1.1 ");
    assert_non_null(strstr(r.got, "\r\n\r\nfile a\nHTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(second, "\r\nConnection: close\r\n"));
    assert_int_equal(response_sends, 2); /* one send() per response ... */
    assert_int_equal(response_send_len[0], (size_t)(second - r.got)); /* ... with all of it */
    assert_int_equal(response_send_len[1], strlen(second));
    assert_int_equal(r.sessions, 1); /* one connection accepted */
    assert_int_equal(r.wakes, 1);    /* parked after the first response, woken by the second */
    rig_stop(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(routes_requests_to_actions),
        cmocka_unit_test(a_health_route_says_ok_until_the_worker_drains),
        cmocka_unit_test(refused_clients_get_403_before_the_route_acts),
        cmocka_unit_test(folders_are_listed_only_when_route_and_stage_allow),
        cmocka_unit_test(rate_limited_routes_answer_429_after_the_access_check),
        cmocka_unit_test(a_session_serves_a_file_sent_in_pieces),
        cmocka_unit_test(a_session_proxies_a_chunked_post_with_a_rewritten_head),
        cmocka_unit_test(a_session_answers_502_when_the_connect_is_refused),
        cmocka_unit_test(a_session_answers_502_when_the_upstream_closes_silently),
        cmocka_unit_test(a_session_answers_400_to_a_head_cut_short),
        cmocka_unit_test(destroying_the_core_frees_sessions_in_flight),
        cmocka_unit_test(a_kept_connection_gets_each_small_response_in_one_send_and_parks_between),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
