// stages/stage-20-caching/main.cpp — Stage 20: the shared response cache.
// The program is stage 19's (a JSON config, one listener per host:port, a
// session per client, HTTP/1.1 rules, ip lists, listings, gzip, balanced
// upstreams, rate limits, timeouts and limits, TLS listeners); what is new is that a
// reverse_proxy route with "cache" answers from a cache shared by every
// process that opens the same store (modules/cache):
//  - a fresh stored response is sent from its file with sendfile
//    (X-Cache: HIT, Age); a miss is fetched and copied into the store as
//    it goes to the client (X-Cache: MISS); a stale one is revalidated
//    (X-Cache: EXPIRED); RFC 9111's rules say what may be stored and for
//    whom (Cache-Control, Expires, Vary, Set-Cookie, Authorization);
//  - concurrent misses for one key make one upstream request;
//  - the top-level "cache" {dir, max_bytes} says where and how much, the
//    least recently used entries going first.
// The store is opened by xps_session_listen_all_with here (.cache = true,
// no .cache_store); stage 21's master opens it before it forks instead.
// Usage: stage-20 [--help] [--max-buckets N] CONFIG
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
    "usage: stage-20 [--help] [--max-buckets N] CONFIG\n"
    "  Serves what the JSON file CONFIG describes (docs/config.md): listeners, server\n"
    "  blocks, routes (file_serve, reverse_proxy, redirect), each route with an optional\n"
    "  ip_whitelist / ip_blacklist, and file_serve routes with dir_browsing (a folder\n"
    "  without an index file is listed). Relative paths are taken from CONFIG's folder.\n"
    "  Stage 18 added routes' rate_limit (429), the top-level timeouts (408, 504, idle\n"
    "  and send timeouts) and limits (max_connections, 431, 413), with defaults.\n"
    "  Stage 20 adds the shared cache: reverse_proxy routes with \"cache\" answer from\n"
    "  it (X-Cache: HIT | MISS | EXPIRED | BYPASS), kept in the top-level cache.dir.\n"
    "  --max-buckets N: keep at most N rate-limit buckets (default 100000), to watch\n"
    "  the bound at work.\n"
    "  The stage's own: stage 18's servers, plus 8011, a cached proxy to localhost:3000:\n"
    "    build/bin/stage-20 stages/stage-20-caching/config.json\n"
    "  XPS_LOG_LEVEL=debug|info|warn|error sets how much it logs.\n";

void on_signal(xps_loop_signal_t *, int signo, void *loop) {
    XPS_LOG(XPS_LOG_INFO, "stage-20", "%s: shutting down", strsignal(signo));
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
            return std::fputs("stage-20: --max-buckets takes a number from 1 to 10000000\n",
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
        std::fprintf(stderr, "stage-20: %s\n", err);
        return 1;
    }
    int error = XPS_OK;
    xps_core_t *core = xps_core_create();
    xps_loop_t *loop = core ? xps_loop_create(core, &error) : nullptr;
    const int signals[] = {SIGINT, SIGTERM};
    bool ok = loop && xps_loop_signal_attach(loop, signals, 2, on_signal, loop, &error);
    if (!ok)
        std::fprintf(stderr, "stage-20: cannot start: %s\n",
                     xps_strerror(error != XPS_OK ? error : XPS_E_NOMEM));
    // [stage 20] stage 19's sessions, and routes' cache through the shared store
    xps_session_options_t options = {.http11 = true, .ip_filter = true, .dir_listing = true,
                                     .gzip = true, .balance = true, .rate_limit = true,
                                     .timeouts = true, .limits = true,
                                     .rate_limit_entries = max_buckets, .tls = true,
                                     .cache = true, .cache_store = nullptr, .product = {}};
    ok = ok && xps_session_listen_all_with(loop, config, &options) == XPS_OK; // logs a failure
    if (ok)
        XPS_LOG(XPS_LOG_INFO, "stage-20", "%s: %zu server block(s), %zu listener(s)",
                xps_config_name(config), xps_config_server_count(config),
                xps_config_listener_count(config));
    int status = ok && xps_loop_run(loop) == XPS_OK ? 0 : 1;
    xps_core_destroy(core); // listeners, sessions, connections, pipes, the loop
    xps_config_destroy(config); // last: sessions borrowed it
    return status;
}
