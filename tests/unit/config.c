/*
 * tests/unit/config.c — modules/config checked against docs/config.md.
 *
 * What a good file gives: the course's stage 12 configuration (the four
 * servers on 8001-8004), a file with every key of every later stage, and
 * the defaults of a minimal file. What a bad file gives: one table row per
 * kind of mistake, each checked by its FULL message, because the message is
 * the product here (a person reads it and fixes the file). How requests
 * are routed: a table of (listener, Host, path) -> route, covering the
 * longest prefix, segment boundaries, hostnames, Host with a port, a block
 * without routes and a listener nobody configured.
 *
 * Files come from tests/fixtures/config/ (relative to the repository root,
 * where `make test` runs); everything else is inline JSON. Every config
 * made is destroyed; run under valgrind or `make SAN=1` for leaks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/xps_logger.h"
#include "modules/config/xps_config.h"
#include "modules/config/xps_config_json.h"

#define FIXTURES "tests/fixtures/config"

static char cwd[PATH_MAX]; /* the repository root, where the tests run */

/* Loads a fixture or fails the test with the module's own message. */
static xps_config_t *load_fixture(const char *name)
{
    char path[PATH_MAX], err[XPS_CONFIG_ERR_MAX];
    snprintf(path, sizeof path, FIXTURES "/%s", name);
    xps_config_t *c = xps_config_load(path, err, sizeof err);
    if (c == NULL)
        fail_msg("xps_config_load(%s): %s", path, err);
    return c;
}

/* Parses inline JSON (base folder /srv/xps) or fails with the message. */
static xps_config_t *parse_ok(const char *json)
{
    char err[XPS_CONFIG_ERR_MAX];
    xps_config_t *c = xps_config_parse(json, "conf.json", "/srv/xps", err, sizeof err);
    if (c == NULL)
        fail_msg("parse failed: %s\n--- json:\n%s", err, json);
    return c;
}

/* One lookup that must succeed; returns the match. */
static xps_config_route_match_t lookup_ok(const xps_config_t *c, const char *host, uint16_t port,
                                          const char *host_header, const char *path)
{
    xps_config_route_match_t m;
    int rc = xps_config_lookup(c, host, port, host_header, path, &m);
    if (rc != XPS_OK)
        fail_msg("lookup %s:%u Host=%s path=%s: expected a route, got %s", host, port,
                 host_header ? host_header : "(none)", path, xps_strerror(rc));
    return m;
}

/* ------------------------------------------------------------ good files */

/* The course's stage 12 file: 8001 files + /redirect, 8002 proxy, 8003
 * redirect, 8004 no routes. */
static void course_stage_12_config_parses(void **state)
{
    (void)state;
    xps_config_t *c = load_fixture("course-stage-12.json");
    assert_string_equal(xps_config_name(c), FIXTURES "/course-stage-12.json");
    assert_string_equal(xps_config_server_name(c), "eXpServer");
    assert_int_equal(xps_config_workers(c), 4);
    assert_int_equal(xps_config_server_count(c), 4);
    assert_int_equal(xps_config_listener_count(c), 4);
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(xps_config_listener(c, i)->host, "0.0.0.0");
        assert_int_equal(xps_config_listener(c, i)->port, 8001 + i);
    }

    /* 8001 "/" -> files from ../public/ next to the file, ".." kept */
    char dir[PATH_MAX + 64];
    snprintf(dir, sizeof dir, "%s/" FIXTURES "/../public", cwd);
    xps_config_route_match_t m = lookup_ok(c, "0.0.0.0", 8001, "localhost:8001", "/cat.jpg");
    assert_int_equal(m.type, XPS_CONFIG_FILE_SERVE);
    assert_int_equal(m.server, 0);
    assert_int_equal(m.route, 0);
    assert_string_equal(m.req_path, "/");
    assert_string_equal(m.dir_path, dir);
    assert_int_equal(m.n_index, 1);
    assert_string_equal(m.index[0], "index.html");
    assert_null(m.upstreams);
    assert_null(m.redirect_url);

    /* 8001 "/redirect" -> 302 to 8002 */
    m = lookup_ok(c, "0.0.0.0", 8001, "localhost:8001", "/redirect");
    assert_int_equal(m.type, XPS_CONFIG_REDIRECT);
    assert_int_equal(m.route, 1);
    assert_int_equal(m.http_status_code, 302);
    assert_string_equal(m.redirect_url, "http://localhost:8002/");
    assert_null(m.dir_path);

    /* 8002 -> proxy to localhost:3000, any path */
    m = lookup_ok(c, "0.0.0.0", 8002, "localhost:8002", "/cat.jpg");
    assert_int_equal(m.type, XPS_CONFIG_REVERSE_PROXY);
    assert_int_equal(m.server, 1);
    assert_int_equal(m.n_upstreams, 1);
    assert_string_equal(m.upstreams[0].host, "localhost");
    assert_int_equal(m.upstreams[0].port, 3000);
    assert_string_equal(m.upstreams[0].text, "localhost:3000");

    /* 8003 -> 302 to the course site */
    m = lookup_ok(c, "0.0.0.0", 8003, NULL, "/anything/at/all");
    assert_int_equal(m.type, XPS_CONFIG_REDIRECT);
    assert_int_equal(m.http_status_code, 302);
    assert_string_equal(m.redirect_url, "https://expserver.github.io");

    /* 8004 has no routes: every request is a 404 */
    assert_int_equal(xps_config_lookup(c, "0.0.0.0", 8004, "localhost", "/", &m), XPS_E_NOTFOUND);
    assert_int_equal(m.type, 0);
    assert_null(m.req_path);
    xps_config_destroy(c);
}

/* Every key of every later stage is accepted; the stage 12 view of the
 * routes is unchanged by them. */
static void config_with_all_later_keys_parses(void **state)
{
    (void)state;
    xps_config_t *c = load_fixture("all-keys.json");
    assert_string_equal(xps_config_server_name(c), "xps-all-keys");
    assert_int_equal(xps_config_workers(c), XPS_CONFIG_WORKERS_AUTO);
    assert_int_equal(xps_config_listener_count(c), 2);
    assert_string_equal(xps_config_listener(c, 1)->host, "::");
    assert_int_equal(xps_config_listener(c, 1)->port, 8443);

    xps_config_route_match_t m = lookup_ok(c, "::", 8443, "www.example.org", "/index.html");
    assert_int_equal(m.type, XPS_CONFIG_FILE_SERVE);
    assert_string_equal(m.dir_path, "/srv/www");
    assert_int_equal(m.n_index, 2);
    assert_string_equal(m.index[1], "index.htm");

    m = lookup_ok(c, "0.0.0.0", 8001, "EXAMPLE.org", "/api/users");
    assert_int_equal(m.type, XPS_CONFIG_REVERSE_PROXY);
    assert_int_equal(m.n_upstreams, 3);
    assert_string_equal(m.upstreams[0].host, "127.0.0.1");
    assert_string_equal(m.upstreams[1].host, "::1"); /* brackets removed */
    assert_int_equal(m.upstreams[1].port, 3001);
    assert_string_equal(m.upstreams[1].text, "[::1]:3001");
    assert_string_equal(m.upstreams[2].host, "localhost");

    m = lookup_ok(c, "0.0.0.0", 8001, "example.org", "/old");
    assert_int_equal(m.type, XPS_CONFIG_REDIRECT);
    assert_int_equal(m.http_status_code, 301);

    m = lookup_ok(c, "0.0.0.0", 8001, "example.org", "/metrics");
    assert_int_equal(m.type, XPS_CONFIG_METRICS);
    assert_string_equal(xps_config_route_type_name(m.type), "metrics");
    xps_config_destroy(c);
}

/* [stage 14] ip_whitelist / ip_blacklist become a filter per route at
 * load; a route with neither, or with empty lists, has none (everyone). */
static void access_lists_are_parsed_into_a_filter_per_route(void **state)
{
    (void)state;
    xps_config_t *c = parse_ok(
        "{\"servers\": [{\"listeners\": [{\"port\": 8080}], \"routes\": ["
        " {\"req_path\": \"/\", \"type\": \"file_serve\", \"dir_path\": \"w\"},"
        " {\"req_path\": \"/empty\", \"type\": \"file_serve\", \"dir_path\": \"w\","
        "  \"ip_whitelist\": [], \"ip_blacklist\": []},"
        " {\"req_path\": \"/office\", \"type\": \"reverse_proxy\", \"upstreams\": [\"a:1\"],"
        "  \"ip_whitelist\": [\"10.0.0.0/8\", \"fd00::/8\"], \"ip_blacklist\": [\"10.6.6.6\"]},"
        " {\"req_path\": \"/go\", \"type\": \"redirect\", \"redirect_url\": \"/\","
        "  \"ip_blacklist\": [\"127.0.0.2\"]}]}]}");
    assert_null(lookup_ok(c, "0.0.0.0", 8080, NULL, "/x").access);
    assert_null(lookup_ok(c, "0.0.0.0", 8080, NULL, "/empty/x").access);
    const xps_ipfilter_t *office = lookup_ok(c, "0.0.0.0", 8080, NULL, "/office").access;
    assert_non_null(office);
    assert_int_equal(xps_ipfilter_count(office, XPS_IPFILTER_WHITELIST), 2);
    assert_int_equal(xps_ipfilter_count(office, XPS_IPFILTER_BLACKLIST), 1);
    static const struct {
        const char *client;
        bool allowed;
    } rows[] = {{"10.1.1.1", true}, {"10.6.6.6", false}, {"fd00::1", true}, {"127.0.0.1", false}};
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        xps_ipfilter_addr_t a;
        assert_int_equal(xps_ipfilter_addr_parse(rows[i].client, &a), XPS_OK);
        if (xps_ipfilter_allows(office, &a) != rows[i].allowed)
            fail_msg("/office, client %s: expected %s", rows[i].client,
                     rows[i].allowed ? "allowed" : "refused");
    }
    const xps_ipfilter_t *go = lookup_ok(c, "0.0.0.0", 8080, NULL, "/go").access;
    xps_ipfilter_addr_t two, one;
    assert_int_equal(xps_ipfilter_addr_parse("127.0.0.2", &two), XPS_OK);
    assert_int_equal(xps_ipfilter_addr_parse("127.0.0.1", &one), XPS_OK);
    assert_false(xps_ipfilter_allows(go, &two));
    assert_true(xps_ipfilter_allows(go, &one));
    xps_config_destroy(c);
}

/* [stage 16] The gzip_* keys in each route's match: the defaults (off,
 * level 6, the built-in types, 256 bytes, no gzip_static), -1 as the
 * default level, a list that replaces the built-in one ([] matches
 * nothing), gzip_static only on file_serve; the course's gzip_level 8. */
