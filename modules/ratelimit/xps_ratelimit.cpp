// modules/ratelimit/xps_ratelimit.cpp — see xps_ratelimit.h.
//
// Layout: buckets live in one vector and name each other by index (the
// vector may grow and move; indices stay valid). Each bucket is on two
// lists: its hash chain (singly linked, from `heads`) and the recency list
// (doubly linked, most recent first). A freed bucket goes on a free list
// and is reused before the vector grows, so the vector never holds more
// than max_entries buckets.
//
// Tokens are counted in millionths (one token = 1,000,000) so that a rate
// given in thousandths of a token per second is a whole number of
// millionths per millisecond: rate_milli. No floating point, so the fake
// clock of the unit test gives exact answers.
#include "modules/ratelimit/xps_ratelimit.h"

#include <sys/random.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <new>
#include <vector>

#include "core/xps_logger.h"

namespace {

constexpr uint32_t none = UINT32_MAX;
constexpr uint64_t one_token = 1000000;
// Idle buckets looked at per call, from the least recent end: enough to
// keep up with the calls that create buckets (one each), and a bound.
constexpr int expiries_per_call = 2;

struct bucket {
    unsigned char addr[XPS_RATELIMIT_KEY_MAX];
    uint8_t addr_len;
    uint64_t route;
    uint64_t tokens;  // millionths of a token
    uint64_t cap;     // burst in millionths
    uint64_t rate;    // millionths per millisecond (= rule.rate_milli)
    uint64_t last_ms; // when tokens was last brought up to date
    uint64_t full_at; // when the bucket is full again if left alone
    uint32_t chain;   // next in the hash chain
    uint32_t newer, older; // recency list
    uint32_t slot;    // its chain's head index
};

// Whether the bucket is for `key`.
bool same(const bucket &b, const xps_ratelimit_key_t *key) {
    return b.route == key->route && b.addr_len == key->addr_len &&
           (key->addr_len == 0 || std::memcmp(b.addr, key->addr, key->addr_len) == 0);
}

// Time for `missing` millionths at `rate` per ms, rounded up.
uint64_t ms_for(uint64_t missing, uint64_t rate) { return (missing + rate - 1) / rate; }

} // namespace

struct xps_ratelimit_s {
    size_t max_entries;
    uint64_t seed;
    std::vector<uint32_t> heads; // power-of-two size >= max_entries
    std::vector<bucket> buckets;
    uint32_t free_list = none;   // through `chain`
    uint32_t newest = none, oldest = none;
    size_t count = 0;

    uint32_t slot_of(const xps_ratelimit_key_t *key) const {
        // A multiply-xorshift mix over the key's bytes, started from a
        // random seed: the chains a key falls in differ from run to run.
        uint64_t h = seed ^ (key->route * 0x9e3779b97f4a7c15ull) ^ key->addr_len;
        for (size_t i = 0; i < key->addr_len; i += 8) {
            uint64_t w = 0;
            std::memcpy(&w, key->addr + i, std::min<size_t>(8, key->addr_len - i));
            h ^= w;
            h *= 0xff51afd7ed558ccdull;
            h ^= h >> 33;
        }
        h *= 0xc4ceb9fe1a85ec53ull;
        h ^= h >> 29;
        return static_cast<uint32_t>(h & (heads.size() - 1));
    }

    void unlink_recency(uint32_t i) {
        bucket &b = buckets[i];
        if (b.newer != none)
            buckets[b.newer].older = b.older;
        else
            newest = b.older;
        if (b.older != none)
            buckets[b.older].newer = b.newer;
        else
            oldest = b.newer;
        b.newer = b.older = none;
    }

    void push_newest(uint32_t i) {
        bucket &b = buckets[i];
        b.newer = none;
        b.older = newest;
        if (newest != none)
            buckets[newest].newer = i;
        newest = i;
        if (oldest == none)
            oldest = i;
    }

    void remove(uint32_t i) {
        uint32_t *link = &heads[buckets[i].slot];
        while (*link != i)
            link = &buckets[*link].chain;
        *link = buckets[i].chain;
        unlink_recency(i);
        buckets[i].chain = free_list;
        free_list = i;
        count--;
    }

    uint32_t find(const xps_ratelimit_key_t *key, uint32_t slot) const {
        for (uint32_t i = heads[slot]; i != none; i = buckets[i].chain)
            if (same(buckets[i], key))
                return i;
        return none;
    }

