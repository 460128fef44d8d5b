// modules/session/xps_session.cpp — see xps_session.h. The session's life:
// created on accept with its two client pipes, it reads the request head
// into one buffer (the parser resumes where it stopped, wherever TCP cut
// the bytes), asks xps_session_route what to do, and either queues the
// whole response into to_client and ends, or hands the request to a
// proxy (modules/proxy, proxy_start) and hears back from it. [stage 12] With keep-alive [stage 13],
// end_request() keeps the connection and parse_heads() goes on with the
// next request already in the buffer (pipelining).
//
//   on_client_bytes ─▶ head complete? ─▶ on_head ─▶ xps_session_route
//                                          ├─ REPLY ─▶ reply()      ─┐
//                                          ├─ FILE  ─▶ send_file()  ─┤
//                                          ├─ LISTING ─▶ send_listing() ─▶ pump_body()
//                                          │      (more as the client drains) ─┴─▶ end_request()
//                                          └─ PROXY ─▶ proxy_start() ─▶ xps_proxy_t ...
//                                               on_proxy_done ─▶ next_request() or finish()
//                                               on_proxy_refuse ─▶ reply(); on_proxy_cut ─▶ finish()
//                                               on_proxy_coding ─▶ choose_coding() [stage 16]
#include "modules/session/xps_session_internal.hpp"


#include <cassert>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <new>

#include "core/xps_buffer.h"
#include "core/xps_core.h"
#include "core/xps_logger.h"
#include "core/xps_pipe.h"
#include "http/xps_http_response.h"
#include "http/xps_http_semantics.h"

using namespace session_detail;

