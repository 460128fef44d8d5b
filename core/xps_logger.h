/*
 * core/xps_logger.h — levelled logging to stderr.
 *
 * Introduced in stage 05. Four levels, most severe first: error, warn, info,
 * debug. The level is chosen once at start-up, by a flag (the program calls
 * xps_log_set_level) or by the environment variable XPS_LOG_LEVEL
 * ("error", "warn", "info", "debug"); the default is info.
 *
 * Off the hot path: XPS_LOG checks the level before it evaluates its
 * arguments, so a disabled debug line costs one comparison. (The course's
 * stage 07 experiment shows how much printing slows a busy loop.)
 *
 * Lines look like:  [INFO] tcp: listening on 0.0.0.0:8001
 * Threading: none; one process writes its own stderr.
 */
#ifndef XPS_CORE_LOGGER_H
#define XPS_CORE_LOGGER_H

#include "core/xps.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum xps_log_level {
    XPS_LOG_ERROR = 0, /* something failed; the program goes on if it can */
    XPS_LOG_WARN = 1,  /* suspicious but handled */
    XPS_LOG_INFO = 2,  /* life-cycle events: listening, connections, shutdown */
    XPS_LOG_DEBUG = 3, /* per-event detail; slow, for debugging only */
} xps_log_level_t;

/* The current level: lines above it are dropped. Read by XPS_LOG; set it
 * through xps_log_set_level, not directly. */
extern xps_log_level_t xps_log_threshold;

void xps_log_set_level(xps_log_level_t level) XPS_NOEXCEPT;

/* Parses "error" | "warn" | "info" | "debug" (case-insensitive). Returns
 * XPS_OK and sets *level, or XPS_E_INVAL for anything else. */
int xps_log_parse_level(const char *name, xps_log_level_t *level) XPS_NOEXCEPT;

/* Applies XPS_LOG_LEVEL from the environment, if set and valid (an invalid
 * value is reported as a warning and ignored). */
void xps_log_init_from_env(void) XPS_NOEXCEPT;

/* Writes one line: "[LEVEL] where: message\n". Use XPS_LOG instead. */
void xps_log_write(xps_log_level_t level, const char *where, const char *fmt, ...)
    XPS_NOEXCEPT __attribute__((format(printf, 3, 4)));

#define XPS_LOG(level, where, ...)                          \
    do {                                                    \
        if ((level) <= xps_log_threshold)                   \
            xps_log_write((level), (where), __VA_ARGS__);   \
    } while (0)

#ifdef __cplusplus
}
#endif

#endif /* XPS_CORE_LOGGER_H */
