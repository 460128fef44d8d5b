/*
 * modules/upstream/xps_upstream_tls.h — the TLS client contexts of one
 * loop's reverse_proxy routes with "upstream_tls". [stage 19]
 *
 * Why a set: a client context (modules/tls, xps_tls_client_create) holds
 * the CAs it trusts, loaded from a file or the system's store — tens of
 * milliseconds and a few hundred KiB for the system's — so it is made once
 * per route, on the route's first request, and shared by every connection
 * the route makes. A route's context also names its connections in the
 * upstream pool (xps_upstream_pool_put): a connection made with one
 * route's CA, SNI and verification is never handed to a route with other
 * ones, nor a TLS connection to a route that speaks plain TCP.
 *
 * Lifecycle: create → get ... → destroy (after every connection made with
 * its contexts is gone). Ownership: the set owns its contexts; the
 * settings records are borrowed from the config, which must outlive it.
 * Errors: XPS_E_NOMEM; a CA file that cannot be used (the reason, with the
 * file, in err). Threading: none.
 */
#ifndef XPS_MODULES_UPSTREAM_TLS_H
#define XPS_MODULES_UPSTREAM_TLS_H

#include "core/xps.h"
#include "modules/config/xps_config.h"
#include "modules/tls/xps_tls.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xps_upstream_tls_set_s xps_upstream_tls_set_t;

/* An empty set. NULL when out of memory. */
xps_upstream_tls_set_t *xps_upstream_tls_set_create(void) XPS_NOEXCEPT;

/* Frees every context. Accepts NULL. */
void xps_upstream_tls_set_destroy(xps_upstream_tls_set_t *set) XPS_NOEXCEPT;

/* The client context for a route's upstream_tls `settings` (a config
 * record: its address is the key), made on the first call. NULL when it
 * cannot be made, with why in err ("<ca file>: cannot read the CA
 * certificates: No such file or directory"); the next call tries again. */
xps_tls_client_t *xps_upstream_tls_get(xps_upstream_tls_set_t *set,
                                       const xps_config_upstream_tls_t *settings, char *err,
                                       size_t err_size) XPS_NOEXCEPT;

/* The name a connection to `host` sends as SNI under `settings`: its
 * "sni", else `host` itself (xps_tls_connect never sends an IP literal). */
const char *xps_upstream_tls_server_name(const xps_config_upstream_tls_t *settings,
                                         const char *host) XPS_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* XPS_MODULES_UPSTREAM_TLS_H */
