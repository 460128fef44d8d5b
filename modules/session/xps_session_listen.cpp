// modules/session/xps_session_listen.cpp — xps_session_listen_all(): the
// composition every config-driven server shares (stages 12 to 15, and
// later apps/xps): one listener per distinct host:port of the config, and
// a session for every client accepted on it, with the stage's switches
// (xps_session_options_t).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <new>
#include <vector>

#include "core/xps_core.h"
#include "core/xps_logger.h"
#include "modules/cache/xps_cache.h"
#include "modules/session/xps_session.h"
#include "modules/ratelimit/xps_ratelimit.h"
#include "modules/tcp/xps_tcp.h"
#include "modules/upstream/xps_upstream_pool.h"

namespace {

// What an accept callback needs: one per listener.
struct accept_ctx {
    xps_loop_t *loop;                      // borrowed
    const xps_config_t *config;            // borrowed: outlives the core
    const xps_config_listener_t *listener; // this listener's record in config
    bool http11;                           // [stage 13] sessions keep connections, ...
    bool ip_filter;                        // [stage 14] routes' access lists are asked
    bool dir_listing;                      // [stage 15] dir_browsing lists folders
    bool gzip;                             // [stage 16] gzip_* keys compress bodies
    xps_upstream_pool_t *pool;             // [stage 13] idle upstream connections; NULL in 12
    xps_balancer_set_t *balancers;         // [stage 17] the routes' balancers; NULL before 17
    xps_upstream_tls_set_t *upstream_tls;  // [stage 19] routes' TLS clients; NULL before 19
    xps_ratelimit_t *limiter;              // [stage 18] routes' buckets; NULL before 18
    const xps_config_timeouts_t *timeouts; // [stage 18] the config's; NULL before 18
    const xps_config_limits_t *limits;     // [stage 18] the config's; NULL before 18
    xps_cache_store_t *cache_store;        // [stage 20] the shared cache; NULL before 20
    const bool *draining;                  // [stage 21] the set's: true once draining
    const xps_session_observer_t *observer; // [apps/xps] the set's; NULL: nothing observed
    bool route_headers;                    // [apps/xps] routes' "headers" are added
    bool error_pages;                      // [apps/xps] "error_pages" replace our error text
};

} // namespace

// The contexts of all listeners, a member of the core: it joins before the
// listeners, so the core destroys it after them (newest first).
struct xps_session_listeners_s {
    std::vector<accept_ctx> ctx;           // sized once: listeners keep pointers into it
    xps_core_member_t *member;
    xps_tcp_cap_t cap;                     // [stage 18] max_connections, for every listener:
                                           // the connections leave the core before the set
    xps_ratelimit_t *limiter;              // [stage 18] owned; NULL without rate_limit
    std::vector<xps_tls_server_t *> tls;   // [stage 19] owned, per ctx[i]; NULL: plain. The
                                           // set leaves the core after the connections
                                           // that borrow them
    xps_upstream_tls_set_t *upstream_tls;  // [stage 19] owned; NULL before 19 (likewise)
    xps_cache_store_t *cache_store;        // [stage 20] owned when opened here (the
                                           // caller passed none); else NULL
    std::vector<xps_listener_t *> listeners; // [stage 21] to stop accepting (a drain)
    bool draining;                         // [stage 21] xps_session_drain was called
    // [apps/xps] observe: what every session of the set reports to
    xps_session_observer_t observer;       // points into the fields below (or the caller's)
    xps_request_ids_t ids;                 // this process's request ids
    xps_accesslog_t *own_log;              // owned when opened here; else NULL
    xps_metrics_t *own_metrics;            // owned when made here; else NULL
    xps_loop_timer_t *tick;                // owned: every second, the log's flush and the
                                           // connections gauge; NULL when nothing to do
};

