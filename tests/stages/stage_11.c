/*
 * tests/stages/stage_11.c — black-box checks for stage 11 (http-req-res).
 *
 * Stage 11 is stage 10's file server rebuilt on http/'s request and
 * response objects, so it is checked for everything stage 10 is, with the
 * same fixture (tests/fixtures/stage-10, copied into a scratch working
 * directory; the binary is started there with no arguments and serves
 * ./public on 8001-8004, all four ports alike):
 *  - 200 for .txt, .html, .jpg and .pdf with the exact Content-Type (no
 *    parameters), Content-Length equal to the file's size, "Server:
 *    eXpServer" and the body byte for byte; HTTP/1.0 without Host served;
 *    header names matched in any case;
 *  - 404 for a missing file; 403 for a path out of the root, and for a
 *    file in the root that is not world-readable; "%2e%2e" refused;
 *  - 400 for a malformed request line, an invalid method token, an unknown
 *    method ("GOT": the course's 400, where RFC 9110 §9.1 and stage 13 say
 *    501), a missing or unknown version, a header line without a colon,
 *    HTTP/1.1 without Host, and serving on afterwards;
 *  - a request sent in 3-byte pieces is answered; a stalled client holds
 *    up no one; the status line and all headers arrive in one write;
 *    SIGTERM ends the server with status 0.
 * And what this stage adds, responses that are byte-correct HTTP/1.1, on
 * ten kinds of response (200 for GET, for HTTP/1.0 and for HEAD; 404;
 * 403; four kinds of 400):
 *  - every head line ends in CRLF, the head in CRLFCRLF, and the status
 *    line is "HTTP/1.1 <status> <reason>";
 *  - exactly one Date header, an IMF-fixdate (RFC 9110 §5.6.7) naming the
 *    current time (within 10 s) with the right weekday;
 *  - exactly one Content-Length, equal to the body bytes that follow
 *    before the server closes (for HEAD: the file's size, no body);
 *  - no header name twice;
 *  - curl (a real client) fetches two files and a 404 and reads them.
 */
#define _GNU_SOURCE /* memmem */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/support/harness.h"
#include "tests/support/http_checks.h"

enum {
    BASE_PORT = XT_HTTP_BASE_PORT, /* the four ports are 8001..8004 */
    PORTS = XT_HTTP_PORTS,
    REPLY_MS = 3000,  /* for a whole response */
    HEAD_CAP = 8192,  /* room for a response head */
    BODY_CAP = 65536, /* room for a response body (the fixtures are small) */
    MAX_HEADERS = 32,
};

static const char FIXTURE[] = "tests/fixtures/stage-10";

/* ------------------------------------------------ stage 10's checks */

/* Everything stage 10 is checked for: the shared checks of
 * tests/support/http_checks.h (what each verifies is said there), run on
 * stage 10's fixture. */
XT_HTTP_CHECK_ON(serves_txt_html_jpg_pdf_with_exact_content_types, FIXTURE)
XT_HTTP_CHECK_ON(serves_http_1_0_without_host_and_headers_in_any_case, FIXTURE)
XT_HTTP_CHECK_ON(answers_404_for_a_missing_file, FIXTURE)
XT_HTTP_CHECK_ON(answers_403_outside_the_root_and_for_a_private_file, FIXTURE)
XT_HTTP_CHECK_ON(answers_400_for_each_malformed_request, FIXTURE)
XT_HTTP_CHECK_ON(answers_a_request_sent_in_tiny_pieces, FIXTURE)
XT_HTTP_CHECK_ON(a_stalled_client_holds_up_no_one, FIXTURE)
XT_HTTP_CHECK_ON(sends_the_status_line_and_headers_in_one_write, FIXTURE)
XT_HTTP_CHECK_ON(exits_0_within_3_s_of_sigterm, FIXTURE)

/* ------------------------------------------------ byte-correct responses */

/* The requests the byte-level checks send: one of each kind of response.
 * With Connection: close (or HTTP/1.0) a correct server closes after the
 * response, so all of it is read, up to EOF. */
