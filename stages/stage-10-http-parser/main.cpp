// stages/stage-10-http-parser/main.cpp — Stage 10: an HTTP file server.
// Ports 8001-8004 all serve the files under the root, one request per
// connection. Each accepted connection is handed to client.cpp, which
// appends its bytes to one head buffer that http/'s incremental parser reads
// as it grows; reply.cpp builds the response by hand: status line and
// headers in ONE write, then the file as a file range (sendfile). Without
// --root the root is ./public, or the course's ../public when there is no
// ./public (xps_file_choose_root: its tester's layout).
#include <csignal>
#include <cstdio>
#include <cstring>

#include "core/xps_args.h"
#include "core/xps_core.h"
#include "core/xps_logger.h"
#include "modules/file/xps_file.h"
#include "modules/loop/xps_loop.h"
#include "modules/tcp/xps_tcp.h"
#include "stages/stage-10-http-parser/client.h"

namespace {

constexpr int port_count = 4;

struct settings {
    int base_port = 8001;          // the four ports are base_port .. base_port + 3
    const char *root = nullptr;    // the document root; NULL: xps_file_choose_root
    xps_loop_t *loop = nullptr;    // set once created
};

void print_usage(FILE *out) {
    std::fputs("usage: stage-10 [--base-port N] [--root DIR] [CONFIG.json]\n"
               "  Serves the files under DIR over HTTP/1.1 on ports N..N+3, one request per\n"
               "  connection. --base-port N (default 8001)\n"
               "  --root DIR   default ./public; if there is none, ../public, where the course's\n"
               "               tester puts a stage's files (the log says which it took)\n"
               XPS_ARGS_COURSE_CONFIG_HELP
               "  --help  this text. XPS_LOG_LEVEL=debug|info|warn|error: how much it logs\n",
               out);
}

// One flag and its value into settings; how many arguments it used, or 0.
// Numbers have at most five digits (%5d), a %c that matches is junk.
int parse_flag(const char *flag, const char *value, settings *s) {
    int port = 0;
    char junk;
    if (value && std::strcmp(flag, "--root") == 0)
        return s->root = value, 2;
    if (value && std::strcmp(flag, "--base-port") == 0 &&
        std::sscanf(value, "%5d%c", &port, &junk) == 1 && port >= 1 &&
        port <= 65535 - (port_count - 1))
        return s->base_port = port, 2;
    return 0;
}

// Every port serves the same files: a new client is an HTTP client.
void on_accept(xps_listener_t *, xps_connection_t *connection, void *data) {
    auto *s = static_cast<settings *>(data);
    client_start(s->loop, connection, s->root);
}

void on_signal(xps_loop_signal_t *, int signo, void *loop) {
    XPS_LOG(XPS_LOG_INFO, "stage-10", "%s: shutting down", strsignal(signo));
    xps_loop_stop(static_cast<xps_loop_t *>(loop));
}

} // namespace

int main(int argc, char **argv) {
    settings s;
    int args = xps_args_without_course_config(argc, argv); // CONFIG.json: not read
    for (int i = 1, used = 1; i < args; i += used) {
        if (std::strcmp(argv[i], "--help") == 0)
            return print_usage(stdout), 0;
        if (!(used = parse_flag(argv[i], i + 1 < args ? argv[i + 1] : nullptr, &s)))
            return print_usage(stderr), 2;
    }
    xps_log_init_from_env();
    xps_args_note_course_config(args, argc, argv, "stage-10");
    s.root = xps_file_choose_root(s.root); // ./public, else the course's ../public; logged

    int error = XPS_OK;
    xps_core_t *core = xps_core_create();
    s.loop = core ? xps_loop_create(core, &error) : nullptr;
    const int signals[] = {SIGINT, SIGTERM};
    bool ok = s.loop && xps_loop_signal_attach(s.loop, signals, 2, on_signal, s.loop, &error);
    for (int i = 0; ok && i < port_count; i++)
        ok = xps_listener_create(s.loop, "0.0.0.0", static_cast<uint16_t>(s.base_port + i), nullptr,
                                 on_accept, &s, &error) != nullptr;
    if (!ok)
        std::fprintf(stderr, "stage-10: cannot start: %s\n", xps_strerror(error));
    else
        XPS_LOG(XPS_LOG_INFO, "stage-10", "serving %s on ports %d-%d", s.root, s.base_port,
                s.base_port + port_count - 1);
    int status = ok && xps_loop_run(s.loop) == XPS_OK ? 0 : 1;
    xps_core_destroy(core); // listeners, clients, file streams, connections, pipes, the loop
    return status;
}
