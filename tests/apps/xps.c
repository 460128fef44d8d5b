/*
 * tests/apps/xps.c — black-box checks for the product binary, build/bin/xps
 * (apps/xps/main.cpp, docs/operators.md), started as an operator would.
 *
 * Each check gets a state folder of its own (XPS_STATE_DIR, a scratch
 * folder under /tmp, removed at the end), so no certificate, cache or pid
 * file of the machine's ~/.local/state/xps is read or touched. The
 * embedded default listens on the fixed ports 8080 and 8443, as the
 * operator is told: tests/run runs one suite at a time, so no other
 * suite holds them meanwhile (stage 01's 8080 is free again once its
 * checks end); the checks fail, naming the port, when something else
 * holds one. Configs of their own use 8131.
 *
 * What is checked:
 *  - -t: "ok" and exit 0 for a good config; exit 1 and the precise error
 *    (file, line:column or JSON path; a certificate's file) for bad ones;
 *  - bad flags: usage on stderr, exit 2;
 *  - -p and -s: the master writes its pid; a second server on the same pid
 *    file is refused while the first lives; `-s reload` under a client
 *    loop (curl, one request per connection) changes the routes with zero
 *    failed requests; `-s stop` drains and the pid file is gone; -s with
 *    no pid file, or a stale one, says so (exit 1); a stale pid file is
 *    replaced by the next start;
 *  - the embedded default: both printed URLs answer curl (https with
 *    --cacert the generated certificate, verified for 127.0.0.1), the docs
 *    are served (listed, gzipped), and the certificate is made once and
 *    reused by the next start; both open in headless Chromium (https
 *    trusting the generated certificate's key);
 *  - /health: 200 "ok" while serving, 503 on a kept connection once the
 *    workers drain (SIGTERM);
 *  - the product's reports: a well-formed X-Request-ID comes back as sent,
 *    a malformed one is replaced; /metrics counts the requests of every
 *    worker; after SIGTERM the access log has one combined line per
 *    request with its id, from more than one worker.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/browser.h"
#include "tests/support/client_loop.h"
#include "tests/support/harness.h"
#include "tests/support/http_client.h"

enum { HTTP_PORT = 8080, HTTPS_PORT = 8443, PORT = 8131 };

static char state_dir[64];   /* this check's XPS_STATE_DIR */
static char state_env[96];   /* "XPS_STATE_DIR=..." */

/* ------------------------------------------------------------ helpers */

static const char *xps_bin(void)
{
    return xt_our_bin("xps");
}

/* A fresh state folder for the running check (see the top). */
static const char *const *fresh_state(void)
{
    snprintf(state_dir, sizeof state_dir, "/tmp/xps-app-check-XXXXXX");
    if (!mkdtemp(state_dir))
        xt_fail("mkdtemp: %s", strerror(errno));
    snprintf(state_env, sizeof state_env, "XPS_STATE_DIR=%s", state_dir);
    static const char *env[2];
    env[0] = state_env;
    env[1] = NULL;
    return env;
}

static int remove_state(void **state)
{
    if (state_dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", state_dir);
        if (system(cmd) != 0)
            return -1;
        state_dir[0] = '\0';
    }
    return xt_teardown(state);
}

#define XPS_CHECK(fn) cmocka_unit_test_setup_teardown(fn, xt_setup, remove_state)

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "we");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        xt_fail("cannot write %s: %s", path, strerror(errno));
}