static const struct kind {
    const char *what;
    const char *request;
    int status;
    const char *file; /* the file under the root whose size Content-Length must be, or NULL */
    bool head;        /* HEAD: no body follows the head */
} kinds[] = {
    {"GET of a text file", "GET /sample.txt HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
     200, "public/sample.txt", false},
    {"GET of an image", "GET /cat.jpg HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", 200,
     "public/cat.jpg", false},
    {"GET from an HTTP/1.0 client", "GET /index.html HTTP/1.0\r\n\r\n", 200, "public/index.html",
     false},
    {"HEAD of a file", "HEAD /doc.pdf HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", 200,
     "public/doc.pdf", true},
    {"a missing file", "GET /missing.txt HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", 404,
     NULL, false},
    {"a path out of the root",
     "GET /../temp/file.txt HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", 403, NULL, false},
    {"a header line without a colon",
     "GET /sample.txt HTTP/1.1\r\nHost h\r\nConnection: close\r\n\r\n", 400, NULL, false},
    {"HTTP/1.1 without Host", "GET /sample.txt HTTP/1.1\r\nConnection: close\r\n\r\n", 400, NULL,
     false},
    {"an unknown version", "GET /sample.txt HTTP/2.0\r\nHost: h\r\nConnection: close\r\n\r\n",
     400, NULL, false},
    {"an unknown method (the course's 400)",
     "GOT /index.html HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", 400, NULL, false},
};
#define KINDS (sizeof kinds / sizeof kinds[0])

/* Everything the server sent for one request, cut into head and fields. */
typedef struct raw_response {
    char bytes[BODY_CAP + HEAD_CAP]; /* as received, NUL-terminated */
    size_t len;
    bool eof;                        /* the server closed the connection */
    size_t head_len;                 /* through the first CRLFCRLF; 0 if none came */
    char fields[HEAD_CAP];           /* a copy of the head, cut at colons and CRLFs */
    char *names[MAX_HEADERS], *values[MAX_HEADERS];
    int count;                       /* header lines with a colon */
} raw_response_t;

/* Cuts the head's header lines (after the status line) into r->names and
 * r->values; lines without a colon are left out. */
static void cut_fields(raw_response_t *r)
{
    if (r->head_len == 0 || r->head_len >= sizeof r->fields)
        return;
    memcpy(r->fields, r->bytes, r->head_len);
    r->fields[r->head_len] = '\0';
    r->count = xt_http_cut_fields(r->fields, r->names, r->values, MAX_HEADERS);
}

/* Sends kind k to its port (they take turns) and reads until EOF, 3 s at most. */
static raw_response_t *fetch(size_t k)
{
    raw_response_t *r = test_calloc(1, sizeof *r);
    int fd = xt_connect((uint16_t)(BASE_PORT + k % PORTS));
    xt_send_all(fd, kinds[k].request, strlen(kinds[k].request));
    r->len = xt_recv_until_eof(fd, r->bytes, sizeof r->bytes - 1, REPLY_MS, &r->eof);
    close(fd);
    r->bytes[r->len] = '\0';
    const char *blank = memmem(r->bytes, r->len, "\r\n\r\n", 4);
    r->head_len = blank ? (size_t)(blank + 4 - r->bytes) : 0;
    cut_fields(r);
    return r;
}

/* "GET of a text file (\"GET /sample.txt HTTP/1.1\") on port 8001" */
static const char *kind_text(size_t k)
{
    static char text[300];
    const char *req = kinds[k].request;
    snprintf(text, sizeof text, "%s (\"%s\") on port %d", kinds[k].what,
             xt_quote(req, (size_t)(strstr(req, "\r\n") - req)), BASE_PORT + (int)(k % PORTS));
    return text;
}

/* The head as received (or all of it when no CRLFCRLF came), quoted. */
static const char *head_text(const raw_response_t *r)
{
    return xt_quote(r->bytes, r->head_len ? r->head_len : r->len);
}

/* How many header lines are named `name` (any case); *value gets the last. */
static int count_named(const raw_response_t *r, const char *name, const char **value)
{
    int n = 0;
    for (int i = 0; i < r->count; i++)
        if (strcasecmp(r->names[i], name) == 0)
            n++, *value = r->values[i];
    return n;
}

/* The offset of the first line end that is not CRLF (a bare LF or a bare
 * CR) in the head, or in everything received when no CRLFCRLF came; -1 when
 * there is none. */
static long first_bad_line_end(const raw_response_t *r)
{
    size_t end = r->head_len ? r->head_len : r->len;
    for (size_t i = 0; i < end; i++) {
        if (r->bytes[i] == '\n' && (i == 0 || r->bytes[i - 1] != '\r'))
            return (long)i;
        if (r->bytes[i] == '\r' && r->bytes[i + 1] != '\n')
            return (long)i;
    }
    return -1;
}

