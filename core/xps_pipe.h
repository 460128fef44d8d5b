/*
 * core/xps_pipe.h — a one-way, flow-controlled channel between two modules.
 *
 * Introduced in stage 07. A pipe has one source (writes bytes in) and one
 * sink (takes bytes out). Everything that moves data in xps is a pipe end:
 * a connection is the source of the bytes it reads and the sink of the bytes
 * it sends; a file is a source; later, filters (gzip, TLS) are a sink on one
 * pipe and a source on the next. Any source can feed any sink.
 *
 *      source ──write──▶ [ buffer | buffer | file range ] ──peek/consume──▶ sink
 *                         └─────── len ≤ threshold ───────┘
 *
 * Back-pressure: the pipe holds at most about `threshold` bytes. A source
 * is asked to produce only while the pipe is below it, so a fast source
 * stops reading its socket and TCP pushes back on the peer; memory stays
 * bounded however fast the peer sends. A sink is asked to consume only
 * while the pipe holds data.
 *
 * Readiness: each end tells the pipe whether it can work right now
 * (xps_pipe_set_source_ready / xps_pipe_set_sink_ready), e.g. "my socket is
 * readable" or "my socket took everything and said EAGAIN". The pipe then
 * calls produce() when the source is ready and there is room, and consume()
 * when the sink is ready and there is data. These calls are made from a task
 * on the core's ready queue, never from inside xps_pipe_write() or another
 * pipe call, so a callback never runs re-entrantly. A ready end that is
 * called must make progress or mark itself not ready; otherwise it is
 * called again every round.
 *
 * Moving, not copying: xps_pipe_write() takes the caller's buffer into the
 * pipe as it is; the sink reads it in place (peek, then consume).
 * A file source may write a file range instead of bytes, so a plain socket
 * sink can hand it to sendfile() and the bytes never enter user space.
 *
 * Closing: when the source detaches (end of stream), the sink is told
 * source_done() once it has consumed every byte: nothing is lost. When the
 * sink detaches, whatever it left is dropped and the source is told
 * sink_gone() at once: nobody will read. Each end detaches exactly once; the
 * pipe frees itself (deferred) when both have.
 *
 * Lifecycle: create → attach both ends → ... → both ends detach (the pipe is
 * then freed), or destroy() when a set-up fails before both ends attach.
 * Ownership: the pipe owns the buffers written into it and a duplicate of
 * every file descriptor in a file range. Threading: none.
 */
#ifndef XPS_CORE_PIPE_H
#define XPS_CORE_PIPE_H

#include "core/xps.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A pipe callback; `data` is what the end gave when attaching. It may
 * detach its own end or destroy its owner; the pipe stays valid until the
 * current batch of callbacks ends. */
typedef void (*xps_pipe_cb)(xps_pipe_t *pipe, void *data);

/* The first item waiting in the pipe: bytes, or a range of a file. */
typedef struct xps_pipe_chunk {
    const char *bytes; /* the bytes, or NULL for a file range */
    size_t len;        /* bytes available in this item */
    int fd;            /* for a file range: a descriptor the pipe owns; else -1 */
    int64_t offset;    /* for a file range: where in the file the item starts */
} xps_pipe_chunk_t;

/* Default threshold: 1 MiB (the course's DEFAULT_PIPE_BUFF_THRESH is 1 MB):
 * enough to keep a gigabit stream busy through one loop round, small enough
 * that ten thousand slow clients fit in memory. */
#define XPS_PIPE_DEFAULT_THRESHOLD ((size_t)1 << 20)

/* ---------------------------------------------------------- lifecycle */

/* A new pipe whose callbacks run from `core`'s ready queue. threshold > 0.
 * NULL when out of memory. */
xps_pipe_t *xps_pipe_create(xps_core_t *core, size_t threshold) XPS_NOEXCEPT;

/* Frees a pipe none of whose ends is attached now: for a set-up that failed
 * half-way (detach the end that did attach, then destroy). A pipe whose two
 * ends both attached frees itself once both have detached. Accepts NULL. */
void xps_pipe_destroy(xps_pipe_t *pipe) XPS_NOEXCEPT;

/* Attaches the source. produce(): the source is ready and the pipe has
 * room — write. sink_gone(): the sink detached — stop and detach. Fails
 * with XPS_E_FAIL if a source was ever attached. A new end is not ready. */
