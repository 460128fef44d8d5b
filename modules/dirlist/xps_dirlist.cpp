// modules/dirlist/xps_dirlist.cpp — see xps_dirlist.h for the contract.
//
// Three parts. Opening and reading the folder turns (root, path) into a
// sorted array of compact records, or the reason why not. Rendering
// writes the page one piece at a time (the head, the ".." row, one row per
// entry, the tail); each piece is a function template over its output, so
// the same code both measures the page (xps_dirlist_length, at create) and
// writes it (xps_dirlist_read): the length cannot drift from the bytes.
// The stream is a small pipe source, like the file module's, that pulls
// the page through xps_dirlist_read into buffers.
#include "modules/dirlist/xps_dirlist.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <ctime>
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
#include "modules/file/xps_file.h"

namespace {

constexpr const char *log_name = "dirlist";

// One listed entry. 24 bytes: the bound of the header's "Memory"
// paragraph. The name lives in the listing's name block, at name_off.
struct entry {
    uint64_t size;     // st_size in bytes (a file; unused for a folder)
    int64_t mtime;     // st_mtime, seconds since the epoch
    uint32_t name_off; // where the name starts in the name block
    uint16_t name_len; // its length (NAME_MAX is 255)
    uint8_t folder;    // 1: a folder (listed first, href ends in '/')
};
static_assert(sizeof(entry) == 24, "the header promises 24 bytes an entry");

// The pieces of the page, in order.
enum class part : uint8_t { head, parent, rows, tail, done };

// Where rendering is: the next piece, and the next entry while in rows.
struct cursor {
    part next = part::head;
    size_t row = 0;
};

} // namespace

struct xps_dirlist_s {
    std::vector<entry> entries; // sorted: folders, then files, by name
    std::vector<char> names;    // every name back to back, no NULs
    std::string base;           // the folder's URL path, '/' first and last
    bool bare_folders;          // XPS_DIRLIST_BARE_FOLDERS
    uint64_t length;            // bytes of the whole page
    cursor at;                  // the next piece xps_dirlist_read renders
    std::string pending;        // a rendered piece not yet copied out; its
                                // capacity, reserved at create, fits any piece
    size_t pending_off;         // bytes of `pending` already copied out
};

namespace {

// ---------------------------------------------------------------- output

// Where a piece goes: counted (for the length) or appended to a string
// whose capacity already fits it (for reading: no allocation).
struct measure {
    uint64_t n = 0;
    void put(const char *, size_t len) { n += len; }
    void put(char) { n++; }
};
struct append {
    std::string &s;
    void put(const char *p, size_t len) { s.append(p, len); }
    void put(char c) { s.push_back(c); }
};

template <class Out> void lit(Out &o, std::string_view s) { o.put(s.data(), s.size()); }

// Text content or attribute value: the five characters HTML gives meaning
// to become references; control characters, which HTML forbids in text,
// become U+FFFD (the replacement character, as a browser shows them).
template <class Out> void html(Out &o, std::string_view s) {
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        switch (c) {
        case '&': lit(o, "&amp;"); break;
        case '<': lit(o, "&lt;"); break;
        case '>': lit(o, "&gt;"); break;
        case '"': lit(o, "&quot;"); break;
        case '\'': lit(o, "&#39;"); break;
        default:
            if (c < 0x20 || c == 0x7f)
                lit(o, "\xEF\xBF\xBD");
            else
                o.put(ch);
        }
    }
}

// A URL path: each byte outside RFC 3986's unreserved set (§2.3) as %XX,
// '/' kept only when `slashes` (the folder's path; a name has none).
template <class Out> void url(Out &o, std::string_view s, bool slashes) {
    static const char hex[] = "0123456789ABCDEF";
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                     (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~' ||
                     (slashes && c == '/');
        if (plain) {
            o.put(ch);
        } else {
            o.put('%');
            o.put(hex[c >> 4]);
            o.put(hex[c & 15]);
        }
    }
}

