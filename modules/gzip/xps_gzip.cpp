// modules/gzip/xps_gzip.cpp — see xps_gzip.h. The decisions are plain
// string work on the header values; the stream is zlib's deflate with a
// gzip wrapper (windowBits 15 + 16), fed by the caller and emptied into
// the pipe as it produces, so no body is ever held whole.
#include "modules/gzip/xps_gzip.h"

#include <strings.h>
#include <zlib.h>

#include <cassert>
#include <cstdio>
#include <cstring>
#include <new>

#include "core/xps_buffer.h"
#include "core/xps_pipe.h"

namespace {

const char *const default_types[] = {
    "text/html",        "text/css",               "text/plain",          "text/javascript",
    "text/xml",         "text/markdown",          "text/csv",            "application/javascript",
    "application/json", "application/xml",        "application/xhtml+xml", "application/rss+xml",
    "application/atom+xml", "image/svg+xml",      "application/wasm",
};

bool is_blank(char c) { return c == ' ' || c == '\t'; }

bool is_tchar(char c) { // RFC 9110 §5.6.2
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr);
}

struct span {
    const char *p;
    size_t n;
    bool is(const char *word) const {
        return std::strlen(word) == n && strncasecmp(p, word, n) == 0;
    }
};

span trim(const char *p, size_t n) {
    while (n > 0 && is_blank(*p))
        p++, n--;
    while (n > 0 && is_blank(p[n - 1]))
        n--;
    return {p, n};
}

// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) (RFC 9110
// §12.4.2), as thousandths; -1 when it is not one.
int parse_q(span v) {
    if (v.n == 0 || (v.p[0] != '0' && v.p[0] != '1') || v.n > 5 || (v.n > 1 && v.p[1] != '.'))
        return -1;
    int q = (v.p[0] - '0') * 1000, scale = 100;
    for (size_t i = 2; i < v.n; i++, scale /= 10) {
        if (v.p[i] < '0' || v.p[i] > '9')
            return -1;
        q += (v.p[i] - '0') * scale;
    }
    return q <= 1000 ? q : -1;
}

// One element "coding *( ; param )": its name and q (1000 when absent);
// false when it does not parse.
bool parse_element(span e, span *name, int *q) {
    size_t i = 0;
    while (i < e.n && e.p[i] != ';')
        i++;
    *name = trim(e.p, i);
    *q = 1000;
    for (size_t k = 0; k < name->n; k++)
        if (!is_tchar(name->p[k]))
            return false;
    if (name->n == 0)
        return false;
    while (i < e.n) { // at a ';'
        size_t start = ++i;
        while (i < e.n && e.p[i] != ';')
            i++;
        span param = trim(e.p + start, i - start);
        const char *eq = static_cast<const char *>(std::memchr(param.p, '=', param.n));
        if (!eq)
            return false;
        span key = trim(param.p, static_cast<size_t>(eq - param.p));
        span value = trim(eq + 1, param.n - static_cast<size_t>(eq + 1 - param.p));
        if (key.is("q") && (*q = parse_q(value)) < 0)
            return false;
    }
    return true;
}

// The media type of a Content-Type value, without parameters.
span media_type(const char *type, size_t len) {
    size_t n = 0;
    while (n < len && type[n] != ';')
        n++;
    return trim(type, n);
}

bool type_is(span t, const char *entry) {
    size_t n = std::strlen(entry);
    if (n >= 2 && entry[n - 2] == '/' && entry[n - 1] == '*') // "text/*"
        return t.n > n - 1 && strncasecmp(t.p, entry, n - 1) == 0;
    return t.is(entry);
}

} // namespace

struct xps_gzip_s {
    z_stream z;
    bool chunked;
    bool finished;
    uint64_t in_total, out_total;
    char out[XPS_GZIP_OUT_MAX];
    char in[XPS_GZIP_IN_MAX]; // xps_gzip_pump's read buffer
};

const char *const *xps_gzip_default_types(size_t *count) noexcept {
    *count = sizeof default_types / sizeof *default_types;
    return default_types;
}

bool xps_gzip_accepts(const char *value, size_t len) noexcept {
    if (!value)
        return false;
    int gzip_q = -1, star_q = -1;
    size_t at = 0;
    while (at <= len) {
        size_t end = at;
        while (end < len && value[end] != ',')
            end++;
        span e = trim(value + at, end - at);
        at = end + 1;
        if (e.n == 0)
            continue; // "a, , b": empty elements are allowed (RFC 9110 §5.6.1)
        span name;
        int q = 0;
        if (!parse_element(e, &name, &q))
            return false;
        if (name.is("gzip") || name.is("x-gzip"))
            gzip_q = q > gzip_q ? q : gzip_q;
        else if (name.is("*"))
            star_q = q;
    }
    return gzip_q >= 0 ? gzip_q > 0 : star_q > 0;
}

bool xps_gzip_type_matches(const xps_gzip_settings_t *settings, const char *type,
                           size_t len) noexcept {
    if (!type)
        return false;
    span t = media_type(type, len);
    size_t n = 0;
    const char *const *list = settings && settings->mime_types
                                  ? (n = settings->n_mime_types, settings->mime_types)
                                  : xps_gzip_default_types(&n);
    for (size_t i = 0; i < n; i++)
        if (type_is(t, list[i]))
            return true;
    return false;
}

