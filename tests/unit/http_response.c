/*
 * tests/unit/http_response.c — http/xps_http_response.h checked against its
 * contract: the status table, byte-exact serialisation for a table of
 * responses (CRLF everywhere, header order, Content-Length rules for HEAD,
 * 1xx, 204, 304 and Transfer-Encoding), the IMF-fixdate format and its
 * once-per-second cache, and the refusal of header injection.
 *
 * Every response built here is destroyed, every buffer freed: run it under
 * valgrind or `make SAN=1` to prove it.
 */
#define _GNU_SOURCE /* memmem */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/xps_buffer.h"
#include "http/xps_http_response.h"

/* A fixed "now" so that serialisation is byte-exact: RFC 9110's example. */
#define NOW 784111777
#define DATE "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"

/* The serialised bytes of `res` at NOW, as a malloc'd NUL-terminated string
 * (the caller frees); fails the test if serialisation fails. */
static char *serialised(const xps_http_response_t *res, size_t *len_out)
{
    int error = 12345;
    xps_buffer_t *b = xps_http_response_serialize(res, NOW, &error);
    assert_non_null(b);
    assert_int_equal(error, XPS_OK);
    size_t len = xps_buffer_len(b);
    char *s = test_malloc(len + 1);
    memcpy(s, xps_buffer_data(b), len);
    s[len] = '\0';
    xps_buffer_destroy(b);
    if (len_out)
        *len_out = len;
    return s;
}

/* Fails with both texts, escaped, when the serialisation differs. */
static void expect_bytes(const char *what, const xps_http_response_t *res, const char *expected)
{
    size_t len;
    char *got = serialised(res, &len);
    if (len != strlen(expected) || memcmp(got, expected, len) != 0) {
        print_error("%s:\nexpected: %s\ngot:      %s\n", what, expected, got);
        test_free(got);
        fail_msg("%s: serialisation differs (see above)", what);
    }
    test_free(got);
}

/* ------------------------------------------------------------ status table */

