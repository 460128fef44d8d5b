// modules/upstream/xps_upstream_pool.cpp — see xps_upstream_pool.h.
//
// One record per upstream (host:port), each with its idle connections in
// the order they were put back (oldest first) and one timer armed for the
// oldest one's deadline: since every connection waits the same idle_ms,
// that order is also the order of their deadlines, so one timer per
// upstream is enough and expiry costs nothing per connection. take()
// serves from the newest end, eviction and expiry work from the oldest.
#include "modules/upstream/xps_upstream_pool.h"

#include <cassert>
#include <list>
#include <new>
#include <string>

#include "core/xps_core.h"
#include "core/xps_logger.h"

namespace {

struct upstream_set;

// One parked connection.
struct idle_conn {
    xps_connection_t *connection; // owned while here
    uint64_t deadline_ms;         // xps_loop_now_ms() after which it is closed
    upstream_set *set;            // where it waits (for the wake callback)
};

// The idle connections to one host:port [stage 19] through one TLS client.
struct upstream_set {
    std::string host;             // as the caller named it
    uint16_t port;
    const xps_tls_client_t *tls;  // [stage 19] the client that made them; NULL: plain
    std::list<idle_conn> idle;    // oldest first; list: stable addresses for wake data
    xps_loop_timer_t *timer;      // owned: armed for idle.front()'s deadline
    xps_upstream_pool_t *pool;    // borrowed: the owner
};

constexpr const char *log_name = "upstream-pool";

} // namespace

struct xps_upstream_pool_s {
    xps_loop_t *loop;                // borrowed
    xps_core_member_t *member;       // destroyed with the core
    size_t max_idle;                 // per upstream
    uint64_t idle_ms;                // how long one may wait
    std::list<upstream_set> sets;    // one per upstream seen; list: stable addresses
    bool destroyed;                  // freed after the batch
};

namespace {

void free_pool(void *p) { delete static_cast<xps_upstream_pool_t *>(p); }

void destroy_member(void *p) { xps_upstream_pool_destroy(static_cast<xps_upstream_pool_t *>(p)); }

upstream_set *find_set(const xps_upstream_pool_t *pool, const char *host, uint16_t port,
                       const xps_tls_client_t *tls) {
    for (const upstream_set &set : pool->sets)
        if (set.port == port && set.tls == tls && set.host == host)
            return const_cast<upstream_set *>(&set);
    return nullptr;
}

// Closes the connection at `it` and forgets it. No callback follows a
// destroy, so a wake for it can no longer come.
void close_idle(upstream_set *set, std::list<idle_conn>::iterator it, const char *why) {
    XPS_LOG(XPS_LOG_DEBUG, log_name, "%s:%u: closing an idle connection: %s", set->host.c_str(),
            set->port, why);
    xps_connection_t *c = it->connection;
    set->idle.erase(it);
    xps_connection_destroy(c);
}

// Arms the set's timer for its oldest connection (stops it when empty).
void arm(upstream_set *set) {
    if (set->idle.empty())
        return xps_loop_timer_stop(set->timer);
    uint64_t now = xps_loop_now_ms(set->pool->loop);
    uint64_t due = set->idle.front().deadline_ms;
    xps_loop_timer_start(set->timer, due > now ? due - now : 0);
}

// The oldest connections' time is up: close every one that is due.
void on_expiry(xps_loop_timer_t *, void *data) {
    auto *set = static_cast<upstream_set *>(data);
    uint64_t now = xps_loop_now_ms(set->pool->loop);
    while (!set->idle.empty() && set->idle.front().deadline_ms <= now)
        close_idle(set, set->idle.begin(), "idle timeout");
    arm(set);
}

// A parked connection has news. Idle, an upstream has nothing to say: it
// closed the connection, or sent bytes nobody asked for (they would pass
// for the answer to the next request). Either way it is of no more use.
void on_wake(xps_connection_t *c, void *data) {
    auto *set = static_cast<idle_conn *>(data)->set;
    for (auto it = set->idle.begin(); it != set->idle.end(); ++it)
        if (it->connection == c) {
            close_idle(set, it, "the upstream closed it or sent unasked bytes");
            return arm(set);
        }
    assert(!"a woken connection the pool does not hold");
}

upstream_set *add_set(xps_upstream_pool_t *pool, const char *host, uint16_t port,
                      const xps_tls_client_t *tls) {
    xps_loop_timer_t *timer = nullptr;
    try {
        pool->sets.push_back(upstream_set{host, port, tls, {}, nullptr, pool});
    } catch (const std::bad_alloc &) {
        return nullptr;
    }
    upstream_set *set = &pool->sets.back();
    if (!(timer = xps_loop_timer_create(pool->loop, on_expiry, set))) {
        pool->sets.pop_back();
        return nullptr;
    }
    set->timer = timer;
    return set;
}

} // namespace

