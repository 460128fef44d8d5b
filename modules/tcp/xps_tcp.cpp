// modules/tcp/xps_tcp.cpp — see xps_tcp.h.
#include "modules/tcp/xps_tcp.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <new>
#include <utility>

#include "core/xps_buffer.h"
#include "core/xps_core.h"
#include "core/xps_logger.h"
#include "core/xps_pipe.h"
#include "modules/socket/xps_socket.h"

struct xps_listener_s {
    xps_loop_t *loop;                 // borrowed
    xps_core_member_t *member;        // destroyed with the core
    xps_listen_socket_t *socket;      // owned
    xps_loop_io_t *io;                // watches the listening socket
    xps_tcp_options_t options;        // passed on to accepted connections
    xps_listener_accept_cb cb;
    void *data;
    bool destroyed;                   // destroyed inside a callback; freed after the batch
};

// Where a connection is in its life; it only moves forward:
// open → closed, or open → lingering → closed.
enum class conn_state : unsigned char {
    open,      // reading into and sending from its pipes
    lingering, // all sent, FIN sent, no pipe: reading and discarding until EOF or a bound
    closed,    // torn down; memory waits for the batch to end
};

namespace {
struct transport; // [stage 19] how a connection moves its bytes: see "transport" below

// [stage 19] What a TLS connection adds to a plain one, allocated with its
// TLS state and freed with it: a plain connection pays one NULL pointer.
struct tls_link {
    xps_tls_conn_t *conn;             // owned
    unsigned recv_wait;               // the readiness (XPS_LOOP_*) the last receive waits for
    unsigned send_wait;               // ... and the last send (TLS may wait across)
    int deferred;                     // an error met after some plaintext: the next receive's
    bool ready;                       // the handshake is over
};
} // namespace

// Kept per connection, so packed by hand: pointers and 64-bit fields
// first, then the 32-bit bounds, the flags last. An idle keep-alive
// connection is this struct and its socket (tests/bench/idle_bytes.c).
struct xps_connection_s {
    xps_loop_t *loop;                 // borrowed
    xps_core_member_t *member;        // destroyed with the core
    xps_socket_t *socket;             // owned
    xps_loop_io_t *io;                // watches the socket
    xps_pipe_t *source_pipe;          // bytes we read go here; NULL when none or ended
    xps_pipe_t *sink_pipe;            // bytes we send come from here; NULL when none or ended
    xps_loop_timer_t *linger_timer;   // while lingering: fires at the time bound
    size_t discarded;                 // bytes read and dropped while lingering
    xps_connection_close_cb on_close; // the owner's notification
    void *close_data;
    xps_connection_wake_cb wake;      // set while parked or parking: who gets it back
    void *wake_data;
    // [stage 18]
    xps_loop_timer_t *timer;          // the send timeout, or the park timeout once
                                      // parked (never both: a parked one has nothing to send)
    uint64_t last_sent_ms;            // when the peer last took bytes (send timeout)
    xps_tcp_cap_t *cap;               // the cap it counts against (accepted by a listener
                                      // with one), else NULL
    // [stage 19] how the bytes move (see "Transport" in xps_tcp.h)
    const transport *tr;              // plain_transport or tls_transport, static
    tls_link *tls;                    // owned; NULL for a plain connection
    // The bounds of xps_tcp_options_t a connection applies, copied at
    // creation (not the whole options: how it registers is done with by
    // then, and a listener's TLS server and accept mode are its own).
    size_t linger_bytes;
    uint32_t linger_ms;
    uint32_t send_timeout_ms;
    uint32_t park_timeout_ms;
    int error;                        // first error seen (a failed send): the close reason
    conn_state state;
    bool had_pipes;                   // a pipe was ever attached (so "none left" means done)
    bool readable;                    // last edge said readable, no EAGAIN since
    bool writable;                    // last edge said writable, no EAGAIN since
    bool peer_hung_up;                // epoll reported the peer's FIN (or an error):
                                      // read on to EOF, a short read proves nothing
    bool reading_stopped;             // the owner left our source pipe before the peer's FIN
    bool fin_sent;                    // everything was sent and shutdown(SHUT_WR) succeeded
    bool may_linger;                  // xps_connection_set_linger: a close may linger
};