static void gzip_keys_are_read_into_the_route(void **state)
{
    (void)state;
    xps_config_t *c = parse_ok(
        "{\"servers\": [{\"listeners\": [{\"port\": 8080}], \"routes\": ["
        " {\"req_path\": \"/\", \"type\": \"file_serve\", \"dir_path\": \"w\"},"
        " {\"req_path\": \"/course\", \"type\": \"file_serve\", \"dir_path\": \"w\","
        "  \"gzip_enable\": true, \"gzip_level\": 8},"
        " {\"req_path\": \"/all\", \"type\": \"file_serve\", \"dir_path\": \"w\","
        "  \"gzip_enable\": true, \"gzip_level\": -1, \"gzip_mime_types\": [\"text/css\", \"text/*\"],"
        "  \"gzip_min_length\": 0, \"gzip_static\": true},"
        " {\"req_path\": \"/none\", \"type\": \"file_serve\", \"dir_path\": \"w\","
        "  \"gzip_enable\": true, \"gzip_mime_types\": []},"
        " {\"req_path\": \"/api\", \"type\": \"reverse_proxy\", \"upstreams\": [\"a:1\"],"
        "  \"gzip_enable\": true, \"gzip_min_length\": 1000}]}]}");
    xps_gzip_settings_t g = lookup_ok(c, "0.0.0.0", 8080, NULL, "/x").gzip;
    assert_false(g.enable);
    assert_int_equal(g.level, XPS_GZIP_DEFAULT_LEVEL);
    assert_null(g.mime_types);
    assert_int_equal(g.min_length, XPS_GZIP_DEFAULT_MIN_LENGTH);
    assert_false(g.gzip_static);
    g = lookup_ok(c, "0.0.0.0", 8080, NULL, "/course/x").gzip;
    assert_true(g.enable);
    assert_int_equal(g.level, 8);
    assert_true(xps_gzip_type_matches(&g, "application/json", 16)); /* the built-in list */
    g = lookup_ok(c, "0.0.0.0", 8080, NULL, "/all/x").gzip;
    assert_int_equal(g.level, XPS_GZIP_DEFAULT_LEVEL);
    assert_int_equal(g.n_mime_types, 2);
    assert_string_equal(g.mime_types[0], "text/css");
    assert_true(xps_gzip_type_matches(&g, "text/plain; charset=utf-8", 25));
    assert_false(xps_gzip_type_matches(&g, "application/json", 16)); /* replaced, not extended */
    assert_int_equal(g.min_length, 0);
    assert_true(g.gzip_static);
    g = lookup_ok(c, "0.0.0.0", 8080, NULL, "/none/x").gzip;
    assert_true(g.enable);
    assert_false(xps_gzip_type_matches(&g, "text/html", 9));
    g = lookup_ok(c, "0.0.0.0", 8080, NULL, "/api").gzip;
    assert_true(g.enable);
    assert_int_equal(g.min_length, 1000);
    assert_false(g.gzip_static);
    xps_config_destroy(c);
}

/* [stage 17] load_balancing, max_fails, fail_timeout_ms and health_check
 * are read into the match; absent, their documented defaults. */
static void balancing_keys_are_read_with_their_defaults(void **state)
{
    (void)state;
    xps_config_t *c = parse_ok(
        "{\"servers\": [{\"listeners\": [{\"port\": 8080}], \"routes\": ["
        " {\"req_path\": \"/\", \"type\": \"reverse_proxy\", \"upstreams\": [\"a:1\", \"b:2\"]},"
        " {\"req_path\": \"/lc\", \"type\": \"reverse_proxy\", \"upstreams\": [\"a:1\"],"
        "  \"load_balancing\": \"least_connections\", \"max_fails\": 3, \"fail_timeout_ms\": 250,"
        "  \"health_check\": {\"path\": \"/health?x=1\", \"interval_ms\": 50}},"
        " {\"req_path\": \"/ih\", \"type\": \"reverse_proxy\", \"upstreams\": [\"a:1\"],"
        "  \"load_balancing\": \"ip_hash\", \"health_check\": {}},"
        " {\"req_path\": \"/rr\", \"type\": \"reverse_proxy\", \"upstreams\": [\"a:1\"],"
        "  \"load_balancing\": \"round_robin\"}]}]}");
    xps_config_route_match_t m = lookup_ok(c, "0.0.0.0", 8080, NULL, "/x");
    assert_int_equal(m.n_upstreams, 2);
    assert_int_equal(m.load_balancing, XPS_CONFIG_ROUND_ROBIN);
    assert_int_equal(m.max_fails, XPS_CONFIG_MAX_FAILS);
    assert_int_equal(m.max_fails, 1);
    assert_int_equal(m.fail_timeout_ms, XPS_CONFIG_FAIL_TIMEOUT_MS);
    assert_int_equal(m.fail_timeout_ms, 10000);
    assert_null(m.health_check_path);
    m = lookup_ok(c, "0.0.0.0", 8080, NULL, "/lc");
    assert_int_equal(m.load_balancing, XPS_CONFIG_LEAST_CONNECTIONS);
    assert_int_equal(m.max_fails, 3);
    assert_int_equal(m.fail_timeout_ms, 250);
    assert_string_equal(m.health_check_path, "/health?x=1");
    assert_int_equal(m.health_check_interval_ms, 50);
    m = lookup_ok(c, "0.0.0.0", 8080, NULL, "/ih");
    assert_int_equal(m.load_balancing, XPS_CONFIG_IP_HASH);
    assert_string_equal(m.health_check_path, "/"); /* {} : every default */
    assert_int_equal(m.health_check_interval_ms, XPS_CONFIG_HEALTH_INTERVAL_MS);
    assert_int_equal(m.health_check_interval_ms, 2000);
    m = lookup_ok(c, "0.0.0.0", 8080, NULL, "/rr");
    assert_int_equal(m.load_balancing, XPS_CONFIG_ROUND_ROBIN);
    xps_config_destroy(c);
}

/* [stage 17] 64 upstreams on a route are taken, 65 refused (the
 * balancer's bound, XPS_CONFIG_MAX_UPSTREAMS). */
static void a_route_takes_at_most_64_upstreams(void **state)
{
    (void)state;
    for (int n = XPS_CONFIG_MAX_UPSTREAMS; n <= XPS_CONFIG_MAX_UPSTREAMS + 1; n++) {
        char json[4096];
        int len = snprintf(json, sizeof json,
                           "{\"servers\": [{\"listeners\": [{\"port\": 8080}], \"routes\": ["
                           "{\"req_path\": \"/\", \"type\": \"reverse_proxy\", \"upstreams\": [");
        for (int i = 0; i < n; i++)
            len += snprintf(json + len, sizeof json - (size_t)len, "%s\"h:%d\"", i ? ", " : "",
                            1000 + i);
        snprintf(json + len, sizeof json - (size_t)len, "]}]}]}");
        char err[XPS_CONFIG_ERR_MAX] = "";
        xps_config_t *c = xps_config_parse(json, "conf.json", "/srv/xps", err, sizeof err);
        if (n == XPS_CONFIG_MAX_UPSTREAMS) {
            if (!c)
                fail_msg("64 upstreams refused: %s", err);
            assert_int_equal(lookup_ok(c, "0.0.0.0", 8080, NULL, "/").n_upstreams, 64);
            xps_config_destroy(c);
        } else {
            assert_null(c);
            assert_string_equal(err, "conf.json: servers[0].routes[0].upstreams: 65 upstreams; "
                                     "at most 64 are allowed");
        }
    }
}

/* What an absent key means. */
static void absent_keys_take_their_defaults(void **state)
{
    (void)state;
    xps_config_t *c = parse_ok(
        "{\"servers\": [{\"listeners\": [{\"port\": 8080}], \"routes\": ["
        " {\"req_path\": \"/\", \"type\": \"file_serve\", \"dir_path\": \"www/\"},"
        " {\"req_path\": \"/go\", \"type\": \"redirect\", \"redirect_url\": \"/\"},"
        " {\"req_path\": \"/bare\", \"type\": \"file_serve\", \"dir_path\": \"./a//b/.\", \"index\": []}]}]}");
    assert_string_equal(xps_config_server_name(c), "eXpServer");
    assert_int_equal(xps_config_workers(c), 1);
    assert_string_equal(xps_config_listener(c, 0)->host, "0.0.0.0");
    xps_config_route_match_t m = lookup_ok(c, "0.0.0.0", 8080, NULL, "/x");
    assert_string_equal(m.dir_path, "/srv/xps/www");
    assert_int_equal(m.n_index, 1);
    assert_string_equal(m.index[0], "index.html");
    m = lookup_ok(c, "0.0.0.0", 8080, NULL, "/go");
    assert_int_equal(m.http_status_code, 302);
    m = lookup_ok(c, "0.0.0.0", 8080, NULL, "/bare/x");
    assert_string_equal(m.dir_path, "/srv/xps/a/b");
    assert_int_equal(m.n_index, 0);
    assert_null(m.index);
    xps_config_destroy(c);
}

/* Relative dir_path: against the base folder given to parse, against the
 * working directory when there is none, and against the file's folder for
 * load (tested with the course file above). */
static void relative_paths_resolve_against_the_base(void **state)
{
    (void)state;
    static const char json[] = "{\"servers\": [{\"listeners\": [{\"port\": 8080}], \"routes\": ["
                               "{\"req_path\": \"/\", \"type\": \"file_serve\", \"dir_path\": \"pub\"}]}]}";
    char err[XPS_CONFIG_ERR_MAX], want[PATH_MAX + 64];
    struct {
        const char *base;
        const char *suffix; /* appended to cwd, or NULL: want is absolute */
        const char *absolute;
    } rows[] = {
        {NULL, "/pub", NULL},
        {"conf", "/conf/pub", NULL},
        {"/etc/xps/", NULL, "/etc/xps/pub"},
        {"/", NULL, "/pub"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        xps_config_t *c = xps_config_parse(json, "t", rows[i].base, err, sizeof err);
        assert_non_null(c);
        if (rows[i].absolute != NULL)
            snprintf(want, sizeof want, "%s", rows[i].absolute);
        else
            snprintf(want, sizeof want, "%s%s", cwd, rows[i].suffix);
        xps_config_route_match_t m = lookup_ok(c, "0.0.0.0", 8080, NULL, "/");
        if (strcmp(m.dir_path, want) != 0)
            fail_msg("base %s: expected dir_path %s, got %s", rows[i].base ? rows[i].base : "(null)",
                     want, m.dir_path);
        xps_config_destroy(c);
    }
}

/* A listener in several blocks (told apart by hostnames) is opened once;
 * addresses are canonical, so two spellings of one address are one. */
static void listeners_are_deduplicated_across_blocks(void **state)
{
    (void)state;
    xps_config_t *c = parse_ok(
        "{\"servers\": ["
        " {\"listeners\": [{\"host\": \"127.0.0.1\", \"port\": 8001}, {\"host\": \"0:0::1\", \"port\": 8001}],"
        "  \"hostnames\": [\"a.test\"]},"
        " {\"listeners\": [{\"host\": \"::1\", \"port\": 8001}, {\"host\": \"127.0.0.1\", \"port\": 8002}],"
        "  \"hostnames\": [\"b.test\"]},"
        " {\"listeners\": [{\"host\": \"127.0.0.1\", \"port\": 8001}]}]}");
    assert_int_equal(xps_config_server_count(c), 3);
    assert_int_equal(xps_config_listener_count(c), 3);
    assert_string_equal(xps_config_listener(c, 0)->host, "127.0.0.1");
    assert_int_equal(xps_config_listener(c, 0)->port, 8001);
    assert_string_equal(xps_config_listener(c, 1)->host, "::1");
    assert_int_equal(xps_config_listener(c, 1)->port, 8001);
    assert_string_equal(xps_config_listener(c, 2)->host, "127.0.0.1");
    assert_int_equal(xps_config_listener(c, 2)->port, 8002);
    xps_config_destroy(c);
}

/* ------------------------------------------------------------- bad files */

/* One bad configuration and the exact message it must give. */
struct bad_case {
    const char *what; /* the mistake, for the failure message */
    const char *json;
    const char *message;
};

/* A minimal valid server block, for rows that break something else. */
#define LISTEN "\"listeners\": [{\"port\": 8001}]"
#define SERVER(routes) "{\"servers\": [{" LISTEN ", \"routes\": [" routes "]}]}"
#define FILES "{\"req_path\": \"/\", \"type\": \"file_serve\", \"dir_path\": \"www\"}"

static void check_bad_table(const struct bad_case *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char err[XPS_CONFIG_ERR_MAX];
        memset(err, 'x', sizeof err);
        xps_config_t *c = xps_config_parse(rows[i].json, "conf.json", "/srv/xps", err, sizeof err);
        if (c != NULL) {
            xps_config_destroy(c);
            fail_msg("%s: accepted, expected: %s", rows[i].what, rows[i].message);
        }
        if (strcmp(err, rows[i].message) != 0)
            fail_msg("%s:\n  expected: %s\n  got:      %s", rows[i].what, rows[i].message, err);
    }
}

