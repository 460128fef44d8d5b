// tests/fuzz/http_head.cpp — the request parser (http/xps_http_parser.h)
// on any bytes. Properties: the same verdict (code, status, head length,
// method, version, header count, body framing) whether the bytes come at
// once or in pieces split where the input's first byte says; every slice
// of the head inside the head; and for a head that parsed, the body
// decoded whole and byte by byte gives the same data and the same end.
#include "tests/fuzz/fuzz.h"

#include <cstring>
#include <string>

#include "http/xps_http_parser.h"

namespace {

struct verdict {
    int rc, status, method, version, body;
    size_t head_length, headers;
    uint64_t content_length;
};

bool inside(xps_http_slice_t s, size_t len) { return s.offset <= len && s.length <= len - s.offset; }

verdict parse(xps_http_parser_t *p, const char *buf, size_t len, size_t step) {
    xps_http_parser_reset(p);
    int rc = XPS_E_AGAIN;
    for (size_t have = step ? step : len; rc == XPS_E_AGAIN; have += step ? step : len) {
        rc = xps_http_parser_parse_head(p, buf, have < len ? have : len);
        if (have >= len)
            break;
    }
    verdict v{rc, xps_http_parser_status(p), 0, 0, 0, 0, 0, 0};
    if (rc == XPS_OK) {
        const xps_http_head_t *h = xps_http_parser_head(p);
        v.method = h->method, v.version = h->version, v.body = h->body;
        v.head_length = h->head_length, v.headers = h->header_count;
        v.content_length = h->content_length;
        FUZZ_REQUIRE(h->head_length <= len, "head_length %zu past the input (%zu)",
                     h->head_length, len);
        for (size_t i = 0; i < h->header_count; i++)
            FUZZ_REQUIRE(inside(h->headers[i].name, h->head_length) &&
                             inside(h->headers[i].value, h->head_length),
                         "header %zu's slices outside the head", i);
        FUZZ_REQUIRE(inside(h->target, h->head_length) && inside(h->path, h->head_length) &&
                         inside(h->query, h->head_length) && inside(h->host, h->head_length),
                     "a target slice outside the head");
    }
    return v;
}

// The body after the head: data and end, fed `step` bytes at a time.
std::string body(xps_http_parser_t *p, const char *in, size_t len, size_t step, int *end) {
    std::string out;
    size_t at = 0, avail = 0;
    *end = XPS_E_AGAIN;
    while (*end == XPS_E_AGAIN || *end == XPS_E_NEXT) {
        avail = step ? (at + step < len ? at + step : len) : len;
        size_t used = 0;
        xps_http_slice_t data{0, 0};
        int rc = xps_http_parser_parse_body(p, in + at, avail - at, &used, &data);
        FUZZ_REQUIRE(used <= avail - at, "consumed %zu of %zu", used, avail - at);
        if (rc == XPS_E_NEXT) {
            FUZZ_REQUIRE(inside(data, avail - at), "body data outside the input");
            out.append(in + at + data.offset, data.length);
        }
        at += used;
        *end = rc;
        if (rc == XPS_E_AGAIN && avail == len)
            break; // every byte given: more would be needed
        if (rc == XPS_E_NEXT && used == 0 && data.length == 0)
            break; // no progress possible
    }
    return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    size_t step = data[0] % 17; // 0: all at once
    const char *buf = reinterpret_cast<const char *>(data + 1);
    size_t len = size - 1;
    xps_http_limits_t limits = xps_http_default_limits();
    limits.max_body = 1 << 16;
    xps_http_parser_t *a = xps_http_parser_create(&limits);
    xps_http_parser_t *b = xps_http_parser_create(&limits);
    verdict whole = parse(a, buf, len, 0);
    verdict split = parse(b, buf, len, step ? step : 1);
    FUZZ_REQUIRE(whole.rc == split.rc && whole.status == split.status &&
                     whole.head_length == split.head_length && whole.method == split.method &&
                     whole.version == split.version && whole.headers == split.headers &&
                     whole.body == split.body && whole.content_length == split.content_length,
                 "whole: rc %d status %d head %zu; in steps of %zu: rc %d status %d head %zu",
                 whole.rc, whole.status, whole.head_length, step ? step : 1, split.rc,
                 split.status, split.head_length);
    if (whole.rc == XPS_OK) {
        int end_a = 0, end_b = 0;
        std::string da = body(a, buf + whole.head_length, len - whole.head_length, 0, &end_a);
        std::string db = body(b, buf + whole.head_length, len - whole.head_length, 1, &end_b);
        FUZZ_REQUIRE(end_a == end_b && da == db,
                     "body whole: end %d, %zu bytes; byte by byte: end %d, %zu bytes", end_a,
                     da.size(), end_b, db.size());
    }
    xps_http_parser_destroy(a);
    xps_http_parser_destroy(b);
    return 0;
}
