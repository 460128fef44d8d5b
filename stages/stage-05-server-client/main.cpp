// stages/stage-05-server-client/main.cpp — stage 05: stage 03's reversal
// service (a trailing '\n' stays last) on ports 8001-8004 (--help), from
// modules: the socket calls live in modules/socket; main keeps a level-
// triggered epoll loop and finds each ready fd's handle in a table indexed
// by fd. Accepted sockets block and replies go out with send_all, as in the
// course: a client that never reads stalls everyone (06 shows it, 07 fixes it).
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/xps_args.h"
#include "core/xps_logger.h"
#include "modules/socket/xps_socket.h"

namespace {

constexpr int PORT_COUNT = 4;        // listeners on base .. base + 3
constexpr int MAX_EPOLL_EVENTS = 32; // ready fds taken per epoll_wait()
constexpr size_t BUFF_SIZE = 10000;  // bytes per recv(): one chunk, reversed as a unit
constexpr int MAX_FDS = 65536;       // fd table size: fds are the lowest free numbers

// What an fd number stands for: a listener, a client, or (both NULL) nothing.
struct handle {
    xps_listen_socket_t *listener = nullptr; // a listening socket (owned)
    xps_socket_t *client = nullptr;          // a connected client (owned)
};

struct server {
    int epoll_fd;          // the epoll instance (set in main)
    handle by_fd[MAX_FDS]; // the dispatch table: by_fd[fd] is fd's handle
};

// --base-port N (N + 3 <= 65535) into *base: -1 to go on, else the exit status.
int parse_args(int argc, char **argv, int *base)
{
    bool help = argc == 2 && std::strcmp(argv[1], "--help") == 0;
    char *end = nullptr;
    long n = argc == 3 && std::strcmp(argv[1], "--base-port") == 0
                 ? std::strtol(argv[2], &end, 10) : *base;
    bool bad = argc > 1 && !help && (!end || end == argv[2] || *end || n < 1 || n > 65532);
    if (help || bad)
        std::fputs("usage: stage-05 [--base-port N] [CONFIG.json]\n"
                   "Reversal service on ports N..N+3 (default 8001-8004).\n"
                   XPS_ARGS_COURSE_CONFIG_HELP, help ? stdout : stderr);
    *base = static_cast<int>(n);
    return help ? 0 : bad ? 2 : -1;
}

// Registers fd with epoll (EPOLLIN, level-triggered, data.fd as the key) and
// records its handle in the table; on failure the caller keeps the handle.
bool watch(server &srv, int fd, handle h)
{
    epoll_event ev{EPOLLIN, {.fd = fd}};
    if (fd >= MAX_FDS || epoll_ctl(srv.epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return false;
    srv.by_fd[fd] = h;
    return true;
}

void on_listener_ready(server &srv, xps_listen_socket_t *listener)
{
    xps_socket_t *client = xps_listen_socket_accept(listener, nullptr);
    if (!client)
        return; // already gone (EAGAIN), or refused for lack of fds (logged)
    // Blocking on purpose, as in the course: send_all() waits while the client does.
    if (xps_socket_set_nonblocking(client, false) != XPS_OK ||
        !watch(srv, xps_socket_fd(client), handle{nullptr, client})) {
        xps_socket_destroy(client);
        return;
    }
    XPS_LOG(XPS_LOG_INFO, "stage-05", "client %s connected on port %u (fd %d)",
            xps_socket_peer(client), xps_listen_socket_port(listener), xps_socket_fd(client));
}

void on_client_ready(server &srv, int fd)
{
    xps_socket_t *client = srv.by_fd[fd].client;
    char buf[BUFF_SIZE];
    size_t n = 0;
    int rc = xps_socket_recv(client, buf, sizeof buf, &n);
    if (rc == XPS_OK) {
        std::reverse(buf, buf + (buf[n - 1] == '\n' ? n - 1 : n)); // a trailing '\n' stays
        rc = xps_socket_send_all(client, buf, n, nullptr);
    }
    if (rc == XPS_OK)
        return;
    // EOF (FIN), RST or a failed send: out of epoll first (see stage 03).
    epoll_ctl(srv.epoll_fd, EPOLL_CTL_DEL, fd, nullptr);
    srv.by_fd[fd] = handle{};
    XPS_LOG(XPS_LOG_INFO, "stage-05", "client %s left (%s)", xps_socket_peer(client),
            xps_strerror(rc));
    xps_socket_destroy(client);
}

// The loop: wait, then look each ready fd up in the table and call the
// handler for its kind. Returns only if epoll_wait() fails.
void run(server &srv)
{
    epoll_event events[MAX_EPOLL_EVENTS];
    int n;
    while ((n = epoll_wait(srv.epoll_fd, events, MAX_EPOLL_EVENTS, -1)) >= 0 || errno == EINTR) {
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (srv.by_fd[fd].listener)
                on_listener_ready(srv, srv.by_fd[fd].listener);
            else
                on_client_ready(srv, fd);
        }
    }
    XPS_LOG(XPS_LOG_ERROR, "stage-05", "epoll_wait: %s", std::strerror(errno));
}

// SIGINT, SIGTERM: exit 0 at once, even inside a blocked send (stage 06 cleans up).
void stop_now(int) { _exit(0); }

} // namespace

int main(int argc, char **argv)
{
    int base = 8001, args = xps_args_without_course_config(argc, argv); // CONFIG.json: not read
    if (int status = parse_args(args, argv, &base); status >= 0)
        return status;
    xps_log_init_from_env();
    xps_args_note_course_config(args, argc, argv, "stage-05");
    std::signal(SIGINT, stop_now);
    std::signal(SIGTERM, stop_now);
    static server srv; // static: the 1 MB table stays off the stack
    srv.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (srv.epoll_fd < 0) {
        XPS_LOG(XPS_LOG_ERROR, "stage-05", "epoll_create1: %s", std::strerror(errno));
        return 1;
    }
    for (int i = 0; i < PORT_COUNT; i++) {
        uint16_t port = static_cast<uint16_t>(base + i);
        xps_listen_socket_t *l = xps_listen_socket_create("0.0.0.0", port, 0, true, nullptr);
        if (!l || !watch(srv, xps_listen_socket_fd(l), handle{l, nullptr})) {
            xps_listen_socket_destroy(l);
            return 1; // the module logged why ("Address already in use")
        }
        XPS_LOG(XPS_LOG_INFO, "stage-05", "listening on 0.0.0.0:%u", port);
    }
    run(srv);
    return 1;
}
