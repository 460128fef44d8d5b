/*
 * tests/unit/cache_policy.c — modules/cache/xps_cache_policy.h against
 * RFC 9111, table by table: Cache-Control values parsed (case, quoted
 * values, invalid numbers, unknown directives), what a shared cache may
 * store and why not, freshness lifetimes (s-maxage, max-age, Expires,
 * the Last-Modified heuristic and its cap, invalid values), the age of a
 * response (§4.2.3's corrections), and what a request gets from a stored
 * response at a given time (fresh, revalidate, stale allowed).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "modules/cache/xps_cache_policy.h"

#define U XPS_CACHE_UNSET
/* 1 Dec 2026 12:00:00 GMT and friends, as HTTP-dates and as numbers. */
#define T0 1796126400LL
#define D0 "Tue, 01 Dec 2026 12:00:00 GMT"
#define D0_PLUS_60 "Tue, 01 Dec 2026 12:01:00 GMT"
#define D0_MINUS_10D "Sat, 21 Nov 2026 12:00:00 GMT"
#define D0_MINUS_100D "Wed, 23 Aug 2026 12:00:00 GMT"

static void cache_control_values_are_parsed(void **state)
{
    (void)state;
    const struct {
        const char *value;
        int64_t max_age, s_maxage, max_stale, min_fresh;
        bool max_age_invalid, no_store, no_cache, private_, public_, must_revalidate;
    } rows[] = {
        {NULL, U, U, U, U, false, false, false, false, false, false},
        {"max-age=60", 60, U, U, U, false, false, false, false, false, false},
        {"MAX-AGE=60, Public", 60, U, U, U, false, false, false, false, true, false},
        {"max-age=\"60\"", 60, U, U, U, false, false, false, false, false, false},
        {"max-age=6o", U, U, U, U, true, false, false, false, false, false},
        {"max-age", U, U, U, U, true, false, false, false, false, false},
        {"max-age=99999999999", 2147483648LL, U, U, U, false, false, false, false, false, false},
        {"s-maxage=10, max-age=60", 60, 10, U, U, false, false, false, false, false, false},
        {"no-store", U, U, U, U, false, true, false, false, false, false},
        {"no-cache=\"Set-Cookie, X-Y\", private", U, U, U, U, false, false, true, true, false,
         false},
        {"must-revalidate,max-age=0", 0, U, U, U, false, false, false, false, false, true},
        {"max-stale", U, U, INT64_MAX, U, false, false, false, false, false, false},
        {"max-stale=30 , min-fresh=5", U, U, 30, 5, false, false, false, false, false, false},
        {"community=\"UCI\", foo=\"a,b\", max-age=5", 5, U, U, U, false, false, false, false,
         false, false},
        {",, ,max-age=7,", 7, U, U, U, false, false, false, false, false, false},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        xps_cache_control_t cc;
        xps_cache_control_parse(rows[i].value, rows[i].value ? strlen(rows[i].value) : 0, &cc);
        if (cc.max_age != rows[i].max_age || cc.s_maxage != rows[i].s_maxage ||
            cc.max_stale != rows[i].max_stale || cc.min_fresh != rows[i].min_fresh ||
            cc.max_age_invalid != rows[i].max_age_invalid || cc.no_store != rows[i].no_store ||
            cc.no_cache != rows[i].no_cache || cc.private_ != rows[i].private_ ||
            cc.public_ != rows[i].public_ || cc.must_revalidate != rows[i].must_revalidate)
            fail_msg("\"%s\": got max-age %lld%s s-maxage %lld max-stale %lld min-fresh %lld "
                     "no-store %d no-cache %d private %d public %d must-revalidate %d",
                     rows[i].value ? rows[i].value : "(none)", (long long)cc.max_age,
                     cc.max_age_invalid ? " (invalid)" : "", (long long)cc.s_maxage,
                     (long long)cc.max_stale, (long long)cc.min_fresh, cc.no_store, cc.no_cache,
                     cc.private_, cc.public_, cc.must_revalidate);
    }
}

static xps_cache_response_t response(int status, const char *cc)
{
    return (xps_cache_response_t){.status = status, .cache_control = cc, .date = D0,
                                  .request_time = T0, .response_time = T0};
}

