/*
 * modules/file/xps_mime.h — the media type of a file, from its name.
 *
 * Why: a browser decides what to do with a body (render the page, show the
 * picture, run the script, offer a download) from the Content-Type header,
 * not from the URL. A static file server has only the file's name to go on,
 * so it keeps a table from extension to media type (RFC 6838 names, such as
 * "text/html" or "image/png").
 *
 * Introduced in stage 09 (the file module); stage 10 puts the result in
 * Content-Type, stage 16 decides from it what is worth compressing.
 *
 * The rules, all of them:
 *  - The extension is what follows the last '.' of the last path segment:
 *    "a/b/page.HTML" → "html", "archive.tar.gz" → "gz". A dot in a folder
 *    name does not count ("v1.2/README" has none).
 *  - Leading dots belong to the name, not to an extension: ".bashrc" and
 *    "..hidden" have none, ".config.json" has "json" (the same rule as
 *    Python's os.path.splitext). A trailing dot ("notes.") gives none.
 *  - Case does not matter: "PHOTO.JPG" is image/jpeg.
 *  - No extension, or one not in the table → XPS_MIME_DEFAULT,
 *    "application/octet-stream": "some bytes; save them", the safe answer
 *    (RFC 9110 §8.3 lets a receiver guess otherwise, which is how content
 *    sniffing attacks start).
 *  - No parameters: text types come back as "text/plain", never
 *    "text/plain; charset=utf-8". The server does not know a file's
 *    encoding; a charset, if any, is for configuration to add.
 *
 * Lifecycle: none (a constant table). Ownership: every string returned is
 * static and lives as long as the program. Errors: none. Threading: safe.
 */
#ifndef XPS_MODULES_FILE_MIME_H
#define XPS_MODULES_FILE_MIME_H

#include "core/xps.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The answer for a name the table does not know. */
#define XPS_MIME_DEFAULT "application/octet-stream"

/* ---------------------------------------------------------- operations */

/* The media type for `path` (a file name or a path; only the last segment
 * is looked at, and the file need not exist). Never NULL: unknown or
 * missing extensions give XPS_MIME_DEFAULT. path must not be NULL. */
const char *xps_mime_type(const char *path) XPS_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* XPS_MODULES_FILE_MIME_H */