namespace {

constexpr size_t read_block = 64 * 1024;     // one recv() asks for at most this
constexpr size_t keep_block_above = 32 * 1024; // a read this big keeps its block; smaller are copied
constexpr size_t sendfile_max = 0x7ffff000;  // the kernel's cap for one sendfile()

// Where a lingering connection reads the bytes it drops. One for the whole
// process: the loop is single-threaded and nothing ever reads it back, so a
// lingering connection costs no buffer of its own and no allocation per read.
// (recv(MSG_TRUNC) would drop them in the kernel, but a NULL buffer upsets
// valgrind's and ASan's checks of recv(); a copy of a few MiB is cheap.)
char discard_scratch[64 * 1024];

// The block produce() reads into, kept from one read to the next instead
// of freed: a small read is copied out of it (hand_over) and the block
// serves the next recv() of any connection. Without it every request
// cost a 64 KiB malloc() and free(); freed at the top of the heap, the
// block let malloc give memory back to the kernel (brk), and the next
// request took it back with a page fault: one per request, which on this
// project's VM cost more than the request itself (docs/performance.md,
// "Page faults"). A big read keeps the block it landed in (the pipe owns
// it then) and the next read makes a new one. One for the process, as
// discard_scratch: the loop is single-threaded. Freed at exit.
struct spare_block {
    xps_buffer_t *block = nullptr;
    ~spare_block() { xps_buffer_destroy(block); }
} spare;

// --------------------------------------------------------------- transport

// [stage 19] How a connection moves bytes. Every step returns XPS_OK
// (bytes moved; a receive may return fewer than asked only when the
// socket had no more: see produce), XPS_E_AGAIN (try the same step again
// once the socket is ready for it: see recv_wait and send_wait),
// XPS_E_EOF, XPS_E_CLOSED or another error.
struct transport {
    int (*recv)(xps_connection_t *c, void *buf, size_t len, size_t *got);
    int (*send)(xps_connection_t *c, const void *buf, size_t len, size_t *sent);
    int (*send_file)(xps_connection_t *c, int fd, off_t offset, size_t len, size_t *sent);
    void (*end)(xps_connection_t *c);     // all is sent, a FIN follows: say so (or NULL)
    void (*destroy)(xps_connection_t *c); // frees the transport's state (or NULL)
};

// The readiness (XPS_LOOP_READABLE or XPS_LOOP_WRITABLE) that lets a
// receive, or a send, that said XPS_E_AGAIN try again. Plain TCP's are
// fixed, so a plain connection stores none; a TLS step may wait for the
// other one (a receive that must first write its handshake reply), and
// its link remembers what the last one said.
unsigned recv_wait(const xps_connection_t *c) {
    return c->tls ? c->tls->recv_wait : unsigned{XPS_LOOP_READABLE};
}

unsigned send_wait(const xps_connection_t *c) {
    return c->tls ? c->tls->send_wait : unsigned{XPS_LOOP_WRITABLE};
}

// Whether the transport holds back an end (or an error) it met after the
// bytes it just returned: it has read it already, so no edge will
// announce it, and the next receive must be tried (see produce).
bool end_held_back(const xps_connection_t *c) { return c->tls && c->tls->deferred != XPS_OK; }

// Plain TCP: the system calls themselves; nothing to announce or free.
int plain_recv(xps_connection_t *c, void *buf, size_t len, size_t *got) {
    return xps_socket_recv(c->socket, buf, len, got);
}

int plain_send(xps_connection_t *c, const void *buf, size_t len, size_t *sent) {
    return xps_socket_send(c->socket, buf, len, sent);
}

int plain_send_file(xps_connection_t *c, int fd, off_t offset, size_t len, size_t *sent) {
    ssize_t n = sendfile(xps_socket_fd(c->socket), fd, &offset, std::min(len, sendfile_max));
    if (n < 0) {
        *sent = 0;
        return errno == EINTR ? XPS_OK : xps_error_from_errno(errno);
    }
    *sent = static_cast<size_t>(n);
    return n == 0 ? XPS_E_EOF : XPS_OK; // 0: the file is shorter than the range
}

constexpr transport plain_transport{plain_recv, plain_send, plain_send_file, nullptr, nullptr};

// TLS (modules/tls). OpenSSL reads and writes the socket itself; its
// wants map onto the loop's readiness, kept in the link (*wait below is
// its recv_wait or send_wait).
unsigned readiness_of(unsigned tls_want) {
    return tls_want & XPS_TLS_WANT_WRITE ? XPS_LOOP_WRITABLE : XPS_LOOP_READABLE;
}

// Handshake failures are the client's (a scanner, plain HTTP, an old
// client): worth a line, but a flood of them must not flood the log.
uint64_t tls_failures;

void log_tls_failure(xps_connection_t *c, const char *step, int status) {
    if (tls_failures++ % 1000 == 0)
        XPS_LOG(XPS_LOG_INFO, "tls", "%s: TLS %s failed: %s (%llu TLS failures so far)",
                xps_socket_peer(c->socket), step,
                *xps_tls_error(c->tls->conn) ? xps_tls_error(c->tls->conn) : xps_strerror(status),
                static_cast<unsigned long long>(tls_failures));
}

// The handshake runs under the first step of either direction. XPS_OK
// once it is over.
int tls_handshake(xps_connection_t *c, unsigned *wait) {
    tls_link *t = c->tls;
    unsigned want = 0;
    int status = xps_tls_handshake(t->conn, &want);
    if (status == XPS_OK) {
        t->ready = true;
        XPS_LOG(XPS_LOG_DEBUG, "tls", "%s: %s, ALPN \"%s\", SNI \"%s\"%s",
                xps_socket_peer(c->socket), xps_tls_version(t->conn), xps_tls_alpn(t->conn),
                xps_tls_server_name(t->conn), xps_tls_resumed(t->conn) ? ", resumed" : "");
    } else if (status == XPS_E_AGAIN) {
        *wait = readiness_of(want);
    } else {
        log_tls_failure(c, "handshake", status);
    }
    return status;
}

// Fills as much of buf as OpenSSL gives (one call per record, up to 16
// KiB each) until it is full or OpenSSL would wait: so a short receive
// means "drained", as for plain TCP, and plaintext left inside OpenSSL
// (a full buf) keeps the connection readable. An error after some bytes
// is kept for the next call: the bytes are delivered first.
int tls_recv(xps_connection_t *c, void *buf, size_t len, size_t *got) {
    tls_link *t = c->tls;
    unsigned *wait = &t->recv_wait;
    *got = 0;
    *wait = XPS_LOOP_READABLE;
    if (t->deferred != XPS_OK)
        return std::exchange(t->deferred, XPS_OK);
    if (!t->ready) {
        int status = tls_handshake(c, wait);
        if (status != XPS_OK)
            return status;
    }
    while (*got < len) {
        size_t n = 0;
        unsigned want = 0;
        int status = xps_tls_recv(t->conn, static_cast<char *>(buf) + *got, len - *got, &n, &want);
        *got += n;
        if (status == XPS_OK)
            continue;
        if (status == XPS_E_AGAIN)
            *wait = readiness_of(want);
        else if (status != XPS_E_EOF && status != XPS_E_CLOSED)
            log_tls_failure(c, "receive", status);
        if (*got == 0)
            return status;
        if (status != XPS_E_AGAIN)
            t->deferred = status;
        break;
    }
    return XPS_OK;
}

int tls_send(xps_connection_t *c, const void *buf, size_t len, size_t *sent) {
    tls_link *t = c->tls;
    unsigned *wait = &t->send_wait;
    *sent = 0;
    *wait = XPS_LOOP_WRITABLE;
    if (!t->ready) {
        int status = tls_handshake(c, wait);
        if (status != XPS_OK)
            return status;
    }
    unsigned want = 0;
    int status = xps_tls_send(t->conn, buf, len, sent, &want);
    if (status == XPS_E_AGAIN)
        *wait = readiness_of(want);
    else if (status != XPS_OK && status != XPS_E_CLOSED)
        log_tls_failure(c, "send", status);
    return status;
}

// Where a file range is read before OpenSSL encrypts it, without kTLS:
// one record's worth, one buffer for the process (single-threaded loop).
// A send that must wait is retried with the same bytes, as OpenSSL
// requires: the range did not move, so the same piece is read again.
char file_scratch[16 * 1024];

int tls_send_file(xps_connection_t *c, int fd, off_t offset, size_t len, size_t *sent) {
    tls_link *t = c->tls;
    unsigned *wait = &t->send_wait;
    *sent = 0;
    *wait = XPS_LOOP_WRITABLE;
    if (!t->ready) {
        int status = tls_handshake(c, wait);
        if (status != XPS_OK)
            return status;
    }
    unsigned want = 0;
    if (xps_tls_ktls_send(t->conn)) {
        int status = xps_tls_sendfile(t->conn, fd, offset, std::min(len, sendfile_max), sent,
                                      &want);
        if (status == XPS_E_AGAIN)
            *wait = readiness_of(want);
        else if (status == XPS_OK && *sent == 0)
            return XPS_E_EOF; // the file is shorter than the range
        return status;
    }
    ssize_t n = pread(fd, file_scratch, std::min(len, sizeof file_scratch), offset);
    if (n < 0)
        return errno == EINTR ? XPS_OK : xps_error_from_errno(errno);
    if (n == 0)
        return XPS_E_EOF;
    return tls_send(c, file_scratch, static_cast<size_t>(n), sent);
}

// close_notify before the FIN. Best effort: everything else was sent, so
// the socket has room for the alert; if not, the FIN alone ends it (the
// peer sees a truncation, which for HTTP/1.1 with lengths is harmless).
void tls_end(xps_connection_t *c) {
    unsigned want = 0;
    if (c->tls->ready)
        xps_tls_shutdown(c->tls->conn, &want);
}

void tls_destroy(xps_connection_t *c) {
    xps_tls_conn_destroy(c->tls->conn);
    delete c->tls;
    c->tls = nullptr;
}

constexpr transport tls_transport{tls_recv, tls_send, tls_send_file, tls_end, tls_destroy};

// Moves the connection's bytes through `conn` (taken) from now on:
// XPS_OK, or XPS_E_NOMEM with `conn` freed and the connection plain.
int attach_tls(xps_connection_t *c, xps_tls_conn_t *conn) {
    auto *t =
        new (std::nothrow) tls_link{conn, XPS_LOOP_READABLE, XPS_LOOP_WRITABLE, XPS_OK, false};
    if (!t) {
        xps_tls_conn_destroy(conn);
        return XPS_E_NOMEM;
    }
    c->tls = t;
    c->tr = &tls_transport;
    return XPS_OK;
}

// -------------------------------------------------------------- connection

void free_connection(void *p) { delete static_cast<xps_connection_t *>(p); }

void close_self(xps_connection_t *c, int reason);
bool parking(const xps_connection_t *c);

// [stage 18] The connection's one timer fired: parked and idle for
// park_timeout_ms → closed quietly; otherwise it is the send timeout,
// moved lazily: if the peer took bytes since it was armed, it is armed
// again for what is left of the bound from that moment.
void on_timer(xps_loop_timer_t *timer, void *data) {
    auto *c = static_cast<xps_connection_t *>(data);
    if (parking(c) && !c->source_pipe && !c->sink_pipe) {
        XPS_LOG(XPS_LOG_DEBUG, "tcp", "%s: idle for %u ms while parked: closing",
                xps_socket_peer(c->socket), c->park_timeout_ms);
        return close_self(c, XPS_E_TIMEOUT);
    }
    uint64_t now = xps_loop_now_ms(c->loop);
    uint64_t idle = now - c->last_sent_ms;
    if (idle < c->send_timeout_ms)
        return xps_loop_timer_start(timer, c->send_timeout_ms - idle);
    XPS_LOG(XPS_LOG_DEBUG, "tcp", "%s: took no byte for %u ms: closing",
            xps_socket_peer(c->socket), c->send_timeout_ms);
    // With a reset: a plain close would leave what is queued in the
    // kernel's send buffer (megabytes) to a peer that does not read, for
    // as long as TCP retries. SO_LINGER 0 drops it with the connection.
    const linger abort_now{1, 0};
    setsockopt(xps_socket_fd(c->socket), SOL_SOCKET, SO_LINGER, &abort_now, sizeof abort_now);
    close_self(c, XPS_E_TIMEOUT);
}

// Arms the connection's timer for `ms` unless it is already running (a
// running send timeout is moved lazily, see on_timer). false when there
// is no memory for a timer: then there is no bound, as before stage 18.
void arm_timer(xps_connection_t *c, uint32_t ms, bool restart) {
    if (!c->timer && !(c->timer = xps_loop_timer_create(c->loop, on_timer, c)))
        return;
    if (restart || !xps_loop_timer_active(c->timer))
        xps_loop_timer_start(c->timer, ms);
}

void stop_timer(xps_connection_t *c) {
    if (c->timer && xps_loop_timer_active(c->timer))
        xps_loop_timer_stop(c->timer);
}

// Tears the connection down: both ends detached (the other ends are told),
// watcher and socket gone, memory freed after the batch.
void teardown(xps_connection_t *c) {
    if (c->state == conn_state::closed) // e.g. an on_close callback destroyed it already
        return;
    c->state = conn_state::closed;
    xps_core_remove_member(c->member);
    xps_loop_timer_destroy(c->linger_timer); // no time bound fires for a closed connection
    c->linger_timer = nullptr;
    xps_loop_timer_destroy(c->timer);
    c->timer = nullptr;
    if (c->cap) // [stage 18] a place under the cap is free again
        c->cap->open--;
    c->cap = nullptr;
    if (c->source_pipe)
        xps_pipe_detach_source(c->source_pipe);
    if (c->sink_pipe)
        xps_pipe_detach_sink(c->sink_pipe);
    c->source_pipe = c->sink_pipe = nullptr;
    xps_loop_io_detach(c->io);
    if (c->tr->destroy) // before the socket: OpenSSL borrows its fd
        c->tr->destroy(c);
    xps_socket_destroy(c->socket);
    xps_core_defer_free(xps_loop_core(c->loop), free_connection, c);
}

// The connection ends itself: tell the owner, then tear down.
void close_self(xps_connection_t *c, int reason) {
    if (c->state == conn_state::closed)
        return;
    if (reason != XPS_OK)
        XPS_LOG(XPS_LOG_DEBUG, "tcp", "%s: closing: %s", xps_socket_peer(c->socket),
                xps_strerror(reason));
    if (c->on_close)
        c->on_close(c, reason, c->close_data);
    teardown(c);
}

// Reads and drops what the peer sends while lingering: until EAGAIN (edge-
// triggered: the next edge brings us back), the peer's FIN (the orderly
// end: XPS_OK), an error, or the byte bound (XPS_E_LIMIT: a peer that
// floods us is not read for ever; closing with its bytes unread resets the
// connection, which is then the peer's doing).
void discard(xps_connection_t *c) {
    int fd = xps_socket_fd(c->socket);
    for (;;) {
        size_t want = c->linger_bytes - c->discarded;
        ssize_t n = recv(fd, discard_scratch, std::min(want, sizeof discard_scratch), 0);
        if (n > 0) {
            c->discarded += static_cast<size_t>(n);
            if (c->discarded >= c->linger_bytes)
                return close_self(c, XPS_E_LIMIT);
        } else if (n == 0) {
            return close_self(c, XPS_OK);
        } else if (errno == EAGAIN) {
            return;
        } else if (errno != EINTR) {
            return close_self(c, xps_error_from_errno(errno));
        }
    }
}

// The time bound: the peer has had linger_ms since our FIN to read the
// answer and close. A silent peer has nothing unread, so this close is a
// plain FIN-ACK ending, not a reset.
void on_linger_timeout(xps_loop_timer_t *timer, void *data) {
    (void)timer;
    close_self(static_cast<xps_connection_t *>(data), XPS_E_TIMEOUT);
}

// The staged close of RFC 9112 §9.6, last stage. Everything was sent and
// FIN is out, but the owner stopped reading before the peer's FIN: the peer
// may still be sending (the body of a request refused from its head).
// close() now, with bytes unread, or when the next ones arrive, would make
// the kernel answer with a reset (RFC 1122 §4.2.2.13), and a reset drops
// whatever of our answer the peer has not read yet. So read and discard
// until the peer closes or a bound is reached. Only readability is watched
// (level-triggered mode would otherwise report "writable" every round), and
// the timer is the only other thing that can wake it: idle, it costs nothing.
void start_linger(xps_connection_t *c) {
    assert(c->state == conn_state::open);
    c->state = conn_state::lingering;
    c->linger_timer = xps_loop_timer_create(c->loop, on_linger_timeout, c);
    if (!c->linger_timer)
        return close_self(c, XPS_E_NOMEM); // no bound, no linger: close as before
    int status = xps_loop_io_modify(c->io, XPS_LOOP_READABLE);
    if (status != XPS_OK)
        return close_self(c, status); // logged by the loop
    xps_loop_timer_start(c->linger_timer, c->linger_ms);
    XPS_LOG(XPS_LOG_DEBUG, "tcp", "%s: lingering close (at most %u ms, %zu bytes)",
            xps_socket_peer(c->socket), c->linger_ms, c->linger_bytes);
    discard(c); // bytes that came while nobody read: their edge has passed
}

// Whether a close, once both pipes are gone, must linger: the owner
// stopped reading before the peer's FIN, so the peer may still be sending.
bool will_linger(const xps_connection_t *c) {
    return c->reading_stopped && c->error == XPS_OK && c->may_linger &&
           c->linger_ms > 0 && c->linger_bytes > 0;
}

// With neither pipe end left, there is nothing more to read or send: close,
// in stages if the peer may still be sending (see start_linger).
void close_if_done(xps_connection_t *c) {
    if (!c->had_pipes || c->source_pipe || c->sink_pipe)
        return;
    if (will_linger(c) && c->fin_sent)
        start_linger(c);
    else
        close_self(c, c->error);
}

// ----------------------------------------------------------------- parking

bool parking(const xps_connection_t *c) { return c->wake != nullptr; }

// Hands a parked connection back to its owner: it has no pipe, as after an
// accept. had_pipes goes back to false so that "no pipe" does not read as
// "done" before the owner attaches new ones.
void wake_up(xps_connection_t *c) {
    stop_timer(c); // [stage 18] the park timeout
    xps_connection_wake_cb wake = c->wake;
    c->wake = nullptr;
    c->had_pipes = false;
    wake(c, c->wake_data);
}

// A parking connection just let go of one pipe; with both gone it is
// parked. Bytes that arrived since the last read raised their edge already
// (edge-triggered: no other comes), so they wake it at once.
void park_if_free(xps_connection_t *c) {
    if (c->source_pipe || c->sink_pipe)
        return;
    stop_timer(c); // nothing to send: no send timeout
    if (c->readable || c->peer_hung_up)
        return wake_up(c);
    if (c->park_timeout_ms > 0) // [stage 18] the keep-alive timeout
        arm_timer(c, c->park_timeout_ms, true);
}

void end_source(xps_connection_t *c) {
    xps_pipe_detach_source(c->source_pipe);
    c->source_pipe = nullptr;
    close_if_done(c);
}

// Hands `n` bytes just read into `block` to the pipe. A mostly full block
// moves as it is; a small read is copied into a buffer of its own size, so
// a trickle of tiny reads cannot pin a 64 KiB block each. Returns the block
// to reuse (NULL when it was handed over) or sets *status on failure.
xps_buffer_t *hand_over(xps_pipe_t *pipe, xps_buffer_t *block, size_t n, int *status) {
    xps_buffer_produce(block, n);
    if (n >= keep_block_above) {
        *status = xps_pipe_write(pipe, block);
        return nullptr;
    }
    xps_buffer_t *exact = xps_buffer_copy_of(xps_buffer_data(block), n);
    xps_buffer_consume(block, n);
    *status = exact ? xps_pipe_write(pipe, exact) : XPS_E_NOMEM;
    return block;
}

// [stage 19] A TLS step of one direction may wait for the readiness
// the other direction consumes (a send waiting for the handshake's bytes
// to be read, a receive waiting for its handshake reply to be written):
// the edge it waits for may then never come. So a step that just used
// `used` marks the other direction ready again if that is what it waited
// for; a needless retry costs one step that says EAGAIN again. Plain TCP
// never waits across (a receive waits for reading, a send for writing).
void retry_other_direction(xps_connection_t *c, unsigned other_wait, unsigned used) {
    if (other_wait != used)
        return;
    if (used == XPS_LOOP_READABLE && c->sink_pipe && !c->writable) {
        c->writable = true;
        xps_pipe_set_sink_ready(c->sink_pipe, true);
    } else if (used == XPS_LOOP_WRITABLE && c->source_pipe && !c->readable) {
        c->readable = true;
        xps_pipe_set_source_ready(c->source_pipe, true);
    }
}

// The pipe has room and the socket is readable: read until EAGAIN or a
// short read (edge-triggered: no new edge comes while data is left), the
// pipe is full (the pipe calls again when it drains: back-pressure), or
// the stream ends.
void produce(xps_pipe_t *pipe, void *data) {
    auto *c = static_cast<xps_connection_t *>(data);
    xps_buffer_t *block = std::exchange(spare.block, nullptr);
    int status = XPS_OK;
    while (status == XPS_OK && xps_pipe_room(pipe) > 0) {
        if (!block && !(block = xps_buffer_create(read_block))) {
            status = XPS_E_NOMEM;
            break;
        }
        size_t want = xps_pipe_room(pipe) < read_block ? xps_pipe_room(pipe) : read_block;
        size_t got = 0;
        status = c->tr->recv(c, xps_buffer_space(block), want, &got);
        if (status == XPS_OK)
            block = hand_over(pipe, block, got, &status);
        // A short read took all the socket had: asking again would only
        // hear EAGAIN, one system call per request for nothing. Bytes that
        // arrive later raise a new edge. Not after a hang-up: the FIN's
        // edge has been reported already, so read on until recv() says EOF.
        // [stage 19] Nor when the transport holds back an end it met
        // after the bytes (end_held_back).
        if (status == XPS_OK && got < want && !c->peer_hung_up && !end_held_back(c))
            status = XPS_E_AGAIN;
    }
    // No callback ran meanwhile (a pipe calls none from xps_pipe_write),
    // so the spare is still free: the block goes back empty (hand_over
    // copied out what it read), or NULL when the last read kept it.
    spare.block = block;
    retry_other_direction(c, send_wait(c), XPS_LOOP_READABLE);
    if (status == XPS_E_AGAIN) {
        c->readable = false;
        xps_pipe_set_source_ready(pipe, false);
    } else if (status == XPS_E_EOF) {
        end_source(c); // the peer sent FIN: end of this stream
    } else if (status != XPS_OK) {
        close_self(c, status);
    }
}

// The peer no longer takes bytes (EPIPE, ECONNRESET on send). What it sent
// before that may still wait in our receive buffer — an upstream's early
// "413" or "400" answer, say — so only the sending side ends: the source
// goes on reading until the socket reports EOF or an error itself.
void end_sink_keep_reading(xps_connection_t *c, int error) {
    if (parking(c)) // nobody reads what comes back: the owner has let go
        return close_self(c, error);
    c->error = error;
    xps_pipe_detach_sink(c->sink_pipe);
    c->sink_pipe = nullptr;
    stop_timer(c); // [stage 18] nothing more will be sent
    if (c->source_pipe) {
        c->readable = true;
        xps_pipe_set_source_ready(c->source_pipe, true);
    }
    close_if_done(c);
}

// Sends one item through the transport: bytes, or a file range.
int send_chunk(xps_connection_t *c, const xps_pipe_chunk_t *chunk, size_t *sent) {
    if (chunk->bytes)
        return c->tr->send(c, chunk->bytes, chunk->len, sent);
    return c->tr->send_file(c, chunk->fd, chunk->offset, chunk->len, sent);
}

// The pipe has data and the socket is writable: send until EAGAIN or empty.
void consume(xps_pipe_t *pipe, void *data) {
    auto *c = static_cast<xps_connection_t *>(data);
    xps_pipe_chunk_t chunk;
    while (xps_pipe_peek(pipe, &chunk) == XPS_OK) {
        size_t sent = 0;
        int status = send_chunk(c, &chunk, &sent);
        retry_other_direction(c, recv_wait(c), XPS_LOOP_WRITABLE);
        if (sent > 0) {
            xps_pipe_consume(pipe, sent);
            c->last_sent_ms = xps_loop_now_ms(c->loop); // [stage 18] the peer reads
        }
        if (status == XPS_E_AGAIN) {
            c->writable = false;
            xps_pipe_set_sink_ready(pipe, false);
            if (c->send_timeout_ms > 0) { // [stage 18] from the last byte taken
                if (!c->timer || !xps_loop_timer_active(c->timer))
                    c->last_sent_ms = xps_loop_now_ms(c->loop);
                arm_timer(c, c->send_timeout_ms, false);
            }
            return;
        }
        if (status == XPS_E_CLOSED) {
            end_sink_keep_reading(c, status);
            return;
        }
        if (status != XPS_OK) {
            close_self(c, status);
            return;
        }
    }
    stop_timer(c); // [stage 18] all sent: nothing is waiting for the peer
}

// Our source pipe lost its sink: nobody will read what we read. Stop. We
// have not read the peer's FIN (it would have ended the source first), so
// the peer may still be sending: the close will linger (see start_linger).
void sink_gone(xps_pipe_t *pipe, void *data) {
    (void)pipe;
    auto *c = static_cast<xps_connection_t *>(data);
    if (parking(c)) { // the owner let go between requests: not the end
        xps_pipe_detach_source(pipe);
        c->source_pipe = nullptr;
        return park_if_free(c);
    }
    // [stage 19] An owner that gives up before the TLS handshake is over
    // (a hello that never ends meets the session's head timeout): what it
    // queues (a 408) can never be sent, as it would have to be encrypted
    // for a session that does not exist. Close now rather than wait for
    // the send timeout.
    if (c->tls && !c->tls->ready) {
        XPS_LOG(XPS_LOG_DEBUG, "tls", "%s: given up before the handshake was over: closing",
                xps_socket_peer(c->socket));
        return close_self(c, XPS_E_CLOSED);
    }
    c->reading_stopped = true;
    end_source(c);
}

// Everything for this socket has been sent and no more will come: FIN.
void source_done(xps_pipe_t *pipe, void *data) {
    auto *c = static_cast<xps_connection_t *>(data);
    if (parking(c)) { // all sent, and the stream goes on: no FIN
        xps_pipe_detach_sink(pipe);
        c->sink_pipe = nullptr;
        return park_if_free(c);
    }
    xps_pipe_detach_sink(pipe);
    c->sink_pipe = nullptr;
    stop_timer(c); // [stage 18] nothing left to send
    if (c->tr->end) // [stage 19] TLS: close_notify
        c->tr->end(c);
    // With reading over too, and no lingering to do, close_if_done closes
    // now, and close() sends the FIN itself: one system call fewer per
    // connection that ends after its response.
    if (c->source_pipe || will_linger(c))
        c->fin_sent = shutdown(xps_socket_fd(c->socket), SHUT_WR) == 0; // fails if the peer reset
    close_if_done(c);
}

// epoll reported the socket: remember what it said (edge-triggered mode
// reports each change once) and tell the pipes. Hang-ups and errors count
// as both: the next recv()/send() finds out what happened.
void on_socket(xps_loop_io_t *io, unsigned events, void *data) {
    (void)io;
    auto *c = static_cast<xps_connection_t *>(data);
    bool broken = events & (XPS_LOOP_HANGUP | XPS_LOOP_ERROR);
    if (c->state == conn_state::lingering) {
        if (broken || (events & XPS_LOOP_READABLE))
            discard(c);
        return;
    }
    if (broken)
        c->peer_hung_up = true;
    // Each direction is woken by the readiness its last step waited for
    // (plain TCP: reading by readability, sending by writability).
    if (broken || (events & recv_wait(c))) {
        c->readable = true;
        if (c->source_pipe)
            xps_pipe_set_source_ready(c->source_pipe, true);
    }
    if (broken || (events & send_wait(c))) {
        c->writable = true;
        if (c->sink_pipe)
            xps_pipe_set_sink_ready(c->sink_pipe, true);
    }
    if (parking(c)) { // the owner reads what came, or finds the close
        if (!c->source_pipe && !c->sink_pipe && (broken || (events & XPS_LOOP_READABLE)))
            wake_up(c);
        return;
    }
    // An error with no pipe to discover it through would never be noticed.
    if (broken && !c->source_pipe && !c->sink_pipe)
        close_self(c, XPS_E_CLOSED);
}

void destroy_connection_member(void *c) {
    xps_connection_destroy(static_cast<xps_connection_t *>(c));
}

xps_connection_t *connection_from_socket(xps_loop_t *loop, xps_socket_t *socket,
                                         const xps_tcp_options_t *options, int *error) {
    auto *c = new (std::nothrow) xps_connection_t{};
    if (!c) {
        xps_socket_destroy(socket);
        *error = XPS_E_NOMEM;
        return nullptr;
    }
    c->loop = loop;
    c->may_linger = true; // the safe default: see xps_connection_set_linger
    // No Nagle: what we send is a whole response (or a whole block of one)
    // and must leave now, not when the peer ACKs the last segment — a peer
    // that delays its ACKs would hold every small response 40 ms.
    // (Logged if it fails; the connection still works, only slower.)
    xps_socket_set_nodelay(socket);
    c->socket = socket;
    c->linger_bytes = options->linger_bytes;
    c->linger_ms = options->linger_ms;
    c->send_timeout_ms = options->send_timeout_ms;
    c->park_timeout_ms = options->park_timeout_ms;
    c->tr = &plain_transport;
    c->state = conn_state::open;
    c->io = xps_loop_io_attach(loop, xps_socket_fd(socket), XPS_LOOP_READABLE | XPS_LOOP_WRITABLE,
                               options->trigger, on_socket, c, error);
    c->member = c->io ? xps_core_add_member(xps_loop_core(loop), destroy_connection_member, c)
                      : nullptr;
    if (!c->member) {
        if (c->io)
            *error = XPS_E_NOMEM;
        xps_loop_io_detach(c->io);
        xps_socket_destroy(socket);
        delete c;
        return nullptr;
    }
    *error = XPS_OK;
    return c;
}

// ---------------------------------------------------------------- listener

// Whether more clients wait in the listener's queue (without accepting).
bool clients_waiting(const xps_listener_t *l) {
    pollfd p{xps_listen_socket_fd(l->socket), POLLIN, 0};
    return poll(&p, 1, 0) == 1;
}

// [stage 19] Gives an accepted connection the TLS transport; false (the
// connection destroyed, logged) when there is no memory for its state.
bool use_tls(xps_connection_t *c, xps_tls_server_t *server) {
    int error = XPS_OK;
    xps_tls_conn_t *conn = xps_tls_accept(server, xps_socket_fd(c->socket), &error);
    if (conn)
        error = attach_tls(c, conn);
    if (error != XPS_OK) {
        XPS_LOG(XPS_LOG_ERROR, "tls", "%s: cannot set up TLS: %s", xps_socket_peer(c->socket),
                xps_strerror(error));
        teardown(c);
        return false;
    }
    return true;
}

// Accepts until the queue is empty: edge-triggered, one edge may announce
// many connections, and no new edge comes for those already queued. (Out of
// descriptors, the socket module refuses the waiting client so the queue
// still moves: XPS_E_LIMIT, logged there; we go on while clients wait.
// Only while: at the limit accept() fails with EMFILE even on an empty
// queue, since the kernel reserves the descriptor before it looks, so
// "go on" alone would spin here for ever.)
void accept_all(xps_loop_io_t *io, unsigned events, void *data) {
    (void)io;
    (void)events;
    auto *l = static_cast<xps_listener_t *>(data);
    for (;;) {
        int error = XPS_OK;
        xps_socket_t *s = xps_listen_socket_accept(l->socket, &error);
        if (!s && error == XPS_E_LIMIT && clients_waiting(l))
            continue;
        if (!s)
            return; // XPS_E_AGAIN: drained; anything else was logged by the socket module
        xps_tcp_cap_t *cap = l->options.cap;
        if (cap && cap->open >= cap->max) { // [stage 18] see xps_tcp_cap_t: closed at once
            if (cap->refused++ % 1000 == 0) // a flood would otherwise log a line per client
                XPS_LOG(XPS_LOG_WARN, "tcp", "%zu connections open (the cap): closing %s at once"
                        " (%llu refused so far)", cap->open, xps_socket_peer(s),
                        static_cast<unsigned long long>(cap->refused));
            xps_socket_destroy(s);
            continue;
        }
        xps_connection_t *c = connection_from_socket(l->loop, s, &l->options, &error);
        if (!c) {
            XPS_LOG(XPS_LOG_ERROR, "tcp", "cannot set up a connection: %s", xps_strerror(error));
            continue;
        }
        if (cap) {
            cap->open++;
            c->cap = cap;
        }
        if (l->options.tls && !use_tls(c, l->options.tls))
            continue;
        l->cb(l, c, l->data);
        if (l->destroyed) // by the callback: its memory lives until the batch ends
            return;
    }
}

void free_listener(void *p) { delete static_cast<xps_listener_t *>(p); }

void destroy_listener_member(void *l) { xps_listener_destroy(static_cast<xps_listener_t *>(l)); }

} // namespace

