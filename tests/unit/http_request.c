/*
 * tests/unit/http_request.c — http/xps_http_request.h checked against its
 * contract: what a request reports for a table of raw requests (method,
 * target, normalised path, query, version, Host and port, headers looked up
 * without regard to case), the keep-alive decision of RFC 9112 §9.3 for a
 * table of versions and Connection headers, the path refusals, and that the
 * request owns its strings (the head buffer is freed before they are read:
 * valgrind or `make SAN=1` would see a use after free).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/xps_http_parser.h"
#include "http/xps_http_request.h"

/* Parses `raw` (which must be a complete, valid head) from a heap copy and
 * builds the request from it; then scribbles over and frees that copy and
 * resets the parser, so every later read proves the request owns its
 * strings. */
static xps_http_request_t *request_of(const char *raw)
{
    size_t len = strlen(raw);
    char *buf = malloc(len);
    assert_non_null(buf);
    memcpy(buf, raw, len);
    xps_http_parser_t *parser = xps_http_parser_create(NULL);
    assert_non_null(parser);
    int rc = xps_http_parser_parse_head(parser, buf, len);
    if (rc != XPS_OK)
        fail_msg("parse_head(\"%s\") = %d (%s)", raw, rc, xps_http_parser_reason(parser));
    int error = 12345;
    xps_http_request_t *req = xps_http_request_create(xps_http_parser_head(parser), buf, &error);
    if (!req)
        fail_msg("request_create for \"%s\" failed: %d", raw, error);
    assert_int_equal(error, XPS_OK);
    memset(buf, '#', len);
    free(buf);
    xps_http_parser_reset(parser);
    xps_http_parser_destroy(parser);
    return req;
}

/* ------------------------------------------------------- what is reported */

struct request_case {
    const char *raw;
    int method;
    const char *method_name, *target, *path, *query; /* query NULL: no '?' */
    int version;
    const char *host;
    unsigned port;
    size_t header_count;
};

static const struct request_case request_cases[] = {
    {"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", XPS_HTTP_METHOD_GET, "GET", "/", "/", NULL,
     XPS_HTTP_VERSION_1_1, "localhost", 0, 1},
    {"GET /sample.txt HTTP/1.1\r\nHost: 127.0.0.1:8001\r\nUser-Agent: curl/8\r\n\r\n",
     XPS_HTTP_METHOD_GET, "GET", "/sample.txt", "/sample.txt", NULL, XPS_HTTP_VERSION_1_1,
     "127.0.0.1", 8001, 2},
    {"HEAD /a%20b/./c/../d.txt?x=1&y=%41 HTTP/1.0\r\n\r\n", XPS_HTTP_METHOD_HEAD, "HEAD",
     "/a%20b/./c/../d.txt?x=1&y=%41", "/a b/d.txt", "x=1&y=%41", XPS_HTTP_VERSION_1_0, "", 0,
     0},
    {"POST /form? HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", XPS_HTTP_METHOD_POST,
     "POST", "/form?", "/form", "", XPS_HTTP_VERSION_1_1, "h", 0, 2},
    {"GET http://Example.COM:8080/a/../b?q HTTP/1.1\r\nHost: other\r\n\r\n",
     XPS_HTTP_METHOD_GET, "GET", "http://Example.COM:8080/a/../b?q", "/b", "q",
     XPS_HTTP_VERSION_1_1, "Example.COM", 8080, 1},
    {"GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n", XPS_HTTP_METHOD_GET,
     "GET", "http://example.com", "/", NULL, XPS_HTTP_VERSION_1_1, "example.com", 0, 1},
    {"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", XPS_HTTP_METHOD_OPTIONS, "OPTIONS", "*", "/",
     NULL, XPS_HTTP_VERSION_1_1, "h", 0, 1},
    {"PROPFIND /x HTTP/1.1\r\nHost: [::1]:9\r\n\r\n", XPS_HTTP_METHOD_OTHER, "PROPFIND", "/x",
     "/x", NULL, XPS_HTTP_VERSION_1_1, "[::1]", 9, 1},
    {"\r\nGET /%7Euser/ HTTP/1.1\nHost: h\n\n", XPS_HTTP_METHOD_GET, "GET", "/%7Euser/",
     "/~user/", NULL, XPS_HTTP_VERSION_1_1, "h", 0, 1},
};