int xps_pipe_attach_source(xps_pipe_t *pipe, xps_pipe_cb produce, xps_pipe_cb sink_gone,
                           void *data) XPS_NOEXCEPT;

/* Attaches the sink. consume(): the sink is ready and the pipe holds data
 * — take some. source_done(): the source detached and every byte has been
 * consumed — finish and detach. Fails with XPS_E_FAIL if a sink was ever
 * attached. */
int xps_pipe_attach_sink(xps_pipe_t *pipe, xps_pipe_cb consume, xps_pipe_cb source_done,
                         void *data) XPS_NOEXCEPT;

/* The source is finished (end of stream, or it is being destroyed). No
 * more callbacks reach it. The sink gets source_done() after draining. */
void xps_pipe_detach_source(xps_pipe_t *pipe) XPS_NOEXCEPT;

/* The sink is finished. No more callbacks reach it; unread bytes are
 * dropped; the source gets sink_gone(). */
void xps_pipe_detach_sink(xps_pipe_t *pipe) XPS_NOEXCEPT;

/* --------------------------------------------------------- readiness */

void xps_pipe_set_source_ready(xps_pipe_t *pipe, bool ready) XPS_NOEXCEPT;
void xps_pipe_set_sink_ready(xps_pipe_t *pipe, bool ready) XPS_NOEXCEPT;

/* ------------------------------------------------------- source side */

/* Takes ownership of `buffer` and queues its unread bytes (also before the
 * sink has attached: it will read them). Returns XPS_OK; XPS_E_CLOSED when
 * the sink has detached; XPS_E_NOMEM. On failure the buffer is destroyed:
 * the caller never owns it after the call. Writing past the threshold is
 * allowed; it only stops further produce() calls. */
int xps_pipe_write(xps_pipe_t *pipe, xps_buffer_t *buffer) XPS_NOEXCEPT;

/* Queues `len` bytes of the file open on `fd`, starting at `offset`. The
 * pipe keeps its own duplicate of fd, so the source may close its own.
 * Returns XPS_OK; XPS_E_CLOSED (sink gone); XPS_E_LIMIT (no descriptor for
 * the duplicate); XPS_E_NOMEM; XPS_E_FAIL (fd unusable, logged). */
int xps_pipe_write_file(xps_pipe_t *pipe, int fd, int64_t offset, size_t len) XPS_NOEXCEPT;

/* Bytes ever queued into the pipe (buffers and file ranges, whether sent
 * yet or not): a response's size is the difference across it. */
uint64_t xps_pipe_written(const xps_pipe_t *pipe) XPS_NOEXCEPT;

/* Bytes that fit before the threshold (0 when at or over it). */
size_t xps_pipe_room(const xps_pipe_t *pipe) XPS_NOEXCEPT;

/* --------------------------------------------------------- sink side */

/* Describes the first item without consuming it. Returns XPS_OK, or
 * XPS_E_AGAIN when the pipe is empty. */
int xps_pipe_peek(const xps_pipe_t *pipe, xps_pipe_chunk_t *chunk) XPS_NOEXCEPT;

/* Drops `n` bytes from the front (n <= len), across items. */
void xps_pipe_consume(xps_pipe_t *pipe, size_t n) XPS_NOEXCEPT;

/* Copies up to `max` bytes from the front into `dst` and consumes them;
 * file ranges are read with pread(). *copied gets the count (0 when the
 * pipe is empty). Returns XPS_OK, or an error code, logged, if reading a
 * file range failed (XPS_E_EOF if the file is shorter than the range). For parsers and
 * tests; a socket sink should peek and send in place. */
int xps_pipe_read(xps_pipe_t *pipe, void *dst, size_t max, size_t *copied) XPS_NOEXCEPT;

/* Bytes waiting in the pipe, counting file ranges. */
size_t xps_pipe_len(const xps_pipe_t *pipe) XPS_NOEXCEPT;

/* ---------------------------------------------------------- accessors */

bool xps_pipe_has_source(const xps_pipe_t *pipe) XPS_NOEXCEPT;
bool xps_pipe_has_sink(const xps_pipe_t *pipe) XPS_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* XPS_CORE_PIPE_H */
