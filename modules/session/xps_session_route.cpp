// modules/session/xps_session_route.cpp — xps_session_route: from a parsed
// request to what the session does with it. No sockets here, only the
// configuration and the disk, so the unit tests drive it with a table.
// [stage 12]
//
//   xps_config_lookup(listener, Host, path)
//     ├─ none ──────────── REPLY 404
//     ├─ client refused ── REPLY 403 [stage 14]: the route's ip filter,
//     │                    before anything below opens or contacts a thing
//     ├─ bucket empty ──── REPLY 429 + Retry-After [stage 18]: the route's
//     │                    rate_limit, also before anything below
//     ├─ redirect ──────── REPLY <http_status_code>, Location: <redirect_url>
//     ├─ reverse_proxy ─── PROXY upstreams[0]   (CONNECT: REPLY 501)
//     ├─ metrics ───────── METRICS with an observer (GET, HEAD; else 405), else REPLY 501
//     ├─ health ────────── REPLY 200 "ok", or 503 once the worker drains
//     └─ file_serve ────── serve_file(): GET/HEAD: the file, or for a folder
//                          a 301 to "path/", then its index files, then
//                          [stage 15] its listing if dir_browsing is on;
//                          OPTIONS: 200 with Allow; other methods 405/501
#include "modules/session/xps_session_internal.hpp"

#include <sys/stat.h>

#include <cctype>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