namespace {

// A file body up to this size is copied into the response's own buffer
// instead of being sent with sendfile(): for small files one copy (from
// the open-file cache, or one pread()) and one send() cost less than
// duplicating the descriptor and a sendfile(), and a queued small response
// holds no descriptor. 64 KiB: past it the copy through user space starts
// to cost more than sendfile saves — the same bound as the cache's, so
// every body sent this way can come from memory.
constexpr size_t inline_file_max = XPS_FILE_CACHE_BYTES_MAX;

// The threshold of the pipe to the client: what one connection may have
// queued before it must read some (pipelined responses wait behind it,
// parse_heads), and the proxy's buffer for a response on its way down.
// 256 KiB keeps a fast client's socket busy through a loop round, and
// with inline_file_max bounds the file descriptors one client can make us
// hold to 256 / 64 + 1 = 5.
constexpr size_t client_queue_max = 256 * 1024;

// The first allocation for a request head (grow_head doubles it, up to
// the parser's limit, when a head is longer): a browser's request head is
// typically 0.5-1.5 KiB.
constexpr size_t first_head_bytes = 2048;

void free_session(void *p) { delete static_cast<xps_session_t *>(p); }

void destroy_member(void *s) { xps_session_destroy(static_cast<xps_session_t *>(s)); }

// "ip" of "ip:port" or "[v6]:port": X-Forwarded-For carries the address only.
void strip_port(const char *peer, char *out, size_t cap) {
    const char *colon = std::strrchr(peer, ':');
    size_t n = colon ? static_cast<size_t>(colon - peer) : std::strlen(peer);
    if (peer[0] == '[' && n >= 2 && peer[n - 1] == ']')
        peer++, n -= 2;
    n = n < cap - 1 ? n : cap - 1;
    std::memcpy(out, peer, n);
    out[n] = '\0';
}

// Serialises `res` as ONE buffer (with `room` bytes free after it for a
// body the caller reads in), so the status line and every header leave in
// one write. HEAD gets no body. The connection header says what happens
// next: "close" (stage 12, or the client asked, or we cannot go on),
// nothing for an HTTP/1.1 keep-alive (persistence is 1.1's default),
// "keep-alive" for an HTTP/1.0 client that asked for it — a 1.0 client
// assumes close otherwise (RFC 9112 §9.3). [stage 13]
xps_buffer_t *response_bytes(xps_session_t *s, xps_http_response_t *res, size_t room,
                             int *error) {
    if (s->method == XPS_HTTP_METHOD_HEAD)
        xps_http_response_omit_body(res);
    *error = XPS_OK;
    if (s->draining && *s->draining) // [stage 21] the worker is stopping: this is the last
        s->keep = false;
    if (!s->keep)
        *error = xps_http_response_set_header(res, "Connection", "close");
    else if (s->version == XPS_HTTP_VERSION_1_0)
        *error = xps_http_response_set_header(res, "Connection", "keep-alive");
    for (size_t i = 0; i < s->n_extra && *error == XPS_OK; i++) // [apps/xps] the route's
        *error = xps_http_response_add_header(res, s->extra[i].name, s->extra[i].value);
    if (s->report) { // [apps/xps] every head made here: its status, the request's id
        observe_status(s, xps_http_response_status(res));
        if (*error == XPS_OK && request_id(s))
            *error = xps_http_response_set_header(res, "X-Request-ID", request_id(s));
    }
    if (*error != XPS_OK)
        return nullptr;
    return xps_http_response_serialize_with_room(res, time(nullptr), room, error);
}

// Queues `bytes` for the client (the pipe takes the buffer; so does this
// function when the client is gone: nobody will read it).
int queue_bytes(xps_session_t *s, xps_buffer_t *bytes) {
    if (s->to_client)
        return xps_pipe_write(s->to_client, bytes);
    xps_buffer_destroy(bytes);
    return XPS_OK;
}

int queue_response(xps_session_t *s, xps_http_response_t *res) {
    int error = XPS_OK;
    xps_buffer_t *bytes = response_bytes(s, res, 0, &error);
    return bytes ? queue_bytes(s, bytes) : error;
}

// The request header `name`'s value (NULL if absent) and its length.
const char *request_header(const xps_session_t *s, const char *name, size_t *len) {
    const xps_http_header_t *h =
        xps_http_head_find(xps_http_parser_head(s->parser), s->head.get(), name, nullptr);
    *len = h ? h->value.length : 0;
    return h ? s->head.get() + h->value.offset : nullptr;
}

// What part of the file to send, and with which status [stage 13]:
// validators first (a client that has the file gets 304, RFC 9110 §13.2.2),
// then Range (§14): one satisfiable range → 206, none → 416 — unless an
// If-Range names another version than ours (§13.1.5): then 200, all of it.
struct file_answer {
    int status;                // 200, 206, 304 or 416
    uint64_t first, length;    // the bytes to send (206: the range)
    char etag[XPS_HTTP_ETAG_MAX]; // the file's validator ("" in stage 12)
    int64_t mtime;             // its modification time, for Last-Modified
};

file_answer evaluate(const xps_session_t *s, const xps_file_t *file) {
    file_answer a{XPS_HTTP_STATUS_OK, 0, xps_file_size(file), "", 0};
    if (!s->http11)
        return a; // stage 12: every GET is a 200 with the whole file
    a.mtime = xps_file_mtime(file);
    xps_http_etag_make(a.length, a.mtime, a.etag);
    size_t inm_len = 0, ims_len = 0, range_len = 0;
    const char *inm = request_header(s, "If-None-Match", &inm_len);
    const char *ims = request_header(s, "If-Modified-Since", &ims_len);
    if (xps_http_not_modified(inm, inm_len, ims, ims_len, a.etag, a.mtime)) {
        a.status = XPS_HTTP_STATUS_NOT_MODIFIED;
        return a;
    }
    const char *range = request_header(s, "Range", &range_len);
    size_t if_range_len = 0; // §13.1.5: a Range only for the version the client has
    const char *if_range = range ? request_header(s, "If-Range", &if_range_len) : nullptr;
    if (if_range && !xps_http_if_range_holds(if_range, if_range_len, a.etag, a.mtime, time(nullptr)))
        range = nullptr; // it changed (or we cannot tell): the whole file, 200
    uint64_t first = 0, last = 0;
    switch (range && s->method == XPS_HTTP_METHOD_GET
                ? xps_http_range_eval(range, range_len, a.length, &first, &last)
                : XPS_HTTP_RANGE_IGNORE) {
    case XPS_HTTP_RANGE_OK:
        a.status = XPS_HTTP_STATUS_PARTIAL_CONTENT, a.first = first, a.length = last - first + 1;
        break;
    case XPS_HTTP_RANGE_UNSATISFIABLE:
        a.status = XPS_HTTP_STATUS_RANGE_NOT_SATISFIABLE;
        break;
    case XPS_HTTP_RANGE_IGNORE:
        break;
    }
    return a;
}

// The headers of a file answer: type, validators, range. XPS_OK or a code.
int file_headers(xps_http_response_t *res, const file_answer &a, const xps_file_t *file,
                 const char *type) {
    char text[96];
    int error = xps_http_response_set_header(res, "Content-Type", type);
    if (error == XPS_OK && a.etag[0]) {
        error = xps_http_response_set_header(res, "ETag", a.etag);
        // Uncached: the per-second cache is for Date; a file's mtime through
        // it would evict "now" and make every Date a fresh format.
        char modified[XPS_HTTP_DATE_LEN + 1];
        xps_http_date_format(a.mtime, modified);
        if (error == XPS_OK)
            error = xps_http_response_set_header(res, "Last-Modified", modified);
        if (error == XPS_OK) // "we take ranges": curl -C and players rely on it
            error = xps_http_response_set_header(res, "Accept-Ranges", "bytes");
    }
    if (error == XPS_OK && a.status == XPS_HTTP_STATUS_PARTIAL_CONTENT) {
        std::snprintf(text, sizeof text, "bytes %" PRIu64 "-%" PRIu64 "/%zu", a.first,
                      a.first + a.length - 1, xps_file_size(file));
        error = xps_http_response_set_header(res, "Content-Range", text);
    }
    return error;
}

// Reads len bytes of `file` from `first` into the free space of `b`
// (which has room for them); xps_file_read's codes.
int read_file_into(xps_buffer_t *b, const xps_file_t *file, uint64_t first, size_t len) {
    int rc = xps_file_read(file, first, xps_buffer_space(b), len);
    if (rc == XPS_OK)
        xps_buffer_produce(b, len);
    return rc;
}

// [stage 16] Drops the body being compressed: the stream, its file, its
// listing.
void drop_body(xps_session_t *s) {
    xps_gzip_destroy(s->deflating);
    xps_file_destroy(s->body_file);
    xps_dirlist_destroy(s->listing);
    s->deflating = nullptr, s->body_file = nullptr, s->listing = nullptr;
}

// [stage 16] Whether a body is still being queued (a listing's page or a
// compressed body): the client's next request waits until it is.
bool body_pending(const xps_session_t *s) { return s->listing || s->deflating; }

bool pump_listing(xps_session_t *s);

// Queues more of the body in flight while the client's pipe has room: a
// listing's page as it is (pump_listing), or [stage 16] a file or listing
// through the deflate stream (xps_gzip_pump). When the pipe is full, asks
// for on_client_room, which comes back here. Returns true once all of it
// is queued (or cannot be: the client is gone, or an error, then the
// connection closes after what was queued), the body dropped.
bool pump_body(xps_session_t *s) {
    if (!s->deflating)
        return pump_listing(s);
    bool done = false;
    int error = s->to_client ? xps_gzip_pump(s->deflating, s->to_client, read_body, s, &done)
                             : XPS_E_CLOSED;
    if (error == XPS_OK && !done) { // full: on_client_room resumes
        xps_pipe_set_source_ready(s->to_client, true);
        return false;
    }
    if (error != XPS_OK) { // the client sees a body without its last chunk, then the close
        if (error != XPS_E_CLOSED)
            XPS_LOG(XPS_LOG_ERROR, log_name, "%s \"%s\": compressing: %s", s->client_ip,
                    s->request_line.c_str(), xps_strerror(error));
        s->keep = false;
    }
    drop_body(s);
    return true;
}

// [stage 16] Starts compressing the body (s->listing's page, or
// s->body_file's bytes from body_at) into to_client, after its head.
// Returns true when it is all queued already (small bodies), false when
// pump_body goes on from on_client_room.
bool start_deflate(xps_session_t *s) {
    int error = XPS_OK;
    s->deflating = xps_gzip_create(s->coding.level, true, &error);
    if (!s->deflating) {
        XPS_LOG(XPS_LOG_ERROR, log_name, "%s: cannot start compressing: %s", s->client_ip,
                xps_strerror(error));
        s->keep = false; // the head promised a chunked body it will not get
        drop_body(s);
        return true;
    }
    return pump_body(s);
}

// The file. A small body (up to inline_file_max) is read into the same
// buffer as the head: one send() for the whole response, and nothing of
// the file left open while it waits in the pipe. A bigger one follows the
// head as a file range in the same pipe, sent with sendfile() (the pipe
// keeps its own duplicate of the descriptor, so the file may be destroyed
// at once) — and, being big, fills the pipe: parse_heads answers no more
// pipelined requests until the client has taken it, so a client holds at
// most a few descriptors whatever it sends. [stage 13] Takes the file.
// [stage 16] The coding is chosen here, once the status is known: a
// gzip_static "<file>.gz" goes out in the file's place exactly as a file
// does; a body we compress is pulled through the stream by pump_body.
void send_file(xps_session_t *s, xps_file_t *file) {
    const char *type = xps_file_mime(file); // static: outlives the file
    xps_file_t *gz = static_variant(s, file);
    if (gz)
        xps_file_destroy(file), file = gz;
    file_answer a = evaluate(s, file);
    if (a.status == XPS_HTTP_STATUS_RANGE_NOT_SATISFIABLE) {
        char unsatisfied[64]; // §14.4: the size, so the client can ask again
        std::snprintf(unsatisfied, sizeof unsatisfied, "bytes */%zu", xps_file_size(file));
        xps_file_destroy(file);
        return reply_with(s, a.status, "range not satisfiable", "Content-Range", unsatisfied);
    }
    // A 304 carries the Vary and the ETag its 200 would have had.
    int as = a.status == XPS_HTTP_STATUS_NOT_MODIFIED ? XPS_HTTP_STATUS_OK : a.status;
    coding c = choose_coding(s, as, type, std::strlen(type), true, a.length, gz != nullptr);
    c.precompressed = gz != nullptr;
    c.vary = c.vary || c.precompressed;
    if (a.status == XPS_HTTP_STATUS_NOT_MODIFIED) // no body to be coded: Vary and ETag only
        c.compress = c.precompressed = false;
    bool deflate = false;
    int error = XPS_OK;
    xps_http_response_t *res = xps_http_response_create(a.status, &error);
    if (res && (error = file_headers(res, a, file, type)) == XPS_OK &&
        (error = coding_headers(res, c)) == XPS_OK) {
        bool body = a.status != XPS_HTTP_STATUS_NOT_MODIFIED; // a 304 has no body nor length
        if (body && !c.compress)
            xps_http_response_set_body_length(res, a.length);
        body = body && s->method != XPS_HTTP_METHOD_HEAD && a.length > 0;
        deflate = body && c.compress;
        size_t inline_len = body && !deflate && a.length <= inline_file_max ? a.length : 0;
        xps_buffer_t *bytes = response_bytes(s, res, inline_len, &error);
        if (bytes && inline_len > 0 && (error = read_file_into(bytes, file, a.first, inline_len)))
            xps_buffer_destroy(bytes), bytes = nullptr;
        if (bytes && (error = queue_bytes(s, bytes)) == XPS_OK && body && !deflate &&
            inline_len == 0)
            error = xps_pipe_write_file(s->to_client, xps_file_fd(file),
                                        static_cast<int64_t>(a.first), a.length);
        if (!bytes && error != XPS_OK) { // nothing queued yet: the client can be told
            xps_http_response_destroy(res);
            XPS_LOG(XPS_LOG_ERROR, log_name, "%s: reading %s: %s", s->client_ip,
                    xps_file_path(file), xps_strerror(error));
            xps_file_destroy(file);
            s->keep = false;
            return reply(s, XPS_HTTP_STATUS_INTERNAL_SERVER_ERROR, "cannot read the file",
                         nullptr, nullptr);
        }
    }
    XPS_LOG(XPS_LOG_DEBUG, log_name, "%s \"%s\" -> %d %s%s", s->client_ip, s->request_line.c_str(),
            a.status, xps_file_path(file), deflate ? " (gzip)" : "");
    if (error != XPS_OK) { // the client may get a head and a short body: it sees the close
        XPS_LOG(XPS_LOG_ERROR, log_name, "%s: sending %s: %s", s->client_ip, xps_file_path(file),
                xps_strerror(error));
        s->keep = false;
        deflate = false;
    }
    xps_http_response_destroy(res);
    if (!deflate) {
        xps_file_destroy(file);
        return end_request(s);
    }
    s->body_file = file, s->body_at = a.first, s->body_left = a.length;
    if (start_deflate(s))
        end_request(s);
}

// [stage 15] Queues more of the listing's page while the client's pipe
// has room: one buffer of XPS_DIRLIST_CHUNK bytes at a time, filled by
// xps_dirlist_read, so at most the pipe's threshold plus one chunk of the
// page exists at once, whatever the folder's size. When the pipe is full,
// asks for on_client_room, which comes back here. Returns true once the
// whole page is queued (or cannot be: the client is gone, or no memory,
// then the connection closes after what was queued), the listing freed.
bool pump_listing(xps_session_t *s) {
    while (s->to_client && xps_pipe_room(s->to_client) > 0) {
        xps_buffer_t *b = xps_buffer_create(XPS_DIRLIST_CHUNK);
        if (!b) {
            XPS_LOG(XPS_LOG_ERROR, log_name, "%s: no memory for the listing", s->client_ip);
            s->keep = false; // the client sees a short body, then the close
            break;
        }
        size_t n = xps_dirlist_read(s->listing, xps_buffer_space(b), XPS_DIRLIST_CHUNK);
        if (n == 0) {
            xps_buffer_destroy(b);
            break;
        }
        xps_buffer_produce(b, n);
        if (queue_bytes(s, b) != XPS_OK) {
            s->keep = false;
            break;
        }
        if (xps_pipe_room(s->to_client) == 0) { // full: on_client_room resumes
            xps_pipe_set_source_ready(s->to_client, true);
            return false;
        }
    }
    xps_dirlist_destroy(s->listing);
    s->listing = nullptr;
    return true;
}

// [stage 15] A folder's listing: the head (type, exact length), then the
// page, pulled from the module by pump_listing ([stage 16] or through the
// deflate stream, chunked, when the route's coding says so: pump_body).
// The next pipelined request is parsed only once the whole page is queued
// (end_request), so the responses keep their order; until then the
// client's further bytes wait in its pipe (on_client_bytes).
void send_listing(xps_session_t *s, xps_dirlist_t *dl) {
    int error = XPS_OK;
    xps_http_response_t *res = xps_http_response_create(XPS_HTTP_STATUS_OK, &error);
    const char *type = xps_dirlist_content_type();
    coding c = choose_coding(s, XPS_HTTP_STATUS_OK, type, std::strlen(type), true,
                             xps_dirlist_length(dl), false);
    if (res)
        error = xps_http_response_set_header(res, "Content-Type", type);
    if (res && error == XPS_OK)
        error = coding_headers(res, c);
    if (res && error == XPS_OK && !c.compress)
        xps_http_response_set_body_length(res, xps_dirlist_length(dl));
    xps_buffer_t *bytes = res && error == XPS_OK ? response_bytes(s, res, 0, &error) : nullptr;
    xps_http_response_destroy(res);
    if (!bytes) {
        xps_dirlist_destroy(dl);
        s->keep = false;
        return reply(s, XPS_HTTP_STATUS_INTERNAL_SERVER_ERROR, "out of memory", nullptr, nullptr);
    }
    XPS_LOG(XPS_LOG_DEBUG, log_name, "%s \"%s\" -> 200 listing of %zu entries%s", s->client_ip,
            s->request_line.c_str(), xps_dirlist_count(dl), c.compress ? " (gzip)" : "");
    if (queue_bytes(s, bytes) != XPS_OK || s->method == XPS_HTTP_METHOD_HEAD) {
        xps_dirlist_destroy(dl);
        return end_request(s);
    }
    s->listing = dl;
    if (c.compress ? start_deflate(s) : pump_listing(s))
        end_request(s);
}

// The "metrics" route: the page of the observer's counters, never cached.
// This process's open connections go into its slot first, so the page is
// current for at least the worker that answers it.
void send_metrics(xps_session_t *s) {
    const xps_session_observer_t *o = s->observer;
    if (o->slot && o->connections)
        xps_metrics_set_connections(o->slot, *o->connections);
    std::unique_ptr<char[]> page(new (std::nothrow) char[XPS_METRICS_PAGE_MAX]);
    int error = page ? XPS_OK : XPS_E_NOMEM;
    size_t len = page ? xps_metrics_render(o->metrics, page.get()) : 0;
    xps_http_response_t *res = page ? xps_http_response_create(XPS_HTTP_STATUS_OK, &error) : nullptr;
    if (res)
        error = xps_http_response_set_header(res, "Content-Type", XPS_METRICS_CONTENT_TYPE);
    if (res && error == XPS_OK)
        error = xps_http_response_set_header(res, "Cache-Control", "no-store");
    if (res && error == XPS_OK)
        error = xps_http_response_set_body(res, page.get(), len);
    if (res && error == XPS_OK)
        error = queue_response(s, res);
    xps_http_response_destroy(res);
    if (error != XPS_OK) {
        s->keep = false;
        return reply(s, XPS_HTTP_STATUS_INTERNAL_SERVER_ERROR, "out of memory", nullptr, nullptr);
    }
    XPS_LOG(XPS_LOG_DEBUG, log_name, "%s \"%s\" -> 200 metrics", s->client_ip,
            s->request_line.c_str());
    end_request(s);
}

// [apps/xps] What the request's route brings to every response made for
// it: its "headers" (with xps_session_set_route_headers) and which block's
// error pages apply. NULL: no route (yet).
void take_route(xps_session_t *s, const xps_config_route_match_t *m) {
    s->extra = m && s->route_headers ? m->headers : nullptr;
    s->n_extra = m && s->route_headers ? m->n_headers : 0;
    s->extra_lines = s->n_extra ? m->header_lines : nullptr;
    s->page_route.type = m ? m->type : static_cast<xps_config_route_type_t>(0);
    s->page_route.server = m ? m->server : 0;
}

// The parser refused the head, or the client stopped before its end.
void refuse(xps_session_t *s, int rc) {
    int status = rc == XPS_E_INVAL ? xps_http_parser_status(s->parser)
                 : rc == XPS_E_EOF ? XPS_HTTP_STATUS_BAD_REQUEST
                 : rc == XPS_E_AGAIN ? XPS_HTTP_STATUS_REQUEST_HEADER_FIELDS_TOO_LARGE
                 : rc == XPS_E_TIMEOUT ? XPS_HTTP_STATUS_REQUEST_TIMEOUT
                                     : XPS_HTTP_STATUS_INTERNAL_SERVER_ERROR;
    const char *why = rc == XPS_E_INVAL   ? xps_http_parser_reason(s->parser)
                      : rc == XPS_E_EOF   ? "the request ended before its blank line"
                      : rc == XPS_E_AGAIN ? "request head over the limit"
                      : rc == XPS_E_TIMEOUT ? "the request head did not come in time"
                                          : "out of memory";
    // For the log: what was sent, up to its first line end, 60 bytes at most.
    size_t n = 0;
    while (n < s->head_len && n < 60 && s->head[n] != '\r' && s->head[n] != '\n')
        n++;
    s->request_line.assign(n > 0 ? s->head.get() : "", n); // (no head at all: a 408)
    for (char &c : s->request_line) // printable only: the log is read in a terminal
        c = c >= 0x20 && c < 0x7f ? c : '.';
    observe_begin(s, false); // [apps/xps]
    take_route(s, nullptr);  // [apps/xps] no route: none of its headers or pages
    s->keep = false; // after a refused head we cannot tell where the next begins
    reply(s, status, why, nullptr, nullptr);
}

// A request without a body (or with an empty one).
bool has_no_body(const xps_http_head_t *h) {
    return h->body == XPS_HTTP_BODY_NONE ||
           (h->body == XPS_HTTP_BODY_LENGTH && h->content_length == 0);
}

// Whether this request's response may leave the connection open: the
// stage allows it, the client allows it (the parser applied RFC 9112 §9.3:
// 1.1 without "close", 1.0 with "keep-alive"), and there is no body we
// would have to read past (a body on a file or redirect route is not
// read; closing is the simple, safe answer). [stage 13]
bool may_keep(const xps_session_t *s, const xps_http_head_t *h) {
    return s->http11 && h->keep_alive && has_no_body(h);
}

// A client that said "Connection: close" sends no further request (RFC
// 9112 §9.6); with no body and nothing after the head, it has sent its
// last byte, so closing after the response needs no lingering.
void skip_linger_if_done(xps_session_t *s, const xps_http_head_t *h) {
    if (h->connection_close && has_no_body(h) && s->head_len == h->head_length && s->client &&
        s->from_client && xps_pipe_len(s->from_client) == 0)
        xps_connection_set_linger(s->client, false);
}

// The head is complete: route it and act.
void on_head(xps_session_t *s) {
    arm_timer(s, timer_none); // [stage 18] the head is here in time
    const xps_http_head_t *h = xps_http_parser_head(s->parser);
    s->method = h->method;
    s->version = h->version;
    s->keep = may_keep(s, h);
    skip_linger_if_done(s, h);
    size_t from = h->method_name.offset, to = h->target.offset + h->target.length;
    s->request_line.assign(s->head.get() + from, to - from);
    observe_begin(s, true); // [apps/xps] its id, before any answer
    take_route(s, nullptr); // [apps/xps] until the route is known
    int error = XPS_OK;
    xps_http_request_t *req = xps_http_request_create(h, s->head.get(), &error);
    if (!req) {
        bool climbs = error == XPS_E_PERMISSION;
        return reply(s, climbs ? 403 : error == XPS_E_INVAL ? 400 : 500,
                     climbs         ? "the path climbs above the root"
                     : error == XPS_E_INVAL ? "invalid percent-escape in the path"
                                            : "out of memory",
                     nullptr, nullptr);
    }
    xps_session_action_t action;
    const xps_session_origin_t origin{s->listener->host, s->listener->port,
                                      s->ip_filter ? &s->client_addr : nullptr, s->dir_listing,
                                      s->limiter, &s->client_addr, xps_loop_now_ms(s->loop),
                                      s->draining && *s->draining,
                                      s->observer && s->observer->metrics};
    xps_session_route(xps_loop_core(s->loop), s->config, &origin, req, &action);
    xps_http_request_destroy(req); // the head buffer still holds what the proxy needs
    take_route(s, &action.match); // [apps/xps] for whichever response this becomes
    // [stage 16] the route's coding, for whichever response this becomes
    s->coding = action.match.gzip;
    s->coding.enable = s->gzip && s->http11 && action.match.gzip.enable;
    if (action.kind == XPS_SESSION_FILE) {
        send_file(s, action.file);
        action.file = nullptr; // the session's now
    } else if (action.kind == XPS_SESSION_LISTING) {
        send_listing(s, action.listing);
        action.listing = nullptr; // the session's now
    } else if (action.kind == XPS_SESSION_METRICS) { // [apps/xps]
        send_metrics(s);
    } else if (action.kind == XPS_SESSION_PROXY) {
        // [stage 13] Kept after the response unless the request asked to
        // switch protocols: what follows such a head may not be HTTP, so
        // it is never read as the next request (nor relayed before a 101).
        s->keep = s->keep && !h->upgrade;
        proxy_start(s, &action.match);
    } else if (action.retry_after > 0) { // [stage 18] 429: when to come back (RFC 6585 §4)
        char seconds[16];
        std::snprintf(seconds, sizeof seconds, "%u", action.retry_after);
        reply_with(s, action.status, action.reason, "Retry-After", seconds);
    } else if (action.text) { // a health route's "ok"
        reply_text(s, action.status, action.reason, action.text);
    } else {
        reply(s, action.status, action.reason, action.location, action.allow);
    }
    xps_session_action_release(&action);
}

// Stops answering pipelined requests while the client's pipe is full: it
// is not reading what we send. We stop reading its requests too (the
// pipe from it fills, the connection stops reading the socket, TCP pushes
// back), so what one connection queues stays bounded — bytes by the pipe's
// threshold, descriptors by the few big files that fit in it — however
// many requests it sends. on_client_room resumes. [stage 13]
void pause_requests(xps_session_t *s) {
    s->paused = true;
    if (s->from_client)
        xps_pipe_set_sink_ready(s->from_client, false);
    xps_pipe_set_source_ready(s->to_client, true); // call on_client_room when there is room
}

// Nothing of a request is here yet (a new connection, or a kept-alive one
// between requests). Such a connection may wait for minutes, and a server
// may hold thousands, so it gives back what only a request needs: the
// head buffer and the request line. The next bytes allocate a buffer
// again (on_client_bytes).
void release_head(xps_session_t *s) {
    s->head.reset();
    s->head_size = 0;
    std::string().swap(s->request_line);
}

// Room for more of a head: the buffer starts at first_head_bytes and
// doubles, up to head_cap, only while a long head keeps arriving. Most
// heads are well under 2 KiB, and a buffer that small is recycled by the
// allocator from request to request; a 16 KiB one per request is not: a
// wave of them freed together lets malloc give the heap's top back to the
// kernel, and the next wave pays a page fault per request to get it back
// (docs/performance.md, "Page faults"). The parser keeps offsets, not
// pointers, so the head may move.
bool grow_head(xps_session_t *s) {
    size_t size = s->head_size ? std::min(2 * s->head_size, s->head_cap)
                               : std::min(first_head_bytes, s->head_cap);
    std::unique_ptr<char[]> bigger(new (std::nothrow) char[size]);
    if (!bigger)
        return false;
    if (s->head_len > 0)
        std::memcpy(bigger.get(), s->head.get(), s->head_len);
    s->head = std::move(bigger);
    s->head_size = size;
    return true;
}

// A response is queued and nothing of the next request is here. With a
// park callback (xps_session_set_idle_park), after the first request,
// the session gives even less back: it parks the connection and ends, and
// the callback starts a new session when the client speaks again. Not
// before the first request (a client that just connected sends at once),
// and not with request bytes still in the pipe (parking drops them).
void wait_for_request(xps_session_t *s) {
    if (s->park_wake && s->served > 0 && s->client && s->from_client && s->to_client &&
        xps_pipe_len(s->from_client) == 0 &&
        xps_connection_park(s->client, s->park_wake, s->park_data) == XPS_OK) {
        s->client = nullptr; // the callback's now; it sends what to_client holds first
        return finish(s);
    }
    release_head(s);
    if (s->served > 0) // [stage 18] (the first request's head is timed from the start)
        arm_timer(s, timer_keepalive);
}

// Parses what the head buffer holds. With keep-alive the buffer may hold
// several pipelined requests: each complete head is answered (its
// response queued whole, so responses leave in request order), then
// end_request moves the rest to the front and sets s->next, and the loop
// parses the next one — a loop, not recursion, however many were sent,
// until the client's pipe is full (pause_requests). Once the client has
// sent FIN, what is left is answered and the session ends.
void parse_heads(xps_session_t *s) {
    while (s->phase == session_phase::head) {
        if (s->to_client && xps_pipe_room(s->to_client) == 0)
            return pause_requests(s);
        if (s->head_len == 0 && s->client_eof)
            return finish(s); // every request answered; the client sends no more
        if (s->head_len == 0)
            return wait_for_request(s);
        int rc = xps_http_parser_parse_head(s->parser, s->head.get(), s->head_len);
        if (rc == XPS_E_AGAIN && s->head_len < s->head_cap) {
            if (!s->client_eof)
                return; // wait for more bytes
            rc = XPS_E_EOF; // ...that will never come: a head cut short
        }
        s->next = false;
        if (rc == XPS_OK)
            on_head(s);
        else
            refuse(s, rc);
        if (!s->next)
            return;
    }
}

// consume() of from_client: request bytes. While reading the head they
// are appended to the head buffer and the parser resumes; a complete head
// is acted on. Later, while proxying, they are the request body.
void on_client_bytes(xps_pipe_t *pipe, void *data) {
    auto *s = static_cast<xps_session_t *>(data);
    if (s->phase == session_phase::proxying && s->proxy)
        return xps_proxy_client_bytes(s->proxy);
    if (s->phase != session_phase::head || s->paused || body_pending(s)) { // the bytes wait
        xps_pipe_set_sink_ready(pipe, false);
        return;
    }
    if (s->timer_kind == timer_keepalive) // [stage 18] a new request begins: its head is timed
        arm_timer(s, timer_header);
    if (s->head_len == s->head_size && s->head_size < s->head_cap && !grow_head(s)) {
        XPS_LOG(XPS_LOG_ERROR, log_name, "%s: no memory for a request head", s->client_ip);
        return finish(s);
    }
    size_t got = 0;
    if (xps_pipe_read(pipe, s->head.get() + s->head_len, s->head_size - s->head_len, &got) != XPS_OK)
        return finish(s); // cannot happen for a socket's bytes; logged by the pipe
    s->head_len += got;
    parse_heads(s);
}

// source_done() of from_client: the client sent FIN (or vanished) and we
// have read everything it sent. What is in the head buffer is still
// answered (pipelined requests, then FIN, is a valid way to ask); part of
// a head is a malformed request (400); nothing: the client just left.
void on_client_end(xps_pipe_t *pipe, void *data) {
    auto *s = static_cast<xps_session_t *>(data);
    xps_pipe_detach_sink(pipe);
    s->from_client = nullptr;
    s->client_eof = true; // [stage 13] kept: what it sent is answered, then the end
    if (s->phase == session_phase::proxying) // [stage 20] (no proxy: the cache is waiting)
        return s->proxy ? xps_proxy_client_end(s->proxy) : void();
    if (!s->paused && !body_pending(s))
        parse_heads(s);
}

// produce() of to_client: the client took some of what we queued (asked
// for only while a proxy relay, or paused requests, wait for room).
void on_client_room(xps_pipe_t *pipe, void *data) {
    auto *s = static_cast<xps_session_t *>(data);
    xps_pipe_set_source_ready(pipe, false);
    if (s->phase == session_phase::proxying)
        return s->proxy ? xps_proxy_client_room(s->proxy) : void();
    if (body_pending(s)) { // [stage 15] more of the page, then the next request
        if (!pump_body(s))
            return;
        end_request(s);
        if (!s->next)
            return; // ended
        s->next = false;
        if (s->from_client && !s->paused)
            xps_pipe_set_sink_ready(s->from_client, true);
        if (!s->paused)
            return parse_heads(s);
    }
    if (!s->paused)
        return;
    s->paused = false;
    if (s->from_client)
        xps_pipe_set_sink_ready(s->from_client, true);
    parse_heads(s);
}

// sink_gone() of to_client: the client connection is gone; nobody will
// read a response. Everything stops.
void on_client_gone(xps_pipe_t *pipe, void *data) {
    auto *s = static_cast<xps_session_t *>(data);
    xps_pipe_detach_source(pipe);
    s->to_client = nullptr;
    if (s->phase == session_phase::proxying)
        XPS_LOG(XPS_LOG_DEBUG, log_name, "%s \"%s\": client gone, upstream closed", s->client_ip,
                s->request_line.c_str());
    finish(s);
}

void on_client_closed(xps_connection_t *, int, void *data) {
    static_cast<xps_session_t *>(data)->client = nullptr;
}

// [stage 18] The session's timer fired. The head timer answers 408 only
// while a head is really awaited: a session that is still queueing a
// listing or waiting for the client to take its responses is waiting on
// the client's reading (the connection's send timeout bounds that), so the
// head is given another period.
void on_timer(xps_loop_timer_t *, void *data) {
    auto *s = static_cast<xps_session_t *>(data);
    int kind = s->timer_kind;
    s->timer_kind = timer_none;
    if (s->phase == session_phase::head && kind == timer_header) {
        if (s->paused || body_pending(s))
            return arm_timer(s, timer_header);
        XPS_LOG(XPS_LOG_DEBUG, log_name, "%s: no complete request head in %u ms", s->client_ip,
                s->timeouts->header_read_ms);
        return refuse(s, XPS_E_TIMEOUT);
    }
    if (s->phase == session_phase::head && kind == timer_keepalive && s->head_len == 0) {
        XPS_LOG(XPS_LOG_DEBUG, log_name, "%s: idle for %u ms after %llu requests: closing",
                s->client_ip, s->timeouts->keepalive_ms,
                static_cast<unsigned long long>(s->served));
        return finish(s);
    }
}

// The task of next_request: reads heads again. [stage 13]
void on_resume(void *data) {
    auto *s = static_cast<xps_session_t *>(data);
    s->next = false;
    if (s->phase != session_phase::head)
        return;
    if (s->from_client)
        xps_pipe_set_sink_ready(s->from_client, true);
    parse_heads(s);
}

// [stage 13] After a proxied response. The next head is parsed from a task,
// not from here: the upstream connection just given back to the pool is
// still letting go of its pipes (their tasks are queued), and a pipelined
// request for the same upstream parsed now would find it not yet idle and
// open a connection of its own. The task runs after those, so it finds it.
void next_request(xps_session_t *s) {
    end_request(s);
    if (s->phase != session_phase::head)
        return; // ended
    if (!s->resume)
        s->resume = xps_task_create(xps_loop_core(s->loop), on_resume, s);
    if (s->resume)
        return xps_task_post(s->resume);
    on_resume(s); // no memory for a task: now, at the cost of a fresh connection
}

// --------------------------------------------- the proxy's events

// The exchange is over: the proxy goes (safe inside its own callback),
// then [stage 20] the cache's side of it (the proxy's destroy ends its tee).
void drop_proxy(xps_session_t *s) {
    xps_proxy_destroy(s->proxy);
    s->proxy = nullptr;
    xps_cache_exchange_destroy(s->cached);
    s->cached = nullptr;
}

// Nothing went to the client: our own error page (502, 400), then the
// end — the page says "Connection: close", since the connection closes
// after it (reply → end_request: the phase is not head).
void on_proxy_refuse(void *data, int status, const char *why) {
    auto *s = static_cast<xps_session_t *>(data);
    drop_proxy(s);
    s->keep = false;
    reply(s, status, why, nullptr, nullptr);
}

// Part of a response went down: only the close can tell the client.
void on_proxy_cut(void *data) {
    auto *s = static_cast<xps_session_t *>(data);
    drop_proxy(s);
    finish(s);
}

// The whole response is queued. [stage 13] The connection stays for the
// next request when the client allows it and the response's framing lets
// it find the end (the proxy says which): back to reading heads, the next
// request (pipelined, or still to come) parsed as after a kept file.
void on_proxy_done(void *data, bool client_may_stay) {
    auto *s = static_cast<xps_session_t *>(data);
    drop_proxy(s);
    if (!client_may_stay || !s->to_client)
        return finish(s);
    s->keep = true;
    s->phase = session_phase::head;
    next_request(s);
}

// [stage 16] The proxy has read a response head: the session decides its
// body's coding, as for a file or a listing (choose_coding), from what
// the proxy saw and what the request and the route say.
xps_gzip_choice_t on_proxy_coding(void *data, const xps_gzip_response_t *response, int *level) {
    auto *s = static_cast<xps_session_t *>(data);
    observe_upstream_head(s, response->status); // [apps/xps]
    coding c = choose_coding(s, response->status, response->content_type,
                             response->content_type_len, response->length_known,
                             response->length, response->encoded);
    *level = s->coding.level;
    return xps_gzip_choice_t{c.vary, c.compress};
}

void start_proxy(xps_session_t *s, const xps_config_route_match_t *route,
                 const xps_proxy_tee_t *tee);

// [stage 20] The cache answers: the stored head, then the entry's body as
// a range of its file (sendfile), and the request is done.
void on_cache_hit(void *data, xps_buffer_t *head, int fd, int64_t offset, uint64_t len) {
    auto *s = static_cast<xps_session_t *>(data);
    drop_proxy(s);
    observe_cache(s, true); // [apps/xps]
    head = observe_cached_head(s, head);
    if (s->n_extra) // [apps/xps] the route's "headers"
        head = head_with_lines(head, s->extra_lines, nullptr);
    int error = queue_bytes(s, head);
    if (error == XPS_OK && len > 0 && s->to_client)
        error = xps_pipe_write_file(s->to_client, fd, offset, static_cast<size_t>(len));
    XPS_LOG(XPS_LOG_DEBUG, log_name, "%s \"%s\" -> from the cache", s->client_ip,
            s->request_line.c_str());
    if (error != XPS_OK) { // the head may have gone: only the close can tell
        XPS_LOG(XPS_LOG_ERROR, log_name, "%s: cannot queue a cached response: %s", s->client_ip,
                xps_strerror(error));
        return finish(s);
    }
    s->phase = session_phase::head;
    if (s->cache_sync)
        return end_request(s); // parse_heads goes on with the next request
    next_request(s);
}

// [stage 20] The cache has no answer: the proxy fetches, copying the
// response into the cache through `tee`.
void on_cache_fetch(void *data, const xps_proxy_tee_t *tee) {
    auto *s = static_cast<xps_session_t *>(data);
    observe_cache(s, false); // [apps/xps]
    start_proxy(s, &s->cached_route, tee);
}

} // namespace