static void status_table_covers_every_code_the_stages_send(void **state)
{
    (void)state;
    /* Every status STAGES.md rows 10-13 and 17-18 use, with RFC 9110's
     * phrase (RFC 6585 for 429 and 431). */
    static const struct {
        int status;
        const char *reason;
    } rows[] = {
        {100, "Continue"},
        {101, "Switching Protocols"},
        {200, "OK"},
        {204, "No Content"},
        {206, "Partial Content"},
        {301, "Moved Permanently"},
        {302, "Found"},
        {303, "See Other"},
        {304, "Not Modified"},
        {307, "Temporary Redirect"},
        {308, "Permanent Redirect"},
        {400, "Bad Request"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {408, "Request Timeout"},
        {413, "Content Too Large"},
        {414, "URI Too Long"},
        {416, "Range Not Satisfiable"},
        {429, "Too Many Requests"},
        {431, "Request Header Fields Too Large"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {502, "Bad Gateway"},
        {503, "Service Unavailable"},
        {504, "Gateway Timeout"},
        {505, "HTTP Version Not Supported"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const char *got = xps_http_reason(rows[i].status);
        if (!got || strcmp(got, rows[i].reason) != 0)
            fail_msg("xps_http_reason(%d): expected \"%s\", got \"%s\"", rows[i].status,
                     rows[i].reason, got ? got : "(null)");
        /* and the status line of a response with it */
        xps_http_response_t *res = xps_http_response_create(rows[i].status, NULL);
        assert_non_null(res);
        char *bytes = serialised(res, NULL);
        char line[80];
        snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\n", rows[i].status, rows[i].reason);
        if (strncmp(bytes, line, strlen(line)) != 0)
            fail_msg("status %d: head starts \"%.40s\"", rows[i].status, bytes);
        test_free(bytes);
        xps_http_response_destroy(res);
    }
}

static void status_enum_names_match_the_table(void **state)
{
    (void)state;
    assert_string_equal(xps_http_reason(XPS_HTTP_STATUS_NOT_FOUND), "Not Found");
    assert_string_equal(xps_http_reason(XPS_HTTP_STATUS_REQUEST_HEADER_FIELDS_TOO_LARGE),
                        "Request Header Fields Too Large");
    assert_string_equal(xps_http_reason(XPS_HTTP_STATUS_HTTP_VERSION_NOT_SUPPORTED),
                        "HTTP Version Not Supported");
}

static void unknown_and_out_of_range_statuses(void **state)
{
    (void)state;
    assert_null(xps_http_reason(299));
    assert_null(xps_http_reason(0));
    assert_null(xps_http_reason(-1));
    assert_null(xps_http_reason(1000));

    /* in range but unknown: an empty reason, the space kept (RFC 9112 §4) */
    xps_http_response_t *res = xps_http_response_create(299, NULL);
    assert_non_null(res);
    expect_bytes("status 299", res,
                 "HTTP/1.1 299 \r\n" DATE "Server: eXpServer\r\nContent-Length: 0\r\n\r\n");
    xps_http_response_destroy(res);

    static const int bad[] = {0, 99, 600, -200, 1000};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int error = XPS_OK;
        assert_null(xps_http_response_create(bad[i], &error));
        assert_int_equal(error, XPS_E_INVAL);
    }
    assert_null(xps_http_response_create(42, NULL)); /* error may be NULL */
}

/* ---------------------------------------------------------- serialisation */

/* What a row does to a fresh response before serialising it. */
enum op_kind { OP_END = 0, OP_SET, OP_ADD, OP_REMOVE, OP_LENGTH, OP_BODY, OP_OMIT };

struct op {
    enum op_kind kind;
    const char *a; /* header name, or body bytes */
    const char *b; /* header value */
    unsigned long long n; /* OP_LENGTH: the length */
};

struct serialise_case {
    const char *what;
    int status;
    struct op ops[6];
    const char *expected;
};

static const struct serialise_case serialise_cases[] = {
    {"a bare 200: Date, Server, an empty body",
     200, {{OP_END, 0, 0, 0}},
     "HTTP/1.1 200 OK\r\n" DATE "Server: eXpServer\r\nContent-Length: 0\r\n\r\n"},
    {"a file: Content-Type then Content-Length, body sent by the caller",
     200, {{OP_SET, "Content-Type", "image/jpeg", 0}, {OP_LENGTH, 0, 0, 12345}},
     "HTTP/1.1 200 OK\r\n" DATE "Server: eXpServer\r\nContent-Type: image/jpeg\r\n"
     "Content-Length: 12345\r\n\r\n"},
    {"a small body is serialised after the head",
     200, {{OP_SET, "Content-Type", "text/plain", 0}, {OP_BODY, "hello\n", 0, 0}},
     "HTTP/1.1 200 OK\r\n" DATE "Server: eXpServer\r\nContent-Type: text/plain\r\n"
     "Content-Length: 6\r\n\r\nhello\n"},
    {"HEAD: the length of the body that would be, no body",
     200, {{OP_SET, "Content-Type", "text/plain", 0}, {OP_BODY, "hello\n", 0, 0},
           {OP_OMIT, 0, 0, 0}},
     "HTTP/1.1 200 OK\r\n" DATE "Server: eXpServer\r\nContent-Type: text/plain\r\n"
     "Content-Length: 6\r\n\r\n"},
    {"HEAD of a file",
     200, {{OP_LENGTH, 0, 0, 42}, {OP_OMIT, 0, 0, 0}},
     "HTTP/1.1 200 OK\r\n" DATE "Server: eXpServer\r\nContent-Length: 42\r\n\r\n"},
    {"204: never a Content-Length, never a body",
     204, {{OP_BODY, "ignored", 0, 0}},
     "HTTP/1.1 204 No Content\r\n" DATE "Server: eXpServer\r\n\r\n"},
    {"101: never a Content-Length",
     101, {{OP_SET, "Upgrade", "websocket", 0}, {OP_SET, "Connection", "Upgrade", 0}},
     "HTTP/1.1 101 Switching Protocols\r\n" DATE "Server: eXpServer\r\nUpgrade: websocket\r\n"
     "Connection: Upgrade\r\n\r\n"},
    {"304 without a stated length: no Content-Length",
     304, {{OP_SET, "ETag", "\"abc\"", 0}},
     "HTTP/1.1 304 Not Modified\r\n" DATE "Server: eXpServer\r\nETag: \"abc\"\r\n\r\n"},
    {"304 with a stated length: kept, still no body",
     304, {{OP_BODY, "body!", 0, 0}},
     "HTTP/1.1 304 Not Modified\r\n" DATE "Server: eXpServer\r\nContent-Length: 5\r\n\r\n"},
    {"Transfer-Encoding suppresses Content-Length",
     200, {{OP_SET, "Transfer-Encoding", "chunked", 0}, {OP_LENGTH, 0, 0, 99}},
     "HTTP/1.1 200 OK\r\n" DATE "Server: eXpServer\r\nTransfer-Encoding: chunked\r\n\r\n"},
    {"a redirect",
     302, {{OP_SET, "Location", "http://localhost:8002/", 0}},
     "HTTP/1.1 302 Found\r\n" DATE "Server: eXpServer\r\nLocation: http://localhost:8002/\r\n"
     "Content-Length: 0\r\n\r\n"},
    {"the caller's Date replaces the generated one, in the caller's place",
     200, {{OP_SET, "date", "Mon, 01 Jan 2024 00:00:00 GMT", 0}},
     "HTTP/1.1 200 OK\r\nServer: eXpServer\r\ndate: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
     "Content-Length: 0\r\n\r\n"},
    {"Server can be renamed (case-insensitively, in its place) or removed",
     200, {{OP_SET, "X-A", "1", 0}, {OP_SET, "SERVER", "xps-test", 0}},
     "HTTP/1.1 200 OK\r\n" DATE "SERVER: xps-test\r\nX-A: 1\r\nContent-Length: 0\r\n\r\n"},
    {"Server removed",
     404, {{OP_REMOVE, "server", 0, 0}},
     "HTTP/1.1 404 Not Found\r\n" DATE "Content-Length: 0\r\n\r\n"},
    {"set replaces every header of the name; the first keeps its place",
     200, {{OP_ADD, "Vary", "a", 0}, {OP_SET, "X-B", "2", 0}, {OP_ADD, "vary", "b", 0},
           {OP_SET, "VARY", "c", 0}},
     "HTTP/1.1 200 OK\r\n" DATE "Server: eXpServer\r\nVARY: c\r\nX-B: 2\r\n"
     "Content-Length: 0\r\n\r\n"},
    {"add keeps repeated fields in order",
     200, {{OP_ADD, "Set-Cookie", "a=1", 0}, {OP_ADD, "Set-Cookie", "b=2", 0}},
     "HTTP/1.1 200 OK\r\n" DATE "Server: eXpServer\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n"
     "Content-Length: 0\r\n\r\n"},
    {"set_body_length after set_body drops the stored bytes",
     200, {{OP_BODY, "xyz", 0, 0}, {OP_LENGTH, 0, 0, 7}},
     "HTTP/1.1 200 OK\r\n" DATE "Server: eXpServer\r\nContent-Length: 7\r\n\r\n"},
    {"empty values and obs-text are fine; tabs inside too",
     200, {{OP_SET, "X-Empty", "", 0}, {OP_SET, "X-Text", "caf\xc3\xa9\tau lait", 0}},
     "HTTP/1.1 200 OK\r\n" DATE "Server: eXpServer\r\nX-Empty: \r\n"
     "X-Text: caf\xc3\xa9\tau lait\r\nContent-Length: 0\r\n\r\n"},
};

static void apply(xps_http_response_t *res, const struct op *ops)
{
    for (const struct op *o = ops; o->kind != OP_END; o++) {
        switch (o->kind) {
        case OP_SET: assert_int_equal(xps_http_response_set_header(res, o->a, o->b), XPS_OK); break;
        case OP_ADD: assert_int_equal(xps_http_response_add_header(res, o->a, o->b), XPS_OK); break;
        case OP_REMOVE: assert_int_equal(xps_http_response_remove_header(res, o->a), XPS_OK); break;
        case OP_LENGTH: xps_http_response_set_body_length(res, o->n); break;
        case OP_BODY:
            assert_int_equal(xps_http_response_set_body(res, o->a, strlen(o->a)), XPS_OK);
            break;
        case OP_OMIT: xps_http_response_omit_body(res); break;
        case OP_END: break;
        }
    }
}

static void serialises_byte_exact(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof serialise_cases / sizeof serialise_cases[0]; i++) {
        const struct serialise_case *c = &serialise_cases[i];
        int error = 12345;
        xps_http_response_t *res = xps_http_response_create(c->status, &error);
        assert_non_null(res);
        assert_int_equal(error, XPS_OK);
        apply(res, c->ops);
        expect_bytes(c->what, res, c->expected);
        expect_bytes(c->what, res, c->expected); /* serialising does not change it */
        xps_http_response_destroy(res);
    }
}

/* Every line of every case ends in CRLF, no bare LF or CR anywhere in the
 * head, and the head ends at the first CRLFCRLF. */
static void every_head_line_ends_in_crlf(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof serialise_cases / sizeof serialise_cases[0]; i++) {
        const struct serialise_case *c = &serialise_cases[i];
        xps_http_response_t *res = xps_http_response_create(c->status, NULL);
        assert_non_null(res);
        apply(res, c->ops);
        char *bytes = serialised(res, NULL);
        const char *end = strstr(bytes, "\r\n\r\n");
        assert_non_null(end);
        for (const char *p = bytes; p < end + 4; p++) {
            if (*p == '\n' && (p == bytes || p[-1] != '\r'))
                fail_msg("%s: bare LF at byte %zu", c->what, (size_t)(p - bytes));
            if (*p == '\r' && p[1] != '\n')
                fail_msg("%s: bare CR at byte %zu", c->what, (size_t)(p - bytes));
        }
        test_free(bytes);
        xps_http_response_destroy(res);
    }
}

