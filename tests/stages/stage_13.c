/*
 * tests/stages/stage_13.c — black-box checks for stage 13 (http-spec).
 *
 * The binary under test ($XPS_STAGE_BIN) is started with ONE argument,
 * "config.json", in a scratch working directory holding a copy of
 * tests/fixtures/stage-13: stage 12's four servers (8001 file_serve from
 * public/ with "/redirect"; 8002 reverse_proxy to localhost:3000; 8003 a
 * redirect; 8004 no routes) and public/ with a.txt ("aaaa\n"), b.txt
 * ("bbbb\n") and digits.txt (100 bytes "0123456789" ten times).
 *
 * The checks themselves are tests/support/http11_checks.c (and
 * hardening_checks.c), shared with every later stage that keeps this
 * behaviour. What is checked (RFC sections in the chapter):
 *  - curl given two URLs uses ONE connection (curl -v says it re-used it)
 *    and leaves it open (RFC 9112 §9.3);
 *  - three requests sent in one write are answered in order, and
 *    "Connection: close" on the last one closes the connection after it;
 *  - HTTP/1.0: closed after the response unless the client asked for
 *    keep-alive, which is then echoed and honoured;
 *  - HEAD gets the GET's headers and no body; POST on a file gets 405 with
 *    Allow, and the connection goes on;
 *  - ETag and Last-Modified, and 304 for If-None-Match / If-Modified-Since,
 *    with If-None-Match taking precedence;
 *  - curl -r 0-9 gets 206 and 10 bytes; a range past the end gets 416 with
 *    "Content-Range: bytes *\/100"; several ranges get the whole file (200);
 *  - Expect: 100-continue on the proxy (8002, an echo upstream on 3000):
 *    "100 Continue" before the body is sent, then the body goes up; a
 *    Content-Length over the limit gets 413;
 *  - a response without Content-Length or Transfer-Encoding (the check
 *    plays an HTTP/1.0 upstream on 3000) reaches an HTTP/1.1 client as
 *    Transfer-Encoding: chunked whose chunks decode to the upstream's
 *    bytes, ending in the last-chunk; an HTTP/1.0 client gets the body
 *    close-delimited, as sent (RFC 9112 §6.3, §7.1);
 *  - 501 (unknown method), 505 (HTTP/2.0), 414 (long target), 431 (too
 *    many header lines); an absolute-form target, dot segments and
 *    percent-escapes resolve to the file; a path climbing above the root
 *    gets 403;
 *  - connection reuse, against the strict test upstream on 3000 (its
 *    X-Connection says which upstream connection answered): a client
 *    connection stays open after a proxied response; ten requests on it
 *    reach the upstream over one connection; three pipelined ones are
 *    answered in order; an upstream's "Connection: close" gets the next
 *    request a fresh connection; a GET whose reused connection the
 *    upstream closes unanswered is retried once on a fresh one, a POST
 *    never (502);
 *  - then the hardening checks of tests/support/hardening_checks.h, with
 *    the strict test upstream on 3000: no tunnel before the upstream's
 *    101 (and the WebSocket tunnel after it), loose chunked framing
 *    refused, framing forwarded as xps parsed it, '_' fields and fields
 *    named by Connection dropped, a folder's 301 only to this origin, a
 *    bounded pipeline for a client that never reads, If-Range, a 413 that
 *    survives an unread upload, OPTIONS *;
 *  - 1,000 idle kept connections cost under 1 KiB of RSS each, and 1,000
 *    requests on 50 kept connections under 100 page faults.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tests/support/harness.h"
#include "tests/support/http11_checks.h"

static const char FIXTURE[] = "tests/fixtures/stage-13";

XT_STAGE13_CHECKS_ON(FIXTURE)

int main(void)
{
    const struct CMUnitTest checks[] = {
        XT_STAGE13_CHECK_LIST,
    };
    return xt_run_checks("stage 13 (http-spec)", checks);
}
