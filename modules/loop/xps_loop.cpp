// modules/loop/xps_loop.cpp — see xps_loop.h.
#include "modules/loop/xps_loop.h"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstring>
#include <new>
#include <vector>

#include "core/xps_core.h"
#include "core/xps_logger.h"

struct xps_loop_io_s {
    xps_loop_t *loop;            // the loop it is registered with
    int fd;                      // watched, not owned
    unsigned interest;           // XPS_LOOP_READABLE | XPS_LOOP_WRITABLE
    xps_loop_trigger_t trigger;  // level or edge
    xps_loop_io_cb cb;
    void *data;
    bool detached;               // no more callbacks; freed at collect
    xps_loop_io_t *prev, *next;  // the loop's list of attached watchers
};

struct xps_loop_timer_s {
    xps_loop_t *loop;
    xps_loop_timer_cb cb;
    void *data;
    uint64_t deadline;  // when it is due, in xps_loop_now_ms() time
    uint64_t seq;       // arming order: breaks ties between equal deadlines
    size_t slot;        // index in the loop's heap, or not_armed
    bool destroyed;
    xps_loop_timer_t *prev, *next; // the loop's list of live timers (for destroy)
};

struct xps_loop_signal_s {
    xps_loop_t *loop;
    int fd;              // the signalfd, owned
    sigset_t mask;       // the signals it takes over
    xps_loop_io_t *io;   // watches fd
    xps_loop_signal_cb cb;
    void *data;
};

struct xps_loop_s {
    xps_core_t *core;                    // runs its tasks and frees; borrowed
    xps_core_member_t *member;           // our membership of the core
    int epfd;                            // the epoll instance, owned
    bool stopping;                       // xps_loop_stop() was called
    uint64_t now;                        // monotonic ms at this iteration
    uint64_t next_seq;                   // for timer arming order
    std::vector<xps_loop_timer_t *> heap;  // armed timers, min-heap on (deadline, seq)
    xps_loop_io_t *ios;                  // attached watchers (for destroy)
    xps_loop_timer_t *timers;            // live timers, armed or not (for destroy)
    std::vector<xps_loop_signal_t *> signals;  // attached; detached by destroy if still there
    std::vector<epoll_event> events;     // epoll_wait's output array
};

namespace {

constexpr size_t not_armed = static_cast<size_t>(-1);
constexpr size_t max_events = 256; // per epoll_wait; more simply wait for the next call

uint64_t monotonic_ms() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000u + static_cast<uint64_t>(ts.tv_nsec) / 1000000u;
}

uint32_t to_epoll(unsigned interest, xps_loop_trigger_t trigger) {
    uint32_t ev = 0;
    if (interest & XPS_LOOP_READABLE)
        ev |= EPOLLIN;
    if (interest & XPS_LOOP_WRITABLE)
        ev |= EPOLLOUT;
    if (trigger == XPS_LOOP_EDGE)
        ev |= EPOLLET;
    // [stage 21] EPOLLEXCLUSIVE takes only IN, OUT, ET (and WAKEUP): no
    // RDHUP, which a listening socket, the one use of it, never has anyway.
    if (interest & XPS_LOOP_EXCLUSIVE)
        return ev | EPOLLEXCLUSIVE;
    // EPOLLERR and EPOLLHUP are always reported. EPOLLHUP alone misses a TCP
    // peer's orderly close (FIN: only our reading side is shut), which
    // epoll reports only as EPOLLRDHUP, and only when asked for.
    return ev | EPOLLRDHUP;
}

unsigned from_epoll(uint32_t ev) {
    unsigned out = 0;
    if (ev & EPOLLIN)
        out |= XPS_LOOP_READABLE;
    if (ev & EPOLLOUT)
        out |= XPS_LOOP_WRITABLE;
    if (ev & (EPOLLHUP | EPOLLRDHUP))
        out |= XPS_LOOP_HANGUP;
    if (ev & EPOLLERR)
        out |= XPS_LOOP_ERROR;
    return out;
}

// ---------------------------------------------------------- timer heap

bool earlier(const xps_loop_timer_t *a, const xps_loop_timer_t *b) {
    return a->deadline != b->deadline ? a->deadline < b->deadline : a->seq < b->seq;
}

void heap_set(xps_loop_t *loop, size_t i, xps_loop_timer_t *t) {
    loop->heap[i] = t;
    t->slot = i;
}

