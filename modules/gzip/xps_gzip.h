/*
 * modules/gzip/xps_gzip.h — the gzip content coding (RFC 9110 §8.4.1.3,
 * RFC 1952) for response bodies: what to decide, and the deflate stream.
 *
 * Why: text compresses to a quarter of its size or less, and most of what
 * a web server sends is text. Compressing is the server's choice, made per
 * response from the client's Accept-Encoding, the route's settings and the
 * response itself, so the decision is a set of pure functions (tested as
 * tables in tests/unit/gzip.c) and the work is a stream that never holds a
 * body: it is fed the body a piece at a time and writes what zlib gives
 * back into the pipe to the client, as chunks of the chunked coding.
 *
 *   file ──pread──▶ [gzip] ──chunks──▶ [to_client] ──▶ client
 *   listing ──read──▶ [gzip] ──chunks──▶ [to_client] ──▶ client
 *   upstream ──▶ [from_upstream] ──▶ proxy ──body data──▶ [gzip] ──chunks──▶ [to_client]
 *
 * The rules the decision applies (xps_gzip_decide):
 *  - only on a route with gzip_enable, only for a Content-Type on the
 *    route's list (xps_gzip_type_matches; parameters such as
 *    "; charset=utf-8" are ignored);
 *  - such a response carries "Vary: Accept-Encoding" whether it is
 *    compressed or not, so a cache never hands a gzip body to a client
 *    that did not ask for one (RFC 9110 §12.5.5);
 *  - compressed only when the client accepts gzip (xps_gzip_accepts: a
 *    q-value above 0 for "gzip", or for "*" when gzip is not named), the
 *    body is not already encoded (an upstream's Content-Encoding is kept:
 *    never twice), the status has a body that is the whole representation
 *    (not 204, 206 or 304, nor 1xx), and its length, when known, is at
 *    least the route's minimum;
 *  - HEAD is decided as GET is (the same headers), and sends no body.
 * The caller then weakens the ETag (xps_gzip_weaken_etag: the bytes
 * differ from the identity's, so only a weak validator may be shared),
 * drops Content-Length and Accept-Ranges, and frames the body as chunked.
 *
 * Memory: one stream holds zlib's state (about 256 KiB at windowBits 15,
 * memLevel 8: the window and the hash chains), XPS_GZIP_IN_MAX bytes of
 * input and XPS_GZIP_OUT_MAX of output staging; nothing grows with the
 * body. xps_gzip_pump takes input only while the pipe has room, so a
 * slow client holds the pipe's threshold plus one output chunk at most.
 *
 * Lifecycle: create → write / pump ... → the last write (last = true) →
 * destroy. Ownership: the caller owns the stream; the pipe owns every
 * buffer written into it. Errors: XPS_E_NOMEM, XPS_E_FAIL (zlib refused),
 * XPS_E_CLOSED (the pipe's sink is gone), or a read callback's code.
 * Threading: none.
 */
#ifndef XPS_MODULES_GZIP_H
#define XPS_MODULES_GZIP_H

#include "core/xps.h"

