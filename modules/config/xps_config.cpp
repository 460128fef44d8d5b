// modules/config/xps_config.cpp — the configuration's API: reading the
// file, the pipeline (syntax check -> cJSON tree -> schema walk), the
// lookup and the accessors. [stage 12]
//
// The pieces: xps_config_json.cpp checks JSON syntax (line:column
// messages), xps_config_schema.cpp turns the tree into the records of
// xps_config_internal.hpp, this file answers questions about them.

#include "modules/config/xps_config.h"
#include "modules/config/xps_config_internal.hpp"
#include "modules/config/xps_config_json.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <climits>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <new>

using config_detail::format;
using config_detail::route_rec;
using config_detail::server_rec;

namespace {

constexpr off_t max_file_size = 16 * 1024 * 1024;  // a config is a few KiB; refuse a stray log file

// Copies msg into the caller's buffer, truncated, always terminated.
void copy_message(const std::string &msg, char *err, size_t err_size)
{
    if (err == nullptr || err_size == 0)
        return;
    size_t n = std::min({msg.size(), err_size - 1, size_t{XPS_CONFIG_ERR_MAX} - 1});
    std::memcpy(err, msg.data(), n);
    err[n] = '\0';
}

// An absolute version of `dir` (NULL = "."), from the working directory.
bool absolute_dir(const char *dir, std::string *out)
{
    if (dir != nullptr && dir[0] == '/') {
        *out = config_detail::resolve_path("/", dir);
        return true;
    }
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd) == nullptr)
        return false;
    *out = config_detail::resolve_path(cwd, dir != nullptr ? dir : ".");
    return true;
}

// The folder holding the file `path`, as written ("a/b.json" -> "a").
std::string folder_of(std::string_view path)
{
    size_t slash = path.rfind('/');
    if (slash == std::string_view::npos)
        return ".";
    return slash == 0 ? "/" : std::string(path.substr(0, slash));
}

// Frees a cJSON tree when it goes out of scope.
struct cjson_deleter {
    void operator()(cJSON *j) const { cJSON_Delete(j); }
};
using cjson_ptr = std::unique_ptr<cJSON, cjson_deleter>;

// The whole pipeline on text in memory (text may hold NUL bytes: the
// syntax check reports them; cJSON only ever sees checked text).
xps_config_t *parse_text(std::string_view text, const std::string &name, const std::string &base,
                         std::string *message)
{
    size_t offset = 0;
    char why[200];
    if (xps_config_json_check(text.data(), text.size(), &offset, why, sizeof why) != XPS_OK) {
        unsigned line = 0, column = 0;
        xps_config_json_position(text.data(), text.size(), offset, &line, &column);
        *message = format("%s:%u:%u: invalid JSON: %s", name.c_str(), line, column, why);
        return nullptr;
    }
    cjson_ptr root(cJSON_ParseWithLength(text.data(), text.size()));
    if (root == nullptr) {  // the text is valid JSON, so cJSON ran out of memory
        *message = name + ": out of memory";
        return nullptr;
    }
    auto cfg = std::make_unique<xps_config_s>();
    if (!config_detail::build_config(*cfg, root.get(), name, base, message))
        return nullptr;
    return cfg.release();  // every string it holds was copied out of the tree
}

// Reads a whole file; false and errno on failure.
bool read_file(const char *path, std::string *out)
{
    struct fd_closer {
        int fd;  // closed when the function returns, whichever way
        ~fd_closer() { if (fd >= 0) close(fd); }
    } file{open(path, O_RDONLY | O_CLOEXEC)};
    int fd = file.fd;
    if (fd < 0)
        return false;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > max_file_size) {
        errno = EFBIG;
        return false;
    }
    char chunk[16384];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return false;  // EISDIR for a folder
        if (n == 0)
            return true;
        out->append(chunk, static_cast<size_t>(n));
        if (out->size() > static_cast<size_t>(max_file_size)) {
            errno = EFBIG;
            return false;
        }
    }
}

// Parse with a message that always names the source; no exception leaves.
xps_config_t *parse_guarded(std::string_view text, const char *name, const char *base_dir,
                            char *err, size_t err_size)
{
    std::string message;
    try {
        std::string base;
        if (!absolute_dir(base_dir, &base)) {
            message = format("%s: cannot resolve relative paths: getcwd: %s", name, std::strerror(errno));
        } else {
            xps_config_t *cfg = parse_text(text, name, base, &message);
            if (cfg != nullptr)
                return cfg;
        }
    } catch (const std::bad_alloc &) {
        message = std::string(name) + ": out of memory";
    }
    copy_message(message, err, err_size);
    return nullptr;
}

