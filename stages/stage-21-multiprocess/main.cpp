// stages/stage-21-multiprocess/main.cpp — Stage 21: master and workers.
// The server is stage 20's (a JSON config, sessions with HTTP/1.1 rules,
// ip lists, listings, gzip, balanced upstreams, rate limits, timeouts and
// limits, TLS listeners, the shared cache); what is new is that it runs as
// several processes:
//  - a master reads the config and binds every listener BEFORE it forks
//    (a port that cannot be bound is refused before any worker exists),
//    (and loads every certificate, and opens the cache, whose index is
//    memory shared with every worker), then forks `workers` workers (a number, or "auto": one per CPU) and
//    does nothing else: no client connection, no request work
//    (modules/master);
//  - each worker makes its own loop and adopts the listening sockets it
//    inherited (xps_session_serve_sockets). Accept balancing, by
//    --accept: "reuseport" (the default) binds one SO_REUSEPORT socket
//    per listener and worker, and the kernel spreads clients over them;
//    "exclusive" shares one socket with EPOLLEXCLUSIVE; "shared" shares
//    one socket plainly, to watch the thundering herd (chapter 21);
//  - a worker that dies (even kill -9) is replaced at once, on the same
//    sockets: the clients queued on them wait a fork, they are not lost;
//  - SIGTERM / SIGINT: every worker drains (stops accepting, finishes the
//    requests it has, their responses saying "Connection: close", within
//    timeouts.drain_ms), then the master exits 0;
//  - SIGHUP: the master re-reads the config. Valid: the listeners it
//    names are bound (those already bound are kept), a new generation of
//    workers starts with it, the old one drains. Invalid (or a port that
//    cannot be bound): the old workers keep serving, the reason is logged.
// Usage: stage-21 [--help] [--max-buckets N] [--accept MODE] [--workers N] CONFIG
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

#include "core/xps_core.h"
#include "core/xps_logger.h"
#include "modules/cache/xps_cache.h"
#include "modules/cache/xps_cache_store.h"
#include "modules/config/xps_config.h"
#include "modules/loop/xps_loop.h"
#include "modules/master/xps_master.h"
#include "modules/session/xps_session.h"
#include "modules/socket/xps_socket.h"
#include "modules/tls/xps_tls.h"