xps_tcp_options_t xps_tcp_default_options(void) noexcept {
    return xps_tcp_options_t{XPS_LOOP_EDGE, XPS_TCP_LINGER_MS, XPS_TCP_LINGER_BYTES, 0, 0, nullptr,
                             nullptr, false};
}

// ---------------------------------------------------------------- listener

xps_listener_t *xps_listener_create(xps_loop_t *loop, const char *host, uint16_t port,
                                    const xps_tcp_options_t *options, xps_listener_accept_cb cb,
                                    void *data, int *error) noexcept {
    assert(loop && host && cb);
    xps_listen_socket_t *socket = xps_listen_socket_create(host, port, SOMAXCONN, true, error);
    xps_listener_t *l = socket ? xps_listener_adopt(loop, socket, options, cb, data, error) : nullptr;
    if (l)
        XPS_LOG(XPS_LOG_INFO, "tcp", "listening on %s:%u", host, xps_listen_socket_port(socket));
    return l;
}

xps_listener_t *xps_listener_adopt(xps_loop_t *loop, xps_listen_socket_t *socket,
                                   const xps_tcp_options_t *options, xps_listener_accept_cb cb,
                                   void *data, int *error) noexcept {
    assert(loop && socket && cb);
    auto *l = new (std::nothrow) xps_listener_t{};
    if (!l) {
        xps_listen_socket_destroy(socket);
        *error = XPS_E_NOMEM;
        return nullptr;
    }
    *l = xps_listener_t{loop, nullptr, socket, nullptr,
                        options ? *options : xps_tcp_default_options(), cb, data, false};
    // [stage 21] an inherited socket may have been bound blocking; accept_all reads to EAGAIN
    int fd = xps_listen_socket_fd(socket);
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)) {
        *error = xps_error_from_errno(errno);
        XPS_LOG(XPS_LOG_ERROR, "tcp", "fcntl(O_NONBLOCK, fd %d): %s", fd, std::strerror(errno));
    } else {
        unsigned interest = XPS_LOOP_READABLE;
        if (l->options.accept_exclusive)
            interest |= XPS_LOOP_EXCLUSIVE;
        l->io = xps_loop_io_attach(loop, fd, interest, l->options.trigger, accept_all, l, error);
    }
    if (l->io && !(l->member = xps_core_add_member(xps_loop_core(loop), destroy_listener_member, l)))
        *error = XPS_E_NOMEM;
    if (!l->member) { // the failing call has logged why
        xps_loop_io_detach(l->io);
        xps_listen_socket_destroy(l->socket);
        delete l;
        return nullptr;
    }
    // (debug: each worker adopts every listener; its master said where it listens)
    XPS_LOG(XPS_LOG_DEBUG, "tcp", "listening on %s:%u", xps_listen_socket_host(socket),
            xps_listen_socket_port(socket));
    *error = XPS_OK;
    return l;
}