void sift_up(xps_loop_t *loop, size_t i) {
    xps_loop_timer_t *t = loop->heap[i];
    while (i > 0 && earlier(t, loop->heap[(i - 1) / 2])) {
        heap_set(loop, i, loop->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_set(loop, i, t);
}

void sift_down(xps_loop_t *loop, size_t i) {
    std::vector<xps_loop_timer_t *> &h = loop->heap;
    xps_loop_timer_t *t = h[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h.size())
            break;
        if (child + 1 < h.size() && earlier(h[child + 1], h[child]))
            child++;
        if (!earlier(h[child], t))
            break;
        heap_set(loop, i, h[child]);
        i = child;
    }
    heap_set(loop, i, t);
}

void heap_remove(xps_loop_t *loop, xps_loop_timer_t *t) {
    size_t i = t->slot;
    xps_loop_timer_t *last = loop->heap.back();
    loop->heap.pop_back();
    t->slot = not_armed;
    if (last == t)
        return;
    heap_set(loop, i, last);
    sift_down(loop, i);
    sift_up(loop, last->slot);
}

// --------------------------------------------------------- one iteration

// How long epoll_wait may sleep: not at all with tasks queued or a stop
// pending, until the nearest timer otherwise, forever with no timers.
int wait_timeout(xps_loop_t *loop) {
    if (loop->stopping || xps_core_has_tasks(loop->core))
        return 0;
    if (loop->heap.empty())
        return -1;
    uint64_t due = loop->heap.front()->deadline, now = monotonic_ms();
    return due <= now ? 0 : static_cast<int>(due - now < 86400000u ? due - now : 86400000u);
}

void dispatch_io(xps_loop_t *loop, int n) {
    for (int i = 0; i < n; i++) {
        auto *io = static_cast<xps_loop_io_t *>(loop->events[static_cast<size_t>(i)].data.ptr);
        // Detached earlier in this batch: a stale event for freed-later memory.
        if (io->detached)
            continue;
        io->cb(io, from_epoll(loop->events[static_cast<size_t>(i)].events), io->data);
    }
}

void fire_timers(xps_loop_t *loop) {
    // Only timers armed before this phase: one re-armed with delay 0 from
    // its own callback waits for the next iteration instead of looping here.
    uint64_t armed_before = loop->next_seq;
    while (!loop->heap.empty()) {
        xps_loop_timer_t *t = loop->heap.front();
        if (t->deadline > loop->now || t->seq >= armed_before)
            break;
        heap_remove(loop, t);
        t->cb(t, t->data);
    }
}

void free_io(void *p) { delete static_cast<xps_loop_io_t *>(p); }
void free_timer(void *p) { delete static_cast<xps_loop_timer_t *>(p); }

void destroy_as_member(void *loop) { xps_loop_destroy(static_cast<xps_loop_t *>(loop)); }

void on_signalfd(xps_loop_io_t *io, unsigned events, void *data) {
    (void)io;
    (void)events;
    auto *s = static_cast<xps_loop_signal_t *>(data);
    signalfd_siginfo info;
    // Level-triggered: one signal per callback keeps each delivery simple.
    ssize_t n = read(s->fd, &info, sizeof info);
    if (n == static_cast<ssize_t>(sizeof info))
        s->cb(s, static_cast<int>(info.ssi_signo), s->data);
}

} // namespace

// -------------------------------------------------------------- lifecycle

xps_loop_t *xps_loop_create(xps_core_t *core, int *error) noexcept {
    assert(core);
    *error = XPS_E_NOMEM;
    auto *loop = new (std::nothrow) xps_loop_t{};
    if (!loop)
        return nullptr;
    loop->core = core;
    loop->now = monotonic_ms();
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0) {
        *error = xps_error_from_errno(errno);
        XPS_LOG(XPS_LOG_ERROR, "loop", "epoll_create1: %s", std::strerror(errno));
        delete loop;
        return nullptr;
    }
    try {
        loop->events.resize(max_events);
    } catch (const std::bad_alloc &) {
        close(loop->epfd);
        delete loop;
        return nullptr;
    }
    loop->member = xps_core_add_member(core, destroy_as_member, loop);
    if (!loop->member) {
        close(loop->epfd);
        delete loop;
        return nullptr;
    }
    // A server never wants SIGPIPE: send() uses MSG_NOSIGNAL, but sendfile()
    // has no such flag and would kill the process when a client has gone.
    signal(SIGPIPE, SIG_IGN);
    *error = XPS_OK;
    return loop;
}

