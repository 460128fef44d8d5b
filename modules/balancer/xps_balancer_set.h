/*
 * modules/balancer/xps_balancer_set.h — the balancers of one loop: one per
 * reverse_proxy route, and the active health checks of the routes that
 * ask for one. [stage 17]
 *
 * Why a set: a balancer's state (the round-robin cursor, requests in
 * flight, which upstream is down) belongs to a ROUTE — two routes that
 * list the same upstream balance independently, as in nginx, where each
 * upstream block is its own — and to one worker's loop (no locks; stage 21
 * gives each worker its own set). The sessions of a loop share the set,
 * and xps_balancer_set_get finds a route's balancer by the route's place
 * in the configuration (server and route index), making it the first time
 * the route is used, from the route's keys: load_balancing, max_fails,
 * fail_timeout_ms.
 *
 * Active health check (going past nginx's open-source edition, which has
 * only the passive one): for a route with `health_check: {path,
 * interval_ms}`, a loop timer fires every interval_ms and probes each of
 * the route's upstreams that is suspect (xps_balancer_is_suspect: it
 * failed max_fails times and has not answered since): a new connection,
 * "GET <path> HTTP/1.1" with "Host: <upstream>" and "Connection: close",
 * and the status line of the answer. 2xx or 3xx: the upstream is up again
 * at once (xps_balancer_succeeded), without waiting for fail_timeout_ms.
 * Anything else, a refused or silent connection, or no status line by the
 * next tick: it stays as it is (a probe never marks an upstream down:
 * only real traffic does). Healthy upstreams are not probed, so a route
 * whose upstreams are all well costs one timer tick per interval.
 *
 * Lifecycle: create (joins the loop's core) → get ... → destroy, or
 * destroy the core. Ownership: the set owns its balancers, timers and
 * probes; the configuration is borrowed and must outlive the set.
 * Errors: XPS_E_NOMEM; XPS_E_INVAL from xps_balancer_create.
 * Threading: none.
 */
#ifndef XPS_MODULES_BALANCER_SET_H
#define XPS_MODULES_BALANCER_SET_H

#include "core/xps.h"
#include "modules/balancer/xps_balancer.h"
#include "modules/config/xps_config.h"
#include "modules/loop/xps_loop.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xps_balancer_set_s xps_balancer_set_t;

/* ---------------------------------------------------------- lifecycle */

/* An empty set on `loop`, a member of its core. NULL and *error. */
xps_balancer_set_t *xps_balancer_set_create(xps_loop_t *loop, int *error) XPS_NOEXCEPT;

/* Destroys every balancer, stops the health checks (pending probes are
 * closed). Accepts NULL. */
void xps_balancer_set_destroy(xps_balancer_set_t *set) XPS_NOEXCEPT;

/* --------------------------------------------------------- operations */

/* The balancer of the reverse_proxy route `route` (a lookup result; its
 * server and route indexes name it), made on the first call, with its
 * health check started when the route has one. NULL and *error when it
 * cannot be made (XPS_E_NOMEM; XPS_E_INVAL: not a reverse_proxy route). */
xps_balancer_t *xps_balancer_set_get(xps_balancer_set_t *set,
                                     const xps_config_route_match_t *route,
                                     int *error) XPS_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* XPS_MODULES_BALANCER_SET_H */
