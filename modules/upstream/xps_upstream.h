/*
 * modules/upstream/xps_upstream.h — connecting to another server without
 * stalling the loop, and the raw TCP tunnel built on that.
 *
 * Introduced in stage 08, where port 8001 becomes a proxy. A proxy must open
 * a connection of its own to the upstream server, and a blocking connect()
 * would freeze every other client of this single-threaded process for a
 * whole handshake (up to minutes for a host that does not answer). So the
 * socket is non-blocking: connect() returns EINPROGRESS at once, the loop
 * reports the socket writable when the handshake has finished, and
 * getsockopt(SO_ERROR) says whether it worked. The result is handed back as
 * an ordinary xps_connection_t (modules/tcp): an upstream is just another
 * connection once it is connected.
 *
 * Host names: a numeric address ("127.0.0.1", "::1") is parsed without any
 * lookup. Anything else ("localhost", "example.org") goes to getaddrinfo(),
 * which BLOCKS: "localhost" is normally answered from /etc/hosts at once,
 * but a real DNS name can stall the whole server for seconds. A production
 * server resolves names asynchronously or once at configuration time; here
 * the name is resolved on every connect, and only numeric addresses and
 * "localhost" are meant to be used. When a name has several addresses
 * ("localhost" is ::1 and 127.0.0.1) they are tried in order until one
 * accepts.
 *
 * Lifecycle: connect → (the loop works) → callback, exactly once, after
 * which the handle is gone; or connect → cancel (no callback). A pending
 * attempt is a member of the loop's core: destroying the core cancels it.
 * Ownership: the handle owns its socket until it hands it over inside the
 * connection the callback receives (the callback then owns that). `data`
 * is the caller's; the module never frees it. The tunnel takes the client.
 * Errors: XPS_E_INVAL, XPS_E_NOTFOUND, XPS_E_NOMEM, XPS_E_LIMIT, XPS_E_FAIL
 * at once; XPS_E_REFUSED, XPS_E_TIMEOUT, XPS_E_CLOSED, XPS_E_FAIL through
 * the callback. Lifetimes: docs/conventions.md, "Lifetimes".
 * Threading: none.
 */
#ifndef XPS_MODULES_UPSTREAM_H
#define XPS_MODULES_UPSTREAM_H

#include "core/xps.h"
#include "modules/loop/xps_loop.h"
#include "modules/tcp/xps_tcp.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One connection attempt in progress. */
typedef struct xps_upstream_s xps_upstream_t;

/* The attempt is over. status XPS_OK: `connection` is connected and now
 * belongs to the callback (attach pipes to it, or destroy it). Otherwise
 * `connection` is NULL and status says why: XPS_E_REFUSED (nothing listens
 * there), XPS_E_TIMEOUT (the deadline passed first), XPS_E_CLOSED or
 * XPS_E_FAIL (unreachable, reset; logged), XPS_E_NOMEM / XPS_E_LIMIT
 * (connected, but wrapping the socket failed). Runs from the loop, never
 * inside xps_upstream_connect. The handle is finished: it is freed after
 * the batch; do not use it after the callback returns. */
typedef void (*xps_upstream_cb)(xps_upstream_t *upstream, xps_connection_t *connection,
                                int status, void *data);

/* ---------------------------------------------------------- lifecycle */

/* Starts connecting to host:port (port > 0) and returns the pending
 * attempt. timeout_ms > 0 bounds the whole attempt (a loop timer); 0 waits
 * as long as the kernel does (minutes for a silent host). Returns NULL and
 * *error when it cannot even start: XPS_E_INVAL (empty host, port 0),
 * XPS_E_NOTFOUND (the name has no address), XPS_E_NOMEM, XPS_E_LIMIT (no
 * descriptor left). A refusal is never reported here: it comes through cb. */
xps_upstream_t *xps_upstream_connect(xps_loop_t *loop, const char *host, uint16_t port,
                                     uint64_t timeout_ms, xps_upstream_cb cb, void *data,
                                     int *error) XPS_NOEXCEPT;

/* Abandons a pending attempt: the socket is closed, cb is never called.
 * Safe inside any callback; inside the attempt's own callback it does
 * nothing (the attempt is already over). Accepts NULL. */
void xps_upstream_cancel(xps_upstream_t *upstream) XPS_NOEXCEPT;

/* --------------------------------------------------------- operations */

/* [stage 08] Splices `client` to a new connection to host:port, a raw TCP
 * proxy, with two pipes:
 *
 *   client ──source──▶ [to_upstream] ──sink──▶ upstream
 *   client ◀──sink──── [to_client]  ◀─source── upstream
 *
 * Both pipes are created and the client's ends attached at once; the
 * upstream's ends are attached when the connect succeeds. Until then a pipe
 * without a sink never asks the client to produce, so the client's bytes
 * wait in its socket (and TCP pushes back). If the connect fails the client
 * is closed without a byte sent to it. Afterwards the pipes carry end of
 * stream both ways (a half-close passes through) and deliver what they hold
 * before a close. Takes `client` whatever the result: on an immediate error
 * (the codes of xps_upstream_connect) it is already destroyed. */
int xps_upstream_tunnel(xps_loop_t *loop, xps_connection_t *client, const char *host,
                        uint16_t port, uint64_t timeout_ms) XPS_NOEXCEPT;

/* ---------------------------------------------------------- accessors */

/* "host:port" as asked for ("[::1]:3000" for an IPv6 address), owned by
 * the handle: for log lines. */
const char *xps_upstream_target(const xps_upstream_t *upstream) XPS_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* XPS_MODULES_UPSTREAM_H */
