/*
 * tests/unit/http_parser.c — http/xps_http_parser.h checked against its
 * contract, as tables of raw requests and the outcome each must have.
 *
 * A row is a raw request and what the parser must say about it: complete,
 * with the fields it must report; "needs more" (XPS_E_AGAIN); or refused,
 * with the status and a word of the reason. Body rows also say what data
 * the body decoder must hand out and how many bytes must be left after it.
 *
 * Every row is fed four ways, and must give the same outcome each time:
 *   (a) whole, in one call;
 *   (b) split at every byte boundary into two calls;
 *   (c) one byte at a time;
 *   (d) against a guard page: EVERY call of (a)-(c) gets its bytes copied so
 *       that the last one sits right before a page mapped PROT_NONE. A parser
 *       that reads one byte past what it was given crashes the test. As the
 *       copy moves with each call (its end is fixed, its start is not), the
 *       head buffer also moves between calls, as a realloc would move it:
 *       a parser that kept pointers instead of offsets reads garbage.
 * The body decoder is fed the same ways (whole, every split, byte by byte,
 * each piece against the guard page).
 *
 * Tables: request line, header lines, semantics (Host, Connection, Expect,
 * Upgrade), framing (the request-smuggling cases of RFC 9112 §6.3), chunked
 * bodies (strict framing, the extension grammar of §7.1.1), limits (small
 * limits at and over each edge, then the default limits and the chunked
 * framing bounds at their real sizes), incomplete heads. Then the path normaliser
 * (a table, and a randomised property check), the helpers, and reset for a
 * second request on the same connection.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "http/xps_http_parser.h"

/* ------------------------------------------------------------ the rows */

/* Tri-state for booleans a row may leave unchecked. */
enum { ANY = 0, YES, NO };
/* Counts and ports that may be 0 are written N(x) so that 0 means "not checked". */
#define N(x) ((x) + 1)

typedef struct row {
    const char *name;      /* what the row shows */
    const char *raw;       /* the bytes (a C string unless len is set) */
    size_t len;            /* for bytes with NUL in them; 0: strlen(raw) */
    int result;            /* XPS_OK, XPS_E_AGAIN or XPS_E_INVAL for the head */
    int status;            /* XPS_E_INVAL: the status */
    const char *reason;    /* XPS_E_INVAL: a part of the reason */
    const xps_http_limits_t *limits; /* NULL: the defaults */
    /* checked when result is XPS_OK and the entry is set */
    int method;            /* enum xps_http_method */
    int version;           /* enum xps_http_version */
    int form;              /* enum xps_http_target_form */
    const char *method_name;
    const char *target;
    const char *scheme;
    const char *path;      /* "" checks an empty path */
    const char *query;     /* also checks has_query */
    int no_query;          /* YES: has_query must be false */
    const char *host;
    int port;              /* N(port) */
    int headers;           /* N(count) */
    const char *find;      /* a header name to look up (any case)... */
    const char *found;     /* ...and its value (NULL: must be absent) */
    int keep_alive, connection_close, expect_continue, upgrade; /* YES/NO */
    int body;              /* N(enum xps_http_body_kind) */
    int64_t content_length; /* N(length) */
    size_t head_length;    /* N(bytes) */
    /* the body, when body_result is set */
    int body_result;       /* XPS_OK, XPS_E_AGAIN or XPS_E_INVAL */
    const char *data;      /* the body data handed out, all pieces joined */
    int body_status;       /* XPS_E_INVAL: the status */
    const char *body_reason;
    size_t leftover;       /* N(bytes): after XPS_OK, bytes not consumed */
} row_t;

#define HOST "Host: example.com\r\n"
/* A raw request with NUL bytes in it: its length from the literal. */
#define WITH_NUL(s) s, sizeof(s) - 1
#define GET(target) "GET " target " HTTP/1.1\r\n" HOST
#define BAD(why) .result = XPS_E_INVAL, .status = 400, .reason = (why)

static const xps_http_limits_t strict = {
    .max_request_line = 8192, .max_head = 16384, .max_headers = 100,
    .max_body = 1 << 20, .strict_crlf = true};

