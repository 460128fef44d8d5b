/*
 * tests/support/dirlist_checks.c — stage 15's black-box checks (see
 * dirlist_checks.h), moved here from tests/stages/stage_15.c so that later
 * stages run them again on their own fixture.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/dirlist_checks.h"

#include "tests/support/browser.h"
#include "tests/support/checks.h"
#include "tests/support/hardening_checks.h"
#include "tests/support/harness.h"
#include "tests/support/http_client.h"

enum {
    LISTED = 8011,   /* dir_browsing on */
    UNLISTED = 8012, /* dir_browsing off */
    BIG = 10000,     /* entries of the big folder */
};

/* The fixture of the running check (each xt_dl_check_* sets it). */
static const char *dl_fixture = "tests/fixtures/stage-15";

/* ------------------------------------------------------------ helpers */

/* The server, as stage 13's checks start it, with browse/ public; with
 * `measured`, without ASan's quarantine (hardening_checks.h). */
static xt_proc_t *start_server_for(bool measured)
{
    xt_require_port_free(LISTED);
    xt_require_port_free(UNLISTED);
    return xt_hard_start_served(dl_fixture, "browse", measured);
}

static xt_proc_t *start_server(void)
{
    return start_server_for(false);
}

/* <scratch>/browse/<rel> as a path. */
static const char *browse_path(xt_proc_t *p, const char *rel)
{
    static char path[8192];
    snprintf(path, sizeof path, "%s/browse/%s", xt_workdir(p), rel);
    return path;
}

/* A file under browse/ with `text`, mode 0644. */
static void put(xt_proc_t *p, const char *rel, const char *text)
{
    const char *path = browse_path(p, rel);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) ||
        fchmod(fd, 0644) != 0)
        xt_fail("cannot write %s: %s", path, strerror(errno));
    close(fd);
}

static void folder(xt_proc_t *p, const char *rel)
{
    const char *path = browse_path(p, rel);
    if ((mkdir(path, 0755) != 0 && errno != EEXIST) || chmod(path, 0755) != 0)
        xt_fail("cannot make %s: %s", path, strerror(errno));
}

/* "<method> <target>" on port's connection fd, kept open. */
static xt_response_t *ask(int fd, const char *method, const char *target)
{
    char request[1024];
    snprintf(request, sizeof request, "%s %s HTTP/1.1\r\nHost: x\r\n\r\n", method, target);
    return xt_ask(fd, request, strcmp(method, "HEAD") == 0);
}

/* One GET on a fresh connection to port. */
static xt_response_t *get(uint16_t port, const char *target)
{
    int fd = xt_connect(port);
    xt_response_t *r = ask(fd, "GET", target);
    close(fd);
    return r;
}

/* Whether header `name` is exactly `value`. */
static bool header_is(const xt_response_t *r, const char *name, const char *value)
{
    char v[256];
    return xt_header_value(r->head, name, v, sizeof v) && strcmp(v, value) == 0;
}

/* Whether r is a listing: 200, "text/html" exactly, a Content-Length equal
 * to the body received, and the page's table. */
static bool is_listing(const xt_response_t *r)
{
    char len[32] = "";
    xt_header_value(r->head, "Content-Length", len, sizeof len);
    return r->status == 200 && header_is(r, "Content-Type", "text/html") &&
           strtoul(len, NULL, 10) == r->body_len && strstr(r->body, "<table>") &&
           strstr(r->body, "<meta charset=\"utf-8\">");
}

/* The row links of a page, in order: href and text of each
 * <tr><td><a href="...">...</a>, as sent (not decoded). */
typedef struct {
    char href[512], text[512];
} link_t;

static size_t links_of(const char *page, link_t *out, size_t cap)
{
    static const char open_tag[] = "<tr><td><a href=\"";
    size_t n = 0;
    for (const char *at = strstr(page, open_tag); at && n < cap; at = strstr(at, open_tag)) {
        at += sizeof open_tag - 1;
        const char *end = strstr(at, "\">");
        const char *close_tag = end ? strstr(end, "</a>") : NULL;
        if (!close_tag)
            break;
        snprintf(out[n].href, sizeof out[n].href, "%.*s", (int)(end - at), at);
        snprintf(out[n].text, sizeof out[n].text, "%.*s", (int)(close_tag - end - 2), end + 2);
        n++;
        at = close_tag;
    }
    return n;
}

