// tests/chaos/fail_alloc.cpp — an LD_PRELOAD seam that makes ONE allocation
// of a server fail, so `make chaos` can prove that every allocation a
// request makes is checked (the server answers 500 or closes that client,
// leaks nothing, and serves the next one).
//
// Built as build/lib/libxps-fail-alloc.so (never with sanitizers: under
// SAN=1 it sits in front of ASan's allocator, which the server is started
// with ASAN_OPTIONS=verify_asan_link_order=0 to allow). It interposes
// malloc, calloc, realloc, aligned_alloc, posix_memalign, memalign and the
// C++ operator new (plain and array; the nothrow forms return NULL), and
// counts them from a MARKER: each connection the server accepts (accept4 or
// accept returning a descriptor) starts a new count at 0. (An allocation
// made inside operator new is counted once, as the new.)
//
// Environment (read once, at the first accept):
//   XPS_FAIL_ALLOC_AT=k     the k-th allocation (k >= 1) after the FIRST
//                           accepted connection fails; every other succeeds.
//   XPS_FAIL_ALLOC_SWEEP=n  one server sweeps every k: the connection
//                           accepted ((k-1)*n+1)-th gets its k-th
//                           allocation failed; the n-1 after it are left
//                           alone, so each faulty client is followed by
//                           normal ones.
//   XPS_FAIL_ALLOC_LOG=path appends, one write(2) per line,
//                             accept <n> after <m> allocations
//                           (m: allocations counted since the previous
//                           accept: what connection n-1 and anything in
//                           between took) and
//                             failed allocation <k> of connection <n>
//   neither AT nor SWEEP    nothing fails: the log alone counts.
// A failed malloc/calloc/realloc/aligned_alloc/memalign returns NULL with
// errno ENOMEM, posix_memalign returns ENOMEM, operator new throws
// std::bad_alloc. (realloc(p, 0) and free are passed through uncounted.)
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

using malloc_fn = void *(*)(size_t);
using calloc_fn = void *(*)(size_t, size_t);
using realloc_fn = void *(*)(void *, size_t);
using free_fn = void (*)(void *);
using aligned_fn = void *(*)(size_t, size_t);
using posix_memalign_fn = int (*)(void **, size_t, size_t);
using new_fn = void *(*)(size_t);
using accept4_fn = int (*)(int, sockaddr *, socklen_t *, int);
using accept_fn = int (*)(int, sockaddr *, socklen_t *);

malloc_fn real_malloc;
calloc_fn real_calloc;
realloc_fn real_realloc;
free_fn real_free;
aligned_fn real_aligned_alloc;
aligned_fn real_memalign;
posix_memalign_fn real_posix_memalign;
new_fn real_new;
new_fn real_new_array;
accept4_fn real_accept4;
accept_fn real_accept;

// dlsym itself may allocate (calloc) before the real functions are known:
// those few requests are served from here and never freed.
alignas(16) char bootstrap[8192];
size_t bootstrap_used;
bool resolving;

bool from_bootstrap(const void *p) {
    return p >= bootstrap && p < bootstrap + sizeof bootstrap;
}

void *bootstrap_alloc(size_t n) {
    n = (n + 15) & ~size_t{15};
    if (bootstrap_used + n > sizeof bootstrap)
        return nullptr;
    void *p = bootstrap + bootstrap_used;
    bootstrap_used += n;
    return p;
}

long fail_at;      // XPS_FAIL_ALLOC_AT, 0: none
long sweep;        // XPS_FAIL_ALLOC_SWEEP, 0: none
int log_fd = -1;   // XPS_FAIL_ALLOC_LOG
std::atomic<long> connections;   // accepted so far
std::atomic<long> since_marker;  // allocations counted since the last accept
// > 0 while operator new runs: its malloc is not counted again. Initial-
// exec TLS: the default model's first access calls __tls_get_addr, which
// under ASan is reached from ASan's own start, before it can work.
__attribute__((tls_model("initial-exec"))) thread_local int inside_new;

void say(const char *fmt, long a, long b) {
    if (log_fd < 0)
        return;
    char line[128];
    int n = std::snprintf(line, sizeof line, fmt, a, b);
    if (n > 0)
        (void)!write(log_fd, line, static_cast<size_t>(n));
}

void init() {
    static bool done;
    if (done || resolving)
        return;
    resolving = true;
    real_malloc = reinterpret_cast<malloc_fn>(dlsym(RTLD_NEXT, "malloc"));
    real_calloc = reinterpret_cast<calloc_fn>(dlsym(RTLD_NEXT, "calloc"));
    real_realloc = reinterpret_cast<realloc_fn>(dlsym(RTLD_NEXT, "realloc"));
    real_free = reinterpret_cast<free_fn>(dlsym(RTLD_NEXT, "free"));
    real_aligned_alloc = reinterpret_cast<aligned_fn>(dlsym(RTLD_NEXT, "aligned_alloc"));
    real_memalign = reinterpret_cast<aligned_fn>(dlsym(RTLD_NEXT, "memalign"));
    real_posix_memalign = reinterpret_cast<posix_memalign_fn>(dlsym(RTLD_NEXT, "posix_memalign"));
    real_new = reinterpret_cast<new_fn>(dlsym(RTLD_NEXT, "_Znwm"));
    real_new_array = reinterpret_cast<new_fn>(dlsym(RTLD_NEXT, "_Znam"));
    real_accept4 = reinterpret_cast<accept4_fn>(dlsym(RTLD_NEXT, "accept4"));
    real_accept = reinterpret_cast<accept_fn>(dlsym(RTLD_NEXT, "accept"));
    resolving = false;
    done = true;
}

