// stages/stage-07-tcp/main.cpp — Stage 07: echo on 8001-8004 with the tcp
// module: non-blocking sockets, edge-triggered epoll, and pipes with
// back-pressure.
//
// Each client's connection is both the source and the sink of one pipe:
// what it reads goes in, what comes out is sent back. With --reverse the
// client gets two pipes and the reverse filter between them
// (reverse_filter.h): the course's stages 8 and 9, which still reverse.
// The two other flags undo the fixes of this stage, to reproduce the
// failures the chapter explains:
//   --level-triggered  EPOLLOUT stays reported on an idle socket: CPU spin
//   --unbounded        the pipe has no threshold: a client that sends and
//                      never reads makes the server's memory grow and grow
//
// Usage: stage-07 [--base-port N] [--reverse] [--level-triggered] [--unbounded]
//        [CONFIG.json]   (a last PATH.json is the course tester's config, not read)

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
#include "stages/stage-07-tcp/reverse_filter.h"

namespace {

constexpr int port_count = 4;

struct settings {
    int base_port = 8001;                                   // listens on base..base+3
    xps_tcp_options_t tcp = xps_tcp_default_options();      // edge-triggered unless told
    size_t threshold = XPS_PIPE_DEFAULT_THRESHOLD;          // SIZE_MAX with --unbounded
    bool reverse = false;                                   // --reverse: the reverse filter
    xps_loop_t *loop = nullptr;                             // set once created
};

void print_usage(FILE *out) {
    std::fprintf(out,
                 "usage: stage-07 [--base-port N] [--reverse] [--level-triggered] [--unbounded]"
                 " [CONFIG.json]\n"
                 "  Echo server on ports N..N+3 (default 8001-8004).\n"
                 "  --base-port N       first of the four ports (1-65532)\n"
                 "  --reverse           send each chunk back reversed, a trailing newline kept\n"
                 "                      last, through a filter between two pipes: the course's\n"
                 "                      stages 8 and 9, which still reverse (its 10 echoes)\n"
                 "  --level-triggered   register sockets level-triggered (shows the CPU spin)\n"
                 "  --unbounded         pipes without a threshold (shows memory growth)\n"
                 XPS_ARGS_COURSE_CONFIG_HELP
                 "  --help              print this help\n"
                 "  XPS_LOG_LEVEL=debug|info|warn|error sets how much it logs.\n");
}

// Returns -1 to go on, or the exit status (0 after --help, 2 on bad usage).
int parse_args(int argc, char **argv, settings *s) {
    for (int i = 1; i < argc; i++) {
        if (std::strcmp(argv[i], "--help") == 0) {
            print_usage(stdout);
            return 0;
        } else if (std::strcmp(argv[i], "--level-triggered") == 0) {
            s->tcp.trigger = XPS_LOOP_LEVEL;
        } else if (std::strcmp(argv[i], "--unbounded") == 0) {
            s->threshold = SIZE_MAX;
        } else if (std::strcmp(argv[i], "--reverse") == 0) {
            s->reverse = true;
        } else if (std::strcmp(argv[i], "--base-port") == 0 && i + 1 < argc) {
            char *end = nullptr;
            long port = std::strtol(argv[++i], &end, 10);
            if (*argv[i] == '\0' || *end != '\0' || port < 1 || port > 65535 - (port_count - 1)) {
                print_usage(stderr);
                return 2;
            }
            s->base_port = static_cast<int>(port);
        } else {
            print_usage(stderr);
            return 2;
        }
    }
    return -1;
}

// A new client. Echo: one pipe, the connection at both ends of it.
// --reverse: the connection feeds `in`, the reverse filter moves each chunk
// reversed from `in` to `out`, the connection sends `out`.
void on_client(xps_listener_t *listener, xps_connection_t *connection, void *data) {
    (void)listener;
    auto *s = static_cast<settings *>(data);
    xps_core_t *core = xps_loop_core(s->loop);
    xps_pipe_t *in = xps_pipe_create(core, s->threshold);
    xps_pipe_t *out = s->reverse && in ? xps_pipe_create(core, s->threshold) : in;
    int error = out ? XPS_OK : XPS_E_NOMEM;
    if (error == XPS_OK)
        error = xps_connection_attach_sink(connection, out);
    if (error == XPS_OK)
        error = xps_connection_attach_source(connection, in);
    if (error == XPS_OK && s->reverse)
        error = reverse_filter_start(core, in, out);
    if (error != XPS_OK) {
        XPS_LOG(XPS_LOG_ERROR, "stage-07", "cannot set up the pipes for %s: %s",
                xps_connection_peer(connection), xps_strerror(error));
        xps_connection_destroy(connection); // detaches whatever ends it attached
        xps_pipe_destroy(in);               // neither pipe had both ends: free them
        if (out != in)
            xps_pipe_destroy(out);
        return;
    }
    XPS_LOG(XPS_LOG_INFO, "stage-07", "new client %s%s", xps_connection_peer(connection),
            s->reverse ? " (reverse)" : "");
}

void on_signal(xps_loop_signal_t *signal, int signo, void *data) {
    (void)signal;
    XPS_LOG(XPS_LOG_INFO, "stage-07", "%s: shutting down", strsignal(signo));
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
    xps_args_note_course_config(args, argc, argv, "stage-07");

    int error = XPS_OK;
    xps_core_t *core = xps_core_create();
    s.loop = core ? xps_loop_create(core, &error) : nullptr;
    const int signals[] = {SIGINT, SIGTERM};
    bool ok = s.loop && xps_loop_signal_attach(s.loop, signals, 2, on_signal, s.loop, &error);
    for (int i = 0; ok && i < port_count; i++)
        ok = xps_listener_create(s.loop, "0.0.0.0", static_cast<uint16_t>(s.base_port + i),
                                 &s.tcp, on_client, &s, &error) != nullptr;
    if (ok)
        status = xps_loop_run(s.loop) == XPS_OK ? 0 : 1;
    else
        std::fprintf(stderr, "stage-07: cannot start: %s\n", xps_strerror(error));
    xps_core_destroy(core); // listeners, connections, pipes, the loop: everything
    return ok ? status : 1;
}