/* The index of the link whose href is `href`, or -1. */
static int find_href(const link_t *links, size_t n, const char *href)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(links[i].href, href) == 0)
            return (int)i;
    return -1;
}

/* ------------------------------------------------------------- checks */

/* The switch: on, a listing; off (8012, and stage 13's 8001), 404. */
void xt_dl_check_a_folder_without_index_is_listed_only_with_dir_browsing(const char *fixture)
{
    dl_fixture = fixture;
    xt_proc_t *p = start_server();
    xt_response_t *r = get(LISTED, "/docs/");
    link_t links[8];
    size_t n = links_of(r->body, links, 8);
    xt_expect(is_listing(r) && find_href(links, n, "/docs/notes.txt") >= 0 &&
                  find_href(links, n, "/docs/guide") >= 0,
              "GET /docs/ on 8011 (dir_browsing: true, no index.html): 200, Content-Type "
              "text/html, the exact Content-Length, links to /docs/notes.txt and /docs/guide",
              "%s%s", xt_describe_response(r), xt_server_note(p));
    test_free(r);
    static const struct {
        uint16_t port;
        const char *target, *why;
    } off[] = {
        {UNLISTED, "/docs/", "8012, the same folder, dir_browsing left out"},
        {UNLISTED, "/", "8012's root, no index.html"},
        {8001, "/docs/", "stage 13's 8001, a folder without index.html"},
    };
    for (size_t i = 0; i < sizeof off / sizeof *off; i++) {
        r = get(off[i].port, off[i].target);
        char expected[200];
        snprintf(expected, sizeof expected, "GET %s on %s: 404, and no listing in the body",
                 off[i].target, off[i].why);
        xt_expect(r->status == 404 && !strstr(r->body, "<a href"), expected, "%s%s",
                  xt_describe_response(r), xt_server_note(p));
        test_free(r);
    }
}

/* What the course's tester looks at. */
void xt_dl_check_get_double_slash_lists_the_root_as_the_course_tester_expects(const char *fixture)
{
    dl_fixture = fixture;
    xt_proc_t *p = start_server();
    xt_response_t *r = get(LISTED, "//");
    link_t links[16];
    size_t n = links_of(r->body, links, 16);
    int docs = find_href(links, n, "/docs"), zeta = find_href(links, n, "/zeta"),
        data = find_href(links, n, "/data.json"), readme = find_href(links, n, "/readme.txt");
    xt_expect(is_listing(r) && docs >= 0 && zeta >= 0 && data >= 0 && readme >= 0,
              "GET // on 8011 lists the root: 200, Content-Type exactly \"text/html\", rows "
              "<tr><td><a href=\"/docs\"> (a folder: bare, as the course's tester wants), "
              "\"/zeta\", \"/data.json\", \"/readme.txt\"",
              "%zu row links; %s%s", n, xt_describe_response(r), xt_server_note(p));
    xt_expect(zeta < data && docs < zeta && data < readme,
              "folders first (docs, zeta), then files (data.json, readme.txt), each by name",
              "rows: docs %d, zeta %d, data.json %d, readme.txt %d", docs, zeta, data, readme);
    xt_expect(find_href(links, n, "/") < 0 && !strstr(r->body, ".hidden"),
              "at the root: no parent link, and the dot-file .hidden is not named",
              "%s", xt_quote(r->body, r->body_len));
    test_free(r);
    r = get(LISTED, "/docs");
    xt_expect(r->status == 301 && header_is(r, "Location", "/docs/"),
              "the bare folder link /docs gets 301 to /docs/ (what a browser follows)", "%s",
              xt_describe_response(r));
    test_free(r);
    r = get(LISTED, "/docs/guide/");
    n = links_of(r->body, links, 16);
    xt_expect(is_listing(r) && find_href(links, n, "/docs/") >= 0 &&
                  find_href(links, n, "/docs/guide/step.txt") >= 0,
              "GET /docs/guide/: a parent link to /docs/ and the link /docs/guide/step.txt", "%s",
              xt_describe_response(r));
    test_free(r);
    r = get(LISTED, "/data.json");
    xt_expect(r->status == 200 && header_is(r, "Content-Type", "application/json") &&
                  strcmp(r->body, "{\"ok\": true}\n") == 0,
              "GET /data.json: 200, Content-Type application/json, its bytes", "%s",
              xt_describe_response(r));
    test_free(r);
    r = get(LISTED, "/.hidden");
    xt_expect(r->status == 200 && strcmp(r->body, "hidden from the listing, served by name\n") == 0,
              "GET /.hidden (not listed): still served by name, 200 (hiding is not access "
              "control)", "%s", xt_describe_response(r));
    test_free(r);
}

