/*
 * tests/unit/ratelimit.c — modules/ratelimit/xps_ratelimit.h against its
 * contract, on a fake clock: each table is a script of requests (when,
 * from which address, to which route) with the answer expected (allowed,
 * or refused with this Retry-After), run on a fresh table. Then the bounds:
 * a spray of addresses never holds more buckets than the cap, the least
 * recently used bucket is the one dropped, idle buckets that refilled are
 * forgotten, and bad arguments allow the request.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/xps.h"
#include "modules/ratelimit/xps_ratelimit.h"

/* Addresses the scripts name by number. */
static const unsigned char addrs[][16] = {
    {127, 0, 0, 1},
    {127, 0, 0, 2},
    {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
    {127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, /* 16 bytes starting like addrs[0] */
};
static const size_t addr_lens[] = {4, 4, 16, 16};

struct step {
    uint64_t at_ms;
    int addr;       /* index into addrs */
    uint64_t route;
    bool allowed;
    uint32_t retry; /* expected Retry-After when refused */
};

struct script {
    const char *name;
    xps_ratelimit_rule_t rule;
    size_t cap;
    struct step steps[16];
    size_t n;
};

static void run_script(const struct script *sc)
{
    int error = XPS_E_FAIL;
    xps_ratelimit_t *t = xps_ratelimit_create(sc->cap, &error);
    assert_non_null(t);
    assert_int_equal(error, XPS_OK);
    for (size_t i = 0; i < sc->n; i++) {
        const struct step *st = &sc->steps[i];
        xps_ratelimit_key_t key = {addrs[st->addr], addr_lens[st->addr], st->route};
        uint32_t retry = 0;
        bool got = xps_ratelimit_take(t, &sc->rule, &key, st->at_ms, &retry);
        if (got != st->allowed)
            fail_msg("%s, step %zu (t=%llu ms, address %d, route %llu): expected %s, got %s",
                     sc->name, i, (unsigned long long)st->at_ms, st->addr,
                     (unsigned long long)st->route, st->allowed ? "allowed" : "refused",
                     got ? "allowed" : "refused");
        if (!got && retry != st->retry)
            fail_msg("%s, step %zu (t=%llu ms): Retry-After expected %u s, got %u s", sc->name,
                     i, (unsigned long long)st->at_ms, st->retry, retry);
    }
    xps_ratelimit_destroy(t);
}

#define R(rate, burst) {(rate), (burst)}

static const struct script scripts[] = {
    {"burst 3 at 1/s: three at once, then one per second", R(1000, 3), 0,
     {{0, 0, 1, true, 0}, {0, 0, 1, true, 0}, {0, 0, 1, true, 0},
      {0, 0, 1, false, 1}, {999, 0, 1, false, 1}, {1000, 0, 1, true, 0},
      {1000, 0, 1, false, 1}, {1500, 0, 1, false, 1}, {2000, 0, 1, true, 0},
      /* a long pause refills to the burst, not past it */
      {60000, 0, 1, true, 0}, {60000, 0, 1, true, 0}, {60000, 0, 1, true, 0},
      {60000, 0, 1, false, 1}},
     13},
    {"0.5/s, burst 1: Retry-After counts the whole seconds left, rounded up", R(500, 1), 0,
     {{0, 0, 1, true, 0}, {0, 0, 1, false, 2}, {1, 0, 1, false, 2}, {1000, 0, 1, false, 1},
      {1999, 0, 1, false, 1}, {2000, 0, 1, true, 0}, {2000, 0, 1, false, 2}},
     7},
    {"0.2/s, burst 2: 5 s per token", R(200, 2), 0,
     {{0, 0, 1, true, 0}, {0, 0, 1, true, 0}, {0, 0, 1, false, 5}, {2500, 0, 1, false, 3},
      {4999, 0, 1, false, 1}, {5000, 0, 1, true, 0}, {5000, 0, 1, false, 5}},
     7},
    {"fast rate: 1000/s refills a token each millisecond", R(1000000, 1), 0,
     {{0, 0, 1, true, 0}, {0, 0, 1, false, 1}, {1, 0, 1, true, 0}, {1, 0, 1, false, 1}},
     4},
    {"addresses have buckets of their own", R(1000, 1), 0,
     {{0, 0, 1, true, 0}, {0, 0, 1, false, 1}, {0, 1, 1, true, 0}, {0, 1, 1, false, 1},
      {0, 2, 1, true, 0}, {0, 2, 1, false, 1}},
     6},
    {"a 16-byte address is not the 4-byte one it starts like", R(1000, 1), 0,
     {{0, 0, 1, true, 0}, {0, 3, 1, true, 0}, {0, 3, 1, false, 1}, {0, 0, 1, false, 1}},
     4},
    {"routes have buckets of their own", R(1000, 1), 0,
     {{0, 0, 1, true, 0}, {0, 0, 1, false, 1}, {0, 0, 2, true, 0}, {0, 0, 2, false, 1},
      {0, 0, (1ull << 32) | 1, true, 0}},
     5},
    {"a clock that goes back counts as no time passed", R(1000, 1), 0,
     {{5000, 0, 1, true, 0}, {4000, 0, 1, false, 1}, {5999, 0, 1, false, 1},
      {6000, 0, 1, true, 0}},
     4},
    {"at the cap the least recently used bucket is dropped", R(1000, 1), 2,
     {{0, 0, 1, true, 0}, {0, 1, 1, true, 0}, {1, 0, 1, false, 1}, /* 0 is now the newer */
      {2, 2, 1, true, 0},  /* full: drops 1, the least recent */
      {3, 0, 1, false, 1}, /* 0 was kept */
      {4, 1, 1, true, 0}}, /* 1 was forgotten: a full bucket again */
     6},
};

static void scripts_of_requests(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof scripts / sizeof scripts[0]; i++)
        run_script(&scripts[i]);
}

/* A spray of 100,000 addresses on a cap of 1,000: never more than 1,000
 * buckets, and the newest addresses are the ones remembered. */
static void a_spray_of_addresses_stays_under_the_cap(void **state)
{
    (void)state;
    int error = XPS_OK;
    xps_ratelimit_t *t = xps_ratelimit_create(1000, &error);
    assert_non_null(t);
    assert_int_equal(xps_ratelimit_capacity(t), 1000);
    xps_ratelimit_rule_t rule = {1000, 1};
    unsigned char a[16] = {0x20, 0x01, 0x0d, 0xb8};
    for (uint32_t i = 0; i < 100000; i++) {
        memcpy(a + 12, &i, sizeof i);
        xps_ratelimit_key_t key = {a, 16, 7};
        assert_true(xps_ratelimit_take(t, &rule, &key, 0, NULL)); /* each one is new */
        assert_true(xps_ratelimit_count(t) <= 1000);
    }
    assert_int_equal(xps_ratelimit_count(t), 1000);
    /* The last 1,000 are remembered (refused again), the one before them is not. */
    for (uint32_t i = 99000; i < 100000; i++) {
        memcpy(a + 12, &i, sizeof i);
        xps_ratelimit_key_t key = {a, 16, 7};
        uint32_t retry = 0;
        if (xps_ratelimit_take(t, &rule, &key, 0, &retry))
            fail_msg("address #%u of the spray was forgotten though it is among the newest", i);
        assert_int_equal(retry, 1);
    }
    uint32_t old = 98999;
    memcpy(a + 12, &old, sizeof old);
    xps_ratelimit_key_t key = {a, 16, 7};
    assert_true(xps_ratelimit_take(t, &rule, &key, 0, NULL));
    assert_int_equal(xps_ratelimit_count(t), 1000);
    xps_ratelimit_destroy(t);
}

/* Buckets that refilled while idle are forgotten as later requests come,
 * a few per request: the table shrinks back without a scan. */
static void idle_buckets_are_forgotten(void **state)
{
    (void)state;
    int error = XPS_OK;
    xps_ratelimit_t *t = xps_ratelimit_create(0, &error);
    assert_non_null(t);
    assert_int_equal(xps_ratelimit_capacity(t), XPS_RATELIMIT_MAX_ENTRIES);
    xps_ratelimit_rule_t rule = {1000, 2}; /* full again 1 s after one request */
    unsigned char a[4] = {10, 0, 0, 0};
    for (unsigned i = 0; i < 100; i++) {
        a[3] = (unsigned char)i;
        xps_ratelimit_key_t key = {a, 4, 1};
        assert_true(xps_ratelimit_take(t, &rule, &key, 0, NULL));
    }
    assert_int_equal(xps_ratelimit_count(t), 100);
    /* Not yet full at 999 ms: nothing is forgotten. */
    xps_ratelimit_key_t same = {a, 4, 1};
    assert_true(xps_ratelimit_take(t, &rule, &same, 999, NULL));
    assert_int_equal(xps_ratelimit_count(t), 100);
    /* Much later, one client keeps asking: each request forgets some idle ones. */
    unsigned char b[4] = {10, 0, 1, 1};
    xps_ratelimit_key_t busy = {b, 4, 1};
    for (unsigned i = 0; i < 100; i++)
        xps_ratelimit_take(t, &rule, &busy, 10000 + i * 500, NULL);
    assert_true(xps_ratelimit_count(t) <= 2);
    xps_ratelimit_destroy(t);
}

/* Bad arguments never refuse a request (nor crash). */
static void bad_arguments_allow(void **state)
{
    (void)state;
    int error = XPS_OK;
    xps_ratelimit_t *t = xps_ratelimit_create(4, &error);
    assert_non_null(t);
    unsigned char a[4] = {1, 2, 3, 4};
    xps_ratelimit_key_t key = {a, 4, 1};
    xps_ratelimit_key_t too_long = {a, 17, 1};
    xps_ratelimit_rule_t zero_rate = {0, 1}, zero_burst = {1000, 0}, ok = {1000, 1};
    for (int i = 0; i < 3; i++) {
        assert_true(xps_ratelimit_take(t, &zero_rate, &key, 0, NULL));
        assert_true(xps_ratelimit_take(t, &zero_burst, &key, 0, NULL));
        assert_true(xps_ratelimit_take(t, &ok, &too_long, 0, NULL));
        assert_true(xps_ratelimit_take(NULL, &ok, &key, 0, NULL));
        assert_true(xps_ratelimit_take(t, NULL, &key, 0, NULL));
    }
    assert_int_equal(xps_ratelimit_count(t), 0);
    /* An empty address is a key like any other. */
    xps_ratelimit_key_t empty = {NULL, 0, 1};
    assert_true(xps_ratelimit_take(t, &ok, &empty, 0, NULL));
    assert_false(xps_ratelimit_take(t, &ok, &empty, 0, NULL));
    xps_ratelimit_destroy(t);
    xps_ratelimit_destroy(NULL);
    assert_null(xps_ratelimit_create((size_t)UINT32_MAX, &error));
    assert_int_equal(error, XPS_E_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scripts_of_requests),
        cmocka_unit_test(a_spray_of_addresses_stays_under_the_cap),
        cmocka_unit_test(idle_buckets_are_forgotten),
        cmocka_unit_test(bad_arguments_allow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