/* Every line of the head ends in CRLF and the head in CRLFCRLF (RFC 9112
 * §2.1); the status line is exactly "HTTP/1.1 <status> <reason>". Bare LF
 * is what the course's sample serialiser sends: browsers forgive it,
 * strict clients and proxies need not. */
static void every_head_line_ends_in_crlf_and_the_head_in_crlfcrlf(void **state)
{
    (void)state;
    xt_proc_t *p = xt_http_start_server(FIXTURE);
    for (size_t k = 0; k < KINDS; k++) {
        raw_response_t *r = fetch(k);
        long bad = first_bad_line_end(r);
        int status = 0, used = 0;
        bool status_ok = sscanf(r->bytes, "HTTP/1.1 %3d %n", &status, &used) == 1 &&
                         used == 13 && r->bytes[12] == ' ' && status == kinds[k].status;
        char expected[500], where[80] = "";
        if (bad >= 0)
            snprintf(where, sizeof where, ", a line end other than CRLF at byte %ld", bad);
        snprintf(expected, sizeof expected,
                 "%s: status line \"HTTP/1.1 %d <reason>\", every head line ending in CRLF, "
                 "the head ending in CRLFCRLF",
                 kind_text(k), kinds[k].status);
        xt_expect(r->head_len > 0 && bad < 0 && status_ok, expected,
                  "%s%s%s: \"%s\" (the server %s)", r->head_len ? "a head" : "no CRLFCRLF",
                  where, status_ok ? "" : ", another status line", head_text(r),
                  xt_alive(p) ? "is running" : "has exited");
        test_free(r);
    }
    xt_expect(true, "all 10 kinds of response: CRLF line ends, CRLFCRLF after the head, "
              "an HTTP/1.1 status line", "as expected");
}

/* Whether `v` is an IMF-fixdate (RFC 9110 §5.6.7), "Sun, 06 Nov 1994
 * 08:49:37 GMT", naming a real date whose weekday is right; *t gets it. */
static bool imf_fixdate(const char *v, time_t *t)
{
    static const char days[] = "SunMonTueWedThuFriSat";
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    /* the layout: '0' a digit, 'x' a letter (checked below), the rest as is */
    static const char layout[] = "xxx, 00 xxx 0000 00:00:00 GMT";
    if (strlen(v) != sizeof layout - 1)
        return false;
    for (size_t i = 0; i < sizeof layout - 1; i++)
        if (layout[i] == '0' ? !isdigit((unsigned char)v[i])
            : layout[i] == 'x' ? false : v[i] != layout[i])
            return false;
    /* read the fields from their places */
    int d = atoi(v + 5), y = atoi(v + 12), hh = atoi(v + 17), mm = atoi(v + 20), ss = atoi(v + 23);
    const char *dp = NULL, *mp = NULL;
    for (int i = 0; i < 7 && !dp; i++)
        dp = strncmp(v, days + 3 * i, 3) == 0 ? days + 3 * i : NULL;
    for (int i = 0; i < 12 && !mp; i++)
        mp = strncmp(v + 8, months + 3 * i, 3) == 0 ? months + 3 * i : NULL;
    if (!dp || !mp || hh > 23 || mm > 59 || ss > 60)
        return false;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = (int)(mp - months) / 3, .tm_mday = d,
                    .tm_hour = hh, .tm_min = mm, .tm_sec = ss};
    *t = timegm(&tm);
    struct tm back;
    gmtime_r(t, &back);
    return back.tm_mday == d && back.tm_wday == (int)(dp - days) / 3; /* 31 Feb, a wrong weekday */
}

/* Exactly one Date header in every response, an IMF-fixdate within 10 s
 * of this machine's clock (the server and the check share it). */