/* Every awkward name's href, taken from the page, opens its file. */
void xt_dl_check_every_awkward_name_opens_from_its_link(const char *fixture)
{
    dl_fixture = fixture;
    xt_proc_t *p = start_server();
    static const struct {
        const char *name, *text; /* the file's name; its link text, HTML-escaped */
    } names[] = {
        {"a b.txt", "a b.txt"},
        {"x&y<z>.txt", "x&amp;y&lt;z&gt;.txt"},
        {"it's \"quoted\".txt", "it&#39;s &quot;quoted&quot;.txt"},
        {"100%.txt", "100%.txt"},
        {"%41.txt", "%41.txt"}, /* not "A.txt": a % in a name is encoded, never decoded */
        {"#hash.txt", "#hash.txt"},
        {"why?.txt", "why?.txt"},
        {"caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac.txt", "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac.txt"},
    };
    folder(p, "odd");
    folder(p, "odd/sub dir&#?");
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char rel[256], content[300];
        snprintf(rel, sizeof rel, "odd/%s", names[i].name);
        snprintf(content, sizeof content, "the file named %s\n", names[i].name);
        put(p, rel, content);
    }
    put(p, "odd/sub dir&#?/inner.txt", "inside the awkward folder\n");
    int fd = xt_connect(LISTED);
    xt_response_t *page = ask(fd, "GET", "/odd/");
    link_t links[32];
    size_t n = links_of(page->body, links, 32);
    xt_expect(is_listing(page) && n == 1 + 1 + sizeof names / sizeof *names,
              "GET /odd/: a listing of a parent link, one folder and 8 files", "%zu row links; %s",
              n, xt_describe_response(page));
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        int at = -1;
        for (size_t k = 0; k < n; k++)
            if (strcmp(links[k].text, names[i].text) == 0)
                at = (int)k;
        char expected[600], content[300];
        snprintf(content, sizeof content, "the file named %s\n", names[i].name);
        snprintf(expected, sizeof expected,
                 "the row of \"%s\" (link text \"%s\"): its href, requested as written on the "
                 "same connection, gets 200 and the file's bytes", names[i].name, names[i].text);
        if (at < 0) {
            xt_expect(false, expected, "no row with that link text in %s",
                      xt_quote(page->body, page->body_len));
            continue;
        }
        xt_response_t *r = ask(fd, "GET", links[at].href);
        xt_expect(r->status == 200 && strcmp(r->body, content) == 0 &&
                      !strpbrk(links[at].href, " \"'<>&#?"),
                  expected, "href \"%s\": %s%s", links[at].href, xt_describe_response(r),
                  xt_server_note(p));
        test_free(r);
    }
    int sub = -1;
    for (size_t k = 0; k < n; k++)
        if (strcmp(links[k].text, "sub dir&amp;#?/") == 0)
            sub = (int)k;
    xt_expect(sub == 1, "the folder \"sub dir&#?\" is the first row after the parent link",
              "its row is %d", sub);
    if (sub >= 0) { /* a browser's way in: the bare link, its 301, the listing */
        xt_response_t *r = ask(fd, "GET", links[sub].href);
        char location[512] = "";
        xt_header_value(r->head, "Location", location, sizeof location);
        test_free(r);
        r = ask(fd, "GET", location);
        link_t inner[4];
        size_t m = links_of(r->body, inner, 4);
        xt_expect(is_listing(r) && m == 2 && strstr(inner[1].href, "/inner.txt"),
                  "the folder's href gets a 301 whose Location lists the folder (inner.txt)",
                  "href \"%s\", Location \"%s\": %s", links[sub].href, location,
                  xt_describe_response(r));
        if (m == 2) {
            test_free(r);
            r = ask(fd, "GET", inner[1].href);
            xt_expect(r->status == 200 && strcmp(r->body, "inside the awkward folder\n") == 0,
                      "and inner.txt's href opens it", "href \"%s\": %s", inner[1].href,
                      xt_describe_response(r));
        }
        test_free(r);
    }
    test_free(page);
    close(fd);
}

