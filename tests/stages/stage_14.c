/*
 * tests/stages/stage_14.c — black-box checks for stage 14 (ip-filter).
 *
 * The binary under test ($XPS_STAGE_BIN) is started with ONE argument,
 * "config.json", in a scratch working directory holding a copy of
 * tests/fixtures/stage-14: stage 13's four servers on 8001-8004, exactly
 * (so every stage 13 check runs again, below), and before them, so that
 * they listen once 8001-8004 do, the filtered servers. Each of 8005-8007
 * has the three route types with the same list: "/" file_serve from
 * public/, "/go" a 302, "/api" a reverse_proxy to 127.0.0.1:3000:
 *
 *     8005  ip_whitelist ["127.0.0.1", "::1"]
 *     8006  ip_blacklist ["127.0.0.2"]
 *     8007  ip_whitelist ["127.0.0.0/8"], ip_blacklist ["127.0.0.2"]
 *     8008  "/" file_serve, ip_whitelist ["1.1.1.1"]: nobody here
 *     8009  "/" file_serve open to all; "/docs" and "/api" for 127.0.0.1, ::1
 *     [::1]:8010  "/" whitelist ::1; "/docs" whitelist 127.0.0.0/8; "/b.txt"
 *           blacklist ::1; "/go" blacklist ::/0; "/api" whitelist ::1/128
 *
 * Every 127.x.y.z address is this machine (127.0.0.0/8 is loopback), so a
 * check plays other clients by binding its socket to 127.0.0.2 or
 * 127.0.0.3 before connecting, as `curl --interface 127.0.0.2` does.
 * What is checked:
 *  - the course's milestone, with curl: 127.0.0.1 gets 200 where
 *    127.0.0.2 gets 403 (whitelist, blacklist), and both 403 where only
 *    1.1.1.1 is listed;
 *  - a table of (server, client address, route type) → 200 / 302 / 403:
 *    whitelist only, blacklist only, both (whitelisted and blacklisted is
 *    refused, whitelisted and not blacklisted allowed), for a file, a
 *    redirect and the proxy; a refused client gets 403 for a missing file
 *    and for a folder's 301 too: it learns nothing of the route;
 *  - IPv6: ::1 on a [::1] listener, allowed and refused per entry (::1,
 *    ::1/128, ::/0, an IPv4-only whitelist);
 *  - nothing of a refused request reaches the upstream: after refused
 *    requests to three proxy routes, the first allowed one is the strict
 *    upstream's connection 1, request 1, and its log holds that one only;
 *  - nothing of a refused request opens a file: inotify on public/ sees
 *    no open while 403s go out, then sees the allowed request's open;
 *  - a 403 keeps the connection, and pipelined requests mixing refused
 *    and allowed routes are answered in order;
 *  - a refused request with a body (Content-Length or chunked) whose body
 *    is a request is answered 403 and the connection closed: the body is
 *    never parsed as a request, and never reaches the upstream;
 *  - a bad entry ("10.0.0.0/33", "nonsense") stops the server before it
 *    listens, naming the file, the JSON path and why;
 *  - every stage 13 check (tests/support/http11_checks.h), on this
 *    fixture's 8001-8004.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tests/support/harness.h"
#include "tests/support/http11_checks.h"
#include "tests/support/ipfilter_checks.h"

static const char FIXTURE[] = "tests/fixtures/stage-14";

/* The checks of this stage (tests/support/ipfilter_checks.c, shared with
 * the stages after it), and every stage 13 check, on this fixture. */
XT_STAGE14_CHECKS_ON(FIXTURE)
XT_STAGE13_CHECKS_ON(FIXTURE)

int main(void)
{
    const struct CMUnitTest checks[] = {
        XT_STAGE14_CHECK_LIST,
        XT_STAGE13_CHECK_LIST,
    };
    return xt_run_checks("stage 14 (ip-filter)", checks);
}