static void error_pages(void **state)
{
    (void)state;
    int error = 12345;
    xps_http_response_t *res = xps_http_response_create_error(404, NULL, &error);
    assert_non_null(res);
    assert_int_equal(error, XPS_OK);
    expect_bytes("404 page", res,
                 "HTTP/1.1 404 Not Found\r\n" DATE "Server: eXpServer\r\n"
                 "Content-Type: text/plain\r\nContent-Length: 14\r\n\r\n404 Not Found\n");
    assert_true(xps_http_response_has_body(res));
    assert_int_equal(xps_http_response_body_length(res), 14);
    xps_http_response_destroy(res);

    res = xps_http_response_create_error(400, "header line without a colon", &error);
    assert_non_null(res);
    assert_int_equal(xps_http_response_set_header(res, "Connection", "close"), XPS_OK);
    expect_bytes("400 page with a reason", res,
                 "HTTP/1.1 400 Bad Request\r\n" DATE "Server: eXpServer\r\n"
                 "Content-Type: text/plain\r\nConnection: close\r\nContent-Length: 28\r\n\r\n"
                 "header line without a colon\n");
    xps_http_response_omit_body(res); /* the same error answering a HEAD */
    expect_bytes("400 page for HEAD", res,
                 "HTTP/1.1 400 Bad Request\r\n" DATE "Server: eXpServer\r\n"
                 "Content-Type: text/plain\r\nConnection: close\r\nContent-Length: 28\r\n\r\n");
    xps_http_response_destroy(res);

    /* a text that would break the page into lines of the attacker's choice */
    assert_null(xps_http_response_create_error(400, "bad\r\nSet-Cookie: x=1", &error));
    assert_int_equal(error, XPS_E_INVAL);
    assert_null(xps_http_response_create_error(7, "x", &error));
    assert_int_equal(error, XPS_E_INVAL);
}

