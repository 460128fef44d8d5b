// modules/socket/xps_socket.cpp — see xps_socket.h for the contract.
//
// [stage 05] The socket code of stages 01-04, said once: what each system
// call can fail with, and which of those failures are ordinary events of a
// server's life (EAGAIN, EOF, a peer's reset) rather than errors.
#include "modules/socket/xps_socket.h"

#include "core/xps_logger.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>
#include <utility>

namespace {

// "[" + IPv6 text + "]:" + 5 digits + NUL fits with room to spare.
constexpr size_t ENDPOINT_TEXT_MAX = INET6_ADDRSTRLEN + 16;

// Owns one descriptor and closes it when it goes out of scope, so that
// create() can give up half-way without a trail of close() calls.
class unique_fd {
public:
    unique_fd() = default;
    explicit unique_fd(int fd) : fd_(fd) {}
    unique_fd(unique_fd &&other) noexcept : fd_(other.release()) {}
    unique_fd &operator=(unique_fd &&other) noexcept
    {
        reset(other.release());
        return *this;
    }
    unique_fd(const unique_fd &) = delete;
    unique_fd &operator=(const unique_fd &) = delete;
    ~unique_fd() { reset(); }

    int get() const { return fd_; }
    bool valid() const { return fd_ >= 0; }
    // Gives the descriptor away: the caller owns it now.
    int release()
    {
        int fd = fd_;
        fd_ = -1;
        return fd;
    }
    void reset(int fd = -1)
    {
        if (fd_ >= 0)
            close(fd_);
        fd_ = fd;
    }

private:
    int fd_ = -1; // the descriptor owned, or -1 for none
};

} // namespace

struct xps_listen_socket_s {
    unique_fd fd;                 // the listening socket
    unique_fd spare;              // /dev/null, given up to refuse a client on EMFILE
    char host[INET6_ADDRSTRLEN];  // bound address, numeric ("0.0.0.0", "::1")
    uint16_t port;                // bound port (the kernel's pick when asked for 0)
    bool nonblocking;             // O_NONBLOCK on fd; accepted sockets get the same
};

struct xps_socket_s {
    unique_fd fd; // the connected socket
    // The peer's "ip:port", filled at accept (or adopt) and, for a socket
    // adopted before it was connected, on the first xps_socket_peer() that
    // can read it. mutable: caching a fact about the socket is not a change
    // of the socket, so the accessor can take a const handle.
    mutable char peer[ENDPOINT_TEXT_MAX];
    mutable bool peer_known; // peer holds the real address (not "?")
};

namespace {

// Stores code in *error when the caller asked for it; returns NULL so that
// a create function can `return fail(error, code);`.
std::nullptr_t fail(int *error, int code)
{
    if (error)
        *error = code;
    return nullptr;
}

// "1.2.3.4:80" or "[::1]:80", the way people write endpoints.
void endpoint_text(const char *ip, unsigned port, char *out, size_t cap)
{
    const char *format = std::strchr(ip, ':') ? "[%s]:%u" : "%s:%u";
    std::snprintf(out, cap, format, ip, port);
}

// Reads the numeric address and port out of a sockaddr from the kernel.
// Returns false for families other than IPv4 and IPv6.
bool address_parts(const sockaddr_storage &addr, char *ip, size_t cap, uint16_t *port)
{
    if (addr.ss_family == AF_INET) {
        const auto *in = reinterpret_cast<const sockaddr_in *>(&addr);
        *port = ntohs(in->sin_port);
        return inet_ntop(AF_INET, &in->sin_addr, ip, static_cast<socklen_t>(cap)) != nullptr;
    }
    if (addr.ss_family == AF_INET6) {
        const auto *in6 = reinterpret_cast<const sockaddr_in6 *>(&addr);
        *port = ntohs(in6->sin6_port);
        return inet_ntop(AF_INET6, &in6->sin6_addr, ip, static_cast<socklen_t>(cap)) != nullptr;
    }
    return false;
}

// Fills out with the peer's "ip:port", or "?" when there is none (yet).
bool format_peer(const sockaddr_storage &addr, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN];
    uint16_t port = 0;
    if (!address_parts(addr, ip, sizeof ip, &port)) {
        std::snprintf(out, cap, "?");
        return false;
    }
    endpoint_text(ip, port, out, cap);
    return true;
}

