// apps/xps/main.cpp — xps, the product server: every module of stages
// 12-21, run by modules/server (a master, its workers, reload, drain),
// behind an operator's command line (docs/operators.md):
//
//   xps [-c FILE] [-p PIDFILE]   serve FILE (docs/config.md); with no -c,
//                                the embedded default (below)
//   xps -t [-c FILE]             check the config, certificates and cache
//                                folder: "ok", or the precise error; exit 0/1
//   xps -s stop|reload [-p PIDFILE]
//                                SIGTERM / SIGHUP to the running master
//   xps -h                       usage
//
// The embedded default, with no -c: a welcome page (apps/xps/site/) and
// the project's docs/ as static files (listed, gzipped), on
// http://127.0.0.1:8080/ and https://127.0.0.1:8443/, with a /health
// route and a /metrics page. The HTTPS certificate is self-signed, made on
// the first run (modules/server/xps_server_cert.h) in the state folder,
// which also holds the cache, the access log and the pid file:
//   $XPS_STATE_DIR, else $XDG_STATE_HOME/xps, else ~/.local/state/xps.
// The site and docs are found from the binary's own place, so a fresh
// clone's build/bin/xps finds them wherever it is started from: the first
// folder above /proc/self/exe that holds apps/xps/site/index.html (or
// $XPS_ROOT, a checkout, when set).
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <cjson/cJSON.h>

#include "core/xps_logger.h"
#include "modules/config/xps_config.h"
#include "modules/server/xps_server.h"
#include "modules/server/xps_server_cert.h"

namespace {

constexpr const char *usage =
    "usage: xps [-c FILE] [-p PIDFILE]        serve FILE (no -c: the embedded default)\n"
    "       xps -t [-c FILE]                  check the config, certificates, cache folder\n"
    "       xps -s stop|reload [-p PIDFILE]   signal the running server (SIGTERM, SIGHUP)\n"
    "       xps -h                            this help\n"
    "  -c FILE     a JSON config (docs/config.md)\n"
    "  -p PIDFILE  where the master writes its pid, removed when it exits (default with\n"
    "              no -c: STATE/xps.pid); -s reads it\n"
    "  The embedded default serves a welcome page and the docs on http://127.0.0.1:8080/\n"
    "  and https://127.0.0.1:8443/ (a self-signed certificate made on the first run) and\n"
    "  keeps its certificate, cache, access log and pid file in the state folder STATE:\n"
    "  $XPS_STATE_DIR, else $XDG_STATE_HOME/xps, else ~/.local/state/xps.\n"
    "  SIGHUP reloads the config (the old workers keep serving if it is invalid);\n"
    "  SIGTERM or SIGINT drains and stops. XPS_LOG_LEVEL=debug|info|warn|error.\n"
    "  Operators' guide: docs/operators.md.\n";

constexpr const char *name = "xps";
constexpr int http_port = 8080;
constexpr int https_port = 8443;

// The state folder (see the top of the file); "" and a message when there
// is no HOME to put it in.
std::string state_dir(std::string *why) {
    const char *env = std::getenv("XPS_STATE_DIR");
    if (env && *env)
        return env;
    env = std::getenv("XDG_STATE_HOME");
    if (env && *env == '/')
        return std::string(env) + "/xps";
    env = std::getenv("HOME");
    if (env && *env == '/')
        return std::string(env) + "/.local/state/xps";
    *why = "no state folder: set XPS_STATE_DIR (or HOME)";
    return "";
}

bool is_file(const std::string &path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// The checkout the site and docs are in: $XPS_ROOT, else the nearest
// folder above the binary holding apps/xps/site/index.html.
std::string find_root(std::string *why) {
    constexpr const char *marker = "/apps/xps/site/index.html";
    const char *env = std::getenv("XPS_ROOT");
    if (env && *env) {
        if (is_file(std::string(env) + marker))
            return env;
        *why = std::string("XPS_ROOT=") + env + ": no apps/xps/site/index.html there";
        return "";
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        *why = std::string("/proc/self/exe: ") + std::strerror(errno) + " (set XPS_ROOT)";
        return "";
    }
    std::string at(exe, static_cast<size_t>(n));
    for (size_t slash; (slash = at.find_last_of('/')) != std::string::npos && slash > 0;) {
        at.resize(slash);
        if (is_file(at + marker))
            return at;
    }
    *why = std::string("no apps/xps/site/index.html in the folders above ") +
           std::string(exe, static_cast<size_t>(n)) + " (set XPS_ROOT to a checkout of xps)";
    return "";
}

// A route serving `dir` (a checkout's folder) with listings and gzip.
cJSON *static_route(const char *req_path, const std::string &dir, bool browse) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "req_path", req_path);
    cJSON_AddStringToObject(r, "type", "file_serve");
    cJSON_AddStringToObject(r, "dir_path", dir.c_str());
    cJSON_AddBoolToObject(r, "dir_browsing", browse);
    cJSON_AddBoolToObject(r, "gzip_enable", true);
    return r;
}

