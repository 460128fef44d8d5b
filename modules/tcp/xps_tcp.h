/*
 * modules/tcp/xps_tcp.h — TCP listeners and connections on the event loop,
 * moving bytes through pipes.
 *
 * Introduced in stage 07, where three failures of the earlier stages are
 * fixed for good (each reproducible with a flag, see the stage 07 chapter):
 *  - a blocking send() stalls the whole process → sockets are non-blocking;
 *  - level-triggered EPOLLOUT spins the CPU → edge-triggered registration,
 *    and the code then drains reads (and writes) to EAGAIN, because an edge
 *    is reported once;
 *  - buffering without limit grows memory → bytes go through pipes with a
 *    threshold: a connection reads its socket only while the pipe it feeds
 *    has room, so TCP's own flow control pushes back on a fast sender.
 *
 * A connection is the SOURCE of one pipe (the bytes it reads) and the SINK
 * of another (the bytes it sends); an echo server uses one pipe for both.
 * It sends file ranges with sendfile(), bytes with send(MSG_NOSIGNAL), on a
 * socket with TCP_NODELAY set (Nagle off: xps_socket_set_nodelay says why).
 *
 * Closing, in order and without losing bytes:
 *  - the peer sends FIN → the connection ends its source (end of stream);
 *  - its sink is told the source of its pipe is done and everything was sent
 *    → shutdown(SHUT_WR), the peer sees FIN;
 *  - a connection with neither end attached closes and destroys itself: at
 *    once if the peer's FIN ended its reading; after a lingering close (below)
 *    if its owner stopped reading first;
 *  - a reset or a socket error ends both ends at once and destroys it.
 *
 * Lingering close (RFC 9112 §9.6, "close in stages"). An owner that stops
 * reading before the peer's FIN (detaches the sink of the connection's
 * source pipe: a server answering 413 from the head alone) leaves the peer
 * free to go on sending. Closing a socket with bytes unread, or receiving
 * bytes after closing it, makes the kernel send a reset (RFC 1122
 * §4.2.2.13), and a reset throws away the part of our answer the peer has
 * not read yet. So such a connection, once its last byte is sent and its FIN
 * is out, stays open with no pipe, watching readability only: it reads and
 * discards what arrives (into a process-wide scratch buffer: no allocation,
 * no CPU while idle) until the first of
 *  - the peer's FIN                       → close reason XPS_OK;
 *  - a socket error (the peer reset)      → that error (XPS_E_CLOSED);
 *  - options.linger_ms since our FIN      → XPS_E_TIMEOUT;
 *  - options.linger_bytes discarded       → XPS_E_LIMIT (a reset, then);
 * and then closes. A connection whose peer sent FIN first, or whose send
 * failed, never lingers. xps_connection_destroy() still closes at once, in
 * any state.
 *
 * Parking [stage 13]. A kept-alive HTTP connection spends most of its life
 * between requests, and a server may hold thousands of them. Its owner
 * can give it back while it waits (xps_connection_park): the connection
 * sends what its sink pipe still holds, lets go of both pipes WITHOUT
 * ending the stream (no FIN is sent), and then holds nothing but its
 * socket and its epoll registration until the peer sends again, or closes:
 * then the wake callback gets it back with no pipe attached, as if just
 * accepted. (nginx keeps an idle connection as small: ngx_http_set_keepalive
 * frees the request and its buffers.)
 *
 * Transport [stage 19]. Every connection moves its bytes through a
 * transport: a small table of functions (receive, send, send a file range,
 * announce the end, free) and, for each step that must wait, which
 * readiness of the socket it waits for. The plain transport is recv(),
 * send(MSG_NOSIGNAL) and sendfile(), waiting for readability to receive
 * and writability to send: one indirect call per step, nothing allocated.
 * A listener whose options name a TLS server (options.tls) gives each
 * connection it accepts the TLS transport instead (modules/tls), and so
 * does xps_connection_start_tls for a connection we made: the
 * handshake runs under the first steps, driven by the loop like any other
 * (TLS may need to write to read and read to write: a step waiting for
 * the other readiness is woken by it, and progress of one direction
 * retries the other if it waited on it); a failed handshake (garbage,
 * plain HTTP, a refused version, a truncated hello) closes that
 * connection only (close reason XPS_E_FAIL or XPS_E_CLOSED, logged at
 * INFO, the first and then one in 1000). The pipes above never know: a
 * TLS connection is the source and sink of plaintext. At the end of an
 * orderly send it sends close_notify before its FIN; a file range goes
 * out with the kernel's TLS (xps_tls_sendfile) when kTLS is on, else it
 * is read in 16 KiB pieces into one process-wide buffer and sent through
 * OpenSSL (memory bounded whatever the file's size). Lingering close
 * discards ciphertext without decrypting it; parking keeps the TLS state
 * (OpenSSL frees its buffers while idle: SSL_MODE_RELEASE_BUFFERS) and
 * wakes at once if plaintext already waits inside OpenSSL (a read that
 * stopped at a full pipe, not at EAGAIN, never marks the socket drained).
 * A plain connection pays for none of it but two pointers (the transport
 * table and a NULL TLS link): the TLS steps keep their own state (the
 * readiness each direction waits for, an end held back, whether the
 * handshake is over) beside their OpenSSL state, allocated with it.
 *
 * Lifecycle: listener: create → accept callbacks → destroy. connection:
 * created by a listener (or from a connected fd, e.g. modules/upstream) →
 * attach a source pipe and a sink pipe → destroys itself when done, or the
 * owner destroys it. Both are members of the loop's core, so destroying the
 * core destroys them. destroy() is safe inside any callback (see
 * docs/conventions.md, "Lifetimes").
 * Errors: XPS_E_ADDRINUSE, XPS_E_PERMISSION, XPS_E_INVAL, XPS_E_NOMEM, ...
 * Threading: none.
 */
