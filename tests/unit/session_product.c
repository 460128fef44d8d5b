/*
 * tests/unit/session_product.c — [apps/xps] the session's "observe"
 * options through real servers: worker processes forked here, each a
 * loop serving the config with xps_session_serve_sockets and
 * options.product on (as apps/xps does), SO_REUSEPORT sockets on one
 * port, the test upstream (tests/support/upstream.h) behind a
 * reverse_proxy route, and curl as the client. Checked:
 *  - X-Request-ID: a well-formed one comes back and goes upstream once;
 *    none or a malformed one is replaced by a generated one naming the
 *    worker's pid; our own error replies carry it too;
 *  - the access log, both formats: one line per request, parsed back
 *    (JSON with cJSON; combined field by field) with the id, status,
 *    request line and the byte count curl received; written by the
 *    one-second flush without any exit, and at exit;
 *  - metrics over 2 workers: after N requests spread over both (their
 *    ids name two pids), GET /metrics gives N 2xx, the bytes curl
 *    received, the upstream latency count, 2 workers;
 *  - routes' headers on every response of their route (files, our
 *    errors, proxied heads, cache hits), never sent upstream;
 *  - error pages: 404 and 502 with the configured files as text/html
 *    (HEAD: the length, no body), a status without a page as before;
 *  - a cache hit's stored head with this request's id and the route's
 *    headers, and the cache's hit and miss counted.
 * Every process started here is stopped and waited for by the test.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/xps.h"
#include "core/xps_core.h"
#include "modules/config/xps_config.h"
#include "modules/loop/xps_loop.h"
#include "modules/metrics/xps_metrics.h"
#include "modules/session/xps_session.h"
#include "modules/socket/xps_socket.h"
#include "tests/support/harness.h"
#include "tests/support/http_client.h" /* xt_header_value */
#include "tests/support/upstream.h"

enum { port = 18641, upstream_port = 18642, max_workers = 2 };

static char dir[64];
static const char page_404[] = "<!doctype html><title>Not here</title><h1>Nothing at this address</h1>\n";
static const char page_50x[] = "<!doctype html><title>Down</title><h1>Back soon</h1>\n";
static pid_t upstream_pid = -1;
static pid_t workers[max_workers];
static int n_workers;
static xps_metrics_t *metrics;

/* ------------------------------------------------------------ servers */

static void on_stop(xps_loop_signal_t *signal, int signo, void *loop)
{
    (void)signal, (void)signo;
    xps_loop_stop(loop);
}

/* A worker: the config's one listener on its own SO_REUSEPORT socket,
 * sessions with stage 21's switches and observe on, until SIGTERM. */
static void worker_main(const char *config_path, size_t slot)
{
    char err[512];
    xps_config_t *config = xps_config_load(config_path, err, sizeof err);
    if (!config) {
        fprintf(stderr, "worker: %s\n", err);
        _exit(2);
    }
    int error = XPS_OK;
    xps_core_t *core = xps_core_create();
    xps_loop_t *loop = core ? xps_loop_create(core, &error) : NULL;
    const int signals[] = {SIGTERM};
    if (!loop || !xps_loop_signal_attach(loop, signals, 1, on_stop, loop, &error))
        _exit(3);
    const xps_config_listener_t *l = xps_config_listener(config, 0);
    xps_listen_socket_t *socket = xps_listen_socket_create_reuseport(l->host, l->port, 0, true, &error);
    if (!socket)
        _exit(4);
    xps_session_options_t options = {.http11 = true, .ip_filter = true, .gzip = true,
                                     .balance = true, .timeouts = true, .limits = true,
                                     .cache = true};
    options.product = (xps_session_product_options_t){
        .request_id = true, .access_log = true, .metrics = true,
        .metrics_shared = metrics, .metrics_slot = slot, .headers = true,
        .error_pages = true};
    if (xps_session_serve_sockets(loop, config, &socket, &options, false, NULL) != XPS_OK)
        _exit(5);
    int rc = xps_loop_run(loop);
    xps_core_destroy(core); /* the access log's last lines go here */
    xps_config_destroy(config);
    _exit(rc == XPS_OK ? 0 : 6);
}

static void wait_port(uint16_t p)
{
    for (int i = 0; i < 300; i++) {
        int fd = xt_try_connect(p);
        if (fd >= 0) {
            close(fd);
            return;
        }
        usleep(10 * 1000);
    }
    fail_msg("nothing listens on port %u", p);
}