/* HEAD, keep-alive and pipelining across listings. */
void xt_dl_check_head_keep_alive_and_pipelining_across_listings(const char *fixture)
{
    dl_fixture = fixture;
    xt_proc_t *p = start_server();
    int fd = xt_connect(LISTED);
    xt_response_t *g = ask(fd, "GET", "/docs/");
    xt_response_t *h = ask(fd, "HEAD", "/docs/");
    char glen[32] = "", hlen[32] = "";
    xt_header_value(g->head, "Content-Length", glen, sizeof glen);
    xt_header_value(h->head, "Content-Length", hlen, sizeof hlen);
    xt_expect(is_listing(g) && h->status == 200 && header_is(h, "Content-Type", "text/html") &&
                  strcmp(glen, hlen) == 0 && h->body_len == 0,
              "GET then HEAD /docs/ on one connection: the HEAD has the GET's Content-Type and "
              "Content-Length, and no body", "GET: %s; HEAD head: %s", xt_describe_response(g),
              xt_quote(h->head, strlen(h->head)));
    test_free(g);
    test_free(h);
    /* nothing after the HEAD's head: the next response starts right there */
    const char *three = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
                        "GET /docs/notes.txt HTTP/1.1\r\nHost: x\r\n\r\n"
                        "GET /zeta/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    xt_send_all(fd, three, strlen(three));
    xt_response_t *r1 = xt_read_response(fd, false);
    xt_response_t *r2 = xt_read_response(fd, false);
    xt_response_t *r3 = xt_read_response(fd, false);
    xt_expect(is_listing(r1) && strstr(r1->body, "href=\"/docs\"") && r2->status == 200 &&
                  strcmp(r2->body, "notes in docs\n") == 0 && is_listing(r3) &&
                  strstr(r3->body, "href=\"/zeta/z.txt\""),
              "then three pipelined requests on the same connection (listing, file, listing): "
              "answered in order", "1: %s", xt_describe_response(r1));
    xt_expect(xt_closes_silently(fd), "and the close the last one asked for",
              "the connection stayed open for %d ms%s", XT_REPLY_MS, xt_server_note(p));
    test_free(r1);
    test_free(r2);
    test_free(r3);
    close(fd);
}

