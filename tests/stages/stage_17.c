/*
 * tests/stages/stage_17.c — black-box checks for stage 17 (load-balancing).
 *
 * The binary under test ($XPS_STAGE_BIN) is started with ONE argument,
 * "config.json", in a scratch working directory holding a copy of
 * tests/fixtures/stage-17: stage 14's config exactly (stage 13's four
 * servers on 8001-8004, the filtered 8005-8009 and [::1]:8010, so every
 * stage 13 and stage 14 check runs again, below), and before them, so that
 * they listen once 8001-8004 do, five reverse_proxy servers over the same
 * three test upstreams, 127.0.0.1:3101, 3102 and 3103 (test-upstream in
 * http mode, started by each check; GET /whoami names the port that
 * answered):
 *
 *     8021  round_robin (the default), max_fails 1, fail_timeout_ms 10000
 *     8022  least_connections
 *     8023  ip_hash
 *     8024  round_robin, fail_timeout_ms 1000
 *     8025  round_robin, fail_timeout_ms 600000, health_check
 *           {path "/whoami", interval_ms 100}
 *
 * What is checked:
 *  - 30 requests over 3 upstreams → 10/10/10 with round_robin;
 *  - least_connections sends nothing to an upstream busy with a slow
 *    response while the other two are idle (6/6 over them), and all three
 *    again once it is done;
 *  - ip_hash: 127.0.0.1 keeps one upstream and so does 127.0.0.2, eight
 *    client addresses use more than one upstream, and when 127.0.0.1's
 *    upstream is killed its requests all go to one other upstream;
 *  - failover: an upstream killed (SIGKILL) in the middle of 60 requests
 *    costs the client nothing: 60 answers of 200, none from it after;
 *  - all upstreams down: 502 at once (under 500 ms), and while they are
 *    down not even a connect is tried (a listener put on 3101 is not
 *    contacted); the server keeps serving;
 *  - a downed upstream comes back: passively once fail_timeout_ms has
 *    passed (not before), actively through health_check long before its
 *    fail_timeout_ms;
 *  - every stage 14 check (tests/support/ipfilter_checks.h) and every
 *    stage 13 check (tests/support/http11_checks.h).
 *
 * The checks themselves are in tests/support/balancer_checks.c, shared
 * with the stages after this one.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tests/support/balancer_checks.h"
#include "tests/support/dirlist_checks.h"
#include "tests/support/gzip_checks.h"
#include "tests/support/harness.h"
#include "tests/support/http11_checks.h"
#include "tests/support/ipfilter_checks.h"

static const char FIXTURE[] = "tests/fixtures/stage-17";

/* This stage's checks; every stage 16 and 15 check, on stage 16's fixture
 * (which this stage serves as stage 16 does); every stage 14 and 13 check
 * on this stage's (8001-8010 as stage 14's). */
XT_STAGE17_CHECKS_ON(FIXTURE)
XT_STAGE16_CHECKS_ON("tests/fixtures/stage-16")
XT_STAGE15_CHECKS_ON("tests/fixtures/stage-16")
XT_STAGE14_CHECKS_ON(FIXTURE)
XT_STAGE13_CHECKS_ON(FIXTURE)

int main(void)
{
    const struct CMUnitTest checks[] = {
        XT_STAGE17_CHECK_LIST,
        XT_STAGE16_CHECK_LIST,
        XT_STAGE15_CHECK_LIST,
        XT_STAGE14_CHECK_LIST,
        XT_STAGE13_CHECK_LIST,
    };
    return xt_run_checks("stage 17 (load-balancing)", checks);
}