// Is `host` (the Host header's name part) listed in the block?
bool host_listed(const server_rec &server, std::string_view host)
{
    for (const char *name : server.hostnames)
        if (std::strlen(name) == host.size() && strncasecmp(name, host.data(), host.size()) == 0)
            return true;
    return false;
}

// The name part of a Host header: "Example.org:8001" -> "Example.org",
// "[::1]:8001" -> "[::1]", without one trailing dot.
std::string_view host_name_of(const char *header)
{
    if (header == nullptr || header[0] == '\0')
        return {};
    std::string_view h = header;
    size_t end = h[0] == '[' ? h.find(']') : h.find(':');
    if (end != std::string_view::npos)
        h = h.substr(0, h[0] == '[' ? end + 1 : end);
    if (h.size() > 1 && h.back() == '.')
        h.remove_suffix(1);
    return h;
}

bool has_listener(const server_rec &server, const char *host, uint16_t port)
{
    for (const xps_config_listener_t &l : server.listeners)
        if (l.port == port && std::strcmp(l.host, host) == 0)
            return true;
    return false;
}

// req_path is a prefix of path that ends on a segment boundary.
bool prefix_matches(const route_rec &r, const char *path)
{
    if (std::strncmp(path, r.req_path, r.req_len) != 0)
        return false;
    return r.req_path[r.req_len - 1] == '/' || path[r.req_len] == '\0' || path[r.req_len] == '/';
}

void fill_match(const route_rec &r, size_t server, size_t route, xps_config_route_match_t *out)
{
    out->type = r.type;
    out->server = server;
    out->route = route;
    out->req_path = r.req_path;
    out->dir_path = r.dir_path;
    out->index = r.index.empty() ? nullptr : r.index.data();
    out->n_index = r.index.size();
    out->upstreams = r.upstreams.empty() ? nullptr : r.upstreams.data();
    out->n_upstreams = r.upstreams.size();
    out->http_status_code = r.http_status_code;
    out->redirect_url = r.redirect_url;
    out->access = r.access.get();
    out->dir_browsing = r.type == XPS_CONFIG_FILE_SERVE && r.dir_browsing;
    out->gzip = r.gzip; // [stage 16]
    if (r.has_gzip_types) { // an empty list stays a list: nothing matches
        static const char *const none[] = {""};
        out->gzip.mime_types = r.gzip_types.empty() ? none : r.gzip_types.data();
        out->gzip.n_mime_types = r.gzip_types.size();
    }
    out->gzip.gzip_static = r.type == XPS_CONFIG_FILE_SERVE && r.gzip.gzip_static;
    out->load_balancing = r.load_balancing; // [stage 17]
    out->max_fails = r.max_fails;
    out->fail_timeout_ms = r.fail_timeout_ms;
    out->health_check_path = r.health_check_path;
    out->health_check_interval_ms = r.health_check_interval_ms;
    out->rate_limit = r.has_rate_limit ? &r.rate_limit : nullptr;
    out->cache = r.cache; // [stage 20]
    out->cache_lock_ms = r.cache_lock_ms;
    out->upstream_tls = r.has_upstream_tls ? &r.upstream_tls : nullptr; // [stage 19]
    out->headers = r.headers.data(); // [apps/xps]
    out->n_headers = r.headers.size();
    out->header_lines = r.header_lines;
}

}  // namespace

xps_config_t *xps_config_load(const char *path, char *err, size_t err_size) noexcept
{
    assert(path != nullptr);
    try {
        std::string text;
        if (!read_file(path, &text)) {
            copy_message(format("%s: cannot read: %s", path, std::strerror(errno)), err, err_size);
            return nullptr;
        }
        return parse_guarded(text, path, folder_of(path).c_str(), err, err_size);
    } catch (const std::bad_alloc &) {
        copy_message(std::string(path) + ": out of memory", err, err_size);
        return nullptr;
    }
}

xps_config_t *xps_config_parse(const char *json_text, const char *name, const char *base_dir,
                               char *err, size_t err_size) noexcept
{
    assert(json_text != nullptr);
    return parse_guarded(json_text, name != nullptr ? name : "config", base_dir, err, err_size);
}

void xps_config_destroy(xps_config_t *config) noexcept { delete config; }

