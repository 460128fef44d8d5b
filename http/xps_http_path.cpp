// http/xps_http_path.cpp — the helpers of xps_http_parser.h, which work
// on a parsed head's slices: the path normalised (percent-decoding, then
// dot-segment removal that can never climb above "/"), a header found by
// name, a slice compared without case, a token found in a comma-separated
// list. They hold no parser state; the head machine uses the last two.
// Only xps_http_path_normalize writes, into the caller's output buffer:
// the one place the parser's work produces bytes.
#include "http/xps_http_parser.h"
#include "http/xps_http_parser_internal.hpp"

#include <cassert>

using namespace parser_detail; // the shared states, classes and helpers

namespace {

// A segment out[seg..o) has ended (at a '/' or the end of the path): drop
// it if it is ".", drop it and the one before if it is "..".
int end_segment(char *out, size_t seg, size_t *o) {
    size_t n = *o - seg;
    if (n == 1 && out[seg] == '.') {
        *o = seg;
    } else if (n == 2 && out[seg] == '.' && out[seg + 1] == '.') {
        if (seg == 1)
            return XPS_E_PERMISSION; // above "/": refused, never clamped
        size_t start = seg - 1;      // the '/' that ends the previous segment
        while (start > 0 && out[start - 1] != '/')
            start--;
        *o = start;
    }
    return XPS_OK;
}

} // namespace

int xps_http_path_normalize(const char *raw, size_t len, char *out, size_t cap,
                            size_t *out_len) noexcept {
    assert((raw || len == 0) && out && out_len);
    if (cap < 2)
        return XPS_E_LIMIT;
    size_t o = 0, seg = 1;
    out[o++] = '/';
    for (size_t i = 0; i <= len;) {
        unsigned char c = '/'; // the end of the path ends the last segment
        if (i < len && raw[i] == '%') {
            if (i + 2 >= len || !is_hex(raw[i + 1]) || !is_hex(raw[i + 2]))
                return XPS_E_INVAL;
            c = static_cast<unsigned char>(hex_value(raw[i + 1]) * 16 + hex_value(raw[i + 2]));
            i += 3;
        } else if (i < len) {
            c = static_cast<unsigned char>(raw[i++]);
        } else {
            i++;
        }
        if (c < 0x20 || c == 0x7f) // NUL cuts a C string; controls have no place in a name
            return XPS_E_INVAL;
        if (c != '/') {
            if (o + 1 >= cap)
                return XPS_E_LIMIT;
            out[o++] = static_cast<char>(c);
            continue;
        }
        if (end_segment(out, seg, &o) != XPS_OK)
            return XPS_E_PERMISSION;
        if (o > seg && i <= len) { // a real segment: keep its '/' (and a trailing one)
            if (o + 1 >= cap)
                return XPS_E_LIMIT;
            out[o++] = '/';
        }
        seg = o;
    }
    out[o] = '\0';
    *out_len = o;
    return XPS_OK;
}

// -------------------------------------------------------------- helpers

const xps_http_header_t *xps_http_head_find(const xps_http_head_t *head, const char *buf,
                                            const char *name,
                                            const xps_http_header_t *after) noexcept {
    assert(head && buf && name);
    size_t i = after ? static_cast<size_t>(after - head->headers) + 1 : 0;
    for (; i < head->header_count; i++)
        if (xps_http_slice_iequals(buf, head->headers[i].name, name))
            return &head->headers[i];
    return nullptr;
}

bool xps_http_slice_iequals(const char *buf, xps_http_slice_t slice, const char *text) noexcept {
    assert(buf && text);
    return iequals(buf + slice.offset, slice.length, text);
}

bool xps_http_list_has_token(const char *buf, xps_http_slice_t list, const char *token) noexcept {
    assert(buf && token);
    bool found = false;
    for_each_element(buf, list, [&](size_t off, size_t n) {
        found = iequals(buf + off, n, token);
        return !found;
    });
    return found;
}