/* -------------------------------------------------------- header injection */

static void header_injection_is_refused(void **state)
{
    (void)state;
    xps_http_response_t *res = xps_http_response_create(302, NULL);
    assert_non_null(res);
    assert_int_equal(xps_http_response_set_header(res, "Location", "/ok"), XPS_OK);
    size_t before_len;
    char *before = serialised(res, &before_len);

    static const char *const bad_values[] = {
        "/x\r\nSet-Cookie: session=stolen", /* the classic: a second header */
        "/x\nSet-Cookie: a=1",              /* bare LF: many parsers split on it */
        "/x\rSet-Cookie: a=1",              /* bare CR */
        "/x\r\n\r\n<script>alert(1)</script>", /* a whole body */
        "a\x01z", "a\x1fz", "a\x7fz",       /* other control bytes */
        " leading", "trailing\t",           /* blanks a receiver would drop */
    };
    for (size_t i = 0; i < sizeof bad_values / sizeof bad_values[0]; i++) {
        if (xps_http_response_set_header(res, "Location", bad_values[i]) != XPS_E_INVAL)
            fail_msg("set_header accepted value \"%s\"", bad_values[i]);
        if (xps_http_response_add_header(res, "X-Other", bad_values[i]) != XPS_E_INVAL)
            fail_msg("add_header accepted value \"%s\"", bad_values[i]);
    }
    static const char *const bad_names[] = {
        "", "X Y", "X:Y", "X\r\nY", "X\nY", "Loc\xc3\xa9", "(x)", "a/b",
        "Content-Length", "content-length", /* the body functions own it */
    };
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        if (xps_http_response_set_header(res, bad_names[i], "v") != XPS_E_INVAL)
            fail_msg("set_header accepted name \"%s\"", bad_names[i]);
        if (xps_http_response_add_header(res, bad_names[i], "v") != XPS_E_INVAL)
            fail_msg("add_header accepted name \"%s\"", bad_names[i]);
    }
    /* the refused calls changed nothing */
    size_t after_len;
    char *after = serialised(res, &after_len);
    assert_int_equal(after_len, before_len);
    assert_memory_equal(after, before, before_len);
    assert_string_equal(xps_http_response_header(res, "location"), "/ok");
    /* and names that are odd but legal tokens pass */
    assert_int_equal(xps_http_response_set_header(res, "X-!#$%&'*+-.^_`|~09az", "v"), XPS_OK);
    test_free(before);
    test_free(after);
    xps_http_response_destroy(res);
}