bool read_peer(int fd, char *out, size_t cap)
{
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (getpeername(fd, reinterpret_cast<sockaddr *>(&addr), &len) < 0) {
        std::snprintf(out, cap, "?"); // ENOTCONN: adopted while still connecting
        return false;
    }
    return format_peer(addr, out, cap);
}

// host must be a numeric address: try IPv4, then IPv6. inet_pton never
// touches the network, unlike getaddrinfo() with a name, which may block on
// DNS and may give a different answer tomorrow.
bool parse_address(const char *host, uint16_t port, sockaddr_storage *addr, socklen_t *len)
{
    *addr = sockaddr_storage{};
    auto *in = reinterpret_cast<sockaddr_in *>(addr);
    if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        *len = sizeof(sockaddr_in);
        return true;
    }
    auto *in6 = reinterpret_cast<sockaddr_in6 *>(addr);
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        *len = sizeof(sockaddr_in6);
        return true;
    }
    return false;
}

// What a failed bind() means to the caller. EADDRNOTAVAIL: a valid address
// that is not one of this machine's, so the argument was wrong.
int bind_error(int err)
{
    if (err == EADDRNOTAVAIL)
        return XPS_E_INVAL;
    return xps_error_from_errno(err); // EADDRINUSE, EACCES, ENOMEM, ...
}

// setsockopt -> bind -> listen on a fresh socket. Logs the failing call.
int bind_and_listen(int fd, const sockaddr_storage &addr, socklen_t len, int backlog,
                    bool reuseport, const char *where)
{
    // SO_REUSEADDR: after a server stops, its old connections linger for a
    // minute or two in TIME_WAIT (the side that closed first waits so that
    // late packets of the old connection cannot be mistaken for a new one).
    // Without this option, bind() to the same port fails with EADDRINUSE
    // until they are gone, so a restarted server could not come back at
    // once. It does not let two servers listen on one port.
    int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0) {
        XPS_LOG(XPS_LOG_ERROR, "socket", "setsockopt(SO_REUSEADDR): %s", std::strerror(errno));
        return XPS_E_FAIL;
    }
    // [stage 21] SO_REUSEPORT: several sockets of this user on one port, the
    // kernel spreading new connections over them (see the header).
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) < 0) {
        XPS_LOG(XPS_LOG_ERROR, "socket", "setsockopt(SO_REUSEPORT): %s", std::strerror(errno));
        return XPS_E_FAIL;
    }
    // "::" means IPv6 only, so that "0.0.0.0" can be bound beside it on the
    // same port (Linux would otherwise let "::" take IPv4 too).
    if (addr.ss_family == AF_INET6 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) < 0) {
        XPS_LOG(XPS_LOG_ERROR, "socket", "setsockopt(IPV6_V6ONLY): %s", std::strerror(errno));
        return XPS_E_FAIL;
    }
    if (bind(fd, reinterpret_cast<const sockaddr *>(&addr), len) < 0) {
        int err = errno;
        XPS_LOG(XPS_LOG_ERROR, "socket", "bind(%s): %s", where, std::strerror(err));
        return bind_error(err);
    }
    if (listen(fd, backlog > 0 ? backlog : SOMAXCONN) < 0) {
        int err = errno;
        XPS_LOG(XPS_LOG_ERROR, "socket", "listen(%s): %s", where, std::strerror(err));
        return xps_error_from_errno(err);
    }
    return XPS_OK;
}

// Reads the bound address back: with port 0 only the kernel knows the port.
bool read_bound_address(xps_listen_socket_s &l)
{
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (getsockname(l.fd.get(), reinterpret_cast<sockaddr *>(&addr), &len) < 0) {
        XPS_LOG(XPS_LOG_ERROR, "socket", "getsockname: %s", std::strerror(errno));
        return false;
    }
    return address_parts(addr, l.host, sizeof l.host, &l.port);
}