namespace {

constexpr const char *usage =
    "usage: stage-21 [--help] [--max-buckets N] [--accept reuseport|exclusive|shared]\n"
    "                [--workers N] CONFIG\n"
    "  Serves what the JSON file CONFIG describes (docs/config.md), as stage 18 does, with\n"
    "  a master process and `workers` worker processes (a number, or \"auto\": one per CPU).\n"
    "  The master binds the listeners, forks the workers and replaces one that dies.\n"
    "  SIGTERM or SIGINT: the workers finish their requests (timeouts.drain_ms), then exit.\n"
    "  SIGHUP: CONFIG is read again; valid, new workers serve it and the old ones drain;\n"
    "  invalid, the old workers keep serving and the master logs why.\n"
    "  --accept: how the workers share a listener: reuseport (the default: one socket per\n"
    "  worker, SO_REUSEPORT), exclusive (one socket, EPOLLEXCLUSIVE), shared (one socket,\n"
    "  every worker woken for every client: the thundering herd of chapter 21).\n"
    "  --max-buckets N: keep at most N rate-limit buckets per worker (default 100000).\n"
    "  --workers N: N workers (1-1024), whatever CONFIG says (a reload keeps N).\n"
    "  The stage's own: stage 18's servers, with four workers:\n"
    "    build/bin/stage-21 stages/stage-21-multiprocess/config.json\n"
    "  XPS_LOG_LEVEL=debug|info|warn|error sets how much it logs.\n";

constexpr const char *name = "stage-21";
constexpr uint64_t drain_poll_ms = 20;      // a draining worker looks at what is left this often
constexpr uint64_t master_margin_ms = 1000; // the master waits this much past drain_ms

enum class accept_mode { reuseport, exclusive, shared };

// One listener of the config, bound by the master: one socket per worker
// (reuseport), or one for all.
struct bound_listener {
    std::string host;
    uint16_t port;
    std::vector<xps_listen_socket_t *> sockets; // owned
};

// What the master keeps and every worker inherits through fork().
struct server {
    const char *path;                 // the config file, read again on SIGHUP
    xps_config_t *config = nullptr;   // the current generation's; owned
    std::vector<bound_listener> bound; // listener i of config is bound[i]
    int workers = 1;
    accept_mode mode = accept_mode::reuseport;
    size_t max_buckets = 0;           // 0: the module's default
    int workers_flag = 0;             // --workers; 0: the config's
    // [stage 20] The cache every worker shares: opened by the master
    // before the first fork (its index is shared memory), kept across
    // reloads (a new "cache" takes a restart), closed after the last worker.
    xps_cache_store_t *cache = nullptr;
};

// [stage 19] Every certificate of `config` loads, or `err` names the file:
// checked by the master, at start-up and on SIGHUP, so a worker never
// meets a certificate it cannot use (it would die at once, again and again).
bool tls_usable(const xps_config_t *config, char *err, size_t err_size) {
    for (size_t i = 0; i < xps_config_listener_count(config); i++) {
        size_t n = 0;
        const xps_tls_cert_t *certs = xps_config_listener_tls(config, i, &n);
        if (n == 0)
            continue;
        char why[XPS_TLS_ERR_MAX];
        xps_tls_server_t *tls = xps_tls_server_create(certs, n, why, sizeof why);
        if (!tls) {
            const xps_config_listener_t *l = xps_config_listener(config, i);
            std::snprintf(err, err_size, "cannot serve TLS on %s:%u: %s", l->host, l->port, why);
            return false;
        }
        xps_tls_server_destroy(tls);
    }
    return true;
}

void close_all(std::vector<bound_listener> &bound) {
    for (bound_listener &b : bound)
        for (xps_listen_socket_t *s : b.sockets)
            xps_listen_socket_destroy(s);
    bound.clear();
}

int config_workers(const server &srv, const xps_config_t *config) {
    if (srv.workers_flag)
        return srv.workers_flag;
    int n = xps_config_workers(config);
    return n == XPS_CONFIG_WORKERS_AUTO ? xps_master_auto_workers() : n;
}

// Binds every listener of `config`, taking the ones `kept` already has
// (same host and port, moved out of it). On failure *err says which and
// why, and what this call bound is closed again (`kept` keeps the rest).
bool bind_listeners(const server &srv, const xps_config_t *config,
                    std::vector<bound_listener> &kept, std::vector<bound_listener> &out,
                    char *err, size_t err_size) {
    size_t per_listener = srv.mode == accept_mode::reuseport ? static_cast<size_t>(srv.workers) : 1;
    for (size_t i = 0; i < xps_config_listener_count(config); i++) {
        const xps_config_listener_t *l = xps_config_listener(config, i);
        bound_listener b{l->host, l->port, {}};
        for (bound_listener &k : kept)
            if (k.host == b.host && k.port == b.port && !k.sockets.empty()) {
                b.sockets.swap(k.sockets);
                break;
            }
        while (b.sockets.size() < per_listener) {
            int error = XPS_OK;
            // Port 0: the kernel's pick for the first socket, the same port for the others.
            uint16_t port = b.sockets.empty() ? l->port : xps_listen_socket_port(b.sockets[0]);
            xps_listen_socket_t *s =
                srv.mode == accept_mode::reuseport
                    ? xps_listen_socket_create_reuseport(l->host, port, SOMAXCONN, true, &error)
                    : xps_listen_socket_create(l->host, port, SOMAXCONN, true, &error);
            if (!s) {
                std::snprintf(err, err_size, "cannot listen on %s:%u: %s", l->host, l->port,
                              xps_strerror(error));
                out.push_back(std::move(b));
                // Give back what was kept, close what was bound here.
                for (bound_listener &o : out)
                    for (bound_listener &k : kept)
                        if (k.host == o.host && k.port == o.port && k.sockets.empty()) {
                            k.sockets.swap(o.sockets);
                            break;
                        }
                close_all(out);
                return false;
            }
            b.sockets.push_back(s);
        }
        if (b.sockets.size() == per_listener && !b.sockets.empty())
            XPS_LOG(XPS_LOG_INFO, name, "listening on %s:%u (%zu socket(s))", l->host,
                    xps_listen_socket_port(b.sockets[0]), b.sockets.size());
        out.push_back(std::move(b));
    }
    return true;
}

// ------------------------------------------------------------- a worker

struct worker {
    xps_loop_t *loop;
    xps_session_listeners_t *listeners;
    xps_loop_timer_t *timer;
    uint32_t drain_ms;      // the config's timeouts.drain_ms
    uint64_t deadline_ms;   // set by the signal
    bool draining;
};

// Draining: done when no connection is left, or at the deadline.
void on_drain_tick(xps_loop_timer_t *timer, void *data) {
    auto *w = static_cast<worker *>(data);
    size_t open = xps_session_open_connections(w->listeners);
    if (open == 0 || xps_loop_now_ms(w->loop) >= w->deadline_ms) {
        if (open > 0)
            XPS_LOG(XPS_LOG_WARN, name, "pid %d: drain time is up, closing %zu connection(s)",
                    static_cast<int>(getpid()), open);
        xps_loop_stop(w->loop);
        return;
    }
    xps_loop_timer_start(timer, drain_poll_ms);
}

void on_worker_signal(xps_loop_signal_t *, int signo, void *data) {
    auto *w = static_cast<worker *>(data);
    if (w->draining)
        return;
    w->draining = true;
    w->deadline_ms = xps_loop_now_ms(w->loop) + w->drain_ms;
    XPS_LOG(XPS_LOG_INFO, name, "pid %d: %s: draining", static_cast<int>(getpid()),
            strsignal(signo));
    xps_session_drain(w->listeners);
    on_drain_tick(w->timer, w);
}

int worker_main(void *data, int index, int generation) {
    auto *srv = static_cast<server *>(data);
    // This worker's sockets; the others' inherited copies are closed (they
    // are the master's and the other workers' business).
    std::vector<xps_listen_socket_t *> mine;
    for (bound_listener &b : srv->bound)
        for (size_t k = 0; k < b.sockets.size(); k++) {
            if (b.sockets.size() == 1 || k == static_cast<size_t>(index))
                mine.push_back(b.sockets[k]);
            else
                xps_listen_socket_destroy(b.sockets[k]);
            b.sockets[k] = nullptr;
        }
    std::signal(SIGHUP, SIG_IGN); // the master's signal: a terminal's hang-up reaches the group
    int error = XPS_OK;
    worker w{};
    xps_core_t *core = xps_core_create();
    w.loop = core ? xps_loop_create(core, &error) : nullptr;
    const int signals[] = {SIGINT, SIGTERM};
    bool ok = w.loop && xps_loop_signal_attach(w.loop, signals, 2, on_worker_signal, &w, &error) &&
              (w.timer = xps_loop_timer_create(w.loop, on_drain_tick, &w));
    if (!ok)
        XPS_LOG(XPS_LOG_ERROR, name, "worker %d cannot start: %s", index,
                xps_strerror(error != XPS_OK ? error : XPS_E_NOMEM));
    xps_session_options_t options = {.http11 = true, .ip_filter = true, .dir_listing = true,
                                     .gzip = true, .balance = true, .rate_limit = true,
                                     .timeouts = true, .limits = true,
                                     .rate_limit_entries = srv->max_buckets, .tls = true,
                                     .cache = true, .cache_store = srv->cache, .product = {}};
    if (ok && (error = xps_session_serve_sockets(w.loop, srv->config, mine.data(), &options,
                                                 srv->mode == accept_mode::exclusive,
                                                 &w.listeners)) != XPS_OK)
        ok = false; // logged; the sockets were taken
    else if (!ok)
        for (xps_listen_socket_t *s : mine)
            xps_listen_socket_destroy(s);
    w.drain_ms = xps_config_timeouts(srv->config)->drain_ms;
    if (ok)
        XPS_LOG(XPS_LOG_INFO, name, "worker %d (pid %d, generation %d) serving", index,
                static_cast<int>(getpid()), generation);
    int status = ok && xps_loop_run(w.loop) == XPS_OK ? 0 : 1;
    xps_loop_timer_destroy(w.timer);
    xps_core_destroy(core); // listeners, sessions, connections, the loop
    xps_config_destroy(srv->config);
    return status;
}

// ----------------------------------------------------------- the master

int reload(void *data, char *err, size_t err_size) {
    auto *srv = static_cast<server *>(data);
    xps_config_t *next = xps_config_load(srv->path, err, err_size);
    if (!next)
        return XPS_E_INVAL;
    if (!tls_usable(next, err, err_size)) {
        xps_config_destroy(next);
        return XPS_E_INVAL;
    }
    if (config_workers(*srv, next) != srv->workers) {
        std::snprintf(err, err_size, "%s: workers: %d, running %d: a reload keeps the number of "
                      "workers (restart the server to change it)", srv->path,
                      config_workers(*srv, next), srv->workers);
        xps_config_destroy(next);
        return XPS_E_INVAL;
    }
    std::vector<bound_listener> bound;
    if (!bind_listeners(*srv, next, srv->bound, bound, err, err_size)) {
        xps_config_destroy(next);
        return XPS_E_FAIL;
    }
    close_all(srv->bound); // listeners the new config dropped: the old workers' copies drain
    srv->bound.swap(bound);
    xps_config_destroy(srv->config); // the old workers have their own copy (fork)
    srv->config = next;
    XPS_LOG(XPS_LOG_INFO, name, "%s read again: %zu server block(s), %zu listener(s)", srv->path,
            xps_config_server_count(next), xps_config_listener_count(next));
    return XPS_OK;
}

} // namespace

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) // (also after other flags: "--workers 1 --help")
        if (std::strcmp(argv[i], "--help") == 0)
            return std::fputs(usage, stdout), 0;
    server srv;
    while (argc >= 4 && argv[1][0] == '-') {
        if (std::strcmp(argv[1], "--max-buckets") == 0) {
            char *end = nullptr;
            unsigned long long n = std::strtoull(argv[2], &end, 10);
            if (!end || *end || argv[2][0] == '-' || n == 0 || n > 10000000)
                return std::fputs("stage-21: --max-buckets takes a number from 1 to 10000000\n",
                                  stderr), 2;
            srv.max_buckets = static_cast<size_t>(n);
        } else if (std::strcmp(argv[1], "--workers") == 0) {
            char *end = nullptr;
            long n = std::strtol(argv[2], &end, 10);
            if (!end || *end || n < 1 || n > 1024)
                return std::fputs("stage-21: --workers takes a number from 1 to 1024\n", stderr), 2;
            srv.workers_flag = static_cast<int>(n);
        } else if (std::strcmp(argv[1], "--accept") == 0) {
            if (std::strcmp(argv[2], "reuseport") == 0)
                srv.mode = accept_mode::reuseport;
            else if (std::strcmp(argv[2], "exclusive") == 0)
                srv.mode = accept_mode::exclusive;
            else if (std::strcmp(argv[2], "shared") == 0)
                srv.mode = accept_mode::shared;
            else
                return std::fputs("stage-21: --accept takes reuseport, exclusive or shared\n",
                                  stderr), 2;
        } else {
            break;
        }
        argv += 2, argc -= 2;
    }
    if (argc != 2 || argv[1][0] == '-' || argv[1][0] == '\0')
        return std::fputs(usage, stderr), 2;
    xps_log_init_from_env();

    char err[XPS_CONFIG_ERR_MAX];
    srv.path = argv[1];
    if (!(srv.config = xps_config_load(srv.path, err, sizeof err))) {
        std::fprintf(stderr, "stage-21: %s\n", err);
        return 1;
    }
    srv.workers = config_workers(srv, srv.config);
    const xps_config_cache_t *cc = xps_config_cache(srv.config);
    if (!tls_usable(srv.config, err, sizeof err) ||
        !(srv.cache = xps_cache_store_open(cc->dir, cc->max_bytes, XPS_CACHE_MAX_ENTRIES, err,
                                           sizeof err))) {
        std::fprintf(stderr, "stage-21: %s\n", err); // before any worker exists
        xps_cache_store_close(srv.cache);
        xps_config_destroy(srv.config);
        return 1;
    }
    std::vector<bound_listener> none;
    if (!bind_listeners(srv, srv.config, none, srv.bound, err, sizeof err)) {
        std::fprintf(stderr, "stage-21: %s\n", err); // before any worker exists
        xps_cache_store_close(srv.cache);
        xps_config_destroy(srv.config);
        return 1;
    }
    XPS_LOG(XPS_LOG_INFO, name, "%s: %zu server block(s), %zu listener(s), %d worker(s)",
            xps_config_name(srv.config), xps_config_server_count(srv.config),
            xps_config_listener_count(srv.config), srv.workers);
    xps_master_config_t master = {};
    master.workers = srv.workers;
    master.worker_main = worker_main;
    master.data = &srv;
    master.reload = reload;
    master.drain_ms = xps_config_timeouts(srv.config)->drain_ms + master_margin_ms;
    int rc = xps_master_run(&master);
    if (rc != XPS_OK)
        std::fprintf(stderr, "stage-21: %s\n", xps_strerror(rc));
    close_all(srv.bound);
    xps_cache_store_close(srv.cache);
    xps_config_destroy(srv.config);
    return rc == XPS_OK ? 0 : 1;
}
