/*
 * tests/unit/http_semantics.c — http/xps_http_semantics.h checked as tables:
 * Range evaluation (RFC 9110 §14.1.2: first-last, first-, -suffix, cut to
 * the end, unsatisfiable, several ranges and garbage ignored), ETag making
 * and weak comparison (§8.8.3.2), HTTP date parsing (§5.6.7), the
 * conditional decision with If-None-Match's precedence (§13.1.3), If-Range
 * (§13.1.5: only a strong validator lets a Range through), the keep-alive
 * rule (RFC 9112 §9.3), and the response-head scanner a proxy uses to frame
 * a body (RFC 9112 §6.3), each head fed at every split point from an
 * exact-size heap copy (ASan sees any read past the end).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/xps_http_semantics.h"

static void range_table(void **state)
{
    (void)state;
    static const struct {
        const char *value;
        uint64_t size;
        xps_http_range_result_t want;
        uint64_t first, last;
    } rows[] = {
        {"bytes=0-9", 100, XPS_HTTP_RANGE_OK, 0, 9},
        {"bytes=10-", 100, XPS_HTTP_RANGE_OK, 10, 99},
        {"bytes=-5", 100, XPS_HTTP_RANGE_OK, 95, 99},
        {"bytes=-500", 100, XPS_HTTP_RANGE_OK, 0, 99},    /* suffix longer: all */
        {"bytes=90-200", 100, XPS_HTTP_RANGE_OK, 90, 99}, /* last cut to the end */
        {"bytes=99-99", 100, XPS_HTTP_RANGE_OK, 99, 99},
        {"bytes= 1-2 ", 100, XPS_HTTP_RANGE_OK, 1, 2},
        {"bytes=100-", 100, XPS_HTTP_RANGE_UNSATISFIABLE, 0, 0},
        {"bytes=200-300", 100, XPS_HTTP_RANGE_UNSATISFIABLE, 0, 0},
        {"bytes=-0", 100, XPS_HTTP_RANGE_UNSATISFIABLE, 0, 0},
        {"bytes=0-", 0, XPS_HTTP_RANGE_UNSATISFIABLE, 0, 0}, /* empty file */
        {"bytes=0-1,5-6", 100, XPS_HTTP_RANGE_IGNORE, 0, 0}, /* several: 200 */
        {"bytes=5-2", 100, XPS_HTTP_RANGE_IGNORE, 0, 0},
        {"bytes=-", 100, XPS_HTTP_RANGE_IGNORE, 0, 0},
        {"bytes=a-b", 100, XPS_HTTP_RANGE_IGNORE, 0, 0},
        {"items=0-9", 100, XPS_HTTP_RANGE_IGNORE, 0, 0},
        {"", 100, XPS_HTTP_RANGE_IGNORE, 0, 0},
        {"bytes=99999999999999999999-", 100, XPS_HTTP_RANGE_IGNORE, 0, 0},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        uint64_t first = 777, last = 777;
        xps_http_range_result_t got =
            xps_http_range_eval(rows[i].value, strlen(rows[i].value), rows[i].size, &first, &last);
        if (got != rows[i].want)
            fail_msg("Range \"%s\" on %llu bytes: got %d, want %d", rows[i].value,
                     (unsigned long long)rows[i].size, (int)got, (int)rows[i].want);
        if (got == XPS_HTTP_RANGE_OK && (first != rows[i].first || last != rows[i].last))
            fail_msg("Range \"%s\": got %llu-%llu, want %llu-%llu", rows[i].value,
                     (unsigned long long)first, (unsigned long long)last,
                     (unsigned long long)rows[i].first, (unsigned long long)rows[i].last);
    }
}