/* request-line (RFC 9112 §3) and request-target (§3.2) */
static const row_t request_line_rows[] = {
    {"origin-form GET", GET("/index.html") "\r\n", .result = XPS_OK,
     .method = XPS_HTTP_METHOD_GET, .version = XPS_HTTP_VERSION_1_1, .form = XPS_HTTP_FORM_ORIGIN,
     .method_name = "GET", .target = "/index.html", .path = "/index.html", .no_query = YES,
     .host = "example.com", .port = N(0), .headers = N(1), .keep_alive = YES,
     .body = N(XPS_HTTP_BODY_NONE), .head_length = N(47)},
    {"HTTP/1.0 needs no Host", "GET / HTTP/1.0\r\n\r\n", .result = XPS_OK,
     .version = XPS_HTTP_VERSION_1_0, .host = "", .headers = N(0), .keep_alive = NO},
    {"path and query", GET("/search?q=a%20b&x=1?y") "\r\n", .result = XPS_OK,
     .path = "/search", .query = "q=a%20b&x=1?y"},
    {"empty query", GET("/a?") "\r\n", .result = XPS_OK, .path = "/a", .query = ""},
    {"empty lines before the request line are skipped (§2.2)",
     "\r\n\r\n" GET("/") "\r\n", .result = XPS_OK, .path = "/"},
    {"absolute-form: host and port from the target, not Host (§3.2.2)",
     "GET http://example.org:8080/a/b?c HTTP/1.1\r\nHost: other\r\n\r\n", .result = XPS_OK,
     .form = XPS_HTTP_FORM_ABSOLUTE, .scheme = "http", .host = "example.org", .port = N(8080),
     .path = "/a/b", .query = "c", .target = "http://example.org:8080/a/b?c"},
    {"absolute-form without a path", "GET http://example.org HTTP/1.1\r\n" HOST "\r\n",
     .result = XPS_OK, .form = XPS_HTTP_FORM_ABSOLUTE, .path = "", .host = "example.org",
     .port = N(0), .no_query = YES},
    {"absolute-form, query without a path", "GET http://h.example?x HTTP/1.1\r\n" HOST "\r\n",
     .result = XPS_OK, .path = "", .query = "x", .host = "h.example"},
    {"absolute-form https with an IPv6 literal",
     "GET https://[::1]:8443/x HTTP/1.1\r\n" HOST "\r\n", .result = XPS_OK, .scheme = "https",
     .host = "[::1]", .port = N(8443), .path = "/x"},
    {"absolute-form scheme in capitals", "GET HTTP://Example.COM/ HTTP/1.1\r\n" HOST "\r\n",
     .result = XPS_OK, .scheme = "HTTP", .host = "Example.COM", .path = "/"},
    {"absolute-form still needs Host in HTTP/1.1 (§3.2)",
     "GET http://example.org/ HTTP/1.1\r\n\r\n", BAD("without a Host")},
    {"absolute-form other scheme", "GET ftp://example.org/ HTTP/1.1\r\n" HOST "\r\n",
     BAD("not http or https")},
    {"absolute-form with userinfo", "GET http://user@example.org/ HTTP/1.1\r\n" HOST "\r\n",
     BAD("invalid host")},
    {"absolute-form with an empty host", "GET http:///x HTTP/1.1\r\n" HOST "\r\n",
     BAD("invalid host")},
    {"absolute-form port over 65535", "GET http://h:65536/ HTTP/1.1\r\n" HOST "\r\n",
     BAD("invalid host")},
    {"absolute-form port 0", "GET http://h:0/ HTTP/1.1\r\n" HOST "\r\n", BAD("invalid host")},
    {"absolute-form port not digits", "GET http://h:8o/ HTTP/1.1\r\n" HOST "\r\n",
     BAD("invalid host")},
    {"absolute-form with one slash", "GET http:/x HTTP/1.1\r\n" HOST "\r\n", BAD("//")},
    {"asterisk-form with OPTIONS", "OPTIONS * HTTP/1.1\r\n" HOST "\r\n", .result = XPS_OK,
     .method = XPS_HTTP_METHOD_OPTIONS, .form = XPS_HTTP_FORM_ASTERISK, .target = "*",
     .path = ""},
    {"asterisk-form with GET", "GET * HTTP/1.1\r\n" HOST "\r\n", BAD("asterisk")},
    {"asterisk followed by more", "OPTIONS *x HTTP/1.1\r\n" HOST "\r\n", BAD("invalid request target")},
    {"authority-form with CONNECT",
     "CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n", .result = XPS_OK,
     .method = XPS_HTTP_METHOD_CONNECT, .form = XPS_HTTP_FORM_AUTHORITY, .host = "example.org",
     .port = N(443), .path = "", .target = "example.org:443"},
    {"authority-form without a port", "CONNECT example.org HTTP/1.1\r\n" HOST "\r\n",
     BAD("invalid host")},
    {"CONNECT with an origin-form target", "CONNECT /x HTTP/1.1\r\n" HOST "\r\n",
     BAD("invalid host")},
    {"authority-form with a path", "CONNECT h:443/x HTTP/1.1\r\n" HOST "\r\n", BAD("with a path")},
    {"unknown method is a valid token", "BREW /pot HTTP/1.1\r\n" HOST "\r\n", .result = XPS_OK,
     .method = XPS_HTTP_METHOD_OTHER, .method_name = "BREW"},
    {"methods are case-sensitive", "get / HTTP/1.1\r\n" HOST "\r\n", .result = XPS_OK,
     .method = XPS_HTTP_METHOD_OTHER, .method_name = "get"},
    {"every known method: HEAD", "HEAD / HTTP/1.1\r\n" HOST "\r\n", .result = XPS_OK,
     .method = XPS_HTTP_METHOD_HEAD},
    {"every known method: PATCH", "PATCH / HTTP/1.1\r\n" HOST "\r\n", .result = XPS_OK,
     .method = XPS_HTTP_METHOD_PATCH},
    {"method with a character outside tchar", "GE@T / HTTP/1.1\r\n" HOST "\r\n",
     BAD("invalid character in the method")},
    {"method with a slash", "GET/ / HTTP/1.1\r\n" HOST "\r\n", BAD("invalid character in the method")},
    {"request line starting with a space", " GET / HTTP/1.1\r\n" HOST "\r\n",
     BAD("invalid character in the method")},
    {"two spaces after the method", "GET  / HTTP/1.1\r\n" HOST "\r\n", BAD("more than one space")},
    {"two spaces after the target", "GET /  HTTP/1.1\r\n" HOST "\r\n", BAD("more than one space")},
    {"tab instead of a space", "GET\t/ HTTP/1.1\r\n" HOST "\r\n", BAD("invalid character in the method")},
    {"missing version", "GET /\r\n" HOST "\r\n", BAD("without an HTTP version")},
    {"missing version after a space", "GET / \r\n" HOST "\r\n", BAD("without an HTTP version")},
    {"missing target", "GET\r\n" HOST "\r\n", BAD("without a target")},
    {"HTTP/2.0", "GET / HTTP/2.0\r\n" HOST "\r\n", .result = XPS_E_INVAL, .status = 505,
     .reason = "version"},
    {"HTTP/1.2", "GET / HTTP/1.2\r\n" HOST "\r\n", .result = XPS_E_INVAL, .status = 505},
    {"HTTP/0.9", "GET / HTTP/0.9\r\n\r\n", .result = XPS_E_INVAL, .status = 505},
    {"HTTP/3.0", "GET / HTTP/3.0\r\n\r\n", .result = XPS_E_INVAL, .status = 505},
    {"version in lower case", "GET / http/1.1\r\n" HOST "\r\n", BAD("malformed HTTP version")},
    {"two-digit minor version", "GET / HTTP/1.10\r\n" HOST "\r\n", BAD("malformed HTTP version")},
    {"version without a minor", "GET / HTTP/1\r\n" HOST "\r\n", BAD("malformed HTTP version")},
    {"version without a dot", "GET / HTTP/11\r\n" HOST "\r\n", BAD("malformed HTTP version")},
    {"space after the version", "GET / HTTP/1.1 \r\n" HOST "\r\n", BAD("malformed HTTP version")},
    {"garbage instead of a version", "GET / FOO\r\n" HOST "\r\n", BAD("malformed HTTP version")},
    {"fragment in the target", GET("/a#frag") "\r\n", BAD("invalid character in the request target")},
    {"control byte in the target", GET("/a\x01") "\r\n", BAD("invalid character in the request target")},
    {"DEL in the target", GET("/a\x7f") "\r\n", BAD("invalid character in the request target")},
    {"NUL in the target", WITH_NUL("GET /a\0b HTTP/1.1\r\n" HOST "\r\n"),
     BAD("invalid character in the request target")},
    {"NUL in the method", WITH_NUL("G\0T / HTTP/1.1\r\n" HOST "\r\n"), BAD("invalid character in the method")},
    {"UTF-8 bytes in the target are accepted", GET("/caf\xc3\xa9") "\r\n", .result = XPS_OK,
     .path = "/caf\xc3\xa9"},
    {"visible characters clients send unencoded", GET("/a\"{|}^`") "\r\n", .result = XPS_OK,
     .path = "/a\"{|}^`"},
    {"percent-escapes are kept raw", GET("/a%2Fb%C3%a9?x=%zz") "\r\n", .result = XPS_OK,
     .path = "/a%2Fb%C3%a9", .query = "x=%zz"},
    {"percent-escape cut by the space", GET("/a%2") "\r\n", BAD("bad percent-escape")},
    {"percent-escape with non-hex digits", GET("/a%zz") "\r\n", BAD("bad percent-escape")},
    {"percent-escape at the end of the path", GET("/a%") "\r\n", BAD("bad percent-escape")},
    {"%00 in the path", GET("/a%00b") "\r\n", BAD("%00")},
    {"CR not followed by LF in the request line", "GET / HTTP/1.1\rX" HOST "\r\n", BAD("CR not followed by LF")},
    {"CR alone before the request line", "\rGET / HTTP/1.1\r\n" HOST "\r\n", BAD("CR not followed by LF")},
    {"bare LF line endings are accepted (§2.2)", "\nGET / HTTP/1.1\nHost: h\n\n",
     .result = XPS_OK, .host = "h", .headers = N(1), .head_length = N(25)},
    {"bare LF after the request line, strict", "GET / HTTP/1.1\nHost: h\r\n\r\n",
     .limits = &strict, BAD("bare LF")},
    {"bare LF after a header line, strict", "GET / HTTP/1.1\r\nHost: h\n\r\n",
     .limits = &strict, BAD("bare LF")},
    {"bare LF ending the head, strict", "GET / HTTP/1.1\r\nHost: h\r\n\n",
     .limits = &strict, BAD("bare LF")},
    {"CRLF accepted, strict", "GET / HTTP/1.1\r\nHost: h\r\n\r\n", .limits = &strict,
     .result = XPS_OK},
};

/* field lines (§5) and what the known ones mean */
static const row_t header_rows[] = {
    {"values trimmed, names found in any case",
     GET("/") "X-Test:  value with  inner  spaces \t \r\nAccept: */*\r\n\r\n", .result = XPS_OK,
     .headers = N(3), .find = "x-TEST", .found = "value with  inner  spaces"},
    {"a header that is not there", GET("/") "\r\n", .result = XPS_OK, .find = "Accept",
     .found = NULL},
    {"empty value", GET("/") "X-Empty:\r\n\r\n", .result = XPS_OK, .find = "x-empty", .found = ""},
    {"value of spaces only", GET("/") "X-Empty:   \r\n\r\n", .result = XPS_OK, .find = "x-empty",
     .found = ""},
    {"tab and obs-text in a value", GET("/") "X-T: a\tb\xe9\r\n\r\n", .result = XPS_OK,
     .find = "x-t", .found = "a\tb\xe9"},
    {"header line without a colon", "GET / HTTP/1.1\r\nHost example.com\r\n\r\n",
     BAD("without a colon")},
    {"header name alone", GET("/") "X-Alone\r\n\r\n", BAD("without a colon")},
    {"header name and a space alone", GET("/") "X-Alone \r\n\r\n", BAD("without a colon")},
    {"space before the colon (§5.1)", GET("/") "X-Test : a\r\n\r\n", BAD("whitespace between")},
    {"obsolete line folding (§5.2)", GET("/") "X-Test: a\r\n b\r\n\r\n", BAD("folding")},
    {"folding with a tab", GET("/") "X-Test: a\r\n\tb\r\n\r\n", BAD("folding")},
    {"whitespace before the first header (§2.2)", "GET / HTTP/1.1\r\n " HOST "\r\n",
     BAD("before the first header")},
    {"empty header name", GET("/") ": x\r\n\r\n", BAD("empty name")},
    {"invalid character in a name", GET("/") "X(T): x\r\n\r\n", BAD("invalid character in a header name")},
    {"NUL in a value", WITH_NUL(GET("/") "X: a\0b\r\n\r\n"), BAD("NUL")},
    {"NUL in a name", WITH_NUL(GET("/") "X\0: a\r\n\r\n"), BAD("invalid character in a header name")},
    {"control byte in a value", GET("/") "X: a\x01" "b\r\n\r\n", BAD("control character")},
    {"DEL in a value", GET("/") "X: a\x7f\r\n\r\n", BAD("control character")},
    {"bare CR in a value", GET("/") "X: a\rb\r\n\r\n", BAD("CR not followed by LF")},
    {"bare CR ending the head", GET("/") "\rX", BAD("CR not followed by LF")},
    {"HTTP/1.1 without Host (§3.2)", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n",
     BAD("without a Host")},
    {"two Host lines (§3.2)", GET("/") "host: example.org\r\n\r\n", BAD("more than one Host")},
    {"two Host lines in HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\nHOST: a\r\n\r\n",
     BAD("more than one Host")},
    {"Host with a space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", BAD("invalid Host")},
    {"Host with userinfo", "GET / HTTP/1.1\r\nHost: u@h\r\n\r\n", BAD("invalid Host")},
    {"Host with a bad port", "GET / HTTP/1.1\r\nHost: h:99999\r\n\r\n", BAD("invalid Host")},
    {"Host with only a port", "GET / HTTP/1.1\r\nHost: :80\r\n\r\n", BAD("invalid Host")},
    {"Host with a list", "GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", BAD("invalid Host")},
    {"Host with an IPv6 literal and port", "GET / HTTP/1.1\r\nHost: [::1]:8001\r\n\r\n",
     .result = XPS_OK, .host = "[::1]", .port = N(8001)},
    {"Host with an empty port", "GET / HTTP/1.1\r\nHost: h:\r\n\r\n", .result = XPS_OK,
     .host = "h", .port = N(0)},
    {"empty Host is valid (§3.2)", "GET / HTTP/1.1\r\nHost:\r\n\r\n", .result = XPS_OK,
     .host = ""},
    {"Host name case kept", "GET / HTTP/1.1\r\nhOsT: WWW.Example.com:81\r\n\r\n",
     .result = XPS_OK, .host = "WWW.Example.com", .port = N(81)},
    {"Connection: close", GET("/") "Connection: close\r\n\r\n", .result = XPS_OK,
     .keep_alive = NO, .connection_close = YES},
    {"Connection: a list with close in it", GET("/") "Connection: foo ,  CLOSE ,bar\r\n\r\n",
     .result = XPS_OK, .keep_alive = NO, .connection_close = YES},
    {"Connection: closed is not close", GET("/") "Connection: closed\r\n\r\n", .result = XPS_OK,
     .keep_alive = YES, .connection_close = NO},
    {"HTTP/1.0 with keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
     .result = XPS_OK, .keep_alive = YES},
    {"HTTP/1.0 with keep-alive and close", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n"
     "Connection: close\r\n\r\n", .result = XPS_OK, .keep_alive = NO, .connection_close = YES},
    {"Expect: 100-continue", GET("/") "Expect: 100-Continue\r\n\r\n", .result = XPS_OK,
     .expect_continue = YES},
    {"Expect: something else", GET("/") "Expect: 200-ok\r\n\r\n", .result = XPS_OK,
     .expect_continue = NO},
    {"Upgrade with Connection: upgrade",
     GET("/chat") "Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n",
     .result = XPS_OK, .upgrade = YES, .find = "upgrade", .found = "websocket"},
    {"Upgrade without the Connection token", GET("/chat") "Upgrade: websocket\r\n\r\n",
     .result = XPS_OK, .upgrade = NO},
    {"Upgrade in HTTP/1.0 is ignored (RFC 9110 §7.8)",
     "GET /chat HTTP/1.0\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
     .result = XPS_OK, .upgrade = NO, .find = "upgrade", .found = "websocket"},
    {"bytes after the head are never read",
     WITH_NUL(GET("/") "\r\n\0\xff this is not a request"), .result = XPS_OK,
     .head_length = N(37), .body_result = XPS_OK, .data = "", .leftover = N(26)},
};