// The environment, at the first accept: long after the start, when even
// under ASan open() works (ASan's start calls malloc before it does).
void read_environment() {
    if (const char *v = std::getenv("XPS_FAIL_ALLOC_AT"))
        fail_at = std::atol(v);
    if (const char *v = std::getenv("XPS_FAIL_ALLOC_SWEEP"))
        sweep = std::atol(v);
    if (const char *v = std::getenv("XPS_FAIL_ALLOC_LOG"))
        log_fd = open(v, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

// Counts one allocation; true when this one is to fail.
bool should_fail() {
    init();
    if (inside_new > 0 || resolving)
        return false;
    long n = connections.load(std::memory_order_relaxed);
    if (n == 0)
        return false; // before the first connection: the server's start is not under test
    long k = since_marker.fetch_add(1, std::memory_order_relaxed) + 1;
    bool fail = false;
    if (sweep > 0)
        fail = (n - 1) % sweep == 0 && k == (n - 1) / sweep + 1;
    else if (fail_at > 0)
        fail = n == 1 && k == fail_at;
    if (fail)
        say("failed allocation %ld of connection %ld\n", k, n);
    return fail;
}

void marker(int fd) {
    if (fd < 0)
        return;
    init();
    if (connections.load(std::memory_order_relaxed) == 0) // nothing counts before it
        read_environment();
    long n = connections.fetch_add(1, std::memory_order_relaxed) + 1;
    long m = since_marker.exchange(0, std::memory_order_relaxed);
    say("accept %ld after %ld allocations\n", n, m);
}

void *new_or_throw(new_fn real, size_t n) {
    if (should_fail())
        throw std::bad_alloc();
    ++inside_new;
    void *p = real ? real(n) : nullptr;
    --inside_new;
    if (!p)
        throw std::bad_alloc();
    return p;
}

} // namespace

extern "C" {

void *malloc(size_t n) {
    init();
    if (!real_malloc)
        return bootstrap_alloc(n);
    if (should_fail())
        return errno = ENOMEM, nullptr;
    return real_malloc(n);
}

void *calloc(size_t count, size_t size) {
    init();
    if (!real_calloc) { // dlsym's own: zeroed, as the bootstrap area is
        if (size && count > SIZE_MAX / size)
            return nullptr;
        return bootstrap_alloc(count * size);
    }
    if (should_fail())
        return errno = ENOMEM, nullptr;
    return real_calloc(count, size);
}

void *realloc(void *p, size_t n) {
    init();
    if (from_bootstrap(p)) { // never freed; copied out once the real one is known
        void *q = malloc(n);
        if (q)
            std::memcpy(q, p, n < sizeof bootstrap ? n : sizeof bootstrap);
        return q;
    }
    if (n != 0 && should_fail())
        return errno = ENOMEM, nullptr;
    return real_realloc(p, n);
}

void free(void *p) {
    if (!p || from_bootstrap(p))
        return;
    init();
    real_free(p);
}

void *aligned_alloc(size_t align, size_t n) {
    init();
    if (should_fail())
        return errno = ENOMEM, nullptr;
    return real_aligned_alloc(align, n);
}

void *memalign(size_t align, size_t n) {
    init();
    if (should_fail())
        return errno = ENOMEM, nullptr;
    return real_memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n) {
    init();
    if (should_fail())
        return ENOMEM;
    return real_posix_memalign(out, align, n);
}

int accept4(int fd, sockaddr *addr, socklen_t *len, int flags) {
    init();
    int c = real_accept4(fd, addr, len, flags);
    marker(c);
    return c;
}

int accept(int fd, sockaddr *addr, socklen_t *len) {
    init();
    int c = real_accept(fd, addr, len);
    marker(c);
    return c;
}

} // extern "C"

void *operator new(size_t n) { return new_or_throw(real_new, n); }
void *operator new[](size_t n) { return new_or_throw(real_new_array, n); }
void *operator new(size_t n, const std::nothrow_t &) noexcept {
    try {
        return new_or_throw(real_new, n);
    } catch (const std::bad_alloc &) {
        return nullptr;
    }
}
void *operator new[](size_t n, const std::nothrow_t &) noexcept {
    try {
        return new_or_throw(real_new_array, n);
    } catch (const std::bad_alloc &) {
        return nullptr;
    }
}
