// modules/upstream/xps_upstream.cpp — see xps_upstream.h.
//
// An attempt walks the addresses of the target in order. For each one:
// socket(SOCK_NONBLOCK) and connect(), which on TCP almost always answers
// EINPROGRESS; the loop then watches the socket for writability, the kernel's
// way of saying "the handshake is over, one way or the other", and
// SO_ERROR tells which way. A failure moves on to the next address; the
// last failure, a success or the deadline ends the attempt.
//
// Outcomes known without waiting (an immediate error for every address, or
// the rare immediate success) are delivered through a core task, so the
// callback never runs inside xps_upstream_connect(): the caller has always
// stored the handle before it hears about it.
#include "modules/upstream/xps_upstream.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>
#include <vector>

#include "core/xps_core.h"
#include "core/xps_logger.h"
#include "core/xps_pipe.h"

namespace {

// One address of the target, as getaddrinfo() gave it.
struct address {
    sockaddr_storage addr; // the address and port
    socklen_t len;         // how much of addr is used
};

enum class state {
    connecting, // an address is being tried, or the outcome is posted
    finished,   // the callback ran (or is running), or the attempt was cancelled
};

} // namespace

struct xps_upstream_s {
    xps_loop_t *loop;                // borrowed
    xps_core_member_t *member;       // a pending attempt dies with the core
    std::vector<address> addresses;  // what the host resolved to, in order
    size_t next;                     // the next address to try
    int fd;                          // the socket being connected; -1 between tries
    xps_loop_io_t *io;               // watches fd for the end of the handshake
    xps_loop_timer_t *timer;         // the deadline; NULL without one
    xps_task_t *task;                // delivers an outcome known without waiting
    int status;                      // the outcome the task will deliver
    state st;                        // see the enum
    xps_upstream_cb cb;              // the owner's callback
    void *data;                      // given back to cb
    char target[300];                // "host:port", for logs
};

