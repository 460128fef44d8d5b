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
 * It sends file ranges with sendfile(), bytes with send(MSG_NOSIGNAL).
 *
 * Closing, in order and without losing bytes:
 *  - the peer sends FIN → the connection ends its source (end of stream);
 *  - its sink is told the source of its pipe is done and everything was sent
 *    → shutdown(SHUT_WR), the peer sees FIN;
 *  - a connection with neither end attached closes and destroys itself.
 *  - a reset or a socket error ends both ends at once and destroys it.
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

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xps_listener_s xps_listener_t;
typedef struct xps_connection_s xps_connection_t;

/* A new client. The callback owns `connection`: it attaches pipes to it or
 * destroys it. It may destroy the listener. */
typedef void (*xps_listener_accept_cb)(xps_listener_t *listener, xps_connection_t *connection,
                                       void *data);

/* The connection has closed itself (peer gone, error, or both pipes done)
 * and is about to be freed: forget it. `reason` is XPS_OK for an orderly
 * end, else the error that ended it. Not called for xps_connection_destroy. */
typedef void (*xps_connection_close_cb)(xps_connection_t *connection, int reason, void *data);

/* How listeners and connections register with the loop. The defaults are
 * the correct server; the other values exist to reproduce the failures
 * stage 07 explains. */
typedef struct xps_tcp_options {
    /* XPS_LOOP_EDGE (correct). XPS_LOOP_LEVEL keeps EPOLLOUT registered on
     * an idle socket and so spins the CPU: the stage 07 experiment. */
    xps_loop_trigger_t trigger;
} xps_tcp_options_t;

/* The correct defaults: edge-triggered. */
xps_tcp_options_t xps_tcp_default_options(void) XPS_NOEXCEPT;

/* ------------------------------------------------------------ listener */

/* Listens on host:port (port 0: the kernel picks, see xps_listener_port)
 * and calls cb for every connection accepted. NULL and *error on failure,
 * which is logged with the address. options may be NULL (defaults). */
xps_listener_t *xps_listener_create(xps_loop_t *loop, const char *host, uint16_t port,
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

/* Closes at once: both pipe ends are detached (the other ends are told),
 * the socket is closed. The close callback is not called. Accepts NULL. */
void xps_connection_destroy(xps_connection_t *connection) XPS_NOEXCEPT;

/* Bytes read from the socket go into `pipe`; the connection becomes its
 * source. XPS_E_FAIL if the pipe already has a source or this connection a
 * source pipe. */
int xps_connection_attach_source(xps_connection_t *connection, xps_pipe_t *pipe) XPS_NOEXCEPT;

/* Bytes (and file ranges) in `pipe` are sent on the socket; the connection
 * becomes its sink. XPS_E_FAIL as above. */
int xps_connection_attach_sink(xps_connection_t *connection, xps_pipe_t *pipe) XPS_NOEXCEPT;

/* Registers the callback for xps_connection_close_cb (one per connection;
 * NULL removes it). */
void xps_connection_on_close(xps_connection_t *connection, xps_connection_close_cb cb,
                             void *data) XPS_NOEXCEPT;

/* "ip:port" of the peer, owned by the connection. */
const char *xps_connection_peer(const xps_connection_t *connection) XPS_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* XPS_MODULES_TCP_H */
