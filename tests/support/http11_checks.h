/*
 * tests/support/http11_checks.h — stage 13's black-box checks, for every
 * stage that keeps its behaviour: HTTP/1.1 keep-alive and pipelining,
 * HTTP/1.0 rules, HEAD and 405, validators and 304, ranges, 100-continue
 * and 413, chunked re-framing of a close-delimited upstream response, the
 * RFC's refusals, upstream connection reuse with its retry rules, cheap
 * idle connections — and, with them, the hardening checks of
 * hardening_checks.h.
 *
 * Why shared: the stage ladder is the regression suite. Stage 13 runs
 * them on tests/fixtures/stage-13; stage 14 (and every later stage whose
 * fixture keeps stage 13's four servers) runs them again on its own, so
 * a new feature that breaks keep-alive, pipelining or the proxy's
 * defences fails its own stage's grade, not only stage 13's.
 *
 * The layout each check needs (tests/fixtures/stage-13 is one): the
 * binary is started as `<binary> config.json` in a copy of the fixture
 * (xt_hard_start_server), with stage 12's four servers: 8001 file_serve
 * from public/ (a.txt "aaaa\n", b.txt "bbbb\n", digits.txt 100 bytes
 * "0123456789" ten times, docs/notes.txt) and "/redirect"; 8002 a
 * reverse_proxy to localhost:3000; 8003 a redirect; 8004 no routes. The
 * routes of 8001 and 8002 must let 127.0.0.1 in. A check that needs an
 * upstream on 3000 starts it (the test upstream in echo or strict mode, or
 * plays one itself).
 *
 * Use: XT_STAGE13_CHECKS_ON(fixture) once at file scope defines a CMocka
 * check per function below (and per hardening check), named as in
 * stage 13's report; XT_STAGE13_CHECK_LIST, inside the stage's array of
 * checks, lists them all.
 */
#ifndef XPS_TESTS_HTTP11_CHECKS_H
#define XPS_TESTS_HTTP11_CHECKS_H

#include "tests/support/hardening_checks.h"
#include "tests/support/harness.h"

