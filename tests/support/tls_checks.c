/*
 * tests/support/tls_checks.c — stage 19's black-box checks (TLS, and
 * upstreams over TLS), for stage 19 and every stage after it
 * (tls_checks.h).
 *
 * The binary under test ($XPS_STAGE_BIN) runs in a scratch copy of
 * tests/fixtures/stage-19 (its README says how its test-only certificates
 * were made), with one of its configs as its one argument:
 *
 *   config.json       127.0.0.1:8443 TLS, shared by two blocks: a (a.test,
 *                     localhost, 127.0.0.1; certificate CN=a.test, the
 *                     default) serving public/, b (b.test; CN=b.test)
 *                     serving public-b/; 127.0.0.1:8080 plain; a request
 *                     head must come within 2 s;
 *   missing-cert.json, mismatch.json, mixed.json   refused at start-up.
 *
 * The clients are real and independent of xps: `openssl s_client` and
 * curl (the openssl and curl packages, see `make deps`). What is checked:
 *  - TLS 1.3 and TLS 1.2 handshakes succeed; a client offering only TLS
 *    1.1 gets the protocol_version alert;
 *  - ALPN agrees on http/1.1;
 *  - SNI picks each block's certificate (its subject), the first block's
 *    without a name; and the request is served by that block (curl
 *    verifying b.test's certificate gets b's page);
 *  - curl --cacert: 200, and a second request on the same connection;
 *  - an 8 MiB file arrives intact (byte for byte) over TLS;
 *  - garbage, plain HTTP, a TLS 1.1 hello and a ClientHello cut short,
 *    sent to the TLS port while a client downloads over TLS: the first
 *    three are closed at once, the cut one at the head timeout (2 s), and
 *    the download completes intact;
 *  - a missing certificate, a key that is not the certificate's, and a
 *    host:port that is TLS in one block and plain in another: exit status
 *    1, the file (or the listeners) named, nothing listening;
 *  - upstream_tls (upstream-tls.json, test-upstream --tls with a.crt on
 *    3443, strict mode: its log shows each handshake and its SNI): a GET
 *    proxied over TLS gets 200 and its body, and a second one on the same
 *    client connection goes up on the same upstream connection, after one
 *    handshake; the default SNI is the upstream's host name; a route
 *    trusting the wrong CA gets 502, the reason logged, nothing sent up;
 *    with verify: false it gets 200; "sni" is what is sent; a plain
 *    upstream among TLS ones fails its handshake once, is marked down,
 *    and every request is answered by the other.
 * Each starts the binary with a config of stage 19's own, so they are
 * skipped in the course's layout.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/tls_checks.h"
#include "tests/support/checks.h"
#include "tests/support/harness.h"
#include "tests/support/http_client.h"

enum {
    TLS_PORT = 8443,
    PLAIN_PORT = 8080,
    HEAD_TIMEOUT_MS = 2000, /* config.json's header_read_ms */
    BIG_BYTES = 8 << 20,
};

/* The fixture of the running check (the caller's: stage 19's, or a later stage's copy). */
static const char *FIXTURE = "tests/fixtures/stage-19";

enum {
    UPSTREAM_TLS_PORT = 3443,   /* upstream-tls.json: test-upstream --tls, certs/a.crt */
    UPSTREAM_PLAIN_PORT = 3444, /* ... and a plain one, for /balanced */
};

/* ------------------------------------------------------------ helpers */

/* The binary with the fixture's `config`, waiting for both ports. */
static xt_proc_t *start_tls(void)
{
    xt_skip_in_course_layout("starts the binary with a TLS config of this stage's own");
    xt_require_port_free(TLS_PORT);
    xt_require_port_free(PLAIN_PORT);
    const char *args[] = {"config.json", NULL};
    xt_start_opts_t opts = {.fixture_dir = FIXTURE};
    xt_proc_t *p = xt_start_stage(args, &opts);
    xt_wait_port(p, TLS_PORT, 5000);
    xt_wait_port(p, PLAIN_PORT, 5000);
    return p;
}

