// stages/stage-00-setup/main.cpp — stage 00: the environment doctor.
//
// Before the first server, this program answers one question: can this
// machine build, run and test every later stage? It prints one line per item
// (compiler, kernel, the four libraries, epoll, SO_REUSEPORT, the open-file
// limit, the tools the chapters use) with `ok`, `WARN` or `MISSING`, then
// either "all set" (exit 0) or the exact commands that fix what is missing
// (exit 1).
//
// Two versions per library, because they can differ:
//   built against  what the library's header said when this file was
//                  compiled (a macro, frozen into the binary);
//   run time       what the shared library found on this machine right now
//                  reports about itself.
// The libraries are NOT linked into this program: it loads them with
// dlopen() while it runs. A program linked against a missing library would
// not even start ("error while loading shared libraries"), and a doctor that
// cannot start cannot tell you what is missing. `__has_include` plays the
// same role at compile time: a missing header turns into a "not installed"
// line instead of a build error.
//
// Single file by design (Phase 0): read it top to bottom.

#include <arpa/inet.h>
#include <dlfcn.h>
#include <link.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

// ------------------------------------------------ versions from the headers
//
// Each block leaves a string literal, or nullptr when the header was absent
// at compile time. Only version macros are used: nothing here needs the
// library at link time.

#define XPS_STR2(x) #x
#define XPS_STR(x) XPS_STR2(x)

#if __has_include(<openssl/opensslv.h>)
#include <openssl/opensslv.h>
#ifdef OPENSSL_VERSION_STR // OpenSSL 3: "3.0.19"
constexpr const char *k_openssl_headers = OPENSSL_VERSION_STR;
#else // OpenSSL 1.x only has the long text
constexpr const char *k_openssl_headers = OPENSSL_VERSION_TEXT;
#endif
#else
constexpr const char *k_openssl_headers = nullptr;
#endif

#if __has_include(<zlib.h>)
#include <zlib.h>
constexpr const char *k_zlib_headers = ZLIB_VERSION;
#else
constexpr const char *k_zlib_headers = nullptr;
#endif

#if __has_include(<cjson/cJSON.h>)
#include <cjson/cJSON.h>
constexpr const char *k_cjson_headers = XPS_STR(CJSON_VERSION_MAJOR) "." XPS_STR(
    CJSON_VERSION_MINOR) "." XPS_STR(CJSON_VERSION_PATCH);
#else
constexpr const char *k_cjson_headers = nullptr;
#endif

// cmocka.h itself carries no version number (CMocka 1.x); CMocka 2 added
// cmocka_version.h. We never include cmocka.h: its macros (fail, skip, ...)
// are meant for test files, and knowing that it exists is enough.
#if __has_include(<cmocka_version.h>)
#include <cmocka_version.h>
constexpr const char *k_cmocka_headers = XPS_STR(CMOCKA_VERSION_MAJOR) "." XPS_STR(
    CMOCKA_VERSION_MINOR) "." XPS_STR(CMOCKA_VERSION_MICRO);
#elif __has_include(<cmocka.h>)
constexpr const char *k_cmocka_headers = "present";
#else
constexpr const char *k_cmocka_headers = nullptr;
#endif

