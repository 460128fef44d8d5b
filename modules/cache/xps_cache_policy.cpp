// modules/cache/xps_cache_policy.cpp — the contract is in
// xps_cache_policy.h; the section numbers are RFC 9111's.
#include "modules/cache/xps_cache_policy.h"

#include <cstdint>
#include <cstring>

#include "http/xps_http_semantics.h"

namespace {

constexpr int64_t heuristic_cap = 24 * 60 * 60; // at most a day from Last-Modified

bool is_space(char c) { return c == ' ' || c == '\t'; }

bool lower_equal(const char *a, size_t len, const char *word) {
    if (std::strlen(word) != len)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
        if (c != word[i])
            return false;
    }
    return true;
}

// delta-seconds (§1.2.2): digits only; a value too large to hold is the
// largest one (2^31 is "infinity" enough). false when not digits.
bool delta_seconds(const char *v, size_t len, int64_t *out) {
    if (len == 0)
        return false;
    int64_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return false;
        if (n < 2147483648LL)
            n = n * 10 + (v[i] - '0');
    }
    *out = n > 2147483648LL ? 2147483648LL : n;
    return true;
}

// Statuses a cache may store on a heuristic (RFC 9110 §15.1) — and, with
// explicit freshness, the only ones this cache stores at all.
bool heuristically_cacheable(int status) {
    switch (status) {
    case 200: case 203: case 204: case 206: case 300: case 301: case 308:
    case 404: case 405: case 410: case 414: case 501:
        return true;
    default:
        return false;
    }
}

bool date_of(const char *text, int64_t *out) {
    return text && xps_http_date_parse(text, std::strlen(text), out);
}

xps_cache_control_t parsed(const char *value) {
    xps_cache_control_t cc;
    xps_cache_control_parse(value, value ? std::strlen(value) : 0, &cc);
    return cc;
}

xps_cache_control_t request_control(const xps_cache_request_t *req) {
    xps_cache_control_t cc = parsed(req->cache_control);
    // Pragma: no-cache counts only where Cache-Control is absent (§5.4).
    if (!req->cache_control && req->pragma) {
        const char *p = req->pragma;
        size_t n = std::strlen(p);
        for (size_t i = 0; i + 8 <= n; i++)
            if (lower_equal(p + i, 8, "no-cache"))
                cc.no_cache = true;
    }
    return cc;
}

} // namespace

void xps_cache_control_parse(const char *value, size_t len, xps_cache_control_t *out) XPS_NOEXCEPT {
    *out = xps_cache_control_t{XPS_CACHE_UNSET, XPS_CACHE_UNSET, XPS_CACHE_UNSET, XPS_CACHE_UNSET,
                               false, false, false, false, false, false, false, false, false};
    size_t i = 0;
    while (value && i < len) {
        while (i < len && (is_space(value[i]) || value[i] == ','))
            i++;
        size_t name = i;
        while (i < len && value[i] != '=' && value[i] != ',' && !is_space(value[i]))
            i++;
        size_t name_len = i - name;
        while (i < len && is_space(value[i]))
            i++;
        const char *arg = nullptr;
        size_t arg_len = 0;
        bool has_arg = i < len && value[i] == '=';
        if (has_arg) {
            i++;
            while (i < len && is_space(value[i]))
                i++;
            if (i < len && value[i] == '"') { // quoted-string: up to the closing quote
                arg = value + ++i;
                while (i < len && value[i] != '"')
                    i += value[i] == '\\' && i + 1 < len ? 2 : 1;
                arg_len = static_cast<size_t>(value + i - arg);
                if (i < len)
                    i++;
            } else {
                arg = value + i;
                while (i < len && value[i] != ',' && !is_space(value[i]))
                    i++;
                arg_len = static_cast<size_t>(value + i - arg);
            }
        }
        while (i < len && value[i] != ',') // anything else up to the next directive
            i++;
        const char *n = value + name;
        int64_t secs = 0;
        bool valid = has_arg && delta_seconds(arg, arg_len, &secs);
        if (lower_equal(n, name_len, "max-age")) {
            out->max_age = valid ? secs : XPS_CACHE_UNSET;
            out->max_age_invalid = !valid;
        } else if (lower_equal(n, name_len, "s-maxage")) {
            out->s_maxage = valid ? secs : XPS_CACHE_UNSET;
            out->s_maxage_invalid = !valid;
        } else if (lower_equal(n, name_len, "max-stale")) {
            out->max_stale = !has_arg ? INT64_MAX : valid ? secs : XPS_CACHE_UNSET;
        } else if (lower_equal(n, name_len, "min-fresh")) {
            out->min_fresh = valid ? secs : XPS_CACHE_UNSET;
        } else if (lower_equal(n, name_len, "no-store")) {
            out->no_store = true;
        } else if (lower_equal(n, name_len, "no-cache")) {
            out->no_cache = true;
        } else if (lower_equal(n, name_len, "private")) {
            out->private_ = true;
        } else if (lower_equal(n, name_len, "public")) {
            out->public_ = true;
        } else if (lower_equal(n, name_len, "must-revalidate")) {
            out->must_revalidate = true;
        } else if (lower_equal(n, name_len, "proxy-revalidate")) {
            out->proxy_revalidate = true;
        } else if (lower_equal(n, name_len, "only-if-cached")) {
            out->only_if_cached = true;
        }
    }
}