/* Writes the config (log format `access`) and starts `n` workers. */
static void start_servers(const char *access, int n)
{
    char path[128], json[2048];
    snprintf(json, sizeof json,
             "{\"log\": {\"access\": \"%s\", \"path\": \"logs/access.log\"},\n"
             " \"error_pages\": {\"404\": \"errors/404.html\", \"5xx\": \"errors/50x.html\"},\n"
             " \"cache\": {\"dir\": \"cache\"},\n"
             " \"servers\": [{\"listeners\": [{\"host\": \"127.0.0.1\", \"port\": %d}],\n"
             "  \"routes\": [\n"
             "   {\"req_path\": \"/metrics\", \"type\": \"metrics\"},\n"
             "   {\"req_path\": \"/dead\", \"type\": \"reverse_proxy\", \"upstreams\": [\"127.0.0.1:1\"]},\n"
             "   {\"req_path\": \"/cache\", \"type\": \"reverse_proxy\", \"upstreams\": [\"127.0.0.1:%d\"],"
             " \"cache\": true, \"headers\": {\"X-Route\": \"cached\"}},\n"
             "   {\"req_path\": \"/echo-request\", \"type\": \"reverse_proxy\","
             " \"upstreams\": [\"127.0.0.1:%d\"], \"headers\": {\"X-Via-Route\": \"echo\"}},\n"
             "   {\"req_path\": \"/\", \"type\": \"file_serve\", \"dir_path\": \"www\",\n"
             "    \"headers\": {\"X-Frame-Options\": \"DENY\", \"Access-Control-Allow-Origin\": \"*\"}}]}]}\n",
             access, port, upstream_port, upstream_port);
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(json, f);
    fclose(f);
    char log[128];
    snprintf(log, sizeof log, "%s/logs/access.log", dir);
    unlink(log);
    int error = XPS_OK;
    metrics = xps_metrics_create_shared((size_t)n, &error);
    assert_non_null(metrics);
    n_workers = n;
    for (int i = 0; i < n; i++) {
        workers[i] = fork();
        assert_true(workers[i] >= 0);
        if (workers[i] == 0)
            worker_main(path, (size_t)i);
    }
    wait_port(port);
}

/* SIGTERM to every worker, and each must exit 0 within 5 s. */
static void stop_servers(void)
{
    for (int i = 0; i < n_workers; i++)
        kill(workers[i], SIGTERM);
    for (int i = 0; i < n_workers; i++) {
        int status = 0;
        for (int t = 0; t < 500 && waitpid(workers[i], &status, WNOHANG) == 0; t++)
            usleep(10 * 1000);
        if (waitpid(workers[i], &status, WNOHANG) == 0) {
            kill(workers[i], SIGKILL);
            waitpid(workers[i], &status, 0);
            fail_msg("worker %d did not stop on SIGTERM", (int)workers[i]);
        }
        workers[i] = 0;
    }
    n_workers = 0;
    xps_metrics_destroy(metrics);
    metrics = NULL;
}

static int group_setup(void **state)
{
    (void)state;
    setenv("TZ", "UTC", 1);
    tzset();
    snprintf(dir, sizeof dir, "/tmp/xps-product-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    char path[128];
    snprintf(path, sizeof path, "%s/www", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/logs", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/errors", dir);
    mkdir(path, 0755);
    static const struct { const char *name, *text; } files[] = {
        {"www/index.html", "<p>hello</p>\n"}, {"errors/404.html", page_404},
        {"errors/50x.html", page_50x}};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i].name);
        FILE *f = fopen(path, "w");
        if (!f)
            return -1;
        fputs(files[i].text, f);
        fclose(f);
    }
    upstream_pid = fork();
    if (upstream_pid == 0)
        _exit(xt_upstream_serve(upstream_port, XT_UPSTREAM_HTTP, NULL) == 0 ? 0 : 1);
    for (int i = 0; i < 300; i++) {
        int fd = xt_try_connect(upstream_port);
        if (fd >= 0) {
            close(fd);
            return 0;
        }
        usleep(10 * 1000);
    }
    return -1;
}

