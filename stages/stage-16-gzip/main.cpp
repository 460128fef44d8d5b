// stages/stage-16-gzip/main.cpp — Stage 16: gzip.
// The program is stage 15's (a JSON config, one listener per host:port,
// a session per client, HTTP/1.1 rules, ip lists, folder listings); what
// is new is that a route with "gzip_enable": true sends the bodies of its
// text types gzip-coded to a client that accepts it: files, listings and
// proxied bodies, compressed as they go out (modules/gzip), chunked, the
// connection kept; with "gzip_static": true a fresher "<file>.gz" beside
// the file is sent as it is. The session decides at the one point where
// each response head is made; the module does the rest. Off (the
// default): identity, no Vary, as before.
// Usage: stage-16 [--help] CONFIG
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
    "usage: stage-16 [--help] CONFIG\n"
    "  Serves what the JSON file CONFIG describes (docs/config.md): listeners, server\n"
    "  blocks, routes (file_serve, reverse_proxy, redirect), each route with an optional\n"
    "  ip_whitelist / ip_blacklist, file_serve routes with dir_browsing (a folder\n"
    "  without an index file is listed), and gzip_enable, gzip_level, gzip_mime_types,\n"
    "  gzip_min_length, gzip_static (bodies of text types sent gzip-coded to clients\n"
    "  that accept it). Relative paths are taken from CONFIG's folder.\n"
    "  The stage's own: stage 15's servers, gzip files on 8010, a gzip proxy on 8011:\n"
    "    build/bin/stage-16 stages/stage-16-gzip/config.json\n"
    "  XPS_LOG_LEVEL=debug|info|warn|error sets how much it logs.\n";

void on_signal(xps_loop_signal_t *, int signo, void *loop) {
    XPS_LOG(XPS_LOG_INFO, "stage-16", "%s: shutting down", strsignal(signo));
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
        std::fprintf(stderr, "stage-16: %s\n", err);
        return 1;
    }
    int error = XPS_OK;
    xps_core_t *core = xps_core_create();
    xps_loop_t *loop = core ? xps_loop_create(core, &error) : nullptr;
    const int signals[] = {SIGINT, SIGTERM};
    bool ok = loop && xps_loop_signal_attach(loop, signals, 2, on_signal, loop, &error);
    if (!ok)
        std::fprintf(stderr, "stage-16: cannot start: %s\n",
                     xps_strerror(error != XPS_OK ? error : XPS_E_NOMEM));
    // [stage 16] stage 15's sessions, and gzip_enable routes compress
    const xps_session_options_t options = {
        .http11 = true, .ip_filter = true, .dir_listing = true, .gzip = true,
        .balance = false, .rate_limit = false, .timeouts = false, .limits = false, .rate_limit_entries = 0, .tls = false,
                                           .cache = false, .cache_store = nullptr, .product = {}};
    ok = ok && xps_session_listen_all_with(loop, config, &options) == XPS_OK; // logs a failure
    if (ok)
        XPS_LOG(XPS_LOG_INFO, "stage-16", "%s: %zu server block(s), %zu listener(s)",
                xps_config_name(config), xps_config_server_count(config),
                xps_config_listener_count(config));
    int status = ok && xps_loop_run(loop) == XPS_OK ? 0 : 1;
    xps_core_destroy(core); // listeners, sessions, connections, pipes, the loop
    xps_config_destroy(config); // last: sessions borrowed it
    return status;
}