static void reports_what_the_request_said(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof request_cases / sizeof request_cases[0]; i++) {
        const struct request_case *c = &request_cases[i];
        xps_http_request_t *req = request_of(c->raw);
        const char *q = xps_http_request_query(req);
        if (xps_http_request_method(req) != c->method ||
            strcmp(xps_http_request_method_name(req), c->method_name) != 0 ||
            strcmp(xps_http_request_target(req), c->target) != 0 ||
            strcmp(xps_http_request_path(req), c->path) != 0 ||
            (c->query == NULL) != (q == NULL) || (q && strcmp(q, c->query) != 0) ||
            xps_http_request_version(req) != c->version ||
            strcmp(xps_http_request_host(req), c->host) != 0 ||
            xps_http_request_port(req) != c->port ||
            xps_http_request_header_count(req) != c->header_count)
            fail_msg("row %zu \"%s\": got method %d \"%s\" target \"%s\" path \"%s\" query %s%s%s "
                     "version %d host \"%s\" port %u headers %zu",
                     i, c->raw, xps_http_request_method(req), xps_http_request_method_name(req),
                     xps_http_request_target(req), xps_http_request_path(req), q ? "\"" : "",
                     q ? q : "(none)", q ? "\"" : "", xps_http_request_version(req),
                     xps_http_request_host(req), xps_http_request_port(req),
                     xps_http_request_header_count(req));
        xps_http_request_destroy(req);
    }
}

static void trailing_slash_and_repeated_slashes(void **state)
{
    (void)state;
    xps_http_request_t *req = request_of("GET /dir//sub/? HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_string_equal(xps_http_request_path(req), "/dir/sub/");
    assert_string_equal(xps_http_request_query(req), "");
    xps_http_request_destroy(req);
}

static void headers_are_found_without_regard_to_case(void **state)
{
    (void)state;
    xps_http_request_t *req = request_of("GET / HTTP/1.1\r\n"
                                         "Host: example.org\r\n"
                                         "accept:   text/html  \r\n"
                                         "X-Twice: first\r\n"
                                         "x-twice: second\r\n"
                                         "Empty:\r\n"
                                         "\r\n");
    assert_string_equal(xps_http_request_header(req, "HOST"), "example.org");
    assert_string_equal(xps_http_request_header(req, "host"), "example.org");
    assert_string_equal(xps_http_request_header(req, "Accept"), "text/html"); /* blanks trimmed */
    assert_string_equal(xps_http_request_header(req, "X-TWICE"), "first");    /* the first one */
    assert_string_equal(xps_http_request_header(req, "empty"), "");
    assert_null(xps_http_request_header(req, "Accept-Encoding"));
    assert_null(xps_http_request_header(req, "Hos")); /* a prefix is not a match */
    assert_null(xps_http_request_header(req, "Hostx"));

    static const char *const names[] = {"Host", "accept", "X-Twice", "x-twice", "Empty"};
    static const char *const values[] = {"example.org", "text/html", "first", "second", ""};
    assert_int_equal(xps_http_request_header_count(req), 5);
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(xps_http_request_header_name(req, i), names[i]);
        assert_string_equal(xps_http_request_header_value(req, i), values[i]);
    }
    xps_http_request_destroy(req);
}

/* ------------------------------------------------------------- keep-alive */