/* ----------------------------------------------------- accessors, removal */

static void accessors_and_removal(void **state)
{
    (void)state;
    xps_http_response_t *res = xps_http_response_create(XPS_HTTP_STATUS_OK, NULL);
    assert_non_null(res);
    assert_int_equal(xps_http_response_status(res), 200);
    assert_string_equal(xps_http_response_header(res, "server"), "eXpServer");
    assert_null(xps_http_response_header(res, "Content-Type"));
    assert_null(xps_http_response_header(res, "Content-Length")); /* not a stored header */
    assert_int_equal(xps_http_response_remove_header(res, "X-None"), XPS_E_NOTFOUND);
    assert_int_equal(xps_http_response_add_header(res, "X-A", "1"), XPS_OK);
    assert_int_equal(xps_http_response_add_header(res, "x-a", "2"), XPS_OK);
    assert_string_equal(xps_http_response_header(res, "X-A"), "1"); /* the first */
    assert_int_equal(xps_http_response_remove_header(res, "X-a"), XPS_OK); /* both go */
    assert_null(xps_http_response_header(res, "x-a"));
    assert_int_equal(xps_http_response_remove_header(res, "X-A"), XPS_E_NOTFOUND);
    xps_http_response_destroy(res);
    xps_http_response_destroy(NULL); /* accepted */
}

static void has_body_and_length_table(void **state)
{
    (void)state;
    static const struct {
        int status;
        long long length; /* -1: nothing set */
        bool omit;
        bool has_body;
        unsigned long long content_length;
    } rows[] = {
        {200, -1, false, true, 0},   {200, 10, false, true, 10}, {200, 10, true, false, 10},
        {404, 3, false, true, 3},    {204, 10, false, false, 0}, {101, -1, false, false, 0},
        {304, -1, false, false, 0},  {304, 10, false, false, 10}, {206, 5, false, true, 5},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        xps_http_response_t *res = xps_http_response_create(rows[i].status, NULL);
        assert_non_null(res);
        if (rows[i].length >= 0)
            xps_http_response_set_body_length(res, (uint64_t)rows[i].length);
        if (rows[i].omit)
            xps_http_response_omit_body(res);
        if (xps_http_response_has_body(res) != rows[i].has_body ||
            xps_http_response_body_length(res) != rows[i].content_length)
            fail_msg("row %zu (status %d): has_body %d length %llu", i, rows[i].status,
                     xps_http_response_has_body(res),
                     (unsigned long long)xps_http_response_body_length(res));
        xps_http_response_destroy(res);
    }
}

