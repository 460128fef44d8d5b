/*
 * tests/stages/stage_20.c — black-box checks for stage 20 (caching).
 *
 * Scaffolded by `make new-stage`. Say here how the binary is started
 * (its arguments, its fixture) and list what is checked.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "tests/support/harness.h"

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

/* Replace with this stage's own checks (see tests/stages/ for models). */
static void checks_the_stages_own_behaviour(void **state)
{
    (void)state;
    xt_fail("stage 20 has no checks of its own yet: write them in tests/stages/stage_20.c");
}

int main(void)
{
    const struct CMUnitTest checks[] = {
        XT_CHECK(prints_its_usage_with_help),
        XT_CHECK(checks_the_stages_own_behaviour),
    };
    return xt_run_checks("stage 20 (caching)", checks);
}
