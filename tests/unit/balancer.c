/*
 * tests/unit/balancer.c — modules/balancer/xps_balancer.h checked against
 * its header, as tables of scripts run on a fake clock (the balancer reads
 * no clock: every call that depends on time is given `now`):
 *  - round robin: the order, a down upstream skipped, tried upstreams
 *    skipped, all down or all tried → NONE;
 *  - least connections: the fewest in flight, ties broken round robin, a
 *    down one never chosen however idle;
 *  - ip_hash: the same client keeps its upstream, moves to the next one
 *    while it is down and comes back after; IPv6 on its /64; no address →
 *    round robin;
 *  - passive health: max_fails in a row, fail_timeout, probation (one
 *    failure downs it again), a success clears it, is_suspect; a lone
 *    upstream is never down;
 * then the spread of ip_hash over many addresses and the options create
 * refuses.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/xps.h"
#include "modules/balancer/xps_balancer.h"
#include "modules/ipfilter/xps_ipfilter.h"

#define NONE -1

typedef enum {
    END_OF_SCRIPT = 0,
    CHOOSE,      /* choose(client, tried) == want */
    REMEMBER,    /* choose(client, tried) → slot[want] (ip_hash: where it went) */
    SAME,        /* choose(client, tried) == slot[want] */
    AFTER,       /* choose(client, tried) == (slot[want] + 1) % count */
    SKIP,        /* choose(client, 1 << slot[want]) == (slot[want] + 1) % count */
    BEGIN,       /* begin(arg); arg < 0: begin(slot[-arg - 1]) */
    END,         /* end(arg) */
    FAIL,        /* failed(arg, now); arg < 0: slot[-arg - 1] */
    SUCCEED,     /* succeeded(arg) */
    CLOCK,       /* now = arg */
    IS_DOWN,     /* is_down(arg, now) == want */
    IS_SUSPECT,  /* is_suspect(arg) == want */
    IN_FLIGHT,   /* in_flight(arg) == want */
} op_t;

typedef struct {
    op_t op;
    long arg;           /* an upstream, or the clock */
    const char *client; /* CHOOSE...: the client's address, NULL: none */
    uint64_t tried;     /* CHOOSE...: upstreams already tried */
    long want;
} step_t;

typedef struct {
    const char *what;
    xps_balancer_policy_t policy;
    size_t count;
    unsigned max_fails;
    uint64_t fail_timeout_ms;
    step_t steps[32];
} script_t;

#define C(want) {CHOOSE, 0, NULL, 0, want}
#define CT(tried, want) {CHOOSE, 0, NULL, tried, want}
#define T(ms) {CLOCK, ms, NULL, 0, 0}
#define F(i) {FAIL, i, NULL, 0, 0}
#define B(i) {BEGIN, i, NULL, 0, 0}
#define E(i) {END, i, NULL, 0, 0}
#define S(i) {SUCCEED, i, NULL, 0, 0}

