/*
 * modules/ratelimit/xps_ratelimit.h — token buckets, one per client
 * address and route, in a table whose memory is bounded.
 *
 * Introduced in stage 18. A route's `rate_limit: {rate, burst}` lets each
 * client make `burst` requests at once, then `rate` requests per second on
 * average. A bucket holds up to `burst` tokens and gains `rate` tokens per
 * second; a request takes one token; a request that finds less than one is
 * refused, and the caller answers 429 with Retry-After: the whole seconds
 * until the bucket holds a token again, at least 1 (RFC 6585 §4, RFC 9110
 * §10.2.3). A client's first request finds a full bucket.
 *
 * Why a table with bounds: a bucket exists per (address, route) pair, and
 * addresses are the client's to choose (an IPv6 client owns 2^64 of them).
 * Without bounds, a spray of source addresses would grow memory for ever.
 * So:
 *  - a bucket that has refilled to `burst` is the same as no bucket, so it
 *    is forgotten once it has been idle long enough to be full again (it
 *    is found on the least-recently-used end, a few per call: no scan);
 *  - the table holds at most `max_entries` buckets. AT THE CAP, a new key
 *    takes the place of the least recently used bucket (it is dropped, as
 *    if full). Memory stays bounded at max_entries buckets; the price is
 *    that, under a spray of more than max_entries addresses, the oldest
 *    clients' buckets are forgotten and they get a full burst again: the
 *    limit weakens for them instead of new clients being refused. That is
 *    deliberate: refusing every new key at the cap would let an address
 *    spray lock every honest newcomer out of the route (a denial of
 *    service made by the very mechanism meant to prevent one).
 *
 * Cost: O(1) per request: one hash lookup (a keyed hash, seeded at create,
 * so a client cannot choose addresses that all land in one chain), one
 * list move, and at most a few expiries. The time is the caller's
 * (now_ms, monotonic milliseconds: xps_loop_now_ms), so tests can use a
 * fake clock and a request costs no clock read.
 *
 * Lifecycle: create → take (per request) → destroy. Ownership: the caller
 * owns the table; keys are copied. Errors: XPS_E_NOMEM (create; take
 * allows a request it has no memory to track), XPS_E_INVAL (bad
 * arguments). Threading: none (one table per loop).
 */
#ifndef XPS_MODULES_RATELIMIT_H
#define XPS_MODULES_RATELIMIT_H

#include "core/xps.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xps_ratelimit_s xps_ratelimit_t;

/* The default cap on buckets: 100,000 buckets of under 100 bytes each is
 * under 10 MiB, and more distinct clients than that within one refill
 * time is an attack, not traffic. */
#define XPS_RATELIMIT_MAX_ENTRIES 100000

/* The longest address key: an IPv6 address. */
#define XPS_RATELIMIT_KEY_MAX 16

/* One route's rule. rate: tokens per second, in thousandths (1000 = one
 * request per second; 500 = one every two seconds); at least 1. burst:
 * the bucket's size in whole tokens, at least 1. */
typedef struct xps_ratelimit_rule {
    uint64_t rate_milli;
    uint32_t burst;
} xps_ratelimit_rule_t;

/* Who is asking: the address's bytes (network order, 4 for IPv4, 16 for
 * IPv6; an IPv4-mapped IPv6 address should be given as IPv4) and a number
 * naming the route (the caller's: e.g. server index << 32 | route index).
 * Two keys are the same bucket when all three parts are equal. */
typedef struct xps_ratelimit_key {
    const unsigned char *addr;
    size_t addr_len; /* 0..XPS_RATELIMIT_KEY_MAX */
    uint64_t route;
} xps_ratelimit_key_t;

/* A table of at most max_entries buckets (0: XPS_RATELIMIT_MAX_ENTRIES).
 * NULL and *error on failure. */
xps_ratelimit_t *xps_ratelimit_create(size_t max_entries, int *error) XPS_NOEXCEPT;

/* Frees the table and every bucket. Accepts NULL. */
void xps_ratelimit_destroy(xps_ratelimit_t *table) XPS_NOEXCEPT;

/* One request of `key` under `rule` at now_ms: true if it may go on (a
 * token was taken); false if it is refused, with *retry_after_s set to the
 * whole seconds until a token is there (rounded up, at least 1).
 * retry_after_s may be NULL. now_ms must not go backwards (a smaller value
 * counts as no time passed). A request the table has no memory to track,
 * or with a bad rule or key, is allowed (logged at warn). */
bool xps_ratelimit_take(xps_ratelimit_t *table, const xps_ratelimit_rule_t *rule,
                        const xps_ratelimit_key_t *key, uint64_t now_ms,
                        uint32_t *retry_after_s) XPS_NOEXCEPT;

/* Buckets held now (for tests and the chapter's experiments). */
size_t xps_ratelimit_count(const xps_ratelimit_t *table) XPS_NOEXCEPT;

/* The cap given at create (after defaulting). */
size_t xps_ratelimit_capacity(const xps_ratelimit_t *table) XPS_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* XPS_MODULES_RATELIMIT_H */
