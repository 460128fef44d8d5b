/*
 * tests/support/ipfilter_checks.h — stage 14's black-box checks (per-route
 * ip_whitelist / ip_blacklist), for every stage that keeps its behaviour.
 *
 * Why shared: as stage 13's checks (http11_checks.h), the stage ladder is
 * the regression suite; stage 15 (and later stages whose fixture keeps
 * stage 14's filtered servers) runs them again on its own fixture.
 *
 * The layout each check needs (tests/fixtures/stage-14 is one): the binary
 * started as `<binary> config.json` in a copy of the fixture
 * (xt_hard_start_server), stage 13's four servers on 8001-8004, and,
 * before them in the config, stage 14's filtered servers, exactly:
 *
 *     8005  ip_whitelist ["127.0.0.1", "::1"] on "/", "/go", "/api"
 *     8006  ip_blacklist ["127.0.0.2"]
 *     8007  ip_whitelist ["127.0.0.0/8"], ip_blacklist ["127.0.0.2"]
 *     8008  "/" file_serve, ip_whitelist ["1.1.1.1"]
 *     8009  "/" open to all; "/docs" and "/api" for 127.0.0.1, ::1
 *     [::1]:8010  per-route IPv6 lists
 *
 * (tests/fixtures/stage-14/config.json is the reference), public/ as
 * stage 13's, and bad-cidr.json and bad-entry.json beside config.json.
 * What each check asserts is said in tests/stages/stage_14.c's header.
 * Use: XT_STAGE14_CHECKS_ON(fixture) once at file scope defines a CMocka
 * check per function below, named as in stage 14's report;
 * XT_STAGE14_CHECK_LIST, inside the stage's array of checks, lists them.
 */
#ifndef XPS_TESTS_IPFILTER_CHECKS_H
#define XPS_TESTS_IPFILTER_CHECKS_H

#include "tests/support/harness.h"

#ifdef __cplusplus
extern "C" {
#endif

void xt_ipf_check_curl_interface_127_0_0_2_gets_403_where_127_0_0_1_gets_200(const char *fixture);
void xt_ipf_check_whitelist_blacklist_and_both_on_every_route_type(const char *fixture);
void xt_ipf_check_an_ipv6_client_is_matched_by_its_own_entries(const char *fixture);
void xt_ipf_check_a_refused_request_never_reaches_the_upstream(const char *fixture);
void xt_ipf_check_a_refused_request_opens_no_file(const char *fixture);
void xt_ipf_check_keeps_the_connection_and_the_order_of_pipelined_requests_across_403s(const char *fixture);
void xt_ipf_check_a_request_hidden_in_a_refused_body_is_never_parsed(const char *fixture);
void xt_ipf_check_a_bad_access_list_entry_stops_the_server_before_it_listens(const char *fixture);

/* Defines the stage's check `name` as xt_ipf_check_<name>(fixture). */
#define XT_IPF_CHECK_ON(name, fixture)                                                     \
    static void name(void **state)                                                         \
    {                                                                                      \
        (void)state;                                                                       \
        xt_ipf_check_##name(fixture);                                                      \
    }

/* Every stage 14 check, defined for `fixture`. */
#define XT_STAGE14_CHECKS_ON(fixture) \
    XT_IPF_CHECK_ON(curl_interface_127_0_0_2_gets_403_where_127_0_0_1_gets_200, fixture) \
    XT_IPF_CHECK_ON(whitelist_blacklist_and_both_on_every_route_type, fixture) \
    XT_IPF_CHECK_ON(an_ipv6_client_is_matched_by_its_own_entries, fixture) \
    XT_IPF_CHECK_ON(a_refused_request_never_reaches_the_upstream, fixture) \
    XT_IPF_CHECK_ON(a_refused_request_opens_no_file, fixture) \
    XT_IPF_CHECK_ON(keeps_the_connection_and_the_order_of_pipelined_requests_across_403s, fixture) \
    XT_IPF_CHECK_ON(a_request_hidden_in_a_refused_body_is_never_parsed, fixture) \
    XT_IPF_CHECK_ON(a_bad_access_list_entry_stops_the_server_before_it_listens, fixture)

/* Every stage 14 check, for the stage's array of checks. */
#define XT_STAGE14_CHECK_LIST \
    XT_CHECK(curl_interface_127_0_0_2_gets_403_where_127_0_0_1_gets_200), \
    XT_CHECK(whitelist_blacklist_and_both_on_every_route_type), \
    XT_CHECK(an_ipv6_client_is_matched_by_its_own_entries), \
    XT_CHECK(a_refused_request_never_reaches_the_upstream), \
    XT_CHECK(a_refused_request_opens_no_file), \
    XT_CHECK(keeps_the_connection_and_the_order_of_pipelined_requests_across_403s), \
    XT_CHECK(a_request_hidden_in_a_refused_body_is_never_parsed), \
    XT_CHECK(a_bad_access_list_entry_stops_the_server_before_it_listens)

#ifdef __cplusplus
}
#endif

#endif /* XPS_TESTS_IPFILTER_CHECKS_H */
