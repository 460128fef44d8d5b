/*
 * tests/unit/proxy.c — modules/proxy/xps_proxy.h checked against its
 * header, without the network:
 *  - xps_proxy_forward_head, as a table: raw request → the exact head sent
 *    upstream (hop-by-hop fields dropped, Connection's own list honoured
 *    but never for the framing fields, X-Forwarded-For and Via appended,
 *    absolute form turned into origin form, Host for HTTP/1.0).
 * Whole proxied exchanges (connect, relay, 502, the pool, the tunnel) run
 * through a session in tests/unit/session.c and in the stage 12 and 13
 * checks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/xps.h"
#include "core/xps_buffer.h"
#include "http/xps_http_parser.h"
#include "modules/proxy/xps_proxy.h"

/* -------------------------------------------------- forward_head table */

/* xps_proxy_forward_head of `raw` gives exactly `expected`. */
static void expect_forwarded(const char *what, const char *raw, const char *via,
                             const char *request_id, const char *expected)
{
    xps_http_parser_t *parser = xps_http_parser_create(NULL);
    assert_non_null(parser);
    assert_int_equal(xps_http_parser_parse_head(parser, raw, strlen(raw)), XPS_OK);
    xps_proxy_forward_t fwd = {"10.1.2.3", via, "up.test:3000", request_id};
    int error = 12345;
    xps_buffer_t *b = xps_proxy_forward_head(xps_http_parser_head(parser), raw, &fwd, &error);
    assert_non_null(b);
    assert_int_equal(error, XPS_OK);
    size_t len = xps_buffer_len(b), want = strlen(expected);
    if (len != want || memcmp(xps_buffer_data(b), expected, want) != 0)
        fail_msg("%s:\n--- expected\n%s--- got\n%.*s", what, expected, (int)len,
                 xps_buffer_data(b));
    xps_buffer_destroy(b);
    xps_http_parser_destroy(parser);
}

