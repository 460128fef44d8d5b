/*
 * modules/accesslog/xps_accesslog.h — [apps/xps] who asked what, and what
 * they got: a request id for every request, and the access log, one line
 * per request.
 *
 * Why: an operator's first questions about a server are answered by its
 * access log (which requests, which statuses, how big, how slow), and a
 * request that crosses a proxy is followed from one log to the next by an
 * id both sides print: X-Request-ID, taken from the client when it sent a
 * usable one, else made here, forwarded upstream and returned in the
 * response (the session does that; this module says what an id is).
 *
 * Request ids. Well-formed: 1 to XPS_REQUEST_ID_MAX bytes, each of
 * [A-Za-z0-9._-] — enough for UUIDs and the ids other proxies make, and
 * nothing that could break a header, a log line or a JSON string. A
 * generated id is "<start>-<pid>-<n>" in lower-case hex: the generator's
 * creation time (seconds), the process id and a counter from 1, so two
 * ids of one process never repeat, nor do two processes alive at once,
 * nor two runs of one pid at different seconds. No syscall per id.
 *
 * Lines (xps_accesslog_format), one per request, ending in '\n':
 *  combined: nginx's "combined" format, then the id and the duration:
 *    127.0.0.1 - - [04/Dec/2026:03:01:00 +0000] "GET / HTTP/1.1" 200 612
 *    "-" "curl/8.5.0" "<id>" 0.001
 *    (one line) — bytes are the response's, head and body (nginx's
 *    $bytes_sent); the duration in seconds with milliseconds. In the
 *    quoted fields '"', '\' and every byte outside 0x20..0x7e are written
 *    \xHH, as nginx does, so a line is always one line.
 *  json: one object per line, keys in this order: "time" (ISO 8601,
 *    local time with its offset), "request_id", "remote_addr", "request",
 *    "status", "bytes", "duration_ms" (a number, microsecond precision),
 *    "referer" and "user_agent" (null when absent). Strings are escaped
 *    per RFC 8259: '"', '\' and control bytes as \" \\ \n ... \u00XX, and
 *    every byte >= 0x80 as \u00XX (its value): whatever the client sent,
 *    the line is valid JSON (and valid UTF-8).
 * Fields from the client are cut to bounded lengths (request line 1024
 * bytes, referer and user agent 512 each, before escaping), so a line
 * never exceeds XPS_ACCESSLOG_MAX_LINE.
 *
 * The log (xps_accesslog_open): a file opened O_APPEND, and a buffer of
 * whole lines. A line goes into the buffer; the buffer goes to the file in
 * one write(2) when less than XPS_ACCESSLOG_MAX_LINE bytes are free in it
 * (the next line might not fit), when
 * xps_accesslog_flush is called (the owner calls it at least every
 * second: the session's listeners do, from a loop timer) and at close.
 * Several processes may append to one file (each worker its own log on the
 * same path, or one inherited descriptor): every write is whole lines at
 * the end of the file, so lines never interleave.
 *
 * Lifecycle: open → write* / flush* → close. Ownership: the log owns its
 * descriptor and buffer; entries are borrowed for the call.
 * Errors: open fails with XPS_E_* (the path cannot be opened: logged with
 * it, errno's code); a failed write(2) later is logged (once per failure
 * streak) and its lines dropped — a full disk must not stop the server.
 * Threading: none (one log per process or loop).
 */
#ifndef XPS_MODULES_ACCESSLOG_H
#define XPS_MODULES_ACCESSLOG_H

#include "core/xps.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------- request ids */

#define XPS_REQUEST_ID_MAX 128

/* Whether id[0..len) is a well-formed request id (see above). */
bool xps_request_id_valid(const char *id, size_t len) XPS_NOEXCEPT;

/* The generator of one process: set by xps_request_ids_init. */
typedef struct xps_request_ids {
    uint64_t start; /* seconds since the epoch at init */
    uint32_t pid;
    uint64_t next;  /* the counter of the next id */
} xps_request_ids_t;

/* Starts a generator for process `pid` at time `start` (seconds). */
void xps_request_ids_init(xps_request_ids_t *ids, uint32_t pid, uint64_t start) XPS_NOEXCEPT;

/* Writes the next id into out (NUL-terminated) and returns its length. */
size_t xps_request_id_next(xps_request_ids_t *ids, char out[XPS_REQUEST_ID_MAX + 1]) XPS_NOEXCEPT;

/* ------------------------------------------------------------- lines */

typedef enum xps_accesslog_format {
    XPS_ACCESSLOG_COMBINED = 1,
    XPS_ACCESSLOG_JSON = 2,
} xps_accesslog_format_t;

/* The longest line xps_accesslog_format writes, '\n' included. */
#define XPS_ACCESSLOG_MAX_LINE 16384

/* One request, as the line reports it. Strings are borrowed; those with a
 * length may hold any bytes (not NUL-terminated); NULL: absent. */
typedef struct xps_accesslog_entry {
    const char *client_ip;    /* NUL-terminated; NULL or "": "-" */
    int64_t time;             /* when the request came: seconds since the epoch */
    const char *request;      /* the request line, "GET / HTTP/1.1"; NULL: "" */
    size_t request_len;
    int status;               /* the response's status; 0: none was sent */
    uint64_t bytes;           /* bytes of the response, head and body */
    uint64_t duration_us;     /* from the request's head to its response queued */
    const char *referer;
    size_t referer_len;
    const char *user_agent;
    size_t user_agent_len;
    const char *request_id;   /* NUL-terminated, well-formed; NULL: "-" / null */
} xps_accesslog_entry_t;

/* Writes the line of `entry` in `format` into out (at least
 * XPS_ACCESSLOG_MAX_LINE bytes), '\n' included, not NUL-terminated.
 * Returns its length. */
size_t xps_accesslog_format(xps_accesslog_format_t format, const xps_accesslog_entry_t *entry,
                            char *out) XPS_NOEXCEPT;

/* --------------------------------------------------------------- the log */

typedef struct xps_accesslog_s xps_accesslog_t;

/* The default buffer: a busy worker writes every 64 KiB, a quiet one at
 * the flush timer. */
#define XPS_ACCESSLOG_BUFFER_BYTES (64u * 1024u)
#define XPS_ACCESSLOG_FLUSH_MS 1000u

/* Opens (creating, mode 0644) the file at `path` for appending, with a
 * buffer of `buffer_bytes` (0: the default; at least
 * XPS_ACCESSLOG_MAX_LINE is used). NULL and *error: XPS_E_INVAL (format
 * or path), XPS_E_NOMEM, or the open's error (logged with the path). */
xps_accesslog_t *xps_accesslog_open(const char *path, xps_accesslog_format_t format,
                                    size_t buffer_bytes, int *error) XPS_NOEXCEPT;

/* Adds the line of `entry` (flushing first when it might not fit). */
void xps_accesslog_write(xps_accesslog_t *log, const xps_accesslog_entry_t *entry) XPS_NOEXCEPT;

/* Writes what the buffer holds, if anything. XPS_OK, or the write's error
 * (logged; the lines are dropped). */
int xps_accesslog_flush(xps_accesslog_t *log) XPS_NOEXCEPT;

/* Bytes waiting in the buffer. */
size_t xps_accesslog_pending(const xps_accesslog_t *log) XPS_NOEXCEPT;

/* Flushes, closes the file, frees the log. Accepts NULL. */
void xps_accesslog_close(xps_accesslog_t *log) XPS_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* XPS_MODULES_ACCESSLOG_H */