// accept() failures that concern one queued connection, not the listener.
// ECONNABORTED: the client reset before we took it. accept(2) adds that
// Linux hands over network errors already pending on the new connection,
// and says to treat them like EAGAIN by calling accept() again. EINTR: a
// signal arrived; nothing is wrong. In every case the right move is to try
// the next connection (a non-blocking listener then says EAGAIN if the
// queue is empty), so these never reach the caller.
bool try_next_connection(int err)
{
    switch (err) {
    case EINTR: case ECONNABORTED: case EPROTO: case ENETDOWN: case ENOPROTOOPT:
    case EHOSTDOWN: case ENONET: case EHOSTUNREACH: case EOPNOTSUPP: case ENETUNREACH:
        return true;
    default:
        return false;
    }
}

// Out of descriptors (EMFILE, ENFILE): the connection stays queued, so a
// level-triggered loop is told "readable" again at once, forever. Give up
// the spare descriptor, accept the client into the freed slot, close it
// (the client sees its connection closed), take the spare back: the queue
// shrinks by one. poll() first: with nothing queued, a blocking listener's
// accept() would sleep. (Stage 03 did the same by hand.)
void refuse_one_client(xps_listen_socket_s &l)
{
    l.spare.reset();
    pollfd p{l.fd.get(), POLLIN, 0};
    if (poll(&p, 1, 0) == 1) {
        int fd = accept4(l.fd.get(), nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) {
            close(fd);
            XPS_LOG(XPS_LOG_ERROR, "socket", "out of file descriptors: refused a client on %s:%u",
                    l.host, l.port);
        }
    }
    l.spare.reset(open("/dev/null", O_RDONLY | O_CLOEXEC));
}

// Wraps a freshly accepted descriptor. On failure it is closed.
xps_socket_t *wrap_accepted(int fd, const sockaddr_storage &addr, int *error)
{
    unique_fd owned(fd);
    auto *s = new (std::nothrow) xps_socket_s{};
    if (!s) {
        XPS_LOG(XPS_LOG_ERROR, "socket", "accept: out of memory for the handle");
        return fail(error, XPS_E_NOMEM);
    }
    s->fd = std::move(owned);
    s->peer_known = format_peer(addr, s->peer, sizeof s->peer);
    if (error)
        *error = XPS_OK;
    return s;
}

// Turns a failed recv()/send() into a code. A reset, a broken pipe or a
// connection the kernel gave up on are the peer's doing, part of a
// server's normal life: XPS_E_CLOSED, logged only for debugging. Anything
// else is a real failure, logged as an error.
int io_error(const xps_socket_s &s, const char *call, int err)
{
    switch (err) {
    case EAGAIN:
        return XPS_E_AGAIN; // EWOULDBLOCK is the same value on Linux
    case ECONNRESET: case EPIPE: case ENOTCONN: case ETIMEDOUT: case ECONNABORTED:
    case EHOSTUNREACH: case ENETUNREACH: case ENETDOWN:
        XPS_LOG(XPS_LOG_DEBUG, "socket", "%s(fd %d, %s): %s", call, s.fd.get(), s.peer,
                std::strerror(err));
        return XPS_E_CLOSED;
    default:
        XPS_LOG(XPS_LOG_ERROR, "socket", "%s(fd %d, %s): %s", call, s.fd.get(), s.peer,
                std::strerror(err));
        return XPS_E_FAIL;
    }
}

} // namespace

// ---------------------------------------------------------------- lifecycle

