// modules/metrics/xps_metrics.cpp — see xps_metrics.h.
//
// The slots are an array in one anonymous shared mapping; the handle (a
// small struct in the process's own memory, copied by fork like the rest
// of it) points at it. A counter is bumped with a relaxed load and store:
// the slot's writer is its only writer, so no lock prefix is needed, and
// a reader in another process sees whole 64-bit values.
#include "modules/metrics/xps_metrics.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cinttypes>
#include <cstdio>
#include <new>

namespace {

constexpr uint64_t bounds_ms[XPS_METRICS_LATENCY_BUCKETS] = XPS_METRICS_LATENCY_BOUNDS_MS;

static_assert(sizeof(xps_metrics_slot_t) % 64 == 0, "a slot spans whole cache lines");

void bump(uint64_t *counter, uint64_t by) {
    __atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + by, __ATOMIC_RELAXED);
}

uint64_t load(const uint64_t *counter) { return __atomic_load_n(counter, __ATOMIC_RELAXED); }

// Appends printf output to out[len..XPS_METRICS_PAGE_MAX).
struct page {
    char *out;
    size_t len;
    void add(const char *fmt, ...) __attribute__((format(printf, 2, 3))) {
        va_list ap;
        va_start(ap, fmt);
        int n = std::vsnprintf(out + len, XPS_METRICS_PAGE_MAX - len, fmt, ap);
        va_end(ap);
        if (n > 0)
            len = std::min(len + static_cast<size_t>(n), static_cast<size_t>(XPS_METRICS_PAGE_MAX - 1));
    }
};

} // namespace

struct xps_metrics_s {
    xps_metrics_slot_t *slots; // the mapping
    size_t n;
};

xps_metrics_t *xps_metrics_create_shared(size_t slots, int *error) noexcept {
    *error = XPS_OK;
    if (slots == 0 || slots > XPS_METRICS_MAX_SLOTS) {
        *error = XPS_E_INVAL;
        return nullptr;
    }
    auto *m = new (std::nothrow) xps_metrics_t{};
    if (!m) {
        *error = XPS_E_NOMEM;
        return nullptr;
    }
    void *map = mmap(nullptr, slots * sizeof(xps_metrics_slot_t), PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) { // zeroed by the kernel otherwise
        *error = xps_error_from_errno(errno);
        delete m;
        return nullptr;
    }
    m->slots = static_cast<xps_metrics_slot_t *>(map), m->n = slots;
    return m;
}

void xps_metrics_destroy(xps_metrics_t *m) noexcept {
    if (!m)
        return;
    munmap(m->slots, m->n * sizeof(xps_metrics_slot_t));
    delete m;
}

xps_metrics_slot_t *xps_metrics_slot(xps_metrics_t *m, size_t i) noexcept {
    return i < m->n ? &m->slots[i] : nullptr;
}

size_t xps_metrics_slot_count(const xps_metrics_t *m) noexcept { return m->n; }

void xps_metrics_count_response(xps_metrics_slot_t *s, int status, uint64_t bytes) noexcept {
    if (status >= 100 && status <= 599)
        bump(&s->requests[status / 100 - 1], 1);
    bump(&s->bytes, bytes);
}

void xps_metrics_set_connections(xps_metrics_slot_t *s, uint64_t open) noexcept {
    __atomic_store_n(&s->connections, open, __ATOMIC_RELAXED);
}

void xps_metrics_upstream_latency(xps_metrics_slot_t *s, uint64_t us) noexcept {
    size_t b = 0;
    while (b < XPS_METRICS_LATENCY_BUCKETS && us > bounds_ms[b] * 1000)
        b++;
    bump(&s->latency[b], 1);
    bump(&s->latency_sum_us, us);
}

void xps_metrics_cache(xps_metrics_slot_t *s, bool hit) noexcept {
    bump(hit ? &s->cache_hits : &s->cache_misses, 1);
}

void xps_metrics_sum(const xps_metrics_t *m, xps_metrics_slot_t *t) noexcept {
    *t = xps_metrics_slot_t{};
    for (size_t i = 0; i < m->n; i++) {
        const xps_metrics_slot_t &s = m->slots[i];
        for (size_t c = 0; c < 5; c++)
            t->requests[c] += load(&s.requests[c]);
        t->bytes += load(&s.bytes);
        t->connections += load(&s.connections);
        for (size_t b = 0; b <= XPS_METRICS_LATENCY_BUCKETS; b++)
            t->latency[b] += load(&s.latency[b]);
        t->latency_sum_us += load(&s.latency_sum_us);
        t->cache_hits += load(&s.cache_hits);
        t->cache_misses += load(&s.cache_misses);
    }
}

size_t xps_metrics_render(const xps_metrics_t *m, char *out) noexcept {
    xps_metrics_slot_t t;
    xps_metrics_sum(m, &t);
    page p{out, 0};
    p.add("# HELP xps_requests_total Responses sent, by status class.\n"
          "# TYPE xps_requests_total counter\n");
    for (size_t c = 0; c < 5; c++)
        p.add("xps_requests_total{class=\"%zuxx\"} %" PRIu64 "\n", c + 1, t.requests[c]);
    p.add("# HELP xps_response_bytes_total Bytes of responses, heads and bodies.\n"
          "# TYPE xps_response_bytes_total counter\n"
          "xps_response_bytes_total %" PRIu64 "\n", t.bytes);
    p.add("# HELP xps_connections_active Open client connections.\n"
          "# TYPE xps_connections_active gauge\n"
          "xps_connections_active %" PRIu64 "\n", t.connections);
    p.add("# HELP xps_upstream_latency_seconds From a proxied request's start to its response head.\n"
          "# TYPE xps_upstream_latency_seconds histogram\n");
    uint64_t cumulative = 0;
    for (size_t b = 0; b < XPS_METRICS_LATENCY_BUCKETS; b++) {
        cumulative += t.latency[b];
        p.add("xps_upstream_latency_seconds_bucket{le=\"%" PRIu64 ".%03" PRIu64 "\"} %" PRIu64 "\n",
              bounds_ms[b] / 1000, bounds_ms[b] % 1000, cumulative);
    }
    cumulative += t.latency[XPS_METRICS_LATENCY_BUCKETS];
    p.add("xps_upstream_latency_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", cumulative);
    p.add("xps_upstream_latency_seconds_sum %" PRIu64 ".%06" PRIu64 "\n", t.latency_sum_us / 1000000,
          t.latency_sum_us % 1000000);
    p.add("xps_upstream_latency_seconds_count %" PRIu64 "\n", cumulative);
    p.add("# HELP xps_cache_requests_total The shared cache's answers.\n"
          "# TYPE xps_cache_requests_total counter\n"
          "xps_cache_requests_total{result=\"hit\"} %" PRIu64 "\n"
          "xps_cache_requests_total{result=\"miss\"} %" PRIu64 "\n",
          t.cache_hits, t.cache_misses);
    p.add("# HELP xps_metric_slots Counter slots summed on this page (xps: two per worker).\n"
          "# TYPE xps_metric_slots gauge\n"
          "xps_metric_slots %zu\n", m->n);
    return p.len;
}
