// modules/server/xps_server.cpp — the composition of stage 21 (and of
// apps/xps): the master binds, checks and opens what every worker shares,
// then modules/master forks the workers; each worker is a loop serving
// the sockets of its slot until it drains. [stage 21]
#include "modules/server/xps_server.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/xps_core.h"
#include "core/xps_logger.h"
#include "modules/cache/xps_cache.h"
#include "modules/cache/xps_cache_store.h"
#include "modules/loop/xps_loop.h"
#include "modules/master/xps_master.h"
#include "modules/metrics/xps_metrics.h"
#include "modules/session/xps_session.h"
#include "modules/socket/xps_socket.h"
#include "modules/tls/xps_tls.h"

namespace {

constexpr uint64_t drain_poll_ms = 20;      // a draining worker looks at what is left this often
constexpr uint64_t master_margin_ms = 1000; // the master waits this much past drain_ms

// One listener of the config, bound by the master: one socket per worker
// (reuseport), or one for all.
struct bound_listener {
    std::string host;
    uint16_t port;
    std::vector<xps_listen_socket_t *> sockets; // owned
};

// What the master keeps and every worker inherits through fork().
struct server {
    const xps_server_options_t *options;
    xps_config_t *config = nullptr;    // the current generation's; owned
    std::vector<bound_listener> bound; // listener i of config is bound[i]
    int workers = 1;
    // [stage 20] The cache every worker shares: opened by the master
    // before the first fork (its index is shared memory), kept across
    // reloads (a new "cache" takes a restart), closed after the last worker.
    xps_cache_store_t *cache = nullptr;
    // [apps/xps] The counters every worker adds to (options->product): one
    // mapping made before the first fork, two slots per worker (during a
    // reload a draining worker and its successor each have their own),
    // summed by any worker's metrics route.
    xps_metrics_t *metrics = nullptr;
};

xps_config_t *load(const xps_server_options_t *o, char *err, size_t err_size) {
    return o->load ? o->load(o->load_data, err, err_size)
                   : xps_config_load(o->config_path, err, err_size);
}

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

// [stage 20] The cache's folder: one this process may write, or one it
// could make (its nearest existing parent is writable). Looked at, never
// changed: `xps -t` beside a running server must not empty its cache.
bool cache_dir_usable(const char *dir, char *err, size_t err_size) {
    std::string at(dir);
    struct stat st;
    // Up to what exists ("file/cache": ENOTDIR, and the file is what to name).
    while (stat(at.c_str(), &st) != 0 && (errno == ENOENT || errno == ENOTDIR)) {
        size_t slash = at.find_last_of('/');
        at.resize(slash == std::string::npos ? 0 : slash == 0 ? 1 : slash);
        if (at.empty())
            at.push_back('.'); // a relative dir's working directory
    }
    const char *why = nullptr;
    if (stat(at.c_str(), &st) != 0)
        why = std::strerror(errno);
    else if (!S_ISDIR(st.st_mode))
        why = "not a folder";
    else if (access(at.c_str(), W_OK | X_OK) != 0)
        why = std::strerror(errno);
    if (!why)
        return true;
    if (at == dir)
        std::snprintf(err, err_size, "cache.dir %s: %s", dir, why);
    else
        std::snprintf(err, err_size, "cache.dir %s: cannot be made in %s: %s", dir, at.c_str(),
                      why);
    return false;
}

void close_all(std::vector<bound_listener> &bound) {
    for (bound_listener &b : bound)
        for (xps_listen_socket_t *s : b.sockets)
            xps_listen_socket_destroy(s);
    bound.clear();
}

int config_workers(const server &srv, const xps_config_t *config) {
    if (srv.options->workers)
        return srv.options->workers;
    int n = xps_config_workers(config);
    return n == XPS_CONFIG_WORKERS_AUTO ? xps_master_auto_workers() : n;
}

// Binds every listener of `config`, taking the ones `kept` already has
// (same host and port, moved out of it). On failure *err says which and
// why, and what this call bound is closed again (`kept` keeps the rest).
bool bind_listeners(const server &srv, const xps_config_t *config,
                    std::vector<bound_listener> &kept, std::vector<bound_listener> &out,
                    char *err, size_t err_size) {
    bool reuseport = srv.options->accept == XPS_SERVER_ACCEPT_REUSEPORT;
    size_t per_listener = reuseport ? static_cast<size_t>(srv.workers) : 1;
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
                reuseport ? xps_listen_socket_create_reuseport(l->host, port, SOMAXCONN, true, &error)
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
            XPS_LOG(XPS_LOG_INFO, srv.options->name, "listening on %s:%u (%zu socket(s))", l->host,
                    xps_listen_socket_port(b.sockets[0]), b.sockets.size());
        out.push_back(std::move(b));
    }
    return true;
}

// ------------------------------------------------------------- a worker

