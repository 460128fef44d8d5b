/*
 * modules/socket/xps_socket.h — listening sockets and connected sockets as
 * handles over plain Linux TCP sockets.
 *
 * Why: every server from stage 01 on repeated the same few dozen lines
 * (socket, SO_REUSEADDR, bind, listen, accept4, recv and send with their
 * EINTR / EAGAIN / ECONNRESET / SIGPIPE cases). This module says them once,
 * turns errno into the project's error codes, and remembers what a program
 * wants to log about a socket (the bound port, the peer's "ip:port").
 * Introduced in stage 05, where main still runs its own epoll loop over these
 * handles; the loop module of stage 06 and the tcp module of stage 07 build
 * on the same system calls.
 *
 * Lifecycle: listener: create -> accept (any number of times) -> destroy.
 *            socket:   (accept | adopt) -> recv / send ... -> destroy.
 * Ownership: each handle owns its descriptor and closes it in destroy. A
 * socket is independent of the listener that accepted it: destroy them in
 * any order. The fd accessors lend the descriptor (for epoll_ctl, poll,
 * getsockopt); never close it yourself. Strings returned by accessors belong
 * to the handle and live as long as it does.
 * Threading: none; one thread uses a handle at a time.
 * Blocking: a handle is exactly as blocking as its descriptor. A listener is
 * blocking or not as created; a socket inherits its listener's mode, and
 * xps_socket_set_nonblocking changes it.
 * Errors (core/xps.h): XPS_OK, XPS_E_AGAIN, XPS_E_EOF, XPS_E_CLOSED,
 * XPS_E_ADDRINUSE, XPS_E_INVAL, XPS_E_PERMISSION, XPS_E_LIMIT, XPS_E_NOMEM,
 * XPS_E_FAIL. Failures of system calls are logged here, once, with the call
 * and strerror(errno); EAGAIN, EOF and a peer's reset are ordinary events
 * and are logged only at debug level.
 */
#ifndef XPS_MODULES_SOCKET_H
#define XPS_MODULES_SOCKET_H

#include "core/xps.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A listening TCP socket bound to one address and port. */
typedef struct xps_listen_socket_s xps_listen_socket_t;

/* A connected TCP socket: accepted from a listener, or adopted. */
typedef struct xps_socket_s xps_socket_t;

/* ------------------------------------------------------------ lifecycle */

/* Creates a socket listening on host:port. host is a numeric IPv4 or IPv6
 * address ("0.0.0.0" = every IPv4 address, "127.0.0.1", "::", "::1"); names
 * are refused, since resolving them could block and could change. port 0
 * asks the kernel for a free port (read it back with
 * xps_listen_socket_port). backlog <= 0 means the system maximum.
 * Returns NULL and sets *error: XPS_E_INVAL (not a numeric address, or not
 * an address of this machine), XPS_E_ADDRINUSE, XPS_E_PERMISSION (a port
 * below 1024 without privilege), XPS_E_NOMEM, XPS_E_LIMIT, XPS_E_FAIL.
 * On success *error is XPS_OK. error may be NULL. */
xps_listen_socket_t *xps_listen_socket_create(const char *host, uint16_t port, int backlog,
                                              bool nonblocking, int *error) XPS_NOEXCEPT;

/* [stage 21] xps_listen_socket_create with SO_REUSEPORT: several such
 * sockets (of one user) may listen on the same host:port, and the kernel
 * spreads new connections over them by a hash of the client's address
 * and port: a master binds one per worker, each worker accepts on its own,
 * and no worker is woken for another's client. A client is queued on one
 * socket: when the last descriptor of that socket closes, the clients in
 * its queue are reset. */
xps_listen_socket_t *xps_listen_socket_create_reuseport(const char *host, uint16_t port,
                                                        int backlog, bool nonblocking,
                                                        int *error) XPS_NOEXCEPT;

/* Closes the listening socket and frees the handle. Connections waiting in
 * its queue are reset; sockets already accepted are not touched. Accepts
 * NULL, never fails. */
void xps_listen_socket_destroy(xps_listen_socket_t *listener) XPS_NOEXCEPT;

/* Wraps a TCP socket that the caller owns, e.g. one it created and
 * connect()ed (any SOCK_STREAM socket works). On success the handle owns fd
 * (destroy closes it). On failure the fd is still the caller's, left open,
 * and *error is XPS_E_INVAL (not a stream socket, or not an open fd) or
 * XPS_E_NOMEM. error may be NULL. */
xps_socket_t *xps_socket_adopt(int fd, int *error) XPS_NOEXCEPT;

