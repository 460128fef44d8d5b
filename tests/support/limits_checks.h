/*
 * tests/support/limits_checks.h — stage 18's checks (rate limits, timeouts
 * and limits: limits_checks.c), for stage 18 and every stage after it.
 *
 * The binary runs in a copy of `fixture`, which holds stage 18's configs
 * (tests/fixtures/stage-18: config.json, tight.json, cap.json). The
 * checks measure the process that serves (xt_serving_pid): a stage 21
 * master's only worker when the configs say nothing of "workers".
 *
 * Use: XT_STAGE18_CHECKS_ON(fixture) once at file scope defines a CMocka
 * check per function below, named as in stage 18's report;
 * XT_STAGE18_CHECK_LIST, inside the stage's array of checks, lists them.
 */
#ifndef XPS_TESTS_LIMITS_CHECKS_H
#define XPS_TESTS_LIMITS_CHECKS_H

#include "tests/support/harness.h"

#ifdef __cplusplus
extern "C" {
#endif

void xt_limits_check_rate_limit_answers_429_after_the_burst_with_retry_after(const char *fixture);
void xt_limits_check_buckets_refill_at_their_rate(const char *fixture);
void xt_limits_check_buckets_are_per_address_and_per_route(const char *fixture);
void xt_limits_check_a_spray_of_addresses_stays_within_the_bucket_cap(const char *fixture);
void xt_limits_check_a_slow_head_gets_408_and_the_connection_closes(const char *fixture);
void xt_limits_check_an_idle_kept_connection_is_closed_quietly(const char *fixture);
void xt_limits_check_a_client_that_stops_reading_is_closed_at_send_ms(const char *fixture);
void xt_limits_check_an_upstream_that_never_answers_gets_504(const char *fixture);
void xt_limits_check_an_upstream_that_never_accepts_gets_504(const char *fixture);
void xt_limits_check_a_stall_after_the_first_byte_closes_both_sides(const char *fixture);
void xt_limits_check_max_connections_closes_the_extra_one_and_serves_the_others(const char *fixture);
void xt_limits_check_a_head_over_max_header_bytes_gets_431(const char *fixture);
void xt_limits_check_a_body_over_max_body_bytes_gets_413_and_never_goes_up_whole(const char *fixture);
void xt_limits_check_a_thousand_slow_connections_do_not_stop_a_normal_client(const char *fixture);

/* Defines the stage's check `name` as xt_limits_check_<name>(fixture). */
#define XT_LIMITS_CHECK_ON(name, fixture) \
    static void name(void **state)         \
    {                                      \
        (void)state;                       \
        xt_limits_check_##name(fixture);   \
    }

/* Every stage 18 check, defined for `fixture`. */
#define XT_STAGE18_CHECKS_ON(fixture) \
    XT_LIMITS_CHECK_ON(rate_limit_answers_429_after_the_burst_with_retry_after, fixture) \
    XT_LIMITS_CHECK_ON(buckets_refill_at_their_rate, fixture) \
    XT_LIMITS_CHECK_ON(buckets_are_per_address_and_per_route, fixture) \
    XT_LIMITS_CHECK_ON(a_spray_of_addresses_stays_within_the_bucket_cap, fixture) \
    XT_LIMITS_CHECK_ON(a_slow_head_gets_408_and_the_connection_closes, fixture) \
    XT_LIMITS_CHECK_ON(an_idle_kept_connection_is_closed_quietly, fixture) \
    XT_LIMITS_CHECK_ON(a_client_that_stops_reading_is_closed_at_send_ms, fixture) \
    XT_LIMITS_CHECK_ON(an_upstream_that_never_answers_gets_504, fixture) \
    XT_LIMITS_CHECK_ON(an_upstream_that_never_accepts_gets_504, fixture) \
    XT_LIMITS_CHECK_ON(a_stall_after_the_first_byte_closes_both_sides, fixture) \
    XT_LIMITS_CHECK_ON(max_connections_closes_the_extra_one_and_serves_the_others, fixture) \
    XT_LIMITS_CHECK_ON(a_head_over_max_header_bytes_gets_431, fixture) \
    XT_LIMITS_CHECK_ON(a_body_over_max_body_bytes_gets_413_and_never_goes_up_whole, fixture) \
    XT_LIMITS_CHECK_ON(a_thousand_slow_connections_do_not_stop_a_normal_client, fixture)

/* Every stage 18 check, for the stage's array of checks. */
#define XT_STAGE18_CHECK_LIST \
    XT_CHECK(rate_limit_answers_429_after_the_burst_with_retry_after), \
    XT_CHECK(buckets_refill_at_their_rate), \
    XT_CHECK(buckets_are_per_address_and_per_route), \
    XT_CHECK(a_spray_of_addresses_stays_within_the_bucket_cap), \
    XT_CHECK(a_slow_head_gets_408_and_the_connection_closes), \
    XT_CHECK(an_idle_kept_connection_is_closed_quietly), \
    XT_CHECK(a_client_that_stops_reading_is_closed_at_send_ms), \
    XT_CHECK(an_upstream_that_never_answers_gets_504), \
    XT_CHECK(an_upstream_that_never_accepts_gets_504), \
    XT_CHECK(a_stall_after_the_first_byte_closes_both_sides), \
    XT_CHECK(max_connections_closes_the_extra_one_and_serves_the_others), \
    XT_CHECK(a_head_over_max_header_bytes_gets_431), \
    XT_CHECK(a_body_over_max_body_bytes_gets_413_and_never_goes_up_whole), \
    XT_CHECK(a_thousand_slow_connections_do_not_stop_a_normal_client)

#ifdef __cplusplus
}
#endif

#endif /* XPS_TESTS_LIMITS_CHECKS_H */