int64_t xps_cache_freshness_lifetime(const xps_cache_response_t *res) XPS_NOEXCEPT {
    xps_cache_control_t cc = parsed(res->cache_control);
    if (cc.s_maxage_invalid || cc.max_age_invalid)
        return 0;
    if (cc.s_maxage != XPS_CACHE_UNSET)
        return cc.s_maxage;
    if (cc.max_age != XPS_CACHE_UNSET)
        return cc.max_age;
    int64_t date = 0, expires = 0, modified = 0;
    bool has_date = date_of(res->date, &date);
    if (!has_date)
        date = res->response_time; // §4.2.3: a missing Date is the time it arrived
    if (res->expires)              // an invalid Expires (e.g. "0") means already stale
        return date_of(res->expires, &expires) && expires > date ? expires - date : 0;
    if (heuristically_cacheable(res->status) && date_of(res->last_modified, &modified) &&
        modified < date) {
        int64_t tenth = (date - modified) / 10;
        return tenth < heuristic_cap ? tenth : heuristic_cap;
    }
    return 0;
}

int64_t xps_cache_current_age(const xps_cache_response_t *res, int64_t now) XPS_NOEXCEPT {
    int64_t date = res->response_time, age_value = 0;
    date_of(res->date, &date);
    if (res->age)
        delta_seconds(res->age, std::strlen(res->age), &age_value);
    int64_t apparent = res->response_time - date > 0 ? res->response_time - date : 0;
    int64_t delay = res->response_time - res->request_time;
    int64_t corrected_age = age_value + (delay > 0 ? delay : 0);
    int64_t initial = apparent > corrected_age ? apparent : corrected_age;
    int64_t resident = now - res->response_time;
    return initial + (resident > 0 ? resident : 0);
}

xps_cache_store_verdict_t xps_cache_storable(const xps_cache_request_t *req,
                                             const xps_cache_response_t *res) XPS_NOEXCEPT {
    xps_cache_control_t rq = request_control(req), rs = parsed(res->cache_control);
    if (!req->is_get)
        return XPS_CACHE_NOT_GET;
    if (!heuristically_cacheable(res->status))
        return XPS_CACHE_STATUS;
    if (rq.no_store || rs.no_store)
        return XPS_CACHE_NO_STORE;
    if (rs.private_)
        return XPS_CACHE_PRIVATE;
    if (req->has_authorization && !rs.public_ && rs.s_maxage == XPS_CACHE_UNSET &&
        !rs.must_revalidate)
        return XPS_CACHE_AUTHORIZATION;
    if (res->has_set_cookie)
        return XPS_CACHE_SET_COOKIE;
    if (res->vary) {
        const char *v = res->vary;
        size_t n = std::strlen(v);
        for (size_t i = 0; i < n; i++)
            if (v[i] == '*')
                return XPS_CACHE_VARY_STAR;
    }
    // no-cache responses are stored (they are revalidated on every use).
    if (xps_cache_freshness_lifetime(res) == 0 && !rs.no_cache && !rs.public_)
        return XPS_CACHE_NO_FRESHNESS;
    return XPS_CACHE_STORE;
}

const char *xps_cache_verdict_text(xps_cache_store_verdict_t verdict) XPS_NOEXCEPT {
    switch (verdict) {
    case XPS_CACHE_STORE: return "stored";
    case XPS_CACHE_NOT_GET: return "not a GET";
    case XPS_CACHE_STATUS: return "a status this cache does not store";
    case XPS_CACHE_NO_STORE: return "no-store";
    case XPS_CACHE_PRIVATE: return "private";
    case XPS_CACHE_AUTHORIZATION: return "Authorization without public, s-maxage or must-revalidate";
    case XPS_CACHE_SET_COOKIE: return "Set-Cookie";
    case XPS_CACHE_VARY_STAR: return "Vary: *";
    case XPS_CACHE_NO_FRESHNESS: return "no freshness lifetime";
    }
    return "?";
}

xps_cache_use_t xps_cache_use(const xps_cache_request_t *req, const xps_cache_response_t *res,
                              int64_t now) XPS_NOEXCEPT {
    xps_cache_control_t rq = request_control(req), rs = parsed(res->cache_control);
    if (rq.no_cache || rs.no_cache)
        return XPS_CACHE_REVALIDATE;
    int64_t lifetime = xps_cache_freshness_lifetime(res);
    int64_t age = xps_cache_current_age(res, now);
    if (rq.max_age != XPS_CACHE_UNSET && age > rq.max_age)
        return XPS_CACHE_REVALIDATE;
    int64_t min_fresh = rq.min_fresh != XPS_CACHE_UNSET ? rq.min_fresh : 0;
    if (lifetime > age && lifetime - age >= min_fresh) // fresh (§4.2), for long enough
        return XPS_CACHE_FRESH;
    // Stale. must-revalidate, proxy-revalidate and s-maxage forbid serving
    // it without asking (§5.2.2.2, §5.2.2.8, §5.2.2.10).
    bool must_ask = rs.must_revalidate || rs.proxy_revalidate || rs.s_maxage != XPS_CACHE_UNSET;
    if (!must_ask && rq.max_stale != XPS_CACHE_UNSET && age - lifetime <= rq.max_stale)
        return XPS_CACHE_STALE_OK;
    return XPS_CACHE_REVALIDATE;
}