namespace {

// The status for an xps_file_create failure, and why, for the log.
void file_error(int error, xps_session_action_t *out) {
    out->kind = XPS_SESSION_REPLY;
    if (error == XPS_E_NOTFOUND) {
        out->status = 404, out->reason = "no such file";
    } else if (error == XPS_E_PERMISSION) {
        out->status = 403, out->reason = "outside the root, or not readable by everyone";
    } else {
        out->status = 500, out->reason = xps_strerror(error);
    }
}

// Whether `path` under `root` is a folder (confined as a file would be).
bool is_folder(const char *root, const char *path) {
    char real[PATH_MAX];
    struct stat st;
    return xps_file_resolve(root, path, real, sizeof real) == XPS_OK && stat(real, &st) == 0 &&
           S_ISDIR(st.st_mode);
}

// The Location of a folder's 301: "/docs" → "/docs/", "/docs?x=1" →
// "/docs/?x=1". Built from the NORMALISED path, never from the target as
// sent: "//evil.example/%2e%2e/docs" names the folder /docs too, and
// echoing it would send the browser to "//evil.example/..." — a network-
// path reference, i.e. another origin (RFC 3986 §4.2): an open redirect.
// The normalised path has no "//", "." or ".." (xps_http_request_path);
// bytes outside RFC 3986's pchar are percent-encoded ('\\', which browsers
// read as '/', becomes %5C), so the result is always a path on this origin.
// The query is passed on as sent. NULL when out of memory.
char *folder_location(const char *path, const char *query) {
    static const char hex[] = "0123456789ABCDEF";
    std::string loc;
    try {
        for (const char *p = path; *p; p++) {
            auto c = static_cast<unsigned char>(*p);
            if (std::isalnum(c) || std::strchr("-._~!$&'()*+,;=:@/", c))
                loc += static_cast<char>(c);
            else
                (loc += '%') += hex[c >> 4], loc += hex[c & 15];
        }
        loc += '/';
        if (query)
            (loc += '?') += query;
    } catch (const std::bad_alloc &) {
        return nullptr;
    }
    return strdup(loc.c_str());
}

// What a file_serve route answers to: 405's Allow and OPTIONS's.
constexpr const char *file_methods = "GET, HEAD, OPTIONS";

// OPTIONS (RFC 9110 §9.3.7): 200, no body, the methods in Allow.
int answer_options(xps_session_action_t *out) {
    out->kind = XPS_SESSION_REPLY, out->status = 200, out->reason = "options";
    out->allow = file_methods;
    return XPS_OK;
}

// A folder: its index files, in order; the first that opens is served.
// One that exists but may not be served stops the search (403), as it
// would if it had been asked for by name.
int serve_index(xps_core_t *core, const xps_config_route_match_t &m, const char *path,
                bool may_list, xps_session_action_t *out) {
    for (size_t i = 0; i < m.n_index; i++) {
        std::string name;
        try {
            name = std::string(path) + m.index[i]; // path ends in '/'
        } catch (...) {
            return XPS_E_NOMEM;
        }
        int error = XPS_OK;
        out->file = xps_file_create(core, m.dir_path, name.c_str(), &error);
        if (out->file) {
            out->kind = XPS_SESSION_FILE, out->status = 200, out->reason = "index file";
            return XPS_OK;
        }
        if (error != XPS_E_NOTFOUND) {
            file_error(error, out);
            return error == XPS_E_NOMEM ? XPS_E_NOMEM : XPS_OK;
        }
    }
    // [stage 15] No index file: the route may list the folder. The one
    // point where a listing is decided; the module makes the page. Folder
    // hrefs are bare ("/test"), the course grader's form (the header's
    // XPS_DIRLIST_BARE_FOLDERS); a click costs the 301 above.
    if (may_list && m.dir_browsing) {
        int error = XPS_OK;
        out->listing = xps_dirlist_create(m.dir_path, path, XPS_DIRLIST_BARE_FOLDERS, &error);
        if (out->listing) {
            out->kind = XPS_SESSION_LISTING, out->status = 200, out->reason = "folder listing";
            return XPS_OK;
        }
        file_error(error, out);
        return error == XPS_E_NOMEM ? XPS_E_NOMEM : XPS_OK;
    }
    out->kind = XPS_SESSION_REPLY, out->status = 404, out->reason = "folder without an index file";
    return XPS_OK;
}

// The file at dir_path + the whole request path (the route's req_path is
// not cut off: docs/config.md, "file_serve"), a folder's 301 or its index.
int find_file(xps_core_t *core, const xps_config_route_match_t &m,
              const xps_http_request_t *req, bool may_list, xps_session_action_t *out) {
    const char *path = xps_http_request_path(req);
    int error = XPS_OK;
    out->file = xps_file_create(core, m.dir_path, path, &error);
    if (out->file) {
        out->kind = XPS_SESSION_FILE, out->status = 200, out->reason = "file";
        return XPS_OK;
    }
    if (error != XPS_E_NOTFOUND || !is_folder(m.dir_path, path)) {
        file_error(error, out);
        return error == XPS_E_NOMEM ? XPS_E_NOMEM : XPS_OK;
    }
    if (path[std::strlen(path) - 1] != '/') {
        // "/docs" names a folder: send the client to "/docs/", so that the
        // relative links of its index page resolve inside it (nginx does
        // the same). 301: the folder will stay a folder.
        out->kind = XPS_SESSION_REPLY, out->status = 301, out->reason = "folder: add the '/'";
        out->location = folder_location(path, xps_http_request_query(req));
        return out->location ? XPS_OK : XPS_E_NOMEM;
    }
    return serve_index(core, m, path, may_list, out);
}

// file_serve: GET and HEAD get the file; OPTIONS what may be done with
// it, or with the server as a whole for "OPTIONS *" (RFC 9110 §9.3.7).
int serve_file(xps_core_t *core, const xps_config_route_match_t &m,
               const xps_http_request_t *req, bool may_list, xps_session_action_t *out) {
    int method = xps_http_request_method(req);
    bool options = method == XPS_HTTP_METHOD_OPTIONS;
    if (method != XPS_HTTP_METHOD_GET && method != XPS_HTTP_METHOD_HEAD && !options) {
        // A method nobody defined is not implemented; a known one is not
        // allowed on a file (RFC 9110 §15.5.6: 405 lists what is, in Allow).
        out->kind = XPS_SESSION_REPLY;
        out->status = method == XPS_HTTP_METHOD_OTHER ? 501 : 405;
        out->reason = "files are served to GET and HEAD only";
        out->allow = out->status == 405 ? file_methods : nullptr;
        return XPS_OK;
    }
    if (options && std::strcmp(xps_http_request_target(req), "*") == 0)
        return answer_options(out);
    int rc = find_file(core, m, req, may_list, out);
    if (options && (out->kind == XPS_SESSION_FILE || out->kind == XPS_SESSION_LISTING)) {
        xps_file_destroy(out->file); // it exists: no body, just Allow
        xps_dirlist_destroy(out->listing);
        out->file = nullptr, out->listing = nullptr;
        return answer_options(out);
    }
    return rc;
}

// [stage 18] One request's token (modules/ratelimit): the key is the
// client's address and the route's place in the config (server block,
// route), which stays the same for the config's life.
bool take_token(const xps_session_origin_t *from, const xps_config_route_match_t &m,
                uint32_t *retry_after) {
    const xps_ratelimit_rule_t rule{m.rate_limit->rate_milli, m.rate_limit->burst};
    const xps_ratelimit_key_t key{from->peer->bytes,
                                  from->peer->family == 6   ? size_t{16}
                                  : from->peer->family == 4 ? size_t{4}
                                                            : size_t{0},
                                  static_cast<uint64_t>(m.server) << 32 | m.route};
    return xps_ratelimit_take(from->limiter, &rule, &key, from->now_ms, retry_after);
}

} // namespace