// ------------------------------------------------------------ shared

namespace session_detail {

void reply_with(xps_session_t *s, int status, const char *why, const char *name,
                const char *value) {
    reply_headers(s, status, why, nullptr, nullptr, name, value);
}

void reply(xps_session_t *s, int status, const char *why, const char *location,
           const char *allow) {
    reply_headers(s, status, why, location, allow, nullptr, nullptr);
}

void reply_headers(xps_session_t *s, int status, const char *why, const char *location,
                   const char *allow, const char *name, const char *value) {
    char text[320];
    const char *phrase = xps_http_reason(status);
    std::snprintf(text, sizeof text, "%d %s: %s", status, phrase ? phrase : "", why);
    int error = XPS_OK;
    // A 3xx has no body (the Location says it all); 4xx/5xx get a line of
    // text, or [apps/xps] the config's page for the status.
    const xps_config_error_page_t *page =
        status >= 400 && s->error_pages ? xps_config_error_page(s->config, &s->page_route, status)
                                        : nullptr;
    xps_http_response_t *res = status < 400 || page ? xps_http_response_create(status, &error)
                                                    : xps_http_response_create_error(status, text, &error);
    if (res && page)
        error = xps_http_response_set_header(res, "Content-Type", "text/html; charset=utf-8");
    if (res && page && error == XPS_OK)
        error = xps_http_response_set_body(res, page->body, page->length);
    if (res && location)
        error = xps_http_response_set_header(res, "Location", location);
    if (res && allow && error == XPS_OK)
        error = xps_http_response_set_header(res, "Allow", allow);
    if (res && name && error == XPS_OK)
        error = xps_http_response_set_header(res, name, value);
    if (res && error == XPS_OK)
        error = queue_response(s, res);
    xps_http_response_destroy(res);
    // One line per request costs a write(2) each: debug, except a 5xx,
    // which an operator wants to see at the default level.
    XPS_LOG(status >= 500 ? XPS_LOG_WARN : XPS_LOG_DEBUG, log_name, "%s \"%s\" -> %d %s%s%s",
            s->client_ip, s->request_line.c_str(), status, why, location ? " " : "",
            location ? location : "");
    if (error != XPS_OK)
        XPS_LOG(XPS_LOG_ERROR, log_name, "%s: cannot queue the response: %s", s->client_ip,
                xps_strerror(error));
    if (error != XPS_OK)
        s->keep = false;
    end_request(s);
}

void reply_text(xps_session_t *s, int status, const char *why, const char *text) {
    int error = XPS_OK;
    xps_http_response_t *res = xps_http_response_create_error(status, text, &error);
    if (res)
        error = xps_http_response_set_header(res, "Cache-Control", "no-store");
    if (res && error == XPS_OK)
        error = queue_response(s, res);
    xps_http_response_destroy(res);
    XPS_LOG(XPS_LOG_DEBUG, log_name, "%s \"%s\" -> %d %s", s->client_ip,
            s->request_line.c_str(), status, why);
    if (error != XPS_OK) {
        XPS_LOG(XPS_LOG_ERROR, log_name, "%s: cannot queue the response: %s", s->client_ip,
                xps_strerror(error));
        s->keep = false;
    }
    end_request(s);
}

void finish(xps_session_t *s) { xps_session_destroy(s); }

void arm_timer(xps_session_t *s, session_timer kind) {
    if (!s->timeouts || s->phase == session_phase::done)
        return;
    s->timer_kind = kind;
    if (kind == timer_none) {
        if (s->timer && xps_loop_timer_active(s->timer))
            xps_loop_timer_stop(s->timer);
        return;
    }
    if (!s->timer && !(s->timer = xps_loop_timer_create(s->loop, on_timer, s))) {
        XPS_LOG(XPS_LOG_ERROR, log_name, "%s: no memory for a timer: not timed", s->client_ip);
        s->timer_kind = timer_none;
        return;
    }
    uint32_t ms = kind == timer_header ? s->timeouts->header_read_ms : s->timeouts->keepalive_ms;
    xps_loop_timer_start(s->timer, ms);
}

void proxy_start(xps_session_t *s, const xps_config_route_match_t *route) {
    static const xps_cache_events_t cache_events{on_cache_hit, on_cache_fetch};
    if (!s->cache_store || !route->cache || !s->http11)
        return start_proxy(s, route, nullptr);
    s->cached_route = *route; // the fetch may come after a wait: on_head's copy is gone
    xps_cache_exchange_request_t request{};
    request.loop = s->loop;
    request.store = s->cache_store;
    request.head = xps_http_parser_head(s->parser);
    request.buf = s->head.get();
    request.keep = s->keep;
    request.wait_ms = route->cache_lock_ms;
    request.log_line = s->request_line.c_str();
    std::string origin; // the route's upstreams: part of the key
    try {
        for (size_t i = 0; i < route->n_upstreams; i++)
            (origin += route->upstreams[i].text) += ',';
    } catch (const std::bad_alloc &) {
        return reply(s, XPS_HTTP_STATUS_INTERNAL_SERVER_ERROR, "out of memory", nullptr,
                     nullptr);
    }
    request.origin = origin.c_str();
    int error = XPS_OK;
    if (!(s->cached = xps_cache_exchange_create(&request, &cache_events, s, &error)))
        return reply(s, XPS_HTTP_STATUS_INTERNAL_SERVER_ERROR, "out of memory", nullptr,
                     nullptr);
    s->phase = session_phase::proxying; // the cache's, then (on a miss) the proxy's
    s->cache_sync = true;
    xps_cache_exchange_start(s->cached);
    s->cache_sync = false;
}

} // namespace session_detail

