// stages/stage-06-core-loop/main.cpp — stage 06: stage 05's reversal service
// on ports 8001-8004, now run by a core instance and the loop module.
//
// main composes and does nothing else: create the core, the loop in it, the
// signal watcher and one listener per port (reverse_service.cpp), run the
// loop until SIGINT or SIGTERM, destroy the core. Destroying the core
// destroys every client, every listener and the loop, newest first, so the
// process exits 0 with every descriptor closed and every byte freed.
// Usage: stage-06 [--base-port N] [CONFIG.json]   (ports N..N+3, default 8001;
// --help; a last PATH.json is the course tester's config, not read)

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/xps_args.h"
#include "core/xps_core.h"
#include "core/xps_logger.h"
#include "modules/loop/xps_loop.h"
#include "stages/stage-06-core-loop/reverse_service.h"

namespace {

constexpr int PORT_COUNT = 4; // listeners on base .. base + 3

// Reads --base-port into *base. Returns -1 to go on, else the exit status.
int parse_args(int argc, char **argv, int *base)
{
    bool help = argc == 2 && std::strcmp(argv[1], "--help") == 0;
    char *end = nullptr;
    long n = argc == 3 && std::strcmp(argv[1], "--base-port") == 0
                 ? std::strtol(argv[2], &end, 10) : *base;
    bool bad = argc > 1 && !help && (!end || end == argv[2] || *end || n < 1 || n > 65532);
    if (help || bad)
        std::fputs("usage: stage-06 [--base-port N] [CONFIG.json]\n"
                   "Reversal service on ports N..N+3 (default 8001-8004).\n"
                   "SIGINT (Ctrl-C) or SIGTERM: destroy everything, exit 0.\n"
                   XPS_ARGS_COURSE_CONFIG_HELP,
                   help ? stdout : stderr);
    *base = static_cast<int>(n);
    return help ? 0 : bad ? 2 : -1;
}

// SIGINT or SIGTERM, delivered by the loop as an ordinary callback (a
// signalfd): no async handler, so stopping here is safe. The loop finishes
// this iteration and xps_loop_run() returns to main.
void on_signal(xps_loop_signal_t *signal, int signo, void *data)
{
    (void)signal;
    XPS_LOG(XPS_LOG_INFO, "stage-06", "%s received: shutting down",
            signo == SIGINT ? "SIGINT" : "SIGTERM");
    xps_loop_stop(static_cast<xps_loop_t *>(data));
}

// Builds the server inside `core` and runs it until a signal stops it.
// Whatever was created stays in the core for main to destroy. Returns the
// exit status.
int serve(xps_core_t *core, int base)
{
    int err = XPS_OK;
    // The loop is the core's first member, so it is destroyed last: the
    // listeners and clients still detach from it while the core goes down.
    xps_loop_t *loop = xps_loop_create(core, &err);
    if (!loop)
        return 1;
    // Before the listeners: from now on a SIGTERM is an event, not a death.
    static const int signals[] = {SIGINT, SIGTERM};
    if (!xps_loop_signal_attach(loop, signals, 2, on_signal, loop, &err))
        return 1;
    for (int i = 0; i < PORT_COUNT; i++)
        if (!reverse_listener_create(loop, "0.0.0.0", static_cast<uint16_t>(base + i), &err))
            return 1; // logged by the socket module ("address already in use")
    return xps_loop_run(loop) == XPS_OK ? 0 : 1;
}

} // namespace

int main(int argc, char **argv)
{
    int base = 8001;
    int args = xps_args_without_course_config(argc, argv); // CONFIG.json: not read
    if (int status = parse_args(args, argv, &base); status >= 0)
        return status;
    xps_log_init_from_env();
    xps_args_note_course_config(args, argc, argv, "stage-06");
    xps_core_t *core = xps_core_create();
    if (!core) {
        XPS_LOG(XPS_LOG_ERROR, "stage-06", "out of memory");
        return 1;
    }
    int status = serve(core, base);
    // Clients, then listeners, then the loop (which detaches the signal
    // watcher and closes epoll); then the deferred frees; then the core.
    xps_core_destroy(core);
    XPS_LOG(XPS_LOG_INFO, "stage-06", "stopped: core destroyed, exit status %d", status);
    return status;
}
