/*
 * tests/stages/stage_18.c — black-box checks for stage 18 (rate limits,
 * timeouts and limits).
 *
 * The checks of its own are in tests/support/limits_checks.c (later
 * stages run them again). The binary under test ($XPS_STAGE_BIN) runs in
 * a scratch copy of
 * tests/fixtures/stage-18, with one of its configs as its one argument:
 *
 *   config.json  stage 15's config exactly, without "timeouts" or
 *                "limits": stage 18's DEFAULTS guard it, and every stage
 *                15, 14 and 13 check runs again on it (below) — the
 *                defaults must not cut any of them short;
 *   tight.json   timeouts of 1 s each, max_header_bytes 4096,
 *                max_body_bytes 1024, max_connections 3000:
 *                  8101 files, with rate_limit on /a.txt and /b.txt
 *                       ({rate 2, burst 3}) and /digits.txt ({0.2, 1});
 *                  8102 reverse_proxy to 127.0.0.1:3000 (the check plays
 *                       the upstream: silent, or stalling);
 *                  8103 reverse_proxy to 127.0.0.1:3001 (a listener whose
 *                       backlog the check has filled: it never accepts);
 *   cap.json     max_connections 4, files on 8101.
 *
 * What is checked:
 *  - 429 after the burst, with the Retry-After the bucket implies (1 s at
 *    2/s; 5 s at 0.2/s), and the bucket refills at its rate;
 *  - buckets are per address (127.0.0.2 still served) and per route;
 *  - a spray of 22,000 source addresses with --max-buckets 1000 does not
 *    grow the server's RSS by 1 MiB (22,000 buckets would be over 2 MiB);
 *  - a slow head (a slowloris) gets 408 at header_read_ms, and so does a
 *    connection that sends nothing; the connection closes after it;
 *  - a kept-alive connection left idle is closed quietly at keepalive_ms;
 *  - a client that stops reading a big file is closed at send_ms while
 *    another client is served at once;
 *  - 504 for an upstream that accepts and never answers, and for one that
 *    never accepts (connect timeout); after the first byte, a stall
 *    closes both the client's and the upstream's connection;
 *  - max_connections: the fifth connection is closed at once, unanswered,
 *    while the four open ones are served, and a place freed is reused;
 *  - 431 for a head over max_header_bytes; 413 for a declared body over
 *    max_body_bytes (file and proxy routes; the upstream is not
 *    contacted) and for a chunked body that grows past it (the upstream
 *    never sees the body end);
 *  - 1,000 slow connections at once: a normal client keeps being served
 *    (every request under 250 ms) and all 1,000 get 408 within a bound.
 *  - then every stage 15, 14 and 13 check (dirlist_checks.h,
 *    ipfilter_checks.h, http11_checks.h) on config.json.
 * All but the shared checks start the binary with a config of their own,
 * so they are skipped in the course's layout.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "tests/support/balancer_checks.h"
#include "tests/support/dirlist_checks.h"
#include "tests/support/gzip_checks.h"
#include "tests/support/harness.h"
#include "tests/support/http11_checks.h"
#include "tests/support/ipfilter_checks.h"
#include "tests/support/limits_checks.h"

static const char FIXTURE[] = "tests/fixtures/stage-18";

/* ------------------------------------------------------------- shared */

XT_STAGE17_CHECKS_ON("tests/fixtures/stage-17") /* served as stage 17 does */
XT_STAGE16_CHECKS_ON("tests/fixtures/stage-16")
XT_STAGE18_CHECKS_ON(FIXTURE)
XT_STAGE15_CHECKS_ON(FIXTURE)
XT_STAGE14_CHECKS_ON(FIXTURE)
XT_STAGE13_CHECKS_ON(FIXTURE)

static void prints_its_usage_with_help(void **state)
{
    (void)state;
    const char *args[] = {"--help", NULL};
    xt_proc_t *p = xt_start_stage(args, NULL);
    int status = 0;
    bool exited = xt_wait_exit(p, 5000, &status);
    char *out = xt_stdout(p);
    xt_expect(exited && WIFEXITED(status) && WEXITSTATUS(status) == 0 && strstr(out, "usage: "),
              "--help: exit 0 and a usage line", "%s, stdout %s", xt_status_text(status),
              xt_quote(out, strlen(out)));
    free(out);
}

int main(void)
{
    const struct CMUnitTest checks[] = {
        XT_CHECK(prints_its_usage_with_help),
        XT_STAGE18_CHECK_LIST,
        XT_STAGE17_CHECK_LIST,
        XT_STAGE16_CHECK_LIST,
        XT_STAGE15_CHECK_LIST,
        XT_STAGE14_CHECK_LIST,
        XT_STAGE13_CHECK_LIST,
    };
    return xt_run_checks("stage 18 (rate-limit-timeout)", checks);
}