namespace {

void free_upstream(void *p) { delete static_cast<xps_upstream_t *>(p); }

// Everything but the memory: no more callbacks from the loop, socket
// closed. The handle is freed after the current batch.
void release(xps_upstream_t *u) {
    u->st = state::finished;
    xps_core_remove_member(u->member);
    u->member = nullptr;
    xps_loop_io_detach(u->io);
    u->io = nullptr;
    xps_loop_timer_destroy(u->timer);
    u->timer = nullptr;
    xps_task_destroy(u->task);
    u->task = nullptr;
    if (u->fd >= 0)
        close(u->fd);
    u->fd = -1;
    xps_core_defer_free(xps_loop_core(u->loop), free_upstream, u);
}

// Ends the attempt with `status` and tells the owner. On success the socket
// becomes a connection (modules/tcp), which the callback then owns.
void finish(xps_upstream_t *u, int status) {
    assert(u->st == state::connecting);
    xps_connection_t *connection = nullptr;
    if (status == XPS_OK) {
        int fd = u->fd;
        u->fd = -1; // xps_connection_create takes it, even when it fails
        xps_loop_io_detach(u->io); // the connection registers the fd itself
        u->io = nullptr;
        connection = xps_connection_create(u->loop, fd, nullptr, &status);
    }
    if (status != XPS_OK)
        XPS_LOG(XPS_LOG_WARN, "upstream", "%s: %s", u->target, xps_strerror(status));
    release(u);
    u->cb(u, connection, status, u->data); // u stays readable until the batch ends
}

void deliver_posted(void *data) {
    auto *u = static_cast<xps_upstream_t *>(data);
    finish(u, u->status);
}

void on_timeout(xps_loop_timer_t *timer, void *data) {
    (void)timer;
    finish(static_cast<xps_upstream_t *>(data), XPS_E_TIMEOUT);
}

void on_handshake_over(xps_loop_io_t *io, unsigned events, void *data);

// Tries the remaining addresses until one is in progress (the loop then
// reports back) or connects at once; if every one fails at once, the last
// failure is posted. Returns XPS_E_LIMIT / XPS_E_NOMEM when not even a
// socket or a watcher could be had: the caller decides how to report that.
int try_next(xps_upstream_t *u) {
    while (u->next < u->addresses.size()) {
        const address &a = u->addresses[u->next++];
        u->fd = socket(a.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (u->fd < 0) {
            XPS_LOG(XPS_LOG_ERROR, "upstream", "socket: %s", std::strerror(errno));
            return xps_error_from_errno(errno);
        }
        if (connect(u->fd, reinterpret_cast<const sockaddr *>(&a.addr), a.len) == 0) {
            u->status = XPS_OK; // possible on some kernels for loopback
            xps_task_post(u->task);
            return XPS_OK;
        }
        if (errno == EINPROGRESS) {
            int error = XPS_OK;
            u->io = xps_loop_io_attach(u->loop, u->fd, XPS_LOOP_WRITABLE, XPS_LOOP_EDGE,
                                       on_handshake_over, u, &error);
            return error;
        }
        u->status = xps_error_from_errno(errno);
        XPS_LOG(XPS_LOG_DEBUG, "upstream", "%s: connect: %s", u->target, std::strerror(errno));
        close(u->fd);
        u->fd = -1;
    }
    xps_task_post(u->task); // u->status holds the last failure
    return XPS_OK;
}

// The loop reported the connecting socket: writable means the handshake
// ended; SO_ERROR says whether it succeeded (0) or why not. Errors and
// hang-ups are always reported, with or without writability.
void on_handshake_over(xps_loop_io_t *io, unsigned events, void *data) {
    (void)io;
    auto *u = static_cast<xps_upstream_t *>(data);
    int so_error = 0;
    socklen_t len = sizeof so_error;
    if (getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &so_error, &len) != 0)
        so_error = errno;
    if (so_error == 0 && (events & XPS_LOOP_WRITABLE)) {
        finish(u, XPS_OK);
        return;
    }
    if (so_error == 0) // an event without news (none expected): keep waiting
        return;
    XPS_LOG(XPS_LOG_DEBUG, "upstream", "%s: connect: %s", u->target, std::strerror(so_error));
    u->status = xps_error_from_errno(so_error);
    xps_loop_io_detach(u->io);
    u->io = nullptr;
    close(u->fd);
    u->fd = -1;
    int error = try_next(u);
    if (error != XPS_OK)
        finish(u, error);
}

// Fills `out` with the addresses of host:port. A numeric address is only
// parsed; a name is looked up, which may block (see the header).
int resolve(const char *host, uint16_t port, std::vector<address> *out) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_NUMERICHOST;
    char service[8];
    std::snprintf(service, sizeof service, "%u", port);
    addrinfo *list = nullptr;
    int rc = getaddrinfo(host, service, &hints, &list);
    if (rc == EAI_NONAME) { // not a numeric address: a name
        hints.ai_flags = AI_NUMERICSERV;
        rc = getaddrinfo(host, service, &hints, &list);
    }
    if (rc != 0) {
        XPS_LOG(XPS_LOG_ERROR, "upstream", "cannot resolve %s: %s", host, gai_strerror(rc));
        return rc == EAI_MEMORY ? XPS_E_NOMEM : XPS_E_NOTFOUND;
    }
    try {
        for (addrinfo *ai = list; ai; ai = ai->ai_next) {
            address a{};
            std::memcpy(&a.addr, ai->ai_addr, ai->ai_addrlen);
            a.len = ai->ai_addrlen;
            out->push_back(a);
        }
    } catch (const std::bad_alloc &) {
        freeaddrinfo(list);
        return XPS_E_NOMEM;
    }
    freeaddrinfo(list);
    return XPS_OK;
}

void destroy_member(void *u) { xps_upstream_cancel(static_cast<xps_upstream_t *>(u)); }

// Everything an attempt needs besides its socket, or XPS_E_NOMEM.
int prepare(xps_upstream_t *u, uint64_t timeout_ms) {
    xps_core_t *core = xps_loop_core(u->loop);
    u->task = xps_task_create(core, deliver_posted, u);
    if (timeout_ms > 0 && (u->timer = xps_loop_timer_create(u->loop, on_timeout, u)))
        xps_loop_timer_start(u->timer, timeout_ms);
    u->member = xps_core_add_member(core, destroy_member, u);
    return u->task && u->member && (timeout_ms == 0 || u->timer) ? XPS_OK : XPS_E_NOMEM;
}

} // namespace

// -------------------------------------------------------------- lifecycle

xps_upstream_t *xps_upstream_connect(xps_loop_t *loop, const char *host, uint16_t port,
                                     uint64_t timeout_ms, xps_upstream_cb cb, void *data,
                                     int *error) noexcept {
    assert(loop && host && cb && error);
    if (host[0] == '\0' || port == 0) {
        *error = XPS_E_INVAL;
        return nullptr;
    }
    auto *u = new (std::nothrow) xps_upstream_t{};
    if (!u) {
        *error = XPS_E_NOMEM;
        return nullptr;
    }
    u->loop = loop;
    u->fd = -1;
    u->cb = cb;
    u->data = data;
    u->st = state::connecting;
    bool v6 = std::strchr(host, ':') != nullptr;
    std::snprintf(u->target, sizeof u->target, v6 ? "[%s]:%u" : "%s:%u", host, port);
    *error = resolve(host, port, &u->addresses);
    if (*error == XPS_OK)
        *error = prepare(u, timeout_ms);
    if (*error == XPS_OK)
        *error = try_next(u);
    if (*error != XPS_OK) {
        release(u); // nothing was reported: no callback will come
        return nullptr;
    }
    return u;
}