#ifdef __cplusplus
extern "C" {
#endif

/* curl given two URLs of 8001 uses ONE connection ("Re-using existing
 * connection", "left intact") and prints both bodies (RFC 9112 §9.3). */
void xt_h11_check_curl_reuses_one_connection_for_two_urls(const char *fixture);

/* Three requests in one write are answered in order; "Connection: close"
 * on the last one is echoed and the connection closes after it. */
void xt_h11_check_answers_pipelined_requests_in_order_then_honours_close(const char *fixture);

/* HTTP/1.0: closed after the response unless the client asked for
 * keep-alive, which is then echoed and honoured. */
void xt_h11_check_http10_closes_unless_keep_alive_is_asked(const char *fixture);

/* HEAD gets the GET's headers and no body; a POST on a file after it, on
 * the same connection, gets 405 with Allow. */
void xt_h11_check_head_has_no_body_and_post_on_a_file_gets_405_with_allow(const char *fixture);

/* ETag and Last-Modified, and 304 for If-None-Match / If-Modified-Since,
 * If-None-Match taking precedence (a table of combinations). */
void xt_h11_check_validators_give_304_with_if_none_match_first(const char *fixture);

/* curl -r 0-9 gets 206 and ten bytes; bytes=-5 gets 206 95-99/100; a
 * range past the end 416 with "bytes *\/100"; two ranges 200 with all. */
void xt_h11_check_curl_range_gets_206_and_exactly_the_bytes(const char *fixture);

/* Expect: 100-continue on the proxy (8002, an echo upstream on 3000):
 * "100 Continue" first, then the body goes up; a huge Content-Length 413. */
void xt_h11_check_expect_100_continue_through_the_proxy_and_413_over_the_limit(const char *fixture);

/* A close-delimited HTTP/1.0 upstream response (the check plays the
 * upstream on 3000) reaches an HTTP/1.1 client chunked, hop-by-hop fields
 * removed; an HTTP/1.0 client gets it as sent (RFC 9112 §6.3, §7.1). */
void xt_h11_check_reframes_an_unknown_length_response_as_chunked_for_http11(const char *fixture);

/* 501, 505, 414, 431 for the refusals of the row; an absolute-form
 * target, dot segments and percent-escapes resolve to the file; a path
 * climbing above the root gets 403. */
void xt_h11_check_answers_the_rfc_status_for_refusals_and_never_leaves_root(const char *fixture);

/* The strict upstream on 3000: a client connection of 8002 stays open
 * after a proxied response and a second request on it is proxied. */
void xt_h11_check_keeps_the_client_connection_after_a_proxied_response(const char *fixture);

/* Ten requests on one client connection reach the upstream over one
 * connection (X-Connection: 1, X-Request-Number 1..10). */
void xt_h11_check_proxies_ten_requests_over_one_upstream_connection(const char *fixture);

/* Three pipelined proxied requests are answered in order, over the
 * upstream's connection 1. */
void xt_h11_check_answers_pipelined_proxied_requests_in_order(const char *fixture);

/* An upstream's "Connection: close" gets the next request a fresh
 * upstream connection. */
void xt_h11_check_an_upstream_that_says_close_gets_a_fresh_connection(const char *fixture);

/* A GET whose reused upstream connection closes unanswered is sent once
 * more, on a fresh connection. */
void xt_h11_check_retries_a_get_whose_reused_connection_the_upstream_closed(const char *fixture);

/* A POST in the same case is never sent twice: 502. */
void xt_h11_check_never_retries_a_post_whose_reused_connection_the_upstream_closed(const char *fixture);

/* 1,000 idle kept connections grow the server's RSS by under 1 KiB each,
 * and the first and last are still answered on their connection. */
void xt_h11_check_idle_kept_connections_cost_under_1_kib_each(const char *fixture);

/* 1,000 requests over 50 kept connections, after a warm-up, cost the
 * server under 100 minor page faults: it reuses its memory from request to
 * request instead of handing it to the kernel and faulting it back. */
void xt_h11_check_kept_connections_reuse_memory_without_page_faults(const char *fixture);

/* Defines the stage's check `name` as xt_h11_check_<name>(fixture) (no
 * semicolon after: a function definition), as XT_HARD_CHECK_ON does. */
#define XT_H11_CHECK_ON(name, fixture)                                                     \
    static void name(void **state)                                                         \
    {                                                                                      \
        (void)state;                                                                       \
        xt_h11_check_##name(fixture);                                                      \
    }

/* Every stage 13 check, defined for `fixture`. */
#define XT_STAGE13_CHECKS_ON(fixture)                                                      \
    XT_H11_CHECK_ON(curl_reuses_one_connection_for_two_urls, fixture) \
    XT_H11_CHECK_ON(answers_pipelined_requests_in_order_then_honours_close, fixture) \
    XT_H11_CHECK_ON(http10_closes_unless_keep_alive_is_asked, fixture) \
    XT_H11_CHECK_ON(head_has_no_body_and_post_on_a_file_gets_405_with_allow, fixture) \
    XT_H11_CHECK_ON(validators_give_304_with_if_none_match_first, fixture) \
    XT_H11_CHECK_ON(curl_range_gets_206_and_exactly_the_bytes, fixture) \
    XT_H11_CHECK_ON(expect_100_continue_through_the_proxy_and_413_over_the_limit, fixture) \
    XT_H11_CHECK_ON(reframes_an_unknown_length_response_as_chunked_for_http11, fixture) \
    XT_H11_CHECK_ON(answers_the_rfc_status_for_refusals_and_never_leaves_root, fixture) \
    XT_H11_CHECK_ON(keeps_the_client_connection_after_a_proxied_response, fixture) \
    XT_H11_CHECK_ON(proxies_ten_requests_over_one_upstream_connection, fixture) \
    XT_H11_CHECK_ON(answers_pipelined_proxied_requests_in_order, fixture) \
    XT_H11_CHECK_ON(an_upstream_that_says_close_gets_a_fresh_connection, fixture) \
    XT_H11_CHECK_ON(retries_a_get_whose_reused_connection_the_upstream_closed, fixture) \
    XT_H11_CHECK_ON(never_retries_a_post_whose_reused_connection_the_upstream_closed, fixture) \
    XT_HARD_CHECK_ON(refuses_to_tunnel_before_the_upstreams_101, fixture) \
    XT_HARD_CHECK_ON(tunnels_a_websocket_upgrade_after_the_101, fixture) \
    XT_HARD_CHECK_ON(refuses_loose_chunked_framing_with_400, fixture) \
    XT_HARD_CHECK_ON(forwards_framing_of_its_own_not_the_clients, fixture) \
    XT_HARD_CHECK_ON(drops_underscore_fields_and_those_connection_names, fixture) \
    XT_HARD_CHECK_ON(redirects_a_folder_only_to_this_origin, fixture) \
    XT_HARD_CHECK_ON(bounds_what_a_client_that_never_reads_holds, fixture) \
    XT_HARD_CHECK_ON(if_range_for_another_version_gets_the_whole_file, fixture) \
    XT_HARD_CHECK_ON(an_upload_over_the_limit_gets_its_413_not_a_reset, fixture) \
    XT_HARD_CHECK_ON(answers_options_star_with_200_and_allow, fixture) \
    XT_H11_CHECK_ON(idle_kept_connections_cost_under_1_kib_each, fixture)                  \
    XT_H11_CHECK_ON(kept_connections_reuse_memory_without_page_faults, fixture)

/* The checks XT_STAGE13_CHECKS_ON defined, in stage 13's order, for the
 * stage's array of checks (commas between, none after the last). */
#define XT_STAGE13_CHECK_LIST                                                              \
    XT_CHECK(curl_reuses_one_connection_for_two_urls), \
    XT_CHECK(answers_pipelined_requests_in_order_then_honours_close), \
    XT_CHECK(http10_closes_unless_keep_alive_is_asked), \
    XT_CHECK(head_has_no_body_and_post_on_a_file_gets_405_with_allow), \
    XT_CHECK(validators_give_304_with_if_none_match_first), \
    XT_CHECK(curl_range_gets_206_and_exactly_the_bytes), \
    XT_CHECK(expect_100_continue_through_the_proxy_and_413_over_the_limit), \
    XT_CHECK(reframes_an_unknown_length_response_as_chunked_for_http11), \
    XT_CHECK(answers_the_rfc_status_for_refusals_and_never_leaves_root), \
    XT_CHECK(keeps_the_client_connection_after_a_proxied_response), \
    XT_CHECK(proxies_ten_requests_over_one_upstream_connection), \
    XT_CHECK(answers_pipelined_proxied_requests_in_order), \
    XT_CHECK(an_upstream_that_says_close_gets_a_fresh_connection), \
    XT_CHECK(retries_a_get_whose_reused_connection_the_upstream_closed), \
    XT_CHECK(never_retries_a_post_whose_reused_connection_the_upstream_closed), \
    XT_CHECK(refuses_to_tunnel_before_the_upstreams_101), \
    XT_CHECK(tunnels_a_websocket_upgrade_after_the_101), \
    XT_CHECK(refuses_loose_chunked_framing_with_400), \
    XT_CHECK(forwards_framing_of_its_own_not_the_clients), \
    XT_CHECK(drops_underscore_fields_and_those_connection_names), \
    XT_CHECK(redirects_a_folder_only_to_this_origin), \
    XT_CHECK(bounds_what_a_client_that_never_reads_holds), \
    XT_CHECK(if_range_for_another_version_gets_the_whole_file), \
    XT_CHECK(an_upload_over_the_limit_gets_its_413_not_a_reset), \
    XT_CHECK(answers_options_star_with_200_and_allow), \
    XT_CHECK(idle_kept_connections_cost_under_1_kib_each),                                \
    XT_CHECK(kept_connections_reuse_memory_without_page_faults)

#ifdef __cplusplus
}
#endif

#endif /* XPS_TESTS_HTTP11_CHECKS_H */