/* framing (RFC 9112 §6.1, §6.3): the request-smuggling defences */
static const row_t framing_rows[] = {
    {"Content-Length body", GET("/") "Content-Length: 5\r\n\r\nhello", .result = XPS_OK,
     .body = N(XPS_HTTP_BODY_LENGTH), .content_length = N(5), .body_result = XPS_OK,
     .data = "hello", .leftover = N(0)},
    {"Content-Length body, then the next request",
     GET("/") "Content-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\n", .result = XPS_OK,
     .body_result = XPS_OK, .data = "abc", .leftover = N(16)},
    {"Content-Length: 0", GET("/") "Content-Length: 0\r\n\r\n", .result = XPS_OK,
     .body = N(XPS_HTTP_BODY_LENGTH), .content_length = N(0), .body_result = XPS_OK, .data = "",
     .leftover = N(0)},
    {"Content-Length body still arriving", GET("/") "Content-Length: 10\r\n\r\nhel",
     .result = XPS_OK, .body_result = XPS_E_AGAIN, .data = "hel"},
    {"no framing header: no body (§6.3 item 7)", "POST / HTTP/1.1\r\n" HOST "\r\nabc",
     .result = XPS_OK, .body = N(XPS_HTTP_BODY_NONE), .body_result = XPS_OK, .data = "",
     .leftover = N(3)},
    {"equal Content-Length values in a list", GET("/") "Content-Length: 5, 5\r\n\r\nhello",
     .result = XPS_OK, .content_length = N(5), .body_result = XPS_OK, .data = "hello"},
    {"Content-Length with leading zeros", GET("/") "Content-Length: 007\r\n\r\n1234567",
     .result = XPS_OK, .content_length = N(7), .body_result = XPS_OK, .data = "1234567"},
    {"equal Content-Length lines", GET("/") "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
     .result = XPS_OK, .content_length = N(5)},
    {"conflicting Content-Length values", GET("/") "Content-Length: 5, 6\r\n\r\n",
     BAD("conflicting Content-Length")},
    {"conflicting Content-Length lines", GET("/") "Content-Length: 5\r\ncontent-length: 6\r\n\r\n",
     BAD("conflicting Content-Length")},
    {"Content-Length with a sign", GET("/") "Content-Length: +5\r\n\r\n", BAD("invalid Content-Length")},
    {"negative Content-Length", GET("/") "Content-Length: -1\r\n\r\n", BAD("invalid Content-Length")},
    {"hex Content-Length", GET("/") "Content-Length: 0x5\r\n\r\n", BAD("invalid Content-Length")},
    {"Content-Length with a space inside", GET("/") "Content-Length: 5 5\r\n\r\n",
     BAD("invalid Content-Length")},
    {"empty Content-Length", GET("/") "Content-Length:\r\n\r\n", BAD("invalid Content-Length")},
    {"Content-Length of commas", GET("/") "Content-Length: ,\r\n\r\n", BAD("invalid Content-Length")},
    {"Content-Length over the body limit", GET("/") "Content-Length: 1048577\r\n\r\n",
     .result = XPS_E_INVAL, .status = 413, .reason = "body limit"},
    {"Content-Length at the body limit", GET("/") "Content-Length: 1048576\r\n\r\n",
     .result = XPS_OK, .content_length = N(1048576), .body_result = XPS_E_AGAIN, .data = ""},
    {"Content-Length too big for 64 bits", GET("/") "Content-Length: 99999999999999999999999\r\n\r\n",
     .result = XPS_E_INVAL, .status = 413},
    {"Transfer-Encoding and Content-Length (§6.3 item 3)",
     GET("/") "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
     BAD("both Transfer-Encoding and Content-Length")},
    {"Content-Length and Transfer-Encoding, other order",
     GET("/") "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
     BAD("both Transfer-Encoding and Content-Length")},
    {"chunked not last (§6.3 item 4)", GET("/") "Transfer-Encoding: chunked, gzip\r\n\r\n",
     BAD("not the final")},
    {"only gzip", GET("/") "Transfer-Encoding: gzip\r\n\r\n", BAD("not the final")},
    {"identity is not a transfer coding", GET("/") "Transfer-Encoding: identity\r\n\r\n",
     BAD("not the final")},
    {"empty Transfer-Encoding", GET("/") "Transfer-Encoding: \r\n\r\n", BAD("not the final")},
    {"chunked twice (§7)", GET("/") "Transfer-Encoding: chunked, chunked\r\n\r\n",
     BAD("more than once")},
    {"chunked twice over two lines",
     GET("/") "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
     BAD("more than once")},
    {"gzip then chunked: not implemented (§6.1)", GET("/") "Transfer-Encoding: gzip, chunked\r\n\r\n",
     .result = XPS_E_INVAL, .status = 501, .reason = "other than chunked"},
    {"gzip then chunked over two lines",
     GET("/") "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
     .result = XPS_E_INVAL, .status = 501},
    {"chunked with a parameter", GET("/") "Transfer-Encoding: chunked;q=1\r\n\r\n",
     BAD("invalid Transfer-Encoding")},
    {"Transfer-Encoding garbage", GET("/") "Transfer-Encoding: chunked\x01\r\n\r\n",
     BAD("control character")},
    {"Transfer-Encoding in HTTP/1.0 (§6.1)",
     "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", BAD("HTTP/1.0")},
    {"chunked in capitals", GET("/") "Transfer-Encoding: Chunked\r\n\r\n0\r\n\r\n",
     .result = XPS_OK, .body = N(XPS_HTTP_BODY_CHUNKED), .body_result = XPS_OK, .data = ""},
};

#define CHUNKED(body) GET("/") "Transfer-Encoding: chunked\r\n\r\n" body
/* A chunked body that decodes to `d`, with nothing after it. */
#define BODY_OK(d) .result = XPS_OK, .body_result = XPS_OK, .data = (d), .leftover = N(0)
/* A head that passes and a body refused with 400 and a part of `why`. */
#define BODY_BAD(why) .result = XPS_OK, .body_result = XPS_E_INVAL, .body_status = 400, \
                      .body_reason = (why)

