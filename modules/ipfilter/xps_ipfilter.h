/*
 * modules/ipfilter/xps_ipfilter.h — who may use a route: a whitelist and a
 * blacklist of IPv4 and IPv6 addresses and CIDR blocks, parsed once when
 * the configuration is loaded and matched per request. [stage 14]
 *
 * Why: some routes are not for everyone (a /metrics page, an admin
 * upstream, a site for the office network). The course's stage compared
 * the client's address with each listed string, with strcmp(), on every
 * request: O(entries) string compares, and no blocks ("10.0.0.0/8") at
 * all. Here every entry is turned into bits once, at load, and stored in
 * a binary prefix trie (one per list and address family): matching a
 * client walks at most 32 (IPv4) or 128 (IPv6) nodes, one per bit of the
 * address, however many entries the lists hold — O(prefix length).
 *
 * The rule (the course's, made precise):
 *  - no entries at all (no lists, or only empty ones): everyone;
 *  - whitelist only: only clients inside one of its entries;
 *  - blacklist only: everyone but clients inside one of its entries;
 *  - both: allowed only when on the whitelist AND not on the blacklist
 *    (the course stores "the whitelist minus the blacklist": the same
 *    set; a blacklisted address inside a whitelisted block is refused).
 * Entries: "192.0.2.7" (one address: /32), "10.0.0.0/8", "2001:db8::1"
 * (/128), "fd00::/8", "0.0.0.0/0" (every IPv4 client), "::/0" (every IPv6
 * client). A block's address must have no bit set past its prefix
 * ("10.0.0.1/8" is refused: it is a typo for 10.0.0.0/8 or 10.0.0.1).
 * IPv4 and IPv6 are separate spaces, with one bridge: an IPv4-mapped IPv6
 * address ::ffff:a.b.c.d, as a client (an IPv4 peer of a dual-stack "::"
 * listener) or as an entry (with a prefix of at least 96), IS the IPv4
 * address a.b.c.d. So "127.0.0.1" matches a client ::ffff:127.0.0.1, and
 * "::/0" matches IPv6 clients only.
 *
 * Lifecycle: create → add (any number) → allows (any number) → destroy.
 * A filter is filled while the config loads and never changes after: it
 * is then read-only, and any number of sessions may match against it.
 * Ownership: the caller owns the filter; entries are copied (as bits), so
 * the strings passed to add may be freed at once. Addresses are plain
 * structs the caller owns.
 * Errors: XPS_E_INVAL (an entry that is not an address or a block, with
 * the reason in words), XPS_E_NOMEM. Nothing is logged here: the config
 * module reports a bad entry with its file and JSON path.
 * Threading: none.
 */
#ifndef XPS_MODULES_IPFILTER_H
#define XPS_MODULES_IPFILTER_H

#include "core/xps.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xps_ipfilter_s xps_ipfilter_t;

/* Which list an entry goes to. */
typedef enum xps_ipfilter_list {
    XPS_IPFILTER_WHITELIST = 0, /* "ip_whitelist": only these (when not empty) */
    XPS_IPFILTER_BLACKLIST = 1, /* "ip_blacklist": never these */
} xps_ipfilter_list_t;

/* A client's address in the form the filter matches: network byte order,
 * IPv4 in bytes[0..3]. An IPv4-mapped IPv6 address is stored as IPv4. */
typedef struct xps_ipfilter_addr {
    int family;              /* 4 or 6; 0: no address (no entry matches it) */
    unsigned char bytes[16]; /* 4 bytes used for IPv4, 16 for IPv6 */
} xps_ipfilter_addr_t;

/* A buffer of this size holds any reason add() gives, whole. */
#define XPS_IPFILTER_WHY_MAX 160

/* ---------------------------------------------------------- lifecycle */

/* An empty filter: it allows everyone until entries are added. NULL and
 * *error XPS_E_NOMEM when out of memory. */
xps_ipfilter_t *xps_ipfilter_create(int *error) XPS_NOEXCEPT;

/* Frees the filter. Accepts NULL. */
void xps_ipfilter_destroy(xps_ipfilter_t *filter) XPS_NOEXCEPT;

/* Adds `entry` (an address or a CIDR block, as above; no spaces, no
 * "%zone") to `list`. XPS_OK; XPS_E_INVAL with the reason in `why`
 * (truncated to why_size, always NUL-terminated; why may be NULL when
 * why_size is 0), e.g. "/33 is longer than an IPv4 address (32 bits)",
 * and the filter unchanged; XPS_E_NOMEM. An entry inside one already on
 * the list, or repeated, is accepted and changes nothing. */
int xps_ipfilter_add(xps_ipfilter_t *filter, xps_ipfilter_list_t list, const char *entry,
                     char *why, size_t why_size) XPS_NOEXCEPT;

/* --------------------------------------------------------- operations */

/* Reads the numeric address `text` ("127.0.0.1", "::1",
 * "::ffff:10.1.2.3", which becomes IPv4 10.1.2.3) into *out. XPS_OK, or
 * XPS_E_INVAL with out->family 0 (an address that no entry matches). Done
 * once per client connection, not per request. */
int xps_ipfilter_addr_parse(const char *text, xps_ipfilter_addr_t *out) XPS_NOEXCEPT;

/* Whether the rule above lets `client` in. `filter` NULL (a route with
 * neither list) allows everyone. A client of family 0 (its address could
 * not be read) is allowed only by a filter with no entries: a route that
 * restricts anyone refuses a client it cannot place. At most one walk of
 * 32 or 128 trie nodes per list; no allocation, no system call. */
bool xps_ipfilter_allows(const xps_ipfilter_t *filter,
                         const xps_ipfilter_addr_t *client) XPS_NOEXCEPT;

/* ---------------------------------------------------------- accessors */

/* How many entries were added to `list` (repeats counted): for tests and
 * logs. 0 for a NULL filter. */
size_t xps_ipfilter_count(const xps_ipfilter_t *filter, xps_ipfilter_list_t list) XPS_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* XPS_MODULES_IPFILTER_H */