struct worker {
    const char *name;
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
            XPS_LOG(XPS_LOG_WARN, w->name, "pid %d: drain time is up, closing %zu connection(s)",
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
    XPS_LOG(XPS_LOG_INFO, w->name, "pid %d: %s: draining", static_cast<int>(getpid()),
            strsignal(signo));
    xps_session_drain(w->listeners);
    on_drain_tick(w->timer, w);
}

int worker_main(void *data, int index, int generation) {
    auto *srv = static_cast<server *>(data);
    const xps_server_options_t *o = srv->options;
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
    w.name = o->name;
    xps_core_t *core = xps_core_create();
    w.loop = core ? xps_loop_create(core, &error) : nullptr;
    const int signals[] = {SIGINT, SIGTERM};
    bool ok = w.loop && xps_loop_signal_attach(w.loop, signals, 2, on_worker_signal, &w, &error) &&
              (w.timer = xps_loop_timer_create(w.loop, on_drain_tick, &w));
    if (!ok)
        XPS_LOG(XPS_LOG_ERROR, o->name, "worker %d cannot start: %s", index,
                xps_strerror(error != XPS_OK ? error : XPS_E_NOMEM));
    xps_session_options_t options = {.http11 = true, .ip_filter = true, .dir_listing = true,
                                     .gzip = true, .balance = true, .rate_limit = true,
                                     .timeouts = true, .limits = true,
                                     .rate_limit_entries = o->max_buckets, .tls = true,
                                     .cache = true, .cache_store = srv->cache, .product = {}};
    if (o->product) {
        // Each worker opens the config's access log itself (O_APPEND, whole
        // lines: the workers' lines never mix), so a reload may move it.
        options.product = {.request_id = true, .access_log = true, .access_log_file = nullptr,
                           .metrics = true, .metrics_shared = srv->metrics,
                           .metrics_slot = static_cast<size_t>(index + srv->workers * (generation % 2)),
                           .headers = true, .error_pages = true};
        if (xps_config_log(srv->config)->level >= 0)
            xps_log_set_level(static_cast<xps_log_level_t>(xps_config_log(srv->config)->level));
    }
    if (ok && (error = xps_session_serve_sockets(w.loop, srv->config, mine.data(), &options,
                                                 o->accept == XPS_SERVER_ACCEPT_EXCLUSIVE,
                                                 &w.listeners)) != XPS_OK)
        ok = false; // logged; the sockets were taken
    else if (!ok)
        for (xps_listen_socket_t *s : mine)
            xps_listen_socket_destroy(s);
    w.drain_ms = xps_config_timeouts(srv->config)->drain_ms;
    if (ok)
        XPS_LOG(XPS_LOG_INFO, o->name, "worker %d (pid %d, generation %d) serving", index,
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
    const char *from = srv->options->config_path ? srv->options->config_path : "the config";
    xps_config_t *next = load(srv->options, err, err_size);
    if (!next)
        return XPS_E_INVAL;
    if (xps_server_check(next, err, err_size) != XPS_OK) {
        xps_config_destroy(next);
        return XPS_E_INVAL;
    }
    if (config_workers(*srv, next) != srv->workers) {
        std::snprintf(err, err_size, "%s: workers: %d, running %d: a reload keeps the number of "
                      "workers (restart the server to change it)", from,
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
    XPS_LOG(XPS_LOG_INFO, srv->options->name, "%s read again: %zu server block(s), %zu listener(s)",
            srv->options->config_path ? from : xps_config_name(next),
            xps_config_server_count(next), xps_config_listener_count(next));
    return XPS_OK;
}

// The pid a pid file holds: > 0, else 0 (missing, empty, not a number).
pid_t read_pid(const char *path, int *read_errno) {
    *read_errno = 0;
    FILE *f = std::fopen(path, "r");
    if (!f) {
        *read_errno = errno;
        return 0;
    }
    long pid = 0;
    char extra = 0;
    int n = std::fscanf(f, "%ld%c", &pid, &extra);
    std::fclose(f);
    return n >= 1 && pid > 0 && pid <= 0x3fffffff && (n == 1 || extra == '\n')
               ? static_cast<pid_t>(pid)
               : 0;
}

bool pid_alive(pid_t pid) { return kill(pid, 0) == 0 || errno == EPERM; }

} // namespace

int xps_server_check(const xps_config_t *config, char *err, size_t err_size) noexcept {
    if (!tls_usable(config, err, err_size) ||
        !cache_dir_usable(xps_config_cache(config)->dir, err, err_size))
        return XPS_E_INVAL;
    return XPS_OK;
}

int xps_server_run(const xps_server_options_t *options, char *err, size_t err_size) noexcept {
    if (!options || !options->name || (!options->load && !options->config_path)) {
        std::snprintf(err, err_size, "xps_server_run: no name, or no config to load");
        return XPS_E_INVAL;
    }
    server srv;
    srv.options = options;
    if (!(srv.config = load(options, err, err_size)))
        return XPS_E_INVAL;
    srv.workers = config_workers(srv, srv.config);
    int rc = xps_server_check(srv.config, err, err_size);
    bool claimed = false; // the pid file is ours to remove
    if (rc == XPS_OK && options->pid_file)
        claimed = (rc = xps_server_pidfile_claim(options->pid_file, err, err_size)) == XPS_OK;
    const xps_config_cache_t *cc = xps_config_cache(srv.config);
    if (rc == XPS_OK && !(srv.cache = xps_cache_store_open(cc->dir, cc->max_bytes,
                                                           XPS_CACHE_MAX_ENTRIES, err, err_size)))
        rc = XPS_E_INVAL;
    int error = XPS_OK;
    if (rc == XPS_OK && options->product &&
        !(srv.metrics = xps_metrics_create_shared(2 * static_cast<size_t>(srv.workers), &error))) {
        std::snprintf(err, err_size, "cannot map the metrics' counters: %s", xps_strerror(error));
        rc = error;
    }
    std::vector<bound_listener> none;
    if (rc == XPS_OK && !bind_listeners(srv, srv.config, none, srv.bound, err, err_size))
        rc = XPS_E_FAIL;
    if (rc == XPS_OK) {
        XPS_LOG(XPS_LOG_INFO, options->name, "%s: %zu server block(s), %zu listener(s), %d worker(s)",
                xps_config_name(srv.config), xps_config_server_count(srv.config),
                xps_config_listener_count(srv.config), srv.workers);
        if (options->on_ready)
            options->on_ready(options->ready_data, srv.config);
        xps_master_config_t master = {};
        master.workers = srv.workers;
        master.worker_main = worker_main;
        master.data = &srv;
        master.reload = reload;
        master.drain_ms = xps_config_timeouts(srv.config)->drain_ms + master_margin_ms;
        rc = xps_master_run(&master);
        if (rc != XPS_OK)
            std::snprintf(err, err_size, "%s", xps_strerror(rc));
    }
    if (claimed)
        xps_server_pidfile_release(options->pid_file);
    close_all(srv.bound);
    xps_cache_store_close(srv.cache);
    xps_metrics_destroy(srv.metrics);
    xps_config_destroy(srv.config);
    return rc;
}

int xps_server_pidfile_claim(const char *path, char *err, size_t err_size) noexcept {
    int read_errno = 0;
    pid_t old = read_pid(path, &read_errno);
    if (old > 0 && old != getpid() && pid_alive(old)) {
        std::snprintf(err, err_size, "%s: pid %d is running (another server?): stop it "
                      "(-s stop) or choose another pid file", path, static_cast<int>(old));
        return XPS_E_FAIL;
    }
    // A temporary file renamed over the path: a reader never sees half a pid.
    std::string tmp = std::string(path) + ".tmp";
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    char line[32];
    int n = std::snprintf(line, sizeof line, "%d\n", static_cast<int>(getpid()));
    bool ok = fd >= 0 && write(fd, line, static_cast<size_t>(n)) == n;
    int saved = errno;
    if (fd >= 0 && close(fd) != 0 && ok)
        ok = false, saved = errno;
    if (ok && rename(tmp.c_str(), path) != 0)
        ok = false, saved = errno;
    if (!ok) {
        if (fd >= 0)
            unlink(tmp.c_str());
        std::snprintf(err, err_size, "%s: cannot write the pid file: %s", path,
                      std::strerror(saved));
        return XPS_E_FAIL;
    }
    return XPS_OK;
}

void xps_server_pidfile_release(const char *path) noexcept {
    int read_errno = 0;
    if (read_pid(path, &read_errno) == getpid())
        unlink(path);
}

int xps_server_pidfile_signal(const char *path, int signo, pid_t *out, char *err,
                              size_t err_size) noexcept {
    int read_errno = 0;
    pid_t pid = read_pid(path, &read_errno);
    if (out)
        *out = pid;
    if (read_errno != 0) {
        std::snprintf(err, err_size, "%s: cannot read: %s%s", path, std::strerror(read_errno),
                      read_errno == ENOENT ? ": is the server running?" : "");
        return read_errno == ENOENT ? XPS_E_NOTFOUND : XPS_E_FAIL;
    }
    if (pid == 0) {
        std::snprintf(err, err_size, "%s: holds no pid", path);
        return XPS_E_FAIL;
    }
    if (kill(pid, signo) != 0) {
        if (errno == ESRCH)
            std::snprintf(err, err_size, "%s: pid %d is not running (a stale pid file)", path,
                          static_cast<int>(pid));
        else
            std::snprintf(err, err_size, "%s: pid %d: %s", path, static_cast<int>(pid),
                          std::strerror(errno));
        return XPS_E_FAIL;
    }
    return XPS_OK;
}