#ifndef XPS_MODULES_TCP_H
#define XPS_MODULES_TCP_H

#include "core/xps.h"
#include "modules/loop/xps_loop.h"
#include "modules/tls/xps_tls.h"
#include "modules/socket/xps_socket.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xps_listener_s xps_listener_t;
typedef struct xps_connection_s xps_connection_t;

/* A new client. The callback owns `connection`: it attaches pipes to it or
 * destroys it. It may destroy the listener. */
typedef void (*xps_listener_accept_cb)(xps_listener_t *listener, xps_connection_t *connection,
                                       void *data);

/* The connection has closed itself (peer gone, error, or both pipes done
 * and, if it lingered, the lingering close over) and is about to be freed:
 * forget it. `reason` is XPS_OK for an orderly end, else the error that
 * ended it (a lingering close: XPS_E_TIMEOUT or XPS_E_LIMIT at its bounds).
 * Called once at most; not called for xps_connection_destroy. */
typedef void (*xps_connection_close_cb)(xps_connection_t *connection, int reason, void *data);

/* Default bounds of a lingering close (see "Lingering close" above).
 * Time: nginx waits up to 5 s for more client data (lingering_timeout) and
 * 30 s in all (lingering_time); one bound of 5 s is enough for a client to
 * read an answer that is already on its way and close. It only matters to a
 * peer that keeps sending 5 s after our FIN without reading; a silent one
 * has nothing unread, and closing it is a clean FIN, not a reset. Bytes: a
 * client that uploads until it notices the answer sends at most a few
 * round trips' worth; 16 MiB covers a 16 MiB upload refused at its head and
 * over 100 ms of a 1 Gbit/s sender, while a peer that floods for ever costs
 * us at most 16 MiB of reading (far less than 5 s at loopback speed). */
#define XPS_TCP_LINGER_MS 5000u
#define XPS_TCP_LINGER_BYTES ((size_t)16 << 20)

/* [stage 18] A cap on the connections open at once, shared by the
 * listeners whose options point to it (the caller owns it; it must outlive
 * every connection they accept). `open` counts accepted connections from
 * accept to close, whatever their state (serving, parked, lingering). A
 * client accepted while open == max is closed at once, before a byte is
 * read or sent, and counted in `refused`: it sees its connection closed
 * (or reset, if it had sent bytes), and nothing of it is kept. Why not a
 * 503: a response written before the request is read is followed by a
 * close with the request unread, which resets the connection and may
 * destroy the 503 on its way (RFC 9112 §9.6); reading the request first
 * spends a session, buffers and time on exactly the clients the cap is
 * there to turn away. */
typedef struct xps_tcp_cap {
    size_t max;       /* set by the caller; at least 1 */
    size_t open;      /* kept by the module */
    uint64_t refused; /* kept by the module */
} xps_tcp_cap_t;

/* How listeners and connections register with the loop and close. The
 * defaults are the correct server; the other values exist to reproduce the
 * failures stage 07 explains, and to test the bounds. */