#define CHECK_BAD(rows) check_bad_table((rows), sizeof(rows) / sizeof((rows)[0]))

/* [stage 19] A TLS listener's certificates: one per block that lists it
 * with "tls", in block order, with the block's hostnames and paths
 * resolved against the base; a plain listener has none; a host:port that
 * is TLS in one block and plain in another is refused. */
static void tls_listeners_collect_each_blocks_certificate(void **state)
{
    (void)state;
    xps_config_t *c = parse_ok(
        "{\"servers\": ["
        " {\"listeners\": [{\"host\": \"127.0.0.1\", \"port\": 8443,"
        "   \"tls\": {\"cert\": \"certs/a.crt\", \"key\": \"certs/a.key\"}},"
        "   {\"host\": \"127.0.0.1\", \"port\": 8080}],"
        "  \"hostnames\": [\"a.test\"]},"
        " {\"listeners\": [{\"host\": \"127.0.0.1\", \"port\": 8443,"
        "   \"tls\": {\"cert\": \"/etc/b.crt\", \"key\": \"/etc/b.key\"}}],"
        "  \"hostnames\": [\"b.test\", \"www.b.test\"]}]}");
    assert_int_equal(xps_config_listener_count(c), 2);
    size_t n = 99;
    const xps_tls_cert_t *t = xps_config_listener_tls(c, 0, &n);
    assert_int_equal(n, 2);
    assert_non_null(t);
    assert_string_equal(t[0].cert_path, "/srv/xps/certs/a.crt");
    assert_string_equal(t[0].key_path, "/srv/xps/certs/a.key");
    assert_int_equal(t[0].hostname_count, 1);
    assert_string_equal(t[0].hostnames[0], "a.test");
    assert_string_equal(t[1].cert_path, "/etc/b.crt");
    assert_string_equal(t[1].key_path, "/etc/b.key");
    assert_int_equal(t[1].hostname_count, 2);
    assert_string_equal(t[1].hostnames[1], "www.b.test");
    assert_null(xps_config_listener_tls(c, 1, &n));
    assert_int_equal(n, 0);
    xps_config_destroy(c);

    static const struct bad_case rows[] = {
        {"tls in one block, plain in the next",
         "{\"servers\": [{\"listeners\": [{\"port\": 8443, \"tls\": {\"cert\": \"c\", \"key\": \"k\"}}]},"
         " {\"listeners\": [{\"port\": 8443}]}]}",
         "conf.json: servers[1].listeners[0]: 0.0.0.0:8443 is plain here but TLS in "
         "servers[0].listeners[0]: a listener is TLS in every block that lists it or in none"},
        {"plain in one block, tls in the next",
         "{\"servers\": [{\"listeners\": [{\"port\": 8443}]},"
         " {\"listeners\": [{\"port\": 8443, \"tls\": {\"cert\": \"c\", \"key\": \"k\"}}]}]}",
         "conf.json: servers[1].listeners[0]: 0.0.0.0:8443 is TLS here but plain in "
         "servers[0].listeners[0]: a listener is TLS in every block that lists it or in none"},
        {"an empty certificate path",
         "{\"servers\": [{\"listeners\": [{\"port\": 8443, \"tls\": {\"cert\": \"\", \"key\": \"k\"}}]}]}",
         "conf.json: servers[0].listeners[0].tls.cert: must not be empty"},
    };
    CHECK_BAD(rows);
}

/* Syntax errors: line and column of the mistake, and what it is. */
static void invalid_json_is_refused_with_line_and_column(void **state)
{
    (void)state;
    static const struct bad_case rows[] = {
        {"empty", "", "conf.json:1:1: invalid JSON: no JSON value: the text is empty"},
        {"missing comma", "{\n  \"workers\": 1\n  \"servers\": []\n}",
         "conf.json:3:3: invalid JSON: missing ',' before this member"},
        {"trailing comma in object", "{\n  \"workers\": 1,\n}",
         "conf.json:2:15: invalid JSON: trailing comma before '}'"},
        {"trailing comma in array", "{\"servers\": [1, 2, ]}",
         "conf.json:1:18: invalid JSON: trailing comma before ']'"},
        {"unquoted key", "{\n\tworkers: 1}", "conf.json:2:2: invalid JSON: object keys need double quotes"},
        {"single quotes", "{\"server_name\": 'x'}",
         "conf.json:1:17: invalid JSON: strings need double quotes, not single quotes"},
        {"comment", "{\n  // the servers\n}", "conf.json:2:3: invalid JSON: comments are not allowed in JSON"},
        {"unclosed object", "{\n  \"servers\": [\n  ]\n",
         "conf.json:4:1: invalid JSON: unexpected end of file: the object opened at 1:1 is not closed"},
        {"unclosed string", "{\"server_name\": \"abc\n\"}",
         "conf.json:1:21: invalid JSON: line break inside a string (a missing '\"'? write \\n for a line break)"},
        {"bare word", "{\"workers\": auto}",
         "conf.json:1:13: invalid JSON: unknown word 'auto' (strings need double quotes; the literals are "
         "true, false and null)"},
        {"leading zero", "{\"workers\": 04}",
         "conf.json:1:13: invalid JSON: invalid number: no leading zeros (write 8, not 08)"},
        {"bad escape", "{\"server_name\": \"a\\qb\"}",
         "conf.json:1:19: invalid JSON: invalid escape '\\q' (valid: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)"},
        {"lone surrogate", "{\"server_name\": \"\\ud800\"}",
         "conf.json:1:18: invalid JSON: invalid escape: \\uD800 must be followed by a low surrogate "
         "\\uDC00-\\uDFFF"},
        {"text after the value", "{}\n}",
         "conf.json:2:1: invalid JSON: expected the end of the text (the value before is complete), found '}'"},
        {"missing colon", "{\"workers\" 1}", "conf.json:1:12: invalid JSON: expected ':' after the key, found '1'"},
        {"missing value", "{\"workers\": }", "conf.json:1:13: invalid JSON: expected a value, found '}'"},
        {"columns count characters, not bytes", "{\"server_name\": \"\xc3\xa9t\xc3\xa9\" x}",
         "conf.json:1:23: invalid JSON: expected ',' or '}' after a member, found 'x'"},
    };
    CHECK_BAD(rows);
}

/* Keys: unknown ones (with a suggestion when close), repeated ones, and
 * keys of another route type. */
static void unknown_and_misplaced_keys_are_refused(void **state)
{
    (void)state;
    static const struct bad_case rows[] = {
        {"typo in a route key",
         SERVER("{\"req_pth\": \"/\", \"type\": \"file_serve\", \"dir_path\": \"www\"}"),
         "conf.json: servers[0].routes[0].req_pth: unknown key (did you mean \"req_path\"?)"},
        {"unknown top-level key", "{\"servers\": [], \"colour\": \"blue\"}",
         "conf.json: colour: unknown key"},
        {"typo in a server block key", "{\"servers\": [{\"listener\": []}]}",
         "conf.json: servers[0].listener: unknown key (did you mean \"listeners\"?)"},
        {"typo in a listener key", "{\"servers\": [{\"listeners\": [{\"prot\": 1}]}]}",
         "conf.json: servers[0].listeners[0].prot: unknown key (did you mean \"port\"?)"},
        {"repeated key", "{\"servers\": [{\"listeners\": [{\"port\": 1, \"port\": 2}]}]}",
         "conf.json: servers[0].listeners[0].port: appears twice in the same object"},
        {"gzip_static on a proxy",
         SERVER("{\"req_path\": \"/\", \"type\": \"reverse_proxy\", \"upstreams\": [\"a:1\"], \"gzip_static\": true}"),
         "conf.json: servers[0].routes[0].gzip_static: not a key of reverse_proxy routes"},
        {"key of another route type",
         SERVER("{\"req_path\": \"/\", \"type\": \"file_serve\", \"dir_path\": \"www\", \"upstreams\": []}"),
         "conf.json: servers[0].routes[0].upstreams: not a key of file_serve routes"},
        {"unknown tls key",
         "{\"servers\": [{\"listeners\": [{\"port\": 443, \"tls\": {\"cert\": \"c\", \"key\": \"k\", \"chain\": \"x\"}}]}]}",
         "conf.json: servers[0].listeners[0].tls.chain: unknown key"},
    };
    CHECK_BAD(rows);
}

