// http/xps_http_request.cpp — see xps_http_request.h for the contract.
//
// [stage 11] The parser's slices become C strings in ONE block: create
// measures every part it keeps, allocates once, and copies each part with a
// NUL after it. The header table is a second allocation of pointer pairs
// into that block. So a request costs three allocations (these two and the
// object), not one per header or per string.
#include "http/xps_http_request.h"

#include <cassert>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

namespace {

// One header line, both strings inside the request's block.
struct field {
    const char *name;  // as sent, NUL-terminated
    const char *value; // without surrounding blanks, NUL-terminated
};

// ASCII case-insensitive equality of two C strings (RFC 9110 §5.1: field
// names are case-insensitive; strcasecmp would follow the locale).
bool same_name(const char *a, const char *b) {
    for (;; a++, b++) {
        unsigned char x = static_cast<unsigned char>(*a), y = static_cast<unsigned char>(*b);
        if (x >= 'A' && x <= 'Z')
            x = static_cast<unsigned char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = static_cast<unsigned char>(y - 'A' + 'a');
        if (x != y)
            return false;
        if (x == '\0')
            return true;
    }
}

// Fills the block front to back: each copy is followed by a NUL.
struct block_writer {
    char *at;        // where the next string goes
    const char *buf; // the head buffer the slices point into

    const char *copy(xps_http_slice_t s) {
        char *start = at;
        std::memcpy(at, buf + s.offset, s.length);
        at += s.length;
        *at++ = '\0';
        return start;
    }
};

// Bytes the block needs: every kept slice plus its NUL, and room for the
// normalised path (never longer than the raw one, plus "/" and the NUL).
size_t block_size(const xps_http_head_t *head) {
    size_t n = head->method_name.length + 1 + head->target.length + 1 +
               head->query.length + 1 + head->host.length + 1 + head->path.length + 2;
    for (size_t i = 0; i < head->header_count; i++)
        n += head->headers[i].name.length + 1 + head->headers[i].value.length + 1;
    return n;
}

} // namespace

struct xps_http_request_s {
    int method;                    // enum xps_http_method
    int version;                   // enum xps_http_version
    uint16_t port;                 // from the target or Host, 0 if none
    bool keep_alive;               // RFC 9112 §9.3, decided by the parser
    std::unique_ptr<char[]> block; // every string below lives here
    const char *method_name;       // "GET"
    const char *target;            // the request-target as sent
    const char *path;              // decoded, normalised, absolute
    const char *query;             // after '?', or nullptr without one
    const char *host;              // the host to route by, maybe ""
    std::vector<field> headers;    // in the order received
};

// ------------------------------------------------------------ lifecycle

xps_http_request_t *xps_http_request_create(const xps_http_head_t *head, const char *buf,
                                            int *error) noexcept {
    assert(head && buf);
    int dummy;
    int &err = error ? *error : dummy;
    std::unique_ptr<xps_http_request_t> req(new (std::nothrow) xps_http_request_t{});
    size_t size = block_size(head);
    if (req)
        req->block.reset(new (std::nothrow) char[size]);
    if (!req || !req->block) {
        err = XPS_E_NOMEM;
        return nullptr;
    }
    block_writer w{req->block.get(), buf};
    req->method_name = w.copy(head->method_name);
    req->target = w.copy(head->target);
    req->host = w.copy(head->host);
    const char *query = w.copy(head->query);
    req->query = head->has_query ? query : nullptr;
    // The path last: its decoded length is only known once it is written.
    size_t path_len = 0;
    size_t room = static_cast<size_t>(req->block.get() + size - w.at);
    err = xps_http_path_normalize(buf + head->path.offset, head->path.length, w.at, room,
                                  &path_len);
    if (err != XPS_OK)
        return nullptr; // XPS_E_PERMISSION or XPS_E_INVAL; LIMIT cannot happen (room >= len + 2)
    req->path = w.at;
    w.at += path_len + 1;
    try {
        req->headers.reserve(head->header_count);
    } catch (const std::bad_alloc &) {
        err = XPS_E_NOMEM;
        return nullptr;
    }
    for (size_t i = 0; i < head->header_count; i++) {
        const char *name = w.copy(head->headers[i].name);
        req->headers.push_back({name, w.copy(head->headers[i].value)}); // reserved: no throw
    }
    req->method = head->method;
    req->version = head->version;
    req->port = head->port;
    req->keep_alive = head->keep_alive;
    err = XPS_OK;
    return req.release();
}

void xps_http_request_destroy(xps_http_request_t *req) noexcept { delete req; }

// ------------------------------------------------------------ accessors

int xps_http_request_method(const xps_http_request_t *req) noexcept {
    assert(req);
    return req->method;
}

const char *xps_http_request_method_name(const xps_http_request_t *req) noexcept {
    assert(req);
    return req->method_name;
}

const char *xps_http_request_target(const xps_http_request_t *req) noexcept {
    assert(req);
    return req->target;
}

const char *xps_http_request_path(const xps_http_request_t *req) noexcept {
    assert(req);
    return req->path;
}

const char *xps_http_request_query(const xps_http_request_t *req) noexcept {
    assert(req);
    return req->query;
}

int xps_http_request_version(const xps_http_request_t *req) noexcept {
    assert(req);
    return req->version;
}

const char *xps_http_request_host(const xps_http_request_t *req) noexcept {
    assert(req);
    return req->host;
}

uint16_t xps_http_request_port(const xps_http_request_t *req) noexcept {
    assert(req);
    return req->port;
}

const char *xps_http_request_header(const xps_http_request_t *req, const char *name) noexcept {
    assert(req && name);
    for (const field &f : req->headers) // a linear scan: a head has a few dozen lines at most
        if (same_name(f.name, name))
            return f.value;
    return nullptr;
}

size_t xps_http_request_header_count(const xps_http_request_t *req) noexcept {
    assert(req);
    return req->headers.size();
}

const char *xps_http_request_header_name(const xps_http_request_t *req, size_t i) noexcept {
    assert(req && i < req->headers.size());
    return req->headers[i].name;
}

const char *xps_http_request_header_value(const xps_http_request_t *req, size_t i) noexcept {
    assert(req && i < req->headers.size());
    return req->headers[i].value;
}

bool xps_http_request_keep_alive(const xps_http_request_t *req) noexcept {
    assert(req);
    return req->keep_alive;
}
