/*
 * tests/stages/stage_20.c — black-box checks for stage 20 (caching).
 *
 * The checks themselves are in tests/support/cache_checks.c (stage 21
 * runs them again). The binary under test ($XPS_STAGE_BIN) runs in a scratch copy of
 * tests/fixtures/stage-20 with cache.json: the cache in "cache" (the
 * scratch folder's), max_bytes 1 MiB, and
 *   8201 reverse_proxy to test-upstream on 127.0.0.1:3000 with "cache"
 *        (lock_timeout_ms 2000); /cache-count there is not cached;
 *   8202 the same with gzip on (gzip_min_length 0).
 * test-upstream's /cache/CC/TAG[?options] (tests/support/upstream.h) sends
 * Cache-Control: CC and a body "response K ..." where K counts the
 * upstream's /cache/ requests, so a body tells whether it came from the
 * cache (the same K) or the upstream (a new one); /cache-count says K.
 *
 * What is checked:
 *  - MISS then HIT with the same body and an Age that grows; HEAD is
 *    answered from GET's entry; keep-alive goes on after a hit;
 *  - max-age expiry: EXPIRED; with an ETag the upstream is asked with
 *    If-None-Match, its 304 refreshes the entry (the old body, then HIT);
 *    without one the stale entry is fetched again (a new body);
 *  - no-store, private and Set-Cookie responses are never stored;
 *  - a request with Authorization is not answered from an entry that does
 *    not allow it (BYPASS) and does not store; with `public` it is a HIT;
 *  - Vary: Accept-Encoding keeps one variant per value;
 *  - max_bytes: the least recently used entry is evicted, the newest kept;
 *  - 20 concurrent misses for one key make ONE upstream request;
 *  - a hit is served with the upstream gone; a response cut short by the
 *    upstream (RST mid-body) leaves no entry;
 *  - gzip: a client that did not accept gzip never gets it from a hit;
 *  - a bad "cache" key is refused at start-up with its path.
 * Then stage 18's checks (tests/support/limits_checks.h) and stage 17's,
 * 16's, 15's, 14's and 13's, on the fixtures stage 18 runs them on.
 * Every check of its own starts the binary with cache.json, so they are
 * skipped in the course's layout.
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
#include "tests/support/cache_checks.h"
#include "tests/support/checks.h"
#include "tests/support/dirlist_checks.h"
#include "tests/support/gzip_checks.h"
#include "tests/support/harness.h"
#include "tests/support/http11_checks.h"
#include "tests/support/ipfilter_checks.h"
#include "tests/support/limits_checks.h"

/* ------------------------------------------------------------- shared */

XT_STAGE20_CHECKS_ON("tests/fixtures/stage-20")
XT_STAGE18_CHECKS_ON("tests/fixtures/stage-18")
XT_STAGE17_CHECKS_ON("tests/fixtures/stage-17")
XT_STAGE16_CHECKS_ON("tests/fixtures/stage-16")
XT_STAGE15_CHECKS_ON("tests/fixtures/stage-18")
XT_STAGE14_CHECKS_ON("tests/fixtures/stage-18")
XT_STAGE13_CHECKS_ON("tests/fixtures/stage-18")

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
        XT_STAGE20_CHECK_LIST,
        XT_STAGE18_CHECK_LIST,
        XT_STAGE17_CHECK_LIST,
        XT_STAGE16_CHECK_LIST,
        XT_STAGE15_CHECK_LIST,
        XT_STAGE14_CHECK_LIST,
        XT_STAGE13_CHECK_LIST,
    };
    return xt_run_checks("stage 20 (caching)", checks);
}
