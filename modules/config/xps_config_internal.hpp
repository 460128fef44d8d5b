// modules/config/xps_config_internal.hpp — NOT a public header. What the
// module's C++ files share: the layout of a loaded configuration, and the
// checking toolkit the schema walk is written with.
//
//   xps_config.cpp         the API: load/parse pipeline, lookup, accessors
//   xps_config_schema.cpp  the schema: which keys, which values (build_config)
//   xps_config_check.cpp   the toolkit: typed getters, key checks, messages
//   xps_config_json.cpp    JSON syntax with line:column (its own C header)
//
// C++ on purpose, hence .hpp: public headers (*.h) are C11 and go through
// `make check-headers`; this one is included only from modules/config/.
#ifndef XPS_MODULES_CONFIG_INTERNAL_HPP
#define XPS_MODULES_CONFIG_INTERNAL_HPP

#include "modules/config/xps_config.h"
#include "modules/ipfilter/xps_ipfilter.h"
#include "modules/gzip/xps_gzip.h"

#include <cstdarg>
#include <array>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct cJSON;

namespace config_detail {

// Frees a route's ip filter with the route (std::unique_ptr's deleter).
struct ipfilter_free {
    void operator()(xps_ipfilter_t *f) const { xps_ipfilter_destroy(f); }
};

// One route, checked. Fields of the other route types stay empty.
struct route_rec {
    xps_config_route_type_t type;                  // what the route does
    const char *req_path;                          // starts with '/'
    size_t req_len;                                // strlen(req_path)
    const char *dir_path;                          // file_serve: absolute
    std::vector<const char *> index;               // file_serve: names to try
    std::vector<xps_config_upstream_t> upstreams;  // reverse_proxy: >= 1
    int http_status_code;                          // redirect: 301..308
    const char *redirect_url;                      // redirect: Location
    bool dir_browsing;                             // [stage 15] file_serve: list a folder
                                                   // that has no index file
    std::unique_ptr<xps_ipfilter_t, ipfilter_free> access; // [stage 14] ip_whitelist and
                                                   // ip_blacklist; NULL: neither (everyone)
    xps_gzip_settings_t gzip;                      // [stage 16] the gzip_* keys (mime_types
                                                   // filled by fill_match from gzip_types)
    std::vector<const char *> gzip_types;          // [stage 16] gzip_mime_types as given
    bool has_gzip_types;                           // ... which replaces the built-in list
    // [stage 17] reverse_proxy: load_balancing and upstream health
    xps_config_balance_t load_balancing = XPS_CONFIG_ROUND_ROBIN;
    unsigned max_fails = XPS_CONFIG_MAX_FAILS;
    uint64_t fail_timeout_ms = XPS_CONFIG_FAIL_TIMEOUT_MS;
    const char *health_check_path = nullptr;       // NULL: no active health check
    uint64_t health_check_interval_ms = 0;
    bool has_rate_limit;                           // [stage 18] rate_limit is set
    xps_config_rate_limit_t rate_limit;            // [stage 18] valid when has_rate_limit
    bool cache;                                    // [stage 20] reverse_proxy: "cache" on
    uint32_t cache_lock_ms = XPS_CONFIG_CACHE_LOCK_TIMEOUT_MS; // [stage 20] its lock_timeout_ms
    bool has_upstream_tls;                         // [stage 19] reverse_proxy: "upstream_tls" on
    xps_config_upstream_tls_t upstream_tls;        // ... and its settings (paths absolute)
    std::vector<xps_config_header_t> headers;      // [apps/xps] "headers", in order
    const char *header_lines = "";                 // [apps/xps] the same as header lines
};

// [apps/xps] "error_pages" resolved: the page of each status 400..599.
using error_page_table = std::array<const xps_config_error_page_t *, 200>;

// One server block.
struct server_rec {
    error_page_table error_pages{};                // [apps/xps] its own, then the top level's
    std::vector<xps_config_listener_t> listeners;  // distinct within the block
    std::vector<xps_tls_cert_t> tls;               // [stage 19] per listeners[j]: its "tls"
                                                   // (absolute paths; cert_path NULL: plain)
    std::vector<const char *> hostnames;           // lower-case; empty = any
    std::vector<route_rec> routes;                 // may be empty: all 404
};

}  // namespace config_detail