namespace {

// ------------------------------------------------------------- the report

enum class verdict { ok, warn, missing };

// One line of the report, and the fix to print at the end if it is not ok.
struct item {
    std::string name;  // left column: "zlib library"
    verdict state;     // ok / WARN / MISSING
    std::string value; // the finding: "1.2.13", "soft 1024, hard 4096"
    std::string note;  // where the value came from or why it matters
    std::string fix;   // exact command(s) that repair it; empty when ok
};

// `command` as the user should type it: through sudo unless we already are
// root (a container's root often has no sudo installed).
std::string as_root(const std::string &command)
{
    return geteuid() == 0 ? command : "sudo " + command;
}

void add(std::vector<item> &report, std::string name, verdict state,
         std::string value, std::string note, std::string fix = "")
{
    report.push_back({std::move(name), state, std::move(value),
                      std::move(note), std::move(fix)});
}

// ----------------------------------------------------- compiler and kernel

void check_compiler(std::vector<item> &report)
{
    // __cplusplus names the language standard the compiler was asked for
    // (the Makefile passes -std=c++20).
#if __cplusplus >= 202002L
    const char *std_note = "__cplusplus = " XPS_STR(__cplusplus) ": C++20";
#else
    const char *std_note = "__cplusplus = " XPS_STR(__cplusplus) ": older than C++20";
#endif
#if defined(__clang__)
    add(report, "compiler", verdict::ok, "clang " __clang_version__, std_note);
#elif defined(__GNUC__)
    // The course is written and tested with g++ 12 (Debian 12). Older g++
    // lacks parts of C++20 that later stages use: warn, do not fail.
    verdict v = __GNUC__ >= 12 ? verdict::ok : verdict::warn;
    add(report, "compiler", v, "g++ " __VERSION__, std_note,
        v == verdict::ok ? "" : as_root("apt-get install -y g++-12") + "   (the course uses 12)");
#else
    add(report, "compiler", verdict::warn, __VERSION__, "not g++ or clang: untested");
#endif
}

void check_kernel(std::vector<item> &report)
{
    struct utsname u;
    if (uname(&u) != 0) {
        add(report, "kernel", verdict::warn, "unknown", std::string("uname: ") + strerror(errno));
        return;
    }
    add(report, "kernel", verdict::ok, u.release, std::string(u.sysname) + " " + u.machine);
}

// --------------------------------------------------- libraries at run time

// Owns a dlopen() handle. RTLD_NOW resolves every symbol at load time, so a
// broken install fails here and not later; RTLD_LOCAL keeps the library's
// symbols out of the global namespace (we only reach them through dlsym).
// dlclose only drops our reference: the loader unmaps a library when no one
// holds it any more.
struct library {
    void *handle = nullptr; // from dlopen, nullptr if loading failed
    explicit library(const char *soname) : handle(dlopen(soname, RTLD_NOW | RTLD_LOCAL)) {}
    ~library() { if (handle) dlclose(handle); }
    library(const library &) = delete;
    library &operator=(const library &) = delete;
    void *symbol(const char *name) const { return handle ? dlsym(handle, name) : nullptr; }
};

// The file the dynamic loader actually picked for `lib`, symlinks resolved:
// "/usr/lib/x86_64-linux-gnu/libz.so.1.2.13". Empty if unknown.
std::string loaded_file(const library &lib)
{
    struct link_map *map = nullptr;
    if (!lib.handle || dlinfo(lib.handle, RTLD_DI_LINKMAP, &map) != 0 || !map)
        return "";
    char resolved[PATH_MAX];
    if (!realpath(map->l_name, resolved))
        return map->l_name;
    return resolved;
}

// The run-time version getters: one per library, each given the loaded
// library. They return "" when the expected symbol is not there.
std::string openssl_runtime(const library &lib)
{
    // OpenSSL_version(OPENSSL_VERSION_STRING): "3.0.19". The constant is 6
    // in <openssl/crypto.h> of OpenSSL 3; written here so we need no header.
    // dlsym on libssl's handle also searches libcrypto, its dependency.
    auto fn = reinterpret_cast<const char *(*)(int)>(lib.symbol("OpenSSL_version"));
    if (!fn || !lib.symbol("SSL_CTX_new")) // SSL_CTX_new: it really is libssl
        return "";
    return fn(6);
}

std::string zlib_runtime(const library &lib)
{
    auto fn = reinterpret_cast<const char *(*)(void)>(lib.symbol("zlibVersion"));
    return fn ? fn() : "";
}

std::string cjson_runtime(const library &lib)
{
    auto fn = reinterpret_cast<const char *(*)(void)>(lib.symbol("cJSON_Version"));
    return fn ? fn() : "";
}

std::string cmocka_runtime(const library &lib)
{
    // CMocka has no version function. The best honest answer is the file the
    // loader picked: its name carries the library's ABI version (0.7.0 for
    // CMocka 1.1.x), which is not the release number.
    if (!lib.symbol("_cmocka_run_group_tests"))
        return "";
    std::string path = loaded_file(lib);
    size_t slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Everything the doctor knows about one dependency.
struct library_spec {
    const char *name;         // "zlib"
    const char *headers;      // version from the headers, nullptr if absent
    const char *header_file;  // where that came from: "<zlib.h>"
    const char *soname;       // what to dlopen: "libz.so.1"
    std::string (*version)(const library &); // run-time version getter
    const char *package;      // Debian -dev package (pulls in the library)
    const char *used_by;      // why the course needs it
    const char *version_note; // how to read the run-time version ("" if obvious)
};

void check_library(std::vector<item> &report, const library_spec &spec)
{
    std::string install = as_root(std::string("apt-get install -y ") + spec.package);
    std::string head = std::string(spec.name) + " headers";
    if (spec.headers)
        add(report, head, verdict::ok, spec.headers,
            std::string("built against ") + spec.header_file +
                (strcmp(spec.headers, "present") == 0 ? ", which has no version number" : ""));
    else
        add(report, head, verdict::missing, "not installed",
            std::string(spec.header_file) + " was absent when this doctor was compiled; " +
                spec.used_by,
            install);

    std::string lib_name = std::string(spec.name) + " library";
    library lib(spec.soname);
    if (!lib.handle) {
        add(report, lib_name, verdict::missing, "not found",
            std::string("dlopen ") + spec.soname + " failed; " + spec.used_by, install);
        return;
    }
    std::string version = spec.version(lib);
    std::string file = loaded_file(lib);
    if (version.empty())
        add(report, lib_name, verdict::missing, "unusable",
            file + " lacks the expected functions", install);
    else
        add(report, lib_name, verdict::ok, version,
            "found at run time: " + file + spec.version_note);
}

// ------------------------------------------------------ kernel features

// A small fd owner so early returns cannot leak descriptors.
struct unique_fd {
    int fd; // owned descriptor, or -1
    explicit unique_fd(int f) : fd(f) {}
    ~unique_fd() { if (fd >= 0) close(fd); }
    unique_fd(const unique_fd &) = delete;
    unique_fd &operator=(const unique_fd &) = delete;
};

// Fills `why` with "<call>: <error text>" and returns false, so each failed
// step below is one line.
bool failed(std::string &why, const char *call)
{
    why = std::string(call) + ": " + strerror(errno);
    return false;
}

// epoll works if it reports a pipe that holds a byte as readable. That is
// exactly what stage 03 relies on, with sockets instead of a pipe.
bool epoll_works(std::string &why)
{
    unique_fd ep(epoll_create1(EPOLL_CLOEXEC));
    if (ep.fd < 0) return failed(why, "epoll_create1");
    int p[2];
    if (pipe(p) != 0) return failed(why, "pipe");
    unique_fd rd(p[0]), wr(p[1]);

    struct epoll_event ev = {};
    ev.events = EPOLLIN;
    ev.data.fd = rd.fd;
    if (epoll_ctl(ep.fd, EPOLL_CTL_ADD, rd.fd, &ev) != 0) return failed(why, "epoll_ctl");
    if (write(wr.fd, "x", 1) != 1) return failed(why, "write");

    struct epoll_event out = {};
    int n = epoll_wait(ep.fd, &out, 1, 1000); // 1 s: the byte is already there
    if (n < 0) return failed(why, "epoll_wait");
    if (n != 1 || out.data.fd != rd.fd) {
        why = "epoll_wait did not report the readable pipe";
        return false;
    }
    why = "epoll_create1, epoll_ctl, epoll_wait on a pipe";
    return true;
}

// A TCP socket with SO_REUSEPORT set, bound to 127.0.0.1:port (0 = any).
// Returns the fd (the caller owns it) or -1 with `why` filled in.
int reuseport_socket(uint16_t port, std::string &why)
{
    unique_fd s(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (s.fd < 0) {
        failed(why, "socket");
        return -1;
    }
    // Must be set before bind(): the kernel checks it when the second
    // socket asks for a port that is already taken.
    int one = 1;
    if (setsockopt(s.fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
        failed(why, "setsockopt(SO_REUSEPORT)");
        return -1;
    }
    struct sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s.fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0) {
        failed(why, "bind");
        return -1;
    }
    int fd = s.fd;
    s.fd = -1; // hand over ownership
    return fd;
}

// SO_REUSEPORT lets several sockets bind the same port. Proving it takes two
// sockets: bind one to a free port the kernel picks, then a second one to
// that same port, which fails with EADDRINUSE without the option.
bool reuseport_works(std::string &why)
{
    unique_fd first(reuseport_socket(0, why));
    if (first.fd < 0) return false;
    struct sockaddr_in addr = {};
    socklen_t len = sizeof addr;
    if (getsockname(first.fd, reinterpret_cast<sockaddr *>(&addr), &len) != 0)
        return failed(why, "getsockname");
    uint16_t port = ntohs(addr.sin_port);
    unique_fd second(reuseport_socket(port, why));
    if (second.fd < 0) return false;
    why = "two TCP sockets bound to 127.0.0.1:" + std::to_string(port);
    return true;
}

void check_kernel_features(std::vector<item> &report)
{
    std::string why;
    if (epoll_works(why))
        add(report, "epoll", verdict::ok, "works", why);
    else
        add(report, "epoll", verdict::missing, "broken", why,
            "run the course on a Linux kernel (epoll exists since 2.6); a VM or container is fine");
    if (reuseport_works(why))
        add(report, "SO_REUSEPORT", verdict::ok, "works", why);
    else
        add(report, "SO_REUSEPORT", verdict::missing, "refused", why,
            "run the course on Linux 3.9 or newer (SO_REUSEPORT arrived in 3.9)");
}

// ------------------------------------------------------ open-file limit

// Every socket is a file descriptor, and RLIMIT_NOFILE caps how many a
// process may hold. Below 1024 even the early stages run out with a few
// hundred clients (each proxied client costs two). The benchmarks want far
// more: thousands of connections at once, two descriptors each through a
// proxy.
constexpr rlim_t k_nofile_needed = 1024;    // below this: MISSING
constexpr rlim_t k_nofile_bench = 65536;    // below this: WARN
constexpr rlim_t k_nofile_fix = 4096;       // what the fix for MISSING raises it to

std::string limit_text(rlim_t v)
{
    return v == RLIM_INFINITY ? "unlimited" : std::to_string(static_cast<unsigned long long>(v));
}

// The command that raises the soft limit to `want`. `ulimit -n` is a shell
// builtin: it changes the shell it runs in and every program started from it
// afterwards, so it belongs in the terminal that then starts the server.
// Anyone may move the soft limit up to the hard limit; going beyond the hard
// limit needs root (CAP_SYS_RESOURCE), and prlimit(1) can do it for the
// shell that is already running ($$ is that shell's pid).
std::string raise_command(rlim_t want, rlim_t hard)
{
    std::string n = limit_text(want);
    if (hard == RLIM_INFINITY || hard >= want)
        return "ulimit -n " + n + "   (in the shell that starts the programs)";
    return as_root("prlimit --pid $$ --nofile=" + n + ":" + n) +
           "   (the hard limit is " + limit_text(hard) + ")\n"
           "      to keep it: '* hard nofile " + n + "' in /etc/security/limits.conf;"
           " in a container: docker run --ulimit nofile=" + n + ":" + n;
}

void check_nofile(std::vector<item> &report)
{
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0) {
        add(report, "open-file limit", verdict::warn, "unknown",
            std::string("getrlimit: ") + strerror(errno));
        return;
    }
    std::string value = "soft " + limit_text(lim.rlim_cur) + ", hard " + limit_text(lim.rlim_max);
    if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < k_nofile_needed)
        add(report, "open-file limit", verdict::missing, value,
            "RLIMIT_NOFILE: every stage needs at least 1024 open files",
            raise_command(k_nofile_fix, lim.rlim_max));
    else if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < k_nofile_bench)
        add(report, "open-file limit", verdict::warn, value,
            "RLIMIT_NOFILE: fine for the stages; the later benchmarks (make bench) want 65536",
            raise_command(k_nofile_bench, lim.rlim_max));
    else
        add(report, "open-file limit", verdict::ok, value, "RLIMIT_NOFILE (ulimit -n)");
}

