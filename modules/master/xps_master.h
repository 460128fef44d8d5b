/*
 * modules/master/xps_master.h — the master process of a multiprocess
 * server: it forks the workers, replaces one that dies, reloads on SIGHUP
 * and drains on SIGTERM, and does no request work itself. [stage 21]
 *
 * Why a master: one loop uses one core. N workers, each with its own loop,
 * use N; and a process that holds no client connection and runs no request
 * code is the one that survives a worker's crash (even kill -9) and starts
 * a new one at once. The listeners are bound by the caller BEFORE
 * xps_master_run(): every worker inherits them through fork(), so a
 * replaced or reloaded worker accepts on the same sockets and no
 * connection is refused while workers change.
 *
 * Signals, in the master:
 *  - SIGTERM, SIGINT: stop. Every worker gets SIGTERM (it stops accepting
 *    and finishes what it has: its own loop's business); one still running
 *    after `drain_ms` gets SIGKILL. Returns 0 once all are gone.
 *  - SIGHUP: reload. `reload` runs in the master (re-read the config,
 *    say why not); when it succeeds, a new generation of workers starts
 *    and the old one is drained as for SIGTERM; when it fails, the old
 *    generation keeps serving and the reason is logged.
 *  - SIGCHLD: a worker of the current generation that ended (any status,
 *    any signal) is replaced, at once the first time; a worker that dies
 *    again within a second of its start is restarted after a pause that
 *    doubles (100 ms, 200 ms, ... up to 10 s), so a crash loop costs a
 *    few forks a second at most instead of a core; a worker that lived a
 *    second or more starts the count again.
 * The master's own signal mask blocks these four and reads them from a
 * signalfd; a worker starts with the mask and handlers it had before
 * xps_master_run, and installs its own.
 *
 * Lifecycle: the caller binds its listeners, then calls xps_master_run,
 * which returns when the master stops (or, in a worker, never: the worker
 * _exit()s with worker_main's return value). On return the signal mask is
 * the caller's again, except that SIGTERM and SIGINT stay blocked: one
 * more sent during the drain (an impatient operator, a service manager)
 * must not kill the master as it exits with 0; the caller is expected to
 * exit.
 * Ownership: nothing is allocated that outlives the call.
 * Errors: XPS_E_INVAL (no workers, no worker_main); XPS_E_FAIL when the
 * master cannot set up its signals (logged). A fork() that fails is
 * logged and retried with the crash-loop pause.
 * Threading: call it from a single-threaded process (fork()).
 */
#ifndef XPS_MODULES_MASTER_H
#define XPS_MODULES_MASTER_H

#include <stddef.h>
#include <stdint.h>

#include "core/xps.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How many workers "auto" means: the CPUs this process may run on. */
int xps_master_auto_workers(void) XPS_NOEXCEPT;

typedef struct xps_master_config {
    int workers;          /* 1-1024 */
    /* Runs in each worker, in the child after fork(); its return value is
     * the worker's exit status. `index` is the worker's slot (0 to
     * workers - 1), `generation` counts reloads (0 at start). */
    int (*worker_main)(void *data, int index, int generation);
    void *data;
    /* SIGHUP, in the master: XPS_OK to start a new generation (worker_main
     * then sees whatever `data` now holds), else keep the old one; `err`
     * gets the reason. NULL: SIGHUP only restarts the workers. */
    int (*reload)(void *data, char *err, size_t err_size);
    uint64_t drain_ms;    /* after SIGTERM, before SIGKILL; 0: 10,000 */
} xps_master_config_t;

/* Runs the master until SIGTERM or SIGINT (see above); 0 when every worker
 * has ended, else an error code. */
int xps_master_run(const xps_master_config_t *config) XPS_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* XPS_MODULES_MASTER_H */