static int group_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < n_workers; i++) /* a failed test left them running */
        if (workers[i] > 0) {
            kill(workers[i], SIGKILL);
            waitpid(workers[i], NULL, 0);
        }
    if (upstream_pid > 0) {
        kill(upstream_pid, SIGKILL);
        waitpid(upstream_pid, NULL, 0);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* -------------------------------------------------------------- client */

typedef struct answer {
    int status;
    char id[XPS_REQUEST_ID_MAX + 1]; /* the response's X-Request-ID, "" when none */
    int id_count;                    /* how many X-Request-ID lines */
    long bytes;                      /* head + body, as curl received them */
    char head[8192];
    char body[4096];
} answer_t;

static answer_t ask_with(const char *method, const char *path, const char *header);

/* Runs curl with args (no argv[0]) to its end, 5 s at most (then killed):
 * what it printed on stdout, malloc'd. Waited for: nothing stays behind. */
static char *run_curl(const char *const *args)
{
    const char *argv[24] = {"curl"};
    size_t n = 1;
    for (; args[n - 1] && n < 23; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]), close(fds[1]);
        alarm(5); /* bounded, whatever the server does */
        execv("/usr/bin/curl", (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    ssize_t got;
    while ((got = read(fds[0], out + len, cap - 1 - len)) > 0 || (got < 0 && errno == EINTR))
        if (got > 0 && (len += (size_t)got) == cap - 1)
            break;
    close(fds[0]);
    out[len] = '\0';
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("curl %s: status %d, printed: %.400s", args[n - 2], status, out);
    return out;
}

/* curl GET of path, with `header` (NULL: none): the status, the id, the
 * bytes received and the body. */
static answer_t ask(const char *path, const char *header) { return ask_with("GET", path, header); }

/* The same with `method` (HEAD: curl -I). */
static answer_t ask_with(const char *method, const char *path, const char *header)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    bool is_head = strcmp(method, "HEAD") == 0;
    const char *with[] = {"-s", "-i", is_head ? "-I" : "-X", is_head ? "-s" : method, "-w",
                          "\n@@%{size_header} %{size_download}", "-H", header, url, NULL};
    const char *without[] = {"-s", "-i", is_head ? "-I" : "-X", is_head ? "-s" : method, "-w",
                             "\n@@%{size_header} %{size_download}", url, NULL};
    char *out = run_curl(header ? with : without);
    answer_t a = {0};
    if (sscanf(out, "HTTP/1.1 %d", &a.status) != 1)
        fail_msg("no response to %s: %s", path, out);
    const char *head_end = strstr(out, "\r\n\r\n");
    assert_non_null(head_end);
    for (const char *p = out; p && p < head_end; p = strstr(p, "\r\n") ? strstr(p, "\r\n") + 2 : NULL)
        if (strncasecmp(p, "X-Request-ID:", 13) == 0)
            a.id_count++;
    char head[8192];
    snprintf(head, sizeof head, "%.*s", (int)(head_end + 4 - out), out);
    xt_header_value(head, "X-Request-ID", a.id, sizeof a.id);
    snprintf(a.head, sizeof a.head, "%s", head);
    const char *tail = strstr(head_end, "\n@@");
    assert_non_null(tail);
    snprintf(a.body, sizeof a.body, "%.*s", (int)(tail - head_end - 4), head_end + 4);
    long h = 0, b = 0;
    assert_int_equal(sscanf(tail + 3, "%ld %ld", &h, &b), 2);
    a.bytes = h + b;
    free(out);
    return a;
}

/* The pid in a generated id "<start>-<pid>-<n>" (hex), or -1. */
static long id_pid(const char *id)
{
    unsigned long long start = 0, n = 0;
    unsigned pid = 0;
    char end = 0;
    if (sscanf(id, "%llx-%x-%llx%c", &start, &pid, &n, &end) != 3)
        return -1;
    return (long)pid;
}

static bool is_worker(long pid)
{
    for (int i = 0; i < n_workers; i++)
        if (workers[i] == pid)
            return true;
    return false;
}

static char *read_log(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/logs/access.log", dir);
    FILE *f = fopen(path, "rb");
    if (!f)
        return calloc(1, 1);
    static char text[1 << 20];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    return strdup(text);
}

/* The log's line holding `id`, or NULL. */
static char *line_with(const char *log, const char *id, char *out, size_t cap)
{
    char quoted[XPS_REQUEST_ID_MAX + 4];
    snprintf(quoted, sizeof quoted, "\"%s\"", id);
    const char *p = strstr(log, quoted);
    if (!p)
        return NULL;
    const char *start = p;
    while (start > log && start[-1] != '\n')
        start--;
    const char *end = strchr(p, '\n');
    snprintf(out, cap, "%.*s", (int)(end ? end - start : (long)strlen(start)), start);
    return out;
}

/* --------------------------------------------------------------- checks */

static void request_ids_round_trip(void **state)
{
    (void)state;
    start_servers("off", 1);
    answer_t a = ask("/", "X-Request-ID: abc-123.x_Y");
    assert_int_equal(a.status, 200);
    assert_string_equal(a.id, "abc-123.x_Y");
    assert_int_equal(a.id_count, 1);
    a = ask("/", NULL); /* none: generated, naming the worker */
    assert_int_equal(a.status, 200);
    assert_int_equal(id_pid(a.id), workers[0]);
    answer_t b = ask("/", "X-Request-ID: not well formed!");
    assert_int_equal(id_pid(b.id), workers[0]);
    assert_string_not_equal(a.id, b.id);
    a = ask("/missing", "X-Request-ID: e404"); /* our own error reply */
    assert_int_equal(a.status, 404);
    assert_string_equal(a.id, "e404");
    /* Proxied: the upstream saw exactly the id the client gets back. */
    a = ask("/echo-request", "X-Request-ID: up-1");
    assert_int_equal(a.status, 200);
    assert_string_equal(a.id, "up-1");
    assert_int_equal(a.id_count, 1);
    assert_non_null(strstr(a.body, "\r\nX-Request-ID: up-1\r\n"));
    assert_null(strstr(strstr(a.body, "X-Request-ID") + 1, "X-Request-ID"));
    a = ask("/echo-request", "X-Request-ID: bad/id");
    assert_int_equal(id_pid(a.id), workers[0]);
    char sent[200];
    snprintf(sent, sizeof sent, "\r\nX-Request-ID: %s\r\n", a.id);
    assert_non_null(strstr(a.body, sent));
    assert_null(strstr(a.body, "bad/id"));
    stop_servers();
}

static void access_log_json(void **state)
{
    (void)state;
    start_servers("json", 1);
    answer_t a = ask("/", "X-Request-ID: j-1");
    /* The one-second flush writes it with the server still running. */
    char *log = NULL, line[8192];
    for (int i = 0; i < 300; i++) {
        free(log);
        log = read_log();
        if (line_with(log, "j-1", line, sizeof line))
            break;
        usleep(10 * 1000);
    }
    assert_non_null(line_with(log, "j-1", line, sizeof line));
    free(log);
    answer_t b = ask("/nothing-here", "User-Agent: agent \"007\" \\ caf\xc3\xa9");
    answer_t c = ask("/echo-request", "X-Request-ID: j-3");
    stop_servers(); /* and at exit */
    log = read_log();
    size_t lines = 0;
    for (const char *p = log; (p = strchr(p, '\n')); p++)
        lines++;
    assert_int_equal(lines, 3);
    static const struct {
        const char *request;
        int status;
    } want[] = {{"GET / HTTP/1.1", 200}, {"GET /nothing-here HTTP/1.1", 404},
                {"GET /echo-request HTTP/1.1", 200}};
    const answer_t *got[] = {&a, &b, &c};
    const char *at = log;
    for (size_t i = 0; i < 3; i++) {
        const char *end = strchr(at, '\n');
        cJSON *j = cJSON_ParseWithLength(at, (size_t)(end - at));
        if (!j)
            fail_msg("line %zu is not JSON: %.*s", i, (int)(end - at), at);
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "request_id")), got[i]->id);
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "request")), want[i].request);
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "remote_addr")), "127.0.0.1");
        assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "status")), want[i].status);
        if ((long)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "bytes")) != got[i]->bytes)
            fail_msg("line %zu: %.*s; curl got %ld bytes", i, (int)(end - at), at, got[i]->bytes);
        assert_true(cJSON_IsNumber(cJSON_GetObjectItem(j, "duration_ms")));
        assert_true(cJSON_IsString(cJSON_GetObjectItem(j, "time")));
        if (i == 1) /* the user agent escaped: its bytes >= 0x80 as \u00XX each */
            assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "user_agent")),
                                "agent \"007\" \\ caf\xc3\x83\xc2\xa9");
        cJSON_Delete(j);
        at = end + 1;
    }
    free(log);
}