namespace {

void on_wake(xps_connection_t *connection, void *data);

// A session for a client: just accepted, or back from parking. In stage 13
// the session parks its connection while it waits between requests, and
// on_wake starts the next session.
void start_session(accept_ctx *a, xps_connection_t *connection) {
    int error = XPS_OK;
    xps_session_t *s = xps_session_create(a->loop, connection, a->config, a->listener, &error);
    if (s && a->http11) { // (a failure is logged by the session)
        xps_session_set_http11(s, true);
        xps_session_set_upstream_pool(s, a->pool);
        xps_session_set_idle_park(s, on_wake, a);
    }
    if (s && a->ip_filter)
        xps_session_set_ip_filter(s, true);
    if (s && a->dir_listing)
        xps_session_set_dir_listing(s, true);
    if (s && a->gzip)
        xps_session_set_gzip(s, true);
    if (s && a->balancers)
        xps_session_set_balancers(s, a->balancers);
    if (s && a->upstream_tls)
        xps_session_set_upstream_tls(s, a->upstream_tls);
    if (s && a->limits) // [stage 18] (before the head: it sizes the parser)
        xps_session_set_limits(s, a->limits);
    if (s && a->limiter)
        xps_session_set_rate_limiter(s, a->limiter);
    if (s && a->timeouts)
        xps_session_set_timeouts(s, a->timeouts);
    if (s && a->cache_store && a->http11)
        xps_session_set_cache_store(s, a->cache_store);
    if (s)
        xps_session_set_draining(s, a->draining);
    if (s && a->observer) // [apps/xps]
        xps_session_set_observer(s, a->observer);
    if (s && a->route_headers)
        xps_session_set_route_headers(s, true);
    if (s && a->error_pages)
        xps_session_set_error_pages(s, true);
}

// [apps/xps] Every second: what the access log holds goes to its file
// (a quiet server's lines are never older than that), and this process's
// open connections go into its metrics slot.
void on_tick(xps_loop_timer_t *timer, void *data) {
    auto *set = static_cast<xps_session_listeners_s *>(data);
    if (set->observer.access_log && xps_accesslog_pending(set->observer.access_log) > 0)
        xps_accesslog_flush(set->observer.access_log);
    if (set->observer.slot)
        xps_metrics_set_connections(set->observer.slot, set->cap.open);
    xps_loop_timer_start(timer, XPS_ACCESSLOG_FLUSH_MS);
}

// [apps/xps] The set's observer from options.product: request ids, the
// access log (the caller's, or the config's opened here), the metrics
// slot (the caller's mapping, or one made here), and the tick. Not set up
// at all when every part is off.
int observe(xps_loop_t *loop, const xps_config_t *config, const xps_session_product_options_t &o,
            xps_session_listeners_s *set) {
    const xps_config_log_t *lc = xps_config_log(config);
    bool logging = o.access_log && (o.access_log_file || lc->access != XPS_CONFIG_ACCESS_OFF);
    if (!o.request_id && !logging && !o.metrics)
        return XPS_OK;
    int error = XPS_OK;
    xps_session_observer_t &ob = set->observer;
    if (o.request_id) {
        xps_request_ids_init(&set->ids, static_cast<uint32_t>(getpid()),
                             static_cast<uint64_t>(time(nullptr)));
        ob.ids = &set->ids;
    }
    if (logging && !(ob.access_log = o.access_log_file)) {
        auto format = lc->access == XPS_CONFIG_ACCESS_JSON ? XPS_ACCESSLOG_JSON
                                                           : XPS_ACCESSLOG_COMBINED;
        if (!(ob.access_log = set->own_log = xps_accesslog_open(lc->path, format, 0, &error)))
            return error; // logged with the path
    }
    if (o.metrics) {
        ob.metrics = o.metrics_shared;
        if (!ob.metrics && !(ob.metrics = set->own_metrics = xps_metrics_create_shared(1, &error)))
            return error;
        if (!(ob.slot = xps_metrics_slot(ob.metrics, o.metrics_shared ? o.metrics_slot : 0))) {
            XPS_LOG(XPS_LOG_ERROR, "session", "metrics slot %zu: the mapping has %zu",
                    o.metrics_slot, xps_metrics_slot_count(ob.metrics));
            return XPS_E_INVAL;
        }
        ob.connections = &set->cap.open;
    }
    if (ob.access_log || ob.slot) {
        if (!(set->tick = xps_loop_timer_create(loop, on_tick, set)))
            return XPS_E_NOMEM;
        xps_loop_timer_start(set->tick, XPS_ACCESSLOG_FLUSH_MS);
    }
    return XPS_OK;
}

void on_accept(xps_listener_t *, xps_connection_t *connection, void *data) {
    start_session(static_cast<accept_ctx *>(data), connection);
}

// A parked client sent its next request, or closed: a new session reads it.
void on_wake(xps_connection_t *connection, void *data) {
    start_session(static_cast<accept_ctx *>(data), connection);
}

void destroy_set(void *p) {
    auto *set = static_cast<xps_session_listeners_s *>(p);
    xps_core_remove_member(set->member);
    // [apps/xps] The sessions are gone (and reported): the last lines go
    // to the file, the caller's log included.
    xps_loop_timer_destroy(set->tick);
    if (set->observer.access_log)
        xps_accesslog_flush(set->observer.access_log);
    xps_accesslog_close(set->own_log);
    xps_metrics_destroy(set->own_metrics);
    xps_ratelimit_destroy(set->limiter);
    for (xps_tls_server_t *tls : set->tls)
        xps_tls_server_destroy(tls);
    xps_upstream_tls_set_destroy(set->upstream_tls);
    xps_cache_store_close(set->cache_store);
    delete set;
}

} // namespace

