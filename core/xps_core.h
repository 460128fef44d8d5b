/*
 * core/xps_core.h — the core instance: what one server process holds.
 *
 * Introduced in stage 06. One core per process (per worker from stage 21).
 * It owns three things every module shares, and nothing module-specific:
 *
 *  - the ready queue. A module with work to do posts a task; the event loop
 *    (modules/loop) runs the posted tasks once per iteration. Only handles
 *    that have work are touched: there is no pass over every connection or
 *    every pipe (the course's handle_pipes() scan is what this replaces).
 *  - deferred free. destroy() inside a callback must not free memory that
 *    the code which called the callback is about to touch. Modules hand the
 *    final free to xps_core_defer_free(); the loop runs those frees after the
 *    current batch of callbacks. (docs/conventions.md, "Lifetimes".)
 *  - members: objects destroyed with the core (listeners, connections, the
 *    loop itself), newest first, so xps_core_destroy() tears a server down.
 *
 * The core knows nothing of epoll: the loop module depends on the core, not
 * the other way round (ARCHITECTURE.md §3).
 *
 * Lifecycle: create → (loop runs tasks and frees) → destroy.
 * Threading: none; a core and everything attached to it belong to one thread.
 */
#ifndef XPS_CORE_CORE_H
#define XPS_CORE_CORE_H

#include "core/xps.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xps_task_s xps_task_t;
typedef struct xps_core_member_s xps_core_member_t;

/* A posted task's work. It may post itself again (it then runs in the next
 * round) and may destroy its own task. */
typedef void (*xps_task_cb)(void *data);

/* Frees or destroys `object`; registered with deferred free or membership.
 * A member's destroy function must call xps_core_remove_member() on its
 * membership (every module's destroy does), or the record leaks. */
typedef void (*xps_core_free_fn)(void *object);

/* ---------------------------------------------------------- lifecycle */

/* A new core, or NULL (out of memory). With glibc, the first call also
 * sets the process's malloc trim threshold to 32 MiB: freed memory at the
 * top of the heap is kept for the next requests instead of being handed
 * back to the kernel and faulted in again (docs/performance.md, "Page
 * faults"). */
xps_core_t *xps_core_create(void) XPS_NOEXCEPT;

/* Destroys every member, newest first, then runs every deferred free, then
 * frees the core. Tasks still alive are a programmer error (their owners
 * should have been members). Accepts NULL. */
void xps_core_destroy(xps_core_t *core) XPS_NOEXCEPT;

/* ------------------------------------------------------------- tasks */

/* A task that calls cb(data) each time it is posted and run. NULL when out
 * of memory. The caller owns it: xps_task_destroy(). */
xps_task_t *xps_task_create(xps_core_t *core, xps_task_cb cb, void *data) XPS_NOEXCEPT;

/* Queues the task for the next round unless it is already queued (posting
 * twice runs it once). Cheap: call it whenever work may have appeared. */
void xps_task_post(xps_task_t *task) XPS_NOEXCEPT;

/* Unqueues the task; it never runs again. Safe inside any callback,
 * including the task's own; the memory goes through deferred free.
 * Accepts NULL. */
void xps_task_destroy(xps_task_t *task) XPS_NOEXCEPT;

/* Runs, in order, the tasks that were queued when the call began; tasks
 * posted meanwhile wait for the next call, so a task that keeps posting
 * itself cannot starve the rest of the loop. Returns how many ran. */
size_t xps_core_run_tasks(xps_core_t *core) XPS_NOEXCEPT;

/* Whether any task is queued (the loop then polls epoll without waiting). */
bool xps_core_has_tasks(const xps_core_t *core) XPS_NOEXCEPT;

/* ------------------------------------------------------ deferred free */

/* Calls free_fn(object) at the next xps_core_collect(), i.e. after the
 * current batch of callbacks. Must not fail: if memory for the record runs
 * out it frees at once, which is still correct outside callbacks. */
void xps_core_defer_free(xps_core_t *core, xps_core_free_fn free_fn, void *object) XPS_NOEXCEPT;

/* Runs the deferred frees registered so far (and any they register). */
void xps_core_collect(xps_core_t *core) XPS_NOEXCEPT;

/* ----------------------------------------------------------- members */

/* Registers `object` to be destroyed with destroy_fn(object) when the core
 * is destroyed. Returns the membership (to remove it when the object is
 * destroyed first), or NULL when out of memory. */
xps_core_member_t *xps_core_add_member(xps_core_t *core, xps_core_free_fn destroy_fn,
                                       void *object) XPS_NOEXCEPT;

/* Ends a membership: the object is being destroyed by its owner. Call it
 * at the start of the object's destroy. Accepts NULL. */
void xps_core_remove_member(xps_core_member_t *member) XPS_NOEXCEPT;

/* How many members the core has (tests assert it returns to zero). */
size_t xps_core_member_count(const xps_core_t *core) XPS_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* XPS_CORE_CORE_H */
