// http/xps_http_semantics.cpp — see xps_http_semantics.h. Small parsers
// over (pointer, length) pairs: nothing here allocates or keeps state.
// [stage 13]
#include "http/xps_http_semantics.h"

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <strings.h>
#include <ctime>

namespace {

bool is_space(char c) { return c == ' ' || c == '\t'; }

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads decimal digits at p[*i..len) into *out; false if there are none or
// the number would not fit in 63 bits (a range beyond any file).
bool read_number(const char *p, size_t len, size_t *i, uint64_t *out) {
    size_t start = *i;
    uint64_t v = 0;
    for (; *i < len && is_digit(p[*i]); (*i)++) {
        if (v > (UINT64_MAX / 2 - 9) / 10)
            return false;
        v = v * 10 + static_cast<uint64_t>(p[*i] - '0');
    }
    *out = v;
    return *i > start;
}

// Whether an entity-tag e[0..n) equals `etag`, weakly: "W/" is ignored on
// both sides (RFC 9110 §8.8.3.2).
bool weak_equal(const char *e, size_t n, const char *etag) {
    if (n >= 2 && e[0] == 'W' && e[1] == '/')
        e += 2, n -= 2;
    if (std::strncmp(etag, "W/", 2) == 0)
        etag += 2;
    return n == std::strlen(etag) && std::memcmp(e, etag, n) == 0;
}

int month_index(const char *m) {
    static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    for (int i = 0; i < 12; i++)
        if (std::memcmp(names + 3 * i, m, 3) == 0)
            return i;
    return -1;
}

} // namespace

void xps_http_etag_make(uint64_t size, int64_t mtime, char *out) noexcept {
    std::snprintf(out, XPS_HTTP_ETAG_MAX, "W/\"%" PRIx64 "-%" PRIx64 "\"", size,
                  static_cast<uint64_t>(mtime));
}

bool xps_http_etag_list_matches(const char *list, size_t len, const char *etag) noexcept {
    size_t i = 0;
    while (i < len) {
        while (i < len && (is_space(list[i]) || list[i] == ','))
            i++;
        size_t start = i;
        // An entity-tag may hold a comma between its quotes, never a quote
        // (RFC 9110 §8.8.3), so a comma inside quotes is the tag's.
        for (bool quoted = false; i < len && (quoted || list[i] != ','); i++)
            quoted ^= list[i] == '"';
        size_t end = i;
        while (end > start && is_space(list[end - 1]))
            end--;
        if (end - start == 1 && list[start] == '*')
            return true;
        if (end > start && weak_equal(list + start, end - start, etag))
            return true;
    }
    return false;
}

bool xps_http_date_parse(const char *text, size_t len, int64_t *out) noexcept {
    // "Sun, 06 Nov 1994 08:49:37 GMT": exactly 29 bytes, fixed positions.
    if (len != 29 || text[3] != ',' || std::memcmp(text + 25, " GMT", 4) != 0)
        return false;
    char copy[30];
    std::memcpy(copy, text, 29);
    copy[29] = '\0';
    char month[4] = "";
    int day = 0, year = 0, hh = 0, mm = 0, ss = 0, used = 0;
    if (std::sscanf(copy + 5, "%2d %3c %4d %2d:%2d:%2d GMT%n", &day, month, &year, &hh, &mm,
                    &ss, &used) != 6 || used != 24)
        return false;
    int mon = month_index(month);
    if (mon < 0 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 || year < 1970)
        return false;
    struct tm tm = {};
    tm.tm_year = year - 1900, tm.tm_mon = mon, tm.tm_mday = day;
    tm.tm_hour = hh, tm.tm_min = mm, tm.tm_sec = ss;
    *out = static_cast<int64_t>(timegm(&tm));
    return true;
}

bool xps_http_not_modified(const char *inm, size_t inm_len, const char *ims, size_t ims_len,
                           const char *etag, int64_t mtime) noexcept {
    if (inm) // §13.1.3: If-None-Match is the more precise validator; it decides alone
        return xps_http_etag_list_matches(inm, inm_len, etag);
    int64_t since = 0;
    if (ims && xps_http_date_parse(ims, ims_len, &since))
        return mtime <= since;
    return false;
}