#ifdef __cplusplus
extern "C" {
#endif

/* zlib's level 6 (what Z_DEFAULT_COMPRESSION means, and what the config's
 * -1 gives): on text it is within a few percent of level 9's ratio at
 * about half its CPU; nginx's own default (1) trades ~10% of ratio for
 * speed, which is the opposite of what a text-serving route wants. */
#define XPS_GZIP_DEFAULT_LEVEL 6

/* Below this many bytes (when the length is known) a body is sent as it
 * is: gzip's header and trailer are 18 bytes, a chunk's framing about 10
 * more, and a body of a few hundred bytes saves less than a packet. */
#define XPS_GZIP_DEFAULT_MIN_LENGTH 256

/* Input bytes taken per step (xps_gzip_pump), and the most output one
 * chunk carries. */
#define XPS_GZIP_IN_MAX (32 * 1024)
#define XPS_GZIP_OUT_MAX (16 * 1024)

/* A route's settings ("gzip_enable", "gzip_level", "gzip_mime_types",
 * "gzip_min_length", "gzip_static": docs/config.md). Plain data: the
 * config owns it and its strings. */
typedef struct xps_gzip_settings {
    bool enable;                    /* gzip_enable: false = never compressed, no Vary */
    int level;                      /* 1..9; -1 = XPS_GZIP_DEFAULT_LEVEL; 0 = stored */
    const char *const *mime_types;  /* the list; NULL: xps_gzip_default_types() */
    size_t n_mime_types;
    uint64_t min_length;            /* gzip_min_length */
    bool gzip_static;               /* serve a fresher "<file>.gz" as it is */
} xps_gzip_settings_t;

/* The built-in list of compressible types: text/html, text/css,
 * text/plain, text/javascript, text/xml, text/markdown, text/csv,
 * application/javascript, application/json, application/xml,
 * application/xhtml+xml, application/rss+xml, application/atom+xml,
 * image/svg+xml, application/wasm. A route's gzip_mime_types replaces
 * it (so a route can also narrow it). *count gets the number. */
const char *const *xps_gzip_default_types(size_t *count) XPS_NOEXCEPT;

/* ------------------------------------------------------- the decision */

/* Whether an Accept-Encoding value value[0..len) accepts gzip (RFC 9110
 * §12.5.3): "gzip" (or its alias "x-gzip") with a q-value above 0, or,
 * when neither is named, "*" with one above 0. A q-value of 0 refuses;
 * names are case-insensitive; blanks around elements and parameters are
 * allowed. NULL (no header) or an empty value: identity only → false. A
 * value that does not parse (a bad q, a stray character) → false: when
 * in doubt, identity is always acceptable. */
bool xps_gzip_accepts(const char *value, size_t len) XPS_NOEXCEPT;

/* Whether the media type of the Content-Type value type[0..len) is on
 * the list of `settings` (the built-in one when it has none): type and
 * subtype compared case-insensitively, parameters after ';' ignored, and
 * an entry "text/" followed by an asterisk takes every subtype of text.
 * NULL → false. */
bool xps_gzip_type_matches(const xps_gzip_settings_t *settings, const char *type,
                           size_t len) XPS_NOEXCEPT;

/* The ETag of the compressed variant, in out (cap bytes, NUL-terminated):
 * a weak tag (W/"x") stays as it is; a strong one ("x") becomes W/"x".
 * Returns false, out "", when etag is not an entity-tag or does not fit
 * (then send none). */
bool xps_gzip_weaken_etag(const char *etag, size_t len, char *out, size_t cap) XPS_NOEXCEPT;

/* What a response is, for xps_gzip_decide. */
typedef struct xps_gzip_response {
    int status;                    /* the status to be sent */
    const char *content_type;      /* its Content-Type value, or NULL */
    size_t content_type_len;
    bool length_known;             /* the body's length is known ... */
    uint64_t length;               /* ... and is this */
    bool encoded;                  /* it has a Content-Encoding already */
    bool http11;                   /* the client speaks HTTP/1.1 (chunked) */
    const char *accept_encoding;   /* the request's Accept-Encoding, or NULL */
    size_t accept_encoding_len;
} xps_gzip_response_t;

typedef struct xps_gzip_choice {
    bool vary;     /* add "Vary: Accept-Encoding" */
    bool compress; /* send the body gzip-coded (chunked) */
} xps_gzip_choice_t;

/* The rules above. An HTTP/1.0 client is sent identity (with Vary): it
 * cannot read chunked, and a close-delimited body would cost it its kept
 * connection for the sake of a smaller body. settings NULL: nothing. */
xps_gzip_choice_t xps_gzip_decide(const xps_gzip_settings_t *settings,
                                  const xps_gzip_response_t *response) XPS_NOEXCEPT;

/* --------------------------------------------------------- the stream */

typedef struct xps_gzip_s xps_gzip_t;

/* A gzip stream at `level` (-1..9, as in the settings). With `chunked`,
 * each piece of output is written as one chunk of the chunked coding and
 * the last write ends with the last-chunk ("0\r\n\r\n"); without, as bare
 * bytes (a gzip file). NULL and *error XPS_E_NOMEM or XPS_E_FAIL. */
xps_gzip_t *xps_gzip_create(int level, bool chunked, int *error) XPS_NOEXCEPT;

/* Frees the stream (what it wrote belongs to the pipe). Accepts NULL. */
void xps_gzip_destroy(xps_gzip_t *gzip) XPS_NOEXCEPT;

/* Compresses in[0..len) (all of it is taken) and writes whatever zlib
 * gives back into `to` (we are its source), in pieces of at most
 * XPS_GZIP_OUT_MAX; zlib may keep some input back for later. With
 * `last`, the stream is finished: everything left, the gzip trailer (CRC
 * and length), and with chunked the last-chunk; later writes fail with
 * XPS_E_FAIL. Writes past the pipe's threshold (the caller asked for room
 * before feeding); XPS_OK or an error code. */
int xps_gzip_write(xps_gzip_t *gzip, xps_pipe_t *to, const void *in, size_t len,
                   bool last) XPS_NOEXCEPT;

/* Reads up to cap bytes of the body into dst: the count, 0 at its end;
 * *error set (and 0 returned) when reading failed. */
typedef size_t (*xps_gzip_read_cb)(void *data, char *dst, size_t cap, int *error);

/* Pulls the body through the stream into `to` while `to` has room: one
 * read of up to XPS_GZIP_IN_MAX bytes, one write, again. *done becomes
 * true once the body's end has been read and the stream finished (the
 * caller destroys it). XPS_OK (done or waiting for room: ask the pipe for
 * produce()), or the read's or write's error. */
int xps_gzip_pump(xps_gzip_t *gzip, xps_pipe_t *to, xps_gzip_read_cb read, void *data,
                  bool *done) XPS_NOEXCEPT;

/* Input taken and output written so far, for logs and tests. */
uint64_t xps_gzip_bytes_in(const xps_gzip_t *gzip) XPS_NOEXCEPT;
uint64_t xps_gzip_bytes_out(const xps_gzip_t *gzip) XPS_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* XPS_MODULES_GZIP_H */