typedef struct xps_tcp_options {
    /* XPS_LOOP_EDGE (correct). XPS_LOOP_LEVEL keeps EPOLLOUT registered on
     * an idle socket and so spins the CPU: the stage 07 experiment. */
    xps_loop_trigger_t trigger;
    /* A lingering close lasts at most this long after our FIN
     * (XPS_TCP_LINGER_MS). 0: no lingering close, close at once. */
    uint32_t linger_ms;
    /* ... and reads at most this many bytes (XPS_TCP_LINGER_BYTES). 0: no
     * lingering close. */
    size_t linger_bytes;
    /* [stage 18] Send timeout: a connection with bytes waiting to be sent
     * that gets none of them taken by the peer for this long is closed
     * (close reason XPS_E_TIMEOUT), with a reset (SO_LINGER 0): a peer
     * that stopped reading would otherwise hold a descriptor and a pipe's
     * worth of memory for ever, and after a plain close the kernel would
     * still hold the unsent bytes for it while TCP retries. The
     * clock restarts at every byte taken; nothing is measured while there
     * is nothing to send. One loop timer per connection, armed when a send
     * meets a full socket and moved lazily (progress only stores a time;
     * the timer, when it fires early, re-arms for the rest): no cost per
     * send beyond reading the loop's clock. 0 (the default): no bound. */
    uint32_t send_timeout_ms;
    /* [stage 18] A parked connection (xps_connection_park) that has sent
     * everything and hears nothing from its peer for this long is closed
     * quietly (a FIN; no callback: its owner let go of it). The HTTP
     * keep-alive timeout. 0 (the default): parked until the peer speaks. */
    uint32_t park_timeout_ms;
    /* [stage 18] Connections a listener accepts count against this cap
     * (see xps_tcp_cap_t). NULL (the default): no cap. */
    xps_tcp_cap_t *cap;
    /* [stage 19] A listener with a TLS server (made at start-up from its
     * certificates, owned by the caller, outliving every connection it
     * accepts) speaks TLS on every connection it accepts: see "Transport".
     * NULL (the default): plain TCP. Ignored by xps_connection_create: a
     * connection made from a connected fd is plain (until
     * xps_connection_start_tls makes it a TLS client). */
    xps_tls_server_t *tls;
    /* [stage 21] A listener registers its socket with XPS_LOOP_EXCLUSIVE:
     * for a socket shared by several worker processes (bound by a master
     * before fork), so that a new connection wakes one worker's loop
     * instead of every one (the thundering herd, chapter 21). false (the
     * default): a plain registration, every watcher woken. */
    bool accept_exclusive;
} xps_tcp_options_t;

/* The correct defaults: edge-triggered, lingering close within
 * XPS_TCP_LINGER_MS and XPS_TCP_LINGER_BYTES. */
xps_tcp_options_t xps_tcp_default_options(void) XPS_NOEXCEPT;

/* ------------------------------------------------------------ listener */

/* Listens on host:port (port 0: the kernel picks, see xps_listener_port)
 * and calls cb for every connection accepted. NULL and *error on failure,
 * which is logged with the address. options may be NULL (defaults). */
xps_listener_t *xps_listener_create(xps_loop_t *loop, const char *host, uint16_t port,
                                    const xps_tcp_options_t *options,
                                    xps_listener_accept_cb cb, void *data,
                                    int *error) XPS_NOEXCEPT;

/* [stage 21] xps_listener_create for a socket already listening: one a
 * master bound before fork() and every worker inherited
 * (modules/master). Takes `socket` whatever the result (on failure it is
 * destroyed: in a forked worker that closes this process's descriptor
 * only, the master's stays open). The socket is made non-blocking if it
 * is not (accept_all reads to EAGAIN). */
xps_listener_t *xps_listener_adopt(xps_loop_t *loop, xps_listen_socket_t *socket,
                                   const xps_tcp_options_t *options,
                                   xps_listener_accept_cb cb, void *data,
                                   int *error) XPS_NOEXCEPT;

/* Stops listening and closes the socket; connections already accepted go
 * on. Accepts NULL. */
void xps_listener_destroy(xps_listener_t *listener) XPS_NOEXCEPT;

uint16_t xps_listener_port(const xps_listener_t *listener) XPS_NOEXCEPT;

/* ---------------------------------------------------------- connection */

/* Wraps a connected socket (takes ownership of fd, which is made non-
 * blocking). NULL and *error on failure (fd is closed then too). options
 * may be NULL. */
xps_connection_t *xps_connection_create(xps_loop_t *loop, int fd,
                                        const xps_tcp_options_t *options,
                                        int *error) XPS_NOEXCEPT;

/* Closes at once, in any state (lingering included: it is how an owner
 * aborts): both pipe ends are detached (the other ends are told), the
 * socket is closed (a reset if bytes were unread), no callback follows.
 * The close callback is not called. Accepts NULL. */
