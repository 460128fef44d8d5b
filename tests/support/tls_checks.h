/*
 * tests/support/tls_checks.h — stage 19's black-box checks (TLS, and upstreams over TLS)
 * (tls_checks.c), for stage 19 and every stage after it.
 *
 * The binary runs in a copy of `fixture`, which holds stage 19's configs
 * (tests/fixtures/stage-19).
 *
 * Use: XT_STAGE19_CHECKS_ON(fixture) once at file scope defines a CMocka
 * check per function below, named as in stage 19's report;
 * XT_STAGE19_CHECK_LIST, inside the stage's array of checks, lists them.
 */
#ifndef XPS_TESTS_TLS_CHECKS_H
#define XPS_TESTS_TLS_CHECKS_H

#include "tests/support/harness.h"

#ifdef __cplusplus
extern "C" {
#endif

void xt_tls_check_tls13_and_tls12_are_spoken_and_tls11_is_refused(const char *fixture);
void xt_tls_check_alpn_agrees_on_http11(const char *fixture);
void xt_tls_check_sni_picks_each_blocks_certificate(const char *fixture);
void xt_tls_check_curl_gets_200_and_keeps_the_connection_alive(const char *fixture);
void xt_tls_check_a_big_file_arrives_intact_over_tls(const char *fixture);
void xt_tls_check_bad_clients_on_the_tls_port_never_disturb_a_download(const char *fixture);
void xt_tls_check_bad_tls_configs_are_refused_at_start_up_naming_the_file(const char *fixture);
void xt_tls_check_a_get_over_a_tls_upstream_reuses_its_connection(const char *fixture);
void xt_tls_check_a_tls_upstream_with_the_wrong_ca_gets_502_and_the_reason(const char *fixture);
void xt_tls_check_verify_false_and_sni_are_applied(const char *fixture);
void xt_tls_check_a_failed_handshake_marks_the_upstream_down(const char *fixture);

/* Defines the stage's check `name` as xt_tls_check_<name>(fixture). */
#define XT_TLS_CHECK_ON(name, fixture) \
    static void name(void **state)      \
    {                                   \
        (void)state;                    \
        xt_tls_check_##name(fixture);    \
    }

/* Every stage 19 check, defined for `fixture`. */
#define XT_STAGE19_CHECKS_ON(fixture) \
    XT_TLS_CHECK_ON(tls13_and_tls12_are_spoken_and_tls11_is_refused, fixture) \
    XT_TLS_CHECK_ON(alpn_agrees_on_http11, fixture) \
    XT_TLS_CHECK_ON(sni_picks_each_blocks_certificate, fixture) \
    XT_TLS_CHECK_ON(curl_gets_200_and_keeps_the_connection_alive, fixture) \
    XT_TLS_CHECK_ON(a_big_file_arrives_intact_over_tls, fixture) \
    XT_TLS_CHECK_ON(bad_clients_on_the_tls_port_never_disturb_a_download, fixture) \
    XT_TLS_CHECK_ON(bad_tls_configs_are_refused_at_start_up_naming_the_file, fixture) \
    XT_TLS_CHECK_ON(a_get_over_a_tls_upstream_reuses_its_connection, fixture) \
    XT_TLS_CHECK_ON(a_tls_upstream_with_the_wrong_ca_gets_502_and_the_reason, fixture) \
    XT_TLS_CHECK_ON(verify_false_and_sni_are_applied, fixture) \
    XT_TLS_CHECK_ON(a_failed_handshake_marks_the_upstream_down, fixture)

/* Every stage 19 check, for the stage's array of checks. */
#define XT_STAGE19_CHECK_LIST \
    XT_CHECK(tls13_and_tls12_are_spoken_and_tls11_is_refused), \
    XT_CHECK(alpn_agrees_on_http11), \
    XT_CHECK(sni_picks_each_blocks_certificate), \
    XT_CHECK(curl_gets_200_and_keeps_the_connection_alive), \
    XT_CHECK(a_big_file_arrives_intact_over_tls), \
    XT_CHECK(bad_clients_on_the_tls_port_never_disturb_a_download), \
    XT_CHECK(bad_tls_configs_are_refused_at_start_up_naming_the_file), \
    XT_CHECK(a_get_over_a_tls_upstream_reuses_its_connection), \
    XT_CHECK(a_tls_upstream_with_the_wrong_ca_gets_502_and_the_reason), \
    XT_CHECK(verify_false_and_sni_are_applied), \
    XT_CHECK(a_failed_handshake_marks_the_upstream_down)

#ifdef __cplusplus
}
#endif

#endif