/* Closes the descriptor and frees the handle. If the socket is registered
 * with epoll, remove it (EPOLL_CTL_DEL) first. Accepts NULL, never fails. */
void xps_socket_destroy(xps_socket_t *socket) XPS_NOEXCEPT;

/* ----------------------------------------------------------- operations */

/* Takes one connection from the listener's queue. The new socket has
 * close-on-exec set and is non-blocking exactly when the listener is.
 * Returns NULL and sets *error (error may be NULL):
 *   XPS_E_AGAIN  nothing waiting (non-blocking listener);
 *   XPS_E_LIMIT  out of file descriptors: the waiting client was refused
 *                (its connection closed) so that a level-triggered loop
 *                does not spin on it; the listener stays usable;
 *   XPS_E_NOMEM, XPS_E_FAIL.
 * Connections that died in the queue are skipped, not reported. */
xps_socket_t *xps_listen_socket_accept(xps_listen_socket_t *listener, int *error) XPS_NOEXCEPT;

/* Receives up to cap (> 0) bytes into buf. Returns XPS_OK with *received
 * > 0; XPS_E_EOF when the peer has closed its side (no more bytes will
 * come); XPS_E_AGAIN when a non-blocking socket has nothing now;
 * XPS_E_CLOSED when the connection was reset or is otherwise dead;
 * XPS_E_FAIL. *received is 0 unless the result is XPS_OK. */
int xps_socket_recv(xps_socket_t *socket, void *buf, size_t cap, size_t *received) XPS_NOEXCEPT;

/* One send(): may take fewer than len bytes. *sent gets the count taken.
 * Never raises SIGPIPE. Returns XPS_OK (*sent may be < len), XPS_E_AGAIN
 * (non-blocking, buffer full, *sent == 0), XPS_E_CLOSED (the peer is gone:
 * reset or broken pipe), XPS_E_FAIL. len 0 is XPS_OK with nothing sent. */
int xps_socket_send(xps_socket_t *socket, const void *buf, size_t len, size_t *sent) XPS_NOEXCEPT;

/* Sends all len bytes, calling send() again after each partial write. On a
 * blocking socket it returns only when everything is sent (XPS_OK) or the
 * connection fails (XPS_E_CLOSED, XPS_E_FAIL) — and it may wait as long as
 * the peer does not read. On a non-blocking socket it stops at a full buffer
 * with XPS_E_AGAIN: the caller keeps the unsent tail and sends it later
 * (stage 07 does that). Whatever the result, *sent (if sent is not NULL)
 * is the number of bytes that went out. */
int xps_socket_send_all(xps_socket_t *socket, const void *buf, size_t len,
                        size_t *sent) XPS_NOEXCEPT;

/* Makes the socket non-blocking (true) or blocking (false). Returns XPS_OK
 * or XPS_E_FAIL. */
int xps_socket_set_nonblocking(xps_socket_t *socket, bool nonblocking) XPS_NOEXCEPT;

/* Switches Nagle's algorithm off (TCP_NODELAY) on a TCP socket, so a
 * small segment leaves at once instead of waiting for the ACK of the one
 * before it — which a peer that delays its ACKs sends up to 40 ms late
 * (docs/performance.md, "Nagle meets delayed ACK"). Returns XPS_OK, or
 * XPS_E_INVAL for a socket that is not TCP (a socketpair: nothing to do,
 * nothing logged), or XPS_E_FAIL (logged). */
int xps_socket_set_nodelay(xps_socket_t *socket) XPS_NOEXCEPT;

/* ------------------------------------------------------------ accessors */

/* The listening descriptor, lent for epoll_ctl and the like. */
int xps_listen_socket_fd(const xps_listen_socket_t *listener) XPS_NOEXCEPT;

/* The port actually bound: the one asked for, or the kernel's pick for 0. */
uint16_t xps_listen_socket_port(const xps_listen_socket_t *listener) XPS_NOEXCEPT;

/* The bound address in numeric form ("0.0.0.0", "127.0.0.1", "::1"), owned
 * by the handle. */
const char *xps_listen_socket_host(const xps_listen_socket_t *listener) XPS_NOEXCEPT;

/* The connected descriptor, lent for epoll_ctl and the like. */
int xps_socket_fd(const xps_socket_t *socket) XPS_NOEXCEPT;

/* The peer as "ip:port" ("127.0.0.1:40312", "[::1]:40312"), owned by the
 * handle. "?" when it cannot be known (an adopted socket that is not
 * connected yet; asked again on the next call). */
const char *xps_socket_peer(const xps_socket_t *socket) XPS_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* XPS_MODULES_SOCKET_H */
