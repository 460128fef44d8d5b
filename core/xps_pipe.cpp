// core/xps_pipe.cpp — see xps_pipe.h.
//
// The pipe never calls an end from inside one of its own functions: every
// change that may give an end work (a write, a consume, a readiness flag, a
// detach) only posts the pipe's task, and the task makes the calls. So a
// source can write from inside consume() of another pipe, or detach from
// inside its own callback, without re-entering anything.
#include "core/xps_pipe.h"

#include <fcntl.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstring>
#include <list>
#include <new>

#include "core/xps_buffer.h"
#include "core/xps_core.h"
#include "core/xps_logger.h"

namespace {

// One item in the pipe: a buffer of bytes, or a range of an open file.
struct item {
    xps_buffer_t *buffer; // the bytes, owned; NULL for a file range
    int fd;               // file range: the pipe's own duplicate; else -1
    int64_t offset;       // file range: next byte to hand out
    size_t len;           // file range: bytes left (bytes items use the buffer's len)
};

// One end of the pipe, as the pipe sees it.
struct end {
    bool ever_attached;  // attach was called (an end attaches once)
    bool attached;       // attached and not yet detached
    bool ready;          // the end says it can work right now
    xps_pipe_cb work;    // produce() for the source, consume() for the sink
    xps_pipe_cb finish;  // sink_gone() for the source, source_done() for the sink
    void *data;          // given back to both callbacks
};

} // namespace

struct xps_pipe_s {
    xps_core_t *core;         // whose ready queue runs our task, borrowed
    xps_task_t *task;         // runs pipe_run(), owned
    size_t threshold;         // produce() only while len < threshold
    size_t len;               // bytes held, file ranges included
    uint64_t written;         // bytes ever queued (xps_pipe_written)
    std::list<item> items;    // front is read first. A list, not a deque: an
                              // empty list holds no memory (libstdc++'s empty
                              // deque holds 576 bytes), and a kept-alive idle
                              // connection has two empty pipes.
    end source;
    end sink;
    bool told_source_done;    // sink.finish has been called
    bool told_sink_gone;      // source.finish has been called
    bool freed;               // handed to deferred free
};

namespace {

size_t item_len(const item &it) { return it.buffer ? xps_buffer_len(it.buffer) : it.len; }

void drop_item(item &it) {
    if (it.buffer)
        xps_buffer_destroy(it.buffer);
    else
        close(it.fd);
}

void drop_all(xps_pipe_t *p) {
    for (item &it : p->items)
        drop_item(it);
    p->items.clear();
    p->len = 0;
}

bool wants_consume(const xps_pipe_t *p) { return p->sink.attached && p->sink.ready && p->len > 0; }

bool wants_produce(const xps_pipe_t *p) {
    return p->source.attached && p->source.ready && p->sink.attached && p->len < p->threshold;
}

// The source has finished and the sink has taken every byte.
bool owes_source_done(const xps_pipe_t *p) {
    return p->source.ever_attached && !p->source.attached && p->sink.attached && p->len == 0 &&
           !p->told_source_done;
}

// The sink has come and gone: writes are refused. (A sink not attached yet
// will read what is written before it comes.)
bool sink_has_left(const xps_pipe_t *p) { return p->sink.ever_attached && !p->sink.attached; }

bool owes_sink_gone(const xps_pipe_t *p) {
    return p->sink.ever_attached && !p->sink.attached && p->source.attached && !p->told_sink_gone;
}

bool has_work(const xps_pipe_t *p) {
    return wants_consume(p) || wants_produce(p) || owes_source_done(p) || owes_sink_gone(p);
}

void free_pipe(void *object) {
    auto *p = static_cast<xps_pipe_t *>(object);
    drop_all(p);
    delete p;
}

// Both ends are done with the pipe: stop the task and free after the batch.
void release(xps_pipe_t *p) {
    if (p->freed)
        return;
    p->freed = true;
    xps_task_destroy(p->task);
    xps_core_defer_free(p->core, free_pipe, p);
}

// Called after every change: posts the task if an end has work, frees the
// pipe once both ends have detached.
void schedule(xps_pipe_t *p) {
    if (p->freed)
        return;
    if (p->source.ever_attached && p->sink.ever_attached && !p->source.attached &&
        !p->sink.attached)
        release(p);
    else if (has_work(p))
        xps_task_post(p->task);
}

// The pipe's task. Each call may change anything (detach, write, consume),
// so every condition is re-read just before it is acted on.
void pipe_run(void *data) {
    auto *p = static_cast<xps_pipe_t *>(data);
    if (wants_consume(p))
        p->sink.work(p, p->sink.data);
    if (wants_produce(p))
        p->source.work(p, p->source.data);
    if (owes_source_done(p)) {
        p->told_source_done = true;
        p->sink.finish(p, p->sink.data);
    }
    if (owes_sink_gone(p)) {
        p->told_sink_gone = true;
        p->source.finish(p, p->source.data);
    }
    schedule(p); // still work (an end that stayed ready)? next round
}

int attach(xps_pipe_t *p, end *e, xps_pipe_cb work, xps_pipe_cb finish, void *data) {
    assert(work && finish);
    if (e->ever_attached)
        return XPS_E_FAIL;
    *e = end{true, true, false, work, finish, data};
    schedule(p);
    return XPS_OK;
}

} // namespace

// -------------------------------------------------------------- lifecycle

xps_pipe_t *xps_pipe_create(xps_core_t *core, size_t threshold) noexcept {
    assert(core && threshold > 0);
    auto *p = new (std::nothrow) xps_pipe_t{};
    if (!p)
        return nullptr;
    p->core = core;
    p->threshold = threshold;
    p->task = xps_task_create(core, pipe_run, p);
    if (!p->task) {
        delete p;
        return nullptr;
    }
    return p;
}

