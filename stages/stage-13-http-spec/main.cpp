// stages/stage-13-http-spec/main.cpp — Stage 13: HTTP/1.1 as the RFCs
// say it. The program is stage 12's (a JSON config, one listener per
// host:port, a session per client); what changed is in the session: it
// now keeps the connection open between requests and answers pipelined
// requests in order (RFC 9112 §9.3), so this main switches keep-alive on
// for every session it creates. The README explains each rule with the
// RFC section it follows and a curl command that shows it.
// Usage: stage-13 [--help] CONFIG
#include <csignal>
#include <cstdio>
#include <cstring>
#include <new>

#include "core/xps_core.h"
#include "core/xps_logger.h"
#include "modules/config/xps_config.h"
#include "modules/loop/xps_loop.h"
#include "modules/session/xps_session.h"
#include "modules/tcp/xps_tcp.h"

namespace {

constexpr const char *usage =
    "usage: stage-13 [--help] CONFIG\n"
    "  Serves what the JSON file CONFIG describes (docs/config.md): listeners, server\n"
    "  blocks, routes (file_serve, reverse_proxy, redirect). Relative paths in it are\n"
    "  taken from CONFIG's folder. The stage's own, with the course's four servers:\n"
    "    build/bin/stage-13 stages/stage-13-http-spec/config.json\n"
    "  XPS_LOG_LEVEL=debug|info|warn|error sets how much it logs.\n";

// What an accept callback needs: one per listener.
struct listener_ctx {
    xps_loop_t *loop;                      // borrowed
    const xps_config_t *config;            // borrowed: outlives the loop
    const xps_config_listener_t *listener; // this listener's record in config
};

// Every client gets a session; the session takes the connection and,
// from this stage, keeps it for as many requests as the client sends.
void on_accept(xps_listener_t *, xps_connection_t *connection, void *data) {
    auto *l = static_cast<listener_ctx *>(data);
    int error = XPS_OK;
    xps_session_t *s = xps_session_create(l->loop, connection, l->config, l->listener, &error);
    if (s) // (a failure is logged by the session)
        xps_session_set_http11(s, true); // [stage 13]: keep-alive, 304, ranges
}

void on_signal(xps_loop_signal_t *, int signo, void *loop) {
    XPS_LOG(XPS_LOG_INFO, "stage-13", "%s: shutting down", strsignal(signo));
    xps_loop_stop(static_cast<xps_loop_t *>(loop));
}

// One listener per distinct host:port of the config. False (with a message
// on stderr) if one cannot be opened: a port taken, a privileged port.
bool listen_all(xps_loop_t *loop, const xps_config_t *config, listener_ctx *ctx) {
    for (size_t i = 0; i < xps_config_listener_count(config); i++) {
        const xps_config_listener_t *l = xps_config_listener(config, i);
        ctx[i] = listener_ctx{loop, config, l};
        int error = XPS_OK;
        if (!xps_listener_create(loop, l->host, l->port, nullptr, on_accept, &ctx[i], &error)) {
            std::fprintf(stderr, "stage-13: cannot listen on %s:%u: %s\n", l->host, l->port,
                         xps_strerror(error));
            return false;
        }
    }
    return true;
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
    if (!config) { // nothing is listening yet, and nothing will
        std::fprintf(stderr, "stage-13: %s\n", err);
        return 1;
    }
    int error = XPS_OK;
    xps_core_t *core = xps_core_create();
    xps_loop_t *loop = core ? xps_loop_create(core, &error) : nullptr;
    auto *ctx = new (std::nothrow) listener_ctx[xps_config_listener_count(config)];
    const int signals[] = {SIGINT, SIGTERM};
    bool ok = loop && ctx && xps_loop_signal_attach(loop, signals, 2, on_signal, loop, &error);
    if (!ok)
        std::fprintf(stderr, "stage-13: cannot start: %s\n",
                     xps_strerror(error != XPS_OK ? error : XPS_E_NOMEM));
    ok = ok && listen_all(loop, config, ctx);
    if (ok)
        XPS_LOG(XPS_LOG_INFO, "stage-13", "%s: %zu server block(s), %zu listener(s)",
                xps_config_name(config), xps_config_server_count(config),
                xps_config_listener_count(config));
    int status = ok && xps_loop_run(loop) == XPS_OK ? 0 : 1;
    xps_core_destroy(core); // listeners, sessions, connections, pipes, the loop
    delete[] ctx;
    xps_config_destroy(config); // last: sessions borrowed it
    return status;
}
