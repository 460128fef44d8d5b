/*
 * modules/file/xps_file.h — a file under a document root, opened safely and
 * streamed into a pipe.
 *
 * Why: a file server turns a name chosen by a stranger into a file on disk.
 * Two things must hold however hostile the name is: only files under the
 * document root are ever opened ("../", absolute paths and symbolic links
 * must not lead out of it), and a file travels through the same pipes as
 * every other byte stream, so any sink (a connection, later gzip or TLS)
 * can take it.
 *
 * Introduced in stage 09 (8002 sends root/sample.txt; 8003 asks for
 * ../temp/file.txt and is refused). Stage 10 maps the errors to 404/403,
 * stage 13 streams parts of files for Range requests.
 *
 * Confinement, in order (xps_file_resolve):
 *  1. `path` is read as relative to the root, like a URL path: leading and
 *     repeated '/' and "." segments are dropped, so "/etc/passwd" means
 *     root/etc/passwd. ".." removes the segment before it, by text, as
 *     RFC 3986 §5.2.4 does for URLs; a ".." that would climb above the root
 *     is refused (XPS_E_PERMISSION) before the disk is looked at, so a
 *     client cannot learn whether a file outside the root exists.
 *  2. The result, joined to the root, is resolved with realpath(): every
 *     symbolic link is followed. The real path must be the real root or lie
 *     under it (compared up to a '/', so "/srv/pub" does not admit
 *     "/srv/public"), else XPS_E_PERMISSION. Links inside the root that
 *     point inside it are fine, wherever they point from.
 *  Percent-decoding ("%2e%2e") is the HTTP layer's job: here "%2e%2e" is
 *  an ordinary name. The root may be relative (to the working directory)
 *  and may itself be a link.
 *
 * What is served (xps_file_create): a regular file that the process can
 * open AND whose mode lets everyone read it (S_IROTH, as in the course).
 * The second rule is what protects a private file (mode 0600: a key, a
 * .env) dropped into the root by mistake, and it holds even for a server
 * running as root, where permission bits stop nothing. Directories are
 * XPS_E_NOTFOUND (not a file; stage 15 lists them itself), and so is a
 * path ending in "/", "/." or "/.." (it names a directory, as for the
 * kernel); FIFOs, sockets and devices are XPS_E_PERMISSION (never opened,
 * so a FIFO cannot block the loop).
 *
 * How the two steps run (issue 8). Most requests never resolve a path in
 * user space: a name that climbs nowhere and names a file is opened with
 * openat2() beneath a descriptor of the root (RESOLVE_BENEATH |
 * RESOLVE_NO_MAGICLINKS), which makes the kernel itself refuse, during the
 * one call that opens, any "..", absolute link or link that leads out — no
 * window between checking and opening. It is first opened with O_PATH (a
 * FIFO or device is only looked at, never opened) and checked, then for
 * reading, and the two must be the same file. Where the kernel refuses
 * (EXDEV: an absolute link, which may still point inside the root) or
 * openat2() is missing, realpath() decides as in step 2; the answers are
 * the same either way. Only that fallback keeps a residual race: between
 * realpath() and open() someone able to write inside the root could swap
 * a folder for a link; the last component is opened with O_NOFOLLOW and
 * the S_IROTH rule is checked on what was actually opened, so at worst a
 * world-readable file leaks.
 *
 * The open-file cache. Each core keeps up to XPS_FILE_CACHE_FILES files
 * it opened (least recently used evicted first), each with its stat() and,
 * up to XPS_FILE_CACHE_BYTES_MAX bytes, its whole content in memory
 * (xps_file_bytes). Before a cached file is used again, one fstatat() of
 * its name must show the same file: same device and inode, size, mode,
 * modification and change time (nanoseconds). So a file edited, replaced,
 * chmod-ed or deleted is seen by the very next request: the bound on
 * staleness is zero, at the cost of that one system call. One exception,
 * stated: the kernel stamps file times from a clock that ticks every few
 * milliseconds, except where it gives fine-grained times to a file whose
 * times were just read (Linux 6.13 and later, on ext4, xfs, btrfs, tmpfs);
 * elsewhere an edit in place that keeps the size, within the same tick as
 * the previous change, can go unseen until the file changes again. The root's
 * descriptor is opened on the first request under it and kept: renaming or
 * replacing the root folder itself takes a restart to be seen. Costs: one
 * descriptor per cached file, and at most XPS_FILE_CACHE_FILES x
 * XPS_FILE_CACHE_BYTES_MAX bytes (4 MiB) per process.
 *
 * Streaming (xps_file_attach): the file becomes the SOURCE of a pipe, in
 * one of two modes. XPS_FILE_RANGE writes one file range: a plain socket
 * sink hands it to sendfile() and the bytes never enter user space.
 * XPS_FILE_BUFFERS reads the file in 64 KiB buffers while the pipe has
 * room: for a sink that must see the bytes (gzip, TLS, a test). Either way
 * the stream ends (the source detaches; the sink gets source_done() after
 * draining) once the last byte is in the pipe.
 *
 * Lifecycle: create → (attach, any number of times) → destroy.
 * Ownership: the caller owns an xps_file_t from create to destroy, always.
 * Each attach starts a stream that is independent of it: the stream holds
 * its own duplicate of the descriptor, is a member of the core (destroyed
 * with it) and frees itself when it ends — at the last byte, or when the
 * sink detaches. So destroying the file right after attach is correct, in
 * both modes, and is what a server that only sends does.
 * Errors: XPS_E_NOTFOUND, XPS_E_PERMISSION, XPS_E_NOMEM, XPS_E_LIMIT,
 * XPS_E_INVAL, XPS_E_FAIL. Refusals (outside the root, not readable) are
 * logged at warn level, missing files at debug level (they are ordinary
 * traffic), failing system calls at error level.
 * Threading: none. Reads of regular files block the loop for as long as
 * the disk takes (usually the page cache answers); there is no thread pool.
 */