int xps_config_lookup(const xps_config_t *config, const char *listener_host, uint16_t listener_port,
                      const char *host_header, const char *path,
                      xps_config_route_match_t *out) noexcept
{
    assert(config != nullptr && listener_host != nullptr && path != nullptr && out != nullptr);
    *out = xps_config_route_match_t{};
    // Accept any spelling of the listener's address ("0:0::1" for "::1").
    char canon[INET6_ADDRSTRLEN];
    unsigned char bin[sizeof(struct in6_addr)];
    for (int af : {AF_INET, AF_INET6}) {
        if (inet_pton(af, listener_host, bin) == 1 && inet_ntop(af, bin, canon, sizeof canon) != nullptr) {
            listener_host = canon;
            break;
        }
    }
    std::string_view host = host_name_of(host_header);

    for (size_t s = 0; s < config->servers.size(); s++) {
        const server_rec &server = config->servers[s];
        if (!has_listener(server, listener_host, listener_port))
            continue;
        if (!server.hostnames.empty() && !host_listed(server, host))
            continue;
        // The first block that fits answers, or nobody does: a route missing
        // here is a 404, not a reason to try the next block.
        const route_rec *best = nullptr;
        size_t best_i = 0;
        for (size_t i = 0; i < server.routes.size(); i++) {
            const route_rec &r = server.routes[i];
            if (prefix_matches(r, path) && (best == nullptr || r.req_len > best->req_len))
                best = &r, best_i = i;
        }
        if (best == nullptr)
            return XPS_E_NOTFOUND;
        fill_match(*best, s, best_i, out);
        return XPS_OK;
    }
    return XPS_E_NOTFOUND;
}

const char *xps_config_server_name(const xps_config_t *config) noexcept
{
    assert(config != nullptr);
    return config->server_name;
}

int xps_config_workers(const xps_config_t *config) noexcept
{
    assert(config != nullptr);
    return config->workers;
}

const xps_config_timeouts_t *xps_config_timeouts(const xps_config_t *config) noexcept
{
    assert(config != nullptr);
    return &config->timeouts;
}

const xps_config_limits_t *xps_config_limits(const xps_config_t *config) noexcept
{
    assert(config != nullptr);
    return &config->limits;
}

const xps_config_cache_t *xps_config_cache(const xps_config_t *config) noexcept
{
    assert(config != nullptr);
    return &config->cache;
}

const xps_config_error_page_t *xps_config_error_page(const xps_config_t *config,
                                                     const xps_config_route_match_t *match,
                                                     int status) noexcept
{
    assert(config != nullptr);
    if (status < 400 || status > 599)
        return nullptr;
    const config_detail::error_page_table &t =
        match != nullptr && match->type != 0 && match->server < config->servers.size()
            ? config->servers[match->server].error_pages
            : config->error_pages;
    return t[static_cast<size_t>(status - 400)];
}

const xps_config_log_t *xps_config_log(const xps_config_t *config) noexcept
{
    assert(config != nullptr);
    return &config->log;
}

size_t xps_config_listener_count(const xps_config_t *config) noexcept
{
    assert(config != nullptr);
    return config->listeners.size();
}

const xps_config_listener_t *xps_config_listener(const xps_config_t *config, size_t i) noexcept
{
    assert(config != nullptr && i < config->listeners.size());
    return &config->listeners[i];
}

const xps_tls_cert_t *xps_config_listener_tls(const xps_config_t *config, size_t i,
                                              size_t *count) noexcept
{
    assert(config != nullptr && i < config->listeners.size() && count != nullptr);
    const std::vector<xps_tls_cert_t> &certs = config->listener_tls[i];
    *count = certs.size();
    return certs.empty() ? nullptr : certs.data();
}

size_t xps_config_server_count(const xps_config_t *config) noexcept
{
    assert(config != nullptr);
    return config->servers.size();
}

const char *xps_config_name(const xps_config_t *config) noexcept
{
    assert(config != nullptr);
    return config->name;
}

const char *xps_config_route_type_name(xps_config_route_type_t type) noexcept
{
    switch (type) {
    case XPS_CONFIG_FILE_SERVE: return "file_serve";
    case XPS_CONFIG_REVERSE_PROXY: return "reverse_proxy";
    case XPS_CONFIG_REDIRECT: return "redirect";
    case XPS_CONFIG_METRICS: return "metrics";
    case XPS_CONFIG_HEALTH: return "health";
    }
    return "?";
}