/* ------------------------------------------------------------------- Date */

static void date_is_imf_fixdate(void **state)
{
    (void)state;
    static const struct {
        int64_t t;
        const char *text;
    } rows[] = {
        {0, "Thu, 01 Jan 1970 00:00:00 GMT"},
        {784111777, "Sun, 06 Nov 1994 08:49:37 GMT"}, /* RFC 9110 §5.6.7's example */
        {951782400, "Tue, 29 Feb 2000 00:00:00 GMT"}, /* a leap day */
        {1709164799, "Wed, 28 Feb 2024 23:59:59 GMT"},
        {1700000000, "Tue, 14 Nov 2023 22:13:20 GMT"},
        {253402300799, "Fri, 31 Dec 9999 23:59:59 GMT"}, /* the last four-digit year */
        {253402300800, "Fri, 31 Dec 9999 23:59:59 GMT"}, /* clamped */
        {-86400, "Thu, 01 Jan 1970 00:00:00 GMT"},       /* clamped */
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char out[XPS_HTTP_DATE_LEN + 1];
        memset(out, 'x', sizeof out);
        xps_http_date_format(rows[i].t, out);
        assert_int_equal(strlen(out), XPS_HTTP_DATE_LEN);
        if (strcmp(out, rows[i].text) != 0)
            fail_msg("date %lld: expected \"%s\", got \"%s\"", (long long)rows[i].t,
                     rows[i].text, out);
    }
}

static void date_cache_formats_once_per_second(void **state)
{
    (void)state;
    const int64_t t = 1700000000;
    const char *first = xps_http_date(t); /* formats (or already had t: see below) */
    uint64_t count = xps_http_date_format_count();
    assert_string_equal(first, "Tue, 14 Nov 2023 22:13:20 GMT");

    /* the same second: the same string, nothing formatted */
    for (int i = 0; i < 1000; i++)
        assert_ptr_equal(xps_http_date(t), first);
    assert_int_equal(xps_http_date_format_count(), count);

    /* serialising at that second uses the cache too */
    xps_http_response_t *res = xps_http_response_create(200, NULL);
    assert_non_null(res);
    for (int i = 0; i < 100; i++) {
        xps_buffer_t *b = xps_http_response_serialize(res, t, NULL);
        assert_non_null(b);
        assert_non_null(memmem(xps_buffer_data(b), xps_buffer_len(b),
                               "\r\nDate: Tue, 14 Nov 2023 22:13:20 GMT\r\n", 39));
        xps_buffer_destroy(b);
    }
    assert_int_equal(xps_http_date_format_count(), count);

    /* the next second: formatted once, a new string */
    assert_string_equal(xps_http_date(t + 1), "Tue, 14 Nov 2023 22:13:21 GMT");
    assert_int_equal(xps_http_date_format_count(), count + 1);
    assert_string_equal(xps_http_date(t + 1), "Tue, 14 Nov 2023 22:13:21 GMT");
    assert_int_equal(xps_http_date_format_count(), count + 1);

    /* a clock stepped back is a different second too: formatted again */
    assert_string_equal(xps_http_date(t), "Tue, 14 Nov 2023 22:13:20 GMT");
    assert_int_equal(xps_http_date_format_count(), count + 2);
    xps_http_response_destroy(res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(status_table_covers_every_code_the_stages_send),
        cmocka_unit_test(status_enum_names_match_the_table),
        cmocka_unit_test(unknown_and_out_of_range_statuses),
        cmocka_unit_test(serialises_byte_exact),
        cmocka_unit_test(every_head_line_ends_in_crlf),
        cmocka_unit_test(error_pages),
        cmocka_unit_test(header_injection_is_refused),
        cmocka_unit_test(accessors_and_removal),
        cmocka_unit_test(has_body_and_length_table),
        cmocka_unit_test(date_is_imf_fixdate),
        cmocka_unit_test(date_cache_formats_once_per_second),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