void xps_loop_destroy(xps_loop_t *loop) noexcept {
    if (!loop)
        return;
    xps_core_remove_member(loop->member);
    // Signal watchers usually live as long as the loop: detach them here.
    while (!loop->signals.empty())
        xps_loop_signal_detach(loop->signals.back());
    // Every timer not destroyed yet, armed or stopped: their owners outlived
    // the loop and must not touch them now.
    size_t leftovers = 0;
    while (xps_loop_timer_t *t = loop->timers) {
        loop->timers = t->next;
        delete t;
        leftovers++;
    }
    loop->heap.clear();
    while (xps_loop_io_t *io = loop->ios) {
        loop->ios = io->next;
        delete io;
        leftovers++;
    }
    if (leftovers)
        XPS_LOG(XPS_LOG_WARN, "loop", "destroyed with %zu watcher(s) still attached", leftovers);
    close(loop->epfd);
    xps_core_collect(loop->core); // records of watchers detached just before
    delete loop;
}

int xps_loop_run(xps_loop_t *loop) noexcept {
    loop->stopping = false;
    while (!loop->stopping) {
        int n = epoll_wait(loop->epfd, loop->events.data(), static_cast<int>(max_events),
                           wait_timeout(loop));
        if (n < 0 && errno != EINTR) {
            XPS_LOG(XPS_LOG_ERROR, "loop", "epoll_wait: %s", std::strerror(errno));
            return xps_error_from_errno(errno);
        }
        loop->now = monotonic_ms();
        if (n > 0)
            dispatch_io(loop, n);
        fire_timers(loop);
        for (int round = 0; round < XPS_LOOP_TASK_ROUNDS; round++)
            if (xps_core_run_tasks(loop->core) == 0)
                break;
        xps_core_collect(loop->core);
    }
    return XPS_OK;
}

void xps_loop_stop(xps_loop_t *loop) noexcept { loop->stopping = true; }
xps_core_t *xps_loop_core(const xps_loop_t *loop) noexcept { return loop->core; }
uint64_t xps_loop_now_ms(const xps_loop_t *loop) noexcept { return loop->now; }

// ------------------------------------------------------------ descriptors

xps_loop_io_t *xps_loop_io_attach(xps_loop_t *loop, int fd, unsigned interest,
                                  xps_loop_trigger_t trigger, xps_loop_io_cb cb, void *data,
                                  int *error) noexcept {
    assert(cb && fd >= 0);
    auto *io = new (std::nothrow) xps_loop_io_t{loop, fd, interest, trigger, cb, data, false,
                                                nullptr, loop->ios};
    if (!io) {
        *error = XPS_E_NOMEM;
        return nullptr;
    }
    epoll_event ev{};
    ev.events = to_epoll(interest, trigger);
    ev.data.ptr = io; // the callback finds its watcher without any lookup
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        *error = errno == EEXIST ? XPS_E_FAIL : xps_error_from_errno(errno);
        XPS_LOG(XPS_LOG_ERROR, "loop", "epoll_ctl(ADD, fd %d): %s", fd, std::strerror(errno));
        delete io;
        return nullptr;
    }
    if (loop->ios)
        loop->ios->prev = io;
    loop->ios = io;
    *error = XPS_OK;
    return io;
}

int xps_loop_io_modify(xps_loop_io_t *io, unsigned interest) noexcept {
    assert(!io->detached);
    if (interest == io->interest)
        return XPS_OK;
    epoll_event ev{};
    ev.events = to_epoll(interest, io->trigger);
    ev.data.ptr = io;
    if (epoll_ctl(io->loop->epfd, EPOLL_CTL_MOD, io->fd, &ev) != 0) {
        XPS_LOG(XPS_LOG_ERROR, "loop", "epoll_ctl(MOD, fd %d): %s", io->fd, std::strerror(errno));
        return xps_error_from_errno(errno);
    }
    io->interest = interest;
    return XPS_OK;
}

void xps_loop_io_detach(xps_loop_io_t *io) noexcept {
    if (!io)
        return;
    assert(!io->detached);
    xps_loop_t *loop = io->loop;
    // Explicit removal, not "close() removes it": a dup'd or forked
    // descriptor would keep the registration alive.
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, nullptr);
    io->detached = true;
    if (io->prev)
        io->prev->next = io->next;
    else
        loop->ios = io->next;
    if (io->next)
        io->next->prev = io->prev;
    xps_core_defer_free(loop->core, free_io, io);
}