static const script_t scripts[] = {
    {"round robin: each in turn", XPS_BALANCER_ROUND_ROBIN, 3, 1, 1000,
     {C(0), C(1), C(2), C(0), C(1), C(2), C(0)}},
    {"round robin: a down upstream is skipped until fail_timeout has passed",
     XPS_BALANCER_ROUND_ROBIN, 3, 1, 1000,
     {T(5000), C(0), F(1), {IS_DOWN, 1, NULL, 0, 1}, C(2), C(0), C(2), C(0),
      T(5999), C(2), {IS_DOWN, 1, NULL, 0, 1}, T(6000), {IS_DOWN, 1, NULL, 0, 0},
      C(0), C(1), C(2)}},
    {"round robin: upstreams already tried are skipped; all tried: NONE",
     XPS_BALANCER_ROUND_ROBIN, 3, 1, 1000,
     {CT(0x1, 1), CT(0x3, 2), CT(0x6, 0), CT(0x7, NONE), C(1)}},
    {"round robin: all down: NONE, at once; one back: only it",
     XPS_BALANCER_ROUND_ROBIN, 3, 1, 1000,
     {F(0), F(1), F(2), C(NONE), C(NONE), S(1), C(1), C(1), C(1)}},
    {"one upstream: never down (nowhere else to go); tried: NONE",
     XPS_BALANCER_ROUND_ROBIN, 1, 1, 1000,
     {C(0), C(0), CT(0x1, NONE), F(0), {IS_DOWN, 0, NULL, 0, 0}, {IS_SUSPECT, 0, NULL, 0, 0},
      C(0), F(0), F(0), C(0)}},
    {"least connections: idle upstreams in round-robin order",
     XPS_BALANCER_LEAST_CONNECTIONS, 3, 1, 1000,
     {C(0), C(1), C(2), C(0)}},
    {"least connections: the fewest in flight; ties by round robin",
     XPS_BALANCER_LEAST_CONNECTIONS, 3, 1, 1000,
     {B(0), B(0), B(1), C(2), B(2), C(1), B(1), C(2),
      B(2), {IN_FLIGHT, 0, NULL, 0, 2}, {IN_FLIGHT, 1, NULL, 0, 2},
      {IN_FLIGHT, 2, NULL, 0, 2}, C(0), C(1), C(2), E(1), C(1), C(1), E(0),
      E(0), C(0)}},
    {"least connections: a busy upstream is avoided while the others are idle",
     XPS_BALANCER_LEAST_CONNECTIONS, 3, 1, 1000,
     {C(0), B(0), C(1), C(2), C(1), C(2), C(1), E(0), C(2), C(0), C(1)}},
    {"least connections: a down upstream is never chosen, however idle",
     XPS_BALANCER_LEAST_CONNECTIONS, 2, 1, 1000,
     {B(1), B(1), F(0), C(1), C(1), CT(0x2, NONE)}},
    {"ip_hash: a client keeps its upstream; moves on while it is down; comes back",
     XPS_BALANCER_IP_HASH, 3, 1, 1000,
     {{REMEMBER, 0, "127.0.0.1", 0, 0}, {SAME, 0, "127.0.0.1", 0, 0},
      {SAME, 0, "127.0.0.1", 0, 0}, {SAME, 0, "::ffff:127.0.0.1", 0, 0}, F(-1),
      {AFTER, 0, "127.0.0.1", 0, 0}, {AFTER, 0, "127.0.0.1", 0, 0}, T(1000),
      {SAME, 0, "127.0.0.1", 0, 0}, {SAME, 0, "127.0.0.1", 0, 0}}},
    {"ip_hash: a tried upstream is skipped to the next in order",
     XPS_BALANCER_IP_HASH, 4, 1, 1000,
     {{REMEMBER, 0, "10.9.8.7", 0, 0}, {SKIP, 0, "10.9.8.7", 0, 0}, {SAME, 0, "10.9.8.7", 0, 0},
      {SKIP, 0, "10.9.8.7", 0, 0}}},
    {"ip_hash: IPv6 is hashed on its /64", XPS_BALANCER_IP_HASH, 5, 1, 1000,
     {{REMEMBER, 0, "2001:db8:1:2::1", 0, 0}, {SAME, 0, "2001:db8:1:2:ffff:eeee:dddd:cccc", 0, 0},
      {SAME, 0, "2001:db8:1:2:0:0:0:9", 0, 0}, {REMEMBER, 0, "2001:db8:1:3::1", 0, 1},
      {SAME, 0, "2001:db8:1:3:abcd::", 0, 1}}},
    {"ip_hash: no address: round robin", XPS_BALANCER_IP_HASH, 3, 1, 1000,
     {C(0), C(1), C(2), C(0)}},
    {"max_fails 3: two failures leave it up, the third downs it; a success clears",
     XPS_BALANCER_ROUND_ROBIN, 2, 3, 500,
     {F(0), F(0), {IS_DOWN, 0, NULL, 0, 0}, {IS_SUSPECT, 0, NULL, 0, 0}, C(0),
      C(1), F(0), {IS_DOWN, 0, NULL, 0, 1}, {IS_SUSPECT, 0, NULL, 0, 1}, C(1), C(1),
      S(0), {IS_DOWN, 0, NULL, 0, 0}, {IS_SUSPECT, 0, NULL, 0, 0}, C(0), F(0),
      F(0), C(1), C(0)}},
    {"failures in a row: a success in between starts the count again",
     XPS_BALANCER_ROUND_ROBIN, 2, 2, 500,
     {F(0), S(0), F(0), {IS_DOWN, 0, NULL, 0, 0}, F(0),
      {IS_DOWN, 0, NULL, 0, 1}}},
    {"probation: after fail_timeout one failure downs it again, for a new fail_timeout",
     XPS_BALANCER_ROUND_ROBIN, 2, 3, 500,
     {F(0), F(0), F(0), {IS_DOWN, 0, NULL, 0, 1}, T(500),
      {IS_DOWN, 0, NULL, 0, 0}, {IS_SUSPECT, 0, NULL, 0, 1}, C(0), F(0),
      {IS_DOWN, 0, NULL, 0, 1}, T(999), {IS_DOWN, 0, NULL, 0, 1}, C(1), C(1),
      T(1000), {IS_DOWN, 0, NULL, 0, 0}, C(0)}},
};

