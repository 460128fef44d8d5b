// stages/stage-09-file/main.cpp — Stage 09: a file as the source of a pipe.
// 8001 proxies raw TCP to the upstream (stage 08's tunnel); 8002 sends
// root/sample.txt to each client as soon as it connects, then closes; 8003
// asks for ../temp/file.txt, outside the root, which the file module refuses
// (no byte sent); 8004 echoes. 8002 and 8003 never read what clients send.
// The root: --root, else ./public, else the course's ../public (--help).
#include <csignal>
#include <cstdio>
#include <cstring>

#include "core/xps_args.h"
#include "core/xps_core.h"
#include "core/xps_logger.h"
#include "core/xps_pipe.h"
#include "modules/file/xps_file.h"
#include "modules/loop/xps_loop.h"
#include "modules/tcp/xps_tcp.h"
#include "modules/upstream/xps_upstream.h"

namespace {

constexpr int port_count = 4;
constexpr uint64_t connect_timeout_ms = 5000;       // for a silent upstream (stage 08)
constexpr const char *outside = "../temp/file.txt"; // what port base+2 asks for

struct settings {
    int base_port = 8001;                  // proxy, file, outside file, echo
    char upstream_host[256] = "127.0.0.1"; // where the proxy connects: host...
    uint16_t upstream_port = 3000;         // ...and port
    const char *root = nullptr;            // the document root; NULL: the default
    const char *file = "sample.txt";       // what port base+1 sends, under the root
    xps_file_mode_t mode = XPS_FILE_RANGE; // sendfile(); --buffers: pread() + send()
    xps_loop_t *loop = nullptr;            // set once created
};

constexpr const char *usage =
    "usage: stage-09 [--base-port N] [--upstream HOST:PORT] [--root DIR] [--file PATH]"
    " [--buffers] [CONFIG.json]\n"
    "  Port N proxies raw TCP to the upstream, N+1 sends a file from the root,\n"
    "  N+2 asks for ../temp/file.txt (outside the root: refused), N+3 echoes.\n"
    "  --base-port N (default 8001)   --upstream HOST:PORT (default 127.0.0.1:3000)\n"
    "  --root DIR   default ./public, else ../public (the course tester's layout)\n"
    "  --file PATH  under the root, default sample.txt; --buffers: pread(), not sendfile()\n"
    XPS_ARGS_COURSE_CONFIG_HELP "  --help       this text. XPS_LOG_LEVEL=debug|info|warn|error\n";

// One flag and the argument after it (NULL if none) into settings: how many
// it used, or 0 if wrong. %5d cannot overflow; a %c that matches is junk.
int parse_flag(const char *flag, const char *value, settings *s) {
    int port = 0;
    char junk;
    if (std::strcmp(flag, "--buffers") == 0)
        return s->mode = XPS_FILE_BUFFERS, 1;
    if (!value)
        return 0;
    if (std::strcmp(flag, "--root") == 0 || std::strcmp(flag, "--file") == 0) {
        (flag[2] == 'r' ? s->root : s->file) = value; // checked per client, by the module
        return 2;
    }
    if (std::strcmp(flag, "--base-port") == 0 && std::sscanf(value, "%5d%c", &port, &junk) == 1 &&
        port >= 1 && port <= 65535 - (port_count - 1))
        return s->base_port = port, 2;
    const char *form = value[0] == '[' ? "[%255[^]]]:%5d%c" : "%255[^:]:%5d%c"; // [v6]:PORT
    if (std::strcmp(flag, "--upstream") == 0 &&
        std::sscanf(value, form, s->upstream_host, &port, &junk) == 2 && port >= 1 && port <= 65535)
        return s->upstream_port = static_cast<uint16_t>(port), 2;
    return 0;
}

// A client of a file port: the file is the source of a pipe, the client its
// sink (sendfile(): the bytes never enter this process, unless --buffers).
// A file refused or not found: closed before a byte.
void on_file_client(xps_listener_t *listener, xps_connection_t *connection, void *data) {
    auto *s = static_cast<settings *>(data);
    const char *path = xps_listener_port(listener) == s->base_port + 1 ? s->file : outside;
    int error = XPS_OK;
    xps_core_t *core = xps_loop_core(s->loop);
    xps_file_t *file = xps_file_create(core, s->root, path, &error);
    xps_pipe_t *pipe = file ? xps_pipe_create(core, XPS_PIPE_DEFAULT_THRESHOLD) : nullptr;
    if (file)
        error = pipe ? xps_connection_attach_sink(connection, pipe) : XPS_E_NOMEM;
    if (error == XPS_OK)
        error = xps_file_attach(file, pipe, s->mode);
    if (error == XPS_OK) {
        XPS_LOG(XPS_LOG_INFO, "stage-09", "client %s: sending %s (%zu bytes, %s)",
                xps_connection_peer(connection), path, xps_file_size(file), xps_file_mime(file));
    } else {
        XPS_LOG(XPS_LOG_INFO, "stage-09", "client %s: cannot send \"%s\" (%s): closing it",
                xps_connection_peer(connection), path, xps_strerror(error));
        xps_connection_destroy(connection); // detaches the sink if it attached
        xps_pipe_destroy(pipe);
    }
    xps_file_destroy(file); // an attached stream has a descriptor of its own
}

// A client of the proxy port: the tunnel owns it from here on (stage 08).
void on_proxy_client(xps_listener_t *, xps_connection_t *connection, void *data) {
    auto *s = static_cast<settings *>(data);
    int error = xps_upstream_tunnel(s->loop, connection, s->upstream_host, s->upstream_port,
                                    connect_timeout_ms);
    if (error != XPS_OK)
        XPS_LOG(XPS_LOG_ERROR, "stage-09", "cannot proxy: %s", xps_strerror(error));
}

// A client of the echo port: one pipe, the connection at both ends (stage 07).
void on_echo_client(xps_listener_t *, xps_connection_t *connection, void *data) {
    xps_pipe_t *echo = xps_pipe_create(xps_loop_core(static_cast<settings *>(data)->loop),
                                       XPS_PIPE_DEFAULT_THRESHOLD);
    if (!echo || xps_connection_attach_sink(connection, echo) != XPS_OK ||
        xps_connection_attach_source(connection, echo) != XPS_OK) {
        XPS_LOG(XPS_LOG_ERROR, "stage-09", "cannot set up an echo pipe");
        xps_connection_destroy(connection); // detaches whatever end it attached
        xps_pipe_destroy(echo);
    }
}

void on_signal(xps_loop_signal_t *, int signo, void *loop) {
    XPS_LOG(XPS_LOG_INFO, "stage-09", "%s: shutting down", strsignal(signo));
    xps_loop_stop(static_cast<xps_loop_t *>(loop));
}

} // namespace

