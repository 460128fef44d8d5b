/*
 * tests/support/balancer_checks.h — stage 17's black-box checks (load
 * balancing over several upstreams), for every stage that keeps its
 * behaviour: stage 17 runs them on its fixture, stage 18 again on stage
 * 17's (tests/fixtures/stage-17). What each checks, and the fixture's
 * servers, are said in balancer_checks.c.
 *
 * Use: XT_STAGE17_CHECKS_ON(fixture) once at file scope defines a CMocka
 * check per function below, named as in stage 17's report;
 * XT_STAGE17_CHECK_LIST, inside the stage's array of checks, lists them.
 */
#ifndef XPS_TESTS_BALANCER_CHECKS_H
#define XPS_TESTS_BALANCER_CHECKS_H

#include "tests/support/harness.h"

#ifdef __cplusplus
extern "C" {
#endif

void xt_lb_check_round_robin_shares_30_requests_10_10_10(const char *fixture);
void xt_lb_check_least_connections_avoids_a_busy_upstream(const char *fixture);
void xt_lb_check_ip_hash_keeps_each_client_on_its_upstream(const char *fixture);
void xt_lb_check_failover_while_an_upstream_is_killed_costs_the_client_nothing(const char *fixture);
void xt_lb_check_all_upstreams_down_gets_502_at_once(const char *fixture);
void xt_lb_check_a_downed_upstream_comes_back_after_fail_timeout(const char *fixture);
void xt_lb_check_a_health_check_brings_a_downed_upstream_back_at_once(const char *fixture);

/* Defines the stage's check `name` as xt_lb_check_<name>(fixture). */
#define XT_LB_CHECK_ON(name, fixture)                                                      \
    static void name(void **state)                                                         \
    {                                                                                      \
        (void)state;                                                                       \
        xt_lb_check_##name(fixture);                                                       \
    }

/* Every stage 17 check, defined for `fixture`. */
#define XT_STAGE17_CHECKS_ON(fixture) \
    XT_LB_CHECK_ON(round_robin_shares_30_requests_10_10_10, fixture) \
    XT_LB_CHECK_ON(least_connections_avoids_a_busy_upstream, fixture) \
    XT_LB_CHECK_ON(ip_hash_keeps_each_client_on_its_upstream, fixture) \
    XT_LB_CHECK_ON(failover_while_an_upstream_is_killed_costs_the_client_nothing, fixture) \
    XT_LB_CHECK_ON(all_upstreams_down_gets_502_at_once, fixture) \
    XT_LB_CHECK_ON(a_downed_upstream_comes_back_after_fail_timeout, fixture) \
    XT_LB_CHECK_ON(a_health_check_brings_a_downed_upstream_back_at_once, fixture)

/* Every stage 17 check, for the stage's array of checks. */
#define XT_STAGE17_CHECK_LIST \
    XT_CHECK(round_robin_shares_30_requests_10_10_10), \
    XT_CHECK(least_connections_avoids_a_busy_upstream), \
    XT_CHECK(ip_hash_keeps_each_client_on_its_upstream), \
    XT_CHECK(failover_while_an_upstream_is_killed_costs_the_client_nothing), \
    XT_CHECK(all_upstreams_down_gets_502_at_once), \
    XT_CHECK(a_downed_upstream_comes_back_after_fail_timeout), \
    XT_CHECK(a_health_check_brings_a_downed_upstream_back_at_once)

#ifdef __cplusplus
}
#endif

#endif /* XPS_TESTS_BALANCER_CHECKS_H */