namespace {

void start_proxy(xps_session_t *s, const xps_config_route_match_t *route,
                 const xps_proxy_tee_t *tee) {
    static const xps_proxy_events_t events{on_proxy_refuse, on_proxy_cut, on_proxy_done,
                                           on_proxy_coding};
    int error = XPS_OK;
    // [stage 17] The route's balancer, when this stage balances: the one
    // point where the session involves it; the proxy asks it from here on.
    xps_balancer_t *balancer =
        s->balancers ? xps_balancer_set_get(s->balancers, route, &error) : nullptr;
    if (s->balancers && !balancer)
        return reply(s, XPS_HTTP_STATUS_INTERNAL_SERVER_ERROR, "out of memory", nullptr,
                     nullptr);
    // [stage 19] The route's TLS client, when this stage speaks TLS upstream.
    const xps_config_upstream_tls_t *tls = s->upstream_tls ? route->upstream_tls : nullptr;
    xps_tls_client_t *tls_client = nullptr;
    char why[XPS_TLS_ERR_MAX];
    if (tls && !(tls_client = xps_upstream_tls_get(s->upstream_tls, tls, why, sizeof why))) {
        XPS_LOG(XPS_LOG_ERROR, "session", "%s \"%s\": upstream_tls: %s", s->client_ip,
                s->request_line.c_str(), why);
        return reply(s, XPS_HTTP_STATUS_BAD_GATEWAY, "upstream_tls unusable", nullptr, nullptr);
    }
    xps_proxy_request_t request{};
    request.loop = s->loop;
    request.upstreams = route->upstreams, request.n_upstreams = route->n_upstreams;
    request.balancer = balancer;
    request.client_addr = &s->client_addr;
    request.pool = s->pool;
    request.parser = s->parser;
    request.buf = s->head.get(), request.len = s->head_len;
    request.http11 = s->http11, request.keep = s->keep;
    request.client_ip = s->client_ip;
    request.via_name = xps_config_server_name(s->config);
    request.log_line = s->request_line.c_str();
    request.from_client = &s->from_client, request.to_client = &s->to_client;
    request.connect_timeout_ms = s->timeouts ? s->timeouts->upstream_connect_ms : 0u; // [stage 18]
    request.read_timeout_ms = s->timeouts ? s->timeouts->upstream_read_ms : 0u;
    request.tee = tee; // [stage 20] the cache's copy of the response, or NULL
    request.tls = tls_client, request.tls_server_name = tls ? tls->sni : nullptr; // [stage 19]
    request.request_id = request_id(s); // [apps/xps] NULL: relayed as received
    request.response_lines = s->n_extra ? s->extra_lines : nullptr; // [apps/xps]
    observe_upstream_start(s);
    if (!(s->proxy = xps_proxy_create(&request, &events, s, &error)))
        return reply(s, XPS_HTTP_STATUS_INTERNAL_SERVER_ERROR, "out of memory", nullptr,
                     nullptr);
    s->phase = session_phase::proxying;
    xps_proxy_start(s->proxy);
}

} // namespace