/* 10,000 entries: all listed, with the server's memory bounded. */
void xt_dl_check_a_folder_of_10000_entries_lists_with_bounded_memory(const char *fixture)
{
    dl_fixture = fixture;
    xt_proc_t *p = start_server_for(true);
    folder(p, "big");
    char name[256];
    /* 80-byte names: the page is about 2.2 MiB, more than the bound below */
    for (int i = 0; i < BIG; i++) {
        snprintf(name, sizeof name,
                 "big/entry-%05d-with-a-name-long-enough-that-the-page-weighs-more-than-two-MB.txt",
                 i);
        int fd = open(browse_path(p, name), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            xt_fail("cannot create %s: %s", name, strerror(errno));
        fchmod(fd, 0644);
        close(fd);
    }
    /* warm-up: a listing of a small folder, and a HEAD of big (its snapshot
     * made and freed), so that "before" counts what any listing leaves */
    test_free(get(LISTED, "/docs/"));
    int warm = xt_connect(LISTED);
    test_free(ask(warm, "HEAD", "/big/"));
    close(warm);
    long before = xt_rss_kib(xt_serving_pid(p));
    int fd = xt_connect(LISTED);
    /* A modest receive buffer (not tiny: a window of a few KiB makes
     * loopback TCP crawl on delayed ACKs), so that while the client does
     * not read, most of the page can only be in the server. */
    int modest = 65536;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &modest, sizeof modest);
    xt_send_all(fd, "GET /big/ HTTP/1.1\r\nHost: x\r\n\r\n", 31);
    char head[4096]; /* byte by byte: nothing of the body goes into it */
    size_t got = 0;
    while (got + 1 < sizeof head && (got < 4 || memcmp(head + got - 4, "\r\n\r\n", 4) != 0) &&
           xt_recv_deadline(fd, head + got, 1, XT_REPLY_MS) == 1)
        got++;
    head[got] = '\0';
    char len_text[32] = "";
    xt_header_value(head, "Content-Length", len_text, sizeof len_text);
    size_t length = strtoul(len_text, NULL, 10);
    xt_expect(got > 0 && strstr(head, " 200 ") && length > 2 * 1024 * 1024,
              "GET /big/ (10,000 entries of 80-byte names): 200 with a Content-Length over 2 MiB",
              "head %s", xt_quote(head, got));
    /* The start of the page, then the server's memory while it waits for
     * the client to read the rest. */
    static char chunk[65536];
    size_t body = xt_recv_exact(fd, chunk, sizeof chunk, XT_REPLY_MS, NULL);
    long during = xt_rss_kib(xt_serving_pid(p));
    /* The rest, counting the rows as they come (a row may straddle reads). */
    static const char row[] = "<tr><td><a href=\"/big/entry-";
    size_t rows = 0, keep = 0;
    static char window[65536 + sizeof row];
    memcpy(window, chunk, body);
    keep = body;
    for (;;) {
        window[keep] = '\0';
        char *last = window;
        for (char *at = strstr(window, row); at; at = strstr(at + 1, row))
            rows++, last = at + 1;
        /* keep the tail that might hold the start of a row */
        size_t tail = keep - (size_t)(last - window) < sizeof row ? keep - (size_t)(last - window)
                                                                   : sizeof row - 1;
        memmove(window, window + keep - tail, tail);
        keep = tail;
        if (body >= length)
            break;
        size_t want = length - body < 65536 ? length - body : 65536;
        ssize_t n = xt_recv_deadline(fd, window + keep, want, XT_REPLY_MS);
        if (n <= 0)
            break;
        body += (size_t)n, keep += (size_t)n;
    }
    xt_expect(body == length && rows == BIG,
              "the whole page arrives, Content-Length bytes, with 10,000 entry rows",
              "%zu of %zu bytes, %zu rows%s", body, length, rows, xt_server_note(p));
    xt_expect(before > 0 && during > 0 && during - before < 2048,
              "while the client has read only the first 64 KiB of the 2.2 MiB page, the "
              "server's RSS has grown by under 2 MiB (the page is made as it is sent)",
              "RSS %ld KiB before, %ld KiB during (+%ld KiB)", before, during, during - before);
    test_free(ask(fd, "HEAD", "/docs/")); /* and the connection is still good */
    close(fd);
}

/* The access check comes before the listing. */
void xt_dl_check_an_ip_refused_route_gets_403_and_never_a_listing(const char *fixture)
{
    dl_fixture = fixture;
    xt_proc_t *p = start_server();
    static const char *targets[] = {"/private/", "/private", "/private/secret.txt"};
    for (size_t i = 0; i < sizeof targets / sizeof *targets; i++) {
        int fd = xt_connect_from("127.0.0.2", LISTED);
        xt_response_t *r = ask(fd, "GET", targets[i]);
        char expected[200];
        snprintf(expected, sizeof expected,
                 "127.0.0.2, GET %s on 8011 (ip_whitelist [127.0.0.1]): 403, no listing",
                 targets[i]);
        xt_expect(r->status == 403 && !strstr(r->body, "<a href"), expected, "%s%s",
                  xt_describe_response(r), xt_server_note(p));
        test_free(r);
        close(fd);
    }
    int fd = xt_connect_from("127.0.0.1", LISTED);
    xt_response_t *r = ask(fd, "GET", "/private/");
    xt_expect(is_listing(r) && strstr(r->body, "href=\"/private/secret.txt\""),
              "127.0.0.1, GET /private/: the listing, with /private/secret.txt", "%s",
              xt_describe_response(r));
    test_free(r);
    close(fd);
}

/* ------------------------------------------------- a real browser */

/* Debian's chromium over the listing: the DOM it builds from the page has
 * the row links, following a folder's link (its 301 included) gives the
 * DOM of that folder's listing, a file with an awkward name opens from its
 * href, and a screenshot is kept in build/reports/stage-15-listing.png. */
