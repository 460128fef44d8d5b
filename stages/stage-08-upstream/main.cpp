// stages/stage-08-upstream/main.cpp — Stage 08: port 8001 becomes a raw TCP
// proxy to an upstream server (127.0.0.1:3000 unless told), 8002-8004 echo
// as in stage 07. Each client of 8001 gets a connection of its own to the
// upstream, opened without blocking (modules/upstream), and two pipes
// between the two connections, one per direction: xps_upstream_tunnel()
// builds that graph, the chapter draws it. If the upstream is down, that
// client is closed and nobody else notices. Usage: stage-08 --help.

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/xps_args.h"
#include "core/xps_core.h"
#include "core/xps_logger.h"
#include "core/xps_pipe.h"
#include "modules/loop/xps_loop.h"
#include "modules/tcp/xps_tcp.h"
#include "modules/upstream/xps_upstream.h"

namespace {

constexpr int port_count = 4;
// A silent upstream (its SYNs dropped) costs its client at most this long.
constexpr uint64_t connect_timeout_ms = 5000;

struct settings {
    int base_port = 8001;                    // proxy on base, echo on base+1..base+3
    const char *upstream = "127.0.0.1:3000"; // --upstream as given, for logs
    char upstream_host[256] = "127.0.0.1";   // where the proxy connects: host...
    uint16_t upstream_port = 3000;           // ...and port
    xps_loop_t *loop = nullptr;              // set once created
};

constexpr const char *usage =
    "usage: stage-08 [--base-port N] [--upstream HOST:PORT] [CONFIG.json]\n"
    "  Port N proxies raw TCP to the upstream; N+1..N+3 echo (default 8001-8004).\n"
    "  --base-port N          first of the four ports (1-65532)\n"
    "  --upstream HOST:PORT   where port N connects (default 127.0.0.1:3000);\n"
    "                         HOST is a numeric address or localhost\n"
    XPS_ARGS_COURSE_CONFIG_HELP
    "  --help                 print this help\n"
    "  XPS_LOG_LEVEL=debug|info|warn|error sets how much it logs.\n";

// "HOST:PORT" (or "[v6]:PORT") into settings. False if malformed.
bool parse_upstream(const char *text, settings *s) {
    s->upstream = text;
    const char *colon = std::strrchr(text, ':');
    char *end = nullptr;
    long port = colon ? std::strtol(colon + 1, &end, 10) : 0;
    size_t host_len = colon ? static_cast<size_t>(colon - text) : 0;
    if (!colon || colon[1] == '\0' || *end != '\0' || port < 1 || port > 65535 || host_len == 0 ||
        host_len >= sizeof s->upstream_host)
        return false;
    if (text[0] == '[' && host_len > 2 && text[host_len - 1] == ']')
        text++, host_len -= 2; // "[::1]:3000"
    std::memcpy(s->upstream_host, text, host_len);
    s->upstream_host[host_len] = '\0';
    s->upstream_port = static_cast<uint16_t>(port);
    return true;
}

// Returns -1 to go on, or the exit status (0 after --help, 2 on bad usage).
int parse_args(int argc, char **argv, settings *s) {
    for (int i = 1; i < argc; i++) {
        bool ok = true;
        if (std::strcmp(argv[i], "--help") == 0) {
            std::fputs(usage, stdout);
            return 0;
        } else if (std::strcmp(argv[i], "--upstream") == 0 && i + 1 < argc) {
            ok = parse_upstream(argv[++i], s);
        } else if (std::strcmp(argv[i], "--base-port") == 0 && i + 1 < argc) {
            char *end = nullptr;
            long port = std::strtol(argv[++i], &end, 10);
            ok = *argv[i] != '\0' && *end == '\0' && port >= 1 && port <= 65535 - (port_count - 1);
            s->base_port = static_cast<int>(port);
        } else {
            ok = false;
        }
        if (!ok) {
            std::fputs(usage, stderr);
            return 2;
        }
    }
    return -1;
}

// A client of the proxy port: tunnel it to the upstream. The tunnel owns
// the connection from here on, and closes it if the upstream fails.
void on_proxy_client(xps_listener_t *listener, xps_connection_t *connection, void *data) {
    (void)listener;
    auto *s = static_cast<settings *>(data);
    XPS_LOG(XPS_LOG_INFO, "stage-08", "new client %s: proxying to %s",
            xps_connection_peer(connection), s->upstream);
    int error = xps_upstream_tunnel(s->loop, connection, s->upstream_host, s->upstream_port,
                                    connect_timeout_ms);
    if (error != XPS_OK)
        XPS_LOG(XPS_LOG_ERROR, "stage-08", "cannot proxy: %s", xps_strerror(error));
}

// A client of an echo port: one pipe, the connection at both ends (stage 07).
void on_echo_client(xps_listener_t *listener, xps_connection_t *connection, void *data) {
    (void)listener;
    auto *s = static_cast<settings *>(data);
    xps_pipe_t *echo = xps_pipe_create(xps_loop_core(s->loop), XPS_PIPE_DEFAULT_THRESHOLD);
    if (!echo || xps_connection_attach_sink(connection, echo) != XPS_OK ||
        xps_connection_attach_source(connection, echo) != XPS_OK) {
        XPS_LOG(XPS_LOG_ERROR, "stage-08", "cannot set up an echo pipe for %s",
                xps_connection_peer(connection));
        xps_connection_destroy(connection); // detaches whatever end it attached
        xps_pipe_destroy(echo);
        return;
    }
    XPS_LOG(XPS_LOG_INFO, "stage-08", "new client %s: echo", xps_connection_peer(connection));
}

void on_signal(xps_loop_signal_t *signal, int signo, void *data) {
    (void)signal;
    XPS_LOG(XPS_LOG_INFO, "stage-08", "%s: shutting down", strsignal(signo));
    xps_loop_stop(static_cast<xps_loop_t *>(data));
}

} // namespace

int main(int argc, char **argv) {
    settings s;
    int args = xps_args_without_course_config(argc, argv); // CONFIG.json: not read
    int status = parse_args(args, argv, &s);
    if (status >= 0)
        return status;
    xps_log_init_from_env();
    xps_args_note_course_config(args, argc, argv, "stage-08");

    int error = XPS_OK;
    xps_core_t *core = xps_core_create();
    s.loop = core ? xps_loop_create(core, &error) : nullptr;
    const int signals[] = {SIGINT, SIGTERM};
    bool ok = s.loop && xps_loop_signal_attach(s.loop, signals, 2, on_signal, s.loop, &error);
    for (int i = 0; ok && i < port_count; i++)
        ok = xps_listener_create(s.loop, "0.0.0.0", static_cast<uint16_t>(s.base_port + i), nullptr,
                                 i == 0 ? on_proxy_client : on_echo_client, &s, &error) != nullptr;
    if (ok)
        status = xps_loop_run(s.loop) == XPS_OK ? 0 : 1;
    else
        std::fprintf(stderr, "stage-08: cannot start: %s\n", xps_strerror(error));
    xps_core_destroy(core); // listeners, tunnels, connections, pipes, the loop
    return ok ? status : 1;
}