static void run_script(const script_t *s)
{
    const xps_balancer_options_t options = {s->policy, s->max_fails, s->fail_timeout_ms};
    int error = 12345;
    xps_balancer_t *b = xps_balancer_create(s->count, &options, &error);
    assert_non_null(b);
    assert_int_equal(error, XPS_OK);
    assert_int_equal(xps_balancer_count(b), s->count);
    uint64_t now = 0;
    long slot[4] = {NONE, NONE, NONE, NONE};
    for (size_t k = 0; k < 32 && s->steps[k].op != END_OF_SCRIPT; k++) {
        const step_t *st = &s->steps[k];
        size_t up = st->arg < 0 ? (size_t)slot[-st->arg - 1] : (size_t)st->arg;
        xps_ipfilter_addr_t addr;
        const xps_ipfilter_addr_t *client = NULL;
        if (st->client) {
            assert_int_equal(xps_ipfilter_addr_parse(st->client, &addr), XPS_OK);
            client = &addr;
        }
        long got = 0, want = st->want;
        switch (st->op) {
        case CHOOSE:
        case REMEMBER:
        case SAME:
        case AFTER:
        case SKIP: {
            uint64_t tried = st->op == SKIP ? (uint64_t)1 << slot[st->want] : st->tried;
            size_t i = xps_balancer_choose(b, client, tried, now);
            got = i == XPS_BALANCER_NONE ? NONE : (long)i;
            if (st->op == REMEMBER) {
                slot[st->want] = got;
                want = got == NONE ? 0 : got; /* anything but NONE */
            } else if (st->op == SAME) {
                want = slot[st->want];
            } else if (st->op == AFTER || st->op == SKIP) {
                want = (slot[st->want] + 1) % (long)s->count;
            }
            break;
        }
        case BEGIN: xps_balancer_begin(b, up); continue;
        case END: xps_balancer_end(b, up); continue;
        case FAIL: xps_balancer_failed(b, up, now); continue;
        case SUCCEED: xps_balancer_succeeded(b, up); continue;
        case CLOCK: now = (uint64_t)st->arg; continue;
        case IS_DOWN: got = xps_balancer_is_down(b, up, now); break;
        case IS_SUSPECT: got = xps_balancer_is_suspect(b, up); break;
        case IN_FLIGHT: got = (long)xps_balancer_in_flight(b, up); break;
        case END_OF_SCRIPT: break;
        }
        if (got != want)
            fail_msg("%s: step %zu (op %d, upstream %ld, client %s, tried %#llx, now %llu): "
                     "got %ld, expected %ld",
                     s->what, k + 1, (int)st->op, st->arg, st->client ? st->client : "-",
                     (unsigned long long)st->tried, (unsigned long long)now, got, want);
    }
    xps_balancer_destroy(b);
}

static void scripts_run_as_the_header_says(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof scripts / sizeof *scripts; i++)
        run_script(&scripts[i]);
}

/* 30 requests over 3 healthy upstreams: 10/10/10, whatever the policy
 * (least connections with nothing in flight is round robin). */
static void thirty_requests_are_ten_each(void **state)
{
    (void)state;
    const xps_balancer_policy_t policies[] = {XPS_BALANCER_ROUND_ROBIN,
                                              XPS_BALANCER_LEAST_CONNECTIONS};
    for (size_t p = 0; p < 2; p++) {
        const xps_balancer_options_t options = {policies[p], 1, 1000};
        int error = 0;
        xps_balancer_t *b = xps_balancer_create(3, &options, &error);
        assert_non_null(b);
        size_t hits[3] = {0, 0, 0};
        for (int r = 0; r < 30; r++) {
            size_t i = xps_balancer_choose(b, NULL, 0, 0);
            assert_true(i < 3);
            xps_balancer_begin(b, i);
            hits[i]++;
            xps_balancer_end(b, i);
        }
        for (size_t i = 0; i < 3; i++)
            if (hits[i] != 10)
                fail_msg("%s: upstream %zu got %zu of 30", xps_balancer_policy_name(policies[p]),
                         i, hits[i]);
        xps_balancer_destroy(b);
    }
}