cJSON *listener(int port, const std::string &state) {
    cJSON *l = cJSON_CreateObject();
    cJSON_AddStringToObject(l, "host", "127.0.0.1");
    cJSON_AddNumberToObject(l, "port", port);
    if (!state.empty()) {
        cJSON *tls = cJSON_AddObjectToObject(l, "tls");
        cJSON_AddStringToObject(tls, "cert", (state + "/" XPS_SERVER_CERT_FILE).c_str());
        cJSON_AddStringToObject(tls, "key", (state + "/" XPS_SERVER_KEY_FILE).c_str());
    }
    return l;
}

// The embedded default's JSON (docs/config.md's keys, as a file would
// have them). "/docs" serves <root>/docs/... (a route's dir_path takes the
// whole request path, docs/config.md), "/" the welcome site.
std::string default_json(const std::string &root, const std::string &state) {
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "server_name", "xps");
    cJSON_AddStringToObject(c, "workers", "auto");
    cJSON *cache = cJSON_AddObjectToObject(c, "cache");
    cJSON_AddStringToObject(cache, "dir", (state + "/cache").c_str());
    cJSON *log = cJSON_AddObjectToObject(c, "log");
    cJSON_AddStringToObject(log, "access", "combined");
    cJSON_AddStringToObject(log, "path", (state + "/access.log").c_str());
    cJSON *block = cJSON_CreateObject();
    cJSON *listeners = cJSON_AddArrayToObject(block, "listeners");
    cJSON_AddItemToArray(listeners, listener(http_port, ""));
    cJSON_AddItemToArray(listeners, listener(https_port, state));
    cJSON *routes = cJSON_AddArrayToObject(block, "routes");
    cJSON *health = cJSON_CreateObject();
    cJSON_AddStringToObject(health, "req_path", "/health");
    cJSON_AddStringToObject(health, "type", "health");
    cJSON_AddItemToArray(routes, health);
    cJSON *metrics = cJSON_CreateObject();
    cJSON_AddStringToObject(metrics, "req_path", "/metrics");
    cJSON_AddStringToObject(metrics, "type", "metrics");
    cJSON_AddItemToArray(routes, metrics);
    cJSON_AddItemToArray(routes, static_route("/docs", root, true));
    cJSON_AddItemToArray(routes, static_route("/", root + "/apps/xps/site", false));
    cJSON_AddItemToArray(cJSON_AddArrayToObject(c, "servers"), block);
    char *text = cJSON_Print(c);
    std::string json = text ? text : "";
    cJSON_free(text);
    cJSON_Delete(c);
    return json;
}

// The embedded default, built afresh at start and on each SIGHUP: the
// certificate is made (or remade, if it expired meanwhile) first.
struct embedded {
    std::string root, state;
};

xps_config_t *load_default(void *data, char *err, size_t err_size) {
    auto *e = static_cast<embedded *>(data);
    bool made = false;
    if (xps_server_cert_ensure(e->state.c_str(), &made, err, err_size) != XPS_OK)
        return nullptr;
    if (made)
        XPS_LOG(XPS_LOG_INFO, name, "made a self-signed certificate: %s/" XPS_SERVER_CERT_FILE,
                e->state.c_str());
    std::string json = default_json(e->root, e->state);
    if (json.empty()) {
        std::snprintf(err, err_size, "the embedded default: out of memory");
        return nullptr;
    }
    return xps_config_parse(json.c_str(), "the embedded default", e->root.c_str(), err, err_size);
}