// ------------------------------------------------------------ tools

// Full path of `name` found in $PATH, or "" when it is not there.
std::string find_in_path(const char *name)
{
    const char *path = getenv("PATH");
    std::string dirs = path ? path : "/usr/bin:/bin";
    size_t start = 0;
    while (start <= dirs.size()) {
        size_t end = dirs.find(':', start);
        if (end == std::string::npos) end = dirs.size();
        std::string dir = dirs.substr(start, end - start);
        std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
        if (access(candidate.c_str(), X_OK) == 0)
            return candidate;
        start = end + 1;
    }
    return "";
}

// A tool the chapters use. `required` tools are MISSING when absent; the
// tools the experiments watch servers with, and the debugging tools, are
// only a WARN because no stage needs them to pass its checks.
void check_tool(std::vector<item> &report, const char *name, const char *package,
                const char *used_for, bool required)
{
    std::string found = find_in_path(name);
    std::string install = as_root(std::string("apt-get install -y ") + package);
    if (found.empty()) {
        add(report, name, required ? verdict::missing : verdict::warn, "not found",
            used_for, install);
        return;
    }
    // The chapters use `nc -N`, which only the OpenBSD netcat has.
    if (strcmp(name, "nc") == 0) {
        char resolved[PATH_MAX];
        if (realpath(found.c_str(), resolved) && !strstr(resolved, "openbsd")) {
            add(report, name, verdict::warn, resolved, "not netcat-openbsd: the chapters use nc -N",
                install);
            return;
        }
    }
    add(report, name, verdict::ok, found, used_for);
}

