/*
 * modules/config/xps_config.h — the server's JSON configuration: read,
 * checked from top to bottom, and asked "who serves this request?".
 *
 * Why: from stage 12 on, what listens where and what each URL does comes
 * from a file instead of main.cpp. A configuration is written by a person,
 * so everything wrong with it must be found at start-up, before anything
 * listens, and reported in one line a person can act on: the file, where in
 * it (line and column for a syntax error, the JSON path otherwise) and why:
 *
 *     conf.json:3:17: invalid JSON: missing ',' before this member
 *     conf.json: servers[0].routes[2].type: unknown route type "proxy"
 *         (expected file_serve, reverse_proxy, redirect, metrics or health)
 *
 * The schema (every key, its type, default and stage) is docs/config.md.
 * Keys of later stages (gzip_level, tls, timeouts, ...) are accepted and
 * checked where that is cheap, so one file serves every stage; a key that
 * no stage knows (a typo: "req_pth") is refused, never ignored. Each
 * route's ip_whitelist / ip_blacklist is parsed into a filter at load
 * (stage 14 asks it; earlier stages carry it unasked).
 *
 * Introduced in stage 12. Stage 12 answers with it: listener + Host header
 * choose a server block, the longest req_path on a segment boundary chooses
 * a route (see xps_config_lookup). Later stages read more of each route.
 *
 * Lifecycle: load | parse -> (lookup, accessors ...) -> destroy. These two
 * are the module's create functions, named for where the text comes from.
 * Ownership: the caller owns the xps_config_t. Everything it hands out
 * (strings, listener and upstream views, match results) is borrowed from
 * it: read-only, valid until xps_config_destroy. A config never changes
 * after it is made, so lookups need no locking and any number may run.
 * Read-only views: a parsed configuration is data, not an object with
 * behaviour, so listeners, upstreams and lookup results are plain const
 * structs the caller reads (fields documented below); the config itself is
 * opaque, so its internal layout can change.
 * Errors: load and parse give NULL and a message (never logged here: the
 * caller prints it once and exits non-zero). xps_config_lookup returns
 * XPS_OK or XPS_E_NOTFOUND.
 * Threading: none needed; a config is immutable.
 */
#ifndef XPS_MODULES_CONFIG_H
#define XPS_MODULES_CONFIG_H

#include "core/xps.h"
#include "modules/gzip/xps_gzip.h"
#include "modules/ipfilter/xps_ipfilter.h"
#include "modules/tls/xps_tls.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xps_config_s xps_config_t;

/* What a route does with a request ("type" in the file). */
typedef enum xps_config_route_type {
    XPS_CONFIG_FILE_SERVE = 1,    /* "file_serve": files from dir_path */
    XPS_CONFIG_REVERSE_PROXY = 2, /* "reverse_proxy": forward to an upstream */
    XPS_CONFIG_REDIRECT = 3,      /* "redirect": status + Location, no body */
    XPS_CONFIG_METRICS = 4,       /* "metrics": counters; accepted from stage
                                     12 on, served by apps/xps */
    XPS_CONFIG_HEALTH = 5,        /* "health": 200 "ok" while the worker
                                     serves, 503 once it drains (stage 21);
                                     accepted from stage 12 on */
} xps_config_route_type_t;

/* "workers": "auto" is reported as this value (one per CPU, the caller
 * decides how many that is). */
#define XPS_CONFIG_WORKERS_AUTO 0

/* A buffer of this size holds any message whole (unless the file's own
 * name is very long); load and parse never write more than this. */
#define XPS_CONFIG_ERR_MAX 512

/* One address to listen on. host is the canonical text of a numeric
 * address ("0.0.0.0", "127.0.0.1", "::", "::1"; inet_ntop's form, so
 * "0:0::1" in the file becomes "::1"): exactly what xps_listen_socket_create
 * takes. */
typedef struct xps_config_listener {
    const char *host; /* numeric IPv4 or IPv6 address, canonical form */
    uint16_t port;    /* 1..65535 */
} xps_config_listener_t;

/* One entry of a reverse_proxy route's upstreams[] ("host:port" in the
 * file, "[v6]:port" for an IPv6 address). */