static char *read_text(const char *path)
{
    static char text[4][8192];
    static int turn;
    char *buf = text[turn++ % 4];
    buf[0] = '\0';
    FILE *f = fopen(path, "re");
    if (!f)
        return NULL;
    size_t n = fread(buf, 1, sizeof text[0] - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* state_dir + "/" + name, in one of a few rotating buffers. */
static const char *in_state(const char *name)
{
    static char paths[4][128];
    static int turn;
    char *p = paths[turn++ % 4];
    snprintf(p, sizeof paths[0], "%s/%s", state_dir, name);
    return p;
}

/* Runs xps with `args` to its end: its exit code (-1: no exit), and what
 * it printed (stdout then stderr) in *out, malloc'd. */
static int run_xps(const char *const *args, const char *const *env, char **out)
{
    xt_start_opts_t opts = {.env = env};
    int status = 0;
    *out = xt_run_to_exit(xps_bin(), args, &opts, 10000, &status);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* curl ARGS... -w '\n%{http_code}': the status, the body in `body`. */
static int curl_status(const char *const *args, char *body, size_t cap)
{
    const char *full[16];
    size_t n = 0;
    full[n++] = "-sS";
    for (; args[n - 1] && n < 13; n++)
        full[n] = args[n - 1];
    full[n++] = "-w";
    full[n++] = "\n%{http_code}";
    full[n] = NULL;
    int status = 0;
    char *out = xt_run_curl(full, &status);
    char *last = strrchr(out, '\n');
    int code = last ? atoi(last + 1) : 0;
    if (last)
        *last = '\0';
    if (body)
        snprintf(body, cap, "%s", out);
    free(out);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? code : -WEXITSTATUS(status);
}

/* One GET on a new connection, by curl: 200, or what it got. */
static int status_by_curl(const char *url)
{
    const char *args[] = {"-o", "/dev/null", url, NULL};
    return curl_status(args, NULL, 0);
}

/* The lines of `text` that contain `needle`. */
static int count_of(const char *text, const char *needle)
{
    int n = 0;
    for (const char *at = text; (at = strstr(at, needle)); at += strlen(needle))
        n++;
    return n;
}

/* Waits up to timeout_ms for the process's stderr to hold `needle`
 * `times` times. */
static bool wait_stderr(xt_proc_t *p, const char *needle, int times, int timeout_ms)
{
    int64_t deadline = xt_now_ms() + timeout_ms;
    for (;;) {
        char *err = xt_stderr(p);
        int n = count_of(err, needle);
        free(err);
        if (n >= times)
            return true;
        if (xt_now_ms() >= deadline)
            return false;
        xt_sleep_ms(20);
    }
}

/* A config of our own on PORT: "/" serves a folder with index.html, and
 * with `with_new`, "/new" is a 301. 2 workers, a short drain. */
static void write_site(const char *path, bool with_new)
{
    char public_dir[128], index[160], text[2048];
    snprintf(public_dir, sizeof public_dir, "%s/public", state_dir);
    mkdir(public_dir, 0700);
    snprintf(index, sizeof index, "%s/index.html", public_dir);
    write_file(index, "<p>site</p>\n");
    snprintf(text, sizeof text,
             "{ \"server_name\": \"app-checks\", \"workers\": 2,\n"
             "  \"timeouts\": { \"keepalive_ms\": 3000, \"drain_ms\": 3000 },\n"
             "  \"cache\": { \"dir\": \"%s/cache\" },\n"
             "  \"servers\": [ { \"listeners\": [ { \"host\": \"127.0.0.1\", \"port\": %d } ],\n"
             "    \"routes\": [\n"
             "      { \"req_path\": \"/\", \"type\": \"file_serve\", \"dir_path\": \"%s\" }%s\n"
             "    ] } ] }\n",
             state_dir, PORT, public_dir,
             with_new ? ",\n      { \"req_path\": \"/new\", \"type\": \"redirect\", "
                        "\"http_status_code\": 301, \"redirect_url\": \"/\" }"
                      : "");
    write_file(path, text);
}

/* One request of a client loop (tests/support/client_loop.h): curl GETs
 * `data` (a URL) on a new connection, a success only with a 2xx. */
static bool curl_once(void *data)
{
    pid_t c = fork();
    if (c == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execl("/usr/bin/curl", "curl", "-s", "--fail", "-o", "/dev/null", "--max-time", "5",
              (const char *)data, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    while (c > 0 && waitpid(c, &st, 0) < 0 && errno == EINTR)
        ;
    return c > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* Starts the embedded default (no -c) on this check's state folder and
 * waits for both ports. */
static xt_proc_t *start_default(const char *const *env)
{
    xt_require_port_free(HTTP_PORT);
    xt_require_port_free(HTTPS_PORT);
    xt_start_opts_t opts = {.env = env};
    xt_proc_t *p = xt_start(xps_bin(), NULL, &opts);
    xt_wait_port(p, HTTP_PORT, 10000);
    xt_wait_port(p, HTTPS_PORT, 10000);
    return p;
}

/* -------------------------------------------------------------- checks */

static void check_flag_says_ok_or_names_the_error(void **state)
{
    (void)state;
    const char *const *env = fresh_state();
    const char *good = in_state("good.json"), *bad = in_state("bad.json");
    write_site(good, false);
    char *out = NULL;
    const char *args_good[] = {"-t", "-c", good, NULL};
    int rc = run_xps(args_good, env, &out);
    char want[256];
    snprintf(want, sizeof want, "xps: %s: ok\n", good);
    xt_expect(rc == 0 && strcmp(out, want) == 0, "xps -t -c good.json: exit 0, \"...: ok\"",
              "exit %d, %s", rc, xt_quote(out, strlen(out)));
    free(out);

    static const struct {
        const char *text, *error;
    } cases[] = {
        {"{ \"servers\": [\n  { \"listeners\": [ }\n] }\n", "bad.json:2:"},
        {"{ \"servers\": [ { \"listeners\": [ { \"host\": \"127.0.0.1\", \"port\": 8131 } ],"
         " \"routes\": [ { \"req_path\": \"/\", \"type\": \"proxy\" } ] } ] }",
         "bad.json: servers[0].routes[0].type: unknown route type \"proxy\""},
        {"{ \"servers\": [ { \"listeners\": [ { \"host\": \"127.0.0.1\", \"port\": 8131,"
         " \"tls\": { \"cert\": \"/nonexistent/site.crt\", \"key\": \"/nonexistent/site.key\" } } ],"
         " \"routes\": [ { \"req_path\": \"/\", \"type\": \"health\" } ] } ] }",
         "/nonexistent/site.crt"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        write_file(bad, cases[i].text);
        const char *args_bad[] = {"-t", "-c", bad, NULL};
        rc = run_xps(args_bad, env, &out);
        bool named = strstr(out, cases[i].error) != NULL && strstr(out, ": ok") == NULL;
        xt_expect(rc == 1 && named, cases[i].error, "exit %d, %s", rc, xt_quote(out, strlen(out)));
        free(out);
    }
    xt_expect(true, "xps -t: \"ok\" (exit 0), or exit 1 naming the file, line:column, JSON path "
              "or certificate", "as expected");
}

static void bad_flags_print_usage_and_exit_2(void **state)
{
    (void)state;
    const char *const *env = fresh_state();
    static const char *const cases[][4] = {
        {"-x", NULL}, {"-s", "restart", NULL}, {"-c", NULL}, {"extra", NULL}, {"-t", "-s", "stop", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *out = NULL;
        int rc = run_xps(cases[i], env, &out);
        xt_expect(rc == 2 && strstr(out, "usage: xps") != NULL, "usage and exit 2",
                  "xps %s%s%s: exit %d, %s", cases[i][0], cases[i][1] ? " " : "",
                  cases[i][1] ? cases[i][1] : "", rc, xt_quote(out, strlen(out)));
        free(out);
    }
    char *out = NULL;
    const char *help[] = {"-h", NULL};
    int rc = run_xps(help, env, &out);
    xt_expect(rc == 0 && strncmp(out, "usage: xps", 10) == 0,
              "-x, -s restart, -c alone, an argument, -t with -s: usage, exit 2; -h: usage, exit 0",
              "-h: exit %d, %s", rc, xt_quote(out, 60));
    free(out);
}

static void pid_file_stop_and_reload_under_a_curl_loop(void **state)
{
    (void)state;
    xt_watchdog(90);
    const char *const *env = fresh_state();
    char conf[128], pid_file[128];
    snprintf(conf, sizeof conf, "%s", in_state("site.json"));
    snprintf(pid_file, sizeof pid_file, "%s", in_state("xps.pid"));
    write_site(conf, false);
    xt_require_port_free(PORT);
    const char *args[] = {"-c", conf, "-p", pid_file, NULL};
    xt_start_opts_t opts = {.env = env};
    xt_proc_t *p = xt_start(xps_bin(), args, &opts);
    xt_wait_port(p, PORT, 10000);
    char want[32];
    snprintf(want, sizeof want, "%d\n", (int)xt_pid(p));
    const char *pid_text = read_text(pid_file);
    xt_expect(pid_text && strcmp(pid_text, want) == 0, "the pid file holds the master's pid",
              "%s", pid_text ? xt_quote(pid_text, strlen(pid_text)) : "no pid file");

    char *out = NULL;
    int rc = run_xps(args, env, &out); /* a second server on the same pid file */
    xt_expect(rc == 1 && strstr(out, "is running") && strstr(out, pid_file),
              "a second xps on the same pid file: exit 1, \"PIDFILE: pid N is running\"",
              "exit %d, %s", rc, xt_quote(out, strlen(out)));
    free(out);

    char url[64], new_url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", PORT);
    snprintf(new_url, sizeof new_url, "http://127.0.0.1:%d/new", PORT);
    xt_expect(status_by_curl(new_url) == 404, "/new: 404 before the reload", "other");
    xt_client_loop_t loop = xt_client_loop_start(curl_once, (void *)url);
    xt_sleep_ms(300);
    write_site(conf, true);
    const char *reload[] = {"-s", "reload", "-p", pid_file, NULL};
    rc = run_xps(reload, env, &out);
    xt_expect(rc == 0 && strstr(out, "sent SIGHUP"), "xps -s reload: exit 0, SIGHUP sent",
              "exit %d, %s", rc, xt_quote(out, strlen(out)));
    free(out);
    int64_t t0 = xt_now_ms();
    int after = 0;
    while ((after = status_by_curl(new_url)) != 301 && xt_now_ms() - t0 < 5000)
        xt_sleep_ms(50);
    xt_sleep_ms(500); /* the new generation alone */
    long requests = 0, failures = 0;
    xt_client_loop_stop(loop, &requests, &failures);
    xt_expect(after == 301 && requests > 5 && failures == 0,
              "after -s reload, /new is the new config's 301, and a curl loop running all "
              "along saw no failure",
              "/new: %d; %ld requests, %ld failed", after, requests, failures);

    const char *stop[] = {"-s", "stop", "-p", pid_file, NULL};
    rc = run_xps(stop, env, &out);
    free(out);
    int status = 0;
    bool exited = xt_wait_exit(p, 8000, &status);
    xt_expect(rc == 0 && exited && WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
                  access(pid_file, F_OK) != 0,
              "xps -s stop: the master drains and exits 0, its pid file removed",
              "-s stop exit %d; master %s; pid file %s", rc,
              exited ? xt_status_text(status) : "still running",
              access(pid_file, F_OK) == 0 ? "still there" : "gone");

    rc = run_xps(stop, env, &out);
    xt_expect(rc == 1 && strstr(out, "No such file") && strstr(out, "is the server running?"),
              "-s stop with no pid file: exit 1, saying so", "exit %d, %s", rc,
              xt_quote(out, strlen(out)));
    free(out);

    /* A stale pid file: a process that has ended. */
    pid_t dead = fork();
    if (dead == 0)
        _exit(0);
    waitpid(dead, NULL, 0);
    char line[32];
    snprintf(line, sizeof line, "%d\n", (int)dead);
    write_file(pid_file, line);
    rc = run_xps(stop, env, &out);
    xt_expect(rc == 1 && strstr(out, "is not running"),
              "-s stop with a stale pid file: exit 1, \"pid N is not running\"", "exit %d, %s", rc,
              xt_quote(out, strlen(out)));
    free(out);
    xt_proc_t *q = xt_start(xps_bin(), args, &opts);
    xt_wait_port(q, PORT, 10000);
    snprintf(want, sizeof want, "%d\n", (int)xt_pid(q));
    pid_text = read_text(pid_file);
    xt_expect(pid_text && strcmp(pid_text, want) == 0,
              "no pid file, -s says so (exit 1); a stale one: -s says it is not running, and the "
              "next start replaces it with its pid",
              "%s", pid_text ? xt_quote(pid_text, strlen(pid_text)) : "no pid file");
    xt_stop(q, SIGTERM, 8000);
}

static void the_embedded_default_serves_both_urls_with_a_certificate_made_once(void **state)
{
    (void)state;
    xt_watchdog(90);
    const char *const *env = fresh_state();
    xt_proc_t *p = start_default(env);
    char *said = xt_stdout(p);
    bool printed = strstr(said, "http://127.0.0.1:8080/") && strstr(said, "https://127.0.0.1:8443/") &&
                   strstr(said, state_dir);
    xt_expect(printed, "it prints both URLs and the state folder", "%s",
              xt_quote(said, strlen(said)));
    free(said);

    char cert[128], cert_text[8192], body[8192];
    snprintf(cert, sizeof cert, "%s", in_state("localhost.crt"));
    const char *crt = read_text(cert);
    xt_expect(crt && strstr(crt, "BEGIN CERTIFICATE"), "a certificate in the state folder",
              "%s", crt ? "not PEM" : "none");
    snprintf(cert_text, sizeof cert_text, "%s", crt);
    struct stat st;
    xt_expect(stat(in_state("localhost.key"), &st) == 0 && (st.st_mode & 0777) == 0600,
              "its key, mode 0600", "mode %o", (unsigned)(st.st_mode & 0777));

    const char *http[] = {"http://127.0.0.1:8080/", NULL};
    int code = curl_status(http, body, sizeof body);
    xt_expect(code == 200 && strstr(body, "xps is running"), "curl http://127.0.0.1:8080/: the "
              "welcome page", "%d %s", code, xt_quote(body, 80));
    const char *https[] = {"--cacert", cert, "https://127.0.0.1:8443/", NULL};
    code = curl_status(https, body, sizeof body);
    xt_expect(code == 200 && strstr(body, "xps is running"),
              "curl --cacert STATE/localhost.crt https://127.0.0.1:8443/: verified, the welcome page",
              "%d %s", code, xt_quote(body, 80));
    const char *listing[] = {"http://127.0.0.1:8080/docs/", NULL};
    code = curl_status(listing, body, sizeof body);
    xt_expect(code == 200 && strstr(body, "config.md") && strstr(body, "operators.md"),
              "/docs/: the docs folder listed", "%d %s", code, xt_quote(body, 80));
    const char *gz[] = {"-o", "/dev/null", "-D", "-", "-H", "Accept-Encoding: gzip",
                        "--cacert", cert, "https://127.0.0.1:8443/docs/config.md", NULL};
    code = curl_status(gz, body, sizeof body);
    xt_expect(code == 200 && strcasestr(body, "Content-Encoding: gzip"),
              "/docs/config.md over https: 200, gzipped", "%d %s", code, xt_quote(body, 200));
    int status = xt_stop(p, SIGTERM, 8000);
    xt_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "SIGTERM: exit 0", "%s",
              xt_status_text(status));

    p = start_default(env); /* again: the same certificate */
    const char *again = read_text(cert);
    code = curl_status(https, body, sizeof body);
    char *err = xt_stderr(p);
    bool remade = strstr(err, "made a self-signed certificate") != NULL;
    free(err);
    xt_expect(again && strcmp(again, cert_text) == 0 && !remade && code == 200,
              "both URLs answer curl (https verified with the generated certificate), the docs "
              "listed and gzipped; the next start reuses the certificate",
              "certificate %s, %s, https %d", again && strcmp(again, cert_text) == 0 ? "the same" : "changed",
              remade ? "logged as made again" : "not made again", code);
    xt_stop(p, SIGTERM, 8000);
}

static void health_is_200_then_503_while_draining(void **state)
{
    (void)state;
    xt_watchdog(60);
    const char *const *env = fresh_state();
    xt_proc_t *p = start_default(env);
    const char *url[] = {"http://127.0.0.1:8080/health", NULL};
    char body[256];
    int code = curl_status(url, body, sizeof body);
    xt_expect(code == 200 && strcmp(body, "ok\n") == 0, "GET /health: 200 \"ok\"",
              "%d %s", code, xt_quote(body, strlen(body)));

    /* A kept connection, so the draining worker has a client to answer. */
    int fd = xt_connect(HTTP_PORT);
    xt_response_t *r = xt_ask(fd, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", false);
    xt_expect(r->status == 200, "a kept connection's /health: 200", "%s", xt_describe_response(r));
    test_free(r);
    char *err = xt_stderr(p);
    int workers = count_of(err, "serving");
    free(err);
    kill(xt_pid(p), SIGTERM);
    bool draining = wait_stderr(p, ": draining", workers, 5000);
    xt_expect(draining, "every worker logs that it drains", "%d worker(s), not all draining",
              workers);
    r = xt_ask(fd, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", false);
    char connection[32] = "";
    xt_header_value(r->head, "Connection", connection, sizeof connection);
    xt_expect(r->status == 503 && strcmp(connection, "close") == 0,
              "/health while draining: 503, Connection: close", "%s", xt_describe_response(r));
    test_free(r);
    close(fd);
    int status = 0;
    bool exited = xt_wait_exit(p, 8000, &status);
    xt_expect(exited && WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "/health: 200 \"ok\" while serving, 503 (Connection: close) once the workers drain; "
              "then exit 0",
              "%s", exited ? xt_status_text(status) : "still running");
}

/* What `make run` prints, opened in a real browser (Debian's headless
 * Chromium): both URLs show the welcome page. For https the browser is
 * told to trust exactly the generated certificate's key (its SPKI hash),
 * as a user who accepts that one certificate would; any other certificate
 * still fails. */
static void the_printed_urls_open_in_a_real_browser(void **state)
{
    (void)state;
    xt_watchdog(120);
    const char *const *env = fresh_state();
    xt_proc_t *p = start_default(env);
    xt_browser_t browser = {0};
    xt_browser_start(&browser, state_dir);
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "openssl x509 -in %s -pubkey -noout | openssl pkey -pubin -outform der |"
             " openssl dgst -sha256 -binary | openssl enc -base64",
             in_state("localhost.crt"));
    const char *args[] = {"-c", cmd, NULL};
    int status = 0;
    char *hash = xt_run_to_exit("/bin/sh", args, NULL, 10000, &status);
    hash[strcspn(hash, "\n")] = '\0';
    xt_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0 && strlen(hash) == 44,
              "the certificate's key hash (openssl)", "%s: %s", xt_status_text(status),
              xt_quote(hash, strlen(hash)));
    char trust[128], why[600];
    snprintf(trust, sizeof trust, "--ignore-certificate-errors-spki-list=%s", hash);
    free(hash);
    char *dom = xt_browser_run(&browser, "--dump-dom", "http://127.0.0.1:8080/", why, sizeof why);
    xt_expect(dom && strstr(dom, "xps is running"),
              "chromium --dump-dom http://127.0.0.1:8080/: the welcome page", "%s",
              dom ? xt_quote(dom, strlen(dom)) : why);
    free(dom);
    browser.extra = trust;
    dom = xt_browser_run(&browser, "--dump-dom", "https://127.0.0.1:8443/", why, sizeof why);
    xt_expect(dom && strstr(dom, "xps is running"),
              "chromium on https://127.0.0.1:8443/, trusting the generated certificate's key: "
              "the welcome page", "%s", dom ? xt_quote(dom, strlen(dom)) : why);
    free(dom);
    xt_stop(p, SIGTERM, 8000);
}

/* The product's reports (modules/accesslog, modules/metrics), in the
 * embedded default: 20 GETs on new connections (SO_REUSEPORT spreads them
 * over the workers), one with a well-formed X-Request-ID and one with a
 * malformed one, one 404; then /metrics sums every worker's counters, and
 * after SIGTERM the access log holds one line per request with its id. */
static void the_embedded_default_logs_each_request_and_sums_every_worker(void **state)
{
    (void)state;
    xt_watchdog(60);
    const char *const *env = fresh_state();
    xt_proc_t *p = start_default(env);
    int ok = 0;
    for (int i = 0; i < 20; i++)
        ok += status_by_curl("http://127.0.0.1:8080/") == 200;
    char head[4096];
    const char *given[] = {"-o", "/dev/null", "-D", "-", "-H", "X-Request-ID: check-42.a_b",
                           "http://127.0.0.1:8080/health", NULL};
    int code = curl_status(given, head, sizeof head);
    xt_expect(code == 200 && strcasestr(head, "X-Request-ID: check-42.a_b\r\n"),
              "a well-formed X-Request-ID comes back as sent", "%d %s", code,
              xt_quote(head, strlen(head)));
    const char *bad[] = {"-o", "/dev/null", "-D", "-", "-H", "X-Request-ID: no spaces!",
                         "http://127.0.0.1:8080/health", NULL};
    code = curl_status(bad, head, sizeof head);
    char id[160] = "";
    xt_header_value(strchr(head, '\n') ? head : "", "X-Request-ID", id, sizeof id);
    xt_expect(code == 200 && id[0] && !strstr(head, "no spaces!"),
              "a malformed one is replaced by a generated id", "%d %s", code,
              xt_quote(head, strlen(head)));
    xt_expect(status_by_curl("http://127.0.0.1:8080/nope") == 404, "GET /nope: 404", "-");
    xt_sleep_ms(1200); /* each worker samples its open connections every second */
    char page[8192];
    const char *metrics[] = {"http://127.0.0.1:8080/metrics", NULL};
    code = curl_status(metrics, page, sizeof page);
    xt_expect(code == 200 && ok == 20 && strstr(page, "xps_requests_total{class=\"2xx\"} 22\n") &&
                  strstr(page, "xps_requests_total{class=\"4xx\"} 1\n"),
              "/metrics: the 22 answered 200 and the one 404, whichever worker served them",
              "%d GETs 200 of 20; %d %s", ok, code, xt_quote(page, strlen(page)));
    int status = xt_stop(p, SIGTERM, 8000);
    const char *log = read_text(in_state("access.log")); /* flushed at exit */
    const char *text = log ? log : "";
    /* Generated ids are <start>-<pid>-<n> in hex: the pids of the workers that served. */
    char pids[8][16];
    int n_pids = 0;
    for (const char *at = text; (at = strstr(at, "\"GET / HTTP/1.1\" 200")); at++) {
        const char *end = strchr(at, '\n'); /* the id is the line's last quoted field */
        const char *open = end ? end : at + strlen(at);
        while (open > at && *open != '"')
            open--; /* the closing quote of the id */
        const char *start = open - 1;
        while (start > at && *start != '"')
            start--;
        char one[64] = "", *dash1, *dash2;
        snprintf(one, sizeof one, "%.*s", (int)(open - start - 1), start + 1);
        if ((dash1 = strchr(one, '-')) && (dash2 = strchr(dash1 + 1, '-'))) {
            *dash2 = '\0';
            bool seen = false;
            for (int k = 0; k < n_pids; k++)
                seen = seen || strcmp(pids[k], dash1 + 1) == 0;
            if (!seen && n_pids < 8)
                snprintf(pids[n_pids++], sizeof pids[0], "%s", dash1 + 1);
        }
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    xt_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
                  count_of(text, "\n") == 24 && count_of(text, "\"GET / HTTP/1.1\" 200") == 20 &&
                  count_of(text, "\"check-42.a_b\"") == 1 && !strstr(text, "no spaces!") &&
                  count_of(text, "\"GET /nope HTTP/1.1\" 404") == 1 &&
                  (cpus < 2 || n_pids >= 2),
              "after SIGTERM, STATE/access.log: one combined line per request (24) with its id, "
              "written by more than one worker",
              "%s; %d line(s), %d worker pid(s) in the ids; %s", xt_status_text(status),
              count_of(text, "\n"), n_pids, xt_quote(text, strlen(text) > 600 ? 600 : strlen(text)));
}

int main(void)
{
    const struct CMUnitTest checks[] = {
        XPS_CHECK(check_flag_says_ok_or_names_the_error),
        XPS_CHECK(bad_flags_print_usage_and_exit_2),
        XPS_CHECK(pid_file_stop_and_reload_under_a_curl_loop),
        XPS_CHECK(the_embedded_default_serves_both_urls_with_a_certificate_made_once),
        XPS_CHECK(the_printed_urls_open_in_a_real_browser),
        XPS_CHECK(health_is_200_then_503_while_draining),
        XPS_CHECK(the_embedded_default_logs_each_request_and_sums_every_worker),
    };
    return xt_run_checks("apps/xps", checks);
}