namespace {

xps_listen_socket_t *listen_socket(const char *host, uint16_t port, int backlog,
                                   bool nonblocking, bool reuseport, int *error)
{
    assert(host != nullptr);
    char where[ENDPOINT_TEXT_MAX];
    endpoint_text(host, port, where, sizeof where);
    sockaddr_storage addr;
    socklen_t addr_len = 0;
    if (std::strlen(host) >= INET6_ADDRSTRLEN || !parse_address(host, port, &addr, &addr_len)) {
        XPS_LOG(XPS_LOG_ERROR, "socket", "cannot listen on \"%s\": not a numeric IPv4 or IPv6 "
                "address", host);
        return fail(error, XPS_E_INVAL);
    }
    int type = SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0);
    unique_fd fd(socket(addr.ss_family, type, 0));
    if (!fd.valid()) {
        int err = errno;
        XPS_LOG(XPS_LOG_ERROR, "socket", "socket(%s): %s", where, std::strerror(err));
        return fail(error, xps_error_from_errno(err));
    }
    int rc = bind_and_listen(fd.get(), addr, addr_len, backlog, reuseport, where);
    if (rc != XPS_OK)
        return fail(error, rc);
    // One spare descriptor per listener, for refuse_one_client().
    unique_fd spare(open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!spare.valid()) {
        int err = errno;
        XPS_LOG(XPS_LOG_ERROR, "socket", "open(/dev/null): %s", std::strerror(err));
        return fail(error, xps_error_from_errno(err));
    }
    auto *l = new (std::nothrow) xps_listen_socket_s{};
    if (!l) {
        XPS_LOG(XPS_LOG_ERROR, "socket", "listen(%s): out of memory for the handle", where);
        return fail(error, XPS_E_NOMEM);
    }
    l->fd = std::move(fd);
    l->spare = std::move(spare);
    l->nonblocking = nonblocking;
    if (!read_bound_address(*l)) {
        delete l;
        return fail(error, XPS_E_FAIL);
    }
    if (error)
        *error = XPS_OK;
    return l;
}

} // namespace

xps_listen_socket_t *xps_listen_socket_create(const char *host, uint16_t port, int backlog,
                                              bool nonblocking, int *error) noexcept
{
    return listen_socket(host, port, backlog, nonblocking, false, error);
}

xps_listen_socket_t *xps_listen_socket_create_reuseport(const char *host, uint16_t port,
                                                        int backlog, bool nonblocking,
                                                        int *error) noexcept
{
    return listen_socket(host, port, backlog, nonblocking, true, error);
}

void xps_listen_socket_destroy(xps_listen_socket_t *listener) noexcept
{
    delete listener; // the unique_fds close the socket and the spare
}

xps_socket_t *xps_socket_adopt(int fd, int *error) noexcept
{
    // SO_TYPE fails with ENOTSOCK for a file or pipe and EBADF for no fd.
    int type = 0;
    socklen_t len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM) {
        XPS_LOG(XPS_LOG_ERROR, "socket", "adopt(fd %d): not a stream socket", fd);
        return fail(error, XPS_E_INVAL);
    }
    auto *s = new (std::nothrow) xps_socket_s{};
    if (!s) {
        XPS_LOG(XPS_LOG_ERROR, "socket", "adopt(fd %d): out of memory for the handle", fd);
        return fail(error, XPS_E_NOMEM); // fd stays the caller's
    }
    s->fd.reset(fd);
    s->peer_known = read_peer(fd, s->peer, sizeof s->peer);
    if (error)
        *error = XPS_OK;
    return s;
}

void xps_socket_destroy(xps_socket_t *socket) noexcept
{
    delete socket;
}

// --------------------------------------------------------------- operations

xps_socket_t *xps_listen_socket_accept(xps_listen_socket_t *l, int *error) noexcept
{
    assert(l != nullptr);
    int flags = SOCK_CLOEXEC | (l->nonblocking ? SOCK_NONBLOCK : 0);
    for (;;) {
        sockaddr_storage addr{};
        socklen_t len = sizeof addr;
        int fd = accept4(l->fd.get(), reinterpret_cast<sockaddr *>(&addr), &len, flags);
        if (fd >= 0)
            return wrap_accepted(fd, addr, error);
        int err = errno;
        if (try_next_connection(err))
            continue;
        if (err == EAGAIN)
            return fail(error, XPS_E_AGAIN);
        XPS_LOG(XPS_LOG_ERROR, "socket", "accept4(%s:%u): %s", l->host, l->port,
                std::strerror(err));
        if (err == EMFILE || err == ENFILE) {
            refuse_one_client(*l);
            return fail(error, XPS_E_LIMIT);
        }
        return fail(error, xps_error_from_errno(err));
    }
}