void xt_dl_check_a_real_browser_lists_follows_a_folder_and_opens_awkward_names(const char *fixture)
{
    dl_fixture = fixture;
    xt_proc_t *p = start_server();
    xt_browser_t browser = {0};
    xt_browser_start(&browser, xt_workdir(p));
    char why[600];
    /* The root's listing, as the browser's DOM. */
    char *dom = xt_browser_run(&browser, "--dump-dom", "http://127.0.0.1:8011/", why, sizeof why);
    xt_expect(dom && strstr(dom, "<title>Index of /</title>") &&
                  strstr(dom, "<tr><td><a href=\"/docs\">docs/</a></td>") &&
                  strstr(dom, "<tr><td><a href=\"/zeta\">zeta/</a></td>") &&
                  strstr(dom, "<tr><td><a href=\"/data.json\">data.json</a></td>") &&
                  strstr(dom, "<tr><td><a href=\"/readme.txt\">readme.txt</a></td>"),
              "chromium --headless --dump-dom http://127.0.0.1:8011/: a DOM titled \"Index of "
              "/\" with table rows linking /docs, /zeta, /data.json and /readme.txt",
              "%s", dom ? xt_quote(dom, strlen(dom)) : why);
    /* Follow the folder link the DOM holds, as a click would: /docs, the
     * 301, then /docs/'s listing. */
    const char *at = dom ? strstr(dom, "<a href=\"/docs\">") : NULL;
    char url[512] = "http://127.0.0.1:8011/docs";
    if (at)
        snprintf(url, sizeof url, "http://127.0.0.1:8011%.*s", (int)strcspn(at + 9, "\""),
                 at + 9);
    free(dom);
    dom = xt_browser_run(&browser, "--dump-dom", url, why, sizeof why);
    xt_expect(dom && strstr(dom, "<title>Index of /docs/</title>") &&
                  strstr(dom, "<a href=\"/docs/notes.txt\">notes.txt</a>") &&
                  strstr(dom, "<a href=\"/docs/guide\">guide/</a>") &&
                  strstr(dom, "<a href=\"/\">..</a>"),
              "following the folder link (chromium on its href, /docs: 301 to /docs/): the DOM "
              "of /docs/'s listing, with notes.txt, guide/ and the parent link",
              "url %s: %s", url, dom ? xt_quote(dom, strlen(dom)) : why);
    free(dom);
    /* An awkward name, from the page's href to the file's text. */
    folder(p, "odd");
    put(p, "odd/x&y<z> caf\xc3\xa9.txt", "ampersand, angles, a space and UTF-8\n");
    dom = xt_browser_run(&browser, "--dump-dom", "http://127.0.0.1:8011/odd/", why, sizeof why);
    const char *href = dom ? strstr(dom, "<a href=\"/odd/") : NULL;
    snprintf(url, sizeof url, "http://127.0.0.1:8011%.*s",
             href ? (int)strcspn(href + 9, "\"") : 0, href ? href + 9 : "");
    xt_expect(href && strstr(dom, ">x&amp;y&lt;z&gt; caf\xc3\xa9.txt</a>"),
              "the DOM of /odd/ shows the name \"x&y<z> caf\xc3\xa9.txt\" as its link's text",
              "%s", dom ? xt_quote(dom, strlen(dom)) : why);
    free(dom);
    dom = href ? xt_browser_run(&browser, "--dump-dom", url, why, sizeof why) : NULL;
    xt_expect(dom && strstr(dom, "ampersand, angles, a space and UTF-8"),
              "chromium on that link's href shows the file's text", "url %s: %s", url,
              dom ? xt_quote(dom, strlen(dom)) : why);
    free(dom);
    /* The screenshot, kept as the check's artefact. */
    char self[4096] = "", shot[4300];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0'; /* <build>/tests */
    snprintf(shot, sizeof shot, "%s/../reports", self);
    mkdir(shot, 0755);
    snprintf(shot, sizeof shot, "%s/../reports/stage-15-listing.png", self);
    unlink(shot);
    char arg[4400];
    snprintf(arg, sizeof arg, "--screenshot=%s", shot);
    free(xt_browser_run(&browser, arg, "http://127.0.0.1:8011/", why, sizeof why));
    unsigned char magic[8] = {0};
    int fd = open(shot, O_RDONLY | O_CLOEXEC);
    struct stat st = {0};
    bool png = fd >= 0 && read(fd, magic, 8) == 8 && memcmp(magic, "\x89PNG\r\n\x1a\n", 8) == 0 &&
               fstat(fd, &st) == 0 && st.st_size > 1000;
    if (fd >= 0)
        close(fd);
    xt_expect(png, "chromium --screenshot of the root's listing: a PNG in "
                   "build/reports/stage-15-listing.png",
              "%s: %s", shot, fd < 0 ? strerror(errno) : "not a PNG of over 1000 bytes");
}