void xps_connection_destroy(xps_connection_t *connection) XPS_NOEXCEPT;

/* Bytes read from the socket go into `pipe`; the connection becomes its
 * source. XPS_E_FAIL if the pipe already has a source or this connection a
 * source pipe. */
int xps_connection_attach_source(xps_connection_t *connection, xps_pipe_t *pipe) XPS_NOEXCEPT;

/* Bytes (and file ranges) in `pipe` are sent on the socket; the connection
 * becomes its sink. XPS_E_FAIL as above. */
int xps_connection_attach_sink(xps_connection_t *connection, xps_pipe_t *pipe) XPS_NOEXCEPT;

/* Whether a close this connection's owner starts may linger (true by
 * default: see "Lingering close"). An owner that knows the peer has sent
 * its last byte and every byte was read — an HTTP client that said
 * "Connection: close" on a request without a body, nothing after it —
 * turns it off: the close is then immediate, which saves waiting for the
 * peer's FIN and two system calls. A peer that sends more anyway gets a
 * reset, as it would from any server. [stage 13] */
void xps_connection_set_linger(xps_connection_t *connection, bool on) XPS_NOEXCEPT;

/* A parked connection has news: the peer sent bytes, or closed (its FIN
 * or a reset is found by the first read). The callback owns `connection`
 * again: it attaches pipes to it or destroys it, as after an accept. */
typedef void (*xps_connection_wake_cb)(xps_connection_t *connection, void *data);

/* [stage 13] Parks the connection between two requests (see "Parking"):
 * call it, then detach your ends of both of its pipes (or destroy what
 * owns them) without waiting. The connection sends everything the sink
 * pipe holds, then waits with no pipe, and calls wake(connection, data)
 * once the peer sends or closes — at once if bytes came meanwhile (they
 * wait unread in the socket, not in a pipe). Bytes left unread in the
 * source pipe are dropped: park only when it is empty. The close callback
 * is cleared (the owner is letting go); a send error while parked closes
 * the connection silently. XPS_E_INVAL if it is not open with both pipes
 * attached. */
int xps_connection_park(xps_connection_t *connection, xps_connection_wake_cb wake,
                        void *data) XPS_NOEXCEPT;

/* [stage 13] Takes a parked connection back before the peer said anything
 * (a pool handing out an idle upstream connection): wake will not be
 * called, and the connection has no pipe, as after an accept. XPS_E_INVAL
 * unless it is parked with both pipes already let go (a connection still
 * sending what it held is not idle yet). */
int xps_connection_unpark(xps_connection_t *connection) XPS_NOEXCEPT;

/* Registers the callback for xps_connection_close_cb (one per connection;
 * NULL removes it). */
void xps_connection_on_close(xps_connection_t *connection, xps_connection_close_cb cb,
                             void *data) XPS_NOEXCEPT;

/* "ip:port" of the peer, owned by the connection. */
const char *xps_connection_peer(const xps_connection_t *connection) XPS_NOEXCEPT;

/* The socket's descriptor, lent for getsockopt() and the like: never
 * close it, read or write it, or change its flags. */
int xps_connection_fd(const xps_connection_t *connection) XPS_NOEXCEPT;

/* [stage 19] Speaks TLS as a client on this connection from now on (a
 * proxy's connection to an upstream with "upstream_tls"): a TLS state made
 * from `client` for its socket (xps_tls_connect: `server_name` sent as
 * SNI, `peer_name` what the certificate must name), and the TLS transport
 * (see "Transport"). The handshake runs under the first steps, so attach
 * the pipes and write the request: it goes up once the handshake is over.
 * A failed handshake (a certificate that does not verify, a server that
 * does not speak TLS) closes the connection with XPS_E_FAIL or
 * XPS_E_CLOSED; its close callback can read why with
 * xps_tls_error(xps_connection_tls(connection)). Call it on a connection
 * that has not read or sent a byte yet. XPS_OK, or XPS_E_NOMEM (the
 * connection stays plain), XPS_E_INVAL (it already speaks TLS). */
int xps_connection_start_tls(xps_connection_t *connection, xps_tls_client_t *client,
                             const char *server_name, const char *peer_name) XPS_NOEXCEPT;

/* [stage 19] The connection's TLS state (for xps_tls_version, _alpn,
 * _server_name ...), lent; NULL for a plain connection. */
const xps_tls_conn_t *xps_connection_tls(const xps_connection_t *connection) XPS_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* XPS_MODULES_TCP_H */
