/*
 * modules/upstream/xps_upstream_pool.h — idle connections to upstreams,
 * kept for the next request instead of being closed. [stage 13]
 *
 * Why: a reverse proxy that opens a new upstream connection for every
 * request pays a TCP handshake (and, from stage 19, a TLS one) per request,
 * and leaves a socket in TIME_WAIT behind each. HTTP/1.1 lets both ends
 * keep a connection for further requests (RFC 9112 §9.3), so the proxy
 * gives a connection whose response ended cleanly back to a pool, and the
 * next request to the same upstream (host:port) takes it from there.
 * [stage 19] An upstream is host:port AND how its connections speak: plain
 * TCP, or TLS made by one client context (modules/upstream/
 * xps_upstream_tls.h: one per route with "upstream_tls"). Connections of
 * different kinds to one address are kept apart and never mixed: a route
 * that verifies certificates never gets a connection made without, and a
 * plain route never gets a TLS one (it would write plaintext into it).
 *
 * What waits in the pool is a PARKED connection (xps_connection_park in
 * modules/tcp): no pipe, no buffer, only its socket and its epoll
 * registration. An idle upstream connection has nothing to say, so any
 * news from it means it cannot be used: the upstream closed it (its own
 * idle timeout, a restart) or sent bytes nobody asked for (which would be
 * read as the answer to the next request). Either way the pool closes it
 * at once. The pool is bounded twice:
 *  - at most max_idle connections per upstream (XPS_UPSTREAM_POOL_MAX_IDLE):
 *    putting one more closes the one idle the longest;
 *  - each waits at most idle_ms (XPS_UPSTREAM_POOL_IDLE_MS): one loop timer
 *    per upstream, armed for its oldest connection, closes them in turn.
 * take() hands out the connection idle the shortest: the one least likely
 * to have been closed by the upstream meanwhile.
 *
 * What the pool does NOT know is HTTP. Whether a connection may be put
 * back (its response ended exactly where its framing said, the upstream
 * did not say "Connection: close", the whole request went up) is the
 * caller's decision: modules/proxy/xps_proxy.cpp makes it.
 *
 * Lifecycle: create (joins the loop's core as a member) → put / take ...
 * → destroy (closes what is idle), or destroy the core.
 * Ownership: put() takes the connection on success; take() gives one back
 * to the caller, which then owns it (attach pipes, or destroy it). The loop
 * is borrowed and must outlive the pool. Host strings are copied.
 * Errors: XPS_E_NOMEM, XPS_E_INVAL. Lifetimes: docs/conventions.md,
 * "Lifetimes". Threading: none.
 */
#ifndef XPS_MODULES_UPSTREAM_POOL_H
#define XPS_MODULES_UPSTREAM_POOL_H

#include "core/xps.h"
#include "modules/loop/xps_loop.h"
#include "modules/tcp/xps_tcp.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xps_upstream_pool_s xps_upstream_pool_t;

/* Idle connections kept per upstream. nginx's upstream "keepalive" is a
 * number of the same kind, with no default; 32 covers the requests a busy
 * client mix has in flight to one upstream at a time, and bounds what an
 * upstream sees of us while we are quiet (32 sockets, no memory beyond). */
#define XPS_UPSTREAM_POOL_MAX_IDLE 32

/* How long an idle connection is kept. Below the usual idle timeouts of
 * upstream servers (5 s for Apache, Node.js and gunicorn; nginx 75 s): we
 * close first, so we rarely send a request on a connection the upstream is
 * closing at that very moment (the race a retry then has to repair). */
#define XPS_UPSTREAM_POOL_IDLE_MS 4000

/* ---------------------------------------------------------- lifecycle */

/* A new, empty pool on `loop` keeping at most max_idle (> 0) connections
 * per upstream, each for at most idle_ms (> 0) milliseconds. A member of
 * the loop's core: destroying the core destroys it. NULL and *error
 * (XPS_E_NOMEM, XPS_E_INVAL) on failure. */
xps_upstream_pool_t *xps_upstream_pool_create(xps_loop_t *loop, size_t max_idle,
                                              uint64_t idle_ms, int *error) XPS_NOEXCEPT;

/* Closes every idle connection and frees the pool. Accepts NULL; safe
 * inside any callback. */
void xps_upstream_pool_destroy(xps_upstream_pool_t *pool) XPS_NOEXCEPT;

/* --------------------------------------------------------- operations */

/* Gives `connection`, connected to host:port [stage 19] and speaking
 * through TLS client `tls` (NULL: plain TCP), to the pool. Precondition:
 * it is open with both of its pipes still attached, the caller has read
 * all it wants from it and sent all it had (nothing unread, nothing
 * owed). The pool parks it; the caller must then at once detach its own
 * ends of both pipes (the connection lets go of them without a FIN, and
 * sends first what the sink pipe still holds). When the upstream already
 * has max_idle connections waiting, the one idle the longest is closed.
 * XPS_OK: the pool owns the connection. XPS_E_INVAL (it cannot be parked:
 * not open, or not both pipes attached) or XPS_E_NOMEM: nothing changed,
 * the caller still owns it. */
int xps_upstream_pool_put(xps_upstream_pool_t *pool, const char *host, uint16_t port,
                          const xps_tls_client_t *tls, xps_connection_t *connection) XPS_NOEXCEPT;

/* An idle connection to host:port through `tls` (NULL: plain TCP), or
 * NULL when none is ready. The caller
 * owns it: it has no pipe attached (attach new ones) and no close callback.
 * A connection put back in this batch of callbacks may not be ready yet
 * (it is still letting go of its pipes): take() then skips it. The caller
 * cannot know whether the upstream closed it a moment ago — a request sent
 * on it may find a reset or a FIN instead of an answer (see the stage 13
 * chapter, "Connection pooling", for when to retry). */
xps_connection_t *xps_upstream_pool_take(xps_upstream_pool_t *pool, const char *host,
                                         uint16_t port, const xps_tls_client_t *tls) XPS_NOEXCEPT;

/* ---------------------------------------------------------- accessors */

/* How many connections to host:port through `tls` the pool holds (ready or still
 * letting go of their pipes): for tests and logs. */
size_t xps_upstream_pool_idle(const xps_upstream_pool_t *pool, const char *host,
                              uint16_t port, const xps_tls_client_t *tls) XPS_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* XPS_MODULES_UPSTREAM_POOL_H */
