/*
 * modules/cache/xps_cache_policy.h — the rules of a shared HTTP cache
 * (RFC 9111), as pure functions: what Cache-Control says, whether a
 * response may be stored, how long it stays fresh, how old it is, and
 * what a request gets from a stored response (a hit, a revalidation, or
 * the upstream). [stage 20]
 *
 * Why pure: the cache module around it stores entries on disk and shares
 * an index between worker processes; every decision it takes comes from
 * here, from header values and times the caller passes in, so the rules
 * are tested table by table with no clock, no disk and no network.
 *
 * The rules, for a SHARED cache (a reverse proxy's: RFC 9111 §3, §4, §5.2):
 *  - stored only for GET, a final status the cache understands, and no
 *    no-store in the request or the response; never `private`;
 *  - a request with Authorization only when the response says `public`,
 *    `s-maxage` or `must-revalidate` (§3.5);
 *  - never a response with Set-Cookie: one client's cookie must never
 *    reach another (this project's rule; RFC 9111 §7.3 leaves it to us);
 *  - never `Vary: *` (no request can match it, §4.1);
 *  - freshness lifetime: s-maxage, else max-age, else Expires − Date,
 *    else, for a heuristically cacheable status with Last-Modified and
 *    no explicit rule, 10 % of Date − Last-Modified, at most one day
 *    (§4.2.2); a response with none of these is not stored;
 *  - an invalid max-age, s-maxage or Expires means stale (§4.2.1, §5.3);
 *  - age as §4.2.3 computes it (Age, Date, and the request's and
 *    response's times, so a slow upstream does not make an entry younger);
 *  - a stored response is served fresh unless the response said no-cache
 *    or the request asks otherwise (no-cache, max-age, min-fresh); stale,
 *    it is revalidated (If-None-Match / If-Modified-Since); a request's
 *    max-stale may take a stale one, never when the response said
 *    must-revalidate, proxy-revalidate or s-maxage (§4.2.4, §5.2.2.2).
 * Times are whole seconds since the epoch (int64_t); dates are read with
 * xps_http_date_parse (http/xps_http_semantics.h), which takes IMF-fixdate
 * only: an Expires in an obsolete form counts as invalid, i.e. stale — the
 * safe side. A missing header is passed as NULL. Nothing here allocates or logs. Threading: any.
 */
#ifndef XPS_MODULES_CACHE_POLICY_H
#define XPS_MODULES_CACHE_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/xps.h"

#ifdef __cplusplus
extern "C" {
#endif

/* "Not given" for the numbers below. */
#define XPS_CACHE_UNSET (-1)

/* The directives of one Cache-Control field value (several field lines
 * joined with ", "). Numbers are seconds; XPS_CACHE_UNSET when absent.
 * A directive given with an invalid value sets its `_invalid` flag. */
typedef struct xps_cache_control {
    int64_t max_age;
    int64_t s_maxage;
    int64_t max_stale;     /* request: "max-stale" with no value is INT64_MAX */
    int64_t min_fresh;     /* request */
    bool max_age_invalid;
    bool s_maxage_invalid;
    bool no_store;
    bool no_cache;         /* with or without a field list: the whole response */
    bool private_;         /* with or without a field list: not for a shared cache */
    bool public_;
    bool must_revalidate;
    bool proxy_revalidate;
    bool only_if_cached;   /* request */
} xps_cache_control_t;

/* Reads a Cache-Control value (`value` may be NULL: no field). Unknown
 * directives are ignored (§5.2.3); names are case-insensitive; values are
 * tokens or quoted strings. */
void xps_cache_control_parse(const char *value, size_t len, xps_cache_control_t *out) XPS_NOEXCEPT;

/* What the cache needs of a response (its head) and of the request it
 * answered. Field values as received, NUL-terminated; NULL when absent. */
typedef struct xps_cache_response {
    int status;
    const char *cache_control;
    const char *expires;
    const char *date;
    const char *last_modified;
    const char *age;
    const char *vary;
    bool has_set_cookie;
    int64_t request_time;  /* when the request went to the upstream */
    int64_t response_time; /* when the response's head came back */
} xps_cache_response_t;

typedef struct xps_cache_request {
    bool is_get;           /* GET; (HEAD is answered from a GET's entry) */
    const char *cache_control;
    const char *pragma;    /* "no-cache" here is no-cache when Cache-Control is absent */
    bool has_authorization;
} xps_cache_request_t;

/* Why a response is not stored (XPS_CACHE_STORE when it is). */
typedef enum xps_cache_store_verdict {
    XPS_CACHE_STORE = 0,
    XPS_CACHE_NOT_GET,
    XPS_CACHE_STATUS,        /* not a status this cache stores */
    XPS_CACHE_NO_STORE,      /* no-store in the request or the response */
    XPS_CACHE_PRIVATE,
    XPS_CACHE_AUTHORIZATION, /* §3.5: the response does not allow it */
    XPS_CACHE_SET_COOKIE,
    XPS_CACHE_VARY_STAR,
    XPS_CACHE_NO_FRESHNESS,  /* no explicit lifetime and none to derive */
} xps_cache_store_verdict_t;

/* Whether `res`, the answer to `req`, may be stored; why not, when not. */
xps_cache_store_verdict_t xps_cache_storable(const xps_cache_request_t *req,
                                             const xps_cache_response_t *res) XPS_NOEXCEPT;

/* A few words for a verdict ("Set-Cookie"), for logs and X-Cache notes. */
const char *xps_cache_verdict_text(xps_cache_store_verdict_t verdict) XPS_NOEXCEPT;

/* The response's freshness lifetime in seconds (§4.2.1), 0 when stale
 * from the start (an invalid value, or none). */
int64_t xps_cache_freshness_lifetime(const xps_cache_response_t *res) XPS_NOEXCEPT;

/* The response's age in seconds at `now` (§4.2.3). */
int64_t xps_cache_current_age(const xps_cache_response_t *res, int64_t now) XPS_NOEXCEPT;

/* What a request gets from a stored response. */
typedef enum xps_cache_use {
    XPS_CACHE_FRESH = 0,    /* serve it (X-Cache: HIT) */
    XPS_CACHE_REVALIDATE,   /* ask the upstream with its validators (X-Cache: EXPIRED) */
    XPS_CACHE_STALE_OK,     /* serve it stale: the request's max-stale allows it */
} xps_cache_use_t;

/* Decides for `req` at `now`, given the stored `res`. */
xps_cache_use_t xps_cache_use(const xps_cache_request_t *req, const xps_cache_response_t *res,
                              int64_t now) XPS_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* XPS_MODULES_CACHE_POLICY_H */