void xps_listener_destroy(xps_listener_t *l) noexcept {
    if (!l || l->destroyed)
        return;
    l->destroyed = true;
    xps_core_remove_member(l->member);
    xps_loop_io_detach(l->io);
    xps_listen_socket_destroy(l->socket);
    xps_core_defer_free(xps_loop_core(l->loop), free_listener, l);
}

uint16_t xps_listener_port(const xps_listener_t *l) noexcept {
    return xps_listen_socket_port(l->socket);
}

// -------------------------------------------------------------- connection

xps_connection_t *xps_connection_create(xps_loop_t *loop, int fd, const xps_tcp_options_t *options,
                                        int *error) noexcept {
    xps_tcp_options_t opts = options ? *options : xps_tcp_default_options();
    xps_socket_t *s = xps_socket_adopt(fd, error);
    if (!s) {
        close(fd);
        return nullptr;
    }
    if ((*error = xps_socket_set_nonblocking(s, true)) != XPS_OK) {
        xps_socket_destroy(s);
        return nullptr;
    }
    opts.tls = nullptr; // see xps_tcp_options_t.tls: listeners only
    return connection_from_socket(loop, s, &opts, error);
}

void xps_connection_destroy(xps_connection_t *c) noexcept {
    if (c)
        teardown(c);
}