int main(int argc, char **argv) {
    settings s;
    int args = xps_args_without_course_config(argc, argv); // CONFIG.json: not read
    for (int i = 1, used = 1; i < args; i += used) {
        if (std::strcmp(argv[i], "--help") == 0)
            return std::fputs(usage, stdout), 0;
        if (!(used = parse_flag(argv[i], i + 1 < args ? argv[i + 1] : nullptr, &s)))
            return std::fputs(usage, stderr), 2;
    }
    xps_log_init_from_env();
    xps_args_note_course_config(args, argc, argv, "stage-09");
    s.root = xps_file_choose_root(s.root); // ./public, else the course's ../public; logged
    int error = XPS_OK;
    xps_core_t *core = xps_core_create();
    s.loop = core ? xps_loop_create(core, &error) : nullptr;
    const int signals[] = {SIGINT, SIGTERM};
    const xps_listener_accept_cb serve[port_count] = {on_proxy_client, on_file_client,
                                                      on_file_client, on_echo_client};
    bool ok = s.loop && xps_loop_signal_attach(s.loop, signals, 2, on_signal, s.loop, &error);
    for (int i = 0; ok && i < port_count; i++)
        ok = xps_listener_create(s.loop, "0.0.0.0", static_cast<uint16_t>(s.base_port + i), nullptr,
                                 serve[i], &s, &error) != nullptr;
    if (!ok)
        std::fprintf(stderr, "stage-09: cannot start: %s\n", xps_strerror(error));
    int status = ok && xps_loop_run(s.loop) == XPS_OK ? 0 : 1;
    xps_core_destroy(core); // listeners, tunnels, file streams, connections, pipes, the loop
    return status;
}
