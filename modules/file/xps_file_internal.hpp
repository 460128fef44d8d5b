// modules/file/xps_file_internal.hpp — NOT a public header. What the file
// module's two C++ files share:
//
//   xps_file.cpp        confinement, the public API, the streams
//   xps_file_cache.cpp  the open-file cache: one per core, opened files
//                       kept with their stat() and, when small, their bytes
//
// C++ on purpose, hence .hpp: public headers (*.h) are C11.
#ifndef XPS_MODULES_FILE_INTERNAL_HPP
#define XPS_MODULES_FILE_INTERNAL_HPP

#include "modules/file/xps_file.h"

#include <sys/stat.h>

#include <memory>
#include <string>

// One opened file. Shared: the cache holds one reference while it lists
// the entry, and every xps_file_t lent from it holds one more, so a file
// evicted (or found changed) while a request still uses it lives on until
// that request destroys its xps_file_t.
struct file_entry {
    int refs;                      // holders; freed at 0 (file_entry_release)
    int fd;                        // owned, read-only, close-on-exec
    struct stat st;                // fstat() of fd when opened
    std::string path;              // the real absolute path that was opened
    const char *mime;              // static, from the MIME table (by the real name)
    std::unique_ptr<char[]> bytes; // the whole file, read once, when the cache
                                   // keeps it in memory; NULL otherwise
};

// What an xps_file_t is: a lent reference to an entry.
struct xps_file_s {
    xps_core_t *core;   // borrowed: streams of this file join it as members
    file_entry *entry;  // one reference, dropped by xps_file_destroy
};

namespace file_detail {

// Drops one reference; the last one closes the descriptor and frees.
void file_entry_release(file_entry *e);

// A new entry for an open descriptor (takes fd and its stat), 1 reference.
// May throw std::bad_alloc (fd is then still the caller's).
file_entry *file_entry_create(int fd, const struct stat &st, std::string path);

// Reads exactly len bytes at offset into buf, retrying short reads:
// XPS_OK, XPS_E_EOF (the file ends first), or pread()'s errno as a code.
int pread_all(int fd, char *buf, size_t len, uint64_t offset);

// Logs a failed look-up at the level its code deserves (xps_file.h).
void log_lookup(int code, const char *path, const char *what);

// errno of a failed look-up of a requested path, as our code.
int lookup_error(int e);

// The rules of "What is served" for one stat() result.
int check_servable(const struct stat &st, const char *path);

// The cache's answer for `rel` (normalised, not empty, not naming a
// folder) under `root`, as requested by `path` (for the log):
//   XPS_OK        *out is a new reference to a current entry: from the
//                 cache if the file there is still the one it opened, else
//                 opened now, beneath the root's descriptor, and cached;
//   XPS_E_AGAIN   the kernel could not decide confinement alone (an
//                 absolute link, a "..", no openat2): use the realpath()
//                 path of xps_file.cpp;
//   other codes   the request's answer (XPS_E_NOTFOUND, XPS_E_PERMISSION,
//                 ...), logged.
// May throw std::bad_alloc.
int file_cache_open(xps_core_t *core, const char *root, const std::string &rel,
                    const char *path, file_entry *&out);

} // namespace file_detail

#endif // XPS_MODULES_FILE_INTERNAL_HPP
