// core/xps_buffer.cpp — see xps_buffer.h.
#include "core/xps_buffer.h"

#include <cassert>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <new>

struct xps_buffer_s {
    char *block;      // the heap block, `capacity` bytes, owned
    size_t capacity;  // size of the block
    size_t start;     // offset of the first unread byte
    size_t end;       // offset one past the last unread byte
};

struct xps_buffer_list_s {
    std::deque<xps_buffer_t *> buffers; // owned, front is read first; none empty
    size_t len;                         // unread bytes across all of them
};

// ------------------------------------------------------------------ buffer

xps_buffer_t *xps_buffer_create(size_t capacity) noexcept {
    assert(capacity > 0);
    auto *b = static_cast<xps_buffer_t *>(std::malloc(sizeof(xps_buffer_t)));
    char *block = static_cast<char *>(std::malloc(capacity));
    if (!b || !block) {
        std::free(b);
        std::free(block);
        return nullptr;
    }
    *b = xps_buffer_t{block, capacity, 0, 0};
    return b;
}

xps_buffer_t *xps_buffer_copy_of(const void *bytes, size_t len) noexcept {
    xps_buffer_t *b = xps_buffer_create(len > 0 ? len : 1);
    if (b && len > 0) {
        std::memcpy(b->block, bytes, len);
        b->end = len;
    }
    return b;
}

void xps_buffer_destroy(xps_buffer_t *b) noexcept {
    if (!b)
        return;
    std::free(b->block);
    std::free(b);
}

char *xps_buffer_data(const xps_buffer_t *b) noexcept { return b->block + b->start; }
size_t xps_buffer_len(const xps_buffer_t *b) noexcept { return b->end - b->start; }
char *xps_buffer_space(const xps_buffer_t *b) noexcept { return b->block + b->end; }
size_t xps_buffer_room(const xps_buffer_t *b) noexcept { return b->capacity - b->end; }

void xps_buffer_produce(xps_buffer_t *b, size_t n) noexcept {
    assert(n <= xps_buffer_room(b));
    b->end += n;
}

void xps_buffer_consume(xps_buffer_t *b, size_t n) noexcept {
    assert(n <= xps_buffer_len(b));
    b->start += n;
    if (b->start == b->end)
        b->start = b->end = 0; // empty: the whole block is room again
}

// ------------------------------------------------------------- buffer list

xps_buffer_list_t *xps_buffer_list_create(void) noexcept {
    return new (std::nothrow) xps_buffer_list_t{};
}

void xps_buffer_list_destroy(xps_buffer_list_t *list) noexcept {
    if (!list)
        return;
    for (xps_buffer_t *b : list->buffers)
        xps_buffer_destroy(b);
    delete list;
}

int xps_buffer_list_append(xps_buffer_list_t *list, xps_buffer_t *b) noexcept {
    assert(b);
    size_t n = xps_buffer_len(b);
    if (n == 0) {
        xps_buffer_destroy(b);
        return XPS_OK;
    }
    try {
        list->buffers.push_back(b);
    } catch (const std::bad_alloc &) {
        xps_buffer_destroy(b);
        return XPS_E_NOMEM;
    }
    list->len += n;
    return XPS_OK;
}

size_t xps_buffer_list_len(const xps_buffer_list_t *list) noexcept { return list->len; }
size_t xps_buffer_list_count(const xps_buffer_list_t *list) noexcept { return list->buffers.size(); }

xps_buffer_t *xps_buffer_list_front(const xps_buffer_list_t *list) noexcept {
    return list->buffers.empty() ? nullptr : list->buffers.front();
}

xps_buffer_t *xps_buffer_list_pop(xps_buffer_list_t *list) noexcept {
    if (list->buffers.empty())
        return nullptr;
    xps_buffer_t *b = list->buffers.front();
    list->buffers.pop_front();
    list->len -= xps_buffer_len(b);
    return b;
}

size_t xps_buffer_list_peek(const xps_buffer_list_t *list, void *dst, size_t max) noexcept {
    size_t copied = 0;
    for (const xps_buffer_t *b : list->buffers) {
        if (copied == max)
            break;
        size_t n = xps_buffer_len(b) < max - copied ? xps_buffer_len(b) : max - copied;
        std::memcpy(static_cast<char *>(dst) + copied, xps_buffer_data(b), n);
        copied += n;
    }
    return copied;
}

void xps_buffer_list_consume(xps_buffer_list_t *list, size_t n) noexcept {
    assert(n <= list->len);
    list->len -= n;
    while (n > 0) {
        xps_buffer_t *b = list->buffers.front();
        size_t here = xps_buffer_len(b);
        if (n < here) {
            xps_buffer_consume(b, n);
            return;
        }
        n -= here;
        list->buffers.pop_front();
        xps_buffer_destroy(b);
    }
}

int xps_buffer_list_iov(const xps_buffer_list_t *list, struct iovec *iov, int max) noexcept {
    int n = 0;
    for (const xps_buffer_t *b : list->buffers) {
        if (n == max)
            break;
        iov[n].iov_base = xps_buffer_data(b);
        iov[n].iov_len = xps_buffer_len(b);
        n++;
    }
    return n;
}