static void access_log_combined(void **state)
{
    (void)state;
    start_servers("combined", 1);
    answer_t a = ask("/?q=1", "Referer: http://example.test/");
    stop_servers();
    char *log = read_log(), line[8192];
    assert_non_null(line_with(log, a.id, line, sizeof line));
    char ip[64], date[64], zone[16], method[16], target[64], version[16], referer[64], ua[128],
        id[160], dur[32];
    int status = 0;
    long bytes = 0;
    int n = sscanf(line, "%63s - - [%63s %15[^]]] \"%15s %63s %15[^\"]\" %d %ld \"%63[^\"]\" \"%127[^\"]\" \"%159[^\"]\" %31s",
                   ip, date, zone, method, target, version, &status, &bytes, referer, ua, id, dur);
    if (n != 12)
        fail_msg("%d fields in %s", n, line);
    assert_string_equal(ip, "127.0.0.1");
    assert_string_equal(zone, "+0000");
    assert_string_equal(method, "GET");
    assert_string_equal(target, "/?q=1");
    assert_string_equal(version, "HTTP/1.1");
    assert_int_equal(status, 200);
    assert_int_equal(bytes, a.bytes);
    assert_string_equal(referer, "http://example.test/");
    assert_true(strncmp(ua, "curl/", 5) == 0);
    assert_string_equal(id, a.id);
    double seconds = -1;
    assert_int_equal(sscanf(dur, "%lf", &seconds), 1);
    assert_true(seconds >= 0 && seconds < 5);
    free(log);
}

