// stages/stage-19-tls/main.cpp — Stage 19: TLS. The program is stage 18's
// (a JSON config, one listener per host:port, a session per client,
// HTTP/1.1 rules, ip lists, listings, gzip, balanced upstreams, rate
// limits, timeouts and limits); what is new is that a listener with
// "tls": {cert, key} speaks TLS (modules/tls, OpenSSL 3):
//  - each such listener gets a TLS server with the certificate of every
//    block that lists it; SNI picks the block's by its hostnames;
//  - every accepted connection gets the TLS transport (modules/tcp): the
//    handshake runs on the loop under the first reads, and the sessions
//    above read and write plaintext as before;
//  - a missing, unreadable or mismatched certificate or key stops the
//    start-up with the file named; nothing listens then.
// Plain listeners are served exactly as in stage 18.
// Usage: stage-19 [--help] [--max-buckets N] CONFIG
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/xps_core.h"
#include "core/xps_logger.h"
#include "modules/config/xps_config.h"
#include "modules/loop/xps_loop.h"
#include "modules/session/xps_session.h"

namespace {

constexpr const char *usage =
    "usage: stage-19 [--help] [--max-buckets N] CONFIG\n"
    "  Serves what the JSON file CONFIG describes (docs/config.md): listeners, server\n"
    "  blocks, routes (file_serve, reverse_proxy, redirect), each route with an optional\n"
    "  ip_whitelist / ip_blacklist, and file_serve routes with dir_browsing (a folder\n"
    "  without an index file is listed). Relative paths are taken from CONFIG's folder.\n"
    "  Stage 18's rate_limit (429), timeouts (408, 504, idle and send timeouts) and\n"
    "  limits (max_connections, 431, 413) hold; stage 19 adds TLS listeners\n"
    "  (\"tls\": {\"cert\": FILE, \"key\": FILE}): TLS 1.2 and 1.3, ALPN http/1.1,\n"
    "  the certificate chosen by SNI among the blocks sharing the listener.\n"
    "  --max-buckets N: keep at most N rate-limit buckets (default 100000), to watch\n"
    "  the bound at work.\n"
    "  The stage's own: stage 18's servers, plus https on 127.0.0.1:8443 (test-only\n"
    "  certificates in stages/stage-19-tls/certs):\n"
    "    build/bin/stage-19 stages/stage-19-tls/config.json\n"
    "  XPS_LOG_LEVEL=debug|info|warn|error sets how much it logs.\n";

void on_signal(xps_loop_signal_t *, int signo, void *loop) {
    XPS_LOG(XPS_LOG_INFO, "stage-19", "%s: shutting down", strsignal(signo));
    xps_loop_stop(static_cast<xps_loop_t *>(loop));
}

} // namespace

int main(int argc, char **argv) {
    if (argc == 2 && std::strcmp(argv[1], "--help") == 0)
        return std::fputs(usage, stdout), 0;
    size_t max_buckets = 0; // the module's default
    if (argc == 4 && std::strcmp(argv[1], "--max-buckets") == 0) {
        char *end = nullptr;
        unsigned long long n = std::strtoull(argv[2], &end, 10);
        if (!end || *end || argv[2][0] == '-' || n == 0 || n > 10000000)
            return std::fputs("stage-19: --max-buckets takes a number from 1 to 10000000\n",
                              stderr), 2;
        max_buckets = static_cast<size_t>(n);
        argv += 2, argc -= 2;
    }
    if (argc != 2 || argv[1][0] == '-' || argv[1][0] == '\0')
        return std::fputs(usage, stderr), 2;
    xps_log_init_from_env();

    char err[XPS_CONFIG_ERR_MAX];
    xps_config_t *config = xps_config_load(argv[1], err, sizeof err);
    if (!config) { // nothing is listening yet, and nothing will (a bad ip_whitelist too)
        std::fprintf(stderr, "stage-19: %s\n", err);
        return 1;
    }
    int error = XPS_OK;
    xps_core_t *core = xps_core_create();
    xps_loop_t *loop = core ? xps_loop_create(core, &error) : nullptr;
    const int signals[] = {SIGINT, SIGTERM};
    bool ok = loop && xps_loop_signal_attach(loop, signals, 2, on_signal, loop, &error);
    if (!ok)
        std::fprintf(stderr, "stage-19: cannot start: %s\n",
                     xps_strerror(error != XPS_OK ? error : XPS_E_NOMEM));
    // [stage 19] stage 18's sessions, and TLS on the listeners that ask for it
    xps_session_options_t options = {.http11 = true, .ip_filter = true, .dir_listing = true,
                                     .gzip = true, .balance = true, .rate_limit = true,
                                     .timeouts = true, .limits = true,
                                     .rate_limit_entries = max_buckets, .tls = true,
                                     .cache = false, .cache_store = nullptr, .product = {}};
    ok = ok && xps_session_listen_all_with(loop, config, &options) == XPS_OK; // logs a failure
    if (ok)
        XPS_LOG(XPS_LOG_INFO, "stage-19", "%s: %zu server block(s), %zu listener(s)",
                xps_config_name(config), xps_config_server_count(config),
                xps_config_listener_count(config));
    int status = ok && xps_loop_run(loop) == XPS_OK ? 0 : 1;
    xps_core_destroy(core); // listeners, sessions, connections, pipes, the loop
    xps_config_destroy(config); // last: sessions borrowed it
    return status;
}
