// stages/stage-14-ip-filter/main.cpp — Stage 14: who may use a route.
// The program is stage 13's (a JSON config, one listener per host:port,
// a session per client, HTTP/1.1 rules); what is new is that every route
// may carry an ip_whitelist and an ip_blacklist (addresses and CIDR
// blocks, IPv4 and IPv6). modules/config parses them into a prefix trie
// per route when the file is loaded (a bad entry stops the server before
// it listens); this main switches the check on, and the session asks the
// route's filter (modules/ipfilter) right after routing, before a file is
// opened or an upstream contacted: refused → 403. The README shows it
// from one machine with curl --interface 127.0.0.2.
// Usage: stage-14 [--help] CONFIG
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
    "usage: stage-14 [--help] CONFIG\n"
    "  Serves what the JSON file CONFIG describes (docs/config.md): listeners, server\n"
    "  blocks, routes (file_serve, reverse_proxy, redirect), each route with an optional\n"
    "  ip_whitelist / ip_blacklist. Relative paths in it are taken from CONFIG's folder.\n"
    "  The stage's own, with the course's four servers and four filtered ones:\n"
    "    build/bin/stage-14 stages/stage-14-ip-filter/config.json\n"
    "  XPS_LOG_LEVEL=debug|info|warn|error sets how much it logs.\n";

void on_signal(xps_loop_signal_t *, int signo, void *loop) {
    XPS_LOG(XPS_LOG_INFO, "stage-14", "%s: shutting down", strsignal(signo));
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
    if (!config) { // nothing is listening yet, and nothing will (a bad ip_whitelist too)
        std::fprintf(stderr, "stage-14: %s\n", err);
        return 1;
    }
    int error = XPS_OK;
    xps_core_t *core = xps_core_create();
    xps_loop_t *loop = core ? xps_loop_create(core, &error) : nullptr;
    const int signals[] = {SIGINT, SIGTERM};
    bool ok = loop && xps_loop_signal_attach(loop, signals, 2, on_signal, loop, &error);
    if (!ok)
        std::fprintf(stderr, "stage-14: cannot start: %s\n",
                     xps_strerror(error != XPS_OK ? error : XPS_E_NOMEM));
    // [stage 14] stage 13's sessions, and each route's access lists asked
    const xps_session_options_t options = {.http11 = true, .ip_filter = true, .dir_listing = false,
                                           .gzip = false, .balance = false,
                                           .rate_limit = false, .timeouts = false,
                                           .limits = false, .rate_limit_entries = 0, .tls = false,
                                           .cache = false, .cache_store = nullptr, .product = {}};
    ok = ok && xps_session_listen_all_with(loop, config, &options) == XPS_OK; // logs a failure
    if (ok)
        XPS_LOG(XPS_LOG_INFO, "stage-14", "%s: %zu server block(s), %zu listener(s)",
                xps_config_name(config), xps_config_server_count(config),
                xps_config_listener_count(config));
    int status = ok && xps_loop_run(loop) == XPS_OK ? 0 : 1;
    xps_core_destroy(core); // listeners, sessions, connections, pipes, the loop
    xps_config_destroy(config); // last: sessions borrowed it
    return status;
}