int xps_loop_io_fd(const xps_loop_io_t *io) noexcept { return io->fd; }

// ----------------------------------------------------------------- timers

xps_loop_timer_t *xps_loop_timer_create(xps_loop_t *loop, xps_loop_timer_cb cb,
                                        void *data) noexcept {
    assert(cb);
    auto *t = new (std::nothrow)
        xps_loop_timer_t{loop, cb, data, 0, 0, not_armed, false, nullptr, loop->timers};
    if (!t)
        return nullptr;
    if (loop->timers)
        loop->timers->prev = t;
    loop->timers = t;
    return t;
}

void xps_loop_timer_start(xps_loop_timer_t *t, uint64_t delay_ms) noexcept {
    assert(!t->destroyed);
    xps_loop_t *loop = t->loop;
    if (t->slot != not_armed)
        heap_remove(loop, t);
    t->deadline = monotonic_ms() + delay_ms;
    t->seq = loop->next_seq++;
    try {
        loop->heap.push_back(t);
    } catch (const std::bad_alloc &) {
        XPS_LOG(XPS_LOG_ERROR, "loop", "out of memory arming a timer");
        return;
    }
    sift_up(loop, loop->heap.size() - 1);
}

void xps_loop_timer_stop(xps_loop_timer_t *t) noexcept {
    if (t->slot != not_armed)
        heap_remove(t->loop, t);
}

bool xps_loop_timer_active(const xps_loop_timer_t *t) noexcept { return t->slot != not_armed; }

void xps_loop_timer_destroy(xps_loop_timer_t *t) noexcept {
    if (!t)
        return;
    xps_loop_timer_stop(t);
    t->destroyed = true;
    xps_loop_t *loop = t->loop;
    if (t->prev)
        t->prev->next = t->next;
    else
        loop->timers = t->next;
    if (t->next)
        t->next->prev = t->prev;
    xps_core_defer_free(loop->core, free_timer, t);
}

// ---------------------------------------------------------------- signals

xps_loop_signal_t *xps_loop_signal_attach(xps_loop_t *loop, const int *signals, size_t count,
                                          xps_loop_signal_cb cb, void *data,
                                          int *error) noexcept {
    auto *s = new (std::nothrow) xps_loop_signal_t{};
    if (!s) {
        *error = XPS_E_NOMEM;
        return nullptr;
    }
    *s = xps_loop_signal_t{loop, -1, {}, nullptr, cb, data};
    sigemptyset(&s->mask);
    for (size_t i = 0; i < count; i++)
        sigaddset(&s->mask, signals[i]);
    // Blocked signals wait in the signalfd instead of interrupting the process.
    sigprocmask(SIG_BLOCK, &s->mask, nullptr);
    s->fd = signalfd(-1, &s->mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (s->fd < 0) {
        *error = xps_error_from_errno(errno);
        XPS_LOG(XPS_LOG_ERROR, "loop", "signalfd: %s", std::strerror(errno));
        sigprocmask(SIG_UNBLOCK, &s->mask, nullptr);
        delete s;
        return nullptr;
    }
    s->io = xps_loop_io_attach(loop, s->fd, XPS_LOOP_READABLE, XPS_LOOP_LEVEL, on_signalfd, s, error);
    if (s->io) {
        try {
            loop->signals.push_back(s);
        } catch (const std::bad_alloc &) {
            xps_loop_io_detach(s->io);
            s->io = nullptr;
            *error = XPS_E_NOMEM;
        }
    }
    if (!s->io) {
        close(s->fd);
        sigprocmask(SIG_UNBLOCK, &s->mask, nullptr);
        delete s;
        return nullptr;
    }
    return s;
}

void xps_loop_signal_detach(xps_loop_signal_t *s) noexcept {
    if (!s)
        return;
    std::vector<xps_loop_signal_t *> &all = s->loop->signals;
    for (size_t i = 0; i < all.size(); i++)
        if (all[i] == s)
            all.erase(all.begin() + static_cast<long>(i));
    xps_loop_io_detach(s->io);
    close(s->fd);
    sigprocmask(SIG_UNBLOCK, &s->mask, nullptr);
    delete s; // on_signalfd reads s only through an attached io: never again
}