int xps_connection_attach_source(xps_connection_t *c, xps_pipe_t *pipe) noexcept {
    assert(c->state == conn_state::open && !parking(c));
    if (c->source_pipe || xps_pipe_attach_source(pipe, produce, sink_gone, c) != XPS_OK)
        return XPS_E_FAIL;
    c->source_pipe = pipe;
    c->had_pipes = true;
    xps_pipe_set_source_ready(pipe, c->readable); // an edge may have come already
    return XPS_OK;
}

int xps_connection_attach_sink(xps_connection_t *c, xps_pipe_t *pipe) noexcept {
    assert(c->state == conn_state::open && !parking(c));
    if (c->sink_pipe || xps_pipe_attach_sink(pipe, consume, source_done, c) != XPS_OK)
        return XPS_E_FAIL;
    c->sink_pipe = pipe;
    c->had_pipes = true;
    xps_pipe_set_sink_ready(pipe, c->writable);
    return XPS_OK;
}

int xps_connection_park(xps_connection_t *c, xps_connection_wake_cb wake, void *data) noexcept {
    assert(wake);
    if (c->state != conn_state::open || parking(c) || !c->source_pipe || !c->sink_pipe)
        return XPS_E_INVAL;
    c->wake = wake, c->wake_data = data;
    c->on_close = nullptr, c->close_data = nullptr;
    return XPS_OK;
}

