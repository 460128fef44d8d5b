/*
 * tests/unit/ipfilter.c — modules/ipfilter/xps_ipfilter.h checked against
 * its contract, table by table: which entries are accepted and which are
 * refused (with the reason), which clients each list shape lets in — IPv4,
 * IPv6, the CIDR edges /0, /32 and /128 and the bits just inside and just
 * outside a block, IPv4-mapped IPv6 clients and entries — and the course's
 * both-lists rule. Each table row builds its own filter from a list of
 * entries and asks about one client; every filter is destroyed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/xps.h"
#include "modules/ipfilter/xps_ipfilter.h"

enum { MAX_ENTRIES = 6 };

/* Builds a filter from NULL-terminated lists (either may be NULL); fails
 * the test, naming the entry, when one is refused. */
static xps_ipfilter_t *build(const char *const *white, const char *const *black)
{
    int error = XPS_E_FAIL;
    xps_ipfilter_t *f = xps_ipfilter_create(&error);
    assert_non_null(f);
    assert_int_equal(error, XPS_OK);
    const char *const *lists[2] = {white, black};
    for (int l = 0; l < 2; l++) {
        for (size_t i = 0; lists[l] && lists[l][i]; i++) {
            char why[XPS_IPFILTER_WHY_MAX];
            int rc = xps_ipfilter_add(f, (xps_ipfilter_list_t)l, lists[l][i], why, sizeof why);
            if (rc != XPS_OK)
                fail_msg("add(%s, \"%s\"): %s (%s)", l ? "blacklist" : "whitelist",
                         lists[l][i], xps_strerror(rc), why);
        }
    }
    return f;
}

static xps_ipfilter_addr_t addr(const char *text)
{
    xps_ipfilter_addr_t a;
    if (xps_ipfilter_addr_parse(text, &a) != XPS_OK)
        fail_msg("xps_ipfilter_addr_parse(\"%s\") refused a valid address", text);
    return a;
}

/* One row: lists, a client, and whether it is allowed. */
struct allow_case {
    const char *white[MAX_ENTRIES]; /* NULL-terminated; {NULL}: no whitelist */
    const char *black[MAX_ENTRIES];
    const char *client;
    bool allowed;
};

static void check_allow_table(const char *table, const struct allow_case *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        xps_ipfilter_t *f = build(rows[i].white, rows[i].black);
        xps_ipfilter_addr_t a = addr(rows[i].client);
        bool got = xps_ipfilter_allows(f, &a);
        xps_ipfilter_destroy(f);
        if (got != rows[i].allowed)
            fail_msg("%s, row %zu: client %s with whitelist [%s%s] blacklist [%s%s]: "
                     "expected %s, got %s", table, i, rows[i].client,
                     rows[i].white[0] ? rows[i].white[0] : "",
                     rows[i].white[0] && rows[i].white[1] ? ", ..." : "",
                     rows[i].black[0] ? rows[i].black[0] : "",
                     rows[i].black[0] && rows[i].black[1] ? ", ..." : "",
                     rows[i].allowed ? "allowed" : "refused", got ? "allowed" : "refused");
    }
}

#define CHECK_ALLOW(rows) check_allow_table(#rows, (rows), sizeof(rows) / sizeof((rows)[0]))

/* ------------------------------------------------------------- tables */

static void no_filter_or_no_entries_allows_everyone(void **state)
{
    (void)state;
    xps_ipfilter_addr_t a = addr("203.0.113.9"), b = addr("2001:db8::9");
    assert_true(xps_ipfilter_allows(NULL, &a));
    assert_true(xps_ipfilter_allows(NULL, &b));
    xps_ipfilter_t *f = build(NULL, NULL);
    assert_true(xps_ipfilter_allows(f, &a));
    assert_true(xps_ipfilter_allows(f, &b));
    xps_ipfilter_addr_t none = {0};
    assert_true(xps_ipfilter_allows(f, &none)); /* nothing restricts anyone */
    assert_int_equal(xps_ipfilter_count(f, XPS_IPFILTER_WHITELIST), 0);
    assert_int_equal(xps_ipfilter_count(NULL, XPS_IPFILTER_BLACKLIST), 0);
    xps_ipfilter_destroy(f);
    xps_ipfilter_destroy(NULL);
}