namespace session_detail {

void end_request(xps_session_t *s) {
    observe_end(s); // [apps/xps] (the head is still here)
    s->served++;
    if (!s->keep || s->phase != session_phase::head || !s->to_client ||
        (s->draining && *s->draining)) // [stage 21] (a proxied response already went out)
        return finish(s);
    // [stage 13] Keep-alive: drop this request's head, keep what follows it
    // (the start of the next request, or several: pipelining), and parse
    // afresh — the parser's offsets start again at 0.
    size_t used = xps_http_parser_head(s->parser)->head_length;
    std::memmove(s->head.get(), s->head.get() + used, s->head_len - used);
    s->head_len -= used;
    xps_http_parser_reset(s->parser);
    s->method = 0, s->version = 0, s->keep = false;
    s->request_line.clear();
    s->next = true;
    // [stage 18] Bytes of the next request are here: its head is timed
    // now. (None: wait_for_request times the idle connection.)
    arm_timer(s, s->head_len > 0 ? timer_header : timer_none);
}


} // namespace session_detail

// --------------------------------------------------------- lifecycle

xps_session_t *xps_session_create(xps_loop_t *loop, xps_connection_t *client,
                                  const xps_config_t *config,
                                  const xps_config_listener_t *listener, int *error) noexcept {
    assert(loop && client && config && listener && error);
    xps_core_t *core = xps_loop_core(loop);
    xps_http_limits_t limits = xps_http_default_limits();
    auto *s = new (std::nothrow) xps_session_t{};
    if (s) {
        s->loop = loop, s->config = config, s->listener = listener, s->client = client;
        s->phase = session_phase::head;
        s->head_cap = limits.max_head + 1;
        s->parser = xps_http_parser_create(&limits);
        // The head is read no further ahead than the buffer can take.
        s->from_client = xps_pipe_create(core, s->head_cap);
        s->to_client = xps_pipe_create(core, client_queue_max);
    }
    if (!s || !s->parser || !s->from_client || !s->to_client ||
        !(s->member = xps_core_add_member(core, destroy_member, s))) {
        XPS_LOG(XPS_LOG_ERROR, log_name, "cannot set up a session: out of memory");
        xps_connection_destroy(client);
        if (s) {
            xps_pipe_destroy(s->from_client);
            xps_pipe_destroy(s->to_client);
            xps_http_parser_destroy(s->parser);
        }
        delete s;
        *error = XPS_E_NOMEM;
        return nullptr;
    }
    strip_port(xps_connection_peer(client), s->client_ip, sizeof s->client_ip);
    // Fresh pipes and a fresh connection: attaching cannot fail.
    xps_pipe_attach_sink(s->from_client, on_client_bytes, on_client_end, s);
    xps_pipe_attach_source(s->to_client, on_client_room, on_client_gone, s);
    xps_connection_attach_source(client, s->from_client);
    xps_connection_attach_sink(client, s->to_client);
    xps_connection_on_close(client, on_client_closed, s);
    xps_pipe_set_sink_ready(s->from_client, true);
    *error = XPS_OK;
    return s;
}

