/*
 * modules/cache/xps_cache_store.h — where cached responses live: one file
 * per entry in the cache's folder, and an index of the entries in memory
 * shared by every worker process. [stage 20]
 *
 * Why this shape: a worker serves a hit with sendfile() from the entry's
 * file, so an entry must be a file; every worker must see every entry, so
 * the index is made before the master forks (mmap(MAP_SHARED)) and each
 * worker inherits it. What an entry holds (a response's head and body, as
 * the cache module writes it) is the caller's business: here they are
 * bytes under a key.
 *
 * Crash safety, the reason for most of what follows: a worker may be
 * killed at any instruction (kill -9, a crash).
 *  - Entries are written to a temporary file and renamed into place on
 *    commit (rename() is atomic): a reader never sees half an entry.
 *  - The index's lock is a robust process-shared mutex: if its holder
 *    dies, the next locker gets it (EOWNERDEAD) and goes on; every change
 *    made under it is a single slot's, complete or not begun.
 *  - A key being written is marked with its writer's pid; a second writer
 *    of the same key is told XPS_E_AGAIN (so concurrent misses for one key
 *    make one upstream request), unless that pid is dead: then its claim
 *    and its temporary file are dropped and the key is free again.
 *  - At open, files in the folder from an earlier run (entries and
 *    temporaries, by their names) are removed: the index starts empty.
 *
 * Bounds: at most `max_entries` entries and `max_bytes` bytes of committed
 * entries; a commit past either evicts the least recently used entries
 * (their files unlinked: a worker still sending one keeps its open file).
 * Eviction scans the index (O(entries)), at commit time only.
 * Keys are any strings; an entry is found by its key's SHA-256 (the file's
 * name is its hex), so no two keys share an entry in practice.
 *
 * Lifecycle: xps_cache_store_open (in the master, before fork) → lookups
 * and writes in any process → xps_cache_store_close (in each process; the
 * last one's unmaps the index, and the files stay for the next run's open
 * to clear).
 * Errors: XPS_E_NOTFOUND (no entry), XPS_E_AGAIN (the key is being
 * written), XPS_E_LIMIT (an entry larger than max_bytes), XPS_E_FAIL with
 * errno's words logged (the disk: full, read-only...), XPS_E_NOMEM.
 * Threading: one thread per process; any number of processes.
 */
#ifndef XPS_MODULES_CACHE_STORE_H
#define XPS_MODULES_CACHE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/xps.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xps_cache_store_s xps_cache_store_t;
typedef struct xps_cache_writer_s xps_cache_writer_t;

/* Opens the store in `dir` (made if missing, mode 0700), clears what an
 * earlier run left there, and maps its index. NULL with the reason and the
 * folder in `err` when it cannot (e.g. "cache/: Permission denied"). */
xps_cache_store_t *xps_cache_store_open(const char *dir, uint64_t max_bytes, size_t max_entries,
                                        char *err, size_t err_size) XPS_NOEXCEPT;

/* Closes this process's handle. Accepts NULL. */
void xps_cache_store_close(xps_cache_store_t *store) XPS_NOEXCEPT;

/* The entry for `key`: XPS_OK with *fd (open for reading, the caller's to
 * close) and *size, and the entry becomes the most recently used; or
 * XPS_E_NOTFOUND. */
int xps_cache_lookup(xps_cache_store_t *store, const char *key, int *fd,
                     uint64_t *size) XPS_NOEXCEPT;

/* Drops the entry for `key`, if any (e.g. a stale one replaced). */
void xps_cache_remove(xps_cache_store_t *store, const char *key) XPS_NOEXCEPT;

/* Starts writing the entry for `key` (an existing one stays readable until
 * the commit replaces it). NULL and *error XPS_E_AGAIN when another live
 * process is writing it, or XPS_E_FAIL / XPS_E_NOMEM. */
xps_cache_writer_t *xps_cache_write_begin(xps_cache_store_t *store, const char *key,
                                          int *error) XPS_NOEXCEPT;

/* Appends bytes: XPS_OK, XPS_E_LIMIT past max_bytes, XPS_E_FAIL (disk). */
int xps_cache_write(xps_cache_writer_t *writer, const void *bytes, size_t len) XPS_NOEXCEPT;

/* Makes the entry visible (renamed into place) and frees the writer:
 * XPS_OK, or an error (the entry is then dropped). Evicts as needed. */
int xps_cache_write_commit(xps_cache_writer_t *writer) XPS_NOEXCEPT;

/* Drops what was written and frees the writer. Accepts NULL. */
void xps_cache_write_abort(xps_cache_writer_t *writer) XPS_NOEXCEPT;

/* Committed entries: how many and their bytes (for metrics and tests). */
size_t xps_cache_store_count(xps_cache_store_t *store) XPS_NOEXCEPT;
uint64_t xps_cache_store_bytes(xps_cache_store_t *store) XPS_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* XPS_MODULES_CACHE_STORE_H */