/* A value of the wrong JSON type names what was expected and what came. */
static void wrong_types_are_refused(void **state)
{
    (void)state;
    static const struct bad_case rows[] = {
        {"top level not an object", "[]", "conf.json: top level: expected an object, got an array"},
        {"port as a string", "{\"servers\": [{\"listeners\": [{\"port\": \"8001\"}]}]}",
         "conf.json: servers[0].listeners[0].port: expected a number, got a string (\"8001\")"},
        {"port with a fraction", "{\"servers\": [{\"listeners\": [{\"port\": 8001.5}]}]}",
         "conf.json: servers[0].listeners[0].port: expected a whole number, got 8001.5"},
        {"servers not an array", "{\"servers\": {}}", "conf.json: servers: expected an array, got an object"},
        {"server_name a number", "{\"server_name\": 7, \"servers\": []}",
         "conf.json: server_name: expected a string, got a number (7)"},
        {"workers a word", "{\"workers\": \"many\", \"servers\": []}",
         "conf.json: workers: expected a number or \"auto\", got a string (\"many\")"},
        {"workers zero", "{\"workers\": 0, \"servers\": []}",
         "conf.json: workers: 0 is out of range (1-1024, or \"auto\")"},
        {"index not an array", SERVER("{\"req_path\": \"/\", \"type\": \"file_serve\", \"dir_path\": \"w\", \"index\": \"i.html\"}"),
         "conf.json: servers[0].routes[0].index: expected an array, got a string (\"i.html\")"},
        {"hostname a number", "{\"servers\": [{" LISTEN ", \"hostnames\": [\"a.test\", 5]}]}",
         "conf.json: servers[0].hostnames[1]: expected a string, got a number (5)"},
        {"dir_browsing a string", SERVER("{\"req_path\": \"/\", \"type\": \"file_serve\", \"dir_path\": \"w\", \"dir_browsing\": \"yes\"}"),
         "conf.json: servers[0].routes[0].dir_browsing: expected true or false, got a string (\"yes\")"},
        {"gzip_level out of range", SERVER("{\"req_path\": \"/\", \"type\": \"file_serve\", \"dir_path\": \"w\", \"gzip_level\": 10}"),
         "conf.json: servers[0].routes[0].gzip_level: 10 is out of range (-1-9)"},
        {"gzip_min_length negative", SERVER("{\"req_path\": \"/\", \"type\": \"file_serve\", \"dir_path\": \"w\", \"gzip_min_length\": -1}"),
         "conf.json: servers[0].routes[0].gzip_min_length: -1 is out of range (0-2^40)"},
        {"gzip_static a number", SERVER("{\"req_path\": \"/\", \"type\": \"file_serve\", \"dir_path\": \"w\", \"gzip_static\": 1}"),
         "conf.json: servers[0].routes[0].gzip_static: expected true or false, got a number (1)"},
        {"gzip_mime_types entry without a slash", SERVER("{\"req_path\": \"/\", \"type\": \"file_serve\", \"dir_path\": \"w\", \"gzip_mime_types\": [\"text/html\", \"html\"]}"),
         "conf.json: servers[0].routes[0].gzip_mime_types[1]: \"html\" is not a media type (type/subtype, e.g. \"text/html\" or \"text/*\")"},
        {"timeouts not an object", "{\"timeouts\": 5, \"servers\": []}",
         "conf.json: timeouts: expected an object, got a number (5)"},
        {"empty string", SERVER("{\"req_path\": \"\", \"type\": \"file_serve\", \"dir_path\": \"w\"}"),
         "conf.json: servers[0].routes[0].req_path: must not be empty"},
        {"header value not a string", SERVER("{\"req_path\": \"/\", \"type\": \"redirect\", \"redirect_url\": \"/x\", \"headers\": {\"X-A\": 1}}"),
         "conf.json: servers[0].routes[0].headers.X-A: expected a string, got a number (1)"},
    };
    CHECK_BAD(rows);
}

/* [stage 18] timeouts, limits and rate_limit: their inner keys, types and
 * ranges, each refusal with where it is. */
static void stage_18_keys_are_checked_with_their_location(void **state)
{
    (void)state;
    static const struct bad_case rows[] = {
        {"unknown timeout key", "{\"timeouts\": {\"keep_alive_ms\": 5}, \"servers\": []}",
         "conf.json: timeouts.keep_alive_ms: unknown key (did you mean \"keepalive_ms\"?)"},
        {"timeout a string", "{\"timeouts\": {\"send_ms\": \"5s\"}, \"servers\": []}",
         "conf.json: timeouts.send_ms: expected a number, got a string (\"5s\")"},
        {"timeout zero", "{\"timeouts\": {\"keepalive_ms\": 0}, \"servers\": []}",
         "conf.json: timeouts.keepalive_ms: 0 is out of range (1-86400000 milliseconds)"},
        {"timeout over a day", "{\"timeouts\": {\"upstream_read_ms\": 86400001}, \"servers\": []}",
         "conf.json: timeouts.upstream_read_ms: 8.64e+07 is out of range (1-86400000 milliseconds)"},
        {"timeout with a fraction", "{\"timeouts\": {\"upstream_connect_ms\": 1.5}, \"servers\": []}",
         "conf.json: timeouts.upstream_connect_ms: expected a whole number, got 1.5"},
        {"unknown limit key", "{\"limits\": {\"max_body_byte\": 5}, \"servers\": []}",
         "conf.json: limits.max_body_byte: unknown key (did you mean \"max_body_bytes\"?)"},
        {"limits not an object", "{\"limits\": [], \"servers\": []}",
         "conf.json: limits: expected an object, got an array"},
        {"max_connections zero", "{\"limits\": {\"max_connections\": 0}, \"servers\": []}",
         "conf.json: limits.max_connections: 0 is out of range (1-1000000)"},
        {"max_header_bytes too small", "{\"limits\": {\"max_header_bytes\": 100}, \"servers\": []}",
         "conf.json: limits.max_header_bytes: 100 is out of range (1024-1048576)"},
        {"max_body_bytes negative", "{\"limits\": {\"max_body_bytes\": -1}, \"servers\": []}",
         "conf.json: limits.max_body_bytes: -1 is out of range (0-1099511627776)"},
        {"rate_limit not an object", SERVER("{\"req_path\": \"/\", \"type\": \"file_serve\", \"dir_path\": \"w\", \"rate_limit\": 10}"),
         "conf.json: servers[0].routes[0].rate_limit: expected an object, got a number (10)"},
        {"rate_limit without rate", SERVER("{\"req_path\": \"/\", \"type\": \"file_serve\", \"dir_path\": \"w\", \"rate_limit\": {\"burst\": 2}}"),
         "conf.json: servers[0].routes[0].rate_limit: missing key \"rate\" (requests per second, e.g. 10)"},
        {"rate_limit unknown key", SERVER("{\"req_path\": \"/\", \"type\": \"redirect\", \"redirect_url\": \"/x\", \"rate_limit\": {\"rate\": 1, \"brust\": 2}}"),
         "conf.json: servers[0].routes[0].rate_limit.brust: unknown key (did you mean \"burst\"?)"},
        {"rate zero", SERVER("{\"req_path\": \"/\", \"type\": \"file_serve\", \"dir_path\": \"w\", \"rate_limit\": {\"rate\": 0}}"),
         "conf.json: servers[0].routes[0].rate_limit.rate: 0 is out of range (0.001-1000000 requests per second)"},
        {"rate a string", SERVER("{\"req_path\": \"/\", \"type\": \"file_serve\", \"dir_path\": \"w\", \"rate_limit\": {\"rate\": \"10r/s\"}}"),
         "conf.json: servers[0].routes[0].rate_limit.rate: expected a number, got a string (\"10r/s\")"},
        {"burst a fraction", SERVER("{\"req_path\": \"/\", \"type\": \"file_serve\", \"dir_path\": \"w\", \"rate_limit\": {\"rate\": 1, \"burst\": 2.5}}"),
         "conf.json: servers[0].routes[0].rate_limit.burst: expected a whole number, got 2.5"},
        {"burst zero", SERVER("{\"req_path\": \"/\", \"type\": \"file_serve\", \"dir_path\": \"w\", \"rate_limit\": {\"rate\": 1, \"burst\": 0}}"),
         "conf.json: servers[0].routes[0].rate_limit.burst: 0 is out of range (1-1000000)"},
    };
    CHECK_BAD(rows);
}

/* [stage 18] Values given are kept; absent ones have the documented
 * defaults; a route's rate_limit reaches the lookup. */
static void stage_18_values_and_defaults(void **state)
{
    (void)state;
    xps_config_t *c = parse_ok(SERVER(FILES));
    const xps_config_timeouts_t *t = xps_config_timeouts(c);
    const xps_config_limits_t *l = xps_config_limits(c);
    assert_int_equal(t->header_read_ms, XPS_CONFIG_HEADER_READ_MS);
    assert_int_equal(t->keepalive_ms, XPS_CONFIG_KEEPALIVE_MS);
    assert_int_equal(t->send_ms, XPS_CONFIG_SEND_MS);
    assert_int_equal(t->upstream_connect_ms, XPS_CONFIG_UPSTREAM_CONNECT_MS);
    assert_int_equal(t->upstream_read_ms, XPS_CONFIG_UPSTREAM_READ_MS);
    assert_int_equal(l->max_connections, XPS_CONFIG_MAX_CONNECTIONS);
    assert_int_equal(l->max_header_bytes, XPS_CONFIG_MAX_HEADER_BYTES);
    assert_int_equal(l->max_body_bytes, XPS_CONFIG_MAX_BODY_BYTES);
    xps_config_route_match_t m = lookup_ok(c, "0.0.0.0", 8001, "x", "/");
    assert_null(m.rate_limit);
    xps_config_destroy(c);

    c = parse_ok("{\"timeouts\": {\"header_read_ms\": 1500, \"upstream_read_ms\": 7},"
                 " \"limits\": {\"max_connections\": 3, \"max_body_bytes\": 0},"
                 " \"servers\": [{" LISTEN ", \"routes\": ["
                 "{\"req_path\": \"/\", \"type\": \"file_serve\", \"dir_path\": \"w\","
                 " \"rate_limit\": {\"rate\": 0.5}},"
                 "{\"req_path\": \"/a\", \"type\": \"redirect\", \"redirect_url\": \"/\","
                 " \"rate_limit\": {\"rate\": 2.5, \"burst\": 9}}]}]}");
    t = xps_config_timeouts(c);
    l = xps_config_limits(c);
    assert_int_equal(t->header_read_ms, 1500);
    assert_int_equal(t->keepalive_ms, XPS_CONFIG_KEEPALIVE_MS);
    assert_int_equal(t->upstream_read_ms, 7);
    assert_int_equal(l->max_connections, 3);
    assert_int_equal(l->max_header_bytes, XPS_CONFIG_MAX_HEADER_BYTES);
    assert_int_equal(l->max_body_bytes, 0);
    m = lookup_ok(c, "0.0.0.0", 8001, "x", "/");
    assert_non_null(m.rate_limit);
    assert_int_equal(m.rate_limit->rate_milli, 500);
    assert_int_equal(m.rate_limit->burst, 1); /* 0.5 rounded up */
    m = lookup_ok(c, "0.0.0.0", 8001, "x", "/a");
    assert_non_null(m.rate_limit);
    assert_int_equal(m.rate_limit->rate_milli, 2500);
    assert_int_equal(m.rate_limit->burst, 9);
    xps_config_destroy(c);
}

