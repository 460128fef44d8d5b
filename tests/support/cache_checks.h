/*
 * tests/support/cache_checks.h — stage 20's checks (the shared response
 * cache: cache_checks.c), for stage 20 and every stage after it.
 *
 * The binary runs in a copy of `fixture`, which holds stage 20's config
 * (tests/fixtures/stage-20: cache.json).
 *
 * Use: XT_STAGE20_CHECKS_ON(fixture) once at file scope defines a CMocka
 * check per function below, named as in stage 20's report;
 * XT_STAGE20_CHECK_LIST, inside the stage's array of checks, lists them.
 */
#ifndef XPS_TESTS_CACHE_CHECKS_H
#define XPS_TESTS_CACHE_CHECKS_H

#include "tests/support/harness.h"

#ifdef __cplusplus
extern "C" {
#endif

void xt_cache_check_a_miss_then_a_hit_with_age(const char *fixture);
void xt_cache_check_an_expired_entry_is_revalidated(const char *fixture);
void xt_cache_check_uncacheable_responses_are_never_stored(const char *fixture);
void xt_cache_check_authorization_is_not_answered_from_a_shared_entry(const char *fixture);
void xt_cache_check_vary_keeps_one_variant_per_value(const char *fixture);
void xt_cache_check_max_bytes_evicts_the_least_recently_used(const char *fixture);
void xt_cache_check_concurrent_misses_make_one_upstream_request(const char *fixture);
void xt_cache_check_a_hit_survives_the_upstream_and_a_cut_response_is_not_stored(const char *fixture);
void xt_cache_check_a_hit_never_sends_gzip_to_a_client_that_did_not_ask(const char *fixture);
void xt_cache_check_a_bad_cache_key_is_refused_at_start(const char *fixture);

/* Defines the stage's check `name` as xt_cache_check_<name>(fixture). */
#define XT_CACHE_CHECK_ON(name, fixture) \
    static void name(void **state)        \
    {                                     \
        (void)state;                      \
        xt_cache_check_##name(fixture);   \
    }

/* Every stage 20 check, defined for `fixture`. */
#define XT_STAGE20_CHECKS_ON(fixture) \
    XT_CACHE_CHECK_ON(a_miss_then_a_hit_with_age, fixture) \
    XT_CACHE_CHECK_ON(an_expired_entry_is_revalidated, fixture) \
    XT_CACHE_CHECK_ON(uncacheable_responses_are_never_stored, fixture) \
    XT_CACHE_CHECK_ON(authorization_is_not_answered_from_a_shared_entry, fixture) \
    XT_CACHE_CHECK_ON(vary_keeps_one_variant_per_value, fixture) \
    XT_CACHE_CHECK_ON(max_bytes_evicts_the_least_recently_used, fixture) \
    XT_CACHE_CHECK_ON(concurrent_misses_make_one_upstream_request, fixture) \
    XT_CACHE_CHECK_ON(a_hit_survives_the_upstream_and_a_cut_response_is_not_stored, fixture) \
    XT_CACHE_CHECK_ON(a_hit_never_sends_gzip_to_a_client_that_did_not_ask, fixture) \
    XT_CACHE_CHECK_ON(a_bad_cache_key_is_refused_at_start, fixture)

/* Every stage 20 check, for the stage's array of checks. */
#define XT_STAGE20_CHECK_LIST \
    XT_CHECK(a_miss_then_a_hit_with_age), \
    XT_CHECK(an_expired_entry_is_revalidated), \
    XT_CHECK(uncacheable_responses_are_never_stored), \
    XT_CHECK(authorization_is_not_answered_from_a_shared_entry), \
    XT_CHECK(vary_keeps_one_variant_per_value), \
    XT_CHECK(max_bytes_evicts_the_least_recently_used), \
    XT_CHECK(concurrent_misses_make_one_upstream_request), \
    XT_CHECK(a_hit_survives_the_upstream_and_a_cut_response_is_not_stored), \
    XT_CHECK(a_hit_never_sends_gzip_to_a_client_that_did_not_ask), \
    XT_CHECK(a_bad_cache_key_is_refused_at_start)

#ifdef __cplusplus
}
#endif

#endif
