// modules/file/xps_file_cache.cpp — the open-file cache (xps_file.h, "The
// open-file cache"): one per core, created on first use, destroyed with it.
//
// What a request for a cached file costs: one fstatat() to see that the
// name still leads to the file the cache opened (same device and inode,
// same size, modification and change times, same mode); nothing else — no
// path resolution, no open(), no read() for a small file. What a miss
// costs: the file opened beneath the root's descriptor with openat2() and
// RESOLVE_BENEATH, so the kernel itself refuses every way out of the root
// during the one call that opens it.
#include "modules/file/xps_file_internal.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <list>
#include <new>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/xps_core.h"
#include "core/xps_logger.h"
#include "modules/file/xps_mime.h"

using namespace file_detail;

namespace {

struct root_dir;

// The cache's files, most recently used first: each a root and a path.
using recent_list = std::list<std::pair<root_dir *, std::string>>;

// A listed file: the cache's reference, and its place in the recent list.
struct cached_file {
    file_entry *entry;
    recent_list::iterator lru;
};

// One document root: its descriptor, and the files cached under it by
// their normalised relative path (so a lookup builds no key: the
// request's own `rel` is it).
struct root_dir {
    std::string path;                          // as configured (the lookup compares it)
    int fd;                                    // O_PATH descriptor of the folder
    std::unordered_map<std::string, cached_file> files;
};

// One core's cache.
struct file_cache {
    xps_core_t *core;
    xps_core_member_t *member;                 // destroyed with the core
    std::vector<std::unique_ptr<root_dir>> roots; // few: one per file_serve route at most
    recent_list recent;
};

// The caches of the cores that have one (usually one core per process).
std::vector<file_cache *> caches;

void destroy_cache(void *p) {
    auto *c = static_cast<file_cache *>(p);
    xps_core_remove_member(c->member);
    for (auto &root : c->roots) {
        for (auto &[rel, cached] : root->files)
            file_entry_release(cached.entry);
        close(root->fd);
    }
    std::erase(caches, c);
    delete c;
}

// The cache of `core`, created on first use. May throw std::bad_alloc.
file_cache &cache_of(xps_core_t *core) {
    for (file_cache *c : caches)
        if (c->core == core)
            return *c;
    caches.reserve(caches.size() + 1); // so that push_back cannot throw below
    auto *c = new file_cache{core, nullptr, {}, {}};
    if (!(c->member = xps_core_add_member(core, destroy_cache, c))) {
        delete c;
        throw std::bad_alloc();
    }
    caches.push_back(c);
    return *c;
}

// The root's record: its descriptor opened once, on the first request
// under it, and kept (xps_file.h: a root replaced later is not seen until
// a restart). NULL (logged) when it cannot be opened; that is not
// remembered, so a root created later is found. May throw std::bad_alloc.
root_dir *root_of(file_cache &c, const char *root) {
    for (auto &r : c.roots)
        if (r->path == root)
            return r.get();
    int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        XPS_LOG(XPS_LOG_ERROR, "file", "document root \"%s\": %s", root, std::strerror(errno));
        return nullptr;
    }
    try {
        c.roots.push_back(std::make_unique<root_dir>(root_dir{root, fd, {}}));
    } catch (...) {
        close(fd);
        throw;
    }
    return c.roots.back().get();
}

// Is the file at the name still the one the entry opened? A rename over
// it, an edit, a chmod or a deletion changes one of these.
bool same_file(const struct stat &a, const struct stat &b) {
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino && a.st_size == b.st_size &&
           a.st_mode == b.st_mode && a.st_mtim.tv_sec == b.st_mtim.tv_sec &&
           a.st_mtim.tv_nsec == b.st_mtim.tv_nsec && a.st_ctim.tv_sec == b.st_ctim.tv_sec &&
           a.st_ctim.tv_nsec == b.st_ctim.tv_nsec;
}

// openat2() has no glibc wrapper in Debian 12.
int openat_beneath(int dirfd, const char *rel, uint64_t flags) {
    open_how how{};
    how.flags = flags | O_CLOEXEC;
    // BENEATH: no "..", no absolute link, no link leading out: EXDEV.
    // NO_MAGICLINKS: no /proc/self/fd/N-style jumps either.
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    return static_cast<int>(syscall(SYS_openat2, dirfd, rel, &how, sizeof how));
}

// The errors after which the realpath() path must decide instead: the
// kernel refused a way out (EXDEV) that may still lead back inside (an
// absolute link to a file under the root is served), or openat2() is
// missing (ENOSYS) or filtered (EPERM).
bool kernel_cannot_decide(int e) { return e == EXDEV || e == ENOSYS || e == EPERM; }