#ifndef XPS_MODULES_FILE_H
#define XPS_MODULES_FILE_H

#include "core/xps.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xps_file_s xps_file_t;

/* How a stream puts the file into a pipe. */
typedef enum xps_file_mode {
    /* One file range (xps_pipe_write_file): zero-copy with sendfile(). */
    XPS_FILE_RANGE = 0,
    /* Buffers of bytes read with pread(), for sinks that transform them. */
    XPS_FILE_BUFFERS = 1,
} xps_file_mode_t;

/* Size of each buffer in XPS_FILE_BUFFERS mode (smaller for the last). */
#define XPS_FILE_CHUNK ((size_t)64 * 1024)

/* The open-file cache (above): files kept open per core, and the largest
 * file kept in memory. 64 descriptors leave a default 1,024-descriptor
 * limit to the connections; 64 KiB is the session's largest body sent from
 * memory with its head (bigger ones go by sendfile()). */
#define XPS_FILE_CACHE_FILES 64
#define XPS_FILE_CACHE_BYTES_MAX ((size_t)64 * 1024)

/* ---------------------------------------------------------- lifecycle */

/* Opens `path` under the directory `root` (see "Confinement" and "What is
 * served" above). `core` (borrowed) is where streams of this file live.
 * Returns the file, or NULL and *error: XPS_E_NOTFOUND (missing, a
 * directory, or the root itself is missing), XPS_E_PERMISSION (outside the
 * root, not readable, not world-readable, not a regular file),
 * XPS_E_NOMEM, XPS_E_LIMIT (no descriptor), XPS_E_FAIL. error may be NULL;
 * on success it gets XPS_OK. */
xps_file_t *xps_file_create(xps_core_t *core, const char *root, const char *path,
                            int *error) XPS_NOEXCEPT;

/* Closes the file's descriptor and frees it. Streams already attached go
 * on with their own descriptors. Accepts NULL, never fails. */
void xps_file_destroy(xps_file_t *file) XPS_NOEXCEPT;

/* --------------------------------------------------------- operations */

/* Streams the whole file into `pipe` as its source, in `mode`. The stream
 * starts ready (a regular file can always be read); bytes flow once the
 * pipe has a sink, which may be attached before or after. Returns XPS_OK,
 * or XPS_E_FAIL (the pipe already has or had a source), XPS_E_LIMIT (no
 * descriptor to duplicate), XPS_E_NOMEM; on failure nothing is attached.
 * An empty file gives an empty stream (the sink sees only source_done). */
int xps_file_attach(xps_file_t *file, xps_pipe_t *pipe, xps_file_mode_t mode) XPS_NOEXCEPT;