static void sends_exactly_one_date_in_imf_fixdate(void **state)
{
    (void)state;
    xt_proc_t *p = xt_http_start_server(FIXTURE);
    for (size_t k = 0; k < KINDS; k++) {
        raw_response_t *r = fetch(k);
        const char *date = NULL;
        int n = count_named(r, "Date", &date);
        time_t t = 0, now = time(NULL);
        bool format = n == 1 && imf_fixdate(date, &t);
        char expected[400];
        snprintf(expected, sizeof expected,
                 "%s: exactly one Date header, an IMF-fixdate such as \"Sun, 06 Nov 1994 "
                 "08:49:37 GMT\" within 10 s of now",
                 kind_text(k));
        xt_expect(format && t >= now - 10 && t <= now + 10, expected,
                  "%d Date header(s)%s%s%s%s, %s: \"%s\"", n, date ? ", \"" : "",
                  date ? date : "", date ? "\"" : "",
                  n == 1 && !format ? " (not an IMF-fixdate)"
                  : format          ? " (not within 10 s of now)" : "",
                  xt_alive(p) ? "the server is running" : "the server has exited", head_text(r));
        test_free(r);
    }
    xt_expect(true, "all 10 kinds of response: exactly one Date, IMF-fixdate, the current time",
              "as expected");
}

/* Content-Length, present once, equals the bytes that follow the head
 * before the server closes; for HEAD it is the file's size and nothing
 * follows. A file's response carries the file's size. */
static void content_length_equals_the_body_length(void **state)
{
    (void)state;
    xt_proc_t *p = xt_http_start_server(FIXTURE);
    for (size_t k = 0; k < KINDS; k++) {
        raw_response_t *r = fetch(k);
        const char *cl = NULL;
        int n = count_named(r, "Content-Length", &cl);
        size_t body = r->head_len ? r->len - r->head_len : 0;
        char *end = NULL;
        unsigned long long length = cl ? strtoull(cl, &end, 10) : 0;
        bool digits = cl && *cl >= '0' && *cl <= '9' && *end == '\0';
        long long file = -1;
        if (kinds[k].file) {
            char path[4096];
            struct stat st;
            snprintf(path, sizeof path, "%s/%s", xt_workdir(p), kinds[k].file);
            if (stat(path, &st) != 0)
                xt_fail("fixture file %s: %s (a harness problem)", path, strerror(errno));
            file = st.st_size;
        }
        unsigned long long want_body = kinds[k].head ? 0 : length;
        bool ok = n == 1 && digits && r->eof && body == want_body &&
                  (file < 0 || length == (unsigned long long)file);
        char expected[500];
        if (kinds[k].head)
            snprintf(expected, sizeof expected,
                     "%s: one Content-Length, the file's size (%lld), and no body after the head "
                     "before the server closes", kind_text(k), file);
        else
            snprintf(expected, sizeof expected,
                     "%s: one Content-Length%s, then exactly that many body bytes and EOF",
                     kind_text(k), file >= 0 ? ", the file's size" : "");
        if (file >= 0 && !kinds[k].head)
            snprintf(expected + strlen(expected), sizeof expected - strlen(expected), " (%lld)",
                     file);
        xt_expect(ok, expected, "%d Content-Length header(s)%s%s%s, %zu body bytes, %s: \"%s\"",
                  n, cl ? " \"" : "", cl ? cl : "", cl ? "\"" : "", body,
                  r->eof ? "then EOF" : "and the connection still open after 3 s", head_text(r));
        test_free(r);
    }
    xt_expect(true, "all 10 kinds of response: Content-Length equals the body that follows",
              "as expected");
}

/* No header name appears twice in a head (compared without regard to
 * case): a duplicated Content-Length is a request-smuggling hazard, a
 * duplicated Server or Date merely wrong. */
static void no_header_appears_twice(void **state)
{
    (void)state;
    xt_proc_t *p = xt_http_start_server(FIXTURE);
    for (size_t k = 0; k < KINDS; k++) {
        raw_response_t *r = fetch(k);
        const char *twice = NULL;
        for (int i = 0; i < r->count && !twice; i++)
            for (int j = i + 1; j < r->count && !twice; j++)
                if (strcasecmp(r->names[i], r->names[j]) == 0)
                    twice = r->names[i];
        char expected[400];
        snprintf(expected, sizeof expected, "%s: a head with no header name twice", kind_text(k));
        xt_expect(r->head_len > 0 && r->count > 0 && !twice, expected,
                  "%s%s%s: \"%s\" (the server %s)",
                  twice ? "\"" : r->head_len ? "no repeat" : "no complete head",
                  twice ? twice : "", twice ? "\" appears more than once" : "", head_text(r),
                  xt_alive(p) ? "is running" : "has exited");
        test_free(r);
    }
    xt_expect(true, "all 10 kinds of response: every header name at most once", "as expected");
}