bool xps_http_if_range_holds(const char *value, size_t len, const char *etag, int64_t mtime,
                             int64_t now) noexcept {
    // Two bytes tell the forms apart (§13.1.5): an entity-tag starts with
    // DQUOTE, or "W/" when weak; a date with a day name ("Wed", not "W/").
    if (len >= 2 && value[0] == 'W' && value[1] == '/')
        return false; // a weak tag never matches strongly (§8.8.3.2)
    if (len >= 1 && value[0] == '"') // strong comparison: etag strong too, the same bytes
        return etag && etag[0] == '"' && std::strlen(etag) == len &&
               std::memcmp(value, etag, len) == 0;
    // A date is a strong validator only if the file cannot have changed twice
    // within the second it names: that second must be over (§8.8.2.2).
    int64_t date = 0;
    return xps_http_date_parse(value, len, &date) && date == mtime && mtime < now;
}

xps_http_range_result_t xps_http_range_eval(const char *text, size_t len, uint64_t size,
                                            uint64_t *first, uint64_t *last) noexcept {
    if (len < 6 || std::strncmp(text, "bytes=", 6) != 0)
        return XPS_HTTP_RANGE_IGNORE; // another unit, or nonsense: ignore (§14.2)
    size_t i = 6;
    while (i < len && is_space(text[i]))
        i++;
    uint64_t a = 0, b = 0;
    bool has_a = read_number(text, len, &i, &a);
    if (i >= len || text[i] != '-')
        return XPS_HTTP_RANGE_IGNORE;
    i++;
    bool has_b = read_number(text, len, &i, &b);
    while (i < len && is_space(text[i]))
        i++;
    if (i < len) // a ',' (several ranges) or garbage: the whole file, 200
        return XPS_HTTP_RANGE_IGNORE;
    if (!has_a && !has_b)
        return XPS_HTTP_RANGE_IGNORE;
    if (!has_a) { // "-N": the last N bytes
        if (b == 0 || size == 0)
            return XPS_HTTP_RANGE_UNSATISFIABLE;
        *first = b >= size ? 0 : size - b;
        *last = size - 1;
        return XPS_HTTP_RANGE_OK;
    }
    if (has_b && b < a) // "5-2" is invalid syntax: ignore it
        return XPS_HTTP_RANGE_IGNORE;
    if (a >= size) // starts past the end: nothing of it exists
        return XPS_HTTP_RANGE_UNSATISFIABLE;
    *first = a;
    *last = has_b && b < size - 1 ? b : size - 1;
    return XPS_HTTP_RANGE_OK;
}

bool xps_http_keep_alive(int version, bool connection_close, bool connection_keep_alive) noexcept {
    if (connection_close)
        return false;
    return version == 11 || (version == 10 && connection_keep_alive);
}

// ------------------------------------------------ response heads [stage 13]