// Reads the whole file into memory for the cache. Nothing is kept when it
// comes up short (the file is changing); the request still has the fd.
void read_whole(file_entry &e) {
    size_t size = static_cast<size_t>(e.st.st_size);
    std::unique_ptr<char[]> bytes(new char[size ? size : 1]);
    if (pread_all(e.fd, bytes.get(), size, 0) == XPS_OK)
        e.bytes = std::move(bytes);
}

// A miss: opens rel beneath the root's descriptor. First with O_PATH,
// which opens nothing (a FIFO or a device is only looked at), to check
// what it is; then for reading, checking that the same file was opened.
int open_beneath(int dirfd, const std::string &rel, const char *path, file_entry *&out) {
    int pfd = openat_beneath(dirfd, rel.c_str(), O_PATH);
    if (pfd < 0) {
        int e = errno;
        if (kernel_cannot_decide(e))
            return XPS_E_AGAIN;
        int code = lookup_error(e);
        log_lookup(code, path, std::strerror(e));
        return code;
    }
    struct stat seen;
    int rc = fstat(pfd, &seen) == 0 ? check_servable(seen, path) : XPS_E_AGAIN;
    close(pfd);
    if (rc != XPS_OK)
        return rc;
    int fd = openat_beneath(dirfd, rel.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY);
    struct stat st;
    char link[64], real[PATH_MAX];
    ssize_t n = -1;
    if (fd >= 0 && fstat(fd, &st) == 0 && st.st_dev == seen.st_dev && st.st_ino == seen.st_ino &&
        check_servable(st, path) == XPS_OK) {
        std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        n = readlink(link, real, sizeof real - 1); // the real name, for its MIME type
    }
    if (n <= 0) { // changed under us, or no /proc: let realpath() decide
        if (fd >= 0)
            close(fd);
        return XPS_E_AGAIN;
    }
    try {
        out = file_entry_create(fd, st, std::string(real, static_cast<size_t>(n)));
    } catch (...) {
        close(fd);
        throw;
    }
    if (static_cast<size_t>(st.st_size) <= XPS_FILE_CACHE_BYTES_MAX)
        read_whole(*out);
    return XPS_OK;
}

// Drops the cache's reference to a listed file and unlists it.
void forget(file_cache &c, root_dir &root,
            std::unordered_map<std::string, cached_file>::iterator it) {
    file_entry_release(it->second.entry);
    c.recent.erase(it->second.lru);
    root.files.erase(it);
}

// Lists a new entry (the cache takes one reference of its own), evicting
// the least recently used file when the cache is full.
void remember(file_cache &c, root_dir &root, const std::string &rel, file_entry *e) {
    if (c.recent.size() >= XPS_FILE_CACHE_FILES) {
        auto &[oldest_root, oldest_rel] = c.recent.back();
        forget(c, *oldest_root, oldest_root->files.find(oldest_rel));
    }
    c.recent.emplace_front(&root, rel);
    try {
        root.files.emplace(rel, cached_file{e, c.recent.begin()});
    } catch (...) {
        c.recent.pop_front();
        throw;
    }
    e->refs++;
}

} // namespace

namespace file_detail {

int file_cache_open(xps_core_t *core, const char *root, const std::string &rel,
                    const char *path, file_entry *&out) {
    file_cache &c = cache_of(core);
    root_dir *dir = root_of(c, root);
    if (!dir)
        return XPS_E_NOTFOUND; // logged: every request under it finds nothing
    if (auto it = dir->files.find(rel); it != dir->files.end()) {
        struct stat now;
        if (fstatat(dir->fd, rel.c_str(), &now, 0) == 0 && same_file(now, it->second.entry->st)) {
            c.recent.splice(c.recent.begin(), c.recent, it->second.lru);
            out = it->second.entry;
            out->refs++;
            return XPS_OK;
        }
        forget(c, *dir, it); // changed, replaced or gone: open it again, or fail as a miss would
    }
    if (int rc = open_beneath(dir->fd, rel, path, out); rc != XPS_OK)
        return rc;
    try {
        remember(c, *dir, rel, out);
    } catch (...) {
        file_entry_release(out);
        throw;
    }
    return XPS_OK;
}

} // namespace file_detail

void xps_file_cache_drop(xps_core_t *core) noexcept {
    for (file_cache *c : caches)
        if (c->core == core)
            return destroy_cache(c);
}