int xps_session_listen_all(xps_loop_t *loop, const xps_config_t *config, bool http11) noexcept {
    xps_session_options_t options{};
    options.http11 = http11;
    return xps_session_listen_all_with(loop, config, &options);
}

namespace {

// The composition behind both entries: sockets NULL → each listener binds
// its host:port; else sockets[i] (taken) is listener i's, already bound.
int serve(xps_loop_t *loop, const xps_config_t *config, xps_listen_socket_t *const *sockets,
          const xps_session_options_t *options, bool exclusive, xps_session_listeners_t **out) {
    size_t n = xps_config_listener_count(config);
    auto close_rest = [&](size_t from) {
        for (size_t i = from; sockets && i < n; i++)
            xps_listen_socket_destroy(sockets[i]);
    };
    const xps_session_options_t off{};
    const xps_session_options_t &o = options ? *options : off;
    bool http11 = o.http11;
    xps_core_t *core = xps_loop_core(loop);
    auto *set = new (std::nothrow) xps_session_listeners_s{};
    if (!set)
        return close_rest(0), XPS_E_NOMEM;
    try {
        set->ctx.resize(n);
        set->tls.resize(n, nullptr);
        set->listeners.resize(n);
    } catch (const std::bad_alloc &) {
        delete set;
        return close_rest(0), XPS_E_NOMEM;
    }
    if (!(set->member = xps_core_add_member(core, destroy_set, set))) {
        delete set;
        return close_rest(0), XPS_E_NOMEM;
    }
    // [stage 13] One pool for every session of this loop; a member of the
    // core that joins before the listeners, so it outlives every session.
    xps_upstream_pool_t *pool = nullptr;
    int error = XPS_OK;
    if (http11 && !(pool = xps_upstream_pool_create(loop, XPS_UPSTREAM_POOL_MAX_IDLE,
                                                    XPS_UPSTREAM_POOL_IDLE_MS, &error)))
        return close_rest(0), error;
    // [stage 17] One balancer set per loop, a member that joins before the
    // listeners too: every session of the loop shares each route's state.
    xps_balancer_set_t *balancers = nullptr;
    if (o.balance && !(balancers = xps_balancer_set_create(loop, &error)))
        return close_rest(0), error;
    // [stage 18] The connections' side of the timeouts and limits: a send
    // timeout, the keep-alive timeout of a parked connection, and the cap
    // (modules/tcp). One table of buckets for every listener.
    xps_tcp_options_t tcp = xps_tcp_default_options();
    if (o.timeouts) {
        tcp.send_timeout_ms = xps_config_timeouts(config)->send_ms;
        tcp.park_timeout_ms = xps_config_timeouts(config)->keepalive_ms;
    }
    // The cap also counts the open connections, which a drain [stage 21]
    // waits for: without "limits" it counts and never refuses.
    set->cap.max = o.limits ? xps_config_limits(config)->max_connections : SIZE_MAX;
    tcp.cap = &set->cap;
    tcp.accept_exclusive = exclusive;
    if (o.rate_limit && !(set->limiter = xps_ratelimit_create(o.rate_limit_entries, &error)))
        return close_rest(0), error;
    // [stage 19] Every certificate is loaded before anything listens: a
    // server never starts with one of its sites unusable.
    for (size_t i = 0; o.tls && i < set->ctx.size(); i++) {
        size_t n = 0;
        const xps_tls_cert_t *certs = xps_config_listener_tls(config, i, &n);
        if (n == 0)
            continue;
        char why[XPS_TLS_ERR_MAX];
        const xps_config_listener_t *l = xps_config_listener(config, i);
        if (!(set->tls[i] = xps_tls_server_create(certs, n, why, sizeof why))) {
            XPS_LOG(XPS_LOG_ERROR, "session", "%s: cannot serve TLS on %s:%u: %s",
                    xps_config_name(config), l->host, l->port, why);
            return close_rest(0), XPS_E_INVAL;
        }
    }
    if (o.tls && !(set->upstream_tls = xps_upstream_tls_set_create()))
        return close_rest(0), XPS_E_NOMEM;
    // [stage 20] The shared cache: the caller's (opened before a fork), or
    // the config's "cache" folder opened here, for this process alone.
    xps_cache_store_t *store = o.cache ? o.cache_store : nullptr;
    if (o.cache && !store) {
        const xps_config_cache_t *cc = xps_config_cache(config);
        char why[256];
        if (!(store = set->cache_store = xps_cache_store_open(cc->dir, cc->max_bytes,
                                                              XPS_CACHE_MAX_ENTRIES, why,
                                                              sizeof why))) {
            XPS_LOG(XPS_LOG_ERROR, "session", "cannot open the cache: %s", why);
            return close_rest(0), XPS_E_FAIL;
        }
    }
    // [apps/xps] What the sessions report to (nothing when all is off).
    if ((error = observe(loop, config, o.product, set)) != XPS_OK)
        return close_rest(0), error;
    bool observed = set->observer.ids || set->observer.access_log || set->observer.metrics;
    for (size_t i = 0; i < set->ctx.size(); i++) {
        const xps_config_listener_t *l = xps_config_listener(config, i);
        set->ctx[i] = accept_ctx{loop, config, l, http11, o.ip_filter, o.dir_listing, o.gzip, pool,
                                 balancers, set->upstream_tls, set->limiter,
                                 o.timeouts ? xps_config_timeouts(config) : nullptr,
                                 o.limits ? xps_config_limits(config) : nullptr, store,
                                 &set->draining, observed ? &set->observer : nullptr,
                                 o.product.headers, o.product.error_pages};
        tcp.tls = set->tls[i]; // [stage 19] NULL: plain
        set->listeners[i] =
            sockets ? xps_listener_adopt(loop, sockets[i], &tcp, on_accept, &set->ctx[i], &error)
                    : xps_listener_create(loop, l->host, l->port, &tcp, on_accept, &set->ctx[i],
                                          &error);
        if (!set->listeners[i]) {
            XPS_LOG(XPS_LOG_ERROR, "session", "cannot listen on %s:%u: %s", l->host, l->port,
                    xps_strerror(error));
            close_rest(i + 1);
            return error; // what was opened is the core's: destroying it closes everything
        }
    }
    if (out)
        *out = set;
    return XPS_OK;
}

} // namespace

int xps_session_listen_all_with(xps_loop_t *loop, const xps_config_t *config,
                                const xps_session_options_t *options) noexcept {
    return serve(loop, config, nullptr, options, false, nullptr);
}

int xps_session_serve_sockets(xps_loop_t *loop, const xps_config_t *config,
                              xps_listen_socket_t *const *sockets,
                              const xps_session_options_t *options, bool exclusive,
                              xps_session_listeners_t **listeners) noexcept {
    return serve(loop, config, sockets, options, exclusive, listeners);
}

void xps_session_drain(xps_session_listeners_t *set) noexcept {
    set->draining = true;
    for (xps_listener_t *&l : set->listeners) {
        xps_listener_destroy(l); // (NULL: already stopped)
        l = nullptr;
    }
}

size_t xps_session_open_connections(const xps_session_listeners_t *set) noexcept {
    return set->cap.open;
}
