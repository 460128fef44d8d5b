/*
 * modules/balancer/xps_balancer.h — which of a route's upstreams gets the
 * next request, and which of them are down. [stage 17]
 *
 * Why: a reverse_proxy route lists several upstreams (upstreams[]) so that
 * the load is shared and one dead upstream costs nobody an error. Somebody
 * has to choose one per request, and remember which ones just failed. That
 * choice is this module; the proxy (modules/proxy) asks it once per
 * attempt and tells it how the attempt went. The balancer itself touches
 * no socket and reads no clock: every call that depends on time takes
 * `now_ms` (the loop's xps_loop_now_ms), so its rules are tested with a
 * fake clock, as tables (tests/unit/balancer.c).
 *
 * Policies (config key load_balancing):
 *  - XPS_BALANCER_ROUND_ROBIN (the default): the healthy upstreams in turn,
 *    a cursor moving past each one chosen: 30 requests over 3 healthy
 *    upstreams are 10/10/10, and a down one is skipped, not waited for.
 *  - XPS_BALANCER_LEAST_CONNECTIONS: the healthy upstream with the fewest
 *    requests in flight (xps_balancer_begin .. xps_balancer_end); among
 *    equals, round robin's cursor decides, so idle upstreams share evenly
 *    and a slow one (its requests pile up) is avoided.
 *  - XPS_BALANCER_IP_HASH: a hash of the client's address picks the
 *    upstream, so one client keeps its upstream (its session state, a
 *    warm cache) while that upstream is healthy. IPv4 is hashed on its 32
 *    bits, IPv6 on its /64 (the prefix a single site or host is given; the
 *    low 64 bits change with privacy addresses). When the hashed upstream
 *    is down (or already tried), the next ones after it are taken in order,
 *    so the clients of a dead upstream spread over the others and return
 *    to it when it is back. No address (family 0): round robin.
 *
 * Passive health: the proxy reports each attempt. A failure (a connect
 * refused or timed out, or an upstream that closed a fresh connection
 * without a byte of answer) counts; max_fails of them in a row mark the
 * upstream down for fail_timeout_ms: it is not chosen, and a request for
 * which every upstream is down or tried is answered 502 at once (the
 * choice returns XPS_BALANCER_NONE). When that time has passed, the
 * upstream may be chosen again ("on probation"): one more failure marks it
 * down again at once, a success (xps_balancer_succeeded) clears its count.
 * A route with ONE upstream never marks it down (as nginx): with nowhere
 * else to send a request, refusing it for fail_timeout_ms would only turn
 * an upstream's restart into seconds of 502s; its requests simply try it.
 * An active health check (xps_balancer_set.h) may report a success for a
 * downed upstream earlier, as soon as it answers.
 *
 * Lifecycle: create → choose / begin / end / failed / succeeded ... →
 * destroy. Ownership: nothing borrowed. Errors: XPS_E_NOMEM, XPS_E_INVAL at
 * create. Threading: none — one balancer per route and per worker (a
 * worker's loop owns its own; stage 21's workers do not share them).
 */
#ifndef XPS_MODULES_BALANCER_H
#define XPS_MODULES_BALANCER_H

#include "core/xps.h"
#include "modules/ipfilter/xps_ipfilter.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xps_balancer_s xps_balancer_t;

typedef enum xps_balancer_policy {
    XPS_BALANCER_ROUND_ROBIN = 0,
    XPS_BALANCER_LEAST_CONNECTIONS = 1,
    XPS_BALANCER_IP_HASH = 2,
} xps_balancer_policy_t;

/* The most upstreams one balancer (one route) takes: the set of upstreams
 * an attempt has tried is one 64-bit mask. The config refuses more. */
#define XPS_BALANCER_MAX_UPSTREAMS 64

/* Defaults of the config keys max_fails and fail_timeout_ms (nginx's
 * max_fails=1 fail_timeout=10s): one failure takes an upstream out for 10
 * s. Short enough that a restarted upstream is used again soon, long
 * enough that a dead one is not hit by every request. */
#define XPS_BALANCER_MAX_FAILS 1
#define XPS_BALANCER_FAIL_TIMEOUT_MS 10000

/* What xps_balancer_choose returns when no upstream may be chosen. */
#define XPS_BALANCER_NONE ((size_t)-1)

typedef struct xps_balancer_options {
    xps_balancer_policy_t policy;
    unsigned max_fails;       /* >= 1: failures in a row that mark it down */
    uint64_t fail_timeout_ms; /* > 0: how long a downed upstream stays down */
} xps_balancer_options_t;

/* ---------------------------------------------------------- lifecycle */

/* A balancer over `count` upstreams (1..XPS_BALANCER_MAX_UPSTREAMS),
 * numbered 0..count-1 in the route's order, all healthy, none in flight.
 * NULL and *error: XPS_E_INVAL (a count or option out of range),
 * XPS_E_NOMEM. */
xps_balancer_t *xps_balancer_create(size_t count, const xps_balancer_options_t *options,
                                    int *error) XPS_NOEXCEPT;

/* Accepts NULL. */
void xps_balancer_destroy(xps_balancer_t *balancer) XPS_NOEXCEPT;

/* --------------------------------------------------------- operations */

/* The upstream for an attempt: by the policy, among the upstreams that
 * are not down at now_ms and whose bit is not set in `tried` (bit i:
 * upstream i already failed this request). `client` is the client's
 * address for ip_hash (NULL or family 0: round robin instead). Moves the
 * round-robin cursor past the one chosen. XPS_BALANCER_NONE when every
 * upstream is down or tried. */
size_t xps_balancer_choose(xps_balancer_t *balancer, const xps_ipfilter_addr_t *client,
                           uint64_t tried, uint64_t now_ms) XPS_NOEXCEPT;

/* A request is now in flight on upstream i / is over (least_connections
 * counts these). Each begin is matched by exactly one end. */
void xps_balancer_begin(xps_balancer_t *balancer, size_t i) XPS_NOEXCEPT;
void xps_balancer_end(xps_balancer_t *balancer, size_t i) XPS_NOEXCEPT;

/* An attempt on upstream i failed at now_ms (see "Passive health"). */
void xps_balancer_failed(xps_balancer_t *balancer, size_t i, uint64_t now_ms) XPS_NOEXCEPT;

/* Upstream i answered (a connect went through, or a health check got its
 * answer): its failures are forgotten and it is up. */
void xps_balancer_succeeded(xps_balancer_t *balancer, size_t i) XPS_NOEXCEPT;

/* ---------------------------------------------------------- accessors */

size_t xps_balancer_count(const xps_balancer_t *balancer) XPS_NOEXCEPT;

/* Whether upstream i is down at now_ms (not chosen). */
bool xps_balancer_is_down(const xps_balancer_t *balancer, size_t i,
                          uint64_t now_ms) XPS_NOEXCEPT;

/* Whether upstream i has failed max_fails times in a row and not answered
 * since: down, or on probation. What an active health check probes. */
bool xps_balancer_is_suspect(const xps_balancer_t *balancer, size_t i) XPS_NOEXCEPT;

/* Requests in flight on upstream i. */
size_t xps_balancer_in_flight(const xps_balancer_t *balancer, size_t i) XPS_NOEXCEPT;

/* "round_robin", "least_connections", "ip_hash"; "?" for other values. */
const char *xps_balancer_policy_name(xps_balancer_policy_t policy) XPS_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* XPS_MODULES_BALANCER_H */