bool xps_gzip_weaken_etag(const char *etag, size_t len, char *out, size_t cap) noexcept {
    assert(out && cap > 0);
    out[0] = '\0';
    if (!etag)
        return false;
    bool weak = len >= 2 && etag[0] == 'W' && etag[1] == '/';
    size_t quoted = weak ? 2 : 0;
    if (len < quoted + 2 || etag[quoted] != '"' || etag[len - 1] != '"')
        return false;
    for (size_t i = quoted + 1; i + 1 < len; i++) // etagc: no '"', no controls
        if (etag[i] == '"' || static_cast<unsigned char>(etag[i]) < 0x21 || etag[i] == 0x7f)
            return false;
    size_t need = len + (weak ? 0 : 2) + 1;
    if (need > cap)
        return false;
    std::snprintf(out, cap, "%s%.*s", weak ? "" : "W/", static_cast<int>(len), etag);
    return true;
}

xps_gzip_choice_t xps_gzip_decide(const xps_gzip_settings_t *settings,
                                  const xps_gzip_response_t *r) noexcept {
    xps_gzip_choice_t c{false, false};
    if (!settings || !settings->enable || r->encoded ||
        !xps_gzip_type_matches(settings, r->content_type, r->content_type_len))
        return c;
    c.vary = true;
    bool whole = r->status >= 200 && r->status != 204 && r->status != 206 && r->status != 304;
    bool long_enough = !r->length_known || r->length >= settings->min_length;
    c.compress = whole && long_enough && r->http11 && (!r->length_known || r->length > 0) &&
                 xps_gzip_accepts(r->accept_encoding, r->accept_encoding_len);
    return c;
}

xps_gzip_t *xps_gzip_create(int level, bool chunked, int *error) noexcept {
    assert(error);
    auto *g = new (std::nothrow) xps_gzip_t;
    if (!g) {
        *error = XPS_E_NOMEM;
        return nullptr;
    }
    std::memset(&g->z, 0, sizeof g->z);
    g->chunked = chunked, g->finished = false, g->in_total = g->out_total = 0;
    int lv = level < 0 || level > 9 ? XPS_GZIP_DEFAULT_LEVEL : level;
    // windowBits 15 + 16: a gzip header and trailer around raw deflate
    // (RFC 1952), which every client that says "gzip" reads.
    int rc = deflateInit2(&g->z, lv, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    if (rc != Z_OK) {
        delete g;
        *error = rc == Z_MEM_ERROR ? XPS_E_NOMEM : XPS_E_FAIL;
        return nullptr;
    }
    *error = XPS_OK;
    return g;
}

void xps_gzip_destroy(xps_gzip_t *g) noexcept {
    if (!g)
        return;
    deflateEnd(&g->z);
    delete g;
}

namespace {

// Writes out[0..n) into the pipe: as one chunk (size line, data, CRLF),
// with the last-chunk after it when `end`; or bare.
int emit(xps_gzip_t *g, xps_pipe_t *to, size_t n, bool end) {
    if (n == 0 && !(end && g->chunked))
        return XPS_OK;
    char size_line[24] = "";
    int k = n > 0 && g->chunked ? std::snprintf(size_line, sizeof size_line, "%zx\r\n", n) : 0;
    size_t frame = static_cast<size_t>(k) + (n > 0 && g->chunked ? 2 : 0);
    size_t tail = end && g->chunked ? 5 : 0;
    xps_buffer_t *b = xps_buffer_create(frame + n + tail);
    if (!b)
        return XPS_E_NOMEM;
    char *at = xps_buffer_space(b);
    std::memcpy(at, size_line, static_cast<size_t>(k));
    at += k;
    std::memcpy(at, g->out, n);
    at += n;
    if (n > 0 && g->chunked)
        std::memcpy(at, "\r\n", 2), at += 2;
    if (tail)
        std::memcpy(at, "0\r\n\r\n", 5);
    xps_buffer_produce(b, frame + n + tail);
    g->out_total += n;
    return xps_pipe_write(to, b);
}

} // namespace

int xps_gzip_write(xps_gzip_t *g, xps_pipe_t *to, const void *in, size_t len,
                   bool last) noexcept {
    assert(g && to && (in || len == 0));
    if (g->finished)
        return XPS_E_FAIL;
    g->z.next_in = static_cast<Bytef *>(const_cast<void *>(in));
    g->z.avail_in = static_cast<uInt>(len);
    g->in_total += len;
    int flush = last ? Z_FINISH : Z_NO_FLUSH;
    for (;;) {
        g->z.next_out = reinterpret_cast<Bytef *>(g->out);
        g->z.avail_out = sizeof g->out;
        int rc = deflate(&g->z, flush);
        if (rc == Z_STREAM_ERROR)
            return XPS_E_FAIL;
        size_t n = sizeof g->out - g->z.avail_out;
        bool end = rc == Z_STREAM_END;
        int error = emit(g, to, n, end);
        if (error != XPS_OK)
            return error;
        if (end) {
            g->finished = true;
            return XPS_OK;
        }
        // Z_OK with room left in out: zlib took all the input and has
        // nothing more to say until fed (or finished) again.
        if (g->z.avail_out > 0 && g->z.avail_in == 0 && !last)
            return XPS_OK;
        if (rc == Z_BUF_ERROR && g->z.avail_in == 0 && !last)
            return XPS_OK;
    }
}

int xps_gzip_pump(xps_gzip_t *g, xps_pipe_t *to, xps_gzip_read_cb read, void *data,
                  bool *done) noexcept {
    assert(g && to && read && done);
    *done = g->finished;
    while (!g->finished && xps_pipe_room(to) > 0) {
        int error = XPS_OK;
        size_t n = read(data, g->in, sizeof g->in, &error);
        if (error != XPS_OK)
            return error;
        if ((error = xps_gzip_write(g, to, g->in, n, n == 0)) != XPS_OK)
            return error;
    }
    *done = g->finished;
    return XPS_OK;
}

uint64_t xps_gzip_bytes_in(const xps_gzip_t *g) noexcept { return g->in_total; }

uint64_t xps_gzip_bytes_out(const xps_gzip_t *g) noexcept { return g->out_total; }