void xps_pipe_destroy(xps_pipe_t *p) noexcept {
    if (!p)
        return;
    assert(!p->source.attached && !p->sink.attached);
    release(p);
}

int xps_pipe_attach_source(xps_pipe_t *p, xps_pipe_cb produce, xps_pipe_cb sink_gone,
                           void *data) noexcept {
    return attach(p, &p->source, produce, sink_gone, data);
}

int xps_pipe_attach_sink(xps_pipe_t *p, xps_pipe_cb consume, xps_pipe_cb source_done,
                         void *data) noexcept {
    return attach(p, &p->sink, consume, source_done, data);
}

void xps_pipe_detach_source(xps_pipe_t *p) noexcept {
    assert(p->source.attached);
    p->source.attached = p->source.ready = false;
    schedule(p);
}

void xps_pipe_detach_sink(xps_pipe_t *p) noexcept {
    assert(p->sink.attached);
    p->sink.attached = p->sink.ready = false;
    drop_all(p); // nobody will read them
    schedule(p);
}

// -------------------------------------------------------------- readiness

void xps_pipe_set_source_ready(xps_pipe_t *p, bool ready) noexcept {
    p->source.ready = ready && p->source.attached;
    schedule(p);
}

void xps_pipe_set_sink_ready(xps_pipe_t *p, bool ready) noexcept {
    p->sink.ready = ready && p->sink.attached;
    schedule(p);
}

// ------------------------------------------------------------ source side

int xps_pipe_write(xps_pipe_t *p, xps_buffer_t *buffer) noexcept {
    size_t n = xps_buffer_len(buffer);
    if (sink_has_left(p) || n == 0) {
        xps_buffer_destroy(buffer);
        return sink_has_left(p) ? XPS_E_CLOSED : XPS_OK;
    }
    try {
        p->items.push_back(item{buffer, -1, 0, 0});
    } catch (const std::bad_alloc &) {
        xps_buffer_destroy(buffer);
        return XPS_E_NOMEM;
    }
    p->len += n;
    p->written += n;
    schedule(p);
    return XPS_OK;
}

int xps_pipe_write_file(xps_pipe_t *p, int fd, int64_t offset, size_t len) noexcept {
    if (sink_has_left(p))
        return XPS_E_CLOSED;
    if (len == 0)
        return XPS_OK;
    // Our own descriptor: the file source may close its copy (or be
    // destroyed) long before the sink has sent the range.
    int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (own < 0) {
        XPS_LOG(XPS_LOG_ERROR, "pipe", "duplicating fd %d for a file range: %s", fd,
                std::strerror(errno));
        return errno == EMFILE || errno == ENFILE ? XPS_E_LIMIT : XPS_E_FAIL;
    }
    try {
        p->items.push_back(item{nullptr, own, offset, len});
    } catch (const std::bad_alloc &) {
        close(own);
        return XPS_E_NOMEM;
    }
    p->len += len;
    p->written += len;
    schedule(p);
    return XPS_OK;
}

uint64_t xps_pipe_written(const xps_pipe_t *p) noexcept { return p->written; }

size_t xps_pipe_room(const xps_pipe_t *p) noexcept {
    return p->len < p->threshold ? p->threshold - p->len : 0;
}

// -------------------------------------------------------------- sink side

int xps_pipe_peek(const xps_pipe_t *p, xps_pipe_chunk_t *chunk) noexcept {
    if (p->items.empty())
        return XPS_E_AGAIN;
    const item &it = p->items.front();
    if (it.buffer)
        *chunk = xps_pipe_chunk_t{xps_buffer_data(it.buffer), xps_buffer_len(it.buffer), -1, 0};
    else
        *chunk = xps_pipe_chunk_t{nullptr, it.len, it.fd, it.offset};
    return XPS_OK;
}

void xps_pipe_consume(xps_pipe_t *p, size_t n) noexcept {
    assert(n <= p->len);
    p->len -= n;
    while (n > 0) {
        item &it = p->items.front();
        size_t here = item_len(it);
        size_t k = n < here ? n : here;
        if (it.buffer) {
            xps_buffer_consume(it.buffer, k);
        } else {
            it.offset += static_cast<int64_t>(k);
            it.len -= k;
        }
        n -= k;
        if (k == here) {
            drop_item(it);
            p->items.pop_front();
        }
    }
    schedule(p);
}

int xps_pipe_read(xps_pipe_t *p, void *dst, size_t max, size_t *copied) noexcept {
    size_t done = 0;
    int status = XPS_OK;
    while (done < max && !p->items.empty()) {
        xps_pipe_chunk_t c;
        xps_pipe_peek(p, &c);
        size_t k = c.len < max - done ? c.len : max - done;
        char *to = static_cast<char *>(dst) + done;
        if (c.bytes) {
            std::memcpy(to, c.bytes, k);
        } else {
            ssize_t r = pread(c.fd, to, k, c.offset);
            if (r <= 0) {
                status = r == 0 ? XPS_E_EOF : xps_error_from_errno(errno);
                XPS_LOG(XPS_LOG_ERROR, "pipe", "reading a file range: %s",
                        r == 0 ? "the file is shorter than the range" : std::strerror(errno));
                break;
            }
            k = static_cast<size_t>(r);
        }
        xps_pipe_consume(p, k);
        done += k;
    }
    *copied = done;
    return status;
}

size_t xps_pipe_len(const xps_pipe_t *p) noexcept { return p->len; }

// -------------------------------------------------------------- accessors

bool xps_pipe_has_source(const xps_pipe_t *p) noexcept { return p->source.attached; }
bool xps_pipe_has_sink(const xps_pipe_t *p) noexcept { return p->sink.attached; }