/* Many clients spread over the upstreams: 300 IPv4 addresses and 300 IPv6
 * /64s over 3 upstreams, each upstream gets at least a fifth; two
 * addresses of one /64 always land together. */
static void ip_hash_spreads_clients(void **state)
{
    (void)state;
    const xps_balancer_options_t options = {XPS_BALANCER_IP_HASH, 1, 1000};
    int error = 0;
    xps_balancer_t *b = xps_balancer_create(3, &options, &error);
    assert_non_null(b);
    for (int family = 4; family <= 6; family += 2) {
        size_t hits[3] = {0, 0, 0};
        for (int k = 0; k < 300; k++) {
            char text[64], other[64];
            if (family == 4) {
                snprintf(text, sizeof text, "10.%d.%d.%d", k / 65536, k / 256 % 256, k % 256);
                snprintf(other, sizeof other, "%s", text);
            } else {
                snprintf(text, sizeof text, "2001:db8:%x:%x::1", k / 16, k % 16);
                snprintf(other, sizeof other, "2001:db8:%x:%x:1234:5678:9abc:def0", k / 16, k % 16);
            }
            xps_ipfilter_addr_t a, o;
            assert_int_equal(xps_ipfilter_addr_parse(text, &a), XPS_OK);
            assert_int_equal(xps_ipfilter_addr_parse(other, &o), XPS_OK);
            size_t i = xps_balancer_choose(b, &a, 0, 0);
            assert_true(i < 3);
            assert_int_equal(xps_balancer_choose(b, &o, 0, 0), i);
            hits[i]++;
        }
        for (size_t i = 0; i < 3; i++)
            if (hits[i] < 60)
                fail_msg("IPv%d: upstream %zu got %zu of 300 clients", family, i, hits[i]);
    }
    xps_balancer_destroy(b);
}

static void create_refuses_what_it_cannot_take(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        size_t count;
        xps_balancer_options_t options;
    } rows[] = {
        {"no upstream", 0, {XPS_BALANCER_ROUND_ROBIN, 1, 1000}},
        {"65 upstreams", XPS_BALANCER_MAX_UPSTREAMS + 1, {XPS_BALANCER_ROUND_ROBIN, 1, 1000}},
        {"max_fails 0", 2, {XPS_BALANCER_ROUND_ROBIN, 0, 1000}},
        {"fail_timeout 0", 2, {XPS_BALANCER_ROUND_ROBIN, 1, 0}},
        {"an unknown policy", 2, {(xps_balancer_policy_t)7, 1, 1000}},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        int error = XPS_OK;
        xps_balancer_t *b = xps_balancer_create(rows[i].count, &rows[i].options, &error);
        if (b || error != XPS_E_INVAL)
            fail_msg("%s: created (%p) or not XPS_E_INVAL (%d)", rows[i].what, (void *)b, error);
    }
    const xps_balancer_options_t ok = {XPS_BALANCER_ROUND_ROBIN, 1, 1};
    int error = 0;
    xps_balancer_t *b = xps_balancer_create(XPS_BALANCER_MAX_UPSTREAMS, &ok, &error);
    assert_non_null(b);
    /* the last of 64 is reachable through the tried mask */
    assert_int_equal(xps_balancer_choose(b, NULL, ~(uint64_t)0 >> 1, 0), 63);
    assert_int_equal(xps_balancer_choose(b, NULL, ~(uint64_t)0, 0), XPS_BALANCER_NONE);
    xps_balancer_destroy(b);
    assert_string_equal(xps_balancer_policy_name(XPS_BALANCER_IP_HASH), "ip_hash");
    assert_string_equal(xps_balancer_policy_name(XPS_BALANCER_LEAST_CONNECTIONS),
                        "least_connections");
    assert_string_equal(xps_balancer_policy_name(XPS_BALANCER_ROUND_ROBIN), "round_robin");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scripts_run_as_the_header_says),
        cmocka_unit_test(thirty_requests_are_ten_each),
        cmocka_unit_test(ip_hash_spreads_clients),
        cmocka_unit_test(create_refuses_what_it_cannot_take),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
