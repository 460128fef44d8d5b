// modules/file/xps_file.cpp — see xps_file.h for the contract.
//
// Two halves. The first turns a request-like path into an open descriptor
// of a regular file under the root, or a reason why not (404 or 403 later):
// through the open-file cache (xps_file_cache.cpp) when it can, else by
// resolving every link with realpath(). The second is the stream: a small
// pipe source, created by each attach, that owns a duplicate of the
// descriptor and frees itself when it ends, so the xps_file_t it came from
// can be destroyed at once.
//
// Reads use pread() with the stream's own offset, never read(): duplicated
// descriptors share one file position, and two streams of the same file
// (or a stream and the pipe's copy of a range) must not move each other's.
#include "modules/file/xps_file_internal.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/xps_buffer.h"
#include "core/xps_core.h"
#include "core/xps_logger.h"
#include "core/xps_pipe.h"
#include "modules/file/xps_mime.h"

namespace file_detail {

// errno of a failed look-up of a requested path, as our code. ENOTDIR is
// "sample.txt/x", ELOOP a cycle of links, ENAMETOOLONG a name no file has.
int lookup_error(int e) {
    switch (e) {
    case ENOENT: case ENOTDIR: case ELOOP: case ENAMETOOLONG: return XPS_E_NOTFOUND;
    case EACCES: case EPERM: return XPS_E_PERMISSION;
    default: return xps_error_from_errno(e);
    }
}

void log_lookup(int code, const char *path, const char *what) {
    if (code == XPS_E_NOTFOUND)
        XPS_LOG(XPS_LOG_DEBUG, "file", "\"%s\": %s", path, what);
    else if (code == XPS_E_PERMISSION)
        XPS_LOG(XPS_LOG_WARN, "file", "refused \"%s\": %s", path, what);
    else
        XPS_LOG(XPS_LOG_ERROR, "file", "\"%s\": %s", path, what);
}

int check_servable(const struct stat &st, const char *path) {
    if (S_ISDIR(st.st_mode)) {
        log_lookup(XPS_E_NOTFOUND, path, "is a directory");
        return XPS_E_NOTFOUND;
    }
    if (!S_ISREG(st.st_mode)) {
        log_lookup(XPS_E_PERMISSION, path, "not a regular file");
        return XPS_E_PERMISSION;
    }
    if (!(st.st_mode & S_IROTH)) {
        log_lookup(XPS_E_PERMISSION, path, "not readable by everyone (no S_IROTH)");
        return XPS_E_PERMISSION;
    }
    return XPS_OK;
}

int pread_all(int fd, char *buf, size_t len, uint64_t offset) {
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(fd, buf + got, len - got, static_cast<off_t>(offset + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n == 0 ? XPS_E_EOF : xps_error_from_errno(errno);
        got += static_cast<size_t>(n);
    }
    return XPS_OK;
}

file_entry *file_entry_create(int fd, const struct stat &st, std::string path) {
    const char *mime = xps_mime_type(path.c_str());
    return new file_entry{1, fd, st, std::move(path), mime, nullptr};
}

void file_entry_release(file_entry *e) {
    if (e && --e->refs == 0) {
        close(e->fd);
        delete e;
    }
}

} // namespace file_detail

using namespace file_detail;

namespace {

// Owns one descriptor and closes it when it goes out of scope, so that an
// open that gives up half-way leaves nothing behind.
class unique_fd {
public:
    unique_fd() = default;
    explicit unique_fd(int fd) : fd_(fd) {}
    unique_fd(const unique_fd &) = delete;
    unique_fd &operator=(const unique_fd &) = delete;
    ~unique_fd() { reset(); }