int xps_session_route(xps_core_t *core, const xps_config_t *config,
                      const xps_session_origin_t *from, const xps_http_request_t *req,
                      xps_session_action_t *out) noexcept {
    *out = xps_session_action_t{};
    out->reason = "";
    int rc = xps_config_lookup(config, from->listener_host, from->listener_port,
                               xps_http_request_host(req), xps_http_request_path(req), &out->match);
    if (rc != XPS_OK) {
        out->kind = XPS_SESSION_REPLY, out->status = 404, out->reason = "no route for this request";
        return XPS_OK;
    }
    const xps_config_route_match_t &m = out->match;
    // [stage 14] Who may use the route is known from the route alone, so
    // it is asked first: a refused client costs a trie walk, never a
    // stat(), an open() or a connect(), and learns nothing of what the
    // route holds (403 for a file that exists and for one that does not).
    if (from->client && !xps_ipfilter_allows(m.access, from->client)) {
        out->kind = XPS_SESSION_REPLY, out->status = 403;
        out->reason = "the route's ip_whitelist / ip_blacklist refuses this client";
        return XPS_OK;
    }
    // [stage 18] Then its rate: a token from the bucket of (address,
    // route), still before the route's work, so a refused request costs a
    // hash lookup and nothing else.
    uint32_t retry_after = 0;
    if (from->limiter && m.rate_limit && from->peer && !take_token(from, m, &retry_after)) {
        out->kind = XPS_SESSION_REPLY, out->status = 429, out->retry_after = retry_after;
        out->reason = "the route's rate_limit: this client's bucket is empty";
        return XPS_OK;
    }
    switch (m.type) {
    case XPS_CONFIG_REDIRECT:
        out->kind = XPS_SESSION_REPLY, out->status = m.http_status_code, out->reason = "redirect";
        out->location = strdup(m.redirect_url);
        rc = out->location ? XPS_OK : XPS_E_NOMEM;
        break;
    case XPS_CONFIG_REVERSE_PROXY:
        if (xps_http_request_method(req) == XPS_HTTP_METHOD_CONNECT) { // a tunnel, not a request
            out->kind = XPS_SESSION_REPLY, out->status = 501;
            out->reason = "CONNECT is not proxied";
            break;
        }
        out->kind = XPS_SESSION_PROXY, out->upstream = &m.upstreams[0]; // [stage 17] balance
        out->reason = "proxy";
        break;
    case XPS_CONFIG_FILE_SERVE:
        rc = serve_file(core, m, req, from->dir_listing, out);
        break;
    case XPS_CONFIG_HEALTH: // for a load balancer: stop sending here once we drain
        out->kind = XPS_SESSION_REPLY;
        if (from->draining)
            out->status = 503, out->reason = "draining: this worker is stopping";
        else
            out->status = 200, out->reason = "health", out->text = "ok";
        break;
    default: // metrics: [apps/xps] served with an observer's counters
        if (!from->metrics) {
            out->kind = XPS_SESSION_REPLY, out->status = 501;
            out->reason = "metrics are served by xps";
        } else if (xps_http_request_method(req) != XPS_HTTP_METHOD_GET &&
                   xps_http_request_method(req) != XPS_HTTP_METHOD_HEAD) {
            out->kind = XPS_SESSION_REPLY, out->status = 405, out->reason = "metrics are read";
            out->allow = "GET, HEAD";
        } else {
            out->kind = XPS_SESSION_METRICS, out->status = 200, out->reason = "metrics";
        }
        break;
    }
    if (rc == XPS_E_NOMEM) {
        xps_session_action_release(out);
        out->kind = XPS_SESSION_REPLY, out->status = 500, out->reason = "out of memory";
    }
    return rc;
}

void xps_session_action_release(xps_session_action_t *a) noexcept {
    xps_file_destroy(a->file);
    xps_dirlist_destroy(a->listing);
    std::free(a->location);
    *a = xps_session_action_t{};
    a->reason = "";
}