static void keep_alive_follows_rfc_9112_section_9_3(void **state)
{
    (void)state;
    static const struct {
        const char *version;
        const char *connection_lines; /* zero or more "Connection: ..." lines */
        bool keep_alive;
    } rows[] = {
        {"1.1", "", true},                                       /* 1.1 default: persistent */
        {"1.1", "Connection: keep-alive\r\n", true},
        {"1.1", "Connection: close\r\n", false},
        {"1.1", "Connection: CLOSE\r\n", false},                 /* tokens are case-insensitive */
        {"1.1", "Connection: keep-alive, close\r\n", false},     /* close wins */
        {"1.1", "Connection: Upgrade ,  Close \r\n", false},     /* blanks around elements */
        {"1.1", "Connection: te\r\nConnection: close\r\n", false}, /* repeated header */
        {"1.1", "Connection: closed\r\n", true},                 /* not the token "close" */
        {"1.1", "Connection: x-close\r\n", true},
        {"1.0", "", false},                                      /* 1.0 default: close */
        {"1.0", "Connection: keep-alive\r\n", true},
        {"1.0", "Connection: Keep-Alive\r\n", true},
        {"1.0", "Connection: foo, keep-alive\r\n", true},
        {"1.0", "Connection: keep-alive\r\nConnection: close\r\n", false},
        {"1.0", "Connection: keep-alive-ish\r\n", false},
        {"1.0", "Keep-Alive: timeout=5\r\n", false},             /* the wrong header */
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char raw[256];
        snprintf(raw, sizeof raw, "GET / HTTP/%s\r\nHost: h\r\n%s\r\n", rows[i].version,
                 rows[i].connection_lines);
        xps_http_request_t *req = request_of(raw);
        if (xps_http_request_keep_alive(req) != rows[i].keep_alive)
            fail_msg("HTTP/%s with \"%s\": keep_alive %d, expected %d", rows[i].version,
                     rows[i].connection_lines, xps_http_request_keep_alive(req),
                     rows[i].keep_alive);
        xps_http_request_destroy(req);
    }
}

/* ---------------------------------------------------------- path refusals */

/* A head built by hand (the parser refuses bad escapes itself, so the
 * request's own check is reached only this way). */
static int create_with_path(const char *raw_path)
{
    const char *buf = raw_path;
    xps_http_head_t head;
    memset(&head, 0, sizeof head);
    head.method = XPS_HTTP_METHOD_GET;
    head.version = XPS_HTTP_VERSION_1_1;
    head.target_form = XPS_HTTP_FORM_ORIGIN;
    head.target.length = strlen(raw_path);
    head.path.length = strlen(raw_path);
    int error = XPS_OK;
    xps_http_request_t *req = xps_http_request_create(&head, buf, &error);
    if (req) {
        xps_http_request_destroy(req);
        return XPS_OK;
    }
    return error;
}

static void paths_above_the_root_and_bad_escapes_are_refused(void **state)
{
    (void)state;
    static const struct {
        const char *path;
        int error;
    } rows[] = {
        {"/../etc/passwd", XPS_E_PERMISSION},
        {"/a/../../b", XPS_E_PERMISSION},
        {"/%2e%2e/etc/passwd", XPS_E_PERMISSION}, /* dots decoded before removal */
        {"/a/%2E%2E%2f..%2Fb", XPS_E_PERMISSION},
        {"/a%zz", XPS_E_INVAL},
        {"/a%4", XPS_E_INVAL},
        {"/a%00b", XPS_E_INVAL},
        {"/a/../b", XPS_OK},
        {"/..a/b..", XPS_OK},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int got = create_with_path(rows[i].path);
        if (got != rows[i].error)
            fail_msg("path \"%s\": %d, expected %d", rows[i].path, got, rows[i].error);
    }
    /* and through the parser: a request for a file above the root */
    xps_http_parser_t *parser = xps_http_parser_create(NULL);
    const char raw[] = "GET /../../etc/passwd HTTP/1.1\r\nHost: h\r\n\r\n";
    assert_int_equal(xps_http_parser_parse_head(parser, raw, sizeof raw - 1), XPS_OK);
    int error = XPS_OK;
    assert_null(xps_http_request_create(xps_http_parser_head(parser), raw, &error));
    assert_int_equal(error, XPS_E_PERMISSION);
    assert_null(xps_http_request_create(xps_http_parser_head(parser), raw, NULL));
    xps_http_parser_destroy(parser);
    xps_http_request_destroy(NULL); /* accepted */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reports_what_the_request_said),
        cmocka_unit_test(trailing_slash_and_repeated_slashes),
        cmocka_unit_test(headers_are_found_without_regard_to_case),
        cmocka_unit_test(keep_alive_follows_rfc_9112_section_9_3),
        cmocka_unit_test(paths_above_the_root_and_bad_escapes_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