int xps_socket_recv(xps_socket_t *s, void *buf, size_t cap, size_t *received) noexcept
{
    assert(s != nullptr && buf != nullptr && cap > 0 && received != nullptr);
    *received = 0;
    for (;;) {
        ssize_t n = recv(s->fd.get(), buf, cap, 0);
        if (n > 0) {
            *received = static_cast<size_t>(n);
            return XPS_OK;
        }
        if (n == 0)
            return XPS_E_EOF; // the peer sent FIN: it will send nothing more
        if (errno != EINTR)
            return io_error(*s, "recv", errno);
    }
}

int xps_socket_send(xps_socket_t *s, const void *buf, size_t len, size_t *sent) noexcept
{
    assert(s != nullptr && (buf != nullptr || len == 0) && sent != nullptr);
    *sent = 0;
    if (len == 0)
        return XPS_OK;
    for (;;) {
        // MSG_NOSIGNAL: writing to a peer that has gone must fail with EPIPE,
        // not raise SIGPIPE, whose default action kills the whole process.
        ssize_t n = send(s->fd.get(), buf, len, MSG_NOSIGNAL);
        if (n >= 0) {
            *sent = static_cast<size_t>(n);
            return XPS_OK;
        }
        if (errno != EINTR)
            return io_error(*s, "send", errno);
    }
}

int xps_socket_send_all(xps_socket_t *s, const void *buf, size_t len, size_t *sent) noexcept
{
    assert(s != nullptr && (buf != nullptr || len == 0));
    // send() takes what fits in the socket's send buffer and reports how
    // much; the rest must be offered again.
    const char *bytes = static_cast<const char *>(buf);
    size_t done = 0;
    int rc = XPS_OK;
    while (done < len) {
        size_t n = 0;
        rc = xps_socket_send(s, bytes + done, len - done, &n);
        if (rc != XPS_OK)
            break;
        done += n;
    }
    if (sent)
        *sent = done;
    return rc;
}

int xps_socket_set_nonblocking(xps_socket_t *s, bool nonblocking) noexcept
{
    assert(s != nullptr);
    int flags = fcntl(s->fd.get(), F_GETFL);
    if (flags >= 0) {
        flags = nonblocking ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
        if (fcntl(s->fd.get(), F_SETFL, flags) == 0)
            return XPS_OK;
    }
    XPS_LOG(XPS_LOG_ERROR, "socket", "fcntl(fd %d, O_NONBLOCK): %s", s->fd.get(),
            std::strerror(errno));
    return XPS_E_FAIL;
}

int xps_socket_set_nodelay(xps_socket_t *s) noexcept
{
    assert(s != nullptr);
    int on = 1;
    if (setsockopt(s->fd.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) == 0)
        return XPS_OK;
    if (errno == EOPNOTSUPP || errno == ENOPROTOOPT) // AF_UNIX: no Nagle to switch off
        return XPS_E_INVAL;
    XPS_LOG(XPS_LOG_ERROR, "socket", "setsockopt(fd %d, TCP_NODELAY): %s", s->fd.get(),
            std::strerror(errno));
    return XPS_E_FAIL;
}

// ---------------------------------------------------------------- accessors

int xps_listen_socket_fd(const xps_listen_socket_t *l) noexcept
{
    assert(l != nullptr);
    return l->fd.get();
}

uint16_t xps_listen_socket_port(const xps_listen_socket_t *l) noexcept
{
    assert(l != nullptr);
    return l->port;
}

const char *xps_listen_socket_host(const xps_listen_socket_t *l) noexcept
{
    assert(l != nullptr);
    return l->host;
}

int xps_socket_fd(const xps_socket_t *s) noexcept
{
    assert(s != nullptr);
    return s->fd.get();
}

const char *xps_socket_peer(const xps_socket_t *s) noexcept
{
    assert(s != nullptr);
    if (!s->peer_known)
        s->peer_known = read_peer(s->fd.get(), s->peer, sizeof s->peer);
    return s->peer;
}
