// http/xps_http_response.cpp — see xps_http_response.h for the contract.
//
// [stage 11] A response is a status, a list of (name, value) pairs and a
// description of the body. Nothing is formatted until serialise: it measures
// the head first and fills one buffer of exactly that size, so the head goes
// into the pipe (and onto the wire) as one piece, with no realloc on the way.
#include "http/xps_http_response.h"

#include <cassert>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "core/xps_buffer.h"

namespace {

// One header line as the caller gave it.
struct header {
    std::string name;  // a token, spelt as given ("Content-Type")
    std::string value; // checked: no control bytes but tab, no outer blanks
};

// RFC 9110 §15 reason phrases (and RFC 6585 for 428, 429, 431), sorted by
// code. Every code stages 10-13 and 17-18 send is here; the rest of the
// registry's common codes come along so that a later stage never has to
// wonder.
struct reason_row {
    int status;         // the code
    const char *reason; // its phrase, static
};

constexpr reason_row reasons[] = {
    {100, "Continue"},
    {101, "Switching Protocols"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {203, "Non-Authoritative Information"},
    {204, "No Content"},
    {205, "Reset Content"},
    {206, "Partial Content"},
    {300, "Multiple Choices"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {402, "Payment Required"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {407, "Proxy Authentication Required"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {412, "Precondition Failed"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {416, "Range Not Satisfiable"},
    {417, "Expectation Failed"},
    {421, "Misdirected Request"},
    {422, "Unprocessable Content"},
    {426, "Upgrade Required"},
    {428, "Precondition Required"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
};

// The table must stay sorted: the compiler checks it, so a row added out of
// place fails the build instead of quietly breaking the search below.
constexpr bool reasons_sorted() {
    for (size_t i = 1; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (reasons[i - 1].status >= reasons[i].status)
            return false;
    return true;
}
static_assert(reasons_sorted(), "reasons[] must be sorted by status, without duplicates");

// ASCII case-insensitive equality: header names are case-insensitive
// (RFC 9110 §5.1), and locale-dependent strcasecmp is not what HTTP means.
bool same_name(std::string_view a, std::string_view b) {
    if (a.size() != b.size())
        return false;
    for (size_t i = 0; i < a.size(); i++) {
        unsigned char x = static_cast<unsigned char>(a[i]);
        unsigned char y = static_cast<unsigned char>(b[i]);
        if (x >= 'A' && x <= 'Z')
            x = static_cast<unsigned char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = static_cast<unsigned char>(y - 'A' + 'a');
        if (x != y)
            return false;
    }
    return true;
}

// tchar, RFC 9110 §5.6.2: the bytes a field name may hold.
bool is_tchar(unsigned char c) {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != 0 && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

bool valid_name(const char *name) {
    if (!name || !*name)
        return false;
    for (const char *p = name; *p; p++)
        if (!is_tchar(static_cast<unsigned char>(*p)))
            return false;
    return true;
}

// RFC 9110 §5.5: a value is visible bytes, spaces, tabs and obs-text; CR,
// LF and NUL are forbidden outright. Refusing every control byte but tab is
// the header-injection defence: "x\r\nSet-Cookie: ..." can never become a
// second line. Leading or trailing blanks would be dropped by the receiver
// (they are not part of the value), so they are refused too.
bool valid_value(const char *value) {
    if (!value)
        return false;
    size_t len = std::strlen(value);
    if (len > 0 && (value[0] == ' ' || value[0] == '\t' || value[len - 1] == ' ' ||
                    value[len - 1] == '\t'))
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = static_cast<unsigned char>(value[i]);
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

// The checks set_header and add_header share. Content-Length is refused as
// a header: it must agree with the body, so only the body functions set it.
int check_field(const char *name, const char *value) {
    if (!valid_name(name) || !valid_value(value) || same_name(name, "Content-Length"))
        return XPS_E_INVAL;
    return XPS_OK;
}

// The per-process Date cache. Plain data, zero-initialised: no constructor
// runs before main (STYLE.md), and one loop per process means no lock.
struct date_cache {
    bool valid;              // text holds the date of `second`
    int64_t second;          // the second text was formatted for
    uint64_t formats;        // how many times text was (re)formatted
    char text[XPS_HTTP_DATE_LEN + 1]; // "Sun, 06 Nov 1994 08:49:37 GMT"
};
date_cache the_date_cache;

// Writes `value` as exactly `width` decimal digits, zero-padded, at `at`.
void put_digits(char *at, int value, int width) {
    for (int i = width - 1; i >= 0; i--, value /= 10)
        at[i] = static_cast<char>('0' + value % 10);
}

} // namespace

struct xps_http_response_s {
    int status;                  // 100..599
    std::vector<header> headers; // in order of first setting; Server first
    std::string body;            // bytes of set_body (serialised after the head)
    bool body_stored;            // set_body was the last body call
    bool length_set;             // set_body_length or set_body was called
    uint64_t length;             // the Content-Length they stated
    bool omitted;                // omit_body: a HEAD answer, no body follows
};

// ---------------------------------------------------------------- table

const char *xps_http_reason(int status) noexcept {
    size_t lo = 0, hi = sizeof(reasons) / sizeof(reasons[0]);
    while (lo < hi) { // binary search on the sorted table
        size_t mid = lo + (hi - lo) / 2;
        if (reasons[mid].status == status)
            return reasons[mid].reason;
        if (reasons[mid].status < status)
            lo = mid + 1;
        else
            hi = mid;
    }
    return nullptr;
}

// ----------------------------------------------------------------- Date

void xps_http_date_format(int64_t unix_seconds, char *out) noexcept {
    // Day and month names are fixed by the RFC, not by the locale:
    // strftime's %a would say "dim." in a French locale.
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    constexpr int64_t last = 253402300799; // 9999-12-31 23:59:59, four year digits
    int64_t clamped = unix_seconds < 0 ? 0 : unix_seconds > last ? last : unix_seconds;
    time_t t = static_cast<time_t>(clamped);
    struct tm tm;
    gmtime_r(&t, &tm);
    // Fixed positions: "Www, DD Mmm YYYY hh:mm:ss GMT". Written digit by
    // digit rather than with snprintf, whose width the compiler cannot bound.
    std::memcpy(out, "Www, 00 Mmm 0000 00:00:00 GMT", XPS_HTTP_DATE_LEN + 1);
    std::memcpy(out, days[tm.tm_wday], 3);
    std::memcpy(out + 8, months[tm.tm_mon], 3);
    put_digits(out + 5, tm.tm_mday, 2);
    put_digits(out + 12, tm.tm_year + 1900, 4);
    put_digits(out + 17, tm.tm_hour, 2);
    put_digits(out + 20, tm.tm_min, 2);
    put_digits(out + 23, tm.tm_sec, 2);
}

const char *xps_http_date(int64_t unix_seconds) noexcept {
    date_cache &c = the_date_cache;
    if (!c.valid || c.second != unix_seconds) { // a new second: format once
        xps_http_date_format(unix_seconds, c.text);
        c.second = unix_seconds;
        c.valid = true;
        c.formats++;
    }
    return c.text;
}

uint64_t xps_http_date_format_count(void) noexcept { return the_date_cache.formats; }

// ------------------------------------------------------------ lifecycle

xps_http_response_t *xps_http_response_create(int status, int *error) noexcept {
    int dummy;
    int &err = error ? *error : dummy;
    if (status < 100 || status > 599) {
        err = XPS_E_INVAL;
        return nullptr;
    }
    try {
        std::unique_ptr<xps_http_response_t> res(
            new xps_http_response_t{status, {}, {}, false, false, 0, false});
        res->headers.push_back({"Server", XPS_HTTP_SERVER_NAME});
        err = XPS_OK;
        return res.release();
    } catch (const std::bad_alloc &) {
        err = XPS_E_NOMEM;
        return nullptr;
    }
}

xps_http_response_t *xps_http_response_create_error(int status, const char *text,
                                                    int *error) noexcept {
    int dummy;
    int &err = error ? *error : dummy;
    if (text && !valid_value(text)) { // a body line, but the same rule keeps it one line
        err = XPS_E_INVAL;
        return nullptr;
    }
    xps_http_response_t *res = xps_http_response_create(status, &err);
    if (!res)
        return nullptr;
    char line[64]; // "<status> <reason>" when no text was given
    if (!text) {
        const char *reason = xps_http_reason(status);
        std::snprintf(line, sizeof line, "%d %s", status, reason ? reason : "");
        text = line;
    }
    try {
        std::string body = std::string(text) + "\n";
        err = xps_http_response_set_header(res, "Content-Type", "text/plain");
        if (err == XPS_OK)
            err = xps_http_response_set_body(res, body.data(), body.size());
    } catch (const std::bad_alloc &) {
        err = XPS_E_NOMEM;
    }
    if (err != XPS_OK) {
        xps_http_response_destroy(res);
        return nullptr;
    }
    return res;
}

void xps_http_response_destroy(xps_http_response_t *res) noexcept { delete res; }

// -------------------------------------------------------------- headers

int xps_http_response_set_header(xps_http_response_t *res, const char *name,
                                 const char *value) noexcept {
    assert(res);
    if (int err = check_field(name, value); err != XPS_OK)
        return err;
    try {
        header fresh{name, value}; // copied before anything changes: all or nothing
        auto &hs = res->headers;
        auto first = hs.end();
        for (auto it = hs.begin(); it != hs.end();) {
            if (!same_name(it->name, name)) {
                ++it;
            } else if (first == hs.end()) {
                first = it++;
            } else {
                it = hs.erase(it); // erasing never allocates: no throw here
            }
        }
        if (first != hs.end())
            *first = std::move(fresh);
        else
            hs.push_back(std::move(fresh));
        return XPS_OK;
    } catch (const std::bad_alloc &) {
        return XPS_E_NOMEM;
    }
}

int xps_http_response_add_header(xps_http_response_t *res, const char *name,
                                 const char *value) noexcept {
    assert(res);
    if (int err = check_field(name, value); err != XPS_OK)
        return err;
    try {
        res->headers.push_back({name, value});
        return XPS_OK;
    } catch (const std::bad_alloc &) {
        return XPS_E_NOMEM;
    }
}

int xps_http_response_remove_header(xps_http_response_t *res, const char *name) noexcept {
    assert(res && name);
    auto &hs = res->headers;
    size_t before = hs.size();
    std::erase_if(hs, [name](const header &h) { return same_name(h.name, name); });
    return hs.size() < before ? XPS_OK : XPS_E_NOTFOUND;
}

// ----------------------------------------------------------------- body

void xps_http_response_set_body_length(xps_http_response_t *res, uint64_t length) noexcept {
    assert(res);
    res->body.clear();
    res->body_stored = false;
    res->length_set = true;
    res->length = length;
}

int xps_http_response_set_body(xps_http_response_t *res, const void *bytes, size_t len) noexcept {
    assert(res && (bytes || len == 0));
    try {
        std::string copy(static_cast<const char *>(bytes), len);
        res->body.swap(copy);
    } catch (const std::bad_alloc &) {
        return XPS_E_NOMEM;
    }
    res->body_stored = true;
    res->length_set = true;
    res->length = len;
    return XPS_OK;
}

void xps_http_response_omit_body(xps_http_response_t *res) noexcept {
    assert(res);
    res->omitted = true;
}

// ------------------------------------------------------------ serialise

namespace {

// RFC 9112 §6.3: these statuses end at the head, whatever it says.
bool status_has_no_body(int status) {
    return (status >= 100 && status < 200) || status == 204 || status == 304;
}

// Whether the head carries Content-Length: never on 1xx or 204 (RFC 9110
// §8.6), nor beside a Transfer-Encoding (RFC 9112 §6.2); on 304 only when
// the caller stated the length of the representation.
bool writes_length(const xps_http_response_t *res) {
    if ((res->status >= 100 && res->status < 200) || res->status == 204)
        return false;
    if (xps_http_response_header(res, "Transfer-Encoding"))
        return false;
    return res->length_set || res->status != 304;
}

// Appends text to the buffer being filled; serialise sized it exactly.
void put(char *&at, std::string_view text) {
    std::memcpy(at, text.data(), text.size());
    at += text.size();
}

} // namespace

xps_buffer_t *xps_http_response_serialize(const xps_http_response_t *res, int64_t now,
                                          int *error) noexcept {
    return xps_http_response_serialize_with_room(res, now, 0, error);
}

xps_buffer_t *xps_http_response_serialize_with_room(const xps_http_response_t *res, int64_t now,
                                                    size_t room, int *error) noexcept {
    assert(res);
    int dummy;
    int &err = error ? *error : dummy;
    const char *reason = xps_http_reason(res->status);
    char status_line[64]; // "HTTP/1.1 505 HTTP Version Not Supported\r\n" fits
    std::snprintf(status_line, sizeof status_line, "HTTP/1.1 %d %s\r\n", res->status,
                  reason ? reason : "");
    char length_line[48]; // "Content-Length: " + 20 digits + CRLF
    length_line[0] = '\0';
    if (writes_length(res))
        std::snprintf(length_line, sizeof length_line, "Content-Length: %llu\r\n",
                      static_cast<unsigned long long>(res->length));
    const char *date = xps_http_response_header(res, "Date") ? nullptr : xps_http_date(now);
    bool with_body = res->body_stored && xps_http_response_has_body(res);

    // Measure, then fill: one allocation of exactly the right size.
    size_t size = std::strlen(status_line) + std::strlen(length_line) + 2;
    if (date)
        size += 6 + XPS_HTTP_DATE_LEN + 2; // "Date: " + date + CRLF
    for (const header &h : res->headers)
        size += h.name.size() + 2 + h.value.size() + 2;
    if (with_body)
        size += res->body.size();
    xps_buffer_t *out = size + room >= size ? xps_buffer_create(size + room) : nullptr;
    if (!out) {
        err = XPS_E_NOMEM;
        return nullptr;
    }
    char *at = xps_buffer_space(out);
    put(at, status_line);
    if (date) {
        put(at, "Date: ");
        put(at, date);
        put(at, "\r\n");
    }
    for (const header &h : res->headers) {
        put(at, h.name);
        put(at, ": ");
        put(at, h.value);
        put(at, "\r\n");
    }
    put(at, length_line);
    put(at, "\r\n"); // the empty line: end of the head
    if (with_body)
        put(at, res->body);
    assert(static_cast<size_t>(at - xps_buffer_space(out)) == size);
    xps_buffer_produce(out, size);
    err = XPS_OK;
    return out;
}

// ------------------------------------------------------------ accessors

int xps_http_response_status(const xps_http_response_t *res) noexcept {
    assert(res);
    return res->status;
}

const char *xps_http_response_header(const xps_http_response_t *res, const char *name) noexcept {
    assert(res && name);
    for (const header &h : res->headers)
        if (same_name(h.name, name))
            return h.value.c_str();
    return nullptr;
}

bool xps_http_response_has_body(const xps_http_response_t *res) noexcept {
    assert(res);
    return !res->omitted && !status_has_no_body(res->status);
}

uint64_t xps_http_response_body_length(const xps_http_response_t *res) noexcept {
    assert(res);
    return writes_length(res) ? res->length : 0;
}