typedef struct xps_config_upstream {
    const char *host; /* a name ("localhost") or numeric address, no brackets */
    uint16_t port;    /* 1..65535 */
    const char *text; /* the entry as written, for logs: "localhost:3000" */
} xps_config_upstream_t;

/* reverse_proxy [stage 17]: load_balancing (modules/balancer/xps_balancer.h
 * says what each does). */
typedef enum xps_config_balance {
    XPS_CONFIG_ROUND_ROBIN = 0,        /* "round_robin", the default */
    XPS_CONFIG_LEAST_CONNECTIONS = 1,  /* "least_connections" */
    XPS_CONFIG_IP_HASH = 2,            /* "ip_hash" */
} xps_config_balance_t;

/* [stage 17] Defaults of a reverse_proxy route's max_fails, fail_timeout_ms
 * and health_check.interval_ms (docs/config.md). */
#define XPS_CONFIG_MAX_FAILS 1
#define XPS_CONFIG_FAIL_TIMEOUT_MS 10000
#define XPS_CONFIG_HEALTH_INTERVAL_MS 2000
/* [stage 17] The most upstreams a route may list (the balancer's bound). */
#define XPS_CONFIG_MAX_UPSTREAMS 64
/* [stage 18] A route's "rate_limit": a token bucket per client address
 * (modules/ratelimit). rate_milli: requests per second in thousandths
 * ("rate": 0.5 is 500); burst: the bucket's size. */
typedef struct xps_config_rate_limit {
    uint64_t rate_milli; /* 1 .. 1,000,000,000 ("rate" 0.001 .. 1,000,000) */
    uint32_t burst;      /* 1 .. 1,000,000; default: "rate" rounded up, at least 1 */
} xps_config_rate_limit_t;

/* [stage 18] Top-level "timeouts", each in milliseconds, 1 .. 86,400,000
 * (a day). Absent keys have the defaults below; stages before 18 read
 * the file's values and do not act on them. */
typedef struct xps_config_timeouts {
    uint32_t header_read_ms;      /* a request head must be whole within this
                                     (from the connection, or from the first
                                     byte after a kept-alive one) → 408 */
    uint32_t keepalive_ms;        /* a kept connection idle this long is closed */
    uint32_t send_ms;             /* a client that takes no byte for this long is closed */
    uint32_t upstream_connect_ms; /* connecting to an upstream → 504 past it */
    uint32_t upstream_read_ms;    /* the upstream's silence, before its first
                                     byte → 504, after it → both sides closed */
    uint32_t drain_ms;            /* [stage 21] a worker told to stop finishes its
                                     requests within this; then it is killed */
} xps_config_timeouts_t;

#define XPS_CONFIG_HEADER_READ_MS 10000u
#define XPS_CONFIG_KEEPALIVE_MS 75000u
#define XPS_CONFIG_SEND_MS 60000u
#define XPS_CONFIG_UPSTREAM_CONNECT_MS 5000u
#define XPS_CONFIG_UPSTREAM_READ_MS 60000u
#define XPS_CONFIG_DRAIN_MS 10000u

/* [stage 18] Top-level "limits". Absent keys have the defaults below. */
typedef struct xps_config_limits {
    uint32_t max_connections;  /* client connections open at once, 1 .. 1,000,000 */
    uint32_t max_header_bytes; /* a request head, 1024 .. 1,048,576 → 431 past it */
    uint64_t max_body_bytes;   /* a request body, 0 .. 2^40 → 413 past it */
} xps_config_limits_t;

#define XPS_CONFIG_MAX_CONNECTIONS 10000u
#define XPS_CONFIG_MAX_HEADER_BYTES 16384u               /* the parser's default */
#define XPS_CONFIG_MAX_BODY_BYTES ((uint64_t)1 << 20)     /* the parser's default */

/* [stage 20] Top-level "cache": where the shared response cache keeps its
 * entries (modules/cache/xps_cache_store.h) and how much it may hold.
 * dir: absolute (a relative "dir" is taken from the config file's folder);
 * default "<config's folder>/cache". max_bytes: 1 MiB .. 2^40, default
 * 64 MiB; past it the least recently used entries go. */
typedef struct xps_config_cache {
    const char *dir;
    uint64_t max_bytes;
} xps_config_cache_t;