// "YYYY-MM-DD HH:MM:SS" in UTC into buf (at least 32 bytes); its length.
// "-" for a time gmtime cannot represent.
size_t format_time(int64_t t, char *buf) {
    time_t tt = static_cast<time_t>(t);
    struct tm tm;
    if (!gmtime_r(&tt, &tm)) {
        buf[0] = '-';
        return 1;
    }
    int n = std::snprintf(buf, 32, "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900,
                          tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return n > 0 && n < 32 ? static_cast<size_t>(n) : 0;
}

std::string_view name_of(const xps_dirlist_s &dl, const entry &e) {
    return {dl.names.data() + e.name_off, e.name_len};
}

// ------------------------------------------------------------- rendering

// A small style: monospace so sizes line up, sizes and times right-aligned.
constexpr std::string_view style =
    "<style>body{font-family:monospace}th,td{padding:0 1.5em 0 0;text-align:left}"
    "th+th,td+td{text-align:right}</style>\n";

template <class Out> void render_head(const xps_dirlist_s &dl, Out &o) {
    lit(o, "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
           "<title>Index of ");
    html(o, dl.base);
    lit(o, "</title>\n");
    lit(o, style);
    lit(o, "</head>\n<body>\n<h1>Index of ");
    html(o, dl.base);
    lit(o, "</h1>\n<table>\n<tr><th>Name</th><th>Size (bytes)</th><th>Modified (UTC)</th></tr>\n");
}

// The ".." row: the parent's path, "/a/b/" -> "/a/" (only called below "/").
template <class Out> void render_parent(const xps_dirlist_s &dl, Out &o) {
    std::string_view b = dl.base;
    b.remove_suffix(1);
    b = b.substr(0, b.rfind('/') + 1);
    lit(o, "<tr><td><a href=\"");
    url(o, b, true);
    lit(o, "\">..</a></td><td>-</td><td></td></tr>\n");
}

template <class Out> void render_row(const xps_dirlist_s &dl, const entry &e, Out &o) {
    std::string_view name = name_of(dl, e);
    lit(o, "<tr><td><a href=\"");
    url(o, dl.base, true);
    url(o, name, false);
    if (e.folder && !dl.bare_folders)
        o.put('/');
    lit(o, "\">");
    html(o, name);
    if (e.folder)
        o.put('/');
    lit(o, "</a></td><td>");
    char num[32];
    if (e.folder) {
        o.put('-');
    } else {
        int n = std::snprintf(num, sizeof num, "%llu", static_cast<unsigned long long>(e.size));
        o.put(num, static_cast<size_t>(n));
    }
    lit(o, "</td><td>");
    o.put(num, format_time(e.mtime, num));
    lit(o, "</td></tr>\n");
}

// Renders the piece at `c` and moves `c` past it. False when the page is
// over (nothing rendered).
template <class Out> bool render_step(const xps_dirlist_s &dl, cursor &c, Out &o) {
    switch (c.next) {
    case part::head:
        render_head(dl, o);
        c.next = dl.base == "/" ? part::rows : part::parent; // no ".." at the root
        return true;
    case part::parent:
        render_parent(dl, o);
        c.next = part::rows;
        return true;
    case part::rows:
        if (c.row < dl.entries.size()) {
            render_row(dl, dl.entries[c.row++], o);
            return true;
        }
        [[fallthrough]];
    case part::tail:
        lit(o, "</table>\n</body>\n</html>\n");
        c.next = part::done;
        return true;
    case part::done:
        break;
    }
    return false;
}

// An upper bound of any one piece's length, for the row buffer: the head
// holds the path escaped twice (6 bytes a byte at worst, "&quot;"), a row
// the path encoded (3 a byte) and its name encoded (3) and escaped (6),
// plus the literal text, a 20-digit size and a time (each under 32).
size_t piece_bound(const xps_dirlist_s &dl) {
    size_t longest = 0;
    for (const entry &e : dl.entries)
        longest = std::max<size_t>(longest, e.name_len);
    return 1024 + 15 * dl.base.size() + 9 * longest;
}

// ------------------------------------------------------ opening the folder

class unique_fd {
public:
    explicit unique_fd(int fd = -1) : fd_(fd) {}
    unique_fd(const unique_fd &) = delete;
    unique_fd &operator=(const unique_fd &) = delete;
    ~unique_fd() {
        if (fd_ >= 0)
            close(fd_);
    }
    int get() const { return fd_; }
    int release() { return std::exchange(fd_, -1); }
    void reset(int fd) {
        if (fd_ >= 0)
            close(fd_);
        fd_ = fd;
    }

private:
    int fd_; // owned; -1 when empty
};

struct dir_closer {
    void operator()(DIR *d) const { closedir(d); }
};

// Opens the real (link-free) absolute path `real` refusing every symbolic
// link on the way (openat2 RESOLVE_NO_SYMLINKS): `real` came from
// realpath(), so a link found now was swapped in after the check, and the
// kernel refuses it (ELOOP) during the one call that opens. Where openat2()
// is missing (ENOSYS) or filtered by a container's seccomp policy (EPERM),
// O_NOFOLLOW guards the last component only (the file module's fallback
// has the same residual race). openat2() has no glibc wrapper in Debian 12.
int open_no_links(const char *real, int flags) {
    open_how how{};
    how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
    how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    int fd = static_cast<int>(syscall(SYS_openat2, AT_FDCWD, real, &how, sizeof how));
    if (fd < 0 && (errno == ENOSYS || errno == EPERM))
        fd = open(real, flags | O_CLOEXEC | O_NOFOLLOW);
    return fd;
}

// errno of a failed open of the folder, as our code.
int open_error(int e) {
    switch (e) {
    case ENOENT: case ENOTDIR: case ENAMETOOLONG: return XPS_E_NOTFOUND;
    case EACCES: case EPERM: case ELOOP: return XPS_E_PERMISSION; // ELOOP: a link swapped in
    case EMFILE: case ENFILE: return XPS_E_LIMIT;
    case ENOMEM: return XPS_E_NOMEM;
    default: return XPS_E_FAIL;
    }
}

void log_refusal(int code, const char *path, const char *what) {
    if (code == XPS_E_NOTFOUND)
        XPS_LOG(XPS_LOG_DEBUG, log_name, "\"%s\": %s", path, what);
    else if (code == XPS_E_PERMISSION)
        XPS_LOG(XPS_LOG_WARN, log_name, "refused \"%s\": %s", path, what);
    else
        XPS_LOG(XPS_LOG_ERROR, log_name, "\"%s\": %s", path, what);
}

// The folder `path` under `root`, confined and checked, open for reading.
int open_folder(const char *root, const char *path, unique_fd &fd) {
    char real[PATH_MAX];
    if (int rc = xps_file_resolve(root, path, real, sizeof real); rc != XPS_OK)
        return rc; // logged by the file module
    fd.reset(open_no_links(real, O_RDONLY | O_DIRECTORY | O_NONBLOCK));
    if (fd.get() < 0) {
        int e = errno, code = open_error(e);
        log_refusal(code, path, e == ENOTDIR ? "not a folder" : std::strerror(e));
        return code;
    }
    struct stat st;
    if (fstat(fd.get(), &st) != 0) {
        XPS_LOG(XPS_LOG_ERROR, log_name, "fstat \"%s\": %s", real, std::strerror(errno));
        return XPS_E_FAIL;
    }
    if (!(st.st_mode & S_IROTH)) { // holds for root too, whom EACCES never stops
        log_refusal(XPS_E_PERMISSION, path, "folder not readable by everyone (no S_IROTH)");
        return XPS_E_PERMISSION;
    }
    return XPS_OK;
}

// What a symbolic link `name` in the folder leads to, if a request for it
// would stay under the root: its stat() in *st, and true. The target is
// looked at through a link-free open (O_PATH: nothing is read, a FIFO is
// not opened), so what is reported is what was checked.
bool follow_link(const char *root, const std::string &base, const char *name, struct stat *st) {
    std::string path = base + name;
    char real[PATH_MAX];
    if (xps_file_resolve(root, path.c_str(), real, sizeof real) != XPS_OK)
        return false; // leads out, dangles, loops: logged by the file module
    unique_fd fd(open_no_links(real, O_PATH));
    return fd.get() >= 0 && fstat(fd.get(), st) == 0;
}

// Whether an entry with this stat() is listed, and as a folder.
bool listable(const struct stat &st, bool &folder) {
    folder = S_ISDIR(st.st_mode);
    return (folder || S_ISREG(st.st_mode)) && (st.st_mode & S_IROTH);
}

// Appends one entry's record and name. May throw std::bad_alloc.
int add_entry(xps_dirlist_s &dl, const char *name, const struct stat &st, bool folder,
              const char *path) {
    if (dl.entries.size() == XPS_DIRLIST_MAX_ENTRIES) {
        XPS_LOG(XPS_LOG_WARN, log_name, "\"%s\": more than %d entries: not listed", path,
                XPS_DIRLIST_MAX_ENTRIES);
        return XPS_E_LIMIT;
    }
    size_t len = std::strlen(name);
    entry e{static_cast<uint64_t>(st.st_size), static_cast<int64_t>(st.st_mtime),
            static_cast<uint32_t>(dl.names.size()), static_cast<uint16_t>(len), folder};
    if (folder)
        e.size = 0;
    dl.names.insert(dl.names.end(), name, name + len);
    dl.entries.push_back(e);
    return XPS_OK;
}

// Reads every entry of the open folder into dl (takes fd). Entries that
// vanish between readdir() and fstatat() are skipped: the folder is live.
// May throw std::bad_alloc.
int read_entries(const char *root, const char *path, unique_fd &fd, xps_dirlist_s &dl) {
    std::unique_ptr<DIR, dir_closer> dir(fdopendir(fd.get()));
    if (!dir) {
        XPS_LOG(XPS_LOG_ERROR, log_name, "fdopendir \"%s\": %s", path, std::strerror(errno));
        return XPS_E_FAIL;
    }
    fd.release(); // the DIR owns it now
    for (;;) {
        errno = 0;
        struct dirent *d = readdir(dir.get());
        if (!d)
            break;
        if (d->d_name[0] == '.') // ".", ".." and every dot-file (see the header)
            continue;
        struct stat st;
        if (fstatat(dirfd(dir.get()), d->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (S_ISLNK(st.st_mode) && !follow_link(root, dl.base, d->d_name, &st))
            continue;
        bool folder;
        if (!listable(st, folder))
            continue;
        if (int rc = add_entry(dl, d->d_name, st, folder, path); rc != XPS_OK)
            return rc;
    }
    if (errno != 0) {
        XPS_LOG(XPS_LOG_ERROR, log_name, "readdir \"%s\": %s", path, std::strerror(errno));
        return XPS_E_FAIL;
    }
    return XPS_OK;
}

// Folders first; then by name, byte by byte, a shorter name before a
// longer one it begins. Names in one folder are unique, so this is a total
// order: every sort gives the same page, which is what "stable" asks of
// the listing, without std::stable_sort's temporary copy of the array.
void sort_entries(xps_dirlist_s &dl) {
    std::sort(dl.entries.begin(), dl.entries.end(), [&dl](const entry &a, const entry &b) {
        if (a.folder != b.folder)
            return a.folder > b.folder;
        std::string_view x = name_of(dl, a), y = name_of(dl, b);
        int c = std::memcmp(x.data(), y.data(), std::min(x.size(), y.size()));
        return c != 0 ? c < 0 : x.size() < y.size();
    });
}

// "" -> "/", "/test" -> "/test/", "/test/" as it is.
std::string folder_base(const char *path) {
    std::string b = path[0] == '/' ? path : std::string("/") + path;
    if (b.back() != '/')
        b += '/';
    return b;
}

// xps_dirlist_create without the error plumbing. May throw std::bad_alloc.
int build(const char *root, const char *path, unsigned flags, xps_dirlist_s &dl) {
    dl.base = folder_base(path);
    dl.bare_folders = flags & XPS_DIRLIST_BARE_FOLDERS;
    unique_fd fd;
    if (int rc = open_folder(root, path, fd); rc != XPS_OK)
        return rc;
    if (int rc = read_entries(root, path, fd, dl); rc != XPS_OK)
        return rc;
    dl.entries.shrink_to_fit(); // the bound is per entry, not per doubling
    dl.names.shrink_to_fit();
    sort_entries(dl);
    dl.pending.reserve(piece_bound(dl));
    measure m;
    cursor c;
    while (render_step(dl, c, m)) {
    }
    dl.length = m.n;
    return XPS_OK;
}

bool finished(const xps_dirlist_s &dl) {
    return dl.at.next == part::done && dl.pending_off == dl.pending.size();
}

// ----------------------------------------------------------------- stream

// One attach: a pipe source that pulls the page into buffers, then
// detaches and destroys the listing and itself. Held only by the pipe (as
// callback data) and the core (as a member).
struct stream {
    xps_core_t *core;          // borrowed: membership and deferred free
    xps_core_member_t *member; // owned record: the core destroys us at shutdown
    xps_pipe_t *pipe;          // borrowed: we are its source until we end
    xps_dirlist_t *dl;         // owned: destroyed when the stream ends
};

void stream_end(stream *s) {
    xps_pipe_detach_source(s->pipe); // the sink gets source_done() after draining
    xps_core_remove_member(s->member);
    xps_dirlist_destroy(s->dl);
    xps_core_defer_free(s->core, [](void *p) { delete static_cast<stream *>(p); }, s);
}

// Fills the pipe up to its threshold; the pipe calls again when the sink
// has made room.
void on_produce(xps_pipe_t *pipe, void *data) {
    auto *s = static_cast<stream *>(data);
    assert(s->pipe == pipe);
    while (!finished(*s->dl) && xps_pipe_room(pipe) > 0) {
        xps_buffer_t *b = xps_buffer_create(XPS_DIRLIST_CHUNK);
        if (!b) {
            XPS_LOG(XPS_LOG_ERROR, log_name, "no memory for a %zu-byte buffer", XPS_DIRLIST_CHUNK);
            return stream_end(s); // the sink sees a short page
        }
        xps_buffer_produce(b, xps_dirlist_read(s->dl, xps_buffer_space(b), xps_buffer_room(b)));
        if (xps_pipe_write(pipe, b) != XPS_OK) // an empty last buffer is simply dropped
            return stream_end(s);              // the sink is gone
    }
    if (finished(*s->dl))
        stream_end(s);
}

void on_sink_gone(xps_pipe_t *, void *data) { stream_end(static_cast<stream *>(data)); }
void on_core_destroy(void *data) { stream_end(static_cast<stream *>(data)); }

} // namespace

// -------------------------------------------------------------- lifecycle

xps_dirlist_t *xps_dirlist_create(const char *root, const char *path, unsigned flags,
                                  int *error) noexcept {
    assert(root && path);
    std::unique_ptr<xps_dirlist_s> dl;
    int code;
    try {
        dl.reset(new xps_dirlist_s{});
        code = build(root, path, flags, *dl);
    } catch (const std::bad_alloc &) {
        code = XPS_E_NOMEM; // build's locals (the descriptor too) are gone
    }
    if (code == XPS_E_NOMEM)
        XPS_LOG(XPS_LOG_ERROR, log_name, "\"%s\": out of memory", path);
    if (error)
        *error = code;
    return code == XPS_OK ? dl.release() : nullptr;
}

void xps_dirlist_destroy(xps_dirlist_t *dl) noexcept { delete dl; }

// ------------------------------------------------------------- operations

size_t xps_dirlist_read(xps_dirlist_t *dl, char *buf, size_t cap) noexcept {
    assert(dl && buf && cap > 0);
    size_t out = 0;
    while (out < cap) {
        if (dl->pending_off == dl->pending.size()) {
            dl->pending.clear(); // keeps its capacity: no allocation below
            dl->pending_off = 0;
            append a{dl->pending};
            if (!render_step(*dl, dl->at, a))
                break;
            assert(dl->pending.size() <= dl->pending.capacity());
            continue;
        }
        size_t n = std::min(cap - out, dl->pending.size() - dl->pending_off);
        std::memcpy(buf + out, dl->pending.data() + dl->pending_off, n);
        dl->pending_off += n;
        out += n;
    }
    return out;
}

int xps_dirlist_attach(xps_dirlist_t *dl, xps_core_t *core, xps_pipe_t *pipe) noexcept {
    assert(dl && core && pipe);
    std::unique_ptr<xps_dirlist_s> owned(dl); // ours now, whatever happens
    std::unique_ptr<stream> s(new (std::nothrow) stream{core, nullptr, pipe, dl});
    if (!s)
        return XPS_E_NOMEM;
    s->member = xps_core_add_member(core, on_core_destroy, s.get());
    if (!s->member)
        return XPS_E_NOMEM;
    if (int rc = xps_pipe_attach_source(pipe, on_produce, on_sink_gone, s.get()); rc != XPS_OK) {
        xps_core_remove_member(s->member);
        return rc;
    }
    owned.release(); // the stream destroys it when it ends
    s.release();     // and frees itself
    // A listing in memory is always ready: the pipe calls on_produce
    // whenever it has a sink and room.
    xps_pipe_set_source_ready(pipe, true);
    return XPS_OK;
}

// -------------------------------------------------------------- accessors

const char *xps_dirlist_content_type(void) noexcept { return "text/html"; }

uint64_t xps_dirlist_length(const xps_dirlist_t *dl) noexcept { return dl->length; }

size_t xps_dirlist_count(const xps_dirlist_t *dl) noexcept { return dl->entries.size(); }

size_t xps_dirlist_memory(const xps_dirlist_t *dl) noexcept {
    return sizeof *dl + dl->entries.capacity() * sizeof(entry) + dl->names.capacity() +
           dl->base.capacity() + dl->pending.capacity();
}