void check_tools(std::vector<item> &report)
{
    check_tool(report, "make", "make", "the one build entry point", true);
    check_tool(report, "pkg-config", "pkg-config", "finds library flags for the runtime", true);
    check_tool(report, "nc", "netcat-openbsd", "poking servers in every chapter", true);
    check_tool(report, "curl", "curl", "HTTP requests from stage 10 on", true);
    // What the experiments watch a server with: `make deps` installs them.
    check_tool(report, "strace", "strace", "experiments: system calls (stage 01 on)", false);
    check_tool(report, "pv", "pv", "experiments: a slow reader (stages 04, 07-09)", false);
    check_tool(report, "ps", "procps", "experiments: memory and CPU (stages 03-09)", false);
    check_tool(report, "pgrep", "procps", "experiments: a server's pid (stages 03-09, 13)", false);
    check_tool(report, "top", "procps", "experiments: CPU use (stage 07)", false);
    check_tool(report, "ss", "iproute2", "experiments: socket states (stages 01-07)", false);
    check_tool(report, "ip", "iproute2", "experiments: routes (stage 14)", false);
    check_tool(report, "prlimit", "util-linux", "experiments: limits (stages 00, 07)", false);
    check_tool(report, "tcpdump", "tcpdump", "packets on lo (docs/performance.md)", false);
    check_tool(report, "gdb", "gdb", "optional: debugging a server", false);
    check_tool(report, "valgrind", "valgrind", "optional: leak checks (stage 06 on)", false);
}

