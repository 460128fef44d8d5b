/*
 * modules/loop/xps_loop.h — the event loop: epoll, timers, signals, and the
 * core's ready queue, in one single-threaded loop per process.
 *
 * Introduced in stage 06 (edge-triggered registrations are used from stage
 * 07, timers from stage 18). One iteration:
 *
 *   1. wait in epoll_wait() — not at all if the core has tasks queued,
 *      otherwise until the nearest timer is due (or forever if none);
 *   2. call the I/O callbacks of the descriptors epoll reported;
 *   3. call the callbacks of the timers that are due;
 *   4. run the tasks on the core's ready queue (pipes with work, ...),
 *      and the tasks those post, round after round until the queue is
 *      empty or XPS_LOOP_TASK_ROUNDS rounds have run: a request travels
 *      socket → pipe → session → pipe → socket in one iteration, not one
 *      epoll_wait() per hop, and a task that keeps posting itself still
 *      lets the loop come back to epoll;
 *   5. run the deferred frees (xps_core_collect): objects destroyed during
 *      1-4 are freed only now, so no callback ever touches freed memory.
 *
 * Each iteration touches only what has work: the descriptors epoll reports,
 * the due timers, the posted tasks. Nothing scans every connection.
 *
 * Callbacks find their object through epoll_event.data.ptr (no fd lookup).
 * Any callback may detach/destroy any watcher, its own included: a watcher
 * detached in the middle of a batch gets no further callbacks, even for
 * events epoll already reported in that batch (they are stale), and its
 * memory is freed at step 5.
 *
 * Lifecycle: create (joins the core as a member) → attach watchers → run
 * (until stop) → destroy (or destroy the core). Ownership: the loop owns its
 * watchers' records, never the descriptors (closing them is the caller's).
 * Errors: XPS_E_NOMEM, XPS_E_LIMIT (no descriptor for epoll), XPS_E_FAIL.
 * Threading: none; one loop per process (per worker in stage 21).
 */
#ifndef XPS_MODULES_LOOP_H
#define XPS_MODULES_LOOP_H

#include "core/xps.h"

/* Rounds of tasks per iteration (step 4); see above. */
#define XPS_LOOP_TASK_ROUNDS 16

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xps_loop_io_s xps_loop_io_t;
typedef struct xps_loop_timer_s xps_loop_timer_t;
typedef struct xps_loop_signal_s xps_loop_signal_t;

/* Interest and event bits for descriptors. */
enum {
    XPS_LOOP_READABLE = 1u << 0, /* data (or a connection) to read */
    XPS_LOOP_WRITABLE = 1u << 1, /* room to write */
    XPS_LOOP_HANGUP = 1u << 2,   /* event only: the peer hung up (EPOLLHUP/RDHUP); bytes
                                    may still be unread: read to EOF first */
    XPS_LOOP_ERROR = 1u << 3,    /* event only: an error is pending (EPOLLERR) */
    XPS_LOOP_EXCLUSIVE = 1u << 4, /* [stage 21] attach only: when several processes'
                                    loops watch one shared descriptor (a listening
                                    socket inherited through fork), a readiness wakes
                                    one of them, not all (EPOLLEXCLUSIVE: no thundering
                                    herd). Not accepted by xps_loop_io_modify. */
};

/* How readiness is reported for a descriptor. */
typedef enum xps_loop_trigger {
    /* Reported as long as it holds: simple, but a writable socket is
     * reported on every iteration (stage 07's CPU-spin experiment). */
    XPS_LOOP_LEVEL = 0,
    /* Reported once per change: the callback must then read (or write)
     * until EAGAIN, or it will not hear about that descriptor again. */
    XPS_LOOP_EDGE = 1,
} xps_loop_trigger_t;

/* `events` is a mix of XPS_LOOP_* bits. May detach `io` or destroy its
 * owner. */
typedef void (*xps_loop_io_cb)(xps_loop_io_t *io, unsigned events, void *data);
/* The timer is no longer active when this runs; it may start it again. */
typedef void (*xps_loop_timer_cb)(xps_loop_timer_t *timer, void *data);
/* One call per signal delivered. */
typedef void (*xps_loop_signal_cb)(xps_loop_signal_t *signal, int signo, void *data);

