// modules/ipfilter/xps_ipfilter.cpp — see xps_ipfilter.h. The lists as
// binary prefix tries: parsing an entry turns it into (bits, length), and
// a block of length n is a path of n edges from the root, one per bit,
// whose last node is marked `end`. A client is on a list when its
// address's path passes through an `end` node. [stage 14]
//
//   entries 10.0.0.0/8 and 10.1.2.3 (10 = 00001010):
//   root ─0─ • ─0─ • ─0─ • ─0─ • ─1─ • ─0─ • ─1─ • ─0─ [end: 10/8]
//   client 10.1.2.3 walks the same eight edges and stops at the end
//   node: on the list. Client 11.0.0.1 (00001011) finds no edge 1 at
//   the eighth step: not on it.
//
// The /32 of 10.1.2.3 lies below the /8's end: it changes nothing, since
// matching stops at the first `end` on the way, so insert() does not even
// build it.
#include "modules/ipfilter/xps_ipfilter.h"

#include <arpa/inet.h>

#include <cassert>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <string_view>
#include <vector>

namespace {

// A binary trie of prefixes of one address family. Nodes live in one
// vector and name their children by index (0 = none: the root, index 0,
// is nobody's child), so a filter is a few contiguous allocations and
// destroying it is freeing them.
class prefix_trie {
  public:
    // Adds the block of the first `bits` bits of `key`. May throw
    // std::bad_alloc (add() catches it).
    void insert(const unsigned char *key, unsigned bits) {
        if (nodes_.empty())
            nodes_.emplace_back();
        uint32_t n = 0;
        for (unsigned i = 0; i < bits; i++) {
            if (nodes_[n].end)
                return; // a shorter block on the way already covers this one
            unsigned b = bit(key, i);
            if (nodes_[n].child[b] == 0) {
                uint32_t next = static_cast<uint32_t>(nodes_.size());
                nodes_.emplace_back(); // may move nodes_: index again below
                nodes_[n].child[b] = next;
            }
            n = nodes_[n].child[b];
        }
        // The longer blocks below are now covered: unlink them (their
        // nodes stay in the vector, unreachable; a config is loaded once).
        nodes_[n].end = true;
        nodes_[n].child[0] = nodes_[n].child[1] = 0;
    }

    // Whether some block holds the `bits`-bit address `key`: one step per
    // bit, stopping at the first block end or the first missing child.
    bool covers(const unsigned char *key, unsigned bits) const {
        if (nodes_.empty())
            return false;
        uint32_t n = 0;
        for (unsigned i = 0; i < bits; i++) {
            if (nodes_[n].end)
                return true;
            n = nodes_[n].child[bit(key, i)];
            if (n == 0)
                return false;
        }
        return nodes_[n].end;
    }

  private:
    struct node {
        uint32_t child[2] = {0, 0}; // the next bit 0 / 1; 0: none
        bool end = false;           // a listed block ends here
    };

    static unsigned bit(const unsigned char *key, unsigned i) {
        return (key[i / 8] >> (7 - i % 8)) & 1u;
    }

