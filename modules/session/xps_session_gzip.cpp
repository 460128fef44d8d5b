// modules/session/xps_session_gzip.cpp — [stage 16] the session's side of
// the gzip content coding: the one call per response kind that asks
// modules/gzip what to do (choose_coding), the headers that follow from
// the answer (coding_headers), a gzip_static file in place of the file
// (static_variant), and the reader that feeds the stream the body (a
// file's bytes or a listing's page). The module decides the rules and
// does the compressing; nothing here knows about q-values or zlib.
#include "modules/session/xps_session_internal.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "core/xps_logger.h"
#include "http/xps_http_response.h"
#include "http/xps_http_semantics.h"

namespace session_detail {

namespace {

// The request header `name`'s value (NULL if absent) and its length.
const char *request_value(const xps_session_t *s, const char *name, size_t *len) {
    const xps_http_header_t *h =
        xps_http_head_find(xps_http_parser_head(s->parser), s->head.get(), name, nullptr);
    *len = h ? h->value.length : 0;
    return h ? s->head.get() + h->value.offset : nullptr;
}

} // namespace

coding choose_coding(const xps_session_t *s, int status, const char *type, size_t type_len,
                     bool length_known, uint64_t length, bool encoded) {
    coding c{};
    if (!s->coding.enable)
        return c; // stages 12-15, or a route without gzip_enable: nothing at all
    xps_gzip_response_t r{};
    r.status = status, r.content_type = type, r.content_type_len = type_len;
    r.length_known = length_known, r.length = length, r.encoded = encoded;
    r.http11 = s->version == XPS_HTTP_VERSION_1_1;
    r.accept_encoding = request_value(s, "Accept-Encoding", &r.accept_encoding_len);
    xps_gzip_choice_t choice = xps_gzip_decide(&s->coding, &r);
    c.vary = choice.vary, c.compress = choice.compress;
    return c;
}

int coding_headers(xps_http_response_t *res, const coding &c) {
    int error = XPS_OK;
    if (c.vary)
        error = xps_http_response_add_header(res, "Vary", "Accept-Encoding");
    if (error == XPS_OK && (c.compress || c.precompressed))
        error = xps_http_response_set_header(res, "Content-Encoding", "gzip");
    if (error != XPS_OK || !c.compress)
        return error;
    // Our own coding of a body we make as we go: its length is not known
    // until the end, so it is chunked (the connection stays open), and a
    // byte range of the identity means nothing here (ranges get identity).
    error = xps_http_response_set_header(res, "Transfer-Encoding", "chunked");
    xps_http_response_remove_header(res, "Accept-Ranges");
    const char *etag = xps_http_response_header(res, "ETag");
    if (error == XPS_OK && etag) {
        char weak[XPS_HTTP_ETAG_MAX + 2];
        if (xps_gzip_weaken_etag(etag, std::strlen(etag), weak, sizeof weak))
            error = xps_http_response_set_header(res, "ETag", weak);
        else
            xps_http_response_remove_header(res, "ETag");
    }
    return error;
}

xps_file_t *static_variant(xps_session_t *s, const xps_file_t *file) {
    if (!s->coding.enable || !s->coding.gzip_static)
        return nullptr;
    size_t len = 0;
    const char *type = xps_file_mime(file);
    const char *ae = request_value(s, "Accept-Encoding", &len);
    size_t range_len = 0;
    if (!xps_gzip_type_matches(&s->coding, type, std::strlen(type)) ||
        !xps_gzip_accepts(ae, len) || request_value(s, "Range", &range_len))
        return nullptr; // a range is served from the identity: one representation to cut
    // Beside the real file (a link "latest" → "a.css" looks for a.css.gz),
    // opened under the file's own folder as the root: the .gz is confined
    // to it as strictly as the file was to the route's.
    std::string path = xps_file_path(file);
    size_t slash = path.rfind('/');
    if (slash == std::string::npos)
        return nullptr;
    std::string dir = slash == 0 ? "/" : path.substr(0, slash);
    std::string name = path.substr(slash) + ".gz";
    int error = XPS_OK;
    xps_file_t *gz = xps_file_create(xps_loop_core(s->loop), dir.c_str(), name.c_str(), &error);
    if (gz && xps_file_mtime(gz) < xps_file_mtime(file)) { // stale: the file changed since
        XPS_LOG(XPS_LOG_DEBUG, log_name, "%s: %s.gz is older than it: not served",
                s->client_ip, xps_file_path(file));
        xps_file_destroy(gz);
        gz = nullptr;
    }
    return gz;
}

size_t read_body(void *data, char *dst, size_t cap, int *error) {
    auto *s = static_cast<xps_session_t *>(data);
    if (s->listing)
        return xps_dirlist_read(s->listing, dst, cap);
    size_t n = static_cast<size_t>(std::min<uint64_t>(cap, s->body_left));
    if (n == 0)
        return 0;
    *error = xps_file_read(s->body_file, s->body_at, dst, n);
    if (*error != XPS_OK)
        return 0;
    s->body_at += n, s->body_left -= n;
    return n;
}

} // namespace session_detail