/* ---------------------------------------------------------- lifecycle */

/* A new loop that runs `core`'s ready queue and deferred frees, and is
 * destroyed with the core. NULL and *error on failure. */
xps_loop_t *xps_loop_create(xps_core_t *core, int *error) XPS_NOEXCEPT;

/* Destroys the loop and any watcher still attached (their descriptors are
 * left open). Not from inside xps_loop_run. Accepts NULL. */
void xps_loop_destroy(xps_loop_t *loop) XPS_NOEXCEPT;

/* Runs iterations until xps_loop_stop() is called, then finishes the
 * current iteration and returns XPS_OK; returns an error code if epoll
 * fails for a reason other than EINTR. */
int xps_loop_run(xps_loop_t *loop) XPS_NOEXCEPT;

/* Asks xps_loop_run to return after the current iteration. Call it from a
 * callback: a stop requested before xps_loop_run starts is forgotten. */
void xps_loop_stop(xps_loop_t *loop) XPS_NOEXCEPT;

xps_core_t *xps_loop_core(const xps_loop_t *loop) XPS_NOEXCEPT;

/* Milliseconds on a monotonic clock, read at the start of this iteration
 * (cheap: no system call). */
uint64_t xps_loop_now_ms(const xps_loop_t *loop) XPS_NOEXCEPT;

/* -------------------------------------------------------- descriptors */

/* Watches `fd` for `interest` (READABLE and/or WRITABLE; hang-ups and
 * errors are always reported) with the given trigger mode. NULL and
 * *error on failure (e.g. the fd is already watched: XPS_E_FAIL). */
xps_loop_io_t *xps_loop_io_attach(xps_loop_t *loop, int fd, unsigned interest,
                                  xps_loop_trigger_t trigger, xps_loop_io_cb cb, void *data,
                                  int *error) XPS_NOEXCEPT;

/* Changes what is watched (e.g. WRITABLE only while there is output). */
int xps_loop_io_modify(xps_loop_io_t *io, unsigned interest) XPS_NOEXCEPT;

/* Stops watching: removed from epoll now, no further callbacks, memory
 * freed after the current batch. Call it before closing the descriptor.
 * Accepts NULL. */
void xps_loop_io_detach(xps_loop_io_t *io) XPS_NOEXCEPT;

int xps_loop_io_fd(const xps_loop_io_t *io) XPS_NOEXCEPT;

/* ------------------------------------------------------------- timers */

/* A stopped timer. NULL when out of memory. */
xps_loop_timer_t *xps_loop_timer_create(xps_loop_t *loop, xps_loop_timer_cb cb,
                                        void *data) XPS_NOEXCEPT;

/* Arms the timer to fire once, `delay_ms` from now (0: in this or the next
 * iteration). Re-arming an active timer moves its deadline. Timers due at
 * the same time fire in the order they were armed. */
void xps_loop_timer_start(xps_loop_timer_t *timer, uint64_t delay_ms) XPS_NOEXCEPT;

/* Disarms it; it will not fire until started again. */
void xps_loop_timer_stop(xps_loop_timer_t *timer) XPS_NOEXCEPT;

bool xps_loop_timer_active(const xps_loop_timer_t *timer) XPS_NOEXCEPT;

/* Stops and destroys it; safe inside any callback. Accepts NULL. */
void xps_loop_timer_destroy(xps_loop_timer_t *timer) XPS_NOEXCEPT;

/* ------------------------------------------------------------ signals */

/* Delivers the given signals through the loop (a signalfd) instead of
 * asynchronous handlers: the callback runs as an ordinary loop callback, so
 * it may destroy anything. The signals are blocked for the process while
 * attached. NULL and *error on failure. */
xps_loop_signal_t *xps_loop_signal_attach(xps_loop_t *loop, const int *signals, size_t count,
                                          xps_loop_signal_cb cb, void *data,
                                          int *error) XPS_NOEXCEPT;

/* Stops delivering and unblocks the signals. Accepts NULL. Signal watchers
 * still attached when the loop is destroyed are detached by it. */
void xps_loop_signal_detach(xps_loop_signal_t *signal) XPS_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* XPS_MODULES_LOOP_H */