void xps_session_set_http11(xps_session_t *s, bool on) noexcept {
    assert(s);
    s->http11 = on;
}

void xps_session_set_ip_filter(xps_session_t *s, bool on) noexcept {
    assert(s);
    s->ip_filter = on;
    // Once per session, not per request: an address that cannot be read
    // (not from a TCP peer) stays family 0, which every list refuses.
    if (on)
        xps_ipfilter_addr_parse(s->client_ip, &s->client_addr);
}

void xps_session_set_dir_listing(xps_session_t *s, bool on) noexcept {
    assert(s);
    s->dir_listing = on;
}

void xps_session_set_gzip(xps_session_t *s, bool on) noexcept {
    assert(s);
    s->gzip = on;
}

void xps_session_set_rate_limiter(xps_session_t *s, xps_ratelimit_t *limiter) noexcept {
    assert(s);
    s->limiter = limiter;
    if (limiter && !s->ip_filter) // the bucket's key (set_ip_filter reads it too)
        xps_ipfilter_addr_parse(s->client_ip, &s->client_addr);
}

void xps_session_set_timeouts(xps_session_t *s, const xps_config_timeouts_t *t) noexcept {
    assert(s);
    if (!t)
        arm_timer(s, timer_none);
    s->timeouts = t;
    // A session starts with a connection that is about to send a head
    // (just accepted, or parked and now speaking): its head is timed now.
    if (t && s->phase == session_phase::head && s->served == 0)
        arm_timer(s, timer_header);
}

