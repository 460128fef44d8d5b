/*
 * tests/support/gzip_checks.h — stage 16's black-box checks (the gzip
 * content coding), for every stage that keeps its behaviour.
 *
 * Why shared: as stage 13's to 15's checks, the stage ladder is the
 * regression suite: stage 16 runs them on its fixture, and stages 17 and
 * 18 run them again on stage 16's (tests/fixtures/stage-16), which any
 * later binary serves as stage 16 does. What each checks is said in
 * gzip_checks.c.
 *
 * Use: XT_STAGE16_CHECKS_ON(fixture) once at file scope defines a CMocka
 * check per function below, named as in stage 16's report;
 * XT_STAGE16_CHECK_LIST, inside the stage's array of checks, lists them.
 */
#ifndef XPS_TESTS_GZIP_CHECKS_H
#define XPS_TESTS_GZIP_CHECKS_H

#include "tests/support/harness.h"

#ifdef __cplusplus
extern "C" {
#endif

void xt_gz_check_a_file_is_sent_compressed_and_inflates_to_its_bytes(const char *fixture);
void xt_gz_check_accept_encoding_q_values_choose_the_coding(const char *fixture);
void xt_gz_check_vary_on_compressed_and_uncompressed_responses_of_a_listed_type(const char *fixture);
void xt_gz_check_head_gets_the_headers_of_get_and_no_body(const char *fixture);
void xt_gz_check_a_range_gets_206_identity(const char *fixture);
void xt_gz_check_the_weak_etag_of_the_compressed_variant_gets_304(const char *fixture);
void xt_gz_check_two_compressed_responses_share_one_connection(const char *fixture);
void xt_gz_check_a_listing_is_compressed(const char *fixture);
void xt_gz_check_proxied_bodies_are_compressed_and_never_twice(const char *fixture);
void xt_gz_check_a_20_mib_file_is_compressed_with_bounded_memory(const char *fixture);
void xt_gz_check_gzip_static_sends_a_fresher_gz_as_it_is_and_ignores_an_older_one(const char *fixture);
void xt_gz_check_an_http_1_0_client_gets_identity(const char *fixture);
void xt_gz_check_gzip_enable_false_is_identity_without_vary(const char *fixture);

/* Defines the stage's check `name` as xt_gz_check_<name>(fixture). */
#define XT_GZ_CHECK_ON(name, fixture)                                                      \
    static void name(void **state)                                                         \
    {                                                                                      \
        (void)state;                                                                       \
        xt_gz_check_##name(fixture);                                                       \
    }

/* Every stage 16 check, defined for `fixture`. */
#define XT_STAGE16_CHECKS_ON(fixture) \
    XT_GZ_CHECK_ON(a_file_is_sent_compressed_and_inflates_to_its_bytes, fixture) \
    XT_GZ_CHECK_ON(accept_encoding_q_values_choose_the_coding, fixture) \
    XT_GZ_CHECK_ON(vary_on_compressed_and_uncompressed_responses_of_a_listed_type, fixture) \
    XT_GZ_CHECK_ON(head_gets_the_headers_of_get_and_no_body, fixture) \
    XT_GZ_CHECK_ON(a_range_gets_206_identity, fixture) \
    XT_GZ_CHECK_ON(the_weak_etag_of_the_compressed_variant_gets_304, fixture) \
    XT_GZ_CHECK_ON(two_compressed_responses_share_one_connection, fixture) \
    XT_GZ_CHECK_ON(a_listing_is_compressed, fixture) \
    XT_GZ_CHECK_ON(proxied_bodies_are_compressed_and_never_twice, fixture) \
    XT_GZ_CHECK_ON(a_20_mib_file_is_compressed_with_bounded_memory, fixture) \
    XT_GZ_CHECK_ON(gzip_static_sends_a_fresher_gz_as_it_is_and_ignores_an_older_one, fixture) \
    XT_GZ_CHECK_ON(an_http_1_0_client_gets_identity, fixture) \
    XT_GZ_CHECK_ON(gzip_enable_false_is_identity_without_vary, fixture)

/* Every stage 16 check, for the stage's array of checks. */
#define XT_STAGE16_CHECK_LIST \
    XT_CHECK(a_file_is_sent_compressed_and_inflates_to_its_bytes), \
    XT_CHECK(accept_encoding_q_values_choose_the_coding), \
    XT_CHECK(vary_on_compressed_and_uncompressed_responses_of_a_listed_type), \
    XT_CHECK(head_gets_the_headers_of_get_and_no_body), \
    XT_CHECK(a_range_gets_206_identity), \
    XT_CHECK(the_weak_etag_of_the_compressed_variant_gets_304), \
    XT_CHECK(two_compressed_responses_share_one_connection), \
    XT_CHECK(a_listing_is_compressed), \
    XT_CHECK(proxied_bodies_are_compressed_and_never_twice), \
    XT_CHECK(a_20_mib_file_is_compressed_with_bounded_memory), \
    XT_CHECK(gzip_static_sends_a_fresher_gz_as_it_is_and_ignores_an_older_one), \
    XT_CHECK(an_http_1_0_client_gets_identity), \
    XT_CHECK(gzip_enable_false_is_identity_without_vary)

#ifdef __cplusplus
}
#endif

#endif /* XPS_TESTS_GZIP_CHECKS_H */
