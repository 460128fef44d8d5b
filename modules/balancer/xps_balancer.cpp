// modules/balancer/xps_balancer.cpp — see xps_balancer.h. A few numbers
// per upstream and one cursor; every choice is a scan of at most 64
// upstreams, which costs less than the hash lookup a cleverer structure
// would need for the handful of upstreams a route has.
#include "modules/balancer/xps_balancer.h"

#include <cassert>
#include <cstdint>
#include <cstring>
#include <new>
#include <vector>

namespace {

struct upstream_state {
    size_t in_flight = 0;   // begin() minus end()
    unsigned fails = 0;     // failures in a row since the last success
    uint64_t down_until = 0; // not chosen before this time (ms); 0: never was
};

} // namespace

struct xps_balancer_s {
    xps_balancer_options_t options;
    std::vector<upstream_state> ups;
    size_t cursor = 0; // round robin: where the next scan starts
};

namespace {

bool eligible(const xps_balancer_t *b, size_t i, uint64_t tried, uint64_t now_ms) {
    return !(tried >> i & 1) && !xps_balancer_is_down(b, i, now_ms);
}

// The first eligible upstream from `start` on, wrapping; NONE if none.
size_t first_from(const xps_balancer_t *b, size_t start, uint64_t tried, uint64_t now_ms) {
    size_t n = b->ups.size();
    for (size_t k = 0; k < n; k++) {
        size_t i = (start + k) % n;
        if (eligible(b, i, tried, now_ms))
            return i;
    }
    return XPS_BALANCER_NONE;
}

// Fewest in flight; the first of the equals from the cursor on.
size_t least_loaded(const xps_balancer_t *b, uint64_t tried, uint64_t now_ms) {
    size_t n = b->ups.size(), best = XPS_BALANCER_NONE;
    for (size_t k = 0; k < n; k++) {
        size_t i = (b->cursor + k) % n;
        if (eligible(b, i, tried, now_ms) &&
            (best == XPS_BALANCER_NONE || b->ups[i].in_flight < b->ups[best].in_flight))
            best = i;
    }
    return best;
}

// FNV-1a over the family and the bytes that name the client: all 4 of an
// IPv4 address, the first 8 (the /64) of an IPv6 one.
uint32_t address_hash(const xps_ipfilter_addr_t *a) {
    uint32_t h = 2166136261u;
    auto mix = [&h](unsigned char byte) { h = (h ^ byte) * 16777619u; };
    mix(static_cast<unsigned char>(a->family));
    size_t len = a->family == 4 ? 4 : 8;
    for (size_t i = 0; i < len; i++)
        mix(a->bytes[i]);
    return h;
}

} // namespace

xps_balancer_t *xps_balancer_create(size_t count, const xps_balancer_options_t *options,
                                    int *error) noexcept {
    assert(options && error);
    // The policy comes from C, where any int fits the enum: read it as the
    // int it is (in C++ loading an out-of-range enum value is undefined).
    static_assert(sizeof(xps_balancer_policy_t) == sizeof(int), "a C enum is an int");
    int policy = 0;
    std::memcpy(&policy, &options->policy, sizeof policy);
    if (count == 0 || count > XPS_BALANCER_MAX_UPSTREAMS || options->max_fails == 0 ||
        options->fail_timeout_ms == 0 || policy < XPS_BALANCER_ROUND_ROBIN ||
        policy > XPS_BALANCER_IP_HASH) {
        *error = XPS_E_INVAL;
        return nullptr;
    }
    auto *b = new (std::nothrow) xps_balancer_t{};
    if (!b) {
        *error = XPS_E_NOMEM;
        return nullptr;
    }
    try {
        b->ups.resize(count);
    } catch (const std::bad_alloc &) {
        delete b;
        *error = XPS_E_NOMEM;
        return nullptr;
    }
    b->options = *options;
    *error = XPS_OK;
    return b;
}

void xps_balancer_destroy(xps_balancer_t *b) noexcept { delete b; }

size_t xps_balancer_choose(xps_balancer_t *b, const xps_ipfilter_addr_t *client, uint64_t tried,
                           uint64_t now_ms) noexcept {
    assert(b);
    size_t n = b->ups.size(), i;
    bool hashed = b->options.policy == XPS_BALANCER_IP_HASH && client &&
                  (client->family == 4 || client->family == 6);
    if (hashed)
        return first_from(b, address_hash(client) % n, tried, now_ms); // the cursor stays
    if (b->options.policy == XPS_BALANCER_LEAST_CONNECTIONS)
        i = least_loaded(b, tried, now_ms);
    else
        i = first_from(b, b->cursor, tried, now_ms);
    if (i != XPS_BALANCER_NONE)
        b->cursor = (i + 1) % n;
    return i;
}

void xps_balancer_begin(xps_balancer_t *b, size_t i) noexcept {
    assert(b && i < b->ups.size());
    b->ups[i].in_flight++;
}

void xps_balancer_end(xps_balancer_t *b, size_t i) noexcept {
    assert(b && i < b->ups.size() && b->ups[i].in_flight > 0);
    b->ups[i].in_flight--;
}

void xps_balancer_failed(xps_balancer_t *b, size_t i, uint64_t now_ms) noexcept {
    assert(b && i < b->ups.size());
    if (b->ups.size() == 1)
        return; // the only upstream is never down: there is nowhere else to go
    upstream_state &u = b->ups[i];
    if (u.fails < b->options.max_fails)
        u.fails++;
    if (u.fails >= b->options.max_fails) // down, or down again after probation
        u.down_until = now_ms + b->options.fail_timeout_ms;
}

void xps_balancer_succeeded(xps_balancer_t *b, size_t i) noexcept {
    assert(b && i < b->ups.size());
    b->ups[i].fails = 0;
    b->ups[i].down_until = 0;
}

size_t xps_balancer_count(const xps_balancer_t *b) noexcept { return b->ups.size(); }

bool xps_balancer_is_down(const xps_balancer_t *b, size_t i, uint64_t now_ms) noexcept {
    assert(b && i < b->ups.size());
    const upstream_state &u = b->ups[i];
    return u.fails >= b->options.max_fails && now_ms < u.down_until;
}

bool xps_balancer_is_suspect(const xps_balancer_t *b, size_t i) noexcept {
    assert(b && i < b->ups.size());
    return b->ups[i].fails >= b->options.max_fails;
}

size_t xps_balancer_in_flight(const xps_balancer_t *b, size_t i) noexcept {
    assert(b && i < b->ups.size());
    return b->ups[i].in_flight;
}

const char *xps_balancer_policy_name(xps_balancer_policy_t policy) noexcept {
    switch (policy) {
    case XPS_BALANCER_ROUND_ROBIN:
        return "round_robin";
    case XPS_BALANCER_LEAST_CONNECTIONS:
        return "least_connections";
    case XPS_BALANCER_IP_HASH:
        return "ip_hash";
    }
    return "?";
}