/* A sample's value on the page, or -1. */
static long long sample(const char *page, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = page; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, name, n) == 0 && p[n] == ' ')
            return atoll(p + n + 1);
    return -1;
}

static void metrics_summed_over_workers(void **state)
{
    (void)state;
    enum { files = 40, proxied = 2 };
    start_servers("off", 2);
    long long bytes = 0;
    bool served[2] = {false, false};
    for (int i = 0; i < files + proxied; i++) {
        answer_t a = ask(i < files ? "/" : "/echo-request", NULL);
        assert_int_equal(a.status, 200);
        bytes += a.bytes;
        long pid = id_pid(a.id);
        assert_true(is_worker(pid));
        served[pid == workers[0] ? 0 : 1] = true;
    }
    /* 42 connections hashed over two sockets: both served some (else the
     * odds were 2^-41, and the sum below would prove nothing). */
    assert_true(served[0] && served[1]);
    answer_t m = ask("/metrics", NULL);
    assert_int_equal(m.status, 200);
    const char *page = m.body;
    assert_int_equal(sample(page, "xps_requests_total{class=\"2xx\"}"), files + proxied);
    assert_int_equal(sample(page, "xps_requests_total{class=\"4xx\"}"), 0);
    assert_int_equal(sample(page, "xps_response_bytes_total"), bytes);
    assert_int_equal(sample(page, "xps_upstream_latency_seconds_count"), proxied);
    assert_int_equal(sample(page, "xps_upstream_latency_seconds_bucket{le=\"+Inf\"}"), proxied);
    assert_int_equal(sample(page, "xps_metric_slots"), 2);
    assert_true(sample(page, "xps_connections_active") >= 1); /* this one, at least */
    /* The page's own request is counted once it is over. */
    m = ask("/metrics", NULL);
    assert_int_equal(sample(m.body, "xps_requests_total{class=\"2xx\"}"), files + proxied + 1);
    stop_servers();
}

/* How many lines of the head are the field `line` ("Name: value"). */
static int count_lines(const char *head, const char *line)
{
    int n = 0;
    size_t len = strlen(line);
    for (const char *p = head; (p = strstr(p, line)); p += len)
        n += p > head && p[-1] == '\n' && p[len] == '\r';
    return n;
}