void xps_session_set_limits(xps_session_t *s, const xps_config_limits_t *l) noexcept {
    assert(s);
    if (!l || s->head_len > 0)
        return; // the parser is in use: too late
    xps_http_limits_t limits = xps_http_default_limits();
    limits.max_head = l->max_header_bytes;
    limits.max_body = l->max_body_bytes;
    xps_http_parser_t *p = xps_http_parser_create(&limits);
    if (!p) {
        XPS_LOG(XPS_LOG_ERROR, log_name, "%s: no memory for the limits: defaults kept",
                s->client_ip);
        return;
    }
    xps_http_parser_destroy(s->parser);
    s->parser = p;
    s->head_cap = limits.max_head + 1;
}

void xps_session_set_cache_store(xps_session_t *s, xps_cache_store_t *store) noexcept {
    assert(s);
    s->cache_store = store;
}

void xps_session_set_upstream_pool(xps_session_t *s, xps_upstream_pool_t *pool) noexcept {
    assert(s);
    s->pool = pool;
}

void xps_session_set_upstream_tls(xps_session_t *s, xps_upstream_tls_set_t *set) noexcept {
    assert(s);
    s->upstream_tls = set;
}

void xps_session_set_balancers(xps_session_t *s, xps_balancer_set_t *set) noexcept {
    assert(s);
    s->balancers = set;
    // ip_hash reads the address; parsed once, as for the ip filter.
    if (set && s->client_addr.family == 0)
        xps_ipfilter_addr_parse(s->client_ip, &s->client_addr);
}

