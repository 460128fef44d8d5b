// modules/cache/xps_cache_store.cpp — the contract is in xps_cache_store.h.
// The index is an open-addressing table of slots (linear probing, with
// tombstones) in one shared mapping, behind one robust mutex.
#include "modules/cache/xps_cache_store.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core/xps_logger.h"

namespace {

constexpr const char *log_name = "cache";

enum slot_state : uint8_t { slot_empty = 0, slot_used = 1, slot_tomb = 2 };

struct slot {
    uint8_t digest[32]; // SHA-256 of the key
    uint8_t state;      // slot_state
    bool ready;         // a committed entry is on disk
    pid_t writer;       // 0, or the pid writing a new entry for this key
    uint64_t size;      // the committed entry's bytes
    uint64_t used;      // the index's clock at its last use: LRU
};

struct shared_index {
    pthread_mutex_t lock;
    uint64_t clock;
    uint64_t bytes;     // of the committed entries
    size_t count;       // committed entries
    size_t capacity;    // slots: a power of two, at least twice max_entries
    slot slots[1];      // [capacity]
};

size_t index_bytes(size_t capacity) {
    return offsetof(shared_index, slots) + capacity * sizeof(slot);
}

void digest_of(const char *key, uint8_t out[32]) {
    unsigned int len = 32;
    EVP_Digest(key, std::strlen(key), out, &len, EVP_sha256(), nullptr);
}

std::string hex(const uint8_t d[32]) {
    static const char digits[] = "0123456789abcdef";
    std::string s(64, '0');
    for (int i = 0; i < 32; i++) {
        s[2 * i] = digits[d[i] >> 4];
        s[2 * i + 1] = digits[d[i] & 15];
    }
    return s;
}

bool dead(pid_t pid) { return pid > 0 && kill(pid, 0) != 0 && errno == ESRCH; }

bool is_hex_name(const char *n, size_t len) {
    if (std::strlen(n) != len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((n[i] >= '0' && n[i] <= '9') || (n[i] >= 'a' && n[i] <= 'f')))
            return false;
    return true;
}

} // namespace

struct xps_cache_store_s {
    std::string dir;     // with a trailing '/'
    uint64_t max_bytes;
    size_t max_entries;
    shared_index *index; // shared, mapped
    size_t mapped;       // its length
};

struct xps_cache_writer_s {
    xps_cache_store_t *store;
    uint8_t digest[32];
    std::string tmp;     // its temporary file
    int fd;
    uint64_t size;
    bool failed;
};

namespace {

std::string entry_path(const xps_cache_store_t *s, const uint8_t d[32]) { return s->dir + hex(d); }

std::string tmp_path(const xps_cache_store_t *s, const uint8_t d[32], pid_t pid) {
    return s->dir + "tmp-" + hex(d) + "-" + std::to_string(pid);
}

// After a holder died mid-change: claims of dead writers dropped, their
// temporary files removed, the totals counted again from the slots.
void repair(xps_cache_store_t *s) {
    shared_index *ix = s->index;
    ix->bytes = 0, ix->count = 0;
    for (size_t i = 0; i < ix->capacity; i++) {
        slot &e = ix->slots[i];
        if (e.state != slot_used)
            continue;
        if (e.writer && dead(e.writer)) {
            unlink(tmp_path(s, e.digest, e.writer).c_str());
            e.writer = 0;
        }
        if (e.ready)
            ix->bytes += e.size, ix->count++;
        else if (!e.writer)
            e.state = slot_tomb;
    }
}

void lock(xps_cache_store_t *s) {
    if (pthread_mutex_lock(&s->index->lock) == EOWNERDEAD) {
        XPS_LOG(XPS_LOG_WARN, log_name, "a process died holding the index: repaired");
        repair(s);
        pthread_mutex_consistent(&s->index->lock);
    }
}

void unlock(xps_cache_store_t *s) { pthread_mutex_unlock(&s->index->lock); }

// The slot of `d`, or NULL; with `insert`, a new one (NULL when full).
slot *find(shared_index *ix, const uint8_t d[32], bool insert) {
    size_t mask = ix->capacity - 1, start = 0;
    std::memcpy(&start, d, sizeof start);
    slot *free_one = nullptr;
    for (size_t n = 0; n < ix->capacity; n++) {
        slot &e = ix->slots[(start + n) & mask];
        if (e.state == slot_empty) {
            free_one = free_one ? free_one : &e;
            break;
        }
        if (e.state == slot_tomb && !free_one)
            free_one = &e;
        if (e.state == slot_used && std::memcmp(e.digest, d, 32) == 0)
            return &e;
    }
    if (!insert || !free_one)
        return nullptr;
    *free_one = slot{};
    std::memcpy(free_one->digest, d, 32);
    free_one->state = slot_used;
    return free_one;
}

// Drops the committed entry of `e` (its file unlinked).
void drop_entry(xps_cache_store_t *s, slot &e) {
    if (!e.ready)
        return;
    unlink(entry_path(s, e.digest).c_str());
    s->index->bytes -= e.size, s->index->count--;
    e.ready = false, e.size = 0;
    if (!e.writer)
        e.state = slot_tomb;
}

// Least recently used first, until both bounds hold; `keep` last of all.
void evict(xps_cache_store_t *s, const slot *keep) {
    shared_index *ix = s->index;
    while (ix->bytes > s->max_bytes || ix->count > s->max_entries) {
        slot *oldest = nullptr;
        for (size_t i = 0; i < ix->capacity; i++) {
            slot &e = ix->slots[i];
            if (e.state == slot_used && e.ready && &e != keep &&
                (!oldest || e.used < oldest->used))
                oldest = &e;
        }
        if (!oldest)
            return;
        drop_entry(s, *oldest);
    }
}

// What an earlier run left: entries and temporaries, by their names.
void clear_dir(const std::string &dir) {
    DIR *d = opendir(dir.c_str());
    if (!d)
        return;
    while (dirent *e = readdir(d)) {
        const char *n = e->d_name;
        bool ours = is_hex_name(n, 64) ||
                    (std::strncmp(n, "tmp-", 4) == 0 && std::strlen(n) > 69 && n[68] == '-');
        if (ours)
            unlinkat(dirfd(d), n, 0);
    }
    closedir(d);
}

} // namespace