/* chunked bodies (RFC 9112 §7.1) */
static const row_t chunked_rows[] = {
    {"two chunks", CHUNKED("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
     .body = N(XPS_HTTP_BODY_CHUNKED), BODY_OK("hello world")},
    {"hex sizes in either case", CHUNKED("A\r\n0123456789\r\nb\r\nabcdefghijk\r\n0\r\n\r\n"),
     BODY_OK("0123456789abcdefghijk")},
    {"leading zeros", CHUNKED("0005\r\nhello\r\n000\r\n\r\n"), BODY_OK("hello")},
    {"a size of 16 digits", CHUNKED("0000000000000005\r\nhello\r\n0\r\n\r\n"), BODY_OK("hello")},
    {"trailers are checked and skipped", CHUNKED("3\r\nabc\r\n0\r\nX-Sum: 1\r\nY:\r\n\r\n"),
     BODY_OK("abc")},
    {"the next request after the body", CHUNKED("1\r\na\r\n0\r\n\r\nGET"), .result = XPS_OK,
     .body_result = XPS_OK, .data = "a", .leftover = N(3)},
    {"CRLF everywhere, strict", CHUNKED("5\r\nhello\r\n0\r\nT: x\r\n\r\n"), .limits = &strict,
     BODY_OK("hello")},
    {"body still arriving", CHUNKED("5\r\nhel"), .result = XPS_OK, .body_result = XPS_E_AGAIN,
     .data = "hel"},
    {"last chunk without the final CRLF", CHUNKED("0\r\n"), .result = XPS_OK,
     .body_result = XPS_E_AGAIN, .data = ""},

    /* extensions (§7.1.1): *( BWS ";" BWS name [ BWS "=" BWS value ] ), skipped */
    {"extension with a token value", CHUNKED("5;a=b\r\nhello\r\n0\r\n\r\n"), BODY_OK("hello")},
    {"extensions on every chunk, the last too",
     CHUNKED("5;name=value;x\r\nhello\r\n0;last=\"a b\"\r\n\r\n"), BODY_OK("hello")},
    {"BWS wherever the grammar has it, quoted-pair in the value",
     CHUNKED("5 ; a = \"q\\\"x\"\r\nhello\r\n0\r\n\r\n"), BODY_OK("hello")},
    {"BWS as tabs", CHUNKED("5\t;\ta\t=\tb \t;c\r\nhello\r\n0\r\n\r\n"), BODY_OK("hello")},
    {"names without values, an empty quoted value",
     CHUNKED("5;a;b=c;d=\"\"\r\nhello\r\n0\r\n\r\n"), BODY_OK("hello")},
    {"a quoted value holds ';', '=', spaces, obs-text",
     CHUNKED("5;a=\"x; y=z \xe9\";b=\"\\\\\"\r\nhello\r\n0\r\n\r\n"), BODY_OK("hello")},
    {"whitespace before the CRLF (5 SP CRLF)", CHUNKED("5 \r\nhello\r\n0\r\n\r\n"),
     BODY_BAD("whitespace at the end")},
    {"whitespace after an extension name", CHUNKED("5;a \r\nhello\r\n0\r\n\r\n"),
     BODY_BAD("whitespace at the end")},
    {"whitespace after an extension value", CHUNKED("5;a=b\t\r\nhello\r\n0\r\n\r\n"),
     BODY_BAD("whitespace at the end")},
    {"two sizes", CHUNKED("5 5\r\nhello\r\n"), BODY_BAD("not followed by \";\"")},
    {"two values", CHUNKED("5;a=b c\r\nhello\r\n"), BODY_BAD("not followed by \";\"")},
    {"a name with a space in it", CHUNKED("5;a b=c\r\nhello\r\n"),
     BODY_BAD("inside a chunk extension name")},
    {"';' without a name", CHUNKED("5;\r\nhello\r\n0\r\n\r\n"), BODY_BAD("without a name")},
    {"'=' without a name", CHUNKED("5;=b\r\nhello\r\n0\r\n\r\n"), BODY_BAD("without a name")},
    {"two ';' in a row", CHUNKED("5;a;;b\r\nhello\r\n0\r\n\r\n"), BODY_BAD("without a name")},
    {"'=' without a value", CHUNKED("5;a=\r\nhello\r\n0\r\n\r\n"), BODY_BAD("without a value")},
    {"'=' without a value before ';'", CHUNKED("5;a=;b\r\nhello\r\n0\r\n\r\n"),
     BODY_BAD("without a value")},
    {"a name outside tchar", CHUNKED("5;a@b\r\nhello\r\n0\r\n\r\n"),
     BODY_BAD("invalid character in a chunk extension name")},
    {"a token value outside tchar", CHUNKED("5;a=b\"c\"\r\nhello\r\n0\r\n\r\n"),
     BODY_BAD("invalid character in a chunk extension value")},
    {"bytes after a quoted value", CHUNKED("5;a=\"x\"y\r\nhello\r\n0\r\n\r\n"),
     BODY_BAD("invalid character in a chunk extension value")},
    {"an unterminated quoted value", CHUNKED("5;a=\"x\r\nhello\r\n0\r\n\r\n"),
     BODY_BAD("unterminated quoted string")},
    {"a quoted-pair escaping the CR", CHUNKED("5;a=\"x\\\r\nhello\r\n0\r\n\r\n"),
     BODY_BAD("unterminated quoted string")},
    {"control byte in an extension", CHUNKED("5;a\x01\r\nhello\r\n"), BODY_BAD("chunk extension")},
    {"NUL in an extension", WITH_NUL(CHUNKED("5;a\0\r\nhello\r\n")), BODY_BAD("chunk extension")},

    /* a bare LF is never a line end in the framing, strict_crlf or not */
    {"the issue's smuggling bytes: bare LF after an extension",
     "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2;\nxx\r\n32\r\n0\r\n\r\n"
     "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n", BODY_BAD("bare LF in chunked framing"),
     .data = ""},
    {"bare LF after the size", CHUNKED("5\nhello\r\n0\r\n\r\n"), BODY_BAD("bare LF"), .data = ""},
    {"bare LF after chunk data", CHUNKED("5\r\nhello\n0\r\n\r\n"), BODY_BAD("bare LF"),
     .data = "hello"},
    {"bare LF ending a trailer line", CHUNKED("0\r\nT: x\n\r\n"), BODY_BAD("bare LF")},
    {"bare LF as the final line", CHUNKED("0\r\n\n"), BODY_BAD("bare LF")},
    {"bare LF everywhere", CHUNKED("5\nhello\n0\nT: x\n\n"), BODY_BAD("bare LF")},
    {"bare LF after the size, strict", CHUNKED("5\nhello\r\n0\r\n\r\n"), .limits = &strict,
     BODY_BAD("bare LF")},
    {"bare LF after data, strict", CHUNKED("5\r\nhello\n0\r\n\r\n"), .limits = &strict,
     BODY_BAD("bare LF")},

    {"size not hex", CHUNKED("x\r\n"), BODY_BAD("invalid chunk size")},
    {"negative size", CHUNKED("-1\r\n"), BODY_BAD("invalid chunk size")},
    {"size with a 0x prefix", CHUNKED("0x5\r\nhello\r\n"), BODY_BAD("invalid chunk size")},
    {"size followed by junk", CHUNKED("5x\r\nhello\r\n"), BODY_BAD("invalid chunk size")},
    {"a size of 17 digits (leading zeros)", CHUNKED("00000000000000005\r\nhello\r\n0\r\n\r\n"),
     BODY_BAD("longer than 16 hex digits")},
    {"empty size line", CHUNKED("\r\nhello\r\n"), BODY_BAD("size missing")},
    {"extension without a size", CHUNKED(";x\r\n"), BODY_BAD("invalid chunk size")},
    {"CR alone after the size", CHUNKED("5\rhello"), BODY_BAD("CR not followed by LF")},
    {"data longer than the size", CHUNKED("3\r\nhello\r\n0\r\n\r\n"),
     BODY_BAD("longer than its size")},
    {"folded trailer", CHUNKED("0\r\nX: a\r\n b\r\n\r\n"), BODY_BAD("invalid trailer")},
    {"trailer without a colon", CHUNKED("0\r\nX-Sum\r\n\r\n"), BODY_BAD("without a colon")},
    {"NUL in a trailer", WITH_NUL(CHUNKED("0\r\nX: a\0\r\n\r\n")), BODY_BAD("control character")},
    {"bare CR ending the body", CHUNKED("0\r\n\rX"), BODY_BAD("CR not followed by LF")},
    {"size over the body limit", CHUNKED("100001\r\n"), .result = XPS_OK,
     .body_result = XPS_E_INVAL, .body_status = 413, .body_reason = "body limit"},
    {"size overflowing 64 bits", CHUNKED("fffffffffffffffffff\r\n"), .result = XPS_OK,
     .body_result = XPS_E_INVAL, .body_status = 413},
};

/* A body-limit row needs a head that fits tiny limits; built separately. */
static const row_t small_body_rows[] = {
    {"chunks up to the body limit", "PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
     "\r\n6\r\nabcdef\r\n4\r\nghij\r\n0\r\n\r\n",
     .limits = &(xps_http_limits_t){.max_request_line = 32, .max_head = 128, .max_headers = 4,
                                    .max_body = 10},
     .result = XPS_OK, .body_result = XPS_OK, .data = "abcdefghij", .leftover = N(0)},
    {"chunks summing over the body limit", "PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: "
     "chunked\r\n\r\n6\r\nabcdef\r\n5\r\nghijk\r\n0\r\n\r\n",
     .limits = &(xps_http_limits_t){.max_request_line = 32, .max_head = 128, .max_headers = 4,
                                    .max_body = 10},
     .result = XPS_OK, .body_result = XPS_E_INVAL, .body_status = 413, .data = "abcdef"},
    {"Content-Length over a small body limit", "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 11"
     "\r\n\r\n", .limits = &(xps_http_limits_t){.max_request_line = 32, .max_head = 128,
                                               .max_headers = 4, .max_body = 10},
     .result = XPS_E_INVAL, .status = 413},
    {"trailer section over the head limit", "PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: "
     "chunked\r\n\r\n0\r\nX: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n",
     .limits = &(xps_http_limits_t){.max_request_line = 32, .max_head = 128, .max_headers = 4,
                                    .max_body = 10},
     .result = XPS_OK, .body_result = XPS_E_INVAL, .body_status = 431},
    {"too many trailer lines", "PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
     "0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n",
     .limits = &(xps_http_limits_t){.max_request_line = 32, .max_head = 128, .max_headers = 4,
                                    .max_body = 10},
     .result = XPS_OK, .body_result = XPS_E_INVAL, .body_status = 431, .body_reason = "trailer"},
};

/* Small limits, so that rows at and over each edge stay short:
 * request line 32 bytes, head 96 bytes, 3 header lines. */
static const xps_http_limits_t small = {
    .max_request_line = 32, .max_head = 96, .max_headers = 3, .max_body = 100};

static const row_t limit_rows[] = {
    /* "GET " + target + " HTTP/1.1" = 32 bytes when the target is 19 */
    {"request line at the limit", "GET /aaaaaaaaaaaaaaaaaa HTTP/1.1\r\nHost: h\r\n\r\n",
     .limits = &small, .result = XPS_OK},
    {"request line one over, the target long: 414", "GET /aaaaaaaaaaaaaaaaaaa HTTP/1.1\r\nHost: h\r\n\r\n",
     .limits = &small, .result = XPS_E_INVAL, .status = 414},
    {"request line far over, still in the target: 414", "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
     .limits = &small, .result = XPS_E_INVAL, .status = 414},
    {"request line over only with the version: 414", "GET /aaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n",
     .limits = &small, .result = XPS_E_INVAL, .status = 414},
    {"method over the line limit: 400", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA / HTTP/1.1\r\n",
     .limits = &small, BAD("method longer")},
    /* 34 (line) + 9 ("Host: h\r\n") + 3 headers ... = 96 in total */
    {"head at the limit", "GET /aaaaaaaaaaaaaaaaaa HTTP/1.1\r\nHost: h\r\nX-Fill: "
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n", .limits = &small, .result = XPS_OK,
     .head_length = N(96)},
    {"head one over: 431", "GET /aaaaaaaaaaaaaaaaaa HTTP/1.1\r\nHost: h\r\nX-Fill: "
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n", .limits = &small,
     .result = XPS_E_INVAL, .status = 431},
    {"head over with no end in sight: 431", "GET / HTTP/1.1\r\nHost: h\r\nX-Fill: "
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
     .limits = &small, .result = XPS_E_INVAL, .status = 431},
    {"header lines at the limit", "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n",
     .limits = &small, .result = XPS_OK, .headers = N(3)},
    {"one header line too many: 431", "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n",
     .limits = &small, .result = XPS_E_INVAL, .status = 431, .reason = "too many header lines"},
    {"empty lines up to the head limit", "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n"
     "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n"
     "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n", .limits = &small, BAD("empty lines")},
};

/* heads that are not finished: the parser must ask for more, nothing else */
static const row_t incomplete_rows[] = {
    {"nothing yet", "", .result = XPS_E_AGAIN},
    {"an empty line", "\r\n", .result = XPS_E_AGAIN},
    {"a method", "GET", .result = XPS_E_AGAIN},
    {"a request line", "GET / HTTP/1.1\r\n", .result = XPS_E_AGAIN},
    {"a request line's CR", "GET / HTTP/1.1\r", .result = XPS_E_AGAIN},
    {"a header line", GET("/"), .result = XPS_E_AGAIN},
    {"a header line's CR", "GET / HTTP/1.1\r\nHost: h\r", .result = XPS_E_AGAIN},
    {"the last CR", GET("/") "\r", .result = XPS_E_AGAIN},
    {"a percent-escape", "GET /%4", .result = XPS_E_AGAIN},
    {"an absolute-form scheme", "GET http:/", .result = XPS_E_AGAIN},
};

/* ------------------------------------------------------- the guard page */

static char *arena;      /* ARENA_PAGES readable pages, then one PROT_NONE page */
static size_t arena_size; /* bytes of the readable part */
enum { ARENA_BYTES = 64 * 1024 };

static int map_arena(void **state)
{
    (void)state;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    arena_size = (ARENA_BYTES + page - 1) / page * page;
    arena = mmap(NULL, arena_size + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (arena == MAP_FAILED)
        return -1;
    return mprotect(arena + arena_size, page, PROT_NONE); /* the guard */
}

static int unmap_arena(void **state)
{
    (void)state;
    munmap(arena, arena_size + (size_t)sysconf(_SC_PAGESIZE));
    return 0;
}

/* Copies bytes so that the last one sits right before the guard page; an
 * access to what follows them faults. */
static const char *at_guard(const char *bytes, size_t n)
{
    assert_true(n <= arena_size);
    char *place = arena + arena_size - n;
    memmove(place, bytes, n);
    return place;
}

/* --------------------------------------------------------- the checks */

static size_t row_len(const row_t *r) { return r->len ? r->len : strlen(r->raw); }

static const char *status_or_code(int rc)
{
    switch (rc) {
    case XPS_OK: return "XPS_OK";
    case XPS_E_AGAIN: return "XPS_E_AGAIN";
    case XPS_E_INVAL: return "XPS_E_INVAL";
    case XPS_E_NEXT: return "XPS_E_NEXT";
    case XPS_E_NOMEM: return "XPS_E_NOMEM";
    default: return "another code";
    }
}

#define ROW_FAIL(r, how, ...)                                                        \
    do {                                                                             \
        print_error("row \"%s\" (fed %s): ", (r)->name, (how));                      \
        print_error(__VA_ARGS__);                                                    \
        print_error("\n");                                                           \
        fail();                                                                      \
    } while (0)

static void expect_text(const row_t *r, const char *how, const char *what, const char *buf,
                        xps_http_slice_t s, const char *want)
{
    if (want && (s.length != strlen(want) || memcmp(buf + s.offset, want, s.length) != 0))
        ROW_FAIL(r, how, "%s is \"%.*s\", expected \"%s\"", what, (int)s.length, buf + s.offset, want);
}

static void expect_flag(const row_t *r, const char *how, const char *what, bool got, int want)
{
    if (want != ANY && got != (want == YES))
        ROW_FAIL(r, how, "%s is %s, expected %s", what, got ? "true" : "false",
                 want == YES ? "true" : "false");
}

static void expect_number(const row_t *r, const char *how, const char *what, uint64_t got,
                          int64_t want_plus_one)
{
    if (want_plus_one && got != (uint64_t)(want_plus_one - 1))
        ROW_FAIL(r, how, "%s is %llu, expected %lld", what, (unsigned long long)got,
                 (long long)(want_plus_one - 1));
}

/* The outcome of the head, and every field the row names. */
static void check_head(const row_t *r, const char *how, xps_http_parser_t *p, int rc,
                       const char *buf)
{
    if (rc != r->result)
        ROW_FAIL(r, how, "parse_head returned %s (status %d, \"%s\"), expected %s",
                 status_or_code(rc), xps_http_parser_status(p), xps_http_parser_reason(p),
                 status_or_code(r->result));
    if (rc == XPS_E_INVAL) {
        if (xps_http_parser_status(p) != r->status)
            ROW_FAIL(r, how, "status %d (\"%s\"), expected %d", xps_http_parser_status(p),
                     xps_http_parser_reason(p), r->status);
        if (r->reason && !strstr(xps_http_parser_reason(p), r->reason))
            ROW_FAIL(r, how, "reason \"%s\" does not say \"%s\"", xps_http_parser_reason(p), r->reason);
        assert_null(xps_http_parser_head(p));
        return;
    }
    if (rc != XPS_OK) {
        assert_null(xps_http_parser_head(p));
        return;
    }
    const xps_http_head_t *h = xps_http_parser_head(p);
    assert_non_null(h);
    assert_int_equal(xps_http_parser_status(p), XPS_HTTP_STATUS_NONE);
    if (r->method && h->method != r->method)
        ROW_FAIL(r, how, "method %d, expected %d", h->method, r->method);
    if (r->version && h->version != r->version)
        ROW_FAIL(r, how, "version %d, expected %d", h->version, r->version);
    if (r->form && h->target_form != r->form)
        ROW_FAIL(r, how, "target form %d, expected %d", h->target_form, r->form);
    expect_text(r, how, "method", buf, h->method_name, r->method_name);
    expect_text(r, how, "target", buf, h->target, r->target);
    expect_text(r, how, "scheme", buf, h->scheme, r->scheme);
    expect_text(r, how, "path", buf, h->path, r->path);
    expect_text(r, how, "query", buf, h->query, r->query);
    expect_flag(r, how, "has_query", h->has_query, r->query ? YES : r->no_query ? NO : ANY);
    expect_text(r, how, "host", buf, h->host, r->host);
    expect_number(r, how, "port", h->port, r->port);
    expect_number(r, how, "header count", h->header_count, r->headers);
    expect_flag(r, how, "keep_alive", h->keep_alive, r->keep_alive);
    expect_flag(r, how, "connection_close", h->connection_close, r->connection_close);
    expect_flag(r, how, "expect_continue", h->expect_continue, r->expect_continue);
    expect_flag(r, how, "upgrade", h->upgrade, r->upgrade);
    expect_number(r, how, "body kind", (uint64_t)h->body, r->body);
    expect_number(r, how, "content_length", h->content_length, r->content_length);
    expect_number(r, how, "head_length", h->head_length, (int64_t)r->head_length);
    if (r->find) {
        const xps_http_header_t *f = xps_http_head_find(h, buf, r->find, NULL);
        if (!r->found && f)
            ROW_FAIL(r, how, "header %s found, expected absent", r->find);
        if (r->found && !f)
            ROW_FAIL(r, how, "header %s not found", r->find);
        if (f)
            expect_text(r, how, r->find, buf, f->value, r->found);
    }
}

static xps_http_parser_t *new_parser(const row_t *r)
{
    xps_http_parser_t *p = xps_http_parser_create(r->limits);
    assert_non_null(p);
    return p;
}

/* Feeds the head as prefixes of the given lengths (the last is the whole
 * row), each at the guard page. A call before the last may already finish
 * (the outcome can be decided early); every later call must repeat it.
 * Returns the final code; *buf gets where the last copy lies. */
static int feed_head(const row_t *r, const char *how, xps_http_parser_t *p, const size_t *cuts,
                     size_t ncuts, const char **buf)
{
    int rc = XPS_E_AGAIN, first_final = XPS_E_AGAIN;
    for (size_t i = 0; i < ncuts; i++) {
        *buf = at_guard(r->raw, cuts[i]);
        rc = xps_http_parser_parse_head(p, *buf, cuts[i]);
        if (first_final != XPS_E_AGAIN && rc != first_final)
            ROW_FAIL(r, how, "returned %s after %s", status_or_code(rc), status_or_code(first_final));
        if (rc != XPS_E_AGAIN)
            first_final = rc;
        if (rc != XPS_E_AGAIN && rc != r->result)
            ROW_FAIL(r, how, "after %zu bytes: %s (status %d, \"%s\"), expected %s", cuts[i],
                     status_or_code(rc), xps_http_parser_status(p), xps_http_parser_reason(p),
                     status_or_code(r->result));
    }
    return rc;
}

/* (a), (b), (c) for the head; (d) throughout. */
static void run_head(const row_t *r)
{
    size_t n = row_len(r);
    size_t *cuts = test_malloc((n + 1) * sizeof *cuts);
    const char *buf;
    char how[64];

    xps_http_parser_t *p = new_parser(r); /* (a) whole */
    cuts[0] = n;
    int rc = feed_head(r, "whole", p, cuts, 1, &buf);
    check_head(r, "whole", p, rc, buf);
    xps_http_parser_destroy(p);

    for (size_t k = 1; k < n; k++) { /* (b) two calls, split at every boundary */
        snprintf(how, sizeof how, "split at %zu", k);
        p = new_parser(r);
        cuts[0] = k;
        cuts[1] = n;
        rc = feed_head(r, how, p, cuts, 2, &buf);
        check_head(r, how, p, rc, buf);
        xps_http_parser_destroy(p);
    }

    p = new_parser(r); /* (c) a byte at a time (and 0 bytes first) */
    for (size_t k = 0; k <= n; k++)
        cuts[k] = k;
    rc = feed_head(r, "byte by byte", p, cuts, n + 1, &buf);
    check_head(r, "byte by byte", p, rc, buf);
    xps_http_parser_destroy(p);
    test_free(cuts);
}

/* Body pieces: each piece fed (at the guard) until it is used up or the
 * body ends; data appended to `got`. Returns the final code; *left counts
 * the bytes after the body. */
typedef struct body_run {
    char *got;     /* the data handed out, joined */
    size_t got_len;
    size_t left;   /* after XPS_OK: bytes not consumed */
    int rc;        /* the last code */
} body_run_t;

static void feed_body_piece(const row_t *r, const char *how, xps_http_parser_t *p,
                            const char *bytes, size_t n, body_run_t *run)
{
    size_t off = 0;
    for (;;) {
        if (run->rc == XPS_OK || run->rc == XPS_E_INVAL) {
            run->left += n - off;
            return;
        }
        const char *in = at_guard(bytes + off, n - off);
        size_t used = 999999;
        xps_http_slice_t data = {123, 456};
        run->rc = xps_http_parser_parse_body(p, in, n - off, &used, &data);
        if (used > n - off)
            ROW_FAIL(r, how, "consumed %zu of %zu bytes", used, n - off);
        if (run->rc == XPS_E_NEXT) {
            if (data.length == 0 || data.offset + data.length != used)
                ROW_FAIL(r, how, "data slice {%zu, %zu} with %zu consumed", data.offset,
                         data.length, used);
            memcpy(run->got + run->got_len, in + data.offset, data.length);
            run->got_len += data.length;
            off += used;
            continue;
        }
        if (data.length != 0)
            ROW_FAIL(r, how, "%s with a data slice", status_or_code(run->rc));
        if (run->rc == XPS_E_AGAIN && used != n - off)
            ROW_FAIL(r, how, "XPS_E_AGAIN with %zu of %zu bytes consumed", used, n - off);
        off += used;
        if (run->rc == XPS_E_AGAIN)
            return;
    }
}

static void check_body(const row_t *r, const char *how, xps_http_parser_t *p, body_run_t *run)
{
    if (run->rc != r->body_result)
        ROW_FAIL(r, how, "parse_body ended with %s (status %d, \"%s\"), expected %s",
                 status_or_code(run->rc), xps_http_parser_status(p), xps_http_parser_reason(p),
                 status_or_code(r->body_result));
    if (run->rc == XPS_E_INVAL) {
        if (xps_http_parser_status(p) != r->body_status)
            ROW_FAIL(r, how, "body status %d (\"%s\"), expected %d", xps_http_parser_status(p),
                     xps_http_parser_reason(p), r->body_status);
        if (r->body_reason && !strstr(xps_http_parser_reason(p), r->body_reason))
            ROW_FAIL(r, how, "reason \"%s\" does not say \"%s\"", xps_http_parser_reason(p),
                     r->body_reason);
    }
    if (r->data && (run->got_len != strlen(r->data) || memcmp(run->got, r->data, run->got_len)))
        ROW_FAIL(r, how, "body data \"%.*s\", expected \"%s\"", (int)run->got_len, run->got, r->data);
    if (run->rc == XPS_OK)
        expect_number(r, how, "bytes after the body", run->left, (int64_t)r->leftover);
}

/* The body after a whole head: whole, split at every boundary, byte by byte. */
static void run_body(const row_t *r)
{
    if (!r->body_result)
        return;
    size_t n = row_len(r);
    xps_http_parser_t *p = new_parser(r);
    const char *buf = at_guard(r->raw, n);
    assert_int_equal(xps_http_parser_parse_head(p, buf, n), XPS_OK);
    size_t head = xps_http_parser_head(p)->head_length;
    const char *body = r->raw + head;
    size_t m = n - head;
    xps_http_parser_destroy(p);
    body_run_t run;
    run.got = test_malloc(m + 1);
    char how[64];
    for (size_t split = 0; split <= m + 1; split++) { /* m + 1: byte by byte */
        p = new_parser(r);
        assert_int_equal(xps_http_parser_parse_head(p, at_guard(r->raw, n), n), XPS_OK);
        run.got_len = run.left = 0;
        run.rc = XPS_E_AGAIN;
        if (split == m + 1) {
            snprintf(how, sizeof how, "body byte by byte");
            for (size_t i = 0; i < m; i++)
                feed_body_piece(r, how, p, body + i, 1, &run);
            if (m == 0)
                feed_body_piece(r, how, p, body, 0, &run);
        } else {
            snprintf(how, sizeof how, split == 0 ? "body whole" : "body split at %zu", split);
            feed_body_piece(r, how, p, body, split, &run);
            feed_body_piece(r, how, p, body + split, m - split, &run);
        }
        check_body(r, how, p, &run);
        xps_http_parser_destroy(p);
    }
    test_free(run.got);
}

static void run_rows(const row_t *rows, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        run_head(&rows[i]);
        if (rows[i].result == XPS_OK)
            run_body(&rows[i]);
    }
}

#define RUN(rows) run_rows((rows), sizeof(rows) / sizeof((rows)[0]))

static void request_line_rows_at_every_split(void **state) { (void)state; RUN(request_line_rows); }
static void header_rows_at_every_split(void **state) { (void)state; RUN(header_rows); }
static void framing_rows_at_every_split(void **state) { (void)state; RUN(framing_rows); }
static void chunked_rows_at_every_split(void **state)
{
    (void)state;
    RUN(chunked_rows);
    RUN(small_body_rows);
}
static void limit_rows_at_every_split(void **state) { (void)state; RUN(limit_rows); }
static void incomplete_rows_ask_for_more(void **state) { (void)state; RUN(incomplete_rows); }

/* The default limits at their real sizes: 8 KiB request line, 16 KiB
 * head, 100 header lines. Built at run time; fed the same four ways. */
static char *repeat_into(char *at, char c, size_t n)
{
    memset(at, c, n);
    return at + n;
}

static void default_limits_at_their_real_sizes(void **state)
{
    (void)state;
    xps_http_limits_t d = xps_http_default_limits();
    assert_int_equal(d.max_request_line, 8192);
    assert_int_equal(d.max_head, 16384);
    assert_int_equal(d.max_headers, 100);
    assert_int_equal(d.max_body, 1 << 20);
    assert_false(d.strict_crlf);
    char *raw = test_malloc(20000);
    for (int over = 0; over <= 1; over++) { /* the request line: 8192, then 8193 bytes */
        char *w = raw;
        memcpy(w, "GET /", 5);
        w = repeat_into(w + 5, 'a', 8192 - 4 - 9 - 1 + (size_t)over);
        memcpy(w, " HTTP/1.1\r\nHost: h\r\n\r\n", 23);
        row_t r = {.name = over ? "request line of 8193 bytes" : "request line of 8192 bytes",
                   .raw = raw, .len = (size_t)(w + 23 - raw),
                   .result = over ? XPS_E_INVAL : XPS_OK, .status = over ? 414 : 0};
        run_head(&r);
    }
    for (int over = 0; over <= 1; over++) { /* the head: 16384, then 16385 bytes */
        char *w = raw;
        memcpy(w, "GET / HTTP/1.1\r\nHost: h\r\nX: ", 28);
        w = repeat_into(w + 28, 'v', 16384 - 28 - 4 + (size_t)over);
        memcpy(w, "\r\n\r\n", 4);
        row_t r = {.name = over ? "head of 16385 bytes" : "head of 16384 bytes", .raw = raw,
                   .len = (size_t)(w + 4 - raw), .result = over ? XPS_E_INVAL : XPS_OK,
                   .status = over ? 431 : 0};
        r.head_length = over ? 0 : N(16384);
        run_head(&r);
    }
    for (int over = 0; over <= 1; over++) { /* 100, then 101 header lines */
        char *w = raw + sprintf(raw, "GET / HTTP/1.1\r\nHost: h\r\n");
        for (int i = 1; i < 100 + over; i++)
            w += sprintf(w, "X-%d: %d\r\n", i, i);
        w += sprintf(w, "\r\n");
        row_t r = {.name = over ? "101 header lines" : "100 header lines", .raw = raw,
                   .len = (size_t)(w - raw), .result = over ? XPS_E_INVAL : XPS_OK,
                   .status = over ? 431 : 0};
        r.headers = over ? 0 : N(100);
        run_head(&r);
    }
    test_free(raw);
}

/* The chunk-size line bound (XPS_HTTP_CHUNK_LINE_MAX, 1 KiB) and the
 * per-body extension bound (XPS_HTTP_CHUNK_EXT_MAX, 16 KiB) at and one byte
 * over their edges, and an 8,000-byte extension; fed the same four ways. */
/* Appends a chunk of one data byte 'x' whose extension is ";" and n-1
 * bytes of name: n bytes of extension, a line of n + 1 bytes. */
static char *ext_chunk_into(char *w, size_t n)
{
    *w++ = '1';
    *w++ = ';';
    w = repeat_into(w, 'a', n - 1);
    memcpy(w, "\r\nx\r\n", 5);
    return w + 5;
}

static void chunk_limits_at_their_real_sizes(void **state)
{
    (void)state;
    assert_int_equal(XPS_HTTP_CHUNK_LINE_MAX, 1024);
    assert_int_equal(XPS_HTTP_CHUNK_EXT_MAX, 16384);
    char *raw = test_malloc(20000);
    static const struct {
        const char *name;
        size_t chunks;   /* chunks with an extension of XPS_HTTP_CHUNK_LINE_MAX - 1 bytes... */
        size_t last_ext; /* ...then one with this many bytes of extension */
        bool ok;
    } cases[] = {
        {"chunk-size line of 1024 bytes", 0, 1023, true},
        {"chunk-size line of 1025 bytes", 0, 1024, false},
        {"an 8,000-byte extension", 0, 8000, false},
        {"16384 extension bytes in one body", 16, 16, true},
        {"16385 extension bytes in one body", 16, 17, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *w = raw + sprintf(raw, "POST / HTTP/1.1\r\nHost: h\r\n"
                                     "Transfer-Encoding: chunked\r\n\r\n");
        for (size_t c = 0; c < cases[i].chunks; c++)
            w = ext_chunk_into(w, XPS_HTTP_CHUNK_LINE_MAX - 1);
        w = ext_chunk_into(w, cases[i].last_ext);
        memcpy(w, "0\r\n\r\n", 5);
        char data[32] = "";
        memset(data, 'x', cases[i].chunks + 1);
        row_t r = {.name = cases[i].name, .raw = raw, .len = (size_t)(w + 5 - raw),
                   .result = XPS_OK};
        if (cases[i].ok) {
            r.body_result = XPS_OK, r.data = data, r.leftover = N(0);
        } else {
            r.body_result = XPS_E_INVAL, r.body_status = 400;
            r.body_reason = cases[i].chunks ? "extensions over 16384" : "longer than 1024";
        }
        run_rows(&r, 1);
    }
    test_free(raw);
}

/* ------------------------------------------------------ path normaliser */

typedef struct path_row {
    const char *raw;  /* the raw path, as in the request */
    int rc;           /* XPS_OK, XPS_E_PERMISSION or XPS_E_INVAL */
    const char *want; /* XPS_OK: the result */
} path_row_t;

static const path_row_t path_rows[] = {
    {"", XPS_OK, "/"},
    {"/", XPS_OK, "/"},
    {"/a/b", XPS_OK, "/a/b"},
    {"/a/b/", XPS_OK, "/a/b/"},
    {"//a///b//", XPS_OK, "/a/b/"},
    {"/a/./b", XPS_OK, "/a/b"},
    {"/a/.", XPS_OK, "/a/"},
    {"/.", XPS_OK, "/"},
    {"/./", XPS_OK, "/"},
    {"/a/b/..", XPS_OK, "/a/"},
    {"/a/b/../c", XPS_OK, "/a/c"},
    {"/a/b/../../c", XPS_OK, "/c"},
    {"/a/..", XPS_OK, "/"},
    {"/a/../", XPS_OK, "/"},
    {"/a/b/../../../c", XPS_E_PERMISSION, NULL},
    {"/..", XPS_E_PERMISSION, NULL},
    {"/../a", XPS_E_PERMISSION, NULL},
    {"/./../a", XPS_E_PERMISSION, NULL},
    {"/a/../../", XPS_E_PERMISSION, NULL},
    {"/%2e%2e/a", XPS_E_PERMISSION, NULL},
    {"/%2E%2e", XPS_E_PERMISSION, NULL},
    {"/a/%2E%2e/%2e%2E/b", XPS_E_PERMISSION, NULL},
    {"/a%2f..%2f..%2fb", XPS_E_PERMISSION, NULL},
    {"/a%2F..%2Fb", XPS_OK, "/b"},
    {"/a%2Fb", XPS_OK, "/a/b"},
    {"/.%2e/x", XPS_E_PERMISSION, NULL},
    {"/...", XPS_OK, "/..."},
    {"/a/.../b", XPS_OK, "/a/.../b"},
    {"/.a/..b/c..", XPS_OK, "/.a/..b/c.."},
    {"/a\\..\\b", XPS_OK, "/a\\..\\b"},
    {"/a%20b", XPS_OK, "/a b"},
    {"/caf%C3%A9", XPS_OK, "/caf\xc3\xa9"},
    {"/100%25", XPS_OK, "/100%"},
    {"/%252e%252e/x", XPS_OK, "/%2e%2e/x"}, /* decoded once, not twice */
    {"/a%00b", XPS_E_INVAL, NULL},
    {"/a%0a", XPS_E_INVAL, NULL},
    {"/a%7F", XPS_E_INVAL, NULL},
    {"/a%", XPS_E_INVAL, NULL},
    {"/a%4", XPS_E_INVAL, NULL},
    {"/a%zz", XPS_E_INVAL, NULL},
    {"/a%2", XPS_E_INVAL, NULL},
    {"a/b", XPS_OK, "/a/b"},
};

static void path_normaliser_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof path_rows / sizeof path_rows[0]; i++) {
        const path_row_t *r = &path_rows[i];
        size_t len = strlen(r->raw);
        const char *raw = at_guard(r->raw, len); /* no NUL after it: must not be needed */
        char out[128];
        memset(out, '#', sizeof out);
        size_t out_len = 999;
        int rc = xps_http_path_normalize(raw, len, out, len + 2, &out_len);
        if (rc != r->rc) {
            print_error("path \"%s\": returned %d, expected %d\n", r->raw, rc, r->rc);
            fail();
        }
        if (rc == XPS_OK && (strcmp(out, r->want) != 0 || out_len != strlen(r->want))) {
            print_error("path \"%s\": \"%s\" (%zu), expected \"%s\"\n", r->raw, out, out_len, r->want);
            fail();
        }
        if (rc == XPS_OK && strlen(r->want) > 1) { /* one byte too few: refused, not cut */
            assert_int_equal(xps_http_path_normalize(raw, len, out, strlen(r->want), &out_len),
                             XPS_E_LIMIT);
        }
    }
    char out[4];
    size_t out_len;
    assert_int_equal(xps_http_path_normalize("/", 1, out, 1, &out_len), XPS_E_LIMIT);
    assert_int_equal(xps_http_path_normalize("/", 1, out, 2, &out_len), XPS_OK);
    assert_string_equal(out, "/");
}