static void route_headers_on_every_response(void **state)
{
    (void)state;
    start_servers("off", 1);
    static const struct {
        const char *path;
        int status;
        int frame, cors, echo; /* how many of each route's lines */
    } rows[] = {
        {"/", 200, 1, 1, 0},
        {"/index.html", 200, 1, 1, 0},
        {"/no-such-file", 404, 1, 1, 0}, /* our own error reply: the route's too */
        {"/echo-request", 200, 0, 0, 1}, /* proxied: in the rewritten head */
        {"/metrics", 200, 0, 0, 0},      /* a route without headers */
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        answer_t a = ask(rows[i].path, NULL);
        if (a.status != rows[i].status ||
            count_lines(a.head, "X-Frame-Options: DENY") != rows[i].frame ||
            count_lines(a.head, "Access-Control-Allow-Origin: *") != rows[i].cors ||
            count_lines(a.head, "X-Via-Route: echo") != rows[i].echo)
            fail_msg("%s: expected %d with %d/%d/%d route lines, got:\n%s", rows[i].path,
                     rows[i].status, rows[i].frame, rows[i].cors, rows[i].echo, a.head);
        if (strcmp(rows[i].path, "/echo-request") == 0) /* never sent upstream */
            assert_null(strstr(a.body, "X-Via-Route"));
    }
    stop_servers();
}

static void error_pages_served(void **state)
{
    (void)state;
    start_servers("off", 1);
    answer_t a = ask("/no-such-page", NULL);
    assert_int_equal(a.status, 404);
    assert_string_equal(a.body, page_404);
    char type[128];
    assert_true(xt_header_value(a.head, "Content-Type", type, sizeof type));
    assert_string_equal(type, "text/html; charset=utf-8");
    assert_int_equal(count_lines(a.head, "X-Frame-Options: DENY"), 1); /* the route's, still */
    a = ask_with("HEAD", "/no-such-page", NULL); /* the head says the page's length, no body */
    assert_int_equal(a.status, 404);
    char length[32];
    assert_true(xt_header_value(a.head, "Content-Length", length, sizeof length));
    assert_int_equal(atol(length), (long)strlen(page_404));
    assert_string_equal(a.body, "");
    a = ask("/dead", NULL); /* the session's 502: the 5xx page */
    assert_int_equal(a.status, 502);
    assert_string_equal(a.body, page_50x);
    a = ask_with("POST", "/metrics", NULL); /* a 405: no page for it, the text as before */
    assert_int_equal(a.status, 405);
    assert_non_null(strstr(a.body, "405 Method Not Allowed"));
    stop_servers();
}

/* A cached route: the hit's head (the stored one) gets this request's id
 * (one line, the stored request's replaced) and the route's headers. */
static void cache_hits_carry_the_id_and_headers(void **state)
{
    (void)state;
    start_servers("off", 1);
    answer_t miss = ask("/cache/max-age=60/obs", "X-Request-ID: first");
    answer_t hit = ask("/cache/max-age=60/obs", "X-Request-ID: second");
    const struct {
        const answer_t *a;
        const char *cache, *id;
    } rows[] = {{&miss, "MISS", "first"}, {&hit, "HIT", "second"}};
    for (size_t i = 0; i < 2; i++) {
        char x_cache[32] = "";
        xt_header_value(rows[i].a->head, "X-Cache", x_cache, sizeof x_cache);
        if (rows[i].a->status != 200 || strcmp(x_cache, rows[i].cache) != 0 ||
            strcmp(rows[i].a->id, rows[i].id) != 0 || rows[i].a->id_count != 1 ||
            count_lines(rows[i].a->head, "X-Route: cached") != 1)
            fail_msg("expected 200, X-Cache %s, one X-Request-ID %s and X-Route, got:\n%s",
                     rows[i].cache, rows[i].id, rows[i].a->head);
    }
    assert_string_equal(hit.body, miss.body); /* the upstream's once, then the copy */
    answer_t m = ask("/metrics", NULL);
    assert_int_equal(sample(m.body, "xps_cache_requests_total{result=\"hit\"}"), 1);
    assert_int_equal(sample(m.body, "xps_cache_requests_total{result=\"miss\"}"), 1);
    stop_servers();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(request_ids_round_trip),
        cmocka_unit_test(access_log_json),
        cmocka_unit_test(access_log_combined),
        cmocka_unit_test(metrics_summed_over_workers),
        cmocka_unit_test(route_headers_on_every_response),
        cmocka_unit_test(error_pages_served),
        cmocka_unit_test(cache_hits_carry_the_id_and_headers),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