void xps_session_set_idle_park(xps_session_t *s, xps_connection_wake_cb wake,
                               void *data) noexcept {
    assert(s);
    s->park_wake = wake, s->park_data = data;
}

void xps_session_set_error_pages(xps_session_t *s, bool on) noexcept {
    assert(s);
    s->error_pages = on;
}

void xps_session_set_route_headers(xps_session_t *s, bool on) noexcept {
    assert(s);
    s->route_headers = on;
}

void xps_session_set_draining(xps_session_t *s, const bool *draining) noexcept {
    assert(s);
    s->draining = draining;
}

void xps_session_destroy(xps_session_t *s) noexcept {
    if (!s || s->phase == session_phase::done)
        return;
    observe_end(s); // [apps/xps] a request cut short is reported too
    s->phase = session_phase::done;
    xps_core_remove_member(s->member);
    if (s->from_client) // the connection stops reading
        xps_pipe_detach_sink(s->from_client);
    if (s->to_client) // the connection sends what is queued, then FIN and close
        xps_pipe_detach_source(s->to_client);
    if (s->client)
        xps_connection_on_close(s->client, nullptr, nullptr);
    xps_task_destroy(s->resume);
    s->resume = nullptr;
    xps_loop_timer_destroy(s->timer); // [stage 18]
    s->timer = nullptr;
    drop_body(s);
    drop_proxy(s); // the upstream connection, if any, closes: its response is unfinished
    s->from_client = s->to_client = nullptr;
    s->client = nullptr;
    xps_http_parser_destroy(s->parser);
    s->parser = nullptr;
    xps_core_defer_free(xps_loop_core(s->loop), free_session, s);
}
