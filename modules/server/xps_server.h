/*
 * modules/server/xps_server.h — a whole multiprocess server from one call:
 * what stage 21's main did, so that stage 21 and the product (apps/xps)
 * run the same composition. [stage 21]
 *
 * xps_server_run(options), in order:
 *  1. loads the config (options->load, else xps_config_load of
 *     options->config_path);
 *  2. checks what a worker would otherwise meet too late
 *     (xps_server_check): every certificate and key loads, the cache's
 *     folder is usable;
 *  3. claims the pid file, if asked (xps_server_pidfile_claim): a second
 *     server on the same file is refused before it touches anything else;
 *  4. opens the shared cache (its index is memory every worker inherits);
 *  5. binds every listener, BEFORE any fork: a port that cannot be bound
 *     is refused while no worker exists (one SO_REUSEPORT socket per
 *     listener and worker, or one for all: options->accept);
 *  6. with options->product, maps the metrics' counters, two slots per
 *     worker (modules/metrics: every worker adds to its own, any worker's
 *     metrics route sums them);
 *  7. hands over to the master (modules/master): `workers` workers, each
 *     with its own loop on the sockets it inherited, every session option
 *     of stages 13-20 on (and apps/xps's with options->product); a worker
 *     that dies is replaced.
 * Signals (the master's, see xps_master.h):
 *  - SIGTERM / SIGINT: every worker drains (closes its listeners, finishes
 *    the requests it has, each response saying "Connection: close", a
 *    health route answering 503), within timeouts.drain_ms; then the
 *    master returns and xps_server_run returns XPS_OK.
 *  - SIGHUP: the config is loaded again (steps 1 and 2). Valid: the
 *    listeners it names are bound (those already bound are kept), a new
 *    generation of workers starts with it and the old one drains. Invalid,
 *    a port that cannot be bound, or another number of workers: the old
 *    workers keep serving and the reason is logged. The cache is the one
 *    opened at start (a new "cache" takes a restart).
 *
 * Errors: before any worker exists, xps_server_run returns XPS_E_INVAL
 * (config, certificate or cache refused) or XPS_E_FAIL (a port that
 * cannot be bound, a live pid file), with the reason in `err`, which names
 * the file or the address; nothing is left behind. After, the master's
 * result (xps_master_run).
 * Threading: a single-threaded process (fork()); the caller is expected to
 * exit when it returns (SIGTERM and SIGINT stay blocked, xps_master.h).
 */
#ifndef XPS_MODULES_SERVER_H
#define XPS_MODULES_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/xps.h"
#include "modules/config/xps_config.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How the workers share a listener (chapter 21). */
typedef enum xps_server_accept {
    XPS_SERVER_ACCEPT_REUSEPORT = 0, /* one SO_REUSEPORT socket per worker:
                                        the kernel spreads the clients */
    XPS_SERVER_ACCEPT_EXCLUSIVE = 1, /* one socket, EPOLLEXCLUSIVE: one worker
                                        woken per client */
    XPS_SERVER_ACCEPT_SHARED = 2,    /* one socket, every worker woken: the
                                        thundering herd, to watch it */
} xps_server_accept_t;

typedef struct xps_server_options {
    const char *name;        /* the logs' and the messages' program name */
    const char *config_path; /* read at start and on SIGHUP (when load is NULL) */
    /* Where the config comes from instead of a file (an embedded default):
     * called at start and on each SIGHUP; NULL and `err` on failure. */
    xps_config_t *(*load)(void *data, char *err, size_t err_size);
    void *load_data;
    int workers;             /* 1-1024, whatever the config says; 0: the
                                config's "workers" ("auto": one per CPU) */
    xps_server_accept_t accept;
    size_t max_buckets;      /* rate-limit buckets per worker; 0: the default */
    const char *pid_file;    /* NULL: none. Written once the config passed
                                its checks (before the cache and the
                                listeners), removed when the master returns. */
    /* In the master, once every listener is bound, before the first fork
     * (to print where the server answers). NULL: nothing. */
    void (*on_ready)(void *data, const xps_config_t *config);
    void *ready_data;
    /* [apps/xps] The product's features in every worker
     * (xps_session_product_options_t: request ids, the config's access
     * log, metrics summed over the workers, routes' headers, error pages)
     * and the config's log.level. false: stage 21, none of them. */
    bool product;
} xps_server_options_t;

/* Whether `config` can be served as far as can be known without binding:
 * every listener's certificates and keys load (the file named in `err`
 * when one does not), and the cache's folder is a folder this process may
 * write, or can be made (nothing in it is touched). XPS_OK, else
 * XPS_E_INVAL and `err`. What `xps -t` and every (re)load run. */
int xps_server_check(const xps_config_t *config, char *err, size_t err_size) XPS_NOEXCEPT;

/* Runs the server (see above) until SIGTERM or SIGINT. */
int xps_server_run(const xps_server_options_t *options, char *err,
                   size_t err_size) XPS_NOEXCEPT;

/* ---------------------------------------------------------- pid file */

/* Writes this process's pid to `path` ("<pid>\n", mode 0644, replaced
 * atomically). A file already there that names a live process is refused
 * (XPS_E_FAIL, "PATH: pid N is running"); one naming a dead process, or
 * holding no pid, is stale and replaced. XPS_E_FAIL with `err` also when
 * the file cannot be written. */
int xps_server_pidfile_claim(const char *path, char *err, size_t err_size) XPS_NOEXCEPT;

/* Removes `path` if it still names this process (a newer server's file is
 * left alone). */
void xps_server_pidfile_release(const char *path) XPS_NOEXCEPT;

/* Sends `signo` to the process `path` names: XPS_OK, else XPS_E_NOTFOUND
 * ("PATH: cannot read: No such file or directory: is the server running?")
 * or XPS_E_FAIL (no pid in it; "pid N is not running (a stale pid file)";
 * kill's error). *pid (may be NULL) gets the pid read. */
int xps_server_pidfile_signal(const char *path, int signo, pid_t *pid, char *err,
                              size_t err_size) XPS_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* XPS_MODULES_SERVER_H */