// ------------------------------------------------------------ output

const char *verdict_text(verdict v)
{
    switch (v) {
    case verdict::ok: return "ok";
    case verdict::warn: return "WARN";
    case verdict::missing: return "MISSING";
    }
    return "?";
}

// One aligned line per item: name, verdict, value, then the note.
void print_items(const std::vector<item> &report)
{
    size_t name_w = 0, value_w = 0;
    for (const item &it : report) {
        name_w = std::max(name_w, it.name.size());
        value_w = std::max(value_w, it.value.size());
    }
    for (const item &it : report)
        printf("  %-*s  %-7s  %-*s  %s\n", static_cast<int>(name_w), it.name.c_str(),
               verdict_text(it.state), static_cast<int>(value_w), it.value.c_str(),
               it.note.c_str());
}

// Prints the fix of every item in state `v`.
void print_fixes(const std::vector<item> &report, verdict v)
{
    for (const item &it : report)
        if (it.state == v)
            printf("  %s: %s\n", it.name.c_str(), it.fix.c_str());
}

int count_state(const std::vector<item> &report, verdict v)
{
    int n = 0;
    for (const item &it : report) n += it.state == v;
    return n;
}

// The verdict and the exit status: 0 when nothing is missing.
int print_summary(const std::vector<item> &report)
{
    int missing = count_state(report, verdict::missing);
    int warnings = count_state(report, verdict::warn);
    if (warnings > 0) {
        printf("\nwarnings (the stages work without these):\n");
        print_fixes(report, verdict::warn);
    }
    if (missing == 0) {
        printf("\nall set: this machine can build and run every stage. Next: stage 01.\n");
        return 0;
    }
    printf("\nnot ready: %d item%s MISSING. Fix:\n", missing, missing == 1 ? "" : "s");
    print_fixes(report, verdict::missing);

    bool packages = false, headers = false;
    for (const item &it : report) {
        if (it.state != verdict::missing) continue;
        packages |= it.fix.find("apt-get") != std::string::npos;
        headers |= it.name.ends_with(" headers");
    }
    if (packages)
        printf("or install every package the course uses at once: make deps\n");
    // -B because headers are read when the doctor compiles, and make cannot
    // know that a header which was missing then has appeared since.
    if (headers)
        printf("then rebuild this doctor and run it again: "
               "make -B stage-00 && build/bin/stage-00\n");
    else
        printf("then run this doctor again: build/bin/stage-00\n");
    return 1;
}

