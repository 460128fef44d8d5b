// core/xps_core.cpp — see xps_core.h.
#include "core/xps_core.h"

#include <malloc.h>

#include <algorithm>
#include <cassert>
#include <iterator>
#include <new>
#include <utility>
#include <vector>

#include "core/xps_logger.h"

struct xps_task_s {
    xps_core_t *core;  // the core whose queue it joins, borrowed
    xps_task_cb cb;    // the work
    void *data;        // passed to cb, borrowed
    xps_task_t *next;  // next in the queue while queued
    bool queued;       // in the queue now (posting again is a no-op)
    bool dead;         // destroyed; memory waits for deferred free
};

struct xps_core_member_s {
    xps_core_t *core;          // the core whose list holds it; NULL once unlinked
    xps_core_free_fn destroy;  // destroys the object
    void *object;              // the member itself, borrowed until destroy
    xps_core_member_t *prev;   // neighbours in the core's list (newest first)
    xps_core_member_t *next;
};

struct deferred_free {
    xps_core_free_fn fn; // frees the object
    void *object;
};

struct xps_core_s {
    xps_task_t *queue_head;             // tasks to run next round, FIFO
    xps_task_t *queue_tail;
    size_t live_tasks;                  // created and not destroyed
    std::vector<deferred_free> frees;   // to run at the next collect
    // When `frees` cannot grow (out of memory), the records go here: a
    // free inside a callback must wait even then, or the callback's caller
    // touches freed memory. (Only with all of these taken too is an object
    // freed at once, as before.)
    deferred_free spare[64];
    size_t spare_used;
    xps_core_member_t *members;         // newest first
    size_t member_count;
};

namespace {

// Takes a membership out of its core's list; m->core becomes NULL.
void unlink_member(xps_core_member_t *m) {
    xps_core_t *core = m->core;
    if (m->prev)
        m->prev->next = m->next;
    else
        core->members = m->next;
    if (m->next)
        m->next->prev = m->prev;
    core->member_count--;
    m->core = nullptr;
}

// Releases a destroyed task's memory (a deferred free).
void free_task(void *object) { delete static_cast<xps_task_t *>(object); }

} // namespace

xps_core_t *xps_core_create(void) noexcept {
#ifdef __GLIBC__
    // A server's heap rises and falls with the requests in flight: a wave
    // of sessions ends together and frees a few hundred KiB at the top of
    // the heap. By default glibc hands any free top above 128 KiB back to
    // the kernel (brk), and the next wave takes it back one page fault per
    // page: at 500 clients, most requests paid one. Keeping up to 32 MiB
    // of free top costs nothing until a peak that large has come and gone.
    // (docs/performance.md, "Page faults"). Process-wide, set once.
    static const bool tuned = mallopt(M_TRIM_THRESHOLD, 32 << 20) == 1;
    (void)tuned;
#endif
    return new (std::nothrow) xps_core_t{};
}

void xps_core_destroy(xps_core_t *core) noexcept {
    if (!core)
        return;
    // Newest first. The membership is unlinked before the object's destroy
    // runs; that destroy calls xps_core_remove_member(), which then only
    // frees the record. A destroy may destroy other members too: always
    // take the current newest.
    while (xps_core_member_t *m = core->members) {
        unlink_member(m);
        m->destroy(m->object);
    }
    // Tasks destroyed while queued are still linked; free them with the rest.
    for (xps_task_t *t = core->queue_head; t; t = t->next)
        if (t->dead)
            xps_core_defer_free(core, free_task, t);
    core->queue_head = core->queue_tail = nullptr;
    xps_core_collect(core);
    if (core->live_tasks != 0)
        XPS_LOG(XPS_LOG_WARN, "core", "%zu task(s) still alive at core destroy: a leak",
                core->live_tasks);
    delete core;
}

// ------------------------------------------------------------------ tasks

xps_task_t *xps_task_create(xps_core_t *core, xps_task_cb cb, void *data) noexcept {
    assert(core && cb);
    auto *t = new (std::nothrow) xps_task_t{core, cb, data, nullptr, false, false};
    if (t)
        core->live_tasks++;
    return t;
}

void xps_task_post(xps_task_t *t) noexcept {
    if (t->queued || t->dead)
        return;
    xps_core_t *core = t->core;
    t->queued = true;
    t->next = nullptr;
    if (core->queue_tail)
        core->queue_tail->next = t;
    else
        core->queue_head = t;
    core->queue_tail = t;
}

void xps_task_destroy(xps_task_t *t) noexcept {
    if (!t)
        return;
    assert(!t->dead);
    t->dead = true;
    t->core->live_tasks--;
    // A queued task is still linked in a queue, and a collect may come before
    // the run that reaches it: the run skips it and hands it to deferred free
    // then. An unqueued task goes to deferred free now.
    if (!t->queued)
        xps_core_defer_free(t->core, free_task, t);
}

size_t xps_core_run_tasks(xps_core_t *core) noexcept {
    // Detach this round's queue: posts made while it runs form the next one.
    xps_task_t *t = core->queue_head;
    core->queue_head = core->queue_tail = nullptr;
    size_t ran = 0;
    while (t) {
        xps_task_t *next = t->next;
        t->next = nullptr;
        t->queued = false;
        if (t->dead) {
            xps_core_defer_free(core, free_task, t); // destroyed while queued
        } else {
            t->cb(t->data);
            ran++;
        }
        t = next; // `next` stays valid: a destroyed task is freed only at collect
    }
    return ran;
}

bool xps_core_has_tasks(const xps_core_t *core) noexcept {
    // Destroyed tasks stay linked until a run drops them; they do not count.
    for (const xps_task_t *t = core->queue_head; t; t = t->next)
        if (!t->dead)
            return true;
    return false;
}

// ---------------------------------------------------------- deferred free

void xps_core_defer_free(xps_core_t *core, xps_core_free_fn fn, void *object) noexcept {
    try {
        core->frees.push_back({fn, object});
    } catch (const std::bad_alloc &) {
        if (core->spare_used < std::size(core->spare))
            core->spare[core->spare_used++] = {fn, object};
        else
            fn(object); // no record, no deferral: correct outside callbacks only
    }
}

void xps_core_collect(xps_core_t *core) noexcept {
    while (!core->frees.empty() || core->spare_used > 0) {
        std::vector<deferred_free> now;
        now.swap(core->frees); // frees may defer more; they run in the next pass
        deferred_free spare[std::size(core->spare)];
        size_t n_spare = std::exchange(core->spare_used, 0);
        std::copy(core->spare, core->spare + n_spare, spare);
        for (const deferred_free &f : now)
            f.fn(f.object);
        for (size_t i = 0; i < n_spare; i++)
            spare[i].fn(spare[i].object);
    }
}

// ---------------------------------------------------------------- members

xps_core_member_t *xps_core_add_member(xps_core_t *core, xps_core_free_fn destroy,
                                       void *object) noexcept {
    auto *m = new (std::nothrow) xps_core_member_t{core, destroy, object, nullptr, core->members};
    if (!m)
        return nullptr;
    if (core->members)
        core->members->prev = m;
    core->members = m;
    core->member_count++;
    return m;
}

void xps_core_remove_member(xps_core_member_t *m) noexcept {
    if (!m)
        return;
    if (m->core) // still linked: the owner destroys the object before the core
        unlink_member(m);
    delete m;
}

size_t xps_core_member_count(const xps_core_t *core) noexcept { return core->member_count; }