/* Random paths made of the pieces that matter: whatever the input, the
 * result is absolute, has no "." or ".." segment and no "//", or the input
 * is refused. 20000 inputs; the seed is fixed so a failure is repeatable. */
static void path_normaliser_never_climbs(void **state)
{
    (void)state;
    static const char *pieces[] = {"/", "a", "b", ".", "..", "%2e", "%2E%2e", "%2f", "%2F",
                                   "//", "x.", ".y"};
    unsigned seed = 12345;
    char raw[128], out[160];
    for (int t = 0; t < 20000; t++) {
        size_t len = 0;
        int count = 1 + (int)(rand_r(&seed) % 12);
        for (int i = 0; i < count; i++) {
            const char *piece = pieces[rand_r(&seed) % (sizeof pieces / sizeof pieces[0])];
            memcpy(raw + len, piece, strlen(piece));
            len += strlen(piece);
        }
        raw[len] = '\0';
        size_t out_len;
        int rc = xps_http_path_normalize(raw, len, out, sizeof out, &out_len);
        if (rc == XPS_E_PERMISSION)
            continue;
        if (rc != XPS_OK || out[0] != '/' || strstr(out, "//") || strstr(out, "/../") ||
            strstr(out, "/./") || (out_len >= 2 && strcmp(out + out_len - 2, "/.") == 0) ||
            (out_len >= 3 && strcmp(out + out_len - 3, "/..") == 0)) {
            print_error("path \"%s\" gave %d, \"%s\"\n", raw, rc, out);
            fail();
        }
    }
}