static void ipv4_addresses_and_blocks(void **state)
{
    (void)state;
    static const struct allow_case rows[] = {
        /* the course's milestone */
        {{NULL}, {"127.0.0.1", NULL}, "127.0.0.1", false},
        {{NULL}, {"127.0.0.1", NULL}, "127.0.0.2", true},
        {{"1.1.1.1", NULL}, {NULL}, "127.0.0.1", false},
        {{"1.1.1.1", "127.0.0.1", NULL}, {NULL}, "127.0.0.1", true},
        /* /32 is one address; a bare address is /32 */
        {{"192.0.2.7/32", NULL}, {NULL}, "192.0.2.7", true},
        {{"192.0.2.7/32", NULL}, {NULL}, "192.0.2.6", false},
        {{"192.0.2.7/32", NULL}, {NULL}, "192.0.2.8", false},
        /* /24: the first and last address inside, the neighbours outside */
        {{"192.0.2.0/24", NULL}, {NULL}, "192.0.2.0", true},
        {{"192.0.2.0/24", NULL}, {NULL}, "192.0.2.255", true},
        {{"192.0.2.0/24", NULL}, {NULL}, "192.0.1.255", false},
        {{"192.0.2.0/24", NULL}, {NULL}, "192.0.3.0", false},
        /* a prefix that is not a whole byte: 10.0.0.0/12 is 10.0.0.0-10.15.255.255 */
        {{"10.0.0.0/12", NULL}, {NULL}, "10.15.255.255", true},
        {{"10.0.0.0/12", NULL}, {NULL}, "10.16.0.0", false},
        /* 172.16.0.0/31: two addresses */
        {{"172.16.0.0/31", NULL}, {NULL}, "172.16.0.1", true},
        {{"172.16.0.0/31", NULL}, {NULL}, "172.16.0.2", false},
        /* /0 holds every IPv4 address, and no IPv6 one */
        {{"0.0.0.0/0", NULL}, {NULL}, "255.255.255.255", true},
        {{"0.0.0.0/0", NULL}, {NULL}, "0.0.0.0", true},
        {{"0.0.0.0/0", NULL}, {NULL}, "2001:db8::1", false},
        {{NULL}, {"0.0.0.0/0", NULL}, "8.8.8.8", false},
        {{NULL}, {"0.0.0.0/0", NULL}, "::1", true},
        /* several entries, the client in the last one */
        {{"10.0.0.0/8", "192.168.0.0/16", "127.0.0.0/8", NULL}, {NULL}, "127.9.9.9", true},
        {{"10.0.0.0/8", "192.168.0.0/16", "127.0.0.0/8", NULL}, {NULL}, "11.0.0.1", false},
        /* a longer block inside a shorter one, in either order */
        {{"10.1.0.0/16", "10.0.0.0/8", NULL}, {NULL}, "10.200.0.1", true},
        {{"10.0.0.0/8", "10.1.0.0/16", NULL}, {NULL}, "10.200.0.1", true},
    };
    CHECK_ALLOW(rows);
}