#define XPS_CONFIG_CACHE_DIR "cache"
#define XPS_CONFIG_CACHE_MAX_BYTES ((uint64_t)64 << 20)
/* [apps/xps] One of a route's "headers": a response field. */
typedef struct xps_config_header {
    const char *name;
    const char *value;
} xps_config_header_t;

/* [apps/xps] A page of "error_pages" (top level or server block): the
 * file's bytes, read when the config was loaded, and its path (absolute). */
typedef struct xps_config_error_page {
    const char *body;
    size_t length;
    const char *path;
} xps_config_error_page_t;

#define XPS_CONFIG_ERROR_PAGE_MAX_BYTES ((size_t)1 << 20)

/* [apps/xps] Top-level "log": {"level", "access", "path"}.
 * level: "error", "warn", "info" or "debug" (xps_log_level_t), or -1 when
 * not given (the environment's XPS_LOG_LEVEL, else the logger's default).
 * access: the access log's line format (modules/accesslog): "combined",
 * "json" or "off" (the default). path: where the access log goes,
 * absolute (a relative "path" is taken from the config file's folder);
 * default "<config's folder>/access.log". Nothing in a stage acts on it:
 * a server that keeps an access log (xps_session_options_t.access_log)
 * does. */
typedef enum xps_config_access_format {
    XPS_CONFIG_ACCESS_OFF = 0,
    XPS_CONFIG_ACCESS_COMBINED = 1,
    XPS_CONFIG_ACCESS_JSON = 2,
} xps_config_access_format_t;

typedef struct xps_config_log {
    int level;
    xps_config_access_format_t access;
    const char *path;
} xps_config_log_t;

#define XPS_CONFIG_ACCESS_LOG_PATH "access.log"

/* [stage 20] A route's "cache": {"lock_timeout_ms"}: how long a request
 * waits for another request's fetch of the same response (one upstream
 * request for concurrent misses) before it goes upstream itself. */
#define XPS_CONFIG_CACHE_LOCK_TIMEOUT_MS 5000u

/* [stage 19] A reverse_proxy route's "upstream_tls" (true, or an object
 * {ca, sni, verify}): its upstream connections speak TLS (modules/tls, the
 * client side). ca_file: a PEM file of the CAs to trust, absolute (a
 * relative "ca" is taken from the config file's folder); NULL: the
 * system's store. sni: the server name sent; NULL: the upstream's host
 * when it is a name (an IP address is never sent as SNI). verify (default
 * true): the certificate's chain and its name — the upstream's host name
 * or IP address as written in "upstreams" — are checked. */
typedef struct xps_config_upstream_tls {
    const char *ca_file;
    const char *sni;
    bool verify;
} xps_config_upstream_tls_t;

/* What xps_config_lookup found: the route and the fields of its type.
 * Fields of the other types are zero / NULL. All pointers are borrowed
 * from the config. */