void usage(FILE *out)
{
    fprintf(out,
            "usage: stage-00 [--help]\n"
            "Environment doctor for the xps course: checks the compiler, kernel,\n"
            "OpenSSL, zlib, cJSON, CMocka, epoll, SO_REUSEPORT, the open-file limit\n"
            "and the tools the chapters use. Prints one line per item.\n"
            "Exit status: 0 all set, 1 something is missing (the fix is printed),\n"
            "2 bad command line.\n");
}

} // namespace

int main(int argc, char **argv)
{
    if (argc > 1) {
        bool help = argc == 2 && strcmp(argv[1], "--help") == 0;
        usage(help ? stdout : stderr);
        return help ? 0 : 2;
    }

    const library_spec libraries[] = {
        {"OpenSSL", k_openssl_headers, "<openssl/opensslv.h>", "libssl.so.3", openssl_runtime,
         "libssl-dev", "stage 19 (TLS) needs it", ""},
        {"zlib", k_zlib_headers, "<zlib.h>", "libz.so.1", zlib_runtime, "zlib1g-dev",
         "stage 16 (gzip) needs it", ""},
        {"cJSON", k_cjson_headers, "<cjson/cJSON.h>", "libcjson.so.1", cjson_runtime,
         "libcjson-dev", "stage 12 (config) needs it", ""},
        {"CMocka", k_cmocka_headers, "<cmocka.h>", "libcmocka.so.0", cmocka_runtime,
         "libcmocka-dev", "every test and the grader need it",
         " (file name = ABI version; CMocka has no version function)"},
    };

    std::vector<item> report;
    check_compiler(report);
    check_kernel(report);
    for (const library_spec &spec : libraries)
        check_library(report, spec);
    check_kernel_features(report);
    check_nofile(report);
    check_tools(report);

    printf("xps environment doctor (stage 00)\n\n");
    print_items(report);
    int status = print_summary(report);
    fflush(stdout);
    return status;
}
