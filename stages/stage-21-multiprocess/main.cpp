// stages/stage-21-multiprocess/main.cpp — Stage 21: master and workers.
// The server is stage 20's (a JSON config, sessions with HTTP/1.1 rules,
// ip lists, listings, gzip, balanced upstreams, rate limits, timeouts and
// limits, TLS listeners, the shared cache); what is new is that it runs as
// several processes:
//  - a master reads the config and binds every listener BEFORE it forks
//    (a port that cannot be bound is refused before any worker exists),
//    (and loads every certificate, and opens the cache, whose index is
//    memory shared with every worker), then forks `workers` workers (a number, or "auto": one per CPU) and
//    does nothing else: no client connection, no request work
//    (modules/master);
//  - each worker makes its own loop and adopts the listening sockets it
//    inherited (xps_session_serve_sockets). Accept balancing, by
//    --accept: "reuseport" (the default) binds one SO_REUSEPORT socket
//    per listener and worker, and the kernel spreads clients over them;
//    "exclusive" shares one socket with EPOLLEXCLUSIVE; "shared" shares
//    one socket plainly, to watch the thundering herd (chapter 21);
//  - a worker that dies (even kill -9) is replaced at once, on the same
//    sockets: the clients queued on them wait a fork, they are not lost;
//  - SIGTERM / SIGINT: every worker drains (stops accepting, finishes the
//    requests it has, their responses saying "Connection: close", within
//    timeouts.drain_ms), then the master exits 0;
//  - SIGHUP: the master re-reads the config. Valid: the listeners it
//    names are bound (those already bound are kept), a new generation of
//    workers starts with it, the old one drains. Invalid (or a port that
//    cannot be bound): the old workers keep serving, the reason is logged.
// All of that is modules/server (xps_server_run), which apps/xps runs too;
// this file reads the command line and makes that one call.
// Usage: stage-21 [--help] [--max-buckets N] [--accept MODE] [--workers N] CONFIG
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/xps_logger.h"
#include "modules/config/xps_config.h"
#include "modules/server/xps_server.h"

namespace {

constexpr const char *usage =
    "usage: stage-21 [--help] [--max-buckets N] [--accept reuseport|exclusive|shared]\n"
    "                [--workers N] CONFIG\n"
    "  Serves what the JSON file CONFIG describes (docs/config.md), as stage 18 does, with\n"
    "  a master process and `workers` worker processes (a number, or \"auto\": one per CPU).\n"
    "  The master binds the listeners, forks the workers and replaces one that dies.\n"
    "  SIGTERM or SIGINT: the workers finish their requests (timeouts.drain_ms), then exit.\n"
    "  SIGHUP: CONFIG is read again; valid, new workers serve it and the old ones drain;\n"
    "  invalid, the old workers keep serving and the master logs why.\n"
    "  --accept: how the workers share a listener: reuseport (the default: one socket per\n"
    "  worker, SO_REUSEPORT), exclusive (one socket, EPOLLEXCLUSIVE), shared (one socket,\n"
    "  every worker woken for every client: the thundering herd of chapter 21).\n"
    "  --max-buckets N: keep at most N rate-limit buckets per worker (default 100000).\n"
    "  --workers N: N workers (1-1024), whatever CONFIG says (a reload keeps N).\n"
    "  The stage's own: stage 18's servers, with four workers:\n"
    "    build/bin/stage-21 stages/stage-21-multiprocess/config.json\n"
    "  XPS_LOG_LEVEL=debug|info|warn|error sets how much it logs.\n";

} // namespace

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) // (also after other flags: "--workers 1 --help")
        if (std::strcmp(argv[i], "--help") == 0)
            return std::fputs(usage, stdout), 0;
    xps_server_options_t options = {};
    options.name = "stage-21";
    while (argc >= 4 && argv[1][0] == '-') {
        if (std::strcmp(argv[1], "--max-buckets") == 0) {
            char *end = nullptr;
            unsigned long long n = std::strtoull(argv[2], &end, 10);
            if (!end || *end || argv[2][0] == '-' || n == 0 || n > 10000000)
                return std::fputs("stage-21: --max-buckets takes a number from 1 to 10000000\n",
                                  stderr), 2;
            options.max_buckets = static_cast<size_t>(n);
        } else if (std::strcmp(argv[1], "--workers") == 0) {
            char *end = nullptr;
            long n = std::strtol(argv[2], &end, 10);
            if (!end || *end || n < 1 || n > 1024)
                return std::fputs("stage-21: --workers takes a number from 1 to 1024\n", stderr), 2;
            options.workers = static_cast<int>(n);
        } else if (std::strcmp(argv[1], "--accept") == 0) {
            if (std::strcmp(argv[2], "reuseport") == 0)
                options.accept = XPS_SERVER_ACCEPT_REUSEPORT;
            else if (std::strcmp(argv[2], "exclusive") == 0)
                options.accept = XPS_SERVER_ACCEPT_EXCLUSIVE;
            else if (std::strcmp(argv[2], "shared") == 0)
                options.accept = XPS_SERVER_ACCEPT_SHARED;
            else
                return std::fputs("stage-21: --accept takes reuseport, exclusive or shared\n",
                                  stderr), 2;
        } else {
            break;
        }
        argv += 2, argc -= 2;
    }
    if (argc != 2 || argv[1][0] == '-' || argv[1][0] == '\0')
        return std::fputs(usage, stderr), 2;
    xps_log_init_from_env();
    options.config_path = argv[1];
    char err[XPS_CONFIG_ERR_MAX];
    int rc = xps_server_run(&options, err, sizeof err);
    if (rc != XPS_OK)
        std::fprintf(stderr, "stage-21: %s\n", err); // before any worker, or the master's
    return rc == XPS_OK ? 0 : 1;
}