xps_cache_store_t *xps_cache_store_open(const char *dir, uint64_t max_bytes, size_t max_entries,
                                        char *err, size_t err_size) XPS_NOEXCEPT {
    auto say = [&](const char *what) {
        if (err && err_size)
            std::snprintf(err, err_size, "%s: %s", dir ? dir : "(no folder)", what);
        return nullptr;
    };
    if (!dir || !*dir || max_bytes == 0 || max_entries == 0 || max_entries > (1u << 24))
        return say("a cache needs a folder, max_bytes > 0 and 1 to 16,777,216 entries");
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return say(std::strerror(errno));
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return say("not a folder");
    if (access(dir, W_OK | X_OK) != 0)
        return say(std::strerror(errno));
    auto *s = new (std::nothrow) xps_cache_store_t{};
    if (!s)
        return say("out of memory");
    try {
        s->dir = dir;
        if (s->dir.back() != '/')
            s->dir += '/';
    } catch (...) {
        delete s;
        return say("out of memory");
    }
    s->max_bytes = max_bytes, s->max_entries = max_entries;
    size_t capacity = 16;
    while (capacity < 2 * max_entries)
        capacity *= 2;
    s->mapped = index_bytes(capacity);
    void *m = mmap(nullptr, s->mapped, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        delete s;
        return say(std::strerror(errno));
    }
    s->index = static_cast<shared_index *>(m); // zeroed: every slot empty
    s->index->capacity = capacity;
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&s->index->lock, &attr);
    pthread_mutexattr_destroy(&attr);
    clear_dir(s->dir);
    return s;
}

void xps_cache_store_close(xps_cache_store_t *store) XPS_NOEXCEPT {
    if (!store)
        return;
    munmap(store->index, store->mapped);
    delete store;
}

int xps_cache_lookup(xps_cache_store_t *s, const char *key, int *fd, uint64_t *size) XPS_NOEXCEPT {
    uint8_t d[32];
    digest_of(key, d);
    int rc = XPS_E_NOTFOUND;
    lock(s);
    slot *e = find(s->index, d, false);
    if (e && e->ready) {
        // Opened under the lock, so no eviction comes between; once open,
        // an eviction only unlinks the name.
        int f = open(entry_path(s, d).c_str(), O_RDONLY | O_CLOEXEC);
        if (f >= 0) {
            *fd = f, *size = e->size;
            e->used = ++s->index->clock;
            rc = XPS_OK;
        } else {
            drop_entry(s, *e); // its file is gone: the entry with it
        }
    }
    unlock(s);
    return rc;
}

void xps_cache_remove(xps_cache_store_t *s, const char *key) XPS_NOEXCEPT {
    uint8_t d[32];
    digest_of(key, d);
    lock(s);
    if (slot *e = find(s->index, d, false))
        drop_entry(s, *e);
    unlock(s);
}