/* [stage 20] cache, top level and route: keys, types, ranges, defaults. */
static void stage_20_cache_keys(void **state)
{
    (void)state;
    static const struct bad_case rows[] = {
        {"unknown cache key", "{\"cache\": {\"folder\": \"x\"}, \"servers\": []}",
         "conf.json: cache.folder: unknown key"},
        {"max_bytes too small", "{\"cache\": {\"max_bytes\": 1000}, \"servers\": []}",
         "conf.json: cache.max_bytes: 1000 is out of range (1048576-1099511627776)"},
        {"cache not an object", "{\"cache\": true, \"servers\": []}",
         "conf.json: cache: expected an object, got true"},
        {"route cache a number", SERVER("{\"req_path\": \"/\", \"type\": \"reverse_proxy\", \"upstreams\": [\"a:1\"], \"cache\": 1}"),
         "conf.json: servers[0].routes[0].cache: expected true, false or an object, got a number (1)"},
        {"route lock_timeout_ms zero", SERVER("{\"req_path\": \"/\", \"type\": \"reverse_proxy\", \"upstreams\": [\"a:1\"], \"cache\": {\"lock_timeout_ms\": 0}}"),
         "conf.json: servers[0].routes[0].cache.lock_timeout_ms: 0 is out of range (1-60000 milliseconds)"},
        {"route cache unknown key", SERVER("{\"req_path\": \"/\", \"type\": \"reverse_proxy\", \"upstreams\": [\"a:1\"], \"cache\": {\"max_age_s\": 3}}"),
         "conf.json: servers[0].routes[0].cache.max_age_s: unknown key"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char err[512] = "";
        xps_config_t *c = xps_config_parse(rows[i].json, "conf.json", "/base", err, sizeof err);
        if (c || strncmp(err, rows[i].message, strlen(rows[i].message)) != 0)
            fail_msg("%s: got \"%s\"", rows[i].what, err);
    }
    xps_config_t *c = parse_ok(SERVER("{\"req_path\": \"/\", \"type\": \"reverse_proxy\", \"upstreams\": [\"a:1\"]}"));
    assert_int_equal(xps_config_cache(c)->max_bytes, XPS_CONFIG_CACHE_MAX_BYTES);
    const char *dir = xps_config_cache(c)->dir;
    assert_true(strlen(dir) > 6 && strcmp(dir + strlen(dir) - 6, "/cache") == 0);
    assert_false(lookup_ok(c, "0.0.0.0", 8001, "x", "/").cache);
    xps_config_destroy(c);
    c = parse_ok("{\"cache\": {\"dir\": \"/var/c\", \"max_bytes\": 2097152}, \"servers\": [{" LISTEN ", \"routes\": ["
                 "{\"req_path\": \"/\", \"type\": \"reverse_proxy\", \"upstreams\": [\"a:1\"], \"cache\": true},"
                 "{\"req_path\": \"/b\", \"type\": \"reverse_proxy\", \"upstreams\": [\"a:1\"], \"cache\": {\"lock_timeout_ms\": 7}}]}]}");
    assert_string_equal(xps_config_cache(c)->dir, "/var/c");
    assert_int_equal(xps_config_cache(c)->max_bytes, 2097152);
    xps_config_route_match_t m = lookup_ok(c, "0.0.0.0", 8001, "x", "/");
    assert_true(m.cache);
    assert_int_equal(m.cache_lock_ms, XPS_CONFIG_CACHE_LOCK_TIMEOUT_MS);
    m = lookup_ok(c, "0.0.0.0", 8001, "x", "/b");
    assert_true(m.cache);
    assert_int_equal(m.cache_lock_ms, 7);
    xps_config_destroy(c);
}

/* [stage 19] upstream_tls: checked from stage 12 on, its paths resolved. */
static void stage_19_upstream_tls_keys(void **state)
{
    (void)state;
#define PROXY_TLS(v) SERVER("{\"req_path\": \"/\", \"type\": \"reverse_proxy\", \"upstreams\": [\"a:1\"], \"upstream_tls\": " v "}")
    static const struct bad_case rows[] = {
        {"upstream_tls a string", PROXY_TLS("\"yes\""),
         "conf.json: servers[0].routes[0].upstream_tls: expected true, false or an object, got a string"},
        {"unknown key", PROXY_TLS("{\"cafile\": \"x\"}"),
         "conf.json: servers[0].routes[0].upstream_tls.cafile: unknown key"},
        {"empty ca", PROXY_TLS("{\"ca\": \"\"}"),
         "conf.json: servers[0].routes[0].upstream_tls.ca: must not be empty"},
        {"empty sni", PROXY_TLS("{\"sni\": \"\"}"),
         "conf.json: servers[0].routes[0].upstream_tls.sni: must not be empty"},
        {"verify a number", PROXY_TLS("{\"verify\": 0}"),
         "conf.json: servers[0].routes[0].upstream_tls.verify: expected"},
        {"a ca that cannot be read", PROXY_TLS("{\"ca\": \"nope.pem\"}"),
         "conf.json: servers[0].routes[0].upstream_tls.ca: cannot read /base/nope.pem: No such file"},
        {"on a file route", SERVER("{\"req_path\": \"/\", \"type\": \"file_serve\", \"dir_path\": \"w\", \"upstream_tls\": true}"),
         "conf.json: servers[0].routes[0].upstream_tls:"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char err[512] = "";
        xps_config_t *c = xps_config_parse(rows[i].json, "conf.json", "/base", err, sizeof err);
        if (c || strncmp(err, rows[i].message, strlen(rows[i].message)) != 0)
            fail_msg("%s: got \"%s\"", rows[i].what, err);
    }
    /* A readable CA, named relative to the config's folder. */
    char base[] = "/tmp/xps-unit-ca-XXXXXX", ca_path[64];
    assert_non_null(mkdtemp(base));
    snprintf(ca_path, sizeof ca_path, "%s/ca.pem", base);
    FILE *f = fopen(ca_path, "w");
    assert_non_null(f);
    fputs("(read by OpenSSL at the first connect, not by the config)\n", f);
    fclose(f);
    char err[XPS_CONFIG_ERR_MAX];
    xps_config_t *c = xps_config_parse("{\"servers\": [{" LISTEN ", \"routes\": ["
                 "{\"req_path\": \"/\", \"type\": \"reverse_proxy\", \"upstreams\": [\"a:1\"]},"
                 "{\"req_path\": \"/t\", \"type\": \"reverse_proxy\", \"upstreams\": [\"a:1\"], \"upstream_tls\": true},"
                 "{\"req_path\": \"/f\", \"type\": \"reverse_proxy\", \"upstreams\": [\"a:1\"], \"upstream_tls\": false},"
                 "{\"req_path\": \"/o\", \"type\": \"reverse_proxy\", \"upstreams\": [\"a:1\"],"
                 " \"upstream_tls\": {\"ca\": \"ca.pem\", \"sni\": \"api.test\", \"verify\": false}}]}]}",
                 "conf.json", base, err, sizeof err);
    if (c == NULL)
        fail_msg("parse failed: %s", err);
    assert_null(lookup_ok(c, "0.0.0.0", 8001, "x", "/").upstream_tls);
    assert_null(lookup_ok(c, "0.0.0.0", 8001, "x", "/f").upstream_tls);
    const xps_config_upstream_tls_t *t = lookup_ok(c, "0.0.0.0", 8001, "x", "/t").upstream_tls;
    assert_non_null(t);
    assert_null(t->ca_file); /* the system's store */
    assert_null(t->sni);
    assert_true(t->verify);
    t = lookup_ok(c, "0.0.0.0", 8001, "x", "/o").upstream_tls;
    assert_non_null(t);
    assert_string_equal(t->ca_file, ca_path); /* resolved against the config's folder */
    assert_string_equal(t->sni, "api.test");
    assert_false(t->verify);
    xps_config_destroy(c);
    unlink(ca_path);
    rmdir(base);
#undef PROXY_TLS
}

/* [apps/xps] log: level, access format and path; defaults. */
static void product_log_keys(void **state)
{
    (void)state;
    static const struct bad_case rows[] = {
        {"unknown log key", "{\"log\": {\"file\": \"x\"}, \"servers\": []}",
         "conf.json: log.file: unknown key"},
        {"unknown format", "{\"log\": {\"access\": \"common\"}, \"servers\": []}",
         "conf.json: log.access: unknown format \"common\" (expected combined, json or off)"},
        {"unknown level", "{\"log\": {\"level\": \"loud\"}, \"servers\": []}",
         "conf.json: log.level: unknown level \"loud\" (expected error, warn, info or debug)"},
        {"path a number", "{\"log\": {\"path\": 3}, \"servers\": []}",
         "conf.json: log.path: expected a string, got a number (3)"},
        {"log not an object", "{\"log\": \"combined\", \"servers\": []}",
         "conf.json: log: expected an object, got a string"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char err[512] = "";
        xps_config_t *c = xps_config_parse(rows[i].json, "conf.json", "/base", err, sizeof err);
        if (c || strncmp(err, rows[i].message, strlen(rows[i].message)) != 0)
            fail_msg("%s: got \"%s\"", rows[i].what, err);
    }
    xps_config_t *c = parse_ok(SERVER("{\"req_path\": \"/\", \"type\": \"reverse_proxy\", \"upstreams\": [\"a:1\"]}"));
    assert_int_equal(xps_config_log(c)->access, XPS_CONFIG_ACCESS_OFF);
    assert_int_equal(xps_config_log(c)->level, -1);
    const char *path = xps_config_log(c)->path;
    assert_true(strlen(path) > 11 && strcmp(path + strlen(path) - 11, "/access.log") == 0);
    xps_config_destroy(c);
    static const struct {
        const char *log;
        xps_config_access_format_t access;
        int level;
        const char *path;
    } good[] = {
        {"{\"access\": \"combined\", \"path\": \"/var/log/a.log\"}", XPS_CONFIG_ACCESS_COMBINED, -1, "/var/log/a.log"},
        {"{\"access\": \"json\", \"path\": \"logs/a.json\", \"level\": \"warn\"}", XPS_CONFIG_ACCESS_JSON, XPS_LOG_WARN, "/base/logs/a.json"},
        {"{\"access\": \"off\", \"level\": \"debug\"}", XPS_CONFIG_ACCESS_OFF, XPS_LOG_DEBUG, "/base/access.log"},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char json[512], err[512] = "";
        snprintf(json, sizeof json, "{\"log\": %s, \"servers\": [{" LISTEN ", \"routes\": ["
                 "{\"req_path\": \"/\", \"type\": \"reverse_proxy\", \"upstreams\": [\"a:1\"]}]}]}", good[i].log);
        c = xps_config_parse(json, "conf.json", "/base", err, sizeof err);
        if (!c)
            fail_msg("%s: %s", good[i].log, err);
        assert_int_equal(xps_config_log(c)->access, good[i].access);
        assert_int_equal(xps_config_log(c)->level, good[i].level);
        assert_string_equal(xps_config_log(c)->path, good[i].path);
        xps_config_destroy(c);
    }
}

/* [apps/xps] a route's headers: validated, kept in order, as lines too. */
static void product_route_headers(void **state)
{
    (void)state;
#define HROUTE(h) SERVER("{\"req_path\": \"/\", \"type\": \"redirect\", \"http_status_code\": 302, \"redirect_url\": \"/x\", \"headers\": " h "}")
    static const struct bad_case rows[] = {
        {"not a token", HROUTE("{\"X Bad\": \"1\"}"),
         "conf.json: servers[0].routes[0].headers.X Bad: not a header name"},
        {"colon in the name", HROUTE("{\"X-A:\": \"1\"}"),
         "conf.json: servers[0].routes[0].headers.X-A:: not a header name"},
        {"CR LF in the value", HROUTE("{\"X-A\": \"1\\r\\nSet-Cookie: a=b\"}"),
         "conf.json: servers[0].routes[0].headers.X-A: "},
        {"framing field", HROUTE("{\"Content-Length\": \"5\"}"),
         "conf.json: servers[0].routes[0].headers.Content-Length: the server sets this header itself"},
        {"hop-by-hop field, any case", HROUTE("{\"transfer-ENCODING\": \"chunked\"}"),
         "conf.json: servers[0].routes[0].headers.transfer-ENCODING: the server sets this header itself"},
        {"connection", HROUTE("{\"Connection\": \"close\"}"),
         "conf.json: servers[0].routes[0].headers.Connection: the server sets this header itself"},
        {"repeated, another case", HROUTE("{\"X-A\": \"1\", \"x-a\": \"2\"}"),
         "conf.json: servers[0].routes[0].headers.x-a: repeats the header \"X-A\""},
        {"a number", HROUTE("{\"X-A\": 1}"),
         "conf.json: servers[0].routes[0].headers.X-A: expected a string, got a number (1)"},
        {"not an object", HROUTE("[\"X-A\"]"),
         "conf.json: servers[0].routes[0].headers: expected an object, got an array"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char err[512] = "";
        xps_config_t *c = xps_config_parse(rows[i].json, "conf.json", "/base", err, sizeof err);
        if (c || strncmp(err, rows[i].message, strlen(rows[i].message)) != 0)
            fail_msg("%s: got \"%s\"", rows[i].what, err);
    }
    xps_config_t *c = parse_ok(HROUTE("{\"X-Frame-Options\": \"DENY\", \"Cache-Control\": \"max-age=60\"}"));
    xps_config_route_match_t m = lookup_ok(c, "0.0.0.0", 8001, "x", "/");
    assert_int_equal(m.n_headers, 2);
    assert_string_equal(m.headers[0].name, "X-Frame-Options");
    assert_string_equal(m.headers[0].value, "DENY");
    assert_string_equal(m.headers[1].name, "Cache-Control");
    assert_string_equal(m.header_lines, "X-Frame-Options: DENY\r\nCache-Control: max-age=60\r\n");
    xps_config_destroy(c);
    c = parse_ok(SERVER("{\"req_path\": \"/\", \"type\": \"reverse_proxy\", \"upstreams\": [\"a:1\"]}"));
    m = lookup_ok(c, "0.0.0.0", 8001, "x", "/");
    assert_int_equal(m.n_headers, 0);
    assert_string_equal(m.header_lines, "");
    xps_config_destroy(c);
#undef HROUTE
}

/* [apps/xps] error_pages: keys, files read at load, which page answers. */
static void product_error_pages(void **state)
{
    (void)state;
    char dir[] = "/tmp/xps-unit-pages-XXXXXX";
    assert_non_null(mkdtemp(dir));
    static const struct { const char *name, *text; } files[] = {
        {"404.html", "<h1>top 404</h1>"}, {"4xx.html", "<h1>top 4xx</h1>"},
        {"50x.html", "<h1>block 5xx</h1>"}, {"503.html", "<h1>block 503</h1>"}};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/%s", dir, files[i].name);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(files[i].text, f);
        fclose(f);
    }
    static const struct bad_case rows[] = {
        {"not a status", "{\"error_pages\": {\"abc\": \"404.html\"}, \"servers\": []}",
         "conf.json: error_pages.abc: expected a status 400-599 or a class \"4xx\" or \"5xx\""},
        {"a 3xx", "{\"error_pages\": {\"302\": \"404.html\"}, \"servers\": []}",
         "conf.json: error_pages.302: expected a status 400-599"},
        {"a 2xx class", "{\"error_pages\": {\"2xx\": \"404.html\"}, \"servers\": []}",
         "conf.json: error_pages.2xx: expected a status 400-599"},
        {"a missing file, named", "{\"error_pages\": {\"404\": \"nope.html\"}, \"servers\": []}",
         "conf.json: error_pages.404: cannot read "},
        {"a folder", "{\"error_pages\": {\"404\": \".\"}, \"servers\": []}",
         "conf.json: error_pages.404: cannot read "},
        {"in a block", "{\"servers\": [{" LISTEN ", \"error_pages\": {\"500\": \"x/y.html\"}}]}",
         "conf.json: servers[0].error_pages.500: cannot read "},
        {"not an object", "{\"error_pages\": [], \"servers\": []}",
         "conf.json: error_pages: expected an object, got an array"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char err[512] = "";
        xps_config_t *c = xps_config_parse(rows[i].json, "conf.json", dir, err, sizeof err);
        if (c || strncmp(err, rows[i].message, strlen(rows[i].message)) != 0)
            fail_msg("%s: got \"%s\"", rows[i].what, err);
    }
    char err[512] = "";
    xps_config_t *c = xps_config_parse(
        "{\"error_pages\": {\"404\": \"404.html\", \"4xx\": \"4xx.html\"},"
        " \"servers\": [{\"listeners\": [{\"port\": 8001}], \"routes\": [" FILES "],"
        "   \"error_pages\": {\"5xx\": \"50x.html\", \"503\": \"503.html\"}},"
        "  {\"listeners\": [{\"port\": 8002}], \"routes\": [" FILES "]}]}",
        "conf.json", dir, err, sizeof err);
    if (!c)
        fail_msg("%s", err);
    xps_config_route_match_t in_block = lookup_ok(c, "0.0.0.0", 8001, "x", "/");
    xps_config_route_match_t other = lookup_ok(c, "0.0.0.0", 8002, "x", "/");
    xps_config_route_match_t none = {0};
    static const struct {
        int which; /* 0: the first block's route, 1: the second's, 2: no route */
        int status;
        const char *text; /* NULL: no page */
    } want[] = {
        {0, 404, "<h1>top 404</h1>"}, {0, 403, "<h1>top 4xx</h1>"}, {0, 502, "<h1>block 5xx</h1>"},
        {0, 503, "<h1>block 503</h1>"}, {1, 502, NULL}, {1, 429, "<h1>top 4xx</h1>"},
        {2, 404, "<h1>top 404</h1>"}, {2, 500, NULL}, {0, 399, NULL}, {0, 600, NULL},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const xps_config_route_match_t *m = want[i].which == 0 ? &in_block : want[i].which == 1 ? &other : &none;
        const xps_config_error_page_t *p = xps_config_error_page(c, m, want[i].status);
        if (want[i].text ? !p || p->length != strlen(want[i].text) ||
                               memcmp(p->body, want[i].text, p->length) != 0
                         : p != NULL)
            fail_msg("row %zu (%d): got %.*s", i, want[i].status, p ? (int)p->length : 4,
                     p ? p->body : "none");
    }
    assert_null(xps_config_error_page(c, NULL, 500));
    xps_config_destroy(c);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* Values of the right type that still make no sense. */
static void bad_values_are_refused(void **state)
{
    (void)state;
    static const struct bad_case rows[] = {
        {"unknown route type",
         SERVER(FILES ", {\"req_path\": \"/a\", \"type\": \"file_serve\", \"dir_path\": \"w\"},"
                      " {\"req_path\": \"/p\", \"type\": \"proxy\"}"),
         "conf.json: servers[0].routes[2].type: unknown route type \"proxy\" (expected file_serve, "
         "reverse_proxy, redirect, metrics or health)"},
        {"port 0", "{\"servers\": [{\"listeners\": [{\"port\": 0}]}]}",
         "conf.json: servers[0].listeners[0].port: 0 is out of range (1-65535)"},
        {"port 70000", "{\"servers\": [{\"listeners\": [{\"port\": 70000}]}]}",
         "conf.json: servers[0].listeners[0].port: 70000 is out of range (1-65535)"},
        {"host name instead of address", "{\"servers\": [{\"listeners\": [{\"host\": \"localhost\", \"port\": 1}]}]}",
         "conf.json: servers[0].listeners[0].host: \"localhost\" is not a numeric IPv4 or IPv6 address "
         "(use \"0.0.0.0\" for every address, \"127.0.0.1\" for this machine only)"},
        {"duplicate listener in one block",
         "{\"servers\": [{\"listeners\": [{\"port\": 8001}, {\"host\": \"0.0.0.0\", \"port\": 8001}]}]}",
         "conf.json: servers[0].listeners[1]: duplicate listener 0.0.0.0:8001 (also servers[0].listeners[0])"},
        {"wildcard and specific address on one port",
         "{\"servers\": [{\"listeners\": [{\"port\": 8001}]}, {\"listeners\": [{\"host\": \"127.0.0.1\", \"port\": 8001}]}]}",
         "conf.json: servers[1].listeners[0]: 127.0.0.1:8001 conflicts with 0.0.0.0:8001 (servers[0].listeners[0]): "
         "a port is bound either on the wildcard address or on specific addresses, not both"},
        {"req_path without a leading slash",
         SERVER("{\"req_path\": \"api\", \"type\": \"reverse_proxy\", \"upstreams\": [\"127.0.0.1:3000\"]}"),
         "conf.json: servers[0].routes[0].req_path: \"api\" must start with \"/\""},
        {"req_path twice in one block", SERVER(FILES ", " FILES),
         "conf.json: servers[0].routes[1].req_path: \"/\" repeats routes[0] of this server block (it could never match)"},
        {"upstream without a port",
         SERVER("{\"req_path\": \"/\", \"type\": \"reverse_proxy\", \"upstreams\": [\"localhost\"]}"),
         "conf.json: servers[0].routes[0].upstreams[0]: expected \"host:port\" (e.g. \"127.0.0.1:3000\"), got \"localhost\""},
        {"upstream with a URL",
         SERVER("{\"req_path\": \"/\", \"type\": \"reverse_proxy\", \"upstreams\": [\"127.0.0.1:3000\", \"http://a:1\"]}"),
         "conf.json: servers[0].routes[0].upstreams[1]: expected \"host:port\" (e.g. \"127.0.0.1:3000\"), got \"http://a:1\""},
        {"upstream port out of range",
         SERVER("{\"req_path\": \"/\", \"type\": \"reverse_proxy\", \"upstreams\": [\"[::1]:65536\"]}"),
         "conf.json: servers[0].routes[0].upstreams[0]: port 65536 is out of range (1-65535)"},
        {"no upstreams", SERVER("{\"req_path\": \"/\", \"type\": \"reverse_proxy\", \"upstreams\": []}"),
         "conf.json: servers[0].routes[0].upstreams: at least one upstream is needed"},
        {"redirect with status 200",
         SERVER("{\"req_path\": \"/\", \"type\": \"redirect\", \"http_status_code\": 200, \"redirect_url\": \"/x\"}"),
         "conf.json: servers[0].routes[0].http_status_code: 200 is not a redirect status (expected 301, 302, "
         "303, 307 or 308)"},
        {"redirect_url with a line break",
         SERVER("{\"req_path\": \"/\", \"type\": \"redirect\", \"redirect_url\": \"/x\\r\\nSet-Cookie: a=b\"}"),
         "conf.json: servers[0].routes[0].redirect_url: must not contain control characters "
         "(\"/x\\x0d\\x0aSet-Cookie: a=b\")"},
        {"index with a slash",
         SERVER("{\"req_path\": \"/\", \"type\": \"file_serve\", \"dir_path\": \"w\", \"index\": [\"a/i.html\"]}"),
         "conf.json: servers[0].routes[0].index[0]: \"a/i.html\" must be a file name, without '/'"},
        {"hostname with a port", "{\"servers\": [{" LISTEN ", \"hostnames\": [\"a.test:8001\"]}]}",
         "conf.json: servers[0].hostnames[0]: \"a.test:8001\" must not include a port (the Host header's port is ignored)"},
        {"no server blocks", "{\"servers\": []}", "conf.json: servers: at least one server block is needed"},
        {"no listeners", "{\"servers\": [{\"listeners\": []}]}",
         "conf.json: servers[0].listeners: at least one listener is needed"},
        {"bad CIDR", SERVER("{\"req_path\": \"/\", \"type\": \"file_serve\", \"dir_path\": \"w\", \"ip_blacklist\": [\"10.0.0.0/33\"]}"),
         "conf.json: servers[0].routes[0].ip_blacklist[0]: \"10.0.0.0/33\" is not an IP address or a CIDR "
         "block: /33 is longer than an IPv4 address (32 bits)"},
        {"not an address", SERVER("{\"req_path\": \"/\", \"type\": \"redirect\", \"redirect_url\": \"/x\", \"ip_whitelist\": [\"::1\", \"nonsense\"]}"),
         "conf.json: servers[0].routes[0].ip_whitelist[1]: \"nonsense\" is not an IP address or a CIDR "
         "block: expected an IPv4 or IPv6 address, optionally with /bits (\"10.0.0.0/8\", \"fd00::/8\")"},
        {"CIDR with host bits", SERVER("{\"req_path\": \"/\", \"type\": \"reverse_proxy\", \"upstreams\": [\"a:1\"], \"ip_whitelist\": [\"10.0.0.1/8\"]}"),
         "conf.json: servers[0].routes[0].ip_whitelist[0]: \"10.0.0.1/8\" is not an IP address or a CIDR "
         "block: bits are set past the /8 prefix (the block is \"10.0.0.0/8\"; for one address, leave "
         "out the /bits)"},
        {"IPv6 prefix too long", SERVER("{\"req_path\": \"/\", \"type\": \"metrics\", \"ip_blacklist\": [\"fd00::/129\"]}"),
         "conf.json: servers[0].routes[0].ip_blacklist[0]: \"fd00::/129\" is not an IP address or a CIDR "
         "block: /129 is longer than an IPv6 address (128 bits)"},
        {"whitelist not an array", SERVER("{\"req_path\": \"/\", \"type\": \"metrics\", \"ip_whitelist\": \"127.0.0.1\"}"),
         "conf.json: servers[0].routes[0].ip_whitelist: expected an array, got a string (\"127.0.0.1\")"},
        {"unknown load_balancing", SERVER("{\"req_path\": \"/\", \"type\": \"reverse_proxy\", \"upstreams\": [\"a:1\"], \"load_balancing\": \"random\"}"),
         "conf.json: servers[0].routes[0].load_balancing: unknown strategy \"random\" (expected round_robin, "
         "least_connections or ip_hash)"},
        {"max_fails 0", SERVER("{\"req_path\": \"/\", \"type\": \"reverse_proxy\", \"upstreams\": [\"a:1\"], \"max_fails\": 0}"),
         "conf.json: servers[0].routes[0].max_fails: 0 is out of range (1-100)"},
        {"fail_timeout_ms a string", SERVER("{\"req_path\": \"/\", \"type\": \"reverse_proxy\", \"upstreams\": [\"a:1\"], \"fail_timeout_ms\": \"10s\"}"),
         "conf.json: servers[0].routes[0].fail_timeout_ms: expected a number, got a string (\"10s\")"},
        {"fail_timeout_ms over an hour", SERVER("{\"req_path\": \"/\", \"type\": \"reverse_proxy\", \"upstreams\": [\"a:1\"], \"fail_timeout_ms\": 3600001}"),
         "conf.json: servers[0].routes[0].fail_timeout_ms: 3.6e+06 is out of range (1-3600000)"},
        {"health_check path without '/'", SERVER("{\"req_path\": \"/\", \"type\": \"reverse_proxy\", \"upstreams\": [\"a:1\"], \"health_check\": {\"path\": \"health\"}}"),
         "conf.json: servers[0].routes[0].health_check.path: expected a path starting with '/', got \"health\""},
        {"health_check path with a space", SERVER("{\"req_path\": \"/\", \"type\": \"reverse_proxy\", \"upstreams\": [\"a:1\"], \"health_check\": {\"path\": \"/a b\"}}"),
         "conf.json: servers[0].routes[0].health_check.path: \"/a b\" has a space or a byte outside visible ASCII"},
        {"health_check interval 5 ms", SERVER("{\"req_path\": \"/\", \"type\": \"reverse_proxy\", \"upstreams\": [\"a:1\"], \"health_check\": {\"interval_ms\": 5}}"),
         "conf.json: servers[0].routes[0].health_check.interval_ms: 5 is out of range (10-3600000)"},
        {"health_check unknown key", SERVER("{\"req_path\": \"/\", \"type\": \"reverse_proxy\", \"upstreams\": [\"a:1\"], \"health_check\": {\"paht\": \"/\"}}"),
         "conf.json: servers[0].routes[0].health_check.paht: unknown key (did you mean \"path\"?)"},
        {"health_check true", SERVER("{\"req_path\": \"/\", \"type\": \"reverse_proxy\", \"upstreams\": [\"a:1\"], \"health_check\": true}"),
         "conf.json: servers[0].routes[0].health_check: expected an object, got true"},
        {"max_fails on a file route", SERVER("{\"req_path\": \"/\", \"type\": \"file_serve\", \"dir_path\": \"w\", \"max_fails\": 2}"),
         "conf.json: servers[0].routes[0].max_fails: not a key of file_serve routes"},
    };
    CHECK_BAD(rows);
}

/* A required key that is absent: the object that lacks it, and the key. */
static void missing_required_keys_are_refused(void **state)
{
    (void)state;
    static const struct bad_case rows[] = {
        {"no servers", "{\"workers\": 2}", "conf.json: top level: missing key \"servers\" (a list of server blocks)"},
        {"no listeners", "{\"servers\": [{\"routes\": []}]}", "conf.json: servers[0]: missing key \"listeners\""},
        {"no port", "{\"servers\": [{\"listeners\": [{\"host\": \"::\"}]}]}",
         "conf.json: servers[0].listeners[0]: missing key \"port\""},
        {"no req_path", SERVER("{\"type\": \"file_serve\", \"dir_path\": \"w\"}"),
         "conf.json: servers[0].routes[0]: missing key \"req_path\" (\"/\" matches every path)"},
        {"no type", SERVER("{\"req_path\": \"/\"}"),
         "conf.json: servers[0].routes[0]: missing key \"type\" (file_serve, reverse_proxy, redirect, metrics or health)"},
        {"no dir_path", SERVER("{\"req_path\": \"/\", \"type\": \"file_serve\"}"),
         "conf.json: servers[0].routes[0]: missing key \"dir_path\" (required for file_serve routes)"},
        {"no upstreams", SERVER("{\"req_path\": \"/\", \"type\": \"reverse_proxy\"}"),
         "conf.json: servers[0].routes[0]: missing key \"upstreams\" (required for reverse_proxy routes)"},
        {"no redirect_url", SERVER("{\"req_path\": \"/\", \"type\": \"redirect\", \"http_status_code\": 301}"),
         "conf.json: servers[0].routes[0]: missing key \"redirect_url\" (required for redirect routes)"},
        {"tls without key", "{\"servers\": [{\"listeners\": [{\"port\": 443, \"tls\": {\"cert\": \"c\"}}]}]}",
         "conf.json: servers[0].listeners[0].tls: missing key \"key\" (a TLS listener needs a certificate and its key)"},
    };
    CHECK_BAD(rows);
}

/* Files: unreadable ones give strerror; a syntax error gives the file's
 * own line and column. */
static void unreadable_and_broken_files_are_refused(void **state)
{
    (void)state;
    static const struct {
        const char *path;
        const char *message;
    } rows[] = {
        {FIXTURES "/no-such-file.json", FIXTURES "/no-such-file.json: cannot read: No such file or directory"},
        {FIXTURES, FIXTURES ": cannot read: Is a directory"},
        {FIXTURES "/trailing-comma.json",
         FIXTURES "/trailing-comma.json:3:38: invalid JSON: trailing comma before ']'"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char err[XPS_CONFIG_ERR_MAX];
        xps_config_t *c = xps_config_load(rows[i].path, err, sizeof err);
        assert_null(c);
        if (strcmp(err, rows[i].message) != 0)
            fail_msg("load %s:\n  expected: %s\n  got:      %s", rows[i].path, rows[i].message, err);
    }
}

/* The message is cut to the caller's buffer, and always terminated. */
static void messages_fit_the_callers_buffer(void **state)
{
    (void)state;
    char err[16];
    memset(err, 'x', sizeof err);
    assert_null(xps_config_parse("[]", "conf.json", NULL, err, sizeof err));
    assert_string_equal(err, "conf.json: top ");
    assert_null(xps_config_parse("[]", "conf.json", NULL, NULL, 0)); /* no buffer at all */
    assert_null(xps_config_parse("[]", NULL, NULL, err, sizeof err));
    assert_string_equal(err, "config: top lev");
}

/* ---------------------------------------------------------- route lookup */

/* Servers for the lookup table:
 *  0: 127.0.0.1:8001 for a.test and b.test: "/", "/api", "/api/v2/", "/static"
 *  1: 127.0.0.1:8001 for every other Host: "/" only
 *  2: 127.0.0.1:8002 for c.test, and [::1]:8002: no routes
 *  3: 127.0.0.1:8003 for every Host: "/docs" only (no "/"). */
static const char routing_json[] =
    "{\"servers\": ["
    " {\"listeners\": [{\"host\": \"127.0.0.1\", \"port\": 8001}], \"hostnames\": [\"a.test\", \"B.Test\"],"
    "  \"routes\": ["
    "   {\"req_path\": \"/\", \"type\": \"file_serve\", \"dir_path\": \"/srv/a\"},"
    "   {\"req_path\": \"/api\", \"type\": \"reverse_proxy\", \"upstreams\": [\"127.0.0.1:3000\"]},"
    "   {\"req_path\": \"/api/v2/\", \"type\": \"reverse_proxy\", \"upstreams\": [\"127.0.0.1:3002\"]},"
    "   {\"req_path\": \"/static\", \"type\": \"file_serve\", \"dir_path\": \"/srv/static\"}]},"
    " {\"listeners\": [{\"host\": \"127.0.0.1\", \"port\": 8001}],"
    "  \"routes\": [{\"req_path\": \"/\", \"type\": \"redirect\", \"redirect_url\": \"http://a.test:8001/\"}]},"
    " {\"listeners\": [{\"host\": \"127.0.0.1\", \"port\": 8002}, {\"host\": \"::1\", \"port\": 8002}],"
    "  \"hostnames\": [\"c.test\"]},"
    " {\"listeners\": [{\"host\": \"127.0.0.1\", \"port\": 8003}],"
    "  \"routes\": [{\"req_path\": \"/docs\", \"type\": \"file_serve\", \"dir_path\": \"/srv/docs\"}]}]}";

/* One request and where it must go (req_path NULL: XPS_E_NOTFOUND). */
struct route_case {
    const char *listener_host;
    uint16_t listener_port;
    const char *host_header;
    const char *path;
    size_t server;        /* expected block */
    const char *req_path; /* expected route, or NULL for 404 */
};

static void requests_are_routed_by_listener_host_and_longest_prefix(void **state)
{
    (void)state;
    static const struct route_case rows[] = {
        /* longest prefix wins, on segment boundaries */
        {"127.0.0.1", 8001, "a.test", "/", 0, "/"},
        {"127.0.0.1", 8001, "a.test", "/index.html", 0, "/"},
        {"127.0.0.1", 8001, "a.test", "/api", 0, "/api"},
        {"127.0.0.1", 8001, "a.test", "/api/", 0, "/api"},
        {"127.0.0.1", 8001, "a.test", "/api/users/7", 0, "/api"},
        {"127.0.0.1", 8001, "a.test", "/apix", 0, "/"},     /* not a segment boundary */
        {"127.0.0.1", 8001, "a.test", "/ap", 0, "/"},       /* the course's experiment */
        {"127.0.0.1", 8001, "a.test", "/API", 0, "/"},      /* paths are case-sensitive */
        {"127.0.0.1", 8001, "a.test", "/api/v2", 0, "/api"}, /* "/api/v2/" needs the slash */
        {"127.0.0.1", 8001, "a.test", "/api/v2/", 0, "/api/v2/"},
        {"127.0.0.1", 8001, "a.test", "/api/v2/x", 0, "/api/v2/"},
        {"127.0.0.1", 8001, "a.test", "/static/css/a.css", 0, "/static"},
        {"127.0.0.1", 8001, "a.test", "/staticky", 0, "/"},
        /* Host: case-insensitive, without its port or a trailing dot */
        {"127.0.0.1", 8001, "A.TEST", "/api", 0, "/api"},
        {"127.0.0.1", 8001, "b.test:8001", "/api", 0, "/api"},
        {"127.0.0.1", 8001, "b.test.", "/api", 0, "/api"},
        {"127.0.0.1", 8001, "b.test.:8001", "/", 0, "/"},
        /* other Hosts, and none, fall to the block without hostnames */
        {"127.0.0.1", 8001, "c.test", "/api", 1, "/"},
        {"127.0.0.1", 8001, "a.test.evil", "/", 1, "/"},
        {"127.0.0.1", 8001, "a.tes", "/", 1, "/"},
        {"127.0.0.1", 8001, NULL, "/api", 1, "/"},
        {"127.0.0.1", 8001, "", "/api", 1, "/"},
        {"127.0.0.1", 8001, "127.0.0.1:8001", "/", 1, "/"},
        /* a block without routes: 404, and the next block is not tried */
        {"127.0.0.1", 8002, "c.test", "/", 2, NULL},
        {"::1", 8002, "c.test:8002", "/x", 2, NULL},
        {"0:0::1", 8002, "C.TEST", "/x", 2, NULL},
        /* no block for this Host on this listener */
        {"127.0.0.1", 8002, "a.test", "/", 0, NULL},
        {"127.0.0.1", 8002, NULL, "/", 0, NULL},
        {"[::1]", 8002, "c.test", "/", 0, NULL}, /* not an address spelling we accept */
        /* no route for the path */
        {"127.0.0.1", 8003, "x", "/doc", 0, NULL},
        {"127.0.0.1", 8003, "x", "/", 0, NULL},
        {"127.0.0.1", 8003, "x", "/docs", 3, "/docs"},
        {"127.0.0.1", 8003, "x", "/docs/a/b.html", 3, "/docs"},
        {"127.0.0.1", 8003, "x", "*", 0, NULL},
        /* listeners nobody configured */
        {"127.0.0.1", 8004, "a.test", "/", 0, NULL},
        {"0.0.0.0", 8001, "a.test", "/", 0, NULL},
        {"127.0.0.2", 8001, "a.test", "/", 0, NULL},
        {"::1", 8001, "a.test", "/", 0, NULL},
    };
    xps_config_t *c = parse_ok(routing_json);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const struct route_case *r = &rows[i];
        xps_config_route_match_t m;
        int rc = xps_config_lookup(c, r->listener_host, r->listener_port, r->host_header, r->path, &m);
        const char *got = rc == XPS_OK ? m.req_path : "(404)";
        const char *want = r->req_path != NULL ? r->req_path : "(404)";
        if (strcmp(got, want) != 0 || (rc == XPS_OK && m.server != r->server) ||
            (rc != XPS_OK && rc != XPS_E_NOTFOUND))
            fail_msg("row %zu: %s:%u Host=%s %s: expected %s in servers[%zu], got %s in servers[%zu] (%s)", i,
                     r->listener_host, r->listener_port, r->host_header ? r->host_header : "(none)", r->path,
                     want, r->server, got, m.server, xps_strerror(rc));
    }
    /* the match carries the route's own fields */
    xps_config_route_match_t m = lookup_ok(c, "127.0.0.1", 8001, "a.test", "/api/v2/x");
    assert_int_equal(m.type, XPS_CONFIG_REVERSE_PROXY);
    assert_int_equal(m.route, 2);
    assert_int_equal(m.upstreams[0].port, 3002);
    m = lookup_ok(c, "127.0.0.1", 8001, "a.test", "/static/a.css");
    assert_string_equal(m.dir_path, "/srv/static"); /* the file is /srv/static/static/a.css */
    xps_config_destroy(c);
}

/* ------------------------------------------------------ the JSON checker */

/* Positions as an editor shows them: lines from '\n', characters not bytes. */
static void json_positions_count_lines_and_characters(void **state)
{
    (void)state;
    static const char text[] = "ab\n\xc3\xa9x\n\tz";
    static const struct {
        size_t offset;
        unsigned line, column;
    } rows[] = {{0, 1, 1}, {2, 1, 3}, {3, 2, 1}, {5, 2, 2}, {6, 2, 3}, {7, 3, 1}, {8, 3, 2}, {99, 3, 3}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        unsigned line = 0, column = 0;
        xps_config_json_position(text, sizeof text - 1, rows[i].offset, &line, &column);
        if (line != rows[i].line || column != rows[i].column)
            fail_msg("offset %zu: expected %u:%u, got %u:%u", rows[i].offset, rows[i].line, rows[i].column,
                     line, column);
    }
}

/* The checker accepts what RFC 8259 accepts, and sees NUL bytes. */
static void json_checker_accepts_valid_json(void **state)
{
    (void)state;
    static const char *good[] = {
        "{}", "[]", "0", "-0.5e+10", "\"\\u00e9\\ud83d\\ude00\"", " \r\n\t{\"a\": [true, false, null]} \n",
        "\xef\xbb\xbf{\"bom\": 1}", "[[[[[[[[[[1]]]]]]]]]]", "{\"\": \"\"}",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        size_t offset = 1;
        char why[160] = "";
        if (xps_config_json_check(good[i], strlen(good[i]), &offset, why, sizeof why) != XPS_OK)
            fail_msg("refused %s: at %zu: %s", good[i], offset, why);
    }
    size_t offset = 0;
    char why[160];
    assert_int_equal(xps_config_json_check("{} \0", 4, &offset, why, sizeof why), XPS_E_INVAL);
    assert_int_equal(offset, 3);
    assert_string_equal(why, "expected the end of the text (the value before is complete), found byte 0x00");
    char deep[200];
    memset(deep, '[', sizeof deep);
    assert_int_equal(xps_config_json_check(deep, sizeof deep, &offset, why, sizeof why), XPS_E_INVAL);
    assert_int_equal(offset, XPS_CONFIG_JSON_MAX_DEPTH);
    assert_string_equal(why, "nested too deeply (more than 64 levels)");
}

/* Random edits of the two good files (deterministic: a fixed seed): never
 * a crash, every refusal is one line naming the file, and whatever the
 * checker accepts cJSON parses (the checker is the stricter of the two). */
static void mutated_files_never_crash_and_checker_is_stricter_than_cjson(void **state)
{
    (void)state;
    static const char alphabet[] = "{}[]\":,0123456789-+.eE \n\t\\/'atrufnlx\xc3\xa9";
    static const char *fixtures[] = {FIXTURES "/course-stage-12.json", FIXTURES "/all-keys.json"};
    unsigned seed = 12;
    for (size_t f = 0; f < 2; f++) {
        char base[8192], buf[8200], err[XPS_CONFIG_ERR_MAX];
        FILE *in = fopen(fixtures[f], "rb");
        assert_non_null(in);
        size_t n = fread(base, 1, sizeof base - 1, in);
        fclose(in);
        for (int round = 0; round < 5000; round++) {
            size_t m = n;
            memcpy(buf, base, n);
            for (int edits = 1 + rand_r(&seed) % 3; edits > 0; edits--) {
                size_t at = (size_t)rand_r(&seed) % m;
                char ch = alphabet[(size_t)rand_r(&seed) % (sizeof alphabet - 1)];
                int op = rand_r(&seed) % 3;
                if (op == 0) /* delete */
                    memmove(buf + at, buf + at + 1, --m - at);
                else if (op == 1) /* insert */
                    memmove(buf + at + 1, buf + at, m++ - at), buf[at] = ch;
                else /* replace */
                    buf[at] = ch;
            }
            buf[m] = '\0';
            size_t offset = 0;
            char why[160];
            if (xps_config_json_check(buf, m, &offset, why, sizeof why) == XPS_OK) {
                cJSON *tree = cJSON_ParseWithLength(buf, m);
                if (tree == NULL)
                    fail_msg("checker accepted what cJSON refuses:\n%s", buf);
                cJSON_Delete(tree);
            }
            xps_config_t *c = xps_config_parse(buf, "m.json", "/srv", err, sizeof err);
            if (c == NULL && (strncmp(err, "m.json", 6) != 0 || strchr(err, '\n') != NULL))
                fail_msg("bad message \"%s\" for:\n%s", err, buf);
            xps_config_destroy(c);
        }
    }
}

static int find_repository_root(void **state)
{
    (void)state;
    struct stat st;
    if (getcwd(cwd, sizeof cwd) == NULL || stat(FIXTURES "/course-stage-12.json", &st) != 0) {
        fprintf(stderr, "unit-config: run from the repository root (%s not found)\n", FIXTURES);
        return -1;
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(course_stage_12_config_parses),
        cmocka_unit_test(config_with_all_later_keys_parses),
        cmocka_unit_test(stage_18_keys_are_checked_with_their_location),
        cmocka_unit_test(stage_18_values_and_defaults),
        cmocka_unit_test(stage_20_cache_keys),
        cmocka_unit_test(stage_19_upstream_tls_keys),
        cmocka_unit_test(product_log_keys),
        cmocka_unit_test(product_route_headers),
        cmocka_unit_test(product_error_pages),
        cmocka_unit_test(access_lists_are_parsed_into_a_filter_per_route),
        cmocka_unit_test(gzip_keys_are_read_into_the_route),
        cmocka_unit_test(balancing_keys_are_read_with_their_defaults),
        cmocka_unit_test(a_route_takes_at_most_64_upstreams),
        cmocka_unit_test(absent_keys_take_their_defaults),
        cmocka_unit_test(relative_paths_resolve_against_the_base),
        cmocka_unit_test(listeners_are_deduplicated_across_blocks),
        cmocka_unit_test(invalid_json_is_refused_with_line_and_column),
        cmocka_unit_test(unknown_and_misplaced_keys_are_refused),
        cmocka_unit_test(wrong_types_are_refused),
        cmocka_unit_test(bad_values_are_refused),
        cmocka_unit_test(missing_required_keys_are_refused),
        cmocka_unit_test(unreadable_and_broken_files_are_refused),
        cmocka_unit_test(messages_fit_the_callers_buffer),
        cmocka_unit_test(requests_are_routed_by_listener_host_and_longest_prefix),
        cmocka_unit_test(tls_listeners_collect_each_blocks_certificate),
        cmocka_unit_test(json_positions_count_lines_and_characters),
        cmocka_unit_test(json_checker_accepts_valid_json),
        cmocka_unit_test(mutated_files_never_crash_and_checker_is_stricter_than_cjson),
    };
    return cmocka_run_group_tests(tests, find_repository_root, NULL);
}