// --------------------------------------------------------- lifecycle

xps_upstream_pool_t *xps_upstream_pool_create(xps_loop_t *loop, size_t max_idle,
                                              uint64_t idle_ms, int *error) noexcept {
    assert(loop && error);
    if (max_idle == 0 || idle_ms == 0) {
        *error = XPS_E_INVAL;
        return nullptr;
    }
    auto *pool = new (std::nothrow) xps_upstream_pool_t{};
    if (pool) {
        pool->loop = loop, pool->max_idle = max_idle, pool->idle_ms = idle_ms;
        pool->member = xps_core_add_member(xps_loop_core(loop), destroy_member, pool);
    }
    if (!pool || !pool->member) {
        delete pool;
        *error = XPS_E_NOMEM;
        return nullptr;
    }
    *error = XPS_OK;
    return pool;
}

void xps_upstream_pool_destroy(xps_upstream_pool_t *pool) noexcept {
    if (!pool || pool->destroyed)
        return;
    pool->destroyed = true;
    xps_core_remove_member(pool->member);
    for (upstream_set &set : pool->sets) {
        xps_loop_timer_destroy(set.timer);
        set.timer = nullptr;
        // (At core destroy the connections, newer members, may be closed
        // already; destroying a closed one does nothing, and its memory
        // lives until the core's last collect.)
        for (idle_conn &i : set.idle)
            xps_connection_destroy(i.connection);
        set.idle.clear();
    }
    xps_core_defer_free(xps_loop_core(pool->loop), free_pool, pool);
}

// --------------------------------------------------------- operations

int xps_upstream_pool_put(xps_upstream_pool_t *pool, const char *host, uint16_t port,
                          const xps_tls_client_t *tls, xps_connection_t *c) noexcept {
    assert(pool && host && c && !pool->destroyed);
    upstream_set *set = find_set(pool, host, port, tls);
    if (!set && !(set = add_set(pool, host, port, tls)))
        return XPS_E_NOMEM;
    uint64_t deadline = xps_loop_now_ms(pool->loop) + pool->idle_ms;
    try {
        set->idle.push_back(idle_conn{c, deadline, set});
    } catch (const std::bad_alloc &) {
        return XPS_E_NOMEM;
    }
    int rc = xps_connection_park(c, on_wake, &set->idle.back());
    if (rc != XPS_OK) {
        set->idle.pop_back();
        return rc;
    }
    if (set->idle.size() > pool->max_idle)
        close_idle(set, set->idle.begin(), "the pool is full");
    if (!xps_loop_timer_active(set->timer)) // else it fires for an older one, then re-arms
        arm(set);
    return XPS_OK;
}

xps_connection_t *xps_upstream_pool_take(xps_upstream_pool_t *pool, const char *host,
                                         uint16_t port, const xps_tls_client_t *tls) noexcept {
    assert(pool && host);
    upstream_set *set = find_set(pool, host, port, tls);
    if (!set)
        return nullptr;
    for (auto it = set->idle.end(); it != set->idle.begin();) {
        --it;
        // XPS_E_INVAL: still sending what it held, or letting go of the
        // pipes of the exchange it just served: not idle yet.
        if (xps_connection_unpark(it->connection) != XPS_OK)
            continue;
        xps_connection_t *c = it->connection;
        set->idle.erase(it);
        arm(set);
        return c;
    }
    return nullptr;
}

// ---------------------------------------------------------- accessors

size_t xps_upstream_pool_idle(const xps_upstream_pool_t *pool, const char *host,
                              uint16_t port, const xps_tls_client_t *tls) noexcept {
    const upstream_set *set = find_set(pool, host, port, tls);
    return set ? set->idle.size() : 0;
}
