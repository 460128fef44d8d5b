// stages/stage-11-http-req-res/main.cpp — Stage 11: stage 10's HTTP file
// server, the same behaviour, now through http/'s request and response
// objects. Ports 8001-8004 all serve the files under the root, one request
// per connection. client.cpp reads each request head with the parser, makes
// a request object of it, and answers with a response object serialised
// into ONE buffer (status line, Date, Server, headers, CRLF line ends), the
// file after it as a file range. Stage 10's reply.cpp, the responses built
// by hand, is gone: http/xps_http_response.h replaced it. The root is
// found as in stage 10: ./public, else the course's ../public.
#include <csignal>
#include <cstdio>
#include <cstring>

#include "core/xps_args.h"
#include "core/xps_core.h"
#include "core/xps_logger.h"
#include "http/xps_http_response.h"
#include "modules/file/xps_file.h"
#include "modules/loop/xps_loop.h"
#include "modules/tcp/xps_tcp.h"
#include "stages/stage-11-http-req-res/client.h"

namespace {

constexpr int port_count = 4;
constexpr const char *usage =
    "usage: stage-11 [--base-port N] [--root DIR] [CONFIG.json]\n"
    "  Serves the files under DIR over HTTP/1.1 on ports N..N+3, one request per\n"
    "  connection. --base-port N (default 8001)\n"
    "  --root DIR   default ./public; if there is none, ../public, where the course's\n"
    "               tester puts a stage's files (the log says which it took)\n"
    XPS_ARGS_COURSE_CONFIG_HELP
    "  --help  this text. XPS_LOG_LEVEL=debug|info|warn|error: how much it logs\n";

struct settings {
    int base_port = 8001;          // the four ports are base_port .. base_port + 3
    const char *root = nullptr;    // the document root; NULL: xps_file_choose_root
    xps_loop_t *loop = nullptr;    // set once created
};

// Every port serves the same files: a new client is an HTTP client.
void on_accept(xps_listener_t *, xps_connection_t *connection, void *data) {
    auto *s = static_cast<settings *>(data);
    client_start(s->loop, connection, s->root);
}

void on_signal(xps_loop_signal_t *, int signo, void *loop) {
    XPS_LOG(XPS_LOG_INFO, "stage-11", "%s: shutting down", strsignal(signo));
    xps_loop_stop(static_cast<xps_loop_t *>(loop));
}

} // namespace

int main(int argc, char **argv) {
    settings s;
    int args = xps_args_without_course_config(argc, argv); // CONFIG.json: not read
    for (int i = 1; i < args; i += 2) { // --base-port N, --root DIR
        int port = 0;
        char junk; // a %c that matches is trailing junk
        const char *value = i + 1 < args ? argv[i + 1] : nullptr;
        if (std::strcmp(argv[i], "--help") == 0)
            return std::fputs(usage, stdout), 0;
        if (value && std::strcmp(argv[i], "--root") == 0)
            s.root = value;
        else if (value && std::strcmp(argv[i], "--base-port") == 0 &&
                 std::sscanf(value, "%5d%c", &port, &junk) == 1 && port >= 1 && port <= 65532)
            s.base_port = port;
        else
            return std::fputs(usage, stderr), 2;
    }
    xps_log_init_from_env();
    xps_args_note_course_config(args, argc, argv, "stage-11");
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
        std::fprintf(stderr, "stage-11: cannot start: %s\n", xps_strerror(error));
    else
        XPS_LOG(XPS_LOG_INFO, "stage-11", "serving %s on ports %d-%d", s.root, s.base_port,
                s.base_port + port_count - 1);
    int status = ok && xps_loop_run(s.loop) == XPS_OK ? 0 : 1;
    if (ok) // the Date cache at work: one format per second of traffic, not per response
        XPS_LOG(XPS_LOG_INFO, "stage-11", "the Date header was formatted %llu time(s)",
                static_cast<unsigned long long>(xps_http_date_format_count()));
    xps_core_destroy(core); // listeners, clients, file streams, connections, pipes, the loop
    return status;
}
