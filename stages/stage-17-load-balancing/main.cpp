// stages/stage-17-load-balancing/main.cpp — Stage 17: load balancing.
// The program is stage 16's (a JSON config, one listener per host:port, a
// session per client, HTTP/1.1 rules, each route's ip lists, listings,
// gzip);
// what is new is that a reverse_proxy route uses ALL of its upstreams[]:
// the route's balancer (modules/balancer) chooses one per request by the
// route's load_balancing (round_robin, least_connections, ip_hash), skips
// the ones that failed (max_fails, fail_timeout_ms), moves a request whose
// connect failed to the next one, and answers 502 at once when all are
// down; a route with health_check probes its downed upstreams and takes
// them back as soon as they answer. The session decides at one point (the
// route's balancer, handed to the proxy); the proxy asks it per attempt.
// Usage: stage-17 [--help] CONFIG
#include <csignal>
#include <cstdio>
#include <cstring>

#include "core/xps_core.h"
#include "core/xps_logger.h"
#include "modules/config/xps_config.h"
#include "modules/loop/xps_loop.h"
#include "modules/session/xps_session.h"

namespace {

constexpr const char *usage =
    "usage: stage-17 [--help] CONFIG\n"
    "  Serves what the JSON file CONFIG describes (docs/config.md): listeners, server\n"
    "  blocks, routes (file_serve, reverse_proxy, redirect), each route with an optional\n"
    "  ip_whitelist / ip_blacklist, file_serve routes with dir_browsing, and reverse_proxy\n"
    "  routes balanced over all their upstreams (load_balancing, max_fails,\n"
    "  fail_timeout_ms, health_check). Relative paths are taken from CONFIG's folder.\n"
    "  The stage's own: stage 15's servers, and 8010-8013 over upstreams on 3001-3003:\n"
    "    build/bin/stage-17 stages/stage-17-load-balancing/config.json\n"
    "  XPS_LOG_LEVEL=debug|info|warn|error sets how much it logs.\n";

void on_signal(xps_loop_signal_t *, int signo, void *loop) {
    XPS_LOG(XPS_LOG_INFO, "stage-17", "%s: shutting down", strsignal(signo));
    xps_loop_stop(static_cast<xps_loop_t *>(loop));
}

} // namespace

int main(int argc, char **argv) {
    if (argc == 2 && std::strcmp(argv[1], "--help") == 0)
        return std::fputs(usage, stdout), 0;
    if (argc != 2 || argv[1][0] == '-' || argv[1][0] == '\0')
        return std::fputs(usage, stderr), 2;
    xps_log_init_from_env();

    char err[XPS_CONFIG_ERR_MAX];
    xps_config_t *config = xps_config_load(argv[1], err, sizeof err);
    if (!config) { // nothing is listening yet, and nothing will (a bad health_check too)
        std::fprintf(stderr, "stage-17: %s\n", err);
        return 1;
    }
    int error = XPS_OK;
    xps_core_t *core = xps_core_create();
    xps_loop_t *loop = core ? xps_loop_create(core, &error) : nullptr;
    const int signals[] = {SIGINT, SIGTERM};
    bool ok = loop && xps_loop_signal_attach(loop, signals, 2, on_signal, loop, &error);
    if (!ok)
        std::fprintf(stderr, "stage-17: cannot start: %s\n",
                     xps_strerror(error != XPS_OK ? error : XPS_E_NOMEM));
    // [stage 17] stage 16's sessions, and every upstream of a route balanced
    const xps_session_options_t options = {.http11 = true, .ip_filter = true, .dir_listing = true,
                                           .gzip = true, .balance = true,
                                           .rate_limit = false, .timeouts = false,
                                           .limits = false, .rate_limit_entries = 0, .tls = false,
                                           .cache = false, .cache_store = nullptr, .product = {}};
    ok = ok && xps_session_listen_all_with(loop, config, &options) == XPS_OK; // logs a failure
    if (ok)
        XPS_LOG(XPS_LOG_INFO, "stage-17", "%s: %zu server block(s), %zu listener(s)",
                xps_config_name(config), xps_config_server_count(config),
                xps_config_listener_count(config));
    int status = ok && xps_loop_run(loop) == XPS_OK ? 0 : 1;
    xps_core_destroy(core); // listeners, sessions, balancers, connections, pipes, the loop
    xps_config_destroy(config); // last: sessions and balancers borrowed it
    return status;
}
