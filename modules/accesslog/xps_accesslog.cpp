// modules/accesslog/xps_accesslog.cpp — see xps_accesslog.h.
//
// A line is built into a fixed array by a small writer that cannot run
// past it (every field is bounded before escaping, and an escaped byte is
// at most 6), so formatting never allocates. The local time of a line
// comes from localtime_r once per second (a cache in the formatter's
// thread-local state): a busy server logs thousands of lines per second.
#include "modules/accesslog/xps_accesslog.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <new>

#include "core/xps_logger.h"

namespace {

constexpr const char *log_name = "accesslog";
constexpr size_t max_request = 1024, max_header = 512; // 6 bytes each at worst: < MAX_LINE
constexpr char hex[] = "0123456789abcdef", upper_hex[] = "0123456789ABCDEF";

bool id_byte(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

// Appends to out[0..cap): the caller sized cap for the worst case.
struct writer {
    char *out;
    size_t len;

    void put(char c) { out[len++] = c; }
    void put(const char *s) {
        size_t n = std::strlen(s);
        std::memcpy(out + len, s, n);
        len += n;
    }
    void put_u64(uint64_t v) {
        char tmp[24];
        int n = std::snprintf(tmp, sizeof tmp, "%" PRIu64, v);
        std::memcpy(out + len, tmp, static_cast<size_t>(n));
        len += static_cast<size_t>(n);
    }
    // nginx's escaping of a quoted field: '"', '\' and non-printable as \xHH.
    void put_nginx(const char *s, size_t n, size_t cap) {
        for (size_t i = 0; i < n && i < cap; i++) {
            auto c = static_cast<unsigned char>(s[i]);
            if (c == '"' || c == '\\' || c < 0x20 || c > 0x7e) {
                put('\\'), put('x'), put(upper_hex[c >> 4]), put(upper_hex[c & 15]);
            } else {
                put(static_cast<char>(c));
            }
        }
    }
    // A JSON string's contents (RFC 8259 §7), every byte >= 0x80 as \u00XX.
    void put_json(const char *s, size_t n, size_t cap) {
        for (size_t i = 0; i < n && i < cap; i++) {
            auto c = static_cast<unsigned char>(s[i]);
            switch (c) {
            case '"': put("\\\""); break;
            case '\\': put("\\\\"); break;
            case '\n': put("\\n"); break;
            case '\r': put("\\r"); break;
            case '\t': put("\\t"); break;
            default:
                if (c < 0x20 || c >= 0x7f) {
                    put("\\u00"), put(hex[c >> 4]), put(hex[c & 15]);
                } else {
                    put(static_cast<char>(c));
                }
            }
        }
    }
    void put_json_or_null(const char *s, size_t n, size_t cap) {
        if (!s)
            return put("null");
        put('"');
        put_json(s, n, cap);
        put('"');
    }
};

// Local time of `t` in both formats, cached for the second it names.
struct clock_text {
    int64_t at = -1;
    char combined[40]; // 04/Dec/2026:03:01:00 +0000
    char iso[40];      // 2026-12-04T03:01:00+00:00
};

const clock_text &local_time(int64_t t) {
    static thread_local clock_text cache;
    if (cache.at == t)
        return cache;
    time_t tt = static_cast<time_t>(t);
    struct tm tm;
    if (!localtime_r(&tt, &tm))
        std::memset(&tm, 0, sizeof tm);
    // %b is the C locale's month (the server never calls setlocale).
    std::strftime(cache.combined, sizeof cache.combined, "%d/%b/%Y:%H:%M:%S %z", &tm);
    char zone[8];
    std::strftime(cache.iso, sizeof cache.iso, "%Y-%m-%dT%H:%M:%S", &tm);
    std::strftime(zone, sizeof zone, "%z", &tm); // +hhmm: ISO 8601 wants +hh:mm
    size_t n = std::strlen(cache.iso);
    if (std::strlen(zone) == 5)
        std::snprintf(cache.iso + n, sizeof cache.iso - n, "%.3s:%.2s", zone, zone + 3);
    cache.at = t;
    return cache;
}

} // namespace

// ---------------------------------------------------------- request ids

bool xps_request_id_valid(const char *id, size_t len) noexcept {
    if (!id || len == 0 || len > XPS_REQUEST_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!id_byte(static_cast<unsigned char>(id[i])))
            return false;
    return true;
}

void xps_request_ids_init(xps_request_ids_t *ids, uint32_t pid, uint64_t start) noexcept {
    ids->start = start, ids->pid = pid, ids->next = 1;
}

size_t xps_request_id_next(xps_request_ids_t *ids, char out[XPS_REQUEST_ID_MAX + 1]) noexcept {
    int n = std::snprintf(out, XPS_REQUEST_ID_MAX + 1, "%" PRIx64 "-%" PRIx32 "-%" PRIx64,
                          ids->start, ids->pid, ids->next++);
    return static_cast<size_t>(n);
}

// ------------------------------------------------------------- lines

size_t xps_accesslog_format(xps_accesslog_format_t format, const xps_accesslog_entry_t *e,
                            char *out) noexcept {
    writer w{out, 0};
    const clock_text &when = local_time(e->time);
    const char *ip = e->client_ip && e->client_ip[0] ? e->client_ip : "-";
    // Bounded ourselves: a valid id has no byte to escape, the ip is ours.
    char id[XPS_REQUEST_ID_MAX + 1] = "-";
    bool has_id = e->request_id && xps_request_id_valid(e->request_id, std::strlen(e->request_id));
    if (has_id)
        std::snprintf(id, sizeof id, "%s", e->request_id);
    char addr[64];
    std::snprintf(addr, sizeof addr, "%s", ip);
    uint64_t ms = e->duration_us / 1000;
    char seconds[32];
    if (format == XPS_ACCESSLOG_JSON) {
        w.put("{\"time\":\""), w.put(when.iso), w.put("\",\"request_id\":");
        w.put_json_or_null(has_id ? id : nullptr, std::strlen(id), XPS_REQUEST_ID_MAX);
        w.put(",\"remote_addr\":\""), w.put_json(addr, std::strlen(addr), sizeof addr);
        w.put("\",\"request\":\"");
        w.put_json(e->request ? e->request : "", e->request ? e->request_len : 0, max_request);
        w.put("\",\"status\":"), w.put_u64(static_cast<uint64_t>(e->status < 0 ? 0 : e->status));
        w.put(",\"bytes\":"), w.put_u64(e->bytes);
        std::snprintf(seconds, sizeof seconds, "%" PRIu64 ".%03" PRIu64, ms,
                      e->duration_us % 1000);
        w.put(",\"duration_ms\":"), w.put(seconds);
        w.put(",\"referer\":"), w.put_json_or_null(e->referer, e->referer_len, max_header);
        w.put(",\"user_agent\":"), w.put_json_or_null(e->user_agent, e->user_agent_len, max_header);
        w.put("}\n");
        return w.len;
    }
    w.put(addr), w.put(" - - ["), w.put(when.combined), w.put("] \"");
    w.put_nginx(e->request ? e->request : "", e->request ? e->request_len : 0, max_request);
    w.put("\" "), w.put_u64(static_cast<uint64_t>(e->status < 0 ? 0 : e->status));
    w.put(' '), w.put_u64(e->bytes), w.put(" \"");
    if (e->referer)
        w.put_nginx(e->referer, e->referer_len, max_header);
    else
        w.put('-');
    w.put("\" \"");
    if (e->user_agent)
        w.put_nginx(e->user_agent, e->user_agent_len, max_header);
    else
        w.put('-');
    w.put("\" \""), w.put(id), w.put("\" ");
    std::snprintf(seconds, sizeof seconds, "%" PRIu64 ".%03" PRIu64, ms / 1000, ms % 1000);
    w.put(seconds), w.put('\n');
    return w.len;
}

// --------------------------------------------------------------- the log

struct xps_accesslog_s {
    int fd = -1;
    xps_accesslog_format_t format = XPS_ACCESSLOG_COMBINED;
    char *buf = nullptr; // cap bytes: whole lines, len of them used
    size_t cap = 0, len = 0;
    bool failing = false; // the last write failed (logged once per streak)
    char path[512] = "";
};

xps_accesslog_t *xps_accesslog_open(const char *path, xps_accesslog_format_t format,
                                    size_t buffer_bytes, int *error) noexcept {
    *error = XPS_OK;
    if (!path || !path[0] ||
        (format != XPS_ACCESSLOG_COMBINED && format != XPS_ACCESSLOG_JSON)) {
        *error = XPS_E_INVAL;
        return nullptr;
    }
    auto *log = new (std::nothrow) xps_accesslog_t{};
    size_t cap = buffer_bytes ? buffer_bytes : XPS_ACCESSLOG_BUFFER_BYTES;
    if (cap < XPS_ACCESSLOG_MAX_LINE)
        cap = XPS_ACCESSLOG_MAX_LINE;
    if (!log || !(log->buf = new (std::nothrow) char[cap])) {
        delete log;
        *error = XPS_E_NOMEM;
        return nullptr;
    }
    log->cap = cap, log->format = format;
    std::snprintf(log->path, sizeof log->path, "%s", path);
    log->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (log->fd < 0) {
        int e = errno;
        XPS_LOG(XPS_LOG_ERROR, log_name, "cannot open the access log %s: %s", path,
                std::strerror(e));
        *error = xps_error_from_errno(e);
        delete[] log->buf;
        delete log;
        return nullptr;
    }
    return log;
}

int xps_accesslog_flush(xps_accesslog_t *log) noexcept {
    size_t done = 0;
    int error = XPS_OK;
    // One write of whole lines: with O_APPEND the kernel puts it at the end
    // in one piece. A short write (disk full) sends the rest after it.
    while (done < log->len) {
        ssize_t n = write(log->fd, log->buf + done, log->len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : ENOSPC;
            error = xps_error_from_errno(e);
            if (!log->failing)
                XPS_LOG(XPS_LOG_ERROR, log_name, "writing the access log %s: %s (%zu bytes dropped)",
                        log->path, std::strerror(e), log->len - done);
            log->failing = true;
            break;
        }
        done += static_cast<size_t>(n);
    }
    if (error == XPS_OK)
        log->failing = false;
    log->len = 0;
    return error;
}

void xps_accesslog_write(xps_accesslog_t *log, const xps_accesslog_entry_t *entry) noexcept {
    if (log->cap - log->len < XPS_ACCESSLOG_MAX_LINE)
        xps_accesslog_flush(log);
    log->len += xps_accesslog_format(log->format, entry, log->buf + log->len);
}

size_t xps_accesslog_pending(const xps_accesslog_t *log) noexcept { return log->len; }

void xps_accesslog_close(xps_accesslog_t *log) noexcept {
    if (!log)
        return;
    xps_accesslog_flush(log);
    close(log->fd);
    delete[] log->buf;
    delete log;
}