// A loaded configuration. Immutable once xps_config_parse returns it.
// Every string the records point to lives in `strings`: a deque never
// moves its elements when it grows, so the const char * views handed to
// callers stay valid for the config's whole life.
struct xps_config_s {
    std::deque<std::string> strings;                 // owns every string below
    const char *name = nullptr;                      // for messages
    const char *server_name = nullptr;               // "server_name"
    int workers = 1;                                 // 1..1024 or WORKERS_AUTO
    std::vector<config_detail::server_rec> servers;  // servers[], in order
    std::vector<xps_config_listener_t> listeners;    // distinct, first-seen order
    std::vector<std::vector<xps_tls_cert_t>> listener_tls; // [stage 19] per listeners[i]: the
                                                     // certificates of the blocks, see
                                                     // xps_config_listener_tls
    xps_config_timeouts_t timeouts{XPS_CONFIG_HEADER_READ_MS, XPS_CONFIG_KEEPALIVE_MS,
                                   XPS_CONFIG_SEND_MS, XPS_CONFIG_UPSTREAM_CONNECT_MS,
                                   XPS_CONFIG_UPSTREAM_READ_MS,
                                   XPS_CONFIG_DRAIN_MS}; // [stage 18, 21] "timeouts"
    xps_config_limits_t limits{XPS_CONFIG_MAX_CONNECTIONS, XPS_CONFIG_MAX_HEADER_BYTES,
                               XPS_CONFIG_MAX_BODY_BYTES};     // [stage 18] "limits"
    xps_config_cache_t cache{nullptr, XPS_CONFIG_CACHE_MAX_BYTES}; // [stage 20] "cache"
                                                     // (dir set by the schema walk)
    std::deque<xps_config_error_page_t> pages;       // [apps/xps] every page read
    config_detail::error_page_table error_pages{};   // [apps/xps] the top level's
    xps_config_log_t log{-1, XPS_CONFIG_ACCESS_OFF, nullptr}; // [apps/xps] "log"
                                                     // (path set by the schema walk)
};

namespace config_detail {

// ------------------------------------------------------------ the schema

// Checks the cJSON tree `root` against the schema (docs/config.md) and
// fills `cfg`. `name` starts every message; relative paths resolve against
// `base` (absolute). Returns false with the first problem in *message.
// May throw std::bad_alloc (the API functions catch it).
bool build_config(xps_config_s &cfg, const cJSON *root, const std::string &name,
                  const std::string &base, std::string *message);

// ----------------------------------------------------------- the toolkit

// The state of one schema walk. Every check returns false after recording
// the first problem in `message`; the walk stops there, so the message is
// about the first problem in document order (as far as practical).
struct checker {
    xps_config_s &cfg;                        // being filled
    std::string name;                         // the file's name, for messages
    std::string base;                         // absolute folder for relative paths
    std::string message;                      // "<name>: <path>: <why>", once failed
    std::vector<std::string> listener_where;  // JSON path of each cfg.listeners[i]
    std::vector<bool> listener_is_tls;        // [stage 19] whether cfg.listeners[i] has "tls"

    // Records "<name>: <path>: <why>" (path "" = "top level"); returns false.
    bool fail(const std::string &path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
    // Copies s into the config (the cJSON tree does not outlive the walk).
    const char *keep(std::string s);
};

// A key an object may hold. For route keys, `types` says which route types
// (bit 1 << type); elsewhere it is any_type.
struct key_rule {
    const char *name;  // the key
    unsigned types;    // route types it belongs to
};
constexpr unsigned any_type = ~0u;

// JSON paths: member("servers[0]", "port") = "servers[0].port" (member("",
// k) = k), element("servers", 2) = "servers[2]".
std::string member(const std::string &path, const char *key);
std::string element(const std::string &path, size_t i);

// Refuses, in document order, a repeated key, a key not in rules (with "did
// you mean" for a near miss) and a key whose rule lacks `type_bit` ("not a
// key of <type_name> routes").
bool check_keys(checker &c, const cJSON *obj, const std::string &path, const key_rule *rules,
                size_t n_rules, unsigned type_bit = any_type, const char *type_name = nullptr);

// Typed getters: each fails with "expected X, got Y" on a wrong JSON type.
// Strings must be non-empty and free of control characters (they end up in
// headers and log lines); *out is a copy kept by the config.
bool want_object(checker &c, const cJSON *item, const std::string &path);
bool want_array(checker &c, const cJSON *item, const std::string &path);
bool want_bool(checker &c, const cJSON *item, const std::string &path);
bool want_string(checker &c, const cJSON *item, const std::string &path, const char **out);
// A whole number in [lo, hi]; `range` is how the message names the range.
bool want_int(checker &c, const cJSON *item, const std::string &path, long lo, long hi,
              const char *range, long *out);
// An array of strings as above; out may be NULL (checked, not kept).
bool want_strings(checker &c, const cJSON *item, const std::string &path,
                  std::vector<const char *> *out);
// A required key: the item, or NULL after "missing key \"<key>\"<why>".
const cJSON *require(checker &c, const cJSON *obj, const std::string &path, const char *key,
                     const char *why = "");
// An optional key: the item or NULL (shorter than cJSON's name for it).
const cJSON *optional(const cJSON *obj, const char *key);

// Messages: a value from the file made safe to print on one line (escaped,
// cut after 60 bytes); what a JSON item is ("a string (\"x\")", "an array").
std::string shown(std::string_view s);
std::string describe(const cJSON *item);
std::string format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
std::string vformat(const char *fmt, va_list ap);

// Addresses: the canonical text of a numeric IPv4/IPv6 address (and its
// family), or false; "host:port" / "[v6]:port" for messages; 0.0.0.0 and
// ::. (Access-list entries are modules/ipfilter's to parse.)
bool canonical_ip(const char *text, std::string *out, int *family);
std::string endpoint(const std::string &host, unsigned port);
bool is_wildcard(const std::string &host);

// Paths: `p` if absolute, else base/p; cleaned lexically (no empty or "."
// segments, no trailing '/'; ".." kept, see the definition).
std::string resolve_path(const std::string &base, std::string_view p);

}  // namespace config_detail

#endif  // XPS_MODULES_CONFIG_INTERNAL_HPP