typedef struct xps_config_route_match {
    xps_config_route_type_t type;
    size_t server;        /* index of the server block in servers[] */
    size_t route;         /* index of the route in that block's routes[] */
    const char *req_path; /* the route's req_path, the prefix that matched */

    /* file_serve. The request path is NOT shortened by req_path: the file is
     * dir_path + the whole request path (like nginx's `root`; the course's
     * rule), so a route "/docs" with dir_path "/srv" serves /docs/a.html
     * from /srv/docs/a.html. Pass dir_path as the root to xps_file_create. */
    const char *dir_path;     /* absolute, no trailing '/' (except "/") */
    const char *const *index; /* names tried in a directory, in order */
    size_t n_index;           /* entries in index (0 is allowed) */

    /* reverse_proxy: the request is forwarded with its path unchanged. */
    const xps_config_upstream_t *upstreams; /* at least one, at most 64 */
    size_t n_upstreams;
    /* reverse_proxy [stage 17]: how upstreams[] is shared (stages before 17
     * use upstreams[0] only), when an upstream counts as down (max_fails
     * failures in a row, for fail_timeout_ms), and the active health check
     * (health_check.path, NULL: none; every interval_ms). */
    xps_config_balance_t load_balancing;
    unsigned max_fails;               /* 1..100 */
    uint64_t fail_timeout_ms;         /* 1..3,600,000 */
    const char *health_check_path;    /* "/health"; NULL: no active check */
    uint64_t health_check_interval_ms; /* 10..3,600,000 when path is set */

    /* redirect */
    int http_status_code;     /* 301, 302, 303, 307 or 308 */
    const char *redirect_url; /* the Location header's value */

    /* Any type [stage 14]: the route's ip_whitelist and ip_blacklist,
     * parsed at load (modules/ipfilter). NULL when it has neither, or only
     * empty ones: everyone may use it. Ask xps_ipfilter_allows. Every stage
     * gets it; stages before 14 do not ask. */
    const xps_ipfilter_t *access;

    /* file_serve [stage 15]: the route's dir_browsing (default false): a
     * folder with none of its index files gets a listing (modules/dirlist)
     * instead of 404. Every stage reads it; only sessions with
     * xps_session_options_t.dir_listing act on it. */
    bool dir_browsing;

    /* file_serve and reverse_proxy [stage 16]: the route's gzip_* keys
     * (defaults: off, level XPS_GZIP_DEFAULT_LEVEL, the built-in types,
     * XPS_GZIP_DEFAULT_MIN_LENGTH, no gzip_static), for xps_gzip_decide.
     * mime_types is borrowed from the config. Every stage reads them;
     * only sessions with xps_session_options_t.gzip act on them. */
    xps_gzip_settings_t gzip;

    /* Any type [stage 18]: the route's rate_limit; NULL when it has none.
     * Every stage reads it; only sessions with xps_session_options_t's
     * rate_limit act on it. */
    const xps_config_rate_limit_t *rate_limit;

    /* reverse_proxy [stage 20]: the route's "cache" (true, or an object):
     * its responses go through the shared cache (modules/cache/xps_cache.h).
     * cache_lock_ms: "lock_timeout_ms", default
     * XPS_CONFIG_CACHE_LOCK_TIMEOUT_MS. Every stage reads it; only sessions
     * with a cache store (xps_session_options_t.cache) act on it. */
    bool cache;
    uint32_t cache_lock_ms;

    /* reverse_proxy [stage 19]: the route's "upstream_tls"; NULL: plain TCP
     * to the upstreams. Accepted from stage 12; only sessions with
     * xps_session_options_t.tls act on it. */
    const xps_config_upstream_tls_t *upstream_tls;
    /* Any type [apps/xps]: the route's "headers", in file order, for every
     * response of the route; also as header_lines, "Name: value\r\n" each
     * ("" when none). Names are tokens, values have no control character,
     * and no name is one the server frames the message with (see
     * docs/config.md). Borrowed from the config. Every stage reads them;
     * only sessions with xps_session_options_t.product.headers act on them. */
    const xps_config_header_t *headers;
    size_t n_headers;
    const char *header_lines;
} xps_config_route_match_t;

/* ---------------------------------------------------------- lifecycle */

/* Reads and checks the file at `path`. Relative paths inside it (dir_path,
 * tls files) are resolved against the folder that holds the file, made
 * absolute with the working directory at this call. Returns the config, or
 * NULL with a one-line message in err (truncated to err_size, always
 * NUL-terminated; err may be NULL when err_size is 0), which starts with
 * `path` as given: "<path>: cannot read: <strerror>",
 * "<path>:<line>:<column>: invalid JSON: <why>", "<path>: <json path>:
 * <why>". Out of memory gives "<path>: out of memory". */
xps_config_t *xps_config_load(const char *path, char *err, size_t err_size) XPS_NOEXCEPT;

/* As xps_config_load, for text already in memory (NUL-terminated, JSON).
 * `name` starts every message (NULL: "config"); relative paths are
 * resolved against `base_dir` (NULL: the working directory; a relative
 * base_dir is taken from the working directory). Used by tests and by a
 * program's embedded default configuration. */
xps_config_t *xps_config_parse(const char *json_text, const char *name, const char *base_dir,
                               char *err, size_t err_size) XPS_NOEXCEPT;

/* Frees the config and everything borrowed from it. Accepts NULL. */
void xps_config_destroy(xps_config_t *config) XPS_NOEXCEPT;

/* --------------------------------------------------------- operations */