static void a_shared_cache_stores_only_what_it_may(void **state)
{
    (void)state;
    const xps_cache_request_t get = {.is_get = true};
    const xps_cache_request_t post = {.is_get = false};
    const xps_cache_request_t authorized = {.is_get = true, .has_authorization = true};
    const xps_cache_request_t get_no_store = {.is_get = true, .cache_control = "no-store"};
    xps_cache_response_t cookie = response(200, "max-age=60");
    cookie.has_set_cookie = true;
    xps_cache_response_t vary = response(200, "max-age=60");
    vary.vary = "Accept-Encoding";
    xps_cache_response_t vary_star = response(200, "max-age=60");
    vary_star.vary = "Accept-Encoding, *";
    xps_cache_response_t expires = response(200, NULL);
    expires.expires = D0_PLUS_60;
    xps_cache_response_t heuristic = response(200, NULL);
    heuristic.last_modified = D0_MINUS_10D;
    xps_cache_response_t heuristic_302 = response(302, NULL);
    heuristic_302.last_modified = D0_MINUS_10D;
    const struct {
        const xps_cache_request_t *req;
        xps_cache_response_t res;
        xps_cache_store_verdict_t verdict;
    } rows[] = {
        {&get, response(200, "max-age=60"), XPS_CACHE_STORE},
        {&post, response(200, "max-age=60"), XPS_CACHE_NOT_GET},
        {&get, response(500, "max-age=60"), XPS_CACHE_STATUS},
        {&get, response(302, "max-age=60"), XPS_CACHE_STATUS},
        {&get, response(404, "max-age=60"), XPS_CACHE_STORE},
        {&get, response(200, "max-age=60, no-store"), XPS_CACHE_NO_STORE},
        {&get_no_store, response(200, "max-age=60"), XPS_CACHE_NO_STORE},
        {&get, response(200, "max-age=60, private"), XPS_CACHE_PRIVATE},
        {&authorized, response(200, "max-age=60"), XPS_CACHE_AUTHORIZATION},
        {&authorized, response(200, "max-age=60, public"), XPS_CACHE_STORE},
        {&authorized, response(200, "s-maxage=60"), XPS_CACHE_STORE},
        {&authorized, response(200, "max-age=60, must-revalidate"), XPS_CACHE_STORE},
        {&get, cookie, XPS_CACHE_SET_COOKIE},
        {&get, vary, XPS_CACHE_STORE},
        {&get, vary_star, XPS_CACHE_VARY_STAR},
        {&get, response(200, NULL), XPS_CACHE_NO_FRESHNESS},
        {&get, response(200, "max-age=oops"), XPS_CACHE_NO_FRESHNESS},
        {&get, response(200, "no-cache"), XPS_CACHE_STORE}, /* kept, revalidated each time */
        {&get, expires, XPS_CACHE_STORE},
        {&get, heuristic, XPS_CACHE_STORE},
        {&get, heuristic_302, XPS_CACHE_STATUS},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        xps_cache_store_verdict_t v = xps_cache_storable(rows[i].req, &rows[i].res);
        if (v != rows[i].verdict)
            fail_msg("row %zu (%d, \"%s\"): expected \"%s\", got \"%s\"", i, rows[i].res.status,
                     rows[i].res.cache_control ? rows[i].res.cache_control : "",
                     xps_cache_verdict_text(rows[i].verdict), xps_cache_verdict_text(v));
    }
}

static void freshness_lifetimes_follow_the_order_of_section_4_2_1(void **state)
{
    (void)state;
    const struct {
        const char *cc, *expires, *last_modified, *date;
        int status;
        int64_t lifetime;
    } rows[] = {
        {"s-maxage=10, max-age=60", NULL, NULL, D0, 200, 10},
        {"max-age=60", D0_PLUS_60, NULL, D0, 200, 60},
        {"max-age=0", NULL, NULL, D0, 200, 0},
        {NULL, D0_PLUS_60, NULL, D0, 200, 60},
        {NULL, "0", NULL, D0, 200, 0},                 /* invalid Expires: stale */
        {NULL, D0_MINUS_10D, NULL, D0, 200, 0},        /* in the past */
        {"max-age=x", D0_PLUS_60, NULL, D0, 200, 0},   /* invalid max-age: stale */
        {NULL, NULL, D0_MINUS_10D, D0, 200, 86400},    /* 10 % of 10 days: 1 day */
        {NULL, NULL, D0_MINUS_100D, D0, 200, 86400},   /* capped at a day */
        {NULL, NULL, "Tue, 01 Dec 2026 11:00:00 GMT", D0, 200, 360},
        {NULL, NULL, D0_MINUS_10D, D0, 302, 0},        /* not heuristically cacheable */
        {NULL, D0_PLUS_60, NULL, NULL, 200, 60},       /* no Date: the arrival time */
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        xps_cache_response_t r = {.status = rows[i].status, .cache_control = rows[i].cc,
                                  .expires = rows[i].expires,
                                  .last_modified = rows[i].last_modified, .date = rows[i].date,
                                  .request_time = T0, .response_time = T0};
        int64_t got = xps_cache_freshness_lifetime(&r);
        if (got != rows[i].lifetime)
            fail_msg("row %zu: expected a lifetime of %lld s, got %lld", i,
                     (long long)rows[i].lifetime, (long long)got);
    }
}