/* ------------------------------------------------------------ helpers */

static void helpers_compare_and_find_without_regard_to_case(void **state)
{
    (void)state;
    const char buf[] = "keep-alive , Upgrade,,close\tTE";
    xps_http_slice_t list = {0, 28};
    assert_true(xps_http_list_has_token(buf, list, "upgrade"));
    assert_true(xps_http_list_has_token(buf, list, "KEEP-ALIVE"));
    assert_true(xps_http_list_has_token(buf, list, "close"));
    assert_false(xps_http_list_has_token(buf, list, "keep"));
    assert_false(xps_http_list_has_token(buf, list, "TE"));
    assert_false(xps_http_list_has_token(buf, (xps_http_slice_t){0, 0}, "close"));
    assert_true(xps_http_slice_iequals(buf, (xps_http_slice_t){13, 7}, "uPGRADE"));
    assert_false(xps_http_slice_iequals(buf, (xps_http_slice_t){13, 7}, "upgrades"));
    assert_false(xps_http_slice_iequals(buf, (xps_http_slice_t){13, 7}, "upgrad"));
    assert_true(xps_http_slice_iequals("@", (xps_http_slice_t){0, 1}, "@"));
    assert_false(xps_http_slice_iequals("@", (xps_http_slice_t){0, 1}, "`")); /* not letters */

    const char req[] = "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: 2\r\nX-B: 3\r\n\r\n";
    xps_http_parser_t *p = xps_http_parser_create(NULL);
    assert_int_equal(xps_http_parser_parse_head(p, req, strlen(req)), XPS_OK);
    const xps_http_head_t *h = xps_http_parser_head(p);
    const xps_http_header_t *a1 = xps_http_head_find(h, req, "x-A", NULL);
    const xps_http_header_t *a2 = xps_http_head_find(h, req, "X-a", a1);
    assert_non_null(a1);
    assert_non_null(a2);
    assert_memory_equal(req + a1->value.offset, "1", 1);
    assert_memory_equal(req + a2->value.offset, "2", 1);
    assert_memory_equal(req + a2->name.offset, "x-a", 3); /* the name as sent */
    assert_null(xps_http_head_find(h, req, "x-a", a2));
    assert_null(xps_http_head_find(h, req, "x", NULL));
    xps_http_parser_destroy(p);
}