/* Which route serves a request that arrived on the listener host:port
 * (as given by xps_config_listener) with this Host header and path:
 *  1. server: the first block that has this listener and either has no
 *     hostnames or lists the Host header's name. The name is compared
 *     case-insensitively, without its ":port" and without one trailing dot;
 *     host_header may be NULL or "" (HTTP/1.0), which only blocks without
 *     hostnames accept.
 *  2. route: of that block's routes, the one whose req_path is the longest
 *     prefix of `path` that ends on a segment boundary: "/api" takes "/api"
 *     and "/api/x" but not "/apix"; "/" takes every path; "/api/" takes
 *     "/api/x" but not "/api". Case-sensitive.
 * `path` is the decoded, normalised path without the query ("/a b/c").
 * Returns XPS_OK and fills *out, or XPS_E_NOTFOUND (no block for this
 * listener and Host, or no route in it: answer 404) with *out zeroed. */
int xps_config_lookup(const xps_config_t *config, const char *listener_host,
                      uint16_t listener_port, const char *host_header, const char *path,
                      xps_config_route_match_t *out) XPS_NOEXCEPT;

/* ---------------------------------------------------------- accessors */

/* "server_name"; "eXpServer" when absent. */
const char *xps_config_server_name(const xps_config_t *config) XPS_NOEXCEPT;

/* "workers": 1..1024, or XPS_CONFIG_WORKERS_AUTO for "auto"; 1 when
 * absent. */
int xps_config_workers(const xps_config_t *config) XPS_NOEXCEPT;

/* [stage 18] "timeouts" and "limits", every field set (the file's value
 * or the default). Borrowed from the config. */
const xps_config_timeouts_t *xps_config_timeouts(const xps_config_t *config) XPS_NOEXCEPT;
const xps_config_limits_t *xps_config_limits(const xps_config_t *config) XPS_NOEXCEPT;

/* [stage 20] "cache", every field set (the file's value or the default).
 * Borrowed from the config. */
const xps_config_cache_t *xps_config_cache(const xps_config_t *config) XPS_NOEXCEPT;

/* [apps/xps] The error page for a response of `status` (400..599) to a
 * request of route `match` (NULL, or type 0: no route — the top level's
 * pages): the block's page for exactly that status, else the block's for
 * its class ("4xx", "5xx"), else the top level's likewise; NULL: none.
 * Borrowed from the config. */
const xps_config_error_page_t *xps_config_error_page(const xps_config_t *config,
                                                     const xps_config_route_match_t *match,
                                                     int status) XPS_NOEXCEPT;

/* [apps/xps] "log", every field set (the file's value or the default).
 * Borrowed from the config. */
const xps_config_log_t *xps_config_log(const xps_config_t *config) XPS_NOEXCEPT;

/* Every distinct listener of every server block, in order of first
 * appearance: the sockets to open. A listener shared by several blocks
 * (told apart by hostnames) appears once. */
size_t xps_config_listener_count(const xps_config_t *config) XPS_NOEXCEPT;

/* Listener i (i < xps_config_listener_count). */
const xps_config_listener_t *xps_config_listener(const xps_config_t *config,
                                                 size_t i) XPS_NOEXCEPT;

/* [stage 19] The certificates of listener i (i < xps_config_listener_count),
 * ready for xps_tls_server_create: one for each server block that lists
 * the listener with "tls", in the blocks' order, with that block's
 * hostnames (SNI picks among them; the first is the default). Paths are
 * absolute; the files are not opened here. NULL and *count 0 for a plain
 * listener. (A listener is TLS in every block that lists it or in none:
 * the file is refused otherwise.) */
const xps_tls_cert_t *xps_config_listener_tls(const xps_config_t *config, size_t i,
                                              size_t *count) XPS_NOEXCEPT;

/* Number of server blocks (servers[]). */
size_t xps_config_server_count(const xps_config_t *config) XPS_NOEXCEPT;

/* The name messages use: the path given to load, or parse's `name`. */
const char *xps_config_name(const xps_config_t *config) XPS_NOEXCEPT;

/* "file_serve" for XPS_CONFIG_FILE_SERVE, ...; "?" for other values. */
const char *xps_config_route_type_name(xps_config_route_type_t type) XPS_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* XPS_MODULES_CONFIG_H */