static void etag_made_and_compared_weakly(void **state)
{
    (void)state;
    char etag[XPS_HTTP_ETAG_MAX];
    xps_http_etag_make(100, 0x6b023e63, etag);
    assert_string_equal(etag, "W/\"64-6b023e63\"");
    static const struct {
        const char *list;
        bool want;
    } rows[] = {
        {"W/\"64-6b023e63\"", true},
        {"\"64-6b023e63\"", true}, /* weak comparison: W/ ignored */
        {"\"x\", W/\"64-6b023e63\"", true},
        {"\"x\" ,  \"64-6b023e63\" ", true},
        {"*", true},
        {"\"64-6b023e64\"", false},
        {"\"64-6b023e6\"", false},
        {"", false},
        {"W/\"x\"", false},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        if (xps_http_etag_list_matches(rows[i].list, strlen(rows[i].list), etag) != rows[i].want)
            fail_msg("If-None-Match \"%s\" vs %s: want %s", rows[i].list, etag,
                     rows[i].want ? "match" : "no match");
    /* A comma between an entity-tag's quotes is the tag's, not a separator
     * (found by tests/fuzz/http_range.cpp). */
    const char *comma = "\"x\", \"a,b\"";
    assert_true(xps_http_etag_list_matches(comma, strlen(comma), "\"a,b\""));
    assert_false(xps_http_etag_list_matches(comma, strlen(comma), "\"a\""));
}

static void http_dates_parse_only_in_imf_fixdate(void **state)
{
    (void)state;
    int64_t t = 0;
    assert_true(xps_http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT", 29, &t));
    assert_int_equal(t, 784111777);
    assert_true(xps_http_date_parse("Thu, 01 Jan 1970 00:00:00 GMT", 29, &t));
    assert_int_equal(t, 0);
    static const char *bad[] = {
        "Sunday, 06-Nov-94 08:49:37 GMT", /* RFC 850: obsolete, ignored here */
        "Sun Nov  6 08:49:37 1994",       /* asctime: likewise */
        "Sun, 06 Foo 1994 08:49:37 GMT",  "Sun, 06 Nov 1994 25:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 UTC",  "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (xps_http_date_parse(bad[i], strlen(bad[i]), &t))
            fail_msg("\"%s\" should not parse as an HTTP date", bad[i]);
}

static void if_none_match_wins_over_if_modified_since(void **state)
{
    (void)state;
    const char *etag = "W/\"a-1\"";
    const char *old = "Thu, 01 Jan 1970 00:00:00 GMT"; /* before mtime */
    const char *later = "Sun, 06 Nov 1994 08:49:37 GMT"; /* after mtime 1000 */
    static const char match[] = "\"a-1\"", other[] = "\"b-2\"";
    /* neither header: 200 */
    assert_false(xps_http_not_modified(NULL, 0, NULL, 0, etag, 1000));
    /* If-None-Match alone */
    assert_true(xps_http_not_modified(match, 5, NULL, 0, etag, 1000));
    assert_false(xps_http_not_modified(other, 5, NULL, 0, etag, 1000));
    /* If-Modified-Since alone */
    assert_true(xps_http_not_modified(NULL, 0, later, 29, etag, 1000));
    assert_false(xps_http_not_modified(NULL, 0, old, 29, etag, 1000));
    assert_true(xps_http_not_modified(NULL, 0, old, 29, etag, 0)); /* equal: not modified */
    assert_false(xps_http_not_modified(NULL, 0, "garbage", 7, etag, 1000)); /* ignored */
    /* both: If-None-Match decides, the date is not looked at (§13.1.3) */
    assert_false(xps_http_not_modified(other, 5, later, 29, etag, 1000));
    assert_true(xps_http_not_modified(match, 5, old, 29, etag, 1000));
}

/* If-Range (RFC 9110 §13.1.5): the Range holds only on a strong match. Each
 * value is fed from an exact-size heap copy (no NUL after it). */
static void if_range_holds_only_for_a_strong_validator(void **state)
{
    (void)state;
    enum { T = 784111777 }; /* Sun, 06 Nov 1994 08:49:37 GMT */
    static const char date[] = "Sun, 06 Nov 1994 08:49:37 GMT";
    char weak[XPS_HTTP_ETAG_MAX]; /* what xps itself sends as ETag */
    xps_http_etag_make(100, T, weak);
    const struct { /* not static: one row uses `weak` */
        const char *why;
        const char *value; /* the If-Range value */
        const char *etag;  /* the representation's ETag; NULL: none */
        int64_t mtime, now;
        bool want;
    } rows[] = {
        {"date equal to Last-Modified, a day old", date, NULL, T, T + 86400, true},
        {"date equal, Last-Modified one second old", date, NULL, T, T + 1, true},
        {"date equal, modified this very second: weak", date, NULL, T, T, false},
        {"date equal, Last-Modified in the future", date, NULL, T, T - 5, false},
        {"date one second after Last-Modified", date, NULL, T - 1, T + 100, false},
        {"date one second before Last-Modified", date, NULL, T + 1, T + 100, false},
        {"the issue's 1970 date against a 1994 file", "Thu, 01 Jan 1970 00:00:00 GMT", NULL, T,
         T + 100, false},
        {"1970 date against a file of mtime 0", "Thu, 01 Jan 1970 00:00:00 GMT", NULL, 0, 100, true},
        {"a date on a Wednesday is not a weak tag", "Wed, 01 Jan 2020 00:00:00 GMT", NULL,
         1577836800, 1577836900, true},
        {"date with an ETag present: the date rule", date, "\"a-1\"", T, T + 100, true},
        {"obsolete RFC 850 date", "Sunday, 06-Nov-94 08:49:37 GMT", NULL, T, T + 100, false},
        {"strong tags equal", "\"a-1\"", "\"a-1\"", T, T + 100, true},
        {"strong tags equal, modified this second", "\"a-1\"", "\"a-1\"", T, T, true},
        {"strong tags differ", "\"a-2\"", "\"a-1\"", T, T + 100, false},
        {"a prefix of the tag", "\"a-\"", "\"a-1\"", T, T + 100, false},
        {"weak value, strong ETag", "W/\"a-1\"", "\"a-1\"", T, T + 100, false},
        {"strong value, weak ETag", "\"a-1\"", "W/\"a-1\"", T, T + 100, false},
        {"weak tags equal: still no strong match", "W/\"a-1\"", "W/\"a-1\"", T, T + 100, false},
        {"xps's own weak ETag sent back", weak, weak, T, T + 100, false},
        {"a tag and no ETag", "\"a-1\"", NULL, T, T + 100, false},
        {"\"*\" is not a validator", "*", "\"a-1\"", T, T + 100, false},
        {"W/ alone", "W/", "\"a-1\"", T, T + 100, false},
        {"garbage", "yesterday", "\"a-1\"", T, T + 100, false},
        {"empty", "", "\"a-1\"", T, T + 100, false},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        size_t len = strlen(rows[i].value);
        char *copy = malloc(len ? len : 1);
        assert_non_null(copy);
        memcpy(copy, rows[i].value, len);
        bool got = xps_http_if_range_holds(copy, len, rows[i].etag, rows[i].mtime, rows[i].now);
        free(copy);
        if (got != rows[i].want)
            fail_msg("If-Range: %s (\"%s\"): %s, want %s", rows[i].why, rows[i].value,
                     got ? "holds" : "fails", rows[i].want ? "holds" : "fails");
    }
}

static void keep_alive_follows_rfc9112_9_3(void **state)
{
    (void)state;
    assert_true(xps_http_keep_alive(11, false, false));  /* 1.1: persistent by default */
    assert_false(xps_http_keep_alive(11, true, false));  /* Connection: close */
    assert_false(xps_http_keep_alive(10, false, false)); /* 1.0: closes by default */
    assert_true(xps_http_keep_alive(10, false, true));   /* 1.0 with keep-alive */
    assert_false(xps_http_keep_alive(10, true, true));   /* close wins */
}

/* The response-head scanner: each row complete, then every prefix of it. */
static void response_heads_scan_at_every_split_point(void **state)
{
    (void)state;
    enum { NONE = XPS_HTTP_FRAMING_NONE, LENGTH = XPS_HTTP_FRAMING_LENGTH,
           CHUNKED = XPS_HTTP_FRAMING_CHUNKED, CLOSE = XPS_HTTP_FRAMING_CLOSE,
           INVALID = XPS_HTTP_FRAMING_INVALID };
    static const struct {
        const char *bytes; /* the head, then maybe body bytes */
        int want;          /* XPS_OK or XPS_E_INVAL for the whole row */
        int status, version;
        bool cl, te;
        size_t head_length; /* for XPS_OK */
        int framing;        /* for XPS_OK */
        uint64_t length;    /* for LENGTH */
    } rows[] = {
        {"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nbody", XPS_OK, 200, 10, false,
         false, 45, CLOSE, 0},
        {"HTTP/1.1 404 Not Found\r\ncontent-LENGTH: 3\r\n\r\nabc", XPS_OK, 404, 11, true, false,
         45, LENGTH, 3},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", XPS_OK, 200, 11, false, true,
         47, CHUNKED, 0},
        {"HTTP/1.1 204\r\n\r\n", XPS_OK, 204, 11, false, false, 16, NONE, 0},
        {"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", XPS_OK, 100, 11, false, false, 25,
         NONE, 0},
        {"HTTP/1.1 200 OK\r\nX-Empty:\r\n\r\n", XPS_OK, 200, 11, false, false, 29, CLOSE, 0},
        /* framing (RFC 9112 §6.3) */
        {"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n", XPS_OK, 200, 11, true, false, 41,
         LENGTH, 5},
        {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length:5\r\n\r\n", XPS_OK, 200, 11,
         true, false, 56, LENGTH, 5},
        {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", XPS_OK, 200, 11,
         true, false, 57, INVALID, 0},
        {"HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\n", XPS_OK, 200, 11, true, false, 39,
         INVALID, 0},
        {"HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", XPS_OK, 200, 11, true, false, 36,
         INVALID, 0},
        {"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n", XPS_OK, 200, 11,
         true, false, 60, INVALID, 0},
        {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", XPS_OK,
         200, 11, true, true, 66, INVALID, 0},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", XPS_OK, 200, 11, false,
         true, 53, CHUNKED, 0},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", XPS_OK, 200, 11, false,
         true, 53, CLOSE, 0},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
         XPS_OK, 200, 11, false, true, 72, CHUNKED, 0},
        {"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", XPS_OK, 304, 11, true, false,
         49, NONE, 0},
        {"POST /up HTTP/1.1\r\nHost: x\r\n\r\n", XPS_E_INVAL, 0, 0, false, false, 0, 0, 0},
        {"HTTP/2.0 200 OK\r\n\r\n", XPS_E_INVAL, 0, 0, false, false, 0, 0, 0},
        {"HTTP/1.1 2x0 OK\r\n\r\n", XPS_E_INVAL, 0, 0, false, false, 0, 0, 0},
        {"HTTP/1.1 099 Low\r\n\r\n", XPS_E_INVAL, 0, 0, false, false, 0, 0, 0},
        {"HTTP/1.1 200OK\r\n\r\n", XPS_E_INVAL, 0, 0, false, false, 0, 0, 0},
        {"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", XPS_E_INVAL, 0, 0, false, false, 0, 0, 0},
        {"HTTP/1.1 200 OK\r\n: empty name\r\n\r\n", XPS_E_INVAL, 0, 0, false, false, 0, 0, 0},
        {"HTTP/1.1 200 OK\r\nA: 1\r\n folded\r\n\r\n", XPS_E_INVAL, 0, 0, false, false, 0, 0, 0},
        {"HTTP/1.1 200 OK\r\nBad Name: 1\r\n\r\n", XPS_E_INVAL, 0, 0, false, false, 0, 0, 0},
        {"HTTP/1.1 200 OK\rX: 1\r\n\r\n", XPS_E_INVAL, 0, 0, false, false, 0, 0, 0},
        /* a bare LF: a client could end a line there and read a field the
         * scan did not (found by tests/fuzz/response_head.cpp) */
        {"HTTP/1.1 200 OK\r\nX: a\nContent-Length: 5\r\n\r\n", XPS_E_INVAL, 0, 0, false, false,
         0, 0, 0},
        {"HTTP/1.1 100 Continue\nX: 1\r\n\r\n", XPS_E_INVAL, 0, 0, false, false, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        size_t len = strlen(rows[i].bytes);
        for (size_t cut = 0; cut <= len; cut++) {
            char *copy = malloc(cut ? cut : 1); /* exactly cut bytes: no slack to read */
            assert_non_null(copy);
            memcpy(copy, rows[i].bytes, cut);
            xps_http_response_head_t r;
            int rc = xps_http_response_head_scan(copy, cut, &r);
            free(copy);
            if (cut == len) {
                if (rc != rows[i].want)
                    fail_msg("row %zu \"%s\": %d, want %d", i, rows[i].bytes, rc, rows[i].want);
            } else if (rows[i].want == XPS_OK && cut < rows[i].head_length) {
                if (rc != XPS_E_AGAIN)
                    fail_msg("row %zu cut at %zu: %d, want AGAIN", i, cut, rc);
                continue;
            } else if (rows[i].want == XPS_E_INVAL) {
                if (rc == XPS_OK) /* a prefix of a bad head is never a good one */
                    fail_msg("row %zu cut at %zu: OK for a bad head", i, cut);
                continue;
            }
            if (rc != XPS_OK)
                continue;
            assert_int_equal(r.status, rows[i].status);
            assert_int_equal(r.version, rows[i].version);
            assert_int_equal(r.has_content_length, rows[i].cl);
            assert_int_equal(r.has_transfer_encoding, rows[i].te);
            assert_int_equal(r.head_length, rows[i].head_length);
            if (r.framing != rows[i].framing || r.content_length != rows[i].length)
                fail_msg("row %zu \"%s\": framing %d length %llu, want %d %llu", i, rows[i].bytes,
                         r.framing, (unsigned long long)r.content_length, rows[i].framing,
                         (unsigned long long)rows[i].length);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(range_table),
        cmocka_unit_test(etag_made_and_compared_weakly),
        cmocka_unit_test(http_dates_parse_only_in_imf_fixdate),
        cmocka_unit_test(if_none_match_wins_over_if_modified_since),
        cmocka_unit_test(if_range_holds_only_for_a_strong_validator),
        cmocka_unit_test(keep_alive_follows_rfc9112_9_3),
        cmocka_unit_test(response_heads_scan_at_every_split_point),
    };
    return cmocka_run_group_tests_name("http_semantics", tests, NULL, NULL);
}