/* ------------------------------------------------------------ lifecycle */

static void create_refuses_zero_limits_and_destroy_accepts_null(void **state)
{
    (void)state;
    xps_http_limits_t l = xps_http_default_limits();
    l.max_headers = 0;
    assert_null(xps_http_parser_create(&l));
    l = xps_http_default_limits();
    l.max_head = 0;
    assert_null(xps_http_parser_create(&l));
    xps_http_parser_destroy(NULL);
    xps_http_parser_t *p = xps_http_parser_create(NULL);
    assert_non_null(p);
    assert_null(xps_http_parser_head(p));
    assert_int_equal(xps_http_parser_status(p), XPS_HTTP_STATUS_NONE);
    assert_string_equal(xps_http_parser_reason(p), "");
    xps_http_parser_destroy(p);
}

/* Two pipelined requests on one connection: the first's body ends where
 * the second begins; reset, and parse the second from there. A refused
 * request, reset, leaves nothing behind either. */
static void reset_parses_the_next_request_on_the_connection(void **state)
{
    (void)state;
    const char wire[] = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
                        "GET /b?x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    size_t n = sizeof wire - 1;
    xps_http_parser_t *p = xps_http_parser_create(NULL);
    assert_int_equal(xps_http_parser_parse_head(p, wire, n), XPS_OK);
    const xps_http_head_t *h = xps_http_parser_head(p);
    assert_int_equal(h->method, XPS_HTTP_METHOD_POST);
    size_t at = h->head_length, used;
    xps_http_slice_t data;
    assert_int_equal(xps_http_parser_parse_body(p, wire + at, n - at, &used, &data), XPS_E_NEXT);
    assert_memory_equal(wire + at + data.offset, "abc", 3);
    at += used;
    assert_int_equal(xps_http_parser_parse_body(p, wire + at, n - at, &used, &data), XPS_OK);
    assert_int_equal(used, 0);

    xps_http_parser_reset(p);
    assert_null(xps_http_parser_head(p));
    assert_int_equal(xps_http_parser_parse_head(p, wire + at, n - at), XPS_OK);
    h = xps_http_parser_head(p);
    assert_int_equal(h->method, XPS_HTTP_METHOD_GET);
    assert_int_equal(h->header_count, 2);
    assert_memory_equal(wire + at + h->path.offset, "/b", 2);
    assert_false(h->keep_alive);
    assert_int_equal(h->head_length, n - at);
    assert_int_equal(xps_http_parser_parse_body(p, wire + n, 0, &used, &data), XPS_OK);

    xps_http_parser_reset(p);
    assert_int_equal(xps_http_parser_parse_head(p, "GET / HTTP/9.9\r\n", 16), XPS_E_INVAL);
    assert_int_equal(xps_http_parser_status(p), 505);
    xps_http_parser_reset(p);
    assert_int_equal(xps_http_parser_status(p), XPS_HTTP_STATUS_NONE);
    assert_int_equal(xps_http_parser_parse_head(p, "GET / HTTP/1.0\r\n\r\n", 18), XPS_OK);
    assert_int_equal(xps_http_parser_head(p)->header_count, 0);
    xps_http_parser_destroy(p);
}

