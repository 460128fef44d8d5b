/*
 * tests/stages/stage_18.c — black-box checks for stage 18 (rate limits,
 * timeouts and limits).
 *
 * The binary under test ($XPS_STAGE_BIN) runs in a scratch copy of
 * tests/fixtures/stage-18. Stage 18's own checks (429 and Retry-After,
 * buckets per address and route and bounded in number, 408 for a slow or
 * silent head, the keep-alive and send timeouts, 504 for an upstream that
 * does not accept or answer, max_connections, 431 and 413, a thousand
 * slow connections beside a normal client) are in
 * tests/support/limits_checks.c, shared with stage 19; then every stage
 * 17 and 16 check on their fixtures and every stage 15, 14 and 13 check
 * (dirlist_checks.h, ipfilter_checks.h, http11_checks.h) on config.json.
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

XT_STAGE18_CHECKS_ON(FIXTURE)
XT_STAGE17_CHECKS_ON("tests/fixtures/stage-17") /* served as stage 17 does */
XT_STAGE16_CHECKS_ON("tests/fixtures/stage-16")
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