static void forward_head_rewrites_for_one_hop(void **state)
{
    (void)state;
    static const struct {
        const char *what, *request, *via, *expected;
    } rows[] = {
        {"a plain GET",
         "GET /p?q=1 HTTP/1.1\r\nHost: site.test\r\nAccept: */*\r\n\r\n", "xps",
         "GET /p?q=1 HTTP/1.1\r\nHost: site.test\r\nAccept: */*\r\nX-Forwarded-For: 10.1.2.3\r\n"
         "Via: 1.1 xps\r\nConnection: close\r\n\r\n"},
        {"hop-by-hop fields, and the fields Connection names",
         "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-A\r\nKeep-Alive: timeout=5\r\n"
         "X-A: 1\r\nTE: trailers\r\nUpgrade: websocket\r\nProxy-Connection: keep-alive\r\n"
         "connection: x-b\r\nX-B: 2\r\nX-C: 3\r\n\r\n", "xps",
         "GET / HTTP/1.1\r\nHost: h\r\nX-C: 3\r\nX-Forwarded-For: 10.1.2.3\r\nVia: 1.1 xps\r\n"
         "Connection: close\r\n\r\n"},
        {"framing fields survive being named by Connection",
         "POST /u HTTP/1.1\r\nHost: h\r\nConnection: content-length, host\r\nContent-Length: 2\r\n"
         "\r\nok", "xps",
         "POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nX-Forwarded-For: 10.1.2.3\r\n"
         "Via: 1.1 xps\r\nConnection: close\r\n\r\n"},
        {"chunked framing: ours, after the other fields (forward_body re-encodes the body)",
         "POST /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\nHost: h\r\n\r\n", "xps",
         "POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
         "X-Forwarded-For: 10.1.2.3\r\nVia: 1.1 xps\r\nConnection: close\r\n\r\n"},
        {"Content-Length: 5, 5 leaves as one value",
         "POST /u HTTP/1.1\r\nContent-Length: 5, 5\r\nHost: h\r\n\r\n", "xps",
         "POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
         "X-Forwarded-For: 10.1.2.3\r\nVia: 1.1 xps\r\nConnection: close\r\n\r\n"},
        {"two equal Content-Length lines leave as one",
         "POST /u HTTP/1.1\r\nContent-Length: 5\r\nHost: h\r\ncontent-length: 5\r\n\r\n", "xps",
         "POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
         "X-Forwarded-For: 10.1.2.3\r\nVia: 1.1 xps\r\nConnection: close\r\n\r\n"},
        {"Transfer-Encoding: ,chunked, leaves as chunked",
         "POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ,chunked,\r\n\r\n", "xps",
         "POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
         "X-Forwarded-For: 10.1.2.3\r\nVia: 1.1 xps\r\nConnection: close\r\n\r\n"},
        {"field names with '_' are dropped (a CGI upstream reads them as '-')",
         "GET / HTTP/1.1\r\nHost: h\r\nTransfer_Encoding: chunked\r\nX_Real_IP: 6.6.6.6\r\n"
         "X-Ok: 1\r\n\r\n", "xps",
         "GET / HTTP/1.1\r\nHost: h\r\nX-Ok: 1\r\nX-Forwarded-For: 10.1.2.3\r\n"
         "Via: 1.1 xps\r\nConnection: close\r\n\r\n"},
        {"a field Connection names is dropped; Host is kept even when named",
         "GET / HTTP/1.1\r\nConnection: X-Drop, host\r\nX-Drop: 1\r\nHost: h\r\n\r\n", "xps",
         "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.1.2.3\r\nVia: 1.1 xps\r\n"
         "Connection: close\r\n\r\n"},
        {"Upgrade: h2c and its HTTP2-Settings go no further",
         "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n"
         "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n", "xps",
         "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.1.2.3\r\nVia: 1.1 xps\r\n"
         "Connection: close\r\n\r\n"},
        {"received X-Forwarded-For and Via lists are extended",
         "GET / HTTP/1.1\r\nX-Forwarded-For: 1.1.1.1\r\nHost: h\r\nVia: 1.0 edge\r\n"
         "x-forwarded-for: 2.2.2.2, 3.3.3.3\r\n\r\n", "xps",
         "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.1.1.1, 2.2.2.2, 3.3.3.3, 10.1.2.3\r\n"
         "Via: 1.0 edge, 1.1 xps\r\nConnection: close\r\n\r\n"},
        {"absolute form: origin form, Host from the target",
         "GET http://Site.Test:8080/a/b?c HTTP/1.1\r\nHost: wrong\r\n\r\n", "xps",
         "GET /a/b?c HTTP/1.1\r\nHost: Site.Test:8080\r\nX-Forwarded-For: 10.1.2.3\r\n"
         "Via: 1.1 xps\r\nConnection: close\r\n\r\n"},
        {"absolute form without a path",
         "GET http://site.test HTTP/1.1\r\nHost: site.test\r\n\r\n", "xps",
         "GET / HTTP/1.1\r\nHost: site.test\r\nX-Forwarded-For: 10.1.2.3\r\nVia: 1.1 xps\r\n"
         "Connection: close\r\n\r\n"},
        {"HTTP/1.0 without Host: the upstream's name; version kept",
         "GET /old HTTP/1.0\r\n\r\n", "my site",
         "GET /old HTTP/1.0\r\nHost: up.test:3000\r\nX-Forwarded-For: 10.1.2.3\r\n"
         "Via: 1.0 my-site\r\nConnection: close\r\n\r\n"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
        expect_forwarded(rows[i].what, rows[i].request, rows[i].via, NULL, rows[i].expected);
    /* [apps/xps] with and without the request's id (xps_proxy_forward_t.request_id) */
    static const struct {
        const char *what, *request, *via, *expected, *request_id;
    } id_rows[] = {
        {"without an id of ours, the client's X-Request-ID is relayed as any field",
         "GET / HTTP/1.1\r\nX-Request-ID: theirs\r\nHost: h\r\n\r\n", "xps",
         "GET / HTTP/1.1\r\nX-Request-ID: theirs\r\nHost: h\r\nX-Forwarded-For: 10.1.2.3\r\n"
         "Via: 1.1 xps\r\nConnection: close\r\n\r\n", NULL},
        {"[apps/xps] our request id replaces every X-Request-ID received",
         "GET / HTTP/1.1\r\nX-Request-ID: bad id\r\nHost: h\r\nx-request-id: two\r\n\r\n", "xps",
         "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.1.2.3\r\nVia: 1.1 xps\r\n"
         "X-Request-ID: 5f-1a-3\r\nConnection: close\r\n\r\n", "5f-1a-3"},
        {"[apps/xps] our request id on a request that had none",
         "GET / HTTP/1.1\r\nHost: h\r\n\r\n", "xps",
         "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.1.2.3\r\nVia: 1.1 xps\r\n"
         "X-Request-ID: abc\r\nConnection: close\r\n\r\n", "abc"},
    };
    for (size_t i = 0; i < sizeof id_rows / sizeof *id_rows; i++)
        expect_forwarded(id_rows[i].what, id_rows[i].request, id_rows[i].via,
                         id_rows[i].request_id, id_rows[i].expected);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(forward_head_rewrites_for_one_hop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