/* A path inside the server's working folder (a static buffer per slot). */
static const char *in_workdir(xt_proc_t *p, int slot, const char *name)
{
    static char paths[4][4096];
    snprintf(paths[slot], sizeof paths[slot], "%s/%s", xt_workdir(p), name);
    return paths[slot];
}

/* `openssl s_client -connect 127.0.0.1:8443` with `extra` options (NULL-
 * terminated), stdin empty so it ends after the handshake; its output. */
static char *s_client(const char *const *extra, int *status)
{
    if (access("/usr/bin/openssl", X_OK) != 0)
        xt_fail("/usr/bin/openssl is missing: run `make deps`");
    const char *args[24] = {"s_client", "-connect", "127.0.0.1:8443"};
    size_t n = 3;
    for (size_t i = 0; extra[i] && n < 23; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    return xt_run_to_exit("/usr/bin/openssl", args, NULL, 5000, status);
}

static bool exited_ok(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }

/* Writes `len` bytes of a fixed pseudo-random pattern to `path`; returns them (malloc'd). */
static unsigned char *write_big_file(const char *path, size_t len)
{
    unsigned char *bytes = malloc(len);
    if (!bytes)
        xt_fail("out of memory");
    unsigned long long x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        bytes[i] = (unsigned char)(x >> 29);
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, bytes, len) != (ssize_t)len)
        xt_fail("cannot write %s: %s", path, strerror(errno));
    close(fd);
    return bytes;
}

/* Whether the file at `path` holds exactly `len` bytes equal to `bytes`. */
static bool file_equals(const char *path, const unsigned char *bytes, size_t len, size_t *got)
{
    *got = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return false;
    unsigned char *buf = malloc(len + 1);
    ssize_t n;
    while (buf && *got <= len && (n = read(fd, buf + *got, len + 1 - *got)) > 0)
        *got += (size_t)n;
    close(fd);
    bool same = buf && *got == len && memcmp(buf, bytes, len) == 0;
    free(buf);
    return same;
}

/* Waits up to ms for the server to close fd (EOF or a reset): the time it
 * took, or -1 if it is still open. Bytes that come first are skipped. */
static int64_t closed_within(int fd, int ms)
{
    int64_t start = xt_now_ms();
    char buf[1024];
    while (xt_now_ms() - start < ms) {
        ssize_t got = xt_recv_deadline(fd, buf, sizeof buf, (int)(ms - (xt_now_ms() - start)));
        if (got == 0 || got == XT_ERROR)
            return xt_now_ms() - start;
        if (got == XT_TIMEOUT)
            break;
    }
    return -1;
}

/* ------------------------------------------------------------- checks */

void xt_tls_check_tls13_and_tls12_are_spoken_and_tls11_is_refused(const char *fixture)
{
    FIXTURE = fixture;
    start_tls();
    const char *versions[] = {"-tls1_3", "-tls1_2"};
    const char *names[] = {"TLSv1.3", "TLSv1.2"};
    for (int i = 0; i < 2; i++) {
        const char *extra[] = {versions[i], "-brief", NULL};
        int status = 0;
        char *out = s_client(extra, &status);
        char want[64], expected[128];
        snprintf(want, sizeof want, "Protocol version: %s", names[i]);
        snprintf(expected, sizeof expected, "openssl s_client %s: the handshake succeeds (%s)",
                 versions[i], names[i]);
        xt_expect(exited_ok(status) && strstr(out, "CONNECTION ESTABLISHED") && strstr(out, want),
                  expected, "%s; it printed %s", xt_status_text(status), xt_quote(out, strlen(out)));
        free(out);
    }
    /* SECLEVEL=0: this OpenSSL would not even offer TLS 1.1 otherwise, and
     * the check is that the SERVER refuses it. */
    const char *old[] = {"-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0", "-brief", NULL};
    int status = 0;
    char *out = s_client(old, &status);
    xt_expect(!exited_ok(status) && !strstr(out, "CONNECTION ESTABLISHED") &&
                  strstr(out, "alert protocol version"),
              "openssl s_client -tls1_1: refused with the protocol_version alert",
              "%s; it printed %s", xt_status_text(status), xt_quote(out, strlen(out)));
    free(out);
}