/* curl's path, from $PATH (the harness execs by path). */
static const char *find_curl(void)
{
    static char path[4096];
    const char *dirs = getenv("PATH");
    for (const char *d = dirs ? dirs : "/usr/bin:/bin"; *d;) {
        size_t n = strcspn(d, ":");
        snprintf(path, sizeof path, "%.*s/curl", (int)n, d);
        if (n > 0 && access(path, X_OK) == 0)
            return path;
        d += n + (d[n] == ':');
    }
    xt_fail("curl is not installed: `make deps` installs it");
}

/* Runs curl with args in its own scratch directory; returns its exit
 * status (-1 if it did not end within 5 s) and its stdout (*out, free it),
 * with the file it wrote read into got (*got_len bytes). */
static int run_curl(const char *const *args, char **out, char *got, size_t cap, size_t *got_len)
{
    xt_proc_t *c = xt_start(find_curl(), args, NULL);
    int status = 0;
    bool done = xt_wait_exit(c, 5000, &status);
    *out = xt_stdout(c);
    char path[4096];
    snprintf(path, sizeof path, "%s/body", xt_workdir(c));
    FILE *f = fopen(path, "rb");
    *got_len = f ? fread(got, 1, cap, f) : 0;
    if (f)
        fclose(f);
    return done && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* curl, a real client, fetches two files and a 404: exit status 0 (curl
 * checks the framing: a body shorter than its Content-Length is its exit
 * 18), the files byte for byte, and the head it prints (-D -) starting
 * with the status line and its CRLF. */
static void curl_reads_every_response(void **state)
{
    (void)state;
    xt_proc_t *p = xt_http_start_server(FIXTURE);
    static const struct {
        const char *url, *file, *status_line;
    } rows[] = {
        {"http://127.0.0.1:8001/sample.txt", "public/sample.txt", "HTTP/1.1 200 OK\r\n"},
        {"http://127.0.0.1:8002/cat.jpg", "public/cat.jpg", "HTTP/1.1 200 OK\r\n"},
        {"http://127.0.0.1:8003/missing.txt", NULL, "HTTP/1.1 404 Not Found\r\n"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const char *args[] = {"-sS", "--http1.1", "--max-time", "3", "-D", "-", "-o", "body",
                              rows[i].url, NULL};
        char want[BODY_CAP], got[BODY_CAP], expected[400];
        size_t want_len = rows[i].file ? xt_http_read_fixture(p, rows[i].file, want, sizeof want) : 0;
        size_t got_len = 0;
        char *out = NULL;
        int code = run_curl(args, &out, got, sizeof got, &got_len);
        bool same = !rows[i].file || (got_len == want_len && memcmp(got, want, want_len) == 0);
        bool line = strncmp(out, rows[i].status_line, strlen(rows[i].status_line)) == 0;
        snprintf(expected, sizeof expected,
                 "curl -sS --http1.1 -D - %s: exit status 0, a head starting \"%s\"%s", rows[i].url,
                 xt_quote(rows[i].status_line, strlen(rows[i].status_line)),
                 rows[i].file ? ", the file byte for byte" : "");
        xt_expect(code == 0 && line && same, expected, "exit status %d, head \"%s\"%s", code,
                  xt_quote(out, strlen(out)), same ? "" : ", a different body");
        free(out);
    }
}

int main(void)
{
    const struct CMUnitTest checks[] = {
        XT_CHECK(serves_txt_html_jpg_pdf_with_exact_content_types),
        XT_CHECK(serves_http_1_0_without_host_and_headers_in_any_case),
        XT_CHECK(answers_404_for_a_missing_file),
        XT_CHECK(answers_403_outside_the_root_and_for_a_private_file),
        XT_CHECK(answers_400_for_each_malformed_request),
        XT_CHECK(answers_a_request_sent_in_tiny_pieces),
        XT_CHECK(a_stalled_client_holds_up_no_one),
        XT_CHECK(sends_the_status_line_and_headers_in_one_write),
        XT_CHECK(exits_0_within_3_s_of_sigterm),
        XT_CHECK(every_head_line_ends_in_crlf_and_the_head_in_crlfcrlf),
        XT_CHECK(sends_exactly_one_date_in_imf_fixdate),
        XT_CHECK(content_length_equals_the_body_length),
        XT_CHECK(no_header_appears_twice),
        XT_CHECK(curl_reads_every_response),
    };
    return xt_run_checks("stage 11 (http-req-res)", checks);
}