/* Decodes a body with start_body (no head), fed in two pieces cut at
 * `cut`; returns the last code, the data and the bytes consumed. */
static int body_without_head(int kind, uint64_t length, const char *in, size_t cut, char *data,
                             size_t *consumed)
{
    xps_http_limits_t l = xps_http_default_limits();
    l.max_body = UINT64_MAX; /* a response may be as long as it likes */
    xps_http_parser_t *p = xps_http_parser_create(&l);
    assert_non_null(p);
    xps_http_parser_start_body(p, kind, length);
    size_t len = strlen(in), at = 0, n = 0;
    int rc = XPS_E_AGAIN;
    for (size_t end = cut; rc == XPS_E_AGAIN || rc == XPS_E_NEXT; end = len) {
        do {
            size_t used = 0;
            xps_http_slice_t d;
            rc = xps_http_parser_parse_body(p, in + at, end - at, &used, &d);
            memcpy(data + n, in + at + d.offset, d.length);
            n += d.length, at += used;
        } while (rc == XPS_E_NEXT);
        if (end == len)
            break;
    }
    data[n] = '\0';
    *consumed = at;
    xps_http_parser_destroy(p);
    return rc;
}

/* start_body: the body decoder for a message whose head was read
 * elsewhere (a proxied response), with the strict chunked rules. */
static void start_body_decodes_a_body_whose_head_was_read_elsewhere(void **state)
{
    (void)state;
    static const struct {
        int kind;
        uint64_t length;
        const char *in, *data; /* data: NULL for a refusal */
        size_t consumed;       /* where the next message starts */
    } rows[] = {
        {XPS_HTTP_BODY_CHUNKED, 0, "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nHTTP/1.1 200 OK",
         "hello world", 26},
        {XPS_HTTP_BODY_CHUNKED, 0, "5\r\nhello\r\n0\r\nX-T: 1\r\n\r\nnext", "hello", 23},
        {XPS_HTTP_BODY_LENGTH, 5, "helloNEXT", "hello", 5},
        {XPS_HTTP_BODY_CHUNKED, 0, "5\nhello\r\n0\r\n\r\n", NULL, 0},
        {XPS_HTTP_BODY_CHUNKED, 0, "5\r\nhello\n0\r\n\r\n", NULL, 0},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        size_t len = strlen(rows[i].in);
        for (size_t cut = 0; cut <= len; cut++) {
            char data[64];
            size_t consumed = 0;
            int rc = body_without_head(rows[i].kind, rows[i].length, rows[i].in, cut, data,
                                       &consumed);
            if (!rows[i].data ? rc != XPS_E_INVAL
                              : rc != XPS_OK || strcmp(data, rows[i].data) != 0 ||
                                    consumed != rows[i].consumed)
                fail_msg("row %zu cut at %zu: rc %d, data \"%s\", consumed %zu", i, cut, rc, data,
                         consumed);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(request_line_rows_at_every_split),
        cmocka_unit_test(header_rows_at_every_split),
        cmocka_unit_test(framing_rows_at_every_split),
        cmocka_unit_test(chunked_rows_at_every_split),
        cmocka_unit_test(limit_rows_at_every_split),
        cmocka_unit_test(incomplete_rows_ask_for_more),
        cmocka_unit_test(default_limits_at_their_real_sizes),
        cmocka_unit_test(chunk_limits_at_their_real_sizes),
        cmocka_unit_test(path_normaliser_table),
        cmocka_unit_test(path_normaliser_never_climbs),
        cmocka_unit_test(helpers_compare_and_find_without_regard_to_case),
        cmocka_unit_test(create_refuses_zero_limits_and_destroy_accepts_null),
        cmocka_unit_test(reset_parses_the_next_request_on_the_connection),
        cmocka_unit_test(start_body_decodes_a_body_whose_head_was_read_elsewhere),
    };
    return cmocka_run_group_tests_name("http_parser", tests, map_arena, unmap_arena);
}