void xt_tls_check_alpn_agrees_on_http11(const char *fixture)
{
    FIXTURE = fixture;
    start_tls();
    const char *extra[] = {"-alpn", "h2,http/1.1", NULL};
    int status = 0;
    char *out = s_client(extra, &status);
    xt_expect(exited_ok(status) && strstr(out, "ALPN protocol: http/1.1"),
              "openssl s_client -alpn h2,http/1.1: the server picks http/1.1",
              "%s; it printed %s", xt_status_text(status), xt_quote(out, strlen(out)));
    free(out);
}

void xt_tls_check_sni_picks_each_blocks_certificate(const char *fixture)
{
    FIXTURE = fixture;
    xt_proc_t *p = start_tls();
    struct {
        const char *name; /* NULL: no SNI */
        const char *subject;
    } rows[] = {{"a.test", "Peer certificate: CN = a.test"},
                {"b.test", "Peer certificate: CN = b.test"},
                {"B.Test", "Peer certificate: CN = b.test"},
                {"unknown.test", "Peer certificate: CN = a.test"},
                {NULL, "Peer certificate: CN = a.test"}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const char *with[] = {"-brief", "-servername", rows[i].name, NULL};
        const char *without[] = {"-brief", "-noservername", NULL};
        int status = 0;
        char *out = s_client(rows[i].name ? with : without, &status);
        char expected[128];
        snprintf(expected, sizeof expected, "SNI %s: the certificate of its block (%s)",
                 rows[i].name ? rows[i].name : "(none)", rows[i].subject + 18);
        xt_expect(exited_ok(status) && strstr(out, rows[i].subject), expected,
                  "%s; it printed %s", xt_status_text(status), xt_quote(out, strlen(out)));
        free(out);
    }
    /* And the request is the block's: curl verifies b's certificate for
     * b.test (it would fail on a's) and gets b's page. */
    const char *args[] = {"-sS", "--cacert", in_workdir(p, 0, "certs/b.crt"), "--resolve",
                          "b.test:8443:127.0.0.1", "https://b.test:8443/", NULL};
    int status = 0;
    char *out = xt_run_curl(args, &status);
    xt_expect(exited_ok(status) && strstr(out, "block b"),
              "curl --cacert certs/b.crt https://b.test:8443/: verified, and block b's page",
              "%s; it printed %s", xt_status_text(status), xt_quote(out, strlen(out)));
    free(out);
}

void xt_tls_check_curl_gets_200_and_keeps_the_connection_alive(const char *fixture)
{
    FIXTURE = fixture;
    xt_proc_t *p = start_tls();
    const char *url = "https://127.0.0.1:8443/index.html";
    const char *args[] = {"-sS", "--cacert", in_workdir(p, 0, "certs/a.crt"), "-o", "/dev/null",
                          "-o", "/dev/null", "-w", "%{http_code} %{num_connects}\\n", url, url,
                          NULL};
    int status = 0;
    char *out = xt_run_curl(args, &status);
    xt_expect(exited_ok(status) && strcmp(out, "200 1\n200 0\n") == 0,
              "curl --cacert, two GETs: 200 and 200, the second on the same connection",
              "%s; it printed %s (\"code connections-opened\" per request)",
              xt_status_text(status), xt_quote(out, strlen(out)));
    free(out);
}

void xt_tls_check_a_big_file_arrives_intact_over_tls(const char *fixture)
{
    FIXTURE = fixture;
    xt_proc_t *p = start_tls();
    unsigned char *bytes = write_big_file(in_workdir(p, 0, "public/big.bin"), BIG_BYTES);
    const char *got_path = in_workdir(p, 1, "got.bin");
    const char *args[] = {"-sS", "--cacert", in_workdir(p, 2, "certs/a.crt"), "-o", got_path,
                          "https://127.0.0.1:8443/big.bin", NULL};
    int status = 0;
    char *out = xt_run_curl(args, &status);
    size_t got = 0;
    bool same = file_equals(got_path, bytes, BIG_BYTES, &got);
    xt_expect(exited_ok(status) && same, "GET /big.bin (8 MiB) over TLS: every byte intact",
              "%s, %zu bytes, %s; curl printed %s", xt_status_text(status), got,
              same ? "equal" : "different", xt_quote(out, strlen(out)));
    free(out);
    free(bytes);
}

