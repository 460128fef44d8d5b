// modules/config/xps_config_schema.cpp — the schema of docs/config.md as
// code: from a cJSON tree to checked records. [stage 12]
//
// One function per JSON object (top level, server block, listener, route,
// and one per route type). Each first refuses unknown and repeated keys
// (the key tables below are the list of what exists), then reads its keys
// in a fixed order, so the message names the first problem. Keys of later
// stages are checked for shape where that is cheap and otherwise ignored:
// the stage that uses a key adds it to the records.

#include "modules/config/xps_config_internal.hpp"

#include "core/xps_logger.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <strings.h>
#include <cjson/cJSON.h>

#include <cctype>
#include <algorithm>
#include <climits>
#include <cmath>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <iterator>
#include <new>

namespace config_detail {
namespace {

constexpr int max_workers = 1024;  // a typo guard ("workers": 40000), not a limit of the design
constexpr const char *default_server_name = "eXpServer";
constexpr const char *default_index = "index.html";

// ------------------------------------------------------------ key tables

constexpr unsigned bit(xps_config_route_type_t t) { return 1u << t; }
constexpr unsigned file_bit = bit(XPS_CONFIG_FILE_SERVE);
constexpr unsigned proxy_bit = bit(XPS_CONFIG_REVERSE_PROXY);
constexpr unsigned redirect_bit = bit(XPS_CONFIG_REDIRECT);

const key_rule top_keys[] = {
    {"server_name", any_type}, {"workers", any_type}, {"servers", any_type},
    {"timeouts", any_type},  // stage 18
    {"limits", any_type},    // stage 18
    {"cache", any_type},     // stage 20
    {"log", any_type},       // apps/xps
    {"error_pages", any_type}, // apps/xps
};
const key_rule server_keys[] = {
    {"listeners", any_type}, {"hostnames", any_type}, {"routes", any_type},
    {"error_pages", any_type}, // apps/xps
};
const key_rule listener_keys[] = {
    {"host", any_type}, {"port", any_type},
    {"tls", any_type},  // stage 19
};
const key_rule tls_keys[] = {{"cert", any_type}, {"key", any_type}};
const key_rule health_check_keys[] = {{"path", any_type}, {"interval_ms", any_type}}; // stage 17
const key_rule route_keys[] = {
    {"req_path", any_type},
    {"type", any_type},
    {"dir_path", file_bit},
    {"index", file_bit},
    {"upstreams", proxy_bit},
    {"http_status_code", redirect_bit},
    {"redirect_url", redirect_bit},
    {"ip_whitelist", any_type},                 // stage 14
    {"ip_blacklist", any_type},                 // stage 14
    {"dir_browsing", file_bit},                 // stage 15
    {"gzip_enable", file_bit | proxy_bit},      // stage 16
    {"gzip_level", file_bit | proxy_bit},       // stage 16
    {"gzip_mime_types", file_bit | proxy_bit},  // stage 16
    {"gzip_min_length", file_bit | proxy_bit},  // stage 16
    {"gzip_static", file_bit},                  // stage 16
    {"load_balancing", proxy_bit},              // stage 17
    {"max_fails", proxy_bit},                   // stage 17
    {"fail_timeout_ms", proxy_bit},             // stage 17
    {"health_check", proxy_bit},                // stage 17
    {"rate_limit", any_type},                   // stage 18
    {"cache", proxy_bit},                       // stage 20
    {"upstream_tls", proxy_bit},                // stage 19
    {"headers", any_type},                      // apps/xps
};

// [stage 18] The inner keys of "timeouts", "limits" and "rate_limit".
const key_rule timeout_keys[] = {
    {"header_read_ms", any_type}, {"keepalive_ms", any_type}, {"send_ms", any_type},
    {"upstream_connect_ms", any_type}, {"upstream_read_ms", any_type}, {"drain_ms", any_type},
};
const key_rule limit_keys[] = {
    {"max_connections", any_type}, {"max_header_bytes", any_type}, {"max_body_bytes", any_type},
};
const key_rule rate_limit_keys[] = {{"rate", any_type}, {"burst", any_type}};
// [stage 20] The inner keys of the top-level "cache" and of a route's.
const key_rule cache_keys[] = {{"dir", any_type}, {"max_bytes", any_type}};
const key_rule log_keys[] = {{"level", any_type}, {"access", any_type}, {"path", any_type}};
const key_rule route_cache_keys[] = {{"lock_timeout_ms", any_type}};
// [stage 19] The inner keys of a route's "upstream_tls".
const key_rule upstream_tls_keys[] = {{"ca", any_type}, {"sni", any_type}, {"verify", any_type}};

constexpr long max_timeout_ms = 86400000;         // a day: longer is a typo, not a timeout
constexpr long max_connections_cap = 1000000;
constexpr long max_rate = 1000000;                 // requests per second
constexpr long max_burst = 1000000;

template <size_t N>
bool check_keys(checker &c, const cJSON *obj, const std::string &path, const key_rule (&rules)[N])
{
    return config_detail::check_keys(c, obj, path, rules, N);
}

// A non-empty array (servers, listeners): its first element, or NULL after
// a message.
const cJSON *non_empty_array(checker &c, const cJSON *item, const std::string &path, const char *what)
{
    if (!want_array(c, item, path))
        return nullptr;
    if (item->child == nullptr)
        c.fail(path, "at least one %s is needed", what);
    return item->child;
}

// -------------------------------------------------------------- listeners

// The files are named here (resolved against the config's folder) and
// read by the stage that serves TLS (xps_tls_server_create, stage 19),
// which refuses a missing, unreadable or mismatched one, naming it.
bool parse_tls(checker &c, const cJSON *tls, const std::string &path, xps_tls_cert_t *out)
{
    if (!want_object(c, tls, path) || !check_keys(c, tls, path, tls_keys))
        return false;
    const char *files[2] = {nullptr, nullptr};
    const char *keys[2] = {"cert", "key"};
    for (int i = 0; i < 2; i++) {
        const cJSON *file = require(c, tls, path, keys[i], " (a TLS listener needs a certificate and its key)");
        if (file == nullptr || !want_string(c, file, member(path, keys[i]), &files[i]))
            return false;
    }
    out->cert_path = c.keep(resolve_path(c.base, files[0]));
    out->key_path = c.keep(resolve_path(c.base, files[1]));
    return true;
}

// Records a listener of the current block: refuses a repeat within the
// block, shares an identical one with an earlier block (listed once in
// cfg.listeners), and refuses a wildcard and a specific address of the same
// family on one port, which Linux will not bind at the same time.
bool add_listener(checker &c, server_rec &server, const std::string &host, int family,
                  uint16_t port, const xps_tls_cert_t &tls, const std::string &path)
{
    bool is_tls = tls.cert_path != nullptr;
    for (size_t j = 0; j < server.listeners.size(); j++)
        if (server.listeners[j].port == port && host == server.listeners[j].host)
            return c.fail(path, "duplicate listener %s (also %s)", endpoint(host, port).c_str(),
                          element(path.substr(0, path.rfind('[')), j).c_str());
    for (size_t i = 0; i < c.cfg.listeners.size(); i++) {
        const xps_config_listener_t &l = c.cfg.listeners[i];
        if (l.port != port)
            continue;
        if (host == l.host) {
            if (c.listener_is_tls[i] != is_tls) // [stage 19] one socket speaks one protocol
                return c.fail(path, "%s is %s here but %s in %s: a listener is TLS in every "
                              "block that lists it or in none",
                              endpoint(host, port).c_str(), is_tls ? "TLS" : "plain",
                              is_tls ? "plain" : "TLS", c.listener_where[i].c_str());
            server.listeners.push_back(l);
            server.tls.push_back(tls);
            return true;
        }
        int other = std::strchr(l.host, ':') != nullptr ? AF_INET6 : AF_INET;
        if (other == family && (is_wildcard(host) || is_wildcard(l.host)))
            return c.fail(path,
                          "%s conflicts with %s (%s): a port is bound either on the wildcard "
                          "address or on specific addresses, not both",
                          endpoint(host, port).c_str(), endpoint(l.host, port).c_str(),
                          c.listener_where[i].c_str());
    }
    xps_config_listener_t l{c.keep(host), port};
    c.cfg.listeners.push_back(l);
    c.listener_where.push_back(path);
    c.listener_is_tls.push_back(is_tls);
    server.listeners.push_back(l);
    server.tls.push_back(tls);
    return true;
}

// host is numeric because modules/socket binds only numeric addresses (a
// name could resolve differently tomorrow, or block while resolving).
bool parse_listener(checker &c, server_rec &server, const cJSON *obj, const std::string &path)
{
    if (!want_object(c, obj, path) || !check_keys(c, obj, path, listener_keys))
        return false;
    const char *host_text = "0.0.0.0";
    const cJSON *host = optional(obj, "host");
    if (host != nullptr && !want_string(c, host, member(path, "host"), &host_text))
        return false;
    std::string canon;
    int family = 0;
    if (!canonical_ip(host_text, &canon, &family))
        return c.fail(member(path, "host"),
                      "\"%s\" is not a numeric IPv4 or IPv6 address (use \"0.0.0.0\" for every "
                      "address, \"127.0.0.1\" for this machine only)",
                      shown(host_text).c_str());
    const cJSON *port = require(c, obj, path, "port");
    long port_value = 0;
    if (port == nullptr || !want_int(c, port, member(path, "port"), 1, 65535, "1-65535", &port_value))
        return false;
    const cJSON *tls = optional(obj, "tls");
    xps_tls_cert_t cert{nullptr, nullptr, nullptr, 0};
    if (tls != nullptr && !parse_tls(c, tls, member(path, "tls"), &cert))
        return false;
    return add_listener(c, server, canon, family, static_cast<uint16_t>(port_value), cert, path);
}

// ------------------------------------------------------------------ routes

bool parse_file_serve(checker &c, route_rec &r, const cJSON *obj, const std::string &path)
{
    const cJSON *dir = require(c, obj, path, "dir_path", " (required for file_serve routes)");
    const char *dir_text = nullptr;
    if (dir == nullptr || !want_string(c, dir, member(path, "dir_path"), &dir_text))
        return false;
    r.dir_path = c.keep(resolve_path(c.base, dir_text));

    const cJSON *index = optional(obj, "index");
    std::string at = member(path, "index");
    if (index == nullptr)
        r.index.push_back(default_index);
    else if (!want_strings(c, index, at, &r.index))
        return false;
    for (size_t i = 0; i < r.index.size(); i++)
        if (std::strchr(r.index[i], '/') != nullptr)
            return c.fail(element(at, i), "\"%s\" must be a file name, without '/'", shown(r.index[i]).c_str());
    const cJSON *browse = optional(obj, "dir_browsing"); // [stage 15]
    if (browse != nullptr && !want_bool(c, browse, member(path, "dir_browsing")))
        return false;
    r.dir_browsing = browse != nullptr && cJSON_IsTrue(browse);
    return true;
}

// "host:port" or "[v6]:port" -> an upstream. The host is kept as written:
// a name ("localhost") is resolved when connecting (modules/upstream).
bool parse_upstream(checker &c, const char *text, const std::string &path, xps_config_upstream_t *out)
{
    std::string_view s = text;
    bool v6 = s[0] == '[';
    size_t colon = s.rfind(':');
    size_t host_end = v6 ? s.find(']') : colon;
    std::string host;
    if (host_end != std::string_view::npos && colon != std::string_view::npos)
        host = v6 ? s.substr(1, host_end - 1) : s.substr(0, host_end);
    std::string_view port = colon == std::string_view::npos ? "" : s.substr(colon + 1);
    std::string ignored;
    bool host_ok = v6 ? colon == host_end + 1 && canonical_ip(host.c_str(), &ignored, nullptr)
                      : !host.empty() && host.find_first_of(":/ []") == std::string::npos;
    if (!host_ok || port.empty() || port.find_first_not_of("0123456789") != std::string_view::npos)
        return c.fail(path, "expected \"host:port\" (e.g. \"127.0.0.1:3000\"), got \"%s\"", shown(text).c_str());
    long value = port.size() > 5 ? 0 : std::stol(std::string(port));
    if (value < 1 || value > 65535)
        return c.fail(path, "port %s is out of range (1-65535)", shown(port).c_str());
    *out = xps_config_upstream_t{c.keep(host), static_cast<uint16_t>(value), text};
    return true;
}

// [stage 17] max_fails, fail_timeout_ms and health_check {path, interval_ms}.
bool parse_upstream_health(checker &c, route_rec &r, const cJSON *obj, const std::string &path)
{
    long value = 0;
    const cJSON *fails = optional(obj, "max_fails");
    if (fails != nullptr && !want_int(c, fails, member(path, "max_fails"), 1, 100, "1-100", &value))
        return false;
    if (fails != nullptr)
        r.max_fails = static_cast<unsigned>(value);
    const cJSON *timeout = optional(obj, "fail_timeout_ms");
    if (timeout != nullptr && !want_int(c, timeout, member(path, "fail_timeout_ms"), 1, 3600000,
                                        "1-3600000", &value))
        return false;
    if (timeout != nullptr)
        r.fail_timeout_ms = static_cast<uint64_t>(value);
    const cJSON *hc = optional(obj, "health_check");
    if (hc == nullptr)
        return true;
    std::string at = member(path, "health_check");
    if (!want_object(c, hc, at) || !check_keys(c, hc, at, health_check_keys))
        return false;
    const cJSON *hc_path = optional(hc, "path");
    r.health_check_path = "/";
    if (hc_path != nullptr && !want_string(c, hc_path, member(at, "path"), &r.health_check_path))
        return false;
    // It goes into a request line: an origin-form path, visible ASCII only.
    for (const char *p = r.health_check_path; *p; p++)
        if (static_cast<unsigned char>(*p) <= 0x20 || static_cast<unsigned char>(*p) >= 0x7f)
            return c.fail(member(at, "path"), "\"%s\" has a space or a byte outside visible ASCII",
                          shown(r.health_check_path).c_str());
    if (r.health_check_path[0] != '/')
        return c.fail(member(at, "path"), "expected a path starting with '/', got \"%s\"",
                      shown(r.health_check_path).c_str());
    const cJSON *interval = optional(hc, "interval_ms");
    r.health_check_interval_ms = XPS_CONFIG_HEALTH_INTERVAL_MS;
    if (interval != nullptr && !want_int(c, interval, member(at, "interval_ms"), 10, 3600000,
                                         "10-3600000", &value))
        return false;
    if (interval != nullptr)
        r.health_check_interval_ms = static_cast<uint64_t>(value);
    return true;
}

bool parse_proxy_cache(checker &c, route_rec &r, const cJSON *obj, const std::string &path);
bool parse_upstream_tls(checker &c, route_rec &r, const cJSON *obj, const std::string &path);

bool parse_reverse_proxy(checker &c, route_rec &r, const cJSON *obj, const std::string &path)
{
    const cJSON *ups = require(c, obj, path, "upstreams", " (required for reverse_proxy routes)");
    std::string at = member(path, "upstreams");
    std::vector<const char *> texts;
    if (ups == nullptr || !want_strings(c, ups, at, &texts))
        return false;
    if (texts.empty())
        return c.fail(at, "at least one upstream is needed");
    for (size_t i = 0; i < texts.size(); i++) {
        xps_config_upstream_t u{};
        if (!parse_upstream(c, texts[i], element(at, i), &u))
            return false;
        r.upstreams.push_back(u);
    }
    if (texts.size() > XPS_CONFIG_MAX_UPSTREAMS)  // [stage 17] the balancer's bound
        return c.fail(at, "%zu upstreams; at most %d are allowed", texts.size(),
                      XPS_CONFIG_MAX_UPSTREAMS);
    const cJSON *lb = optional(obj, "load_balancing");  // [stage 17]
    const char *lb_text = nullptr;
    at = member(path, "load_balancing");
    if (lb != nullptr && !want_string(c, lb, at, &lb_text))
        return false;
    if (lb != nullptr && std::strcmp(lb_text, "round_robin") != 0 &&
        std::strcmp(lb_text, "least_connections") != 0 && std::strcmp(lb_text, "ip_hash") != 0)
        return c.fail(at, "unknown strategy \"%s\" (expected round_robin, least_connections or ip_hash)",
                      shown(lb_text).c_str());
    if (lb != nullptr)
        r.load_balancing = std::strcmp(lb_text, "least_connections") == 0 ? XPS_CONFIG_LEAST_CONNECTIONS
                           : std::strcmp(lb_text, "ip_hash") == 0       ? XPS_CONFIG_IP_HASH
                                                                        : XPS_CONFIG_ROUND_ROBIN;
    return parse_upstream_health(c, r, obj, path) && parse_proxy_cache(c, r, obj, path) &&
           parse_upstream_tls(c, r, obj, path);
}

// upstream_tls [stage 19]: true, false, or {"ca": FILE, "sni": NAME,
// "verify": BOOL} (an object turns it on). The CA file is resolved
// against the config's folder and must be readable now (a start or a
// reload is refused naming it, rather than every request of the route
// failing later); OpenSSL reads it, on the route's first TLS connect.
bool parse_upstream_tls(checker &c, route_rec &r, const cJSON *obj, const std::string &path)
{
    const cJSON *tls = optional(obj, "upstream_tls");
    std::string at = member(path, "upstream_tls");
    if (tls != nullptr && !cJSON_IsBool(tls) && !cJSON_IsObject(tls))
        return c.fail(at, "expected true, false or an object, got %s", describe(tls).c_str());
    r.has_upstream_tls = tls != nullptr && (cJSON_IsTrue(tls) || cJSON_IsObject(tls));
    r.upstream_tls = xps_config_upstream_tls_t{nullptr, nullptr, true};
    if (tls == nullptr || !cJSON_IsObject(tls))
        return true;
    if (!check_keys(c, tls, at, upstream_tls_keys))
        return false;
    const cJSON *ca = optional(tls, "ca");
    const char *ca_text = nullptr;
    if (ca != nullptr && !want_string(c, ca, member(at, "ca"), &ca_text))
        return false;
    if (ca != nullptr) {
        std::string full = resolve_path(c.base, ca_text);
        if (access(full.c_str(), R_OK) != 0)
            return c.fail(member(at, "ca"), "cannot read %s: %s", shown(full).c_str(),
                          std::strerror(errno));
        r.upstream_tls.ca_file = c.keep(full);
    }
    const cJSON *sni = optional(tls, "sni");
    if (sni != nullptr && !want_string(c, sni, member(at, "sni"), &r.upstream_tls.sni))
        return false;
    const cJSON *verify = optional(tls, "verify");
    if (verify != nullptr && !want_bool(c, verify, member(at, "verify")))
        return false;
    r.upstream_tls.verify = verify == nullptr || cJSON_IsTrue(verify);
    return true;
}

// cache [stage 20]: true, false, or {"lock_timeout_ms": 1-60000} (an
// object turns it on).
bool parse_proxy_cache(checker &c, route_rec &r, const cJSON *obj, const std::string &path)
{
    const cJSON *cache = optional(obj, "cache");
    std::string at = member(path, "cache");
    if (cache != nullptr && !cJSON_IsBool(cache) && !cJSON_IsObject(cache))
        return c.fail(at, "expected true, false or an object, got %s", describe(cache).c_str());
    r.cache = cache != nullptr && (cJSON_IsTrue(cache) || cJSON_IsObject(cache));
    if (cache == nullptr || !cJSON_IsObject(cache))
        return true;
    if (!check_keys(c, cache, at, route_cache_keys))
        return false;
    const cJSON *lock = optional(cache, "lock_timeout_ms");
    long v = 0;
    if (lock != nullptr && !want_int(c, lock, member(at, "lock_timeout_ms"), 1, 60000,
                                     "1-60000 milliseconds", &v))
        return false;
    if (lock != nullptr)
        r.cache_lock_ms = static_cast<uint32_t>(v);
    return true;
}

bool parse_redirect(checker &c, route_rec &r, const cJSON *obj, const std::string &path)
{
    const cJSON *code = optional(obj, "http_status_code");
    long value = 302;
    std::string at = member(path, "http_status_code");
    if (code != nullptr && !want_int(c, code, at, LONG_MIN, LONG_MAX, "", &value))
        return false;
    if (value != 301 && value != 302 && value != 303 && value != 307 && value != 308)
        return c.fail(at, "%ld is not a redirect status (expected 301, 302, 303, 307 or 308)", value);
    r.http_status_code = static_cast<int>(value);
    const cJSON *url = require(c, obj, path, "redirect_url", " (required for redirect routes)");
    return url != nullptr && want_string(c, url, member(path, "redirect_url"), &r.redirect_url);
}

// ip_whitelist and ip_blacklist [stage 14]: every entry parsed now, once,
// into the route's filter (modules/ipfilter), so a bad one is refused
// with its JSON path before anything listens and a request never parses
// a string. A route with neither list (or only empty ones: the course's
// "no whitelist") keeps r.access NULL: everyone. Every stage builds the
// filter, so one file means the same to all; the session of stage 14 on
// is the one that asks it (xps_session_set_ip_filter).
bool parse_access(checker &c, route_rec &r, const cJSON *obj, const std::string &path)
{
    const xps_ipfilter_list_t lists[] = {XPS_IPFILTER_WHITELIST, XPS_IPFILTER_BLACKLIST};
    const char *keys[] = {"ip_whitelist", "ip_blacklist"};
    for (size_t l = 0; l < 2; l++) {
        const cJSON *list = optional(obj, keys[l]);
        std::vector<const char *> entries;
        std::string at = member(path, keys[l]);
        if (list != nullptr && !want_strings(c, list, at, &entries))
            return false;
        for (size_t i = 0; i < entries.size(); i++) {
            int error = XPS_OK;
            if (r.access == nullptr) {
                r.access.reset(xps_ipfilter_create(&error));
                if (r.access == nullptr)
                    throw std::bad_alloc();  // the API functions report it
            }
            char why[XPS_IPFILTER_WHY_MAX];
            error = xps_ipfilter_add(r.access.get(), lists[l], entries[i], why, sizeof why);
            if (error == XPS_E_NOMEM)
                throw std::bad_alloc();
            if (error != XPS_OK)
                return c.fail(element(at, i), "\"%s\" is not an IP address or a CIDR block: %s",
                              shown(entries[i]).c_str(), why);
        }
    }
    return true;
}

// [stage 16] The gzip_* keys (file_serve and reverse_proxy), into the
// route's settings (modules/gzip). Absent: off, level 6, the built-in
// types, 256 bytes, no gzip_static. A gzip_mime_types list replaces the
// built-in one (so a route can narrow it too); [] compresses nothing.
bool parse_gzip(checker &c, route_rec &r, const cJSON *obj, const std::string &path)
{
    xps_gzip_settings_t &g = r.gzip;
    g.level = XPS_GZIP_DEFAULT_LEVEL;
    g.min_length = XPS_GZIP_DEFAULT_MIN_LENGTH;
    const cJSON *on = optional(obj, "gzip_enable");
    if (on != nullptr && !want_bool(c, on, member(path, "gzip_enable")))
        return false;
    g.enable = on != nullptr && cJSON_IsTrue(on);
    const cJSON *level = optional(obj, "gzip_level");
    long value = 0;
    if (level != nullptr && !want_int(c, level, member(path, "gzip_level"), -1, 9, "-1-9", &value))
        return false;
    if (level != nullptr)
        g.level = value < 0 ? XPS_GZIP_DEFAULT_LEVEL : static_cast<int>(value);
    const cJSON *types = optional(obj, "gzip_mime_types");
    if (types != nullptr && !want_strings(c, types, member(path, "gzip_mime_types"), &r.gzip_types))
        return false;
    for (size_t i = 0; i < r.gzip_types.size(); i++)
        if (std::strchr(r.gzip_types[i], '/') == nullptr)
            return c.fail(element(member(path, "gzip_mime_types"), i),
                          "\"%s\" is not a media type (type/subtype, e.g. \"text/html\" or \"text/*\")",
                          shown(r.gzip_types[i]).c_str());
    r.has_gzip_types = types != nullptr;
    const cJSON *min = optional(obj, "gzip_min_length");
    if (min != nullptr && !want_int(c, min, member(path, "gzip_min_length"), 0, 1L << 40, "0-2^40", &value))
        return false;
    if (min != nullptr)
        g.min_length = static_cast<uint64_t>(value);
    const cJSON *stat = optional(obj, "gzip_static");
    if (stat != nullptr && !want_bool(c, stat, member(path, "gzip_static")))
        return false;
    g.gzip_static = stat != nullptr && cJSON_IsTrue(stat);
    return true;
}

// rate_limit [stage 18]: {"rate": requests per second (> 0, fractions to
// the thousandth: 0.5 is one every two seconds), "burst": whole requests
// (default: rate rounded up, at least 1)}. Kept in thousandths, so the
// bucket arithmetic (modules/ratelimit) is whole numbers.
bool parse_rate_limit(checker &c, route_rec &r, const cJSON *obj, const std::string &path)
{
    const cJSON *rl = optional(obj, "rate_limit");
    if (rl == nullptr)
        return true;
    std::string at = member(path, "rate_limit");
    if (!want_object(c, rl, at) || !check_keys(c, rl, at, rate_limit_keys))
        return false;
    const cJSON *rate = require(c, rl, at, "rate", " (requests per second, e.g. 10)");
    if (rate == nullptr)
        return false;
    std::string rate_at = member(at, "rate");
    if (!cJSON_IsNumber(rate))
        return c.fail(rate_at, "expected a number, got %s", describe(rate).c_str());
    double v = rate->valuedouble;
    double milli = std::round(v * 1000);
    if (!std::isfinite(v) || milli < 1 || v > max_rate)
        return c.fail(rate_at, "%g is out of range (0.001-1000000 requests per second)", v);
    r.rate_limit.rate_milli = static_cast<uint64_t>(milli);
    long burst = std::max(1L, static_cast<long>(std::ceil(v)));
    const cJSON *b = optional(rl, "burst");
    if (b != nullptr && !want_int(c, b, member(at, "burst"), 1, max_burst, "1-1000000", &burst))
        return false;
    r.rate_limit.burst = static_cast<uint32_t>(burst);
    r.has_rate_limit = true;
    return true;
}

// Fields a route may not add: those that frame the message or manage the
// connection (RFC 9110 §7.6.1, RFC 9112 §6), which the server writes
// itself and a second copy of would corrupt.
constexpr const char *reserved_fields[] = {"content-length", "transfer-encoding", "connection",
                                           "keep-alive", "proxy-connection", "te", "trailer",
                                           "upgrade", "date", "server", "x-request-id"};

bool token_char(unsigned char ch)
{
    return std::isalnum(ch) || std::strchr("!#$%&'*+-.^_`|~", ch) != nullptr;
}

// [apps/xps] A route's "headers": field name → value, added to each of
// its responses (kept in order, and as one block of lines).
bool parse_headers(checker &c, route_rec &r, const cJSON *obj, const std::string &path)
{
    const cJSON *headers = optional(obj, "headers");
    std::string at = member(path, "headers");
    if (headers == nullptr)
        return true;
    if (!want_object(c, headers, at))
        return false;
    std::string lines;
    for (const cJSON *h = headers->child; h != nullptr; h = h->next) {
        std::string name = h->string;
        std::string where = member(at, shown(name).c_str());
        bool token = !name.empty();
        for (char ch : name)
            token = token && token_char(static_cast<unsigned char>(ch));
        if (!token)
            return c.fail(where, "not a header name (letters, digits and !#$%%&'*+-.^_`|~ only)");
        std::string lower = name;
        for (char &ch : lower)
            ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        for (const char *reserved : reserved_fields)
            if (lower == reserved)
                return c.fail(where, "the server sets this header itself");
        for (const xps_config_header_t &before : r.headers)
            if (strcasecmp(before.name, name.c_str()) == 0)
                return c.fail(where, "repeats the header \"%s\"", shown(before.name).c_str());
        const char *value = nullptr; // no control character: no CR/LF (want_string)
        if (!want_string(c, h, where, &value))
            return false;
        r.headers.push_back(xps_config_header_t{c.keep(name), value});
        ((lines += name) += ": ") += value;
        lines += "\r\n";
    }
    r.header_lines = c.keep(lines);
    return true;
}

bool parse_route_type(checker &c, const cJSON *obj, const std::string &path, route_rec *r)
{
    const cJSON *type = require(c, obj, path, "type", " (file_serve, reverse_proxy, redirect, metrics or health)");
    const char *text = nullptr;
    if (type == nullptr || !want_string(c, type, member(path, "type"), &text))
        return false;
    for (auto t : {XPS_CONFIG_FILE_SERVE, XPS_CONFIG_REVERSE_PROXY, XPS_CONFIG_REDIRECT, XPS_CONFIG_METRICS,
                   XPS_CONFIG_HEALTH}) {
        if (std::strcmp(text, xps_config_route_type_name(t)) == 0) {
            r->type = t;
            return true;
        }
    }
    return c.fail(member(path, "type"),
                  "unknown route type \"%s\" (expected file_serve, reverse_proxy, redirect, metrics or health)",
                  shown(text).c_str());
}

// req_path: starts with '/', and differs from the block's other routes
// (a repeat could never be chosen).
bool parse_req_path(checker &c, const server_rec &server, const cJSON *obj, const std::string &path,
                    route_rec *r)
{
    const cJSON *req = require(c, obj, path, "req_path", " (\"/\" matches every path)");
    std::string at = member(path, "req_path");
    if (req == nullptr || !want_string(c, req, at, &r->req_path))
        return false;
    if (r->req_path[0] != '/')
        return c.fail(at, "\"%s\" must start with \"/\"", shown(r->req_path).c_str());
    r->req_len = std::strlen(r->req_path);
    for (size_t i = 0; i < server.routes.size(); i++)
        if (std::strcmp(server.routes[i].req_path, r->req_path) == 0)
            return c.fail(at, "\"%s\" repeats routes[%zu] of this server block (it could never match)",
                          shown(r->req_path).c_str(), i);
    return true;
}

// Unknown keys first (a typo such as "req_pth" explains the missing key
// that would follow), then the type, then keys of other types, then values.
bool parse_route(checker &c, server_rec &server, const cJSON *obj, const std::string &path)
{
    route_rec r{};
    if (!want_object(c, obj, path) || !check_keys(c, obj, path, route_keys) ||
        !parse_route_type(c, obj, path, &r) ||
        !config_detail::check_keys(c, obj, path, route_keys, std::size(route_keys), bit(r.type),
                                   xps_config_route_type_name(r.type)) ||
        !parse_req_path(c, server, obj, path, &r))
        return false;
    bool ok = r.type == XPS_CONFIG_FILE_SERVE      ? parse_file_serve(c, r, obj, path)
              : r.type == XPS_CONFIG_REVERSE_PROXY ? parse_reverse_proxy(c, r, obj, path)
              : r.type == XPS_CONFIG_REDIRECT      ? parse_redirect(c, r, obj, path)
                                                   : true;  // metrics and health have no keys of their own
    if (!ok || !parse_access(c, r, obj, path) || !parse_gzip(c, r, obj, path) ||
        !parse_rate_limit(c, r, obj, path) || !parse_headers(c, r, obj, path))
        return false;
    server.routes.push_back(std::move(r));
    return true;
}

// ----------------------------------------------------------- server blocks

// A name in hostnames[]: kept lower-case and without one trailing dot
// ("Example.ORG." is example.org), as the lookup compares them. No port
// (the Host header's port is ignored), no wildcard (not supported).
bool parse_hostname(checker &c, server_rec &server, const char *name, const std::string &path)
{
    std::string lower(name);
    for (char &ch : lower)
        ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (lower.size() > 1 && lower.back() == '.')
        lower.pop_back();
    bool v6 = lower[0] == '[';
    if (lower.find_first_of(" /\\@*") != std::string::npos)
        return c.fail(path, "\"%s\" is not a host name (no wildcards, spaces or '/')", shown(name).c_str());
    if ((!v6 && lower.find(':') != std::string::npos) || (v6 && lower.back() != ']'))
        return c.fail(path, "\"%s\" must not include a port (the Host header's port is ignored)",
                      shown(name).c_str());
    server.hostnames.push_back(c.keep(std::move(lower)));
    return true;
}

// A regular file of at most `cap` bytes into *out: 0, or an errno value
// (EISDIR for anything but a regular file, EFBIG past the cap).
int read_small_file(const std::string &path, size_t cap, std::string *out)
{
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    struct stat st;
    int why = fstat(fd, &st) != 0 ? errno : !S_ISREG(st.st_mode) ? EISDIR
              : static_cast<uint64_t>(st.st_size) > cap ? EFBIG : 0;
    char chunk[16384];
    for (ssize_t n = 1; why == 0 && n > 0;) {
        n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            n = 1; // again
        else if (n < 0)
            why = errno;
        else if (n > 0)
            out->append(chunk, static_cast<size_t>(n));
        if (out->size() > cap)
            why = EFBIG;
    }
    close(fd);
    return why;
}

// [apps/xps] "error_pages": status ("404") or class ("5xx") → a file,
// read now (a file that cannot be read is refused with its path). Fills
// `table` over `fallback`: an exact status wins over a class, and this
// object's entries over the fallback's.
bool parse_error_pages(checker &c, const cJSON *obj, const std::string &path,
                       const error_page_table &fallback, error_page_table *table)
{
    *table = fallback;
    if (obj == nullptr)
        return true;
    if (!want_object(c, obj, path))
        return false;
    error_page_table exact{}, by_class{};
    for (const cJSON *e = obj->child; e != nullptr; e = e->next) {
        std::string key = e->string;
        std::string where = member(path, shown(key).c_str());
        bool digits = key.size() == 3 && std::isdigit(static_cast<unsigned char>(key[0]));
        bool is_class = key.size() == 3 && (key[0] == '4' || key[0] == '5') && key[1] == 'x' &&
                        key[2] == 'x';
        for (size_t i = 1; digits && i < 3; i++)
            digits = std::isdigit(static_cast<unsigned char>(key[i]));
        int status = digits ? std::atoi(key.c_str()) : 0;
        if (!is_class && (status < 400 || status > 599))
            return c.fail(where, "expected a status 400-599 or a class \"4xx\" or \"5xx\"");
        const char *file = nullptr;
        if (!want_string(c, e, where, &file))
            return false;
        std::string full = resolve_path(c.base, file);
        std::string body;
        int why = read_small_file(full, XPS_CONFIG_ERROR_PAGE_MAX_BYTES, &body);
        if (why == EFBIG)
            return c.fail(where, "%s is over %zu bytes", shown(full).c_str(),
                          XPS_CONFIG_ERROR_PAGE_MAX_BYTES);
        if (why != 0)
            return c.fail(where, "cannot read %s: %s", shown(full).c_str(), std::strerror(why));
        const char *kept = c.keep(body); // the deque of strings keeps binary bytes too
        c.cfg.pages.push_back(xps_config_error_page_t{kept, body.size(), c.keep(full)});
        const xps_config_error_page_t *page = &c.cfg.pages.back();
        if (is_class)
            for (int s = 0; s < 100; s++)
                by_class[static_cast<size_t>((key[0] - '4') * 100 + s)] = page;
        else
            exact[static_cast<size_t>(status - 400)] = page;
    }
    for (size_t i = 0; i < table->size(); i++)
        if (exact[i] || by_class[i])
            (*table)[i] = exact[i] ? exact[i] : by_class[i];
    return true;
}

bool parse_server(checker &c, const cJSON *obj, const std::string &path)
{
    server_rec server;
    if (!want_object(c, obj, path) || !check_keys(c, obj, path, server_keys))
        return false;
    const cJSON *listeners = require(c, obj, path, "listeners");
    std::string at = member(path, "listeners");
    const cJSON *l = listeners != nullptr ? non_empty_array(c, listeners, at, "listener") : nullptr;
    if (l == nullptr)
        return false;
    for (size_t i = 0; l != nullptr; l = l->next, i++)
        if (!parse_listener(c, server, l, element(at, i)))
            return false;

    const cJSON *hostnames = optional(obj, "hostnames");
    std::vector<const char *> names;
    at = member(path, "hostnames");
    if (hostnames != nullptr && !want_strings(c, hostnames, at, &names))
        return false;
    for (size_t i = 0; i < names.size(); i++)
        if (!parse_hostname(c, server, names[i], element(at, i)))
            return false;

    const cJSON *routes = optional(obj, "routes");  // absent or []: every request is a 404
    at = member(path, "routes");
    if (routes != nullptr && !want_array(c, routes, at))
        return false;
    size_t i = 0;
    for (const cJSON *r = routes != nullptr ? routes->child : nullptr; r != nullptr; r = r->next, i++)
        if (!parse_route(c, server, r, element(at, i)))
            return false;
    if (!parse_error_pages(c, optional(obj, "error_pages"), member(path, "error_pages"),
                           c.cfg.error_pages, &server.error_pages))
        return false;
    c.cfg.servers.push_back(std::move(server));
    return true;
}

// -------------------------------------------------------------- top level

bool parse_workers(checker &c, const cJSON *item)
{
    if (cJSON_IsString(item) && std::strcmp(item->valuestring, "auto") == 0) {
        c.cfg.workers = XPS_CONFIG_WORKERS_AUTO;
        return true;
    }
    if (!cJSON_IsNumber(item))
        return c.fail("workers", "expected a number or \"auto\", got %s", describe(item).c_str());
    long n = 0;
    if (!want_int(c, item, "workers", 1, max_workers, "1-1024, or \"auto\"", &n))
        return false;
    c.cfg.workers = static_cast<int>(n);
    return true;
}

// [stage 18] "timeouts" and "limits": each key optional (its default
// otherwise), whole numbers in their ranges, no other key.
bool parse_timeouts(checker &c, const cJSON *obj)
{
    if (!want_object(c, obj, "timeouts") || !check_keys(c, obj, "timeouts", timeout_keys))
        return false;
    xps_config_timeouts_t &t = c.cfg.timeouts;
    struct { const char *key; uint32_t *field; } fields[] = {
        {"header_read_ms", &t.header_read_ms}, {"keepalive_ms", &t.keepalive_ms},
        {"send_ms", &t.send_ms}, {"upstream_connect_ms", &t.upstream_connect_ms},
        {"upstream_read_ms", &t.upstream_read_ms}, {"drain_ms", &t.drain_ms},
    };
    for (auto &f : fields) {
        const cJSON *item = optional(obj, f.key);
        long v = 0;
        if (item == nullptr)
            continue;
        if (!want_int(c, item, member("timeouts", f.key), 1, max_timeout_ms,
                      "1-86400000 milliseconds", &v))
            return false;
        *f.field = static_cast<uint32_t>(v);
    }
    return true;
}

bool parse_limits(checker &c, const cJSON *obj)
{
    if (!want_object(c, obj, "limits") || !check_keys(c, obj, "limits", limit_keys))
        return false;
    xps_config_limits_t &l = c.cfg.limits;
    long v = 0;
    const cJSON *item = optional(obj, "max_connections");
    if (item != nullptr && !want_int(c, item, "limits.max_connections", 1, max_connections_cap,
                                     "1-1000000", &v))
        return false;
    if (item != nullptr)
        l.max_connections = static_cast<uint32_t>(v);
    item = optional(obj, "max_header_bytes");
    if (item != nullptr &&
        !want_int(c, item, "limits.max_header_bytes", 1024, 1 << 20, "1024-1048576", &v))
        return false;
    if (item != nullptr)
        l.max_header_bytes = static_cast<uint32_t>(v);
    item = optional(obj, "max_body_bytes");
    if (item != nullptr &&
        !want_int(c, item, "limits.max_body_bytes", 0, 1L << 40, "0-1099511627776", &v))
        return false;
    if (item != nullptr)
        l.max_body_bytes = static_cast<uint64_t>(v);
    return true;
}

// cache [stage 20]: {"dir": a folder (relative: from the config's
// folder), "max_bytes": 1 MiB-2^40}; absent keys take the defaults.
bool parse_cache(checker &c, const cJSON *obj)
{
    const char *dir = XPS_CONFIG_CACHE_DIR;
    if (obj != nullptr && (!want_object(c, obj, "cache") || !check_keys(c, obj, "cache", cache_keys)))
        return false;
    const cJSON *d = obj != nullptr ? optional(obj, "dir") : nullptr;
    if (d != nullptr && !want_string(c, d, "cache.dir", &dir))
        return false;
    c.cfg.cache.dir = c.keep(resolve_path(c.base, dir));
    const cJSON *max = obj != nullptr ? optional(obj, "max_bytes") : nullptr;
    long v = 0;
    if (max != nullptr && !want_int(c, max, "cache.max_bytes", 1L << 20, 1L << 40,
                                    "1048576-1099511627776", &v))
        return false;
    if (max != nullptr)
        c.cfg.cache.max_bytes = static_cast<uint64_t>(v);
    return true;
}

// [apps/xps] "log": the logger's level and the access log's format and file.
bool parse_log(checker &c, const cJSON *obj)
{
    const char *path = XPS_CONFIG_ACCESS_LOG_PATH;
    if (obj != nullptr && (!want_object(c, obj, "log") || !check_keys(c, obj, "log", log_keys)))
        return false;
    const cJSON *level = obj != nullptr ? optional(obj, "level") : nullptr;
    const char *text = nullptr;
    xps_log_level_t lv = XPS_LOG_INFO;
    if (level != nullptr && !want_string(c, level, "log.level", &text))
        return false;
    if (text != nullptr && xps_log_parse_level(text, &lv) != XPS_OK)
        return c.fail("log.level", "unknown level \"%s\" (expected error, warn, info or debug)",
                      shown(text).c_str());
    c.cfg.log.level = text != nullptr ? static_cast<int>(lv) : -1;
    const cJSON *access = obj != nullptr ? optional(obj, "access") : nullptr;
    if (access != nullptr && !want_string(c, access, "log.access", &text))
        return false;
    if (access != nullptr) {
        if (std::strcmp(text, "combined") == 0)
            c.cfg.log.access = XPS_CONFIG_ACCESS_COMBINED;
        else if (std::strcmp(text, "json") == 0)
            c.cfg.log.access = XPS_CONFIG_ACCESS_JSON;
        else if (std::strcmp(text, "off") == 0)
            c.cfg.log.access = XPS_CONFIG_ACCESS_OFF;
        else
            return c.fail("log.access", "unknown format \"%s\" (expected combined, json or off)",
                          shown(text).c_str());
    }
    const cJSON *p = obj != nullptr ? optional(obj, "path") : nullptr;
    if (p != nullptr && !want_string(c, p, "log.path", &path))
        return false;
    c.cfg.log.path = c.keep(resolve_path(c.base, path));
    return true;
}

bool parse_top(checker &c, const cJSON *root)
{
    if (!want_object(c, root, "") || !check_keys(c, root, "", top_keys))
        return false;
    const cJSON *name = optional(root, "server_name");
    c.cfg.server_name = default_server_name;
    if (name != nullptr && !want_string(c, name, "server_name", &c.cfg.server_name))
        return false;
    const cJSON *workers = optional(root, "workers");
    if (workers != nullptr && !parse_workers(c, workers))
        return false;
    const cJSON *timeouts = optional(root, "timeouts");  // [stage 18]
    if (timeouts != nullptr && !parse_timeouts(c, timeouts))
        return false;
    const cJSON *limits = optional(root, "limits");  // [stage 18]
    if (limits != nullptr && !parse_limits(c, limits))
        return false;
    if (!parse_cache(c, optional(root, "cache")))  // [stage 20]
        return false;
    if (!parse_log(c, optional(root, "log")))  // apps/xps
        return false;
    error_page_table none{};  // apps/xps (before the blocks: they fall back on it)
    if (!parse_error_pages(c, optional(root, "error_pages"), "error_pages", none, &c.cfg.error_pages))
        return false;
    const cJSON *servers = require(c, root, "", "servers", " (a list of server blocks)");
    const cJSON *s = servers != nullptr ? non_empty_array(c, servers, "servers", "server block") : nullptr;
    if (s == nullptr)
        return false;
    for (size_t i = 0; s != nullptr; s = s->next, i++)
        if (!parse_server(c, s, element("servers", i)))
            return false;
    return true;
}

// [stage 19] For each listener, the certificates of the blocks that list
// it with "tls", in block order, each with its block's hostnames (the
// blocks are complete now: their vectors no longer move).
void collect_tls(xps_config_s &cfg)
{
    cfg.listener_tls.resize(cfg.listeners.size());
    for (server_rec &s : cfg.servers)
        for (size_t j = 0; j < s.listeners.size(); j++) {
            if (s.tls[j].cert_path == nullptr)
                continue;
            for (size_t i = 0; i < cfg.listeners.size(); i++)
                if (cfg.listeners[i].port == s.listeners[j].port &&
                    std::strcmp(cfg.listeners[i].host, s.listeners[j].host) == 0) {
                    xps_tls_cert_t cert = s.tls[j];
                    cert.hostnames = s.hostnames.data();
                    cert.hostname_count = s.hostnames.size();
                    cfg.listener_tls[i].push_back(cert);
                }
        }
}

}  // namespace

bool build_config(xps_config_s &cfg, const cJSON *root, const std::string &name,
                  const std::string &base, std::string *message)
{
    checker c{cfg, name, base, {}, {}, {}};
    cfg.name = c.keep(name);
    if (parse_top(c, root)) {
        collect_tls(cfg);
        return true;
    }
    *message = c.message;
    return false;
}

}  // namespace config_detail