    int get() const { return fd_; }
    bool valid() const { return fd_ >= 0; }
    // Gives the descriptor away: the caller owns it now.
    int release() { return std::exchange(fd_, -1); }
    void reset(int fd = -1)
    {
        if (fd_ >= 0)
            close(fd_);
        fd_ = fd;
    }

private:
    int fd_ = -1; // -1 when empty
};

// realpath() returns memory from malloc().
struct free_deleter {
    void operator()(char *p) const { std::free(p); }
};
using malloced_path = std::unique_ptr<char, free_deleter>;

// ------------------------------------------------------------ confinement

// Step 1: `path` as segments relative to the root: empty and "." segments
// dropped, ".." removing the one before it (by text, as for URLs). False
// when a ".." has nothing left to remove: it would climb above the root.
bool normalise(std::string_view path, std::string &out) {
    std::vector<std::string_view> kept;
    while (!path.empty()) {
        size_t slash = path.find('/');
        std::string_view seg = path.substr(0, slash);
        path = slash == std::string_view::npos ? std::string_view{} : path.substr(slash + 1);
        if (seg.empty() || seg == ".")
            continue;
        if (seg != "..")
            kept.push_back(seg);
        else if (kept.empty())
            return false;
        else
            kept.pop_back();
    }
    out.clear();
    for (std::string_view seg : kept) {
        if (!out.empty())
            out += '/';
        out += seg;
    }
    return true;
}

// Is `real` the root or under it? Compared up to a '/', so that a root
// "/srv/pub" does not admit "/srv/public/x". Both paths are real (no "..",
// no links, no repeated '/'), which is what makes a text comparison sound.
bool is_under(std::string_view root, std::string_view real) {
    if (root == "/")
        return true;
    return real.substr(0, root.size()) == root &&
           (real.size() == root.size() || real[root.size()] == '/');
}

// Steps 1 and 2 of the confinement; on XPS_OK `out` is the real path.
// May throw std::bad_alloc (the public callers catch it).
int resolve(const char *root, const char *path, std::string &out) {
    std::string rel;
    if (!normalise(path, rel)) {
        log_lookup(XPS_E_PERMISSION, path, "climbs out of the document root");
        return XPS_E_PERMISSION;
    }
    malloced_path real_root(realpath(root, nullptr));
    if (!real_root) {
        int e = errno;
        XPS_LOG(XPS_LOG_ERROR, "file", "document root \"%s\": %s", root, std::strerror(e));
        return lookup_error(e);
    }
    std::string joined = real_root.get();
    if (!rel.empty())
        joined.append(joined == "/" ? "" : "/").append(rel);
    // Step 2: follow every link, then look where we ended up.
    malloced_path real(realpath(joined.c_str(), nullptr));
    if (!real) {
        int code = lookup_error(errno);
        log_lookup(code, path, std::strerror(errno));
        return code;
    }
    if (!is_under(real_root.get(), real.get())) {
        XPS_LOG(XPS_LOG_WARN, "file", "refused \"%s\": leads to %s, outside the document root",
                path, real.get());
        return XPS_E_PERMISSION;
    }
    out = real.get();
    return XPS_OK;
}

// ------------------------------------------------------------------- open

// Opens the confined path `real` and checks what it opened. stat() comes
// first so that a FIFO or a device is refused without being opened;
// fstat() checks again what was actually opened, in case it changed.
int open_checked(const std::string &real, const char *path, unique_fd &fd, struct stat &st) {
    if (stat(real.c_str(), &st) != 0) {
        int code = lookup_error(errno);
        log_lookup(code, path, std::strerror(errno));
        return code;
    }
    if (int rc = check_servable(st, path); rc != XPS_OK)
        return rc;
    // O_NOFOLLOW: `real` has no links, so a link here was swapped in after
    // realpath() (ELOOP). O_NONBLOCK: a FIFO swapped in cannot block us.
    fd.reset(open(real.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY));
    if (!fd.valid()) {
        int e = errno;
        int code = e == ELOOP ? XPS_E_PERMISSION : lookup_error(e);
        log_lookup(code, path, std::strerror(e));
        return code;
    }
    if (fstat(fd.get(), &st) != 0) {
        XPS_LOG(XPS_LOG_ERROR, "file", "fstat \"%s\": %s", real.c_str(), std::strerror(errno));
        return XPS_E_FAIL;
    }
    return check_servable(st, path);
}

// Does `path` end in "/", "/." or "/.."? Then it names a folder, even if
// a file sits there: the kernel answers ENOTDIR for "sample.txt/", and so
// do we, although normalising has dropped the final empty segment.
bool names_directory(std::string_view path) {
    size_t slash = path.rfind('/');
    std::string_view last = slash == std::string_view::npos ? path : path.substr(slash + 1);
    return slash != std::string_view::npos && (last.empty() || last == "." || last == "..");
}

// The realpath() way: steps 1-2 of the header, then open_checked. For
// what the cache does not take, and wherever openat2() cannot decide.
int open_resolved(const char *root, const char *path, file_entry *&out) {
    std::string real;
    if (int rc = resolve(root, path, real); rc != XPS_OK)
        return rc; // confinement first: "../" is a refusal, not a 404
    if (names_directory(path)) {
        log_lookup(XPS_E_NOTFOUND, path, "names a directory");
        return XPS_E_NOTFOUND;
    }
    unique_fd fd;
    struct stat st;
    if (int rc = open_checked(real, path, fd, st); rc != XPS_OK)
        return rc;
    out = file_entry_create(fd.get(), st, std::move(real));
    fd.release(); // the entry owns it now
    return XPS_OK;
}

// xps_file_create without the error plumbing. May throw std::bad_alloc.
// The cache takes a path that climbs nowhere and names a file; the rest
// (the root itself, "x/", a ".." above the root) gets the realpath() way's
// answers, which the cache must not change.
int open_file(xps_core_t *core, const char *root, const char *path, xps_file_t *&result) {
    std::string rel;
    file_entry *e = nullptr;
    int rc = XPS_E_AGAIN;
    if (normalise(path, rel) && !rel.empty() && !names_directory(path))
        rc = file_cache_open(core, root, rel, path, e);
    if (rc == XPS_E_AGAIN)
        rc = open_resolved(root, path, e);
    if (rc != XPS_OK)
        return rc;
    result = new (std::nothrow) xps_file_s{core, e};
    if (!result) {
        file_entry_release(e);
        return XPS_E_NOMEM;
    }
    return XPS_OK;
}

// ----------------------------------------------------------------- stream

// One attach: a pipe source that puts [offset, offset + left) of the file
// into its pipe, then detaches and frees itself. Nobody holds a pointer to
// it but the pipe (as callback data) and the core (as a member).
struct stream {
    xps_core_t *core;           // borrowed: membership and deferred free
    xps_core_member_t *member;  // owned record: the core destroys us at shutdown
    xps_pipe_t *pipe;           // borrowed: we are its source until we end
    int fd;                     // owned duplicate of the file's descriptor
    xps_file_mode_t mode;       // one file range, or buffers of bytes
    int64_t offset;             // next byte of the file to put in the pipe
    size_t left;                // bytes still to put in the pipe
};

// The stream is over: no more callbacks, memory freed after the batch.
void stream_end(stream *s) {
    xps_pipe_detach_source(s->pipe); // the sink gets source_done() after draining
    xps_core_remove_member(s->member);
    close(s->fd);
    xps_core_defer_free(s->core, [](void *p) { delete static_cast<stream *>(p); }, s);
}

// XPS_FILE_RANGE: the whole part as one item; the pipe keeps its own
// duplicate of the descriptor, so ending at once loses nothing.
void produce_range(stream *s) {
    int rc = xps_pipe_write_file(s->pipe, s->fd, s->offset, s->left);
    if (rc != XPS_OK)
        XPS_LOG(XPS_LOG_ERROR, "file", "queueing a file range: %s", xps_strerror(rc));
    stream_end(s);
}

// The next chunk of the part in a new buffer, or NULL (logged) when memory
// runs out, pread() fails, or the file has become shorter than the part.
xps_buffer_t *read_chunk(stream *s) {
    size_t want = s->left < XPS_FILE_CHUNK ? s->left : XPS_FILE_CHUNK;
    xps_buffer_t *b = xps_buffer_create(want);
    if (!b) {
        XPS_LOG(XPS_LOG_ERROR, "file", "no memory for a %zu-byte read", want);
        return nullptr;
    }
    ssize_t n;
    do
        n = pread(s->fd, xps_buffer_space(b), want, s->offset);
    while (n < 0 && errno == EINTR);
    if (n <= 0) {
        if (n == 0)
            XPS_LOG(XPS_LOG_WARN, "file", "file shrank: %zu byte(s) missing", s->left);
        else
            XPS_LOG(XPS_LOG_ERROR, "file", "pread: %s", std::strerror(errno));
        xps_buffer_destroy(b);
        return nullptr;
    }
    xps_buffer_produce(b, static_cast<size_t>(n));
    return b;
}

// XPS_FILE_BUFFERS: fill the pipe up to its threshold, one chunk at a
// time; the pipe calls us again when the sink has made room.
void produce_buffers(stream *s) {
    while (s->left > 0 && xps_pipe_room(s->pipe) > 0) {
        xps_buffer_t *b = read_chunk(s);
        if (!b) {
            stream_end(s); // logged; the sink sees a short stream
            return;
        }
        size_t n = xps_buffer_len(b);
        if (xps_pipe_write(s->pipe, b) != XPS_OK) {
            stream_end(s); // the sink is gone (the pipe destroyed the buffer)
            return;
        }
        s->offset += static_cast<int64_t>(n);
        s->left -= n;
    }
    if (s->left == 0)
        stream_end(s); // the last byte is in the pipe: end of stream
}

void on_produce(xps_pipe_t *pipe, void *data) {
    auto *s = static_cast<stream *>(data);
    assert(s->pipe == pipe);
    (void)pipe;
    if (s->mode == XPS_FILE_RANGE)
        produce_range(s);
    else
        produce_buffers(s);
}

// The sink detached: nobody will read the rest.
void on_sink_gone(xps_pipe_t *, void *data) { stream_end(static_cast<stream *>(data)); }

// The core is being destroyed with this stream still running.
void on_core_destroy(void *data) { stream_end(static_cast<stream *>(data)); }

} // namespace

// -------------------------------------------------------------- lifecycle

xps_file_t *xps_file_create(xps_core_t *core, const char *root, const char *path,
                            int *error) noexcept {
    assert(core && root && path);
    xps_file_t *file = nullptr;
    int code;
    try {
        code = open_file(core, root, path, file);
    } catch (const std::bad_alloc &) {
        code = XPS_E_NOMEM; // open_file's locals (the descriptor too) are gone
    }
    if (error)
        *error = code;
    return file;
}

void xps_file_destroy(xps_file_t *file) noexcept {
    if (!file)
        return;
    file_entry_release(file->entry);
    delete file;
}

// ------------------------------------------------------------- operations

int xps_file_attach(xps_file_t *file, xps_pipe_t *pipe, xps_file_mode_t mode) noexcept {
    assert(file);
    return xps_file_attach_part(file, pipe, mode, 0, xps_file_size(file));
}

int xps_file_attach_part(xps_file_t *file, xps_pipe_t *pipe, xps_file_mode_t mode,
                         int64_t offset, size_t len) noexcept {
    assert(file && pipe && (mode == XPS_FILE_RANGE || mode == XPS_FILE_BUFFERS));
    size_t size = xps_file_size(file);
    if (offset < 0 || static_cast<uint64_t>(offset) > size || len > size - static_cast<size_t>(offset))
        return XPS_E_INVAL;
    // The stream's own descriptor: the file may be destroyed before it ends.
    unique_fd fd(fcntl(file->entry->fd, F_DUPFD_CLOEXEC, 0));
    if (!fd.valid()) {
        int e = errno;
        XPS_LOG(XPS_LOG_ERROR, "file", "dup \"%s\": %s", xps_file_path(file), std::strerror(e));
        return e == EMFILE || e == ENFILE ? XPS_E_LIMIT : XPS_E_FAIL;
    }
    std::unique_ptr<stream> s(new (std::nothrow) stream{file->core, nullptr, pipe, -1, mode,
                                                        offset, len});
    if (!s)
        return XPS_E_NOMEM;
    s->member = xps_core_add_member(file->core, on_core_destroy, s.get());
    if (!s->member)
        return XPS_E_NOMEM;
    if (int rc = xps_pipe_attach_source(pipe, on_produce, on_sink_gone, s.get()); rc != XPS_OK) {
        xps_core_remove_member(s->member);
        return rc;
    }
    s->fd = fd.release();
    s.release(); // it frees itself when it ends
    // A regular file is always ready: the pipe calls on_produce whenever it
    // has a sink and room.
    xps_pipe_set_source_ready(pipe, true);
    return XPS_OK;
}

int xps_file_resolve(const char *root, const char *path, char *resolved, size_t size) noexcept {
    assert(root && path && resolved);
    try {
        std::string real;
        if (int rc = resolve(root, path, real); rc != XPS_OK)
            return rc;
        if (real.size() >= size)
            return XPS_E_LIMIT;
        std::memcpy(resolved, real.c_str(), real.size() + 1);
        return XPS_OK;
    } catch (const std::bad_alloc &) {
        return XPS_E_NOMEM;
    }
}

const char *xps_file_default_root(const char **why) noexcept {
    struct stat st;
    const char *root = "./public", *reason = "./public is a folder";
    if (stat("./public", &st) != 0 || !S_ISDIR(st.st_mode)) {
        bool course = stat("../public", &st) == 0 && S_ISDIR(st.st_mode);
        root = course ? "../public" : "./public";
        reason = course ? "./public not found, using the course's ../public"
                        : "neither ./public nor ../public is a folder: nothing to serve";
    }
    if (why)
        *why = reason;
    return root;
}

const char *xps_file_choose_root(const char *given) noexcept {
    const char *why = "given with --root";
    const char *root = given ? given : xps_file_default_root(&why);
    XPS_LOG(XPS_LOG_INFO, "file", "serving files from %s: %s", root, why);
    return root;
}

// -------------------------------------------------------------- accessors

size_t xps_file_size(const xps_file_t *file) noexcept {
    return static_cast<size_t>(file->entry->st.st_size);
}
const char *xps_file_mime(const xps_file_t *file) noexcept { return file->entry->mime; }
const char *xps_file_path(const xps_file_t *file) noexcept { return file->entry->path.c_str(); }
int xps_file_fd(const xps_file_t *file) noexcept { return file->entry->fd; }
int64_t xps_file_mtime(const xps_file_t *file) noexcept { return file->entry->st.st_mtime; }
const char *xps_file_bytes(const xps_file_t *file) noexcept { return file->entry->bytes.get(); }

int xps_file_read(const xps_file_t *file, uint64_t offset, void *buf, size_t len) noexcept {
    size_t size = xps_file_size(file);
    if (offset > size || len > size - offset)
        return XPS_E_INVAL;
    if (const char *bytes = xps_file_bytes(file)) {
        std::memcpy(buf, bytes + offset, len);
        return XPS_OK;
    }
    return pread_all(file->entry->fd, static_cast<char *>(buf), len, offset);
}