void xt_tls_check_bad_clients_on_the_tls_port_never_disturb_a_download(const char *fixture)
{
    FIXTURE = fixture;
    xt_watchdog(60);
    xt_proc_t *p = start_tls();
    unsigned char *bytes = write_big_file(in_workdir(p, 0, "public/big.bin"), BIG_BYTES);
    const char *got_path = in_workdir(p, 1, "got.bin");
    /* About 2 s at 4 MiB/s: the bad clients come while it runs. */
    const char *args[] = {"-sS", "--limit-rate", "4M", "--cacert", in_workdir(p, 2, "certs/a.crt"),
                          "-o", got_path, "https://127.0.0.1:8443/big.bin", NULL};
    xt_proc_t *curl = xt_start("/usr/bin/curl", args, NULL);
    xt_sleep_ms(300);

    static const char garbage[] = "\x01\x02\x03 this is not TLS at all\r\n\r\n";
    static const char plain[] = "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n";
    /* A TLS 1.1 ClientHello's start is enough to be refused: version 3.2. */
    static const char half[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc"; /* 512 announced, 5 sent */
    int g = xt_connect(TLS_PORT), h = xt_connect(TLS_PORT), c = xt_connect(TLS_PORT);
    xt_send_all(g, garbage, sizeof garbage - 1);
    xt_send_all(h, plain, sizeof plain - 1);
    xt_send_all(c, half, sizeof half - 1);
    int64_t g_ms = closed_within(g, 1000), h_ms = closed_within(h, 1000);
    int64_t c_ms = closed_within(c, HEAD_TIMEOUT_MS + 2000);
    close(g), close(h), close(c);
    xt_expect(g_ms >= 0, "garbage on the TLS port: that connection is closed at once",
              "still open after 1 s");
    xt_expect(h_ms >= 0, "plain HTTP on the TLS port: that connection is closed at once",
              "still open after 1 s");
    xt_expect(c_ms >= 0, "a ClientHello cut short: closed at the head timeout (2 s)",
              "still open after %d ms", HEAD_TIMEOUT_MS + 2000);

    int status = 0;
    bool ended = xt_wait_exit(curl, 20000, &status);
    size_t got = 0;
    bool same = file_equals(got_path, bytes, BIG_BYTES, &got);
    char *err = xt_stderr(curl);
    xt_expect(ended && exited_ok(status) && same,
              "meanwhile an 8 MiB download over TLS completes, every byte intact",
              "curl %s, %zu bytes, %s; curl said %s", xt_status_text(status), got,
              same ? "equal" : "different", xt_quote(err, strlen(err)));
    free(err);
    free(bytes);
    /* The server is still serving, TLS and plain. */
    const char *again[] = {"-sS", "--cacert", in_workdir(p, 2, "certs/a.crt"), "-o", "/dev/null",
                           "-w", "%{http_code}", "https://127.0.0.1:8443/", NULL};
    char *out = xt_run_curl(again, &status);
    xt_expect(exited_ok(status) && strcmp(out, "200") == 0, "and it goes on serving: 200",
              "%s; curl printed %s", xt_status_text(status), xt_quote(out, strlen(out)));
    free(out);
}

void xt_tls_check_bad_tls_configs_are_refused_at_start_up_naming_the_file(const char *fixture)
{
    FIXTURE = fixture;
    xt_skip_in_course_layout("starts the binary with configs of this stage's own");
    xt_require_port_free(TLS_PORT);
    struct {
        const char *config;
        const char *named; /* the message must hold this */
        const char *what;
    } rows[] = {
        {"missing-cert.json", "certs/missing.crt: cannot read the certificate",
         "a missing certificate"},
        {"mismatch.json", "certs/b.key: does not match the certificate", "a key of another"},
        {"mixed.json", "127.0.0.1:8443 is plain here but TLS in servers[0].listeners[0]",
         "TLS and plain on one host:port"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const char *args[] = {rows[i].config, NULL};
        xt_start_opts_t opts = {.fixture_dir = FIXTURE};
        xt_proc_t *p = xt_start_stage(args, &opts);
        int status = 0;
        bool exited = xt_wait_exit(p, 5000, &status);
        char *err = xt_stderr(p);
        char expected[256];
        snprintf(expected, sizeof expected, "%s (%s): exit status 1, saying \"%s\"",
                 rows[i].config, rows[i].what, rows[i].named);
        xt_expect(exited && WIFEXITED(status) && WEXITSTATUS(status) == 1 &&
                      strstr(err, rows[i].named),
                  expected, "%s, stderr %s", xt_status_text(status), xt_quote(err, strlen(err)));
        free(err);
        xt_expect(xt_try_connect(TLS_PORT) < 0, "... and nothing listens on 8443",
                  "something accepted a connection");
    }
}

/* ------------------------------------------------------- upstream_tls */

/* The binary with upstream-tls.json, waiting for 8080. */
static xt_proc_t *start_tls_proxy(void)
{
    xt_skip_in_course_layout("starts the binary with an upstream_tls config of this stage's own");
    xt_require_port_free(PLAIN_PORT);
    const char *args[] = {"upstream-tls.json", NULL};
    xt_start_opts_t opts = {.fixture_dir = FIXTURE};
    xt_proc_t *p = xt_start_stage(args, &opts);
    xt_wait_port(p, PLAIN_PORT, 5000);
    return p;
}

/* test-upstream in strict mode on `port`, over TLS with certs/a.crt when
 * `tls` (the fixture is copied into its folder). Its strict.log records
 * every request and, over TLS, every handshake ("tls <c> sni=<name>"). */
static xt_proc_t *start_strict_upstream(uint16_t port, bool tls)
{
    char port_text[8];
    snprintf(port_text, sizeof port_text, "%u", port);
    const char *args[] = {"--port", port_text, "--mode", "strict",
                          tls ? "--tls" : NULL, "certs/a.crt", "certs/a.key", NULL};
    xt_require_port_free(port);
    xt_start_opts_t opts = {.fixture_dir = FIXTURE};
    xt_proc_t *up = xt_start(xt_our_bin("test-upstream"), args, &opts);
    xt_wait_port(up, port, 5000);
    return up;
}

/* The strict upstream's log so far (malloc'd, NUL-terminated). */
static char *strict_log(xt_proc_t *up)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/strict.log", xt_workdir(up));
    FILE *f = fopen(path, "r");
    char *text = xt_alloc(65536);
    size_t n = f ? fread(text, 1, 65535, f) : 0;
    text[n] = '\0';
    if (f)
        fclose(f);
    return text;
}

/* How many times `needle` occurs in `text`. */
static int occurrences(const char *text, const char *needle)
{
    int n = 0;
    for (const char *at = strstr(text, needle); at; at = strstr(at + 1, needle))
        n++;
    return n;
}

/* GET `path` on a new connection to 8080; the response. */
static xt_response_t *get_on_8080(const char *path)
{
    char request[256];
    snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: proxy.test\r\n\r\n", path);
    int fd = xt_connect(PLAIN_PORT);
    xt_response_t *r = xt_ask(fd, request, false);
    close(fd);
    return r;
}

void xt_tls_check_a_get_over_a_tls_upstream_reuses_its_connection(const char *fixture)
{
    FIXTURE = fixture;
    xt_proc_t *up = start_strict_upstream(UPSTREAM_TLS_PORT, true);
    start_tls_proxy();
    int fd = xt_connect(PLAIN_PORT);
    xt_response_t *r1 = xt_ask(fd, "GET /verified/1 HTTP/1.1\r\nHost: proxy.test\r\n\r\n", false);
    xt_response_t *r2 = xt_ask(fd, "GET /verified/2 HTTP/1.1\r\nHost: proxy.test\r\n\r\n", false);
    close(fd);
    char c1[32] = "", c2[32] = "";
    xt_header_value(r1->head, "X-Connection", c1, sizeof c1);
    xt_header_value(r2->head, "X-Connection", c2, sizeof c2);
    xt_expect(r1->status == 200 && strstr(r1->body, "GET /verified/1 HTTP/1.1\r\n"),
              "GET /verified/1 (upstream_tls, ca certs/a.crt, upstream localhost:3443): 200 with"
              " the request as the upstream received it over TLS", "%s",
              xt_describe_response(r1));
    xt_expect(r2->status == 200 && strstr(r2->body, "GET /verified/2 HTTP/1.1\r\n") && *c1 &&
                  strcmp(c1, c2) == 0,
              "a second GET on the same client connection: 200 on the same upstream connection"
              " (X-Connection)", "X-Connection %s then %s; %s", c1, c2, xt_describe_response(r2));
    test_free(r1);
    test_free(r2);
    char *log = strict_log(up);
    xt_expect(occurrences(log, "tls ") == 1 && strstr(log, " sni=localhost\n"),
              "one TLS handshake for both, with SNI localhost (the upstream's host name)",
              "the upstream's log %s", xt_quote(log, strlen(log)));
    free(log);
}

void xt_tls_check_a_tls_upstream_with_the_wrong_ca_gets_502_and_the_reason(const char *fixture)
{
    FIXTURE = fixture;
    xt_proc_t *up = start_strict_upstream(UPSTREAM_TLS_PORT, true);
    xt_proc_t *p = start_tls_proxy();
    xt_response_t *r = get_on_8080("/wrong-ca/1");
    char *err = xt_stderr(p);
    char *log = strict_log(up);
    xt_expect(r->status == 502 && strstr(err, "certificate verify failed") &&
                  !strstr(log, "/wrong-ca"),
              "GET /wrong-ca/1 (upstream_tls trusting certs/b.crt, the upstream's is a.crt): 502,"
              " \"certificate verify failed\" logged, nothing sent up",
              "%s; stderr %s; the upstream's log %s", xt_describe_response(r),
              xt_quote(err, strlen(err)), xt_quote(log, strlen(log)));
    free(err);
    free(log);
    test_free(r);
    r = get_on_8080("/verified/2");
    xt_expect(r->status == 200, "... and the server goes on: GET /verified/2 gets 200", "%s",
              xt_describe_response(r));
    test_free(r);
}

void xt_tls_check_verify_false_and_sni_are_applied(const char *fixture)
{
    FIXTURE = fixture;
    xt_proc_t *up = start_strict_upstream(UPSTREAM_TLS_PORT, true);
    start_tls_proxy();
    xt_response_t *r = get_on_8080("/unverified/1");
    xt_expect(r->status == 200 && strstr(r->body, "GET /unverified/1 HTTP/1.1\r\n"),
              "GET /unverified/1 (trusting certs/b.crt, but verify: false): 200 and its body",
              "%s", xt_describe_response(r));
    test_free(r);
    r = get_on_8080("/named/2");
    char *log = strict_log(up);
    xt_expect(r->status == 200 && strstr(log, " sni=a.test\n"),
              "GET /named/2 (upstream 127.0.0.1:3443, sni: a.test): 200, and the upstream saw"
              " SNI a.test", "%s; the upstream's log %s", xt_describe_response(r),
              xt_quote(log, strlen(log)));
    free(log);
    test_free(r);
}

void xt_tls_check_a_failed_handshake_marks_the_upstream_down(const char *fixture)
{
    FIXTURE = fixture;
    start_strict_upstream(UPSTREAM_TLS_PORT, true);
    start_strict_upstream(UPSTREAM_PLAIN_PORT, false);
    xt_proc_t *p = start_tls_proxy();
    int ok = 0;
    for (int i = 0; i < 6; i++) {
        xt_response_t *r = get_on_8080("/balanced/x");
        ok += r->status == 200;
        test_free(r);
    }
    char *err = xt_stderr(p);
    xt_expect(ok == 6 && occurrences(err, "upstream 127.0.0.1:3444: TLS handshake failed") == 1 &&
                  strstr(err, "upstream 127.0.0.1:3444: marked down"),
              "6 GET /balanced/x (round_robin over 3444, plain, and 3443, TLS): all 200; 3444's"
              " failed handshake is logged once and marks it down (max_fails 1)",
              "%d answered 200; stderr %s", ok, xt_quote(err, strlen(err)));
    free(err);
}
