// modules/balancer/xps_balancer_set.cpp — see xps_balancer_set.h. A map
// from (server, route) to an entry: the route's balancer and, with
// health_check, its timer and one probe slot per upstream.
//
//   timer tick ─▶ for each suspect upstream: probe
//     xps_upstream_connect ─▶ [to]   ─▶ "GET <path> HTTP/1.1 ..."
//                             [from] ─▶ status line? 2xx/3xx ─▶ succeeded
#include "modules/balancer/xps_balancer_set.h"

#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <utility>

#include "core/xps_buffer.h"
#include "core/xps_core.h"
#include "core/xps_logger.h"
#include "core/xps_pipe.h"
#include "modules/tcp/xps_tcp.h"
#include "modules/upstream/xps_upstream.h"

static_assert(XPS_CONFIG_MAX_UPSTREAMS == XPS_BALANCER_MAX_UPSTREAMS,
              "the config refuses what the balancer cannot take");
static_assert(XPS_CONFIG_ROUND_ROBIN == static_cast<int>(XPS_BALANCER_ROUND_ROBIN) &&
                  XPS_CONFIG_LEAST_CONNECTIONS == static_cast<int>(XPS_BALANCER_LEAST_CONNECTIONS) &&
                  XPS_CONFIG_IP_HASH == static_cast<int>(XPS_BALANCER_IP_HASH),
              "load_balancing values are the balancer's policies");

namespace {

constexpr const char *log_name = "balancer";

// The status line is all a probe reads: "HTTP/1.1 200" is 12 bytes.
constexpr size_t status_bytes = 12;

struct entry;

// One health check of one upstream, at most one at a time per upstream.
struct probe {
    entry *owner = nullptr;
    size_t index = 0;                   // the upstream's number in the route
    xps_upstream_t *attempt = nullptr;  // the pending connect
    xps_connection_t *conn = nullptr;   // connected: ours until the probe ends
    xps_pipe_t *to = nullptr;           // the request (we are its source)
    xps_pipe_t *from = nullptr;         // the answer (we are its sink)
    char got[status_bytes + 1];         // NUL-terminated for sscanf
    size_t got_len = 0;
    bool active = false;
};

// One route's balancer, and its health check if it has one.
struct entry {
    xps_loop_t *loop = nullptr;
    xps_balancer_t *balancer = nullptr;      // owned
    const xps_config_upstream_t *upstreams = nullptr; // borrowed from the config
    const char *path = nullptr;              // health_check.path; NULL: none
    uint64_t interval_ms = 0;
    xps_loop_timer_t *timer = nullptr;       // owned, with path
    std::unique_ptr<probe[]> probes;         // one per upstream, with path

    ~entry();
};

void end_probe(probe *p) {
    xps_upstream_cancel(p->attempt);
    p->attempt = nullptr;
    if (p->to)
        xps_pipe_detach_source(p->to);
    if (p->from)
        xps_pipe_detach_sink(p->from);
    p->to = p->from = nullptr;
    if (p->conn) {
        xps_connection_on_close(p->conn, nullptr, nullptr);
        xps_connection_destroy(p->conn);
    }
    p->conn = nullptr;
    p->got_len = 0;
    p->active = false;
}

entry::~entry() {
    xps_loop_timer_destroy(timer);
    if (probes)
        for (size_t i = 0; i < xps_balancer_count(balancer); i++)
            end_probe(&probes[i]);
    xps_balancer_destroy(balancer);
}

// The status line has come (or enough of it): 2xx and 3xx bring the
// upstream back.
void judge(probe *p) {
    entry *e = p->owner;
    const xps_config_upstream_t &u = e->upstreams[p->index];
    int status = 0;
    char version[9];
    p->got[p->got_len] = '\0';
    if (p->got_len == status_bytes && std::sscanf(p->got, "%8s %3d", version, &status) == 2 &&
        std::strncmp(version, "HTTP/1.", 7) == 0 && status >= 200 && status < 400 &&
        xps_balancer_is_suspect(e->balancer, p->index)) {
        xps_balancer_succeeded(e->balancer, p->index);
        XPS_LOG(XPS_LOG_INFO, log_name, "upstream %s answered its health check (%d %s): up again",
                u.text, status, e->path);
    }
    end_probe(p);
}

void on_probe_bytes(xps_pipe_t *pipe, void *data) {
    auto *p = static_cast<probe *>(data);
    size_t got = 0;
    while (p->got_len < status_bytes &&
           xps_pipe_read(pipe, p->got + p->got_len, status_bytes - p->got_len, &got) == XPS_OK &&
           got > 0)
        p->got_len += got;
    if (p->got_len == status_bytes)
        judge(p);
}

void on_probe_end(xps_pipe_t *, void *data) { end_probe(static_cast<probe *>(data)); }
void on_probe_room(xps_pipe_t *pipe, void *) { xps_pipe_set_source_ready(pipe, false); }
void on_probe_gone(xps_pipe_t *pipe, void *data) {
    xps_pipe_detach_source(pipe);
    static_cast<probe *>(data)->to = nullptr;
}
void on_probe_closed(xps_connection_t *, int, void *data) {
    static_cast<probe *>(data)->conn = nullptr; // the pipes tell the rest
}

void on_probe_connected(xps_upstream_t *, xps_connection_t *conn, int status, void *data) {
    auto *p = static_cast<probe *>(data);
    p->attempt = nullptr;
    if (status != XPS_OK)
        return end_probe(p); // still down: the upstream module logged why
    entry *e = p->owner;
    const xps_config_upstream_t &u = e->upstreams[p->index];
    xps_core_t *core = xps_loop_core(e->loop);
    p->conn = conn;
    xps_connection_on_close(conn, on_probe_closed, p);
    p->to = xps_pipe_create(core, XPS_PIPE_DEFAULT_THRESHOLD);
    p->from = xps_pipe_create(core, XPS_PIPE_DEFAULT_THRESHOLD);
    std::string request;
    try {
        request = std::string("GET ") + e->path + " HTTP/1.1\r\nHost: " + u.text +
                  "\r\nUser-Agent: xps-health-check\r\nConnection: close\r\n\r\n";
    } catch (const std::bad_alloc &) {
        request.clear();
    }
    xps_buffer_t *b = request.empty() ? nullptr : xps_buffer_copy_of(request.data(), request.size());
    if (!p->to || !p->from || !b) {
        xps_pipe_destroy(p->to), xps_pipe_destroy(p->from), xps_buffer_destroy(b);
        p->to = p->from = nullptr;
        return end_probe(p);
    }
    xps_pipe_attach_source(p->to, on_probe_room, on_probe_gone, p);
    xps_pipe_attach_sink(p->from, on_probe_bytes, on_probe_end, p);
    xps_connection_attach_sink(conn, p->to);
    xps_connection_attach_source(conn, p->from);
    xps_pipe_set_sink_ready(p->from, true);
    if (xps_pipe_write(p->to, b) != XPS_OK) // the pipe takes b
        end_probe(p);
}

// Every interval: a probe that has not finished by now is given up (an
// upstream that accepts and stays silent is not healthy), and every
// suspect upstream gets a new one.
void on_tick(xps_loop_timer_t *timer, void *data) {
    auto *e = static_cast<entry *>(data);
    for (size_t i = 0; i < xps_balancer_count(e->balancer); i++) {
        probe *p = &e->probes[i];
        if (p->active)
            end_probe(p);
        if (!xps_balancer_is_suspect(e->balancer, i))
            continue;
        const xps_config_upstream_t &u = e->upstreams[i];
        int error = XPS_OK;
        p->active = true;
        p->attempt = xps_upstream_connect(e->loop, u.host, u.port, e->interval_ms,
                                          on_probe_connected, p, &error);
        if (!p->attempt)
            p->active = false; // cannot even start (no descriptor, a bad name): next tick
    }
    xps_loop_timer_start(timer, e->interval_ms);
}

} // namespace