/* As xps_file_attach, but only `len` bytes from `offset` (a Range reply,
 * stage 13). XPS_E_INVAL unless 0 <= offset and offset + len <= size. If
 * the file shrinks meanwhile, a BUFFERS stream ends early (logged); a
 * RANGE sink finds out when sendfile()/pread() comes up short. */
int xps_file_attach_part(xps_file_t *file, xps_pipe_t *pipe, xps_file_mode_t mode,
                         int64_t offset, size_t len) XPS_NOEXCEPT;

/* Confinement alone (steps 1-2 above), for callers that open something
 * other than a regular file (a directory listing, stage 15). On XPS_OK
 * `resolved` holds the real absolute path (it may be a directory). Errors:
 * XPS_E_NOTFOUND, XPS_E_PERMISSION, XPS_E_NOMEM, XPS_E_FAIL, and
 * XPS_E_LIMIT when it does not fit in `size` bytes (PATH_MAX always fits). */
int xps_file_resolve(const char *root, const char *path, char *resolved,
                     size_t size) XPS_NOEXCEPT;

/* The document root a stage uses when it is given none: "./public" if
 * that is a folder, else "../public" if that is one, else "./public"
 * (every request then finds nothing, and the stage's log says why).
 * Why the second: the course's tester runs a stage binary from its own
 * folder with the stage's files in ../public (/usr/src/app and
 * /usr/src/public in its container), and its binaries look there; ./public
 * stays first because it is where our stages document their root
 * (STAGES.md). Returns one of the three literal strings; *why (may be
 * NULL) gets a static sentence for the start-up log, e.g. "./public not
 * found, using the course's ../public". Looks at the working directory at
 * the time of the call. [stage 09] */
const char *xps_file_default_root(const char **why) XPS_NOEXCEPT;

/* The root a stage serves: `given` (its --root) when not NULL, else
 * xps_file_default_root(). Logs the choice and why at info level, once:
 * "serving files from ../public: ./public not found, using the course's
 * ../public". For a stage's main, at start-up. [stage 09] */
const char *xps_file_choose_root(const char *given) XPS_NOEXCEPT;

/* Copies len bytes of the file from `offset` into buf: from memory when
 * the open-file cache holds the file, else with pread() (the descriptor's
 * position does not move). XPS_OK; XPS_E_INVAL when the bytes lie outside
 * the file as opened; XPS_E_EOF when it has become shorter since; an
 * errno code when pread() fails. */
int xps_file_read(const xps_file_t *file, uint64_t offset, void *buf, size_t len) XPS_NOEXCEPT;

/* Closes the core's cached descriptors and frees its open-file cache (the
 * core's one member for it, created by the first xps_file_create); files
 * still in use live on until destroyed. The next open starts a new cache.
 * For tests that count descriptors, and for a server that wants the root's
 * descriptor opened again (a root folder replaced). Accepts a core
 * without a cache. */
void xps_file_cache_drop(xps_core_t *core) XPS_NOEXCEPT;

/* ---------------------------------------------------------- accessors */

/* Size in bytes when the file was opened. */
size_t xps_file_size(const xps_file_t *file) XPS_NOEXCEPT;

/* Media type (xps_mime_type) of the real name, so a link "latest" to
 * "report.pdf" is application/pdf. Static, never NULL. */
const char *xps_file_mime(const xps_file_t *file) XPS_NOEXCEPT;

/* The real absolute path that was opened; owned by the file. */
const char *xps_file_path(const xps_file_t *file) XPS_NOEXCEPT;

/* The descriptor, lent (for pread, or a pipe's file range); read-only,
 * close-on-exec, shared with the cache: never close it, never move its
 * file position. Valid until the file is destroyed. */
int xps_file_fd(const xps_file_t *file) XPS_NOEXCEPT;

/* Modification time (seconds) when opened: Last-Modified, ETag [stage 13]. */
int64_t xps_file_mtime(const xps_file_t *file) XPS_NOEXCEPT;

/* The whole file (xps_file_size bytes) when the cache keeps it in memory,
 * else NULL: read it with pread() then. Valid until the file is destroyed. */
const char *xps_file_bytes(const xps_file_t *file) XPS_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* XPS_MODULES_FILE_H */