static void age_is_corrected_for_the_upstream_and_the_clock(void **state)
{
    (void)state;
    const struct {
        const char *date, *age;
        int64_t request_time, response_time, now, expected;
    } rows[] = {
        {D0, NULL, T0, T0, T0, 0},
        {D0, NULL, T0, T0, T0 + 30, 30},              /* resident time */
        {D0, "100", T0, T0, T0 + 30, 130},            /* Age from an upstream cache */
        {D0, "100", T0 - 5, T0, T0, 105},             /* + the response delay */
        {D0, NULL, T0 + 40, T0 + 50, T0 + 50, 50},    /* apparent: Date was 50 s ago */
        {D0_PLUS_60, NULL, T0, T0, T0, 0},            /* a Date in the future counts 0 */
        {NULL, "abc", T0, T0, T0 + 1, 1},             /* a bad Age is ignored */
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        xps_cache_response_t r = {.status = 200, .date = rows[i].date, .age = rows[i].age,
                                  .request_time = rows[i].request_time,
                                  .response_time = rows[i].response_time};
        int64_t got = xps_cache_current_age(&r, rows[i].now);
        if (got != rows[i].expected)
            fail_msg("row %zu: expected age %lld, got %lld", i, (long long)rows[i].expected,
                     (long long)got);
    }
}

static void a_request_gets_fresh_revalidated_or_stale_entries(void **state)
{
    (void)state;
    const struct {
        const char *response_cc, *request_cc, *pragma;
        int64_t at; /* seconds after T0 */
        xps_cache_use_t use;
    } rows[] = {
        {"max-age=60", NULL, NULL, 0, XPS_CACHE_FRESH},
        {"max-age=60", NULL, NULL, 59, XPS_CACHE_FRESH},
        {"max-age=60", NULL, NULL, 60, XPS_CACHE_REVALIDATE},
        {"max-age=60, no-cache", NULL, NULL, 0, XPS_CACHE_REVALIDATE},
        {"max-age=60", "no-cache", NULL, 0, XPS_CACHE_REVALIDATE},
        {"max-age=60", NULL, "no-cache", 0, XPS_CACHE_REVALIDATE},     /* Pragma */
        {"max-age=60", "max-age=100", "no-cache", 0, XPS_CACHE_FRESH}, /* CC wins over Pragma */
        {"max-age=60", "max-age=10", NULL, 11, XPS_CACHE_REVALIDATE},
        {"max-age=60", "max-age=10", NULL, 10, XPS_CACHE_FRESH},
        {"max-age=60", "min-fresh=20", NULL, 40, XPS_CACHE_FRESH},
        {"max-age=60", "min-fresh=20", NULL, 41, XPS_CACHE_REVALIDATE},
        {"max-age=60", "max-stale=30", NULL, 90, XPS_CACHE_STALE_OK},
        {"max-age=60", "max-stale=30", NULL, 91, XPS_CACHE_REVALIDATE},
        {"max-age=60", "max-stale", NULL, 100000, XPS_CACHE_STALE_OK},
        {"max-age=60, must-revalidate", "max-stale", NULL, 61, XPS_CACHE_REVALIDATE},
        {"max-age=60, proxy-revalidate", "max-stale", NULL, 61, XPS_CACHE_REVALIDATE},
        {"s-maxage=60", "max-stale", NULL, 61, XPS_CACHE_REVALIDATE},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        xps_cache_response_t res = response(200, rows[i].response_cc);
        xps_cache_request_t req = {.is_get = true, .cache_control = rows[i].request_cc,
                                   .pragma = rows[i].pragma};
        xps_cache_use_t use = xps_cache_use(&req, &res, T0 + rows[i].at);
        if (use != rows[i].use)
            fail_msg("row %zu (response \"%s\", request \"%s\", at +%lld s): expected %d, got %d",
                     i, rows[i].response_cc, rows[i].request_cc ? rows[i].request_cc : "",
                     (long long)rows[i].at, rows[i].use, use);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cache_control_values_are_parsed),
        cmocka_unit_test(a_shared_cache_stores_only_what_it_may),
        cmocka_unit_test(freshness_lifetimes_follow_the_order_of_section_4_2_1),
        cmocka_unit_test(age_is_corrected_for_the_upstream_and_the_clock),
        cmocka_unit_test(a_request_gets_fresh_revalidated_or_stale_entries),
    };
    return cmocka_run_group_tests_name("cache_policy", tests, NULL, NULL);
}
