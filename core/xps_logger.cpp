// core/xps_logger.cpp — see xps_logger.h.
#include "core/xps_logger.h"

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <strings.h>

xps_log_level_t xps_log_threshold = XPS_LOG_INFO;

namespace {

const char *const level_names[] = {"error", "warn", "info", "debug"};
const char *const level_tags[] = {"[ERROR]", "[WARN]", "[INFO]", "[DEBUG]"};

} // namespace

void xps_log_set_level(xps_log_level_t level) noexcept { xps_log_threshold = level; }

int xps_log_parse_level(const char *name, xps_log_level_t *level) noexcept {
    for (int i = XPS_LOG_ERROR; i <= XPS_LOG_DEBUG; i++) {
        if (name && strcasecmp(name, level_names[i]) == 0) {
            *level = static_cast<xps_log_level_t>(i);
            return XPS_OK;
        }
    }
    return XPS_E_INVAL;
}

void xps_log_init_from_env(void) noexcept {
    const char *name = std::getenv("XPS_LOG_LEVEL");
    xps_log_level_t level;
    if (!name || !*name)
        return;
    if (xps_log_parse_level(name, &level) == XPS_OK)
        xps_log_set_level(level);
    else
        xps_log_write(XPS_LOG_WARN, "logger",
                      "XPS_LOG_LEVEL=\"%s\" is not one of error, warn, info, debug; ignored", name);
}

void xps_log_write(xps_log_level_t level, const char *where, const char *fmt, ...) noexcept {
    // One fprintf per part, but stderr is unbuffered: build the line first so
    // lines from two processes (stage 21's workers) never interleave.
    char line[1024];
    int n = std::snprintf(line, sizeof line, "%s %s: ", level_tags[level], where);
    if (n < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int m = std::vsnprintf(line + n, sizeof line - static_cast<size_t>(n), fmt, ap);
    va_end(ap);
    size_t len = static_cast<size_t>(n) + (m > 0 ? static_cast<size_t>(m) : 0);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    std::fwrite(line, 1, len, stderr);
}
