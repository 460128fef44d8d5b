/*
 * modules/metrics/xps_metrics.h — [apps/xps] the server's counters, summed
 * over every worker, and their page in Prometheus's text format (0.0.4),
 * which the "metrics" route type answers.
 *
 * Why: a load balancer or an operator's dashboard asks "how many requests,
 * how many errors, how slow are the upstreams, does the cache work" of the
 * server as a whole. With stage 21's workers the answer is spread over
 * processes, and the worker that gets GET /metrics must still give the
 * sum. So the counters live in ONE mapping shared by every process
 * (MAP_SHARED | MAP_ANONYMOUS, made by the master before it forks, which
 * every worker inherits), cut into slots: worker i writes slot i and
 * nobody else does; the page reads every slot and adds them up.
 *
 * No locks: a slot has one writer, which updates a counter with a relaxed
 * atomic load and store (no read-modify-write instruction: nobody else
 * writes it), and readers load each counter atomically. A page is a sum of
 * counters read one by one, not a snapshot: two counters read a few
 * nanoseconds apart may disagree by the requests that finished in
 * between, as with any Prometheus exporter. A worker that is replaced
 * (stage 21's master restarts it on its slot) starts from the counters its
 * predecessor left: counters never go backwards.
 *
 * What is counted (the page's names):
 *   xps_requests_total{class="1xx".."5xx"}   responses by status class
 *   xps_response_bytes_total                 bytes of responses, heads and bodies
 *   xps_connections_active                   open client connections (a gauge,
 *                                            each worker's sampled every second)
 *   xps_upstream_latency_seconds             histogram: from a proxied request's
 *                                            start to its response head
 *   xps_cache_requests_total{result="hit"|"miss"}  the shared cache's answers
 *   xps_metric_slots                         slots of the mapping (a worker writes one)
 *
 * Lifecycle: create (before any fork) → slot(i) in each worker → count → …
 * → destroy (in the process that created it, after its workers; a worker
 * simply exits: its copy of the mapping goes with it).
 * Ownership: the handle owns the mapping. Errors: create → XPS_E_INVAL
 * (0 slots or too many) or mmap's error; nothing else fails.
 * Threading: a slot is written by one thread of one process; any may read.
 */
#ifndef XPS_MODULES_METRICS_H
#define XPS_MODULES_METRICS_H

#include "core/xps.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The upstream latency histogram's upper bounds, in milliseconds (then
 * +Inf): Prometheus's default buckets. */
#define XPS_METRICS_LATENCY_BUCKETS 11
#define XPS_METRICS_LATENCY_BOUNDS_MS \
    {5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000}

/* The most slots one mapping holds (a worker count is far below). */
#define XPS_METRICS_MAX_SLOTS 1024

/* The longest page xps_metrics_render writes. */
#define XPS_METRICS_PAGE_MAX 8192

/* One writer's counters. Read and written only through the functions
 * below (atomics); the layout is not part of the contract. */
typedef struct xps_metrics_slot {
    uint64_t requests[5];  /* responses of status 1xx .. 5xx */
    uint64_t bytes;        /* bytes of responses */
    uint64_t connections;  /* open client connections, as last published */
    uint64_t latency[XPS_METRICS_LATENCY_BUCKETS + 1]; /* per bucket (not
                              cumulative); the last is +Inf */
    uint64_t latency_sum_us;
    uint64_t cache_hits, cache_misses;
    uint64_t pad[10];      /* 256 bytes: whole cache lines, no false sharing */
} xps_metrics_slot_t;

typedef struct xps_metrics_s xps_metrics_t;

/* A shared mapping of `slots` zeroed slots (1..XPS_METRICS_MAX_SLOTS),
 * inherited across fork(). One process alone uses 1 slot the same way.
 * NULL and *error on failure. */
xps_metrics_t *xps_metrics_create_shared(size_t slots, int *error) XPS_NOEXCEPT;

/* Unmaps. Accepts NULL. */
void xps_metrics_destroy(xps_metrics_t *metrics) XPS_NOEXCEPT;

/* Slot i (i < slots), the one a worker writes; NULL past the end. */
xps_metrics_slot_t *xps_metrics_slot(xps_metrics_t *metrics, size_t i) XPS_NOEXCEPT;

size_t xps_metrics_slot_count(const xps_metrics_t *metrics) XPS_NOEXCEPT;

/* ---------------------------------------------------- a slot's writer */

/* A response of `status` (100..599; others are not counted by class) of
 * `bytes` bytes. */
void xps_metrics_count_response(xps_metrics_slot_t *slot, int status, uint64_t bytes) XPS_NOEXCEPT;

/* The slot's open connections now. */
void xps_metrics_set_connections(xps_metrics_slot_t *slot, uint64_t open) XPS_NOEXCEPT;

/* An upstream answered (its response head) `us` microseconds after the
 * request went to it. */
void xps_metrics_upstream_latency(xps_metrics_slot_t *slot, uint64_t us) XPS_NOEXCEPT;

/* The shared cache answered a request (hit) or sent it upstream (miss). */
void xps_metrics_cache(xps_metrics_slot_t *slot, bool hit) XPS_NOEXCEPT;

/* -------------------------------------------------------------- readers */

/* Every slot added up (each counter loaded atomically). */
void xps_metrics_sum(const xps_metrics_t *metrics, xps_metrics_slot_t *total) XPS_NOEXCEPT;

/* The page: Prometheus text format 0.0.4 (HELP and TYPE lines, then the
 * samples), of the sum, into out (XPS_METRICS_PAGE_MAX bytes at least).
 * Returns its length (not NUL-terminated). Content-Type to serve it with:
 * XPS_METRICS_CONTENT_TYPE. */
size_t xps_metrics_render(const xps_metrics_t *metrics, char *out) XPS_NOEXCEPT;

#define XPS_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#ifdef __cplusplus
}
#endif

#endif /* XPS_MODULES_METRICS_H */