static void ipv6_addresses_and_blocks(void **state)
{
    (void)state;
    static const struct allow_case rows[] = {
        {{"::1", NULL}, {NULL}, "::1", true},
        {{"::1", NULL}, {NULL}, "::2", false},
        {{"::1", NULL}, {NULL}, "127.0.0.1", false}, /* ::1 is not 127.0.0.1 */
        {{"0:0:0:0:0:0:0:1/128", NULL}, {NULL}, "::1", true}, /* any spelling */
        {{"2001:db8::7/128", NULL}, {NULL}, "2001:db8::6", false},
        {{"2001:db8::7/128", NULL}, {NULL}, "2001:db8::7", true},
        /* fd00::/8: fdff:... inside, fe00:: and fc00:: outside */
        {{"fd00::/8", NULL}, {NULL}, "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true},
        {{"fd00::/8", NULL}, {NULL}, "fe00::", false},
        {{"fd00::/8", NULL}, {NULL}, "fc00::1", false},
        /* /64 and /127 edges */
        {{"2001:db8:1:2::/64", NULL}, {NULL}, "2001:db8:1:2:ffff:ffff:ffff:ffff", true},
        {{"2001:db8:1:2::/64", NULL}, {NULL}, "2001:db8:1:3::", false},
        {{"2001:db8::/127", NULL}, {NULL}, "2001:db8::1", true},
        {{"2001:db8::/127", NULL}, {NULL}, "2001:db8::2", false},
        /* ::/0 holds every IPv6 address, and no IPv4 client */
        {{"::/0", NULL}, {NULL}, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true},
        {{"::/0", NULL}, {NULL}, "10.0.0.1", false},
        {{NULL}, {"::/0", NULL}, "10.0.0.1", true},
        {{NULL}, {"::/0", NULL}, "::", false},
        /* mixed lists */
        {{"10.0.0.0/8", "fd00::/8", NULL}, {NULL}, "fd12::1", true},
        {{"10.0.0.0/8", "fd00::/8", NULL}, {NULL}, "10.9.9.9", true},
        {{"10.0.0.0/8", "fd00::/8", NULL}, {NULL}, "2001:db8::1", false},
    };
    CHECK_ALLOW(rows);
}

static void ipv4_mapped_ipv6_is_matched_as_ipv4(void **state)
{
    (void)state;
    static const struct allow_case rows[] = {
        /* a mapped client (an IPv4 peer of a dual-stack listener) */
        {{"127.0.0.1", NULL}, {NULL}, "::ffff:127.0.0.1", true},
        {{"127.0.0.1", NULL}, {NULL}, "::ffff:127.0.0.2", false},
        {{"10.0.0.0/8", NULL}, {NULL}, "::ffff:10.20.30.40", true},
        {{NULL}, {"127.0.0.2", NULL}, "::ffff:127.0.0.2", false},
        {{NULL}, {"127.0.0.2", NULL}, "::ffff:7f00:1", true}, /* hex spelling of 127.0.0.1 */
        {{"::/0", NULL}, {NULL}, "::ffff:127.0.0.1", false},  /* it is IPv4: not in ::/0 */
        /* a mapped entry is the IPv4 address, its prefix counted from bit 96 */
        {{"::ffff:127.0.0.1", NULL}, {NULL}, "127.0.0.1", true},
        {{"::ffff:10.0.0.0/104", NULL}, {NULL}, "10.255.0.1", true},
        {{"::ffff:10.0.0.0/104", NULL}, {NULL}, "11.0.0.1", false},
        {{"::ffff:0.0.0.0/96", NULL}, {NULL}, "203.0.113.1", true},
        {{"::ffff:0.0.0.0/96", NULL}, {NULL}, "2001:db8::1", false},
        /* other IPv6 spaces that embed IPv4 are NOT IPv4: ::7f00:1, 64:ff9b:: */
        {{"127.0.0.1", NULL}, {NULL}, "::127.0.0.1", false},
        {{"127.0.0.1", NULL}, {NULL}, "64:ff9b::127.0.0.1", false},
    };
    CHECK_ALLOW(rows);
    xps_ipfilter_addr_t a = addr("::ffff:192.0.2.1");
    unsigned char want[4] = {192, 0, 2, 1};
    assert_int_equal(a.family, 4);
    assert_memory_equal(a.bytes, want, 4);
}

/* Whitelist only: only those; blacklist only: all but those; both: on the
 * whitelist and not on the blacklist (the course's rule). */
static void both_lists_need_the_whitelist_and_not_the_blacklist(void **state)
{
    (void)state;
    static const struct allow_case rows[] = {
        {{"10.0.0.0/8", NULL}, {"10.1.2.3", NULL}, "10.1.2.3", false}, /* on both */
        {{"10.0.0.0/8", NULL}, {"10.1.2.3", NULL}, "10.1.2.4", true},  /* white only */
        {{"10.0.0.0/8", NULL}, {"10.1.2.3", NULL}, "11.1.2.3", false}, /* neither */
        {{"10.0.0.0/8", NULL}, {"10.1.0.0/16", NULL}, "10.1.255.255", false},
        {{"10.0.0.0/8", NULL}, {"10.1.0.0/16", NULL}, "10.2.0.0", true},
        /* the same address on both lists: refused */
        {{"127.0.0.1", NULL}, {"127.0.0.1", NULL}, "127.0.0.1", false},
        /* a blacklist wider than the whitelist refuses all of it */
        {{"127.0.0.1", NULL}, {"127.0.0.0/8", NULL}, "127.0.0.1", false},
        /* IPv6 too, and a whitelist of one family refuses the other */
        {{"fd00::/8", NULL}, {"fd00::bad", NULL}, "fd00::bad", false},
        {{"fd00::/8", NULL}, {"fd00::bad", NULL}, "fd00::900d", true},
        {{"fd00::/8", NULL}, {"10.0.0.1", NULL}, "10.0.0.2", false},
        /* blacklist only: all but those */
        {{NULL}, {"10.1.2.3", "fd00::/8", NULL}, "10.1.2.4", true},
        {{NULL}, {"10.1.2.3", "fd00::/8", NULL}, "fd00::1", false},
    };
    CHECK_ALLOW(rows);
}

/* A client whose address could not be read: refused wherever a list
 * restricts anyone, as the header says. */
static void a_client_without_an_address_is_refused_by_any_list(void **state)
{
    (void)state;
    xps_ipfilter_addr_t none;
    assert_int_equal(xps_ipfilter_addr_parse("not an address", &none), XPS_E_INVAL);
    assert_int_equal(none.family, 0);
    static const char *const one[] = {"10.0.0.0/8", NULL};
    xps_ipfilter_t *white = build(one, NULL), *black = build(NULL, one);
    assert_false(xps_ipfilter_allows(white, &none));
    assert_false(xps_ipfilter_allows(black, &none));
    xps_ipfilter_destroy(white);
    xps_ipfilter_destroy(black);
    static const char *const bad_clients[] = {"", "127.0.0.1:80", "[::1]", "::1%lo",
                                              "1.2.3", "fe80::1::2"};
    for (size_t i = 0; i < sizeof bad_clients / sizeof *bad_clients; i++) {
        xps_ipfilter_addr_t a = {.family = 4};
        if (xps_ipfilter_addr_parse(bad_clients[i], &a) != XPS_E_INVAL || a.family != 0)
            fail_msg("xps_ipfilter_addr_parse(\"%s\") accepted it", bad_clients[i]);
    }
}

/* ------------------------------------------------------ bad entries */

struct bad_case {
    const char *entry;
    const char *why; /* add()'s reason must contain this */
};

static void bad_entries_are_refused_with_a_reason(void **state)
{
    (void)state;
    static const struct bad_case rows[] = {
        {"10.0.0.0/33", "/33 is longer than an IPv4 address (32 bits)"},
        {"::/129", "/129 is longer than an IPv6 address (128 bits)"},
        {"::ffff:10.0.0.0/129", "/129 is longer than an IPv6 address (128 bits)"},
        {"nonsense", "expected an IPv4 or IPv6 address"},
        {"", "expected an IPv4 or IPv6 address"},
        {"/8", "expected an IPv4 or IPv6 address"},
        {" 10.0.0.1", "expected an IPv4 or IPv6 address"},
        {"10.0.0.1 ", "expected an IPv4 or IPv6 address"},
        {"10.0.0", "expected an IPv4 or IPv6 address"},
        {"10.0.0.256", "expected an IPv4 or IPv6 address"},
        {"010.0.0.1", "expected an IPv4 or IPv6 address"}, /* octal or decimal? refused */
        {"fe80::1%lo", "expected an IPv4 or IPv6 address"},
        {"[::1]", "expected an IPv4 or IPv6 address"},
        {"localhost", "expected an IPv4 or IPv6 address"},
        {"10.0.0.0/", "the prefix length after '/' must be a number of bits"},
        {"10.0.0.0/x", "the prefix length after '/' must be a number of bits"},
        {"10.0.0.0/-1", "the prefix length after '/' must be a number of bits"},
        {"10.0.0.0/+8", "the prefix length after '/' must be a number of bits"},
        {"10.0.0.0/8/8", "the prefix length after '/' must be a number of bits"},
        {"10.0.0.0/0008", "the prefix length after '/' must be a number of bits"},
        {"10.0.0.0/ 8", "the prefix length after '/' must be a number of bits"},
        {"10.0.0.1/8", "bits are set past the /8 prefix (the block is \"10.0.0.0/8\""},
        {"192.168.1.1/24", "the block is \"192.168.1.0/24\""},
        {"0.0.0.1/0", "the block is \"0.0.0.0/0\""},
        {"fd00::1/8", "the block is \"fd00::/8\""},
        {"::ffff:10.0.0.1/104", "the block is \"10.0.0.0/8\""},
        {"::ffff:10.0.0.0/64", "needs a prefix of 96 bits or more"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        for (int l = 0; l < 2; l++) {
            int error = XPS_E_FAIL;
            xps_ipfilter_t *f = xps_ipfilter_create(&error);
            assert_non_null(f);
            char why[XPS_IPFILTER_WHY_MAX] = "unchanged";
            int rc = xps_ipfilter_add(f, (xps_ipfilter_list_t)l, rows[i].entry, why, sizeof why);
            if (rc != XPS_E_INVAL || !strstr(why, rows[i].why))
                fail_msg("add(\"%s\"): expected XPS_E_INVAL and a reason with \"%s\", got %s "
                         "and \"%s\"", rows[i].entry, rows[i].why, xps_strerror(rc), why);
            /* refused means unchanged: the filter still allows everyone */
            xps_ipfilter_addr_t a = addr("10.0.0.1");
            assert_int_equal(xps_ipfilter_count(f, (xps_ipfilter_list_t)l), 0);
            assert_true(xps_ipfilter_allows(f, &a));
            xps_ipfilter_destroy(f);
        }
    }
}

static void the_reason_is_cut_to_the_callers_buffer(void **state)
{
    (void)state;
    int error = XPS_E_FAIL;
    xps_ipfilter_t *f = xps_ipfilter_create(&error);
    assert_non_null(f);
    char why[8];
    memset(why, 'x', sizeof why);
    assert_int_equal(xps_ipfilter_add(f, XPS_IPFILTER_BLACKLIST, "10.0.0.0/33", why, sizeof why),
                     XPS_E_INVAL);
    assert_string_equal(why, "/33 is ");
    assert_int_equal(xps_ipfilter_add(f, XPS_IPFILTER_BLACKLIST, "nonsense", NULL, 0), XPS_E_INVAL);
    /* good entries leave the reason empty */
    assert_int_equal(xps_ipfilter_add(f, XPS_IPFILTER_BLACKLIST, "10.0.0.0/32", why, sizeof why),
                     XPS_OK);
    assert_string_equal(why, "");
    xps_ipfilter_destroy(f);
}

/* Repeats and entries inside earlier ones are accepted and counted, and
 * change nothing; a wide block added after narrow ones covers them. */
static void repeats_and_nested_blocks_are_accepted(void **state)
{
    (void)state;
    static const char *const white[] = {"10.1.2.3", "10.1.2.3", "10.1.2.0/24", "10.1.2.3/32",
                                        "10.0.0.0/8", NULL};
    xps_ipfilter_t *f = build(white, NULL);
    assert_int_equal(xps_ipfilter_count(f, XPS_IPFILTER_WHITELIST), 5);
    assert_int_equal(xps_ipfilter_count(f, XPS_IPFILTER_BLACKLIST), 0);
    static const struct {
        const char *client;
        bool allowed;
    } rows[] = {{"10.1.2.3", true}, {"10.1.2.4", true}, {"10.99.0.0", true}, {"11.0.0.0", false},
                {"9.255.255.255", false}};
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        xps_ipfilter_addr_t a = addr(rows[i].client);
        if (xps_ipfilter_allows(f, &a) != rows[i].allowed)
            fail_msg("client %s: expected %s", rows[i].client,
                     rows[i].allowed ? "allowed" : "refused");
    }
    xps_ipfilter_destroy(f);
}

/* Every bit of an address counts: for each prefix length of each family,
 * the block's own first address is inside, and flipping the last bit of
 * the prefix takes an address outside. Catches a bit-order or an
 * off-by-one in the trie walk that the hand-written rows could miss. */
static void every_prefix_length_has_exact_edges(void **state)
{
    (void)state;
    static const struct {
        const char *base; /* all ones: every prefix length is a valid block of it */
        int family;
    } families[] = {{"255.255.255.255", 4}, {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 6}};
    for (size_t k = 0; k < 2; k++) {
        unsigned total = families[k].family == 4 ? 32 : 128;
        for (unsigned bits = 0; bits <= total; bits++) {
            xps_ipfilter_addr_t ones = addr(families[k].base);
            xps_ipfilter_addr_t net = ones; /* the ones, with the host bits cleared */
            for (unsigned i = bits; i < total; i++)
                net.bytes[i / 8] &= (unsigned char)~(1u << (7 - i % 8));
            char text[64], entry[80];
            /* the entry is written from the bytes, so every form goes through the parser */
            if (families[k].family == 4)
                snprintf(text, sizeof text, "%u.%u.%u.%u", net.bytes[0], net.bytes[1],
                         net.bytes[2], net.bytes[3]);
            else
                snprintf(text, sizeof text, "%x:%x:%x:%x:%x:%x:%x:%x",
                         net.bytes[0] << 8 | net.bytes[1], net.bytes[2] << 8 | net.bytes[3],
                         net.bytes[4] << 8 | net.bytes[5], net.bytes[6] << 8 | net.bytes[7],
                         net.bytes[8] << 8 | net.bytes[9], net.bytes[10] << 8 | net.bytes[11],
                         net.bytes[12] << 8 | net.bytes[13], net.bytes[14] << 8 | net.bytes[15]);
            snprintf(entry, sizeof entry, "%s/%u", text, bits);
            const char *white[] = {entry, NULL};
            xps_ipfilter_t *f = build(white, NULL);
            bool first = xps_ipfilter_allows(f, &net);
            bool last = xps_ipfilter_allows(f, &ones); /* the block's last address */
            bool outside = true;
            if (bits > 0) {
                xps_ipfilter_addr_t out = net;
                out.bytes[(bits - 1) / 8] ^= (unsigned char)(1u << (7 - (bits - 1) % 8));
                outside = !xps_ipfilter_allows(f, &out);
            }
            xps_ipfilter_destroy(f);
            if (!first || !last || !outside)
                fail_msg("entry %s: its first address %s, its last %s, the address past its "
                         "prefix's last bit %s", entry, first ? "inside" : "OUTSIDE",
                         last ? "inside" : "OUTSIDE", outside ? "outside" : "INSIDE");
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_filter_or_no_entries_allows_everyone),
        cmocka_unit_test(ipv4_addresses_and_blocks),
        cmocka_unit_test(ipv6_addresses_and_blocks),
        cmocka_unit_test(ipv4_mapped_ipv6_is_matched_as_ipv4),
        cmocka_unit_test(both_lists_need_the_whitelist_and_not_the_blacklist),
        cmocka_unit_test(a_client_without_an_address_is_refused_by_any_list),
        cmocka_unit_test(bad_entries_are_refused_with_a_reason),
        cmocka_unit_test(the_reason_is_cut_to_the_callers_buffer),
        cmocka_unit_test(repeats_and_nested_blocks_are_accepted),
        cmocka_unit_test(every_prefix_length_has_exact_edges),
    };
    return cmocka_run_group_tests_name("ipfilter", tests, NULL, NULL);
}