int xps_connection_unpark(xps_connection_t *c) noexcept {
    if (c->state != conn_state::open || !parking(c) || c->source_pipe || c->sink_pipe)
        return XPS_E_INVAL;
    c->wake = nullptr, c->wake_data = nullptr;
    c->had_pipes = false; // as after an accept: "no pipe" is not "done"
    stop_timer(c);
    return XPS_OK;
}

void xps_connection_set_linger(xps_connection_t *c, bool on) noexcept { c->may_linger = on; }

void xps_connection_on_close(xps_connection_t *c, xps_connection_close_cb cb, void *data) noexcept {
    c->on_close = cb;
    c->close_data = data;
}

const char *xps_connection_peer(const xps_connection_t *c) noexcept {
    return xps_socket_peer(c->socket);
}

int xps_connection_fd(const xps_connection_t *c) noexcept { return xps_socket_fd(c->socket); }

int xps_connection_start_tls(xps_connection_t *c, xps_tls_client_t *client,
                             const char *server_name, const char *peer_name) noexcept {
    if (c->tls)
        return XPS_E_INVAL;
    int error = XPS_OK;
    xps_tls_conn_t *conn = xps_tls_connect(client, xps_socket_fd(c->socket), server_name,
                                           peer_name, &error);
    return conn ? attach_tls(c, conn) : error;
}

const xps_tls_conn_t *xps_connection_tls(const xps_connection_t *c) noexcept {
    return c->tls ? c->tls->conn : nullptr;
}
