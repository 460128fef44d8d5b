/*
 * modules/cache/xps_cache.h — the shared response cache in the proxy
 * path: one object per request of a route with "cache" (docs/config.md),
 * between the session and the proxy. [stage 20]
 *
 * What it does with a request (the decisions are xps_cache_policy.h's,
 * the entries xps_cache_store.h's):
 *  - not GET or HEAD, or the request says no-store, or it carries
 *    Authorization and the stored response does not allow that (RFC 9111
 *    §3.5): BYPASS — the proxy fetches, nothing is stored or served;
 *  - a stored response fresh for this request: HIT — the owner gets the
 *    head to send (X-Cache: HIT, Age, Content-Length, its Connection
 *    field) and the body as a range of the entry's file, for sendfile;
 *  - none: MISS; a stale one: EXPIRED. The proxy fetches with this
 *    object's tee (xps_proxy_tee_t, hook (c) of xps_proxy.h), which copies
 *    a storable response into a store writer; committed at its end, so a
 *    response cut short (an upstream that died mid-body) leaves no entry.
 *    A stale entry is fetched again in full (no conditional request: see
 *    the chapter's "What is left"); the new response replaces it, and one
 *    that may no longer be stored removes it.
 *  - another request (of any process) is fetching the same key: this one
 *    waits, asking the store again every XPS_CACHE_WAIT_STEP_MS, at most
 *    the route's lock_timeout_ms; then it goes upstream itself without
 *    storing (X-Cache: MISS). So concurrent misses make one upstream
 *    request, and a writer that hangs costs the others one timeout.
 * Keys: "<origin>\n<Host>\n<request-target>" (origin: the route's
 * upstreams, so two routes to different upstreams never share an entry),
 * GET and HEAD alike (HEAD is answered
 * from GET's entry; a HEAD that misses is fetched, not stored). Vary: a
 * response with Vary is stored under the key plus the request's values of
 * the fields it names, and the plain key holds a small "variants" record
 * naming them; `Vary: *` is never stored (the policy).
 * Entry file: "XPSC1 <request_time> <response_time> <head_len>\n", the
 * head to replay (hop-by-hop fields, framing and Age removed), the body
 * as received (identity of framing; any Content-Encoding the upstream
 * chose). A hit is never compressed by xps (stage 16's gzip applies to
 * misses only), so no client gets gzip it did not accept; a Range on a
 * hit gets the whole 200 (allowed, RFC 9110 §14.2).
 *
 * Lifecycle: xps_cache_exchange_create → xps_cache_exchange_start (may
 * call an event before it returns) → exactly one of hit / fetch → the
 * owner calls xps_cache_exchange_destroy after the proxy it started with
 * the tee is destroyed (the tee's end() comes from the proxy's destroy at
 * the latest). Destroy is safe inside the events (the memory waits for
 * the end of the loop's batch).
 * Ownership: the exchange owns its writer and its wait timer; the loop and
 * the store are borrowed; the request's strings are copied at create.
 * Errors: XPS_E_NOMEM at create; later a store failure only means "not
 * stored" (logged), never an error for the client. Threading: none.
 */
#ifndef XPS_MODULES_CACHE_H
#define XPS_MODULES_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/xps.h"
#include "core/xps_buffer.h"
#include "http/xps_http_parser.h"
#include "modules/cache/xps_cache_store.h"
#include "modules/loop/xps_loop.h"
#include "modules/proxy/xps_proxy.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How often a request waiting for another's fetch asks the store again. */
#define XPS_CACHE_WAIT_STEP_MS 10

/* Index slots of a store opened by xps_session_listen_all_with. */
#define XPS_CACHE_MAX_ENTRIES 65536

typedef struct xps_cache_exchange_s xps_cache_exchange_t;

typedef struct xps_cache_events {
    /* A stored response answers the request. `head` is the owner's to queue
     * (the whole head, blank line included); then, unless `len` is 0, the
     * body: `len` bytes of the file open on `fd` from `offset` (fd borrowed
     * for the call: xps_pipe_write_file duplicates it). */
    void (*hit)(void *data, xps_buffer_t *head, int fd, int64_t offset, uint64_t len);
    /* Go upstream, with `tee` (borrowed from the exchange, valid until it
     * is destroyed) as the proxy's xps_proxy_request_t.tee. */
    void (*fetch)(void *data, const xps_proxy_tee_t *tee);
} xps_cache_events_t;

/* The request, as the owner hands it over (copied at create). */
typedef struct xps_cache_exchange_request {
    xps_loop_t *loop;
    xps_cache_store_t *store;
    const xps_http_head_t *head; /* the request's parsed head ... */
    const char *buf;             /* ... and its buffer */
    bool keep;                   /* the client's connection stays after a hit */
    uint32_t wait_ms;            /* the route's lock_timeout_ms */
    const char *log_line;        /* "GET /x", for log lines */
    const char *origin;          /* where a miss goes, e.g. the route's
                                    upstreams "127.0.0.1:3000,..."; the start
                                    of every key (NULL: "") */
} xps_cache_exchange_request_t;

/* An exchange for `request`, reporting to `events` with `data`. NULL and
 * *error XPS_E_NOMEM. Nothing happens until xps_cache_exchange_start. */
xps_cache_exchange_t *xps_cache_exchange_create(const xps_cache_exchange_request_t *request,
                                                const xps_cache_events_t *events, void *data,
                                                int *error) XPS_NOEXCEPT;

/* Looks the request up: hit or fetch, now or after a wait. */
void xps_cache_exchange_start(xps_cache_exchange_t *x) XPS_NOEXCEPT;

/* Ends it: a wait stops, an unfinished writer is dropped. Accepts NULL. */
void xps_cache_exchange_destroy(xps_cache_exchange_t *x) XPS_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* XPS_MODULES_CACHE_H */
