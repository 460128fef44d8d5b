/*
 * tests/unit/args.c — core/xps_args.h: which last argument is the course
 * tester's configuration, as a table.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/xps_args.h"

static void the_course_config_is_a_last_non_flag_ending_in_json(void **state)
{
    (void)state;
    static const struct {
        int argc;
        const char *argv[4];
        int want;
    } rows[] = {
        {1, {"stage-05"}, 1},
        {2, {"stage-05", "/usr/src/public/xps_config.json"}, 1},
        {2, {"stage-05", "x.json"}, 1},
        {4, {"stage-07", "--base-port", "9001", "conf.json"}, 3},
        {3, {"stage-07", "conf.json", "--reverse"}, 3},  /* not last: a stray word */
        {2, {"stage-05", ".json"}, 2},                   /* no name before the suffix */
        {2, {"stage-05", "--x.json"}, 2},                /* a flag */
        {2, {"stage-05", "config.json5"}, 2},
        {2, {"stage-05", "config"}, 2},
        {3, {"stage-09", "--root", "public"}, 3},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        int got = xps_args_without_course_config(rows[i].argc, (char *const *)rows[i].argv);
        if (got != rows[i].want)
            fail_msg("row %zu (last \"%s\"): %d, want %d", i, rows[i].argv[rows[i].argc - 1], got,
                     rows[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_course_config_is_a_last_non_flag_ending_in_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