struct xps_balancer_set_s {
    xps_loop_t *loop;
    xps_core_member_t *member;
    std::map<std::pair<size_t, size_t>, std::unique_ptr<entry>> routes;
};

namespace {

void destroy_member(void *set) { xps_balancer_set_destroy(static_cast<xps_balancer_set_t *>(set)); }

// A route's entry: its balancer, and its health check when it has one.
std::unique_ptr<entry> make_entry(xps_loop_t *loop, const xps_config_route_match_t *r,
                                  int *error) {
    std::unique_ptr<entry> e(new (std::nothrow) entry{});
    if (!e) {
        *error = XPS_E_NOMEM;
        return nullptr;
    }
    e->loop = loop;
    e->upstreams = r->upstreams;
    const xps_balancer_options_t options{static_cast<xps_balancer_policy_t>(r->load_balancing),
                                         r->max_fails, r->fail_timeout_ms};
    if (!(e->balancer = xps_balancer_create(r->n_upstreams, &options, error)))
        return nullptr;
    if (!r->health_check_path)
        return e;
    e->path = r->health_check_path, e->interval_ms = r->health_check_interval_ms;
    e->probes.reset(new (std::nothrow) probe[r->n_upstreams]);
    if (!e->probes || !(e->timer = xps_loop_timer_create(loop, on_tick, e.get()))) {
        *error = XPS_E_NOMEM;
        return nullptr;
    }
    for (size_t i = 0; i < r->n_upstreams; i++)
        e->probes[i].owner = e.get(), e->probes[i].index = i;
    xps_loop_timer_start(e->timer, e->interval_ms);
    return e;
}

} // namespace

xps_balancer_set_t *xps_balancer_set_create(xps_loop_t *loop, int *error) noexcept {
    auto *set = new (std::nothrow) xps_balancer_set_t{loop, nullptr, {}};
    if (!set || !(set->member = xps_core_add_member(xps_loop_core(loop), destroy_member, set))) {
        delete set;
        *error = XPS_E_NOMEM;
        return nullptr;
    }
    *error = XPS_OK;
    return set;
}

void xps_balancer_set_destroy(xps_balancer_set_t *set) noexcept {
    if (!set)
        return;
    xps_core_remove_member(set->member);
    delete set; // each entry stops its timer and closes its probes
}

xps_balancer_t *xps_balancer_set_get(xps_balancer_set_t *set,
                                     const xps_config_route_match_t *route, int *error) noexcept {
    if (route->type != XPS_CONFIG_REVERSE_PROXY || route->n_upstreams == 0) {
        *error = XPS_E_INVAL;
        return nullptr;
    }
    const std::pair<size_t, size_t> key{route->server, route->route};
    try {
        auto found = set->routes.find(key);
        if (found != set->routes.end()) {
            *error = XPS_OK;
            return found->second->balancer;
        }
        std::unique_ptr<entry> e = make_entry(set->loop, route, error);
        if (!e)
            return nullptr;
        xps_balancer_t *b = e->balancer;
        set->routes.emplace(key, std::move(e));
        *error = XPS_OK;
        return b;
    } catch (const std::bad_alloc &) {
        *error = XPS_E_NOMEM;
        return nullptr;
    }
}