    // A fresh bucket for `key` (full), dropping the least recent one at
    // the cap. none when out of memory.
    uint32_t add(const xps_ratelimit_key_t *key, uint32_t slot) {
        if (count >= max_entries)
            remove(oldest);
        uint32_t i = free_list;
        if (i != none) {
            free_list = buckets[i].chain;
        } else {
            try {
                buckets.emplace_back();
            } catch (const std::bad_alloc &) {
                return none;
            }
            i = static_cast<uint32_t>(buckets.size() - 1);
        }
        bucket &b = buckets[i];
        b = bucket{};
        if (key->addr_len > 0) // (an empty key may come with no pointer)
            std::memcpy(b.addr, key->addr, key->addr_len);
        b.addr_len = static_cast<uint8_t>(key->addr_len);
        b.route = key->route;
        b.slot = slot;
        b.chain = heads[slot];
        heads[slot] = i;
        b.newer = b.older = none;
        push_newest(i);
        count++;
        return i;
    }
};

xps_ratelimit_t *xps_ratelimit_create(size_t max_entries, int *error) noexcept {
    if (max_entries == 0)
        max_entries = XPS_RATELIMIT_MAX_ENTRIES;
    if (max_entries >= none) {
        *error = XPS_E_INVAL;
        return nullptr;
    }
    auto *t = new (std::nothrow) xps_ratelimit_s{};
    if (!t) {
        *error = XPS_E_NOMEM;
        return nullptr;
    }
    t->max_entries = max_entries;
    size_t slots = 16;
    while (slots < max_entries)
        slots *= 2;
    try {
        t->heads.assign(slots, none);
    } catch (const std::bad_alloc &) {
        delete t;
        *error = XPS_E_NOMEM;
        return nullptr;
    }
    if (getrandom(&t->seed, sizeof t->seed, GRND_NONBLOCK) != sizeof t->seed)
        t->seed = static_cast<uint64_t>(time(nullptr)) * 0x9e3779b97f4a7c15ull ^
                  reinterpret_cast<uintptr_t>(t); // no entropy yet: still differs per run
    *error = XPS_OK;
    return t;
}

void xps_ratelimit_destroy(xps_ratelimit_t *t) noexcept { delete t; }

bool xps_ratelimit_take(xps_ratelimit_t *t, const xps_ratelimit_rule_t *rule,
                        const xps_ratelimit_key_t *key, uint64_t now_ms,
                        uint32_t *retry_after_s) noexcept {
    if (!t || !rule || !key || rule->rate_milli == 0 || rule->burst == 0 ||
        key->addr_len > XPS_RATELIMIT_KEY_MAX || (key->addr_len && !key->addr)) {
        XPS_LOG(XPS_LOG_WARN, "ratelimit", "bad rule or key: request allowed");
        return true;
    }
    // Forget a few buckets that have refilled while nobody used them.
    for (int n = 0; n < expiries_per_call && t->oldest != none &&
                    t->buckets[t->oldest].full_at <= now_ms;
         n++)
        t->remove(t->oldest);

    uint32_t slot = t->slot_of(key);
    uint32_t i = t->find(key, slot);
    uint64_t cap = static_cast<uint64_t>(rule->burst) * one_token;
    uint64_t rate = rule->rate_milli;
    if (i == none) {
        if ((i = t->add(key, slot)) == none) {
            XPS_LOG(XPS_LOG_WARN, "ratelimit", "out of memory: request allowed");
            return true;
        }
        t->buckets[i].tokens = cap;
        t->buckets[i].last_ms = now_ms;
    } else {
        t->unlink_recency(i);
        t->push_newest(i);
    }
    bucket &b = t->buckets[i];
    // The rule is the route's; a reloaded config may change it: the bucket
    // follows the current one, keeping what it holds up to the new size.
    b.cap = cap, b.rate = rate;
    if (b.tokens > cap)
        b.tokens = cap;
    if (now_ms > b.last_ms) {
        uint64_t elapsed = now_ms - b.last_ms;
        uint64_t missing = cap - b.tokens;
        b.tokens = elapsed >= ms_for(missing, rate) ? cap : b.tokens + elapsed * rate;
        b.last_ms = now_ms;
    }
    bool allowed = b.tokens >= one_token;
    if (allowed)
        b.tokens -= one_token;
    b.full_at = b.last_ms + ms_for(cap - b.tokens, rate);
    if (!allowed && retry_after_s) {
        uint64_t ms = ms_for(one_token - b.tokens, rate);
        uint64_t s = (ms + 999) / 1000;
        *retry_after_s = static_cast<uint32_t>(std::clamp<uint64_t>(s, 1, UINT32_MAX));
    }
    return allowed;
}

size_t xps_ratelimit_count(const xps_ratelimit_t *t) noexcept { return t ? t->count : 0; }

size_t xps_ratelimit_capacity(const xps_ratelimit_t *t) noexcept {
    return t ? t->max_entries : 0;
}