xps_cache_writer_t *xps_cache_write_begin(xps_cache_store_t *s, const char *key,
                                          int *error) XPS_NOEXCEPT {
    auto *w = new (std::nothrow) xps_cache_writer_t{};
    if (!w) {
        *error = XPS_E_NOMEM;
        return nullptr;
    }
    w->store = s, w->fd = -1;
    digest_of(key, w->digest);
    lock(s);
    slot *e = find(s->index, w->digest, true);
    if (e && e->writer && dead(e->writer)) { // a writer killed mid-write: its claim goes
        unlink(tmp_path(s, e->digest, e->writer).c_str());
        e->writer = 0;
    }
    int rc = !e ? XPS_E_LIMIT : e->writer ? XPS_E_AGAIN : XPS_OK;
    if (rc == XPS_OK)
        e->writer = getpid();
    unlock(s);
    if (rc == XPS_OK) {
        try {
            w->tmp = tmp_path(s, w->digest, getpid());
            w->fd = open(w->tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        } catch (...) {
        }
        if (w->fd < 0) {
            XPS_LOG(XPS_LOG_ERROR, log_name, "cannot write in %s: %s", s->dir.c_str(),
                    std::strerror(errno));
            rc = XPS_E_FAIL;
            xps_cache_write_abort(w);
            w = nullptr;
        }
    } else {
        delete w;
        w = nullptr;
    }
    *error = rc;
    return w;
}

int xps_cache_write(xps_cache_writer_t *w, const void *bytes, size_t len) XPS_NOEXCEPT {
    if (w->failed)
        return XPS_E_FAIL;
    if (w->size + len > w->store->max_bytes) {
        w->failed = true;
        return XPS_E_LIMIT;
    }
    const char *p = static_cast<const char *>(bytes);
    while (len > 0) {
        ssize_t n = write(w->fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            XPS_LOG(XPS_LOG_ERROR, log_name, "cannot write %s: %s", w->tmp.c_str(),
                    n < 0 ? std::strerror(errno) : "no space");
            w->failed = true;
            return XPS_E_FAIL;
        }
        p += n, len -= static_cast<size_t>(n), w->size += static_cast<uint64_t>(n);
    }
    return XPS_OK;
}

void xps_cache_write_abort(xps_cache_writer_t *w) XPS_NOEXCEPT {
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    unlink(w->tmp.c_str());
    xps_cache_store_t *s = w->store;
    lock(s);
    slot *e = find(s->index, w->digest, false);
    if (e && e->writer == getpid()) {
        e->writer = 0;
        if (!e->ready)
            e->state = slot_tomb;
    }
    unlock(s);
    delete w;
}

int xps_cache_write_commit(xps_cache_writer_t *w) XPS_NOEXCEPT {
    xps_cache_store_t *s = w->store;
    if (w->failed || close(w->fd) != 0) {
        w->fd = -1;
        xps_cache_write_abort(w);
        return XPS_E_FAIL;
    }
    w->fd = -1;
    int rc = XPS_OK;
    lock(s);
    slot *e = find(s->index, w->digest, false);
    if (!e || e->writer != getpid()) {
        rc = XPS_E_FAIL; // our claim was taken for a dead one's: cannot happen while we live
    } else if (rename(w->tmp.c_str(), entry_path(s, w->digest).c_str()) != 0) {
        XPS_LOG(XPS_LOG_ERROR, log_name, "cannot commit %s: %s", w->tmp.c_str(),
                std::strerror(errno));
        rc = XPS_E_FAIL;
    } else {
        if (e->ready) // replaced: the old entry's bytes no longer count
            s->index->bytes -= e->size, s->index->count--;
        e->ready = true, e->size = w->size, e->used = ++s->index->clock;
        s->index->bytes += w->size, s->index->count++;
        e->writer = 0;
        evict(s, e);
    }
    if (rc != XPS_OK && e && e->writer == getpid()) {
        e->writer = 0;
        if (!e->ready)
            e->state = slot_tomb;
    }
    unlock(s);
    if (rc != XPS_OK)
        unlink(w->tmp.c_str());
    delete w;
    return rc;
}

size_t xps_cache_store_count(xps_cache_store_t *s) XPS_NOEXCEPT {
    lock(s);
    size_t n = s->index->count;
    unlock(s);
    return n;
}

uint64_t xps_cache_store_bytes(xps_cache_store_t *s) XPS_NOEXCEPT {
    lock(s);
    uint64_t n = s->index->bytes;
    unlock(s);
    return n;
}