// Where the server answers, on stdout (a terminal's, or a service log's).
void print_urls(void *data, const xps_config_t *config) {
    auto *e = static_cast<embedded *>(data);
    std::printf("xps: serving %s\n", e ? "the embedded default (no -c): a welcome page, the docs"
                                       : xps_config_name(config));
    for (size_t i = 0; i < xps_config_listener_count(config); i++) {
        const xps_config_listener_t *l = xps_config_listener(config, i);
        size_t certs = 0;
        xps_config_listener_tls(config, i, &certs);
        bool v6 = std::strchr(l->host, ':') != nullptr;
        std::printf("  %s://%s%s%s:%u/\n", certs ? "https" : "http", v6 ? "[" : "", l->host,
                    v6 ? "]" : "", l->port);
    }
    if (e)
        std::printf("  state folder: %s (certificate, cache, access log, pid file)\n"
                    "  the certificate is self-signed: curl --cacert %s/" XPS_SERVER_CERT_FILE
                    " https://127.0.0.1:%d/\n",
                    e->state.c_str(), e->state.c_str(), https_port);
    std::printf("  Ctrl-C (SIGINT) or SIGTERM stops it; SIGHUP reloads\n");
    std::fflush(stdout); // before the fork: the workers must not print it again
}

int bad_usage(const char *why) {
    if (why)
        std::fprintf(stderr, "xps: %s\n", why);
    std::fputs(usage, stderr);
    return 2;
}

} // namespace

int main(int argc, char **argv) {
    const char *config_path = nullptr, *pid_file = nullptr, *signal_name = nullptr;
    bool check = false;
    opterr = 0; // our own messages
    for (int opt; (opt = getopt(argc, argv, ":c:tp:s:h")) != -1;) {
        switch (opt) {
        case 'c': config_path = optarg; break;
        case 't': check = true; break;
        case 'p': pid_file = optarg; break;
        case 's': signal_name = optarg; break;
        case 'h': return std::fputs(usage, stdout), 0;
        case ':': {
            char why[64];
            std::snprintf(why, sizeof why, "-%c needs a value", optopt);
            return bad_usage(why);
        }
        default: {
            char why[64];
            std::snprintf(why, sizeof why, "unknown flag -%c", optopt);
            return bad_usage(why);
        }
        }
    }
    if (optind < argc)
        return bad_usage("unexpected argument (the config is given with -c FILE)");
    if (check && signal_name)
        return bad_usage("-t and -s do not go together");
    int signo = 0;
    if (signal_name) {
        if (std::strcmp(signal_name, "stop") == 0)
            signo = SIGTERM;
        else if (std::strcmp(signal_name, "reload") == 0)
            signo = SIGHUP;
        else
            return bad_usage("-s takes stop or reload");
    }
    xps_log_init_from_env();

    std::string why, state = state_dir(&why);
    std::string default_pid = state.empty() ? "" : state + "/xps.pid";
    char err[XPS_CONFIG_ERR_MAX] = "";
    if (signo) {
        if (!pid_file && default_pid.empty())
            return std::fprintf(stderr, "xps: %s\n", why.c_str()), 1;
        const char *path = pid_file ? pid_file : default_pid.c_str();
        pid_t pid = 0;
        if (xps_server_pidfile_signal(path, signo, &pid, err, sizeof err) != XPS_OK)
            return std::fprintf(stderr, "xps: %s\n", err), 1;
        std::printf("xps: sent %s to pid %d (%s)\n", signo == SIGTERM ? "SIGTERM" : "SIGHUP",
                    static_cast<int>(pid), path);
        return 0;
    }

    embedded e;
    xps_server_options_t options = {};
    options.name = name;
    options.pid_file = pid_file;
    if (config_path) {
        options.config_path = config_path;
    } else {
        if (state.empty())
            return std::fprintf(stderr, "xps: %s\n", why.c_str()), 1;
        if ((e.root = find_root(&why)).empty())
            return std::fprintf(stderr, "xps: %s\n", why.c_str()), 1;
        e.state = state;
        options.load = load_default;
        options.load_data = &e;
        options.ready_data = &e;
        if (!pid_file)
            options.pid_file = default_pid.c_str();
    }

    if (check) {
        xps_config_t *config = config_path ? xps_config_load(config_path, err, sizeof err)
                                           : load_default(&e, err, sizeof err);
        int rc = config ? xps_server_check(config, err, sizeof err) : XPS_E_INVAL;
        xps_config_destroy(config);
        if (rc != XPS_OK)
            return std::fprintf(stderr, "xps: %s\n", err), 1;
        std::printf("xps: %s: ok\n", config_path ? config_path : "the embedded default");
        return 0;
    }

    options.on_ready = print_urls;
    options.product = true;
    int rc = xps_server_run(&options, err, sizeof err);
    if (rc != XPS_OK)
        std::fprintf(stderr, "xps: %s\n", err);
    return rc == XPS_OK ? 0 : 1;
}