    std::vector<node> nodes_; // [0] is the root once something is inserted
};

// One parsed entry: the block's first `bits` bits of `addr`.
struct block {
    xps_ipfilter_addr_t addr;
    unsigned bits;
};

unsigned address_bits(int family) { return family == 4 ? 32 : 128; }

const unsigned char v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

// text → address (family 4 or 6), with an IPv4-mapped IPv6 address
// (::ffff:0:0/96, RFC 4291 §2.5.5.2) turned into the IPv4 one it carries.
// *was_mapped says it was (a mapped block's prefix then counts from bit 96).
bool parse_address(const std::string &text, xps_ipfilter_addr_t *out, bool *was_mapped) {
    *out = xps_ipfilter_addr_t{};
    *was_mapped = false;
    if (inet_pton(AF_INET, text.c_str(), out->bytes) == 1) {
        out->family = 4;
        return true;
    }
    unsigned char v6[16];
    if (inet_pton(AF_INET6, text.c_str(), v6) != 1)
        return false;
    if (std::memcmp(v6, v4_mapped_prefix, sizeof v4_mapped_prefix) == 0) {
        out->family = 4;
        std::memcpy(out->bytes, v6 + 12, 4);
        *was_mapped = true;
        return true;
    }
    out->family = 6;
    std::memcpy(out->bytes, v6, 16);
    return true;
}

// Whether any bit of `a` past the first `bits` is set.
bool has_host_bits(const xps_ipfilter_addr_t &a, unsigned bits) {
    unsigned total = address_bits(a.family);
    for (unsigned i = bits; i < total; i++)
        if ((a.bytes[i / 8] >> (7 - i % 8)) & 1u)
            return true;
    return false;
}

// The block written as it should have been: `a` with the bits past `bits`
// cleared, "/bits" after it.
std::string network_text(xps_ipfilter_addr_t a, unsigned bits) {
    unsigned total = address_bits(a.family);
    for (unsigned i = bits; i < total; i++)
        a.bytes[i / 8] &= static_cast<unsigned char>(~(1u << (7 - i % 8)));
    char text[INET6_ADDRSTRLEN];
    inet_ntop(a.family == 4 ? AF_INET : AF_INET6, a.bytes, text, sizeof text);
    return std::string(text) + "/" + std::to_string(bits);
}

// "addr" or "addr/bits" → a block, or the reason it is not one.
bool parse_block(std::string_view entry, block *out, std::string *why) {
    size_t slash = entry.find('/');
    bool mapped = false;
    if (!parse_address(std::string(entry.substr(0, slash)), &out->addr, &mapped)) {
        *why = "expected an IPv4 or IPv6 address, optionally with /bits "
               "(\"10.0.0.0/8\", \"fd00::/8\")";
        return false;
    }
    unsigned max = mapped ? 128 : address_bits(out->addr.family);
    out->bits = max;
    if (slash != std::string_view::npos) {
        std::string_view digits = entry.substr(slash + 1);
        if (digits.empty() || digits.size() > 3 ||
            digits.find_first_not_of("0123456789") != std::string_view::npos) {
            *why = "the prefix length after '/' must be a number of bits (\"10.0.0.0/8\")";
            return false;
        }
        out->bits = static_cast<unsigned>(std::stoul(std::string(digits)));
    }
    if (out->bits > max) {
        *why = "/" + std::to_string(out->bits) + " is longer than an " +
               (max == 32 ? "IPv4 address (32 bits)" : "IPv6 address (128 bits)");
        return false;
    }
    if (mapped && out->bits < 96) { // it spans more than the mapped IPv4 space
        *why = "an IPv4-mapped block (::ffff:a.b.c.d) needs a prefix of 96 bits or more; "
               "write the IPv4 block instead (\"10.0.0.0/8\")";
        return false;
    }
    if (mapped)
        out->bits -= 96; // ::ffff:10.0.0.0/104 is 10.0.0.0/8
    if (has_host_bits(out->addr, out->bits)) {
        *why = "bits are set past the /" + std::to_string(out->bits) +
               " prefix (the block is \"" + network_text(out->addr, out->bits) +
               "\"; for one address, leave out the /bits)";
        return false;
    }
    return true;
}

void copy_why(const std::string &s, char *why, size_t why_size) {
    if (why == nullptr || why_size == 0)
        return;
    std::snprintf(why, why_size, "%s", s.c_str());
}

} // namespace

// Two lists of two families each. Immutable once the config has loaded.
struct xps_ipfilter_s {
    prefix_trie v4[2];     // [list]: IPv4 blocks (and mapped IPv6 ones)
    prefix_trie v6[2];     // [list]: IPv6 blocks
    size_t count[2] = {0, 0}; // [list]: entries added
};

xps_ipfilter_t *xps_ipfilter_create(int *error) noexcept {
    assert(error);
    auto *f = new (std::nothrow) xps_ipfilter_s{};
    *error = f ? XPS_OK : XPS_E_NOMEM;
    return f;
}

void xps_ipfilter_destroy(xps_ipfilter_t *filter) noexcept { delete filter; }

int xps_ipfilter_add(xps_ipfilter_t *filter, xps_ipfilter_list_t list, const char *entry,
                     char *why, size_t why_size) noexcept {
    assert(filter && entry && (list == XPS_IPFILTER_WHITELIST || list == XPS_IPFILTER_BLACKLIST));
    copy_why("", why, why_size);
    try {
        block b{};
        std::string reason;
        if (!parse_block(entry, &b, &reason)) {
            copy_why(reason, why, why_size);
            return XPS_E_INVAL;
        }
        prefix_trie &t = b.addr.family == 4 ? filter->v4[list] : filter->v6[list];
        t.insert(b.addr.bytes, b.bits);
        filter->count[list]++;
        return XPS_OK;
    } catch (const std::bad_alloc &) {
        return XPS_E_NOMEM; // a half-built path matches nothing: the filter is as before
    }
}

int xps_ipfilter_addr_parse(const char *text, xps_ipfilter_addr_t *out) noexcept {
    assert(text && out);
    bool mapped = false;
    try {
        if (parse_address(text, out, &mapped))
            return XPS_OK;
    } catch (const std::bad_alloc &) { // the std::string copy; an address is short
    }
    *out = xps_ipfilter_addr_t{};
    return XPS_E_INVAL;
}

bool xps_ipfilter_allows(const xps_ipfilter_t *f, const xps_ipfilter_addr_t *client) noexcept {
    assert(client);
    if (f == nullptr || f->count[XPS_IPFILTER_WHITELIST] + f->count[XPS_IPFILTER_BLACKLIST] == 0)
        return true;
    if (client->family != 4 && client->family != 6)
        return false; // cannot be placed: refused by a route that restricts anyone
    const prefix_trie *t = client->family == 4 ? f->v4 : f->v6;
    unsigned bits = address_bits(client->family);
    if (f->count[XPS_IPFILTER_WHITELIST] > 0 &&
        !t[XPS_IPFILTER_WHITELIST].covers(client->bytes, bits))
        return false;
    return !t[XPS_IPFILTER_BLACKLIST].covers(client->bytes, bits);
}

size_t xps_ipfilter_count(const xps_ipfilter_t *filter, xps_ipfilter_list_t list) noexcept {
    return filter ? filter->count[list] : 0;
}