void xps_upstream_cancel(xps_upstream_t *u) noexcept {
    if (u && u->st == state::connecting)
        release(u);
}

// ---------------------------------------------------------------- tunnel

namespace {

// A client waiting for its upstream. Once the upstream has answered, the
// two connections and two pipes look after themselves and this goes away.
struct tunnel {
    xps_loop_t *loop;           // borrowed
    xps_core_member_t *member;  // a pending tunnel dies with the core
    xps_connection_t *client;   // owned while pending
    xps_pipe_t *to_upstream;    // client → upstream; the client is its source
    xps_pipe_t *to_client;      // upstream → client; the client is its sink
    xps_upstream_t *upstream;   // the pending connect; NULL once it reported
};

// Gives up: the client is closed (its unread bytes, if any, make the kernel
// answer with a reset), the pipes, which no upstream ever joined, are freed.
void abandon(tunnel *t) {
    xps_core_remove_member(t->member);
    xps_upstream_cancel(t->upstream);
    xps_connection_destroy(t->client); // detaches the client's two ends
    xps_pipe_destroy(t->to_upstream);
    xps_pipe_destroy(t->to_client);
    delete t;
}

// [stage 08] The upstream has answered. On success its connection takes
// the free ends of both pipes and the proxy runs by itself from now on.
void on_upstream(xps_upstream_t *upstream, xps_connection_t *connection, int status,
                 void *data) {
    auto *t = static_cast<tunnel *>(data);
    t->upstream = nullptr;
    if (status == XPS_OK && (xps_connection_attach_sink(connection, t->to_upstream) != XPS_OK ||
                             xps_connection_attach_source(connection, t->to_client) != XPS_OK))
        status = XPS_E_FAIL;
    if (status != XPS_OK) {
        XPS_LOG(XPS_LOG_INFO, "upstream", "closing client %s: upstream %s failed",
                xps_connection_peer(t->client), xps_upstream_target(upstream));
        xps_connection_destroy(connection); // detaches whichever end it took
        abandon(t);
        return;
    }
    XPS_LOG(XPS_LOG_DEBUG, "upstream", "tunnel %s <-> %s", xps_connection_peer(t->client),
            xps_connection_peer(connection));
    xps_connection_on_close(t->client, nullptr, nullptr);
    xps_core_remove_member(t->member);
    delete t;
}

// Not expected while pending (a client with no partner ends is never asked
// to read or send), but if the tcp module ever closes it, forget it cleanly.
void on_client_close(xps_connection_t *client, int reason, void *data) {
    (void)client;
    (void)reason;
    abandon(static_cast<tunnel *>(data));
}

void destroy_tunnel_member(void *t) { abandon(static_cast<tunnel *>(t)); }

// Creates the pipes and attaches the client's ends. XPS_E_NOMEM / XPS_E_FAIL.
int plumb_client(tunnel *t) {
    xps_core_t *core = xps_loop_core(t->loop);
    t->to_upstream = xps_pipe_create(core, XPS_PIPE_DEFAULT_THRESHOLD);
    t->to_client = xps_pipe_create(core, XPS_PIPE_DEFAULT_THRESHOLD);
    if (!t->to_upstream || !t->to_client)
        return XPS_E_NOMEM;
    if (xps_connection_attach_source(t->client, t->to_upstream) != XPS_OK ||
        xps_connection_attach_sink(t->client, t->to_client) != XPS_OK)
        return XPS_E_FAIL;
    return XPS_OK;
}

} // namespace

int xps_upstream_tunnel(xps_loop_t *loop, xps_connection_t *client, const char *host,
                        uint16_t port, uint64_t timeout_ms) noexcept {
    assert(loop && client && host);
    auto *t = new (std::nothrow) tunnel{loop, nullptr, client, nullptr, nullptr, nullptr};
    if (!t) {
        xps_connection_destroy(client);
        return XPS_E_NOMEM;
    }
    int error = plumb_client(t);
    if (error == XPS_OK)
        t->upstream = xps_upstream_connect(loop, host, port, timeout_ms, on_upstream, t, &error);
    // Registered after the attempt, so the core destroys the tunnel first.
    if (error == XPS_OK &&
        !(t->member = xps_core_add_member(xps_loop_core(loop), destroy_tunnel_member, t)))
        error = XPS_E_NOMEM;
    if (error != XPS_OK) {
        abandon(t);
        return error;
    }
    xps_connection_on_close(client, on_client_close, t);
    return XPS_OK;
}

// -------------------------------------------------------------- accessors

const char *xps_upstream_target(const xps_upstream_t *u) noexcept { return u->target; }