namespace {

bool name_is(const char *name, size_t len, const char *want) {
    return std::strlen(want) == len && strncasecmp(name, want, len) == 0;
}

// "HTTP/1.x NNN[ reason]" in line[0..len): sets version and status.
bool status_line(const char *line, size_t len, xps_http_response_head_t *out) {
    if (len < 12 || std::memcmp(line, "HTTP/1.", 7) != 0 || (line[7] != '0' && line[7] != '1') ||
        line[8] != ' ')
        return false;
    for (size_t i = 9; i < 12; i++)
        if (line[i] < '0' || line[i] > '9')
            return false;
    if (len > 12 && line[12] != ' ')
        return false;
    out->version = line[7] == '1' ? 11 : 10;
    out->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    return out->status >= 100;
}

// Content-Length's value line[0..len): a list of equal 1*DIGIT values
// (RFC 9110 §8.6). Folds it into *length (seen: an earlier line set it);
// false when it is not digits, too big, or differs from what was seen.
bool length_value(const char *v, size_t len, bool seen, uint64_t *length) {
    size_t i = 0;
    bool any = false;
    while (i < len) {
        while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        if (i == len)
            break;
        uint64_t n = 0;
        size_t digits = 0;
        for (; i < len && v[i] >= '0' && v[i] <= '9'; i++, digits++) {
            if (n > (UINT64_MAX - 9) / 10)
                return false;
            n = n * 10 + static_cast<uint64_t>(v[i] - '0');
        }
        while (i < len && (v[i] == ' ' || v[i] == '\t'))
            i++;
        if (digits == 0 || (i < len && v[i] != ',') || ((seen || any) && n != *length))
            return false;
        *length = n;
        any = true;
    }
    return any;
}

// Whether the last coding of a Transfer-Encoding value v[0..len) is chunked.
bool chunked_last(const char *v, size_t len) {
    size_t end = len;
    while (end > 0 && (v[end - 1] == ' ' || v[end - 1] == '\t' || v[end - 1] == ','))
        end--;
    size_t start = end;
    while (start > 0 && v[start - 1] != ',' && v[start - 1] != ' ' && v[start - 1] != '\t')
        start--;
    return name_is(v + start, end - start, "chunked");
}

// The framing a complete head announces (RFC 9112 §6.3, in rule order).
int framing_of(const xps_http_response_head_t *h, bool length_ok, bool chunked) {
    if ((h->status >= 100 && h->status < 200) || h->status == 204 || h->status == 304)
        return XPS_HTTP_FRAMING_NONE;
    if (h->has_transfer_encoding && h->has_content_length)
        return XPS_HTTP_FRAMING_INVALID; // smuggling or splitting: an error (rule 3)
    if (h->has_transfer_encoding)
        return chunked ? XPS_HTTP_FRAMING_CHUNKED : XPS_HTTP_FRAMING_CLOSE;
    if (h->has_content_length)
        return length_ok ? XPS_HTTP_FRAMING_LENGTH : XPS_HTTP_FRAMING_INVALID;
    return XPS_HTTP_FRAMING_CLOSE;
}

} // namespace

int xps_http_response_head_scan(const char *buf, size_t len,
                                xps_http_response_head_t *out) noexcept {
    static const char prefix[] = "HTTP/";
    size_t p = len < 5 ? len : 5;
    if (std::memcmp(buf, prefix, p) != 0)
        return XPS_E_INVAL; // not a response at all (an echo, a 0.9 reply)
    *out = xps_http_response_head_t{};
    bool length_ok = true, chunked = false;
    size_t line = 0; // where the current line starts
    for (size_t i = 0; i < len; i++) {
        // A LF not after a CR, or a NUL: a client reading the relayed head
        // could end a line there that this scan does not (a field the proxy
        // never saw), so the head is refused (RFC 9110 §5.5, RFC 9112 §2.2).
        if (buf[i] == '\n' || buf[i] == '\0')
            return XPS_E_INVAL;
        if (buf[i] != '\r')
            continue;
        if (i + 1 == len)
            break; // its LF may come next
        if (buf[i + 1] != '\n')
            return XPS_E_INVAL; // a bare CR
        size_t n = i - line;
        if (line == 0) {
            if (!status_line(buf, n, out))
                return XPS_E_INVAL;
        } else if (n == 0) { // the blank line: the head is complete
            out->head_length = i + 2;
            out->framing = framing_of(out, length_ok, chunked);
            if (out->framing != XPS_HTTP_FRAMING_LENGTH)
                out->content_length = 0;
            return XPS_OK;
        } else {
            const char *colon = static_cast<const char *>(std::memchr(buf + line, ':', n));
            size_t name_len = colon ? static_cast<size_t>(colon - (buf + line)) : 0;
            if (name_len == 0 || std::memchr(buf + line, ' ', name_len) ||
                std::memchr(buf + line, '\t', name_len))
                return XPS_E_INVAL; // no colon, empty name, or obs-fold
            const char *value = colon + 1;
            size_t value_len = n - name_len - 1;
            if (name_is(buf + line, name_len, "content-length")) {
                length_ok = length_ok && length_value(value, value_len, out->has_content_length,
                                                      &out->content_length);
                out->has_content_length = true;
            } else if (name_is(buf + line, name_len, "transfer-encoding")) {
                chunked = chunked_last(value, value_len); // the last line's last coding
                out->has_transfer_encoding = true;
            }
        }
        line = ++i + 1;
    }
    return XPS_E_AGAIN;
}
