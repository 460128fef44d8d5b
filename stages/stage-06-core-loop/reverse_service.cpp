// stages/stage-06-core-loop/reverse_service.cpp — see reverse_service.h.
#include "stages/stage-06-core-loop/reverse_service.h"

#include <algorithm>
#include <new>

#include "core/xps_core.h"
#include "core/xps_logger.h"
#include "modules/loop/xps_loop.h"
#include "modules/socket/xps_socket.h"

struct reverse_listener {
    xps_loop_t *loop;            // borrowed: it outlives us (an older core member)
    xps_listen_socket_t *socket; // owned: closed by destroy
    xps_loop_io_t *io;           // our registration; its data is this listener
    xps_core_member_t *member;   // so that xps_core_destroy() destroys us
};

namespace {

constexpr size_t chunk_size = 10000; // bytes per recv(): one chunk, reversed as a unit

// One accepted client.
struct connection {
    xps_loop_t *loop;          // borrowed, as for the listener
    xps_socket_t *socket;      // owned, blocking: send_all() waits for the client
    xps_loop_io_t *io;         // our registration; its data is this connection
    xps_core_member_t *member; // so that xps_core_destroy() destroys us
    uint16_t port;             // the listener's port, for the log
};

void free_connection(void *object) { delete static_cast<connection *>(object); }

// Leaves the loop and the core, closes the socket; the memory waits for the
// end of the batch (xps_core_defer_free), so this is safe in any callback.
void connection_destroy(connection *c, const char *why)
{
    XPS_LOG(XPS_LOG_INFO, "stage-06", "client %s on port %u: closed (%s)",
            xps_socket_peer(c->socket), c->port, why);
    xps_core_t *core = xps_loop_core(c->loop);
    xps_core_remove_member(c->member);
    xps_loop_io_detach(c->io); // before the close, as in stage 03
    xps_socket_destroy(c->socket);
    xps_core_defer_free(core, free_connection, c);
}

// Called by xps_core_destroy(): the server is shutting down.
void connection_destroy_member(void *object)
{
    connection_destroy(static_cast<connection *>(object), "server shutting down");
}

// The client's socket is ready: it has bytes, an EOF (FIN, reported as
// HANGUP too) or a reset (ERROR). recv() tells which. One chunk per call:
// level-triggered, so whatever is left is reported in the next iteration.
void on_client_ready(xps_loop_io_t *io, unsigned events, void *data)
{
    (void)io;
    (void)events;
    auto *c = static_cast<connection *>(data); // data.ptr: no lookup
    char buf[chunk_size];
    size_t n = 0;
    int rc = xps_socket_recv(c->socket, buf, sizeof buf, &n);
    if (rc == XPS_OK) {
        std::reverse(buf, buf + (buf[n - 1] == '\n' ? n - 1 : n)); // a trailing '\n' stays
        // Blocking send-all: returns when every byte is in the kernel, or
        // waits, with the whole loop, until the client reads.
        rc = xps_socket_send_all(c->socket, buf, n, nullptr);
    }
    if (rc != XPS_OK)
        connection_destroy(c, rc == XPS_E_EOF ? "the client closed" : xps_strerror(rc));
}

// Wraps an accepted socket; on failure destroys it and returns NULL.
connection *connection_create(xps_loop_t *loop, xps_socket_t *socket, uint16_t port)
{
    auto *c = new (std::nothrow) connection{loop, socket, nullptr, nullptr, port};
    int err = XPS_E_NOMEM;
    // Blocking on purpose, as in the course (the accepted socket inherits
    // the listener's non-blocking mode).
    if (c && xps_socket_set_nonblocking(socket, false) == XPS_OK)
        c->io = xps_loop_io_attach(loop, xps_socket_fd(socket), XPS_LOOP_READABLE,
                                   XPS_LOOP_LEVEL, on_client_ready, c, &err);
    if (c && c->io)
        c->member = xps_core_add_member(xps_loop_core(loop), connection_destroy_member, c);
    if (!c || !c->member) {
        if (c)
            xps_loop_io_detach(c->io); // accepts NULL
        delete c;                      // nothing can have called back yet
        xps_socket_destroy(socket);
        return nullptr;
    }
    XPS_LOG(XPS_LOG_INFO, "stage-06", "client %s on port %u: connected (fd %d)",
            xps_socket_peer(socket), port, xps_socket_fd(socket));
    return c;
}

// A connection is waiting: accept one (level-triggered: any others are
// reported again in the next iteration).
void on_listener_ready(xps_loop_io_t *io, unsigned events, void *data)
{
    (void)io;
    (void)events;
    auto *l = static_cast<reverse_listener *>(data);
    xps_socket_t *socket = xps_listen_socket_accept(l->socket, nullptr);
    if (socket) // else EAGAIN (already gone) or refused for lack of fds (logged)
        connection_create(l->loop, socket, xps_listen_socket_port(l->socket));
}

void listener_destroy_member(void *object)
{
    reverse_listener_destroy(static_cast<reverse_listener *>(object));
}

void free_listener(void *object) { delete static_cast<reverse_listener *>(object); }

} // namespace

reverse_listener *reverse_listener_create(xps_loop_t *loop, const char *host, uint16_t port,
                                          int *error) noexcept
{
    // Non-blocking listener: epoll may report a connection that is gone by
    // the time accept() runs, and a blocking accept() would then hang.
    xps_listen_socket_t *socket = xps_listen_socket_create(host, port, 0, true, error);
    if (!socket)
        return nullptr;
    auto *l = new (std::nothrow) reverse_listener{loop, socket, nullptr, nullptr};
    *error = XPS_E_NOMEM;
    if (l)
        l->io = xps_loop_io_attach(loop, xps_listen_socket_fd(socket), XPS_LOOP_READABLE,
                                   XPS_LOOP_LEVEL, on_listener_ready, l, error);
    if (l && l->io)
        l->member = xps_core_add_member(xps_loop_core(loop), listener_destroy_member, l);
    if (!l || !l->member) {
        if (l)
            xps_loop_io_detach(l->io);
        delete l;
        xps_listen_socket_destroy(socket);
        return nullptr;
    }
    *error = XPS_OK;
    XPS_LOG(XPS_LOG_INFO, "stage-06", "listening on %s:%u", host, port);
    return l;
}

void reverse_listener_destroy(reverse_listener *l) noexcept
{
    if (!l)
        return;
    XPS_LOG(XPS_LOG_INFO, "stage-06", "port %u: listener closed",
            xps_listen_socket_port(l->socket));
    xps_core_t *core = xps_loop_core(l->loop);
    xps_core_remove_member(l->member);
    xps_loop_io_detach(l->io);
    xps_listen_socket_destroy(l->socket);
    xps_core_defer_free(core, free_listener, l);
}
