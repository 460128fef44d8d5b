/*
 * tests/support/dirlist_checks.h — stage 15's black-box checks (folder
 * listings with dir_browsing), for every stage that keeps its behaviour.
 *
 * Why shared: as stage 13's and 14's checks (http11_checks.h,
 * ipfilter_checks.h), the stage ladder is the regression suite; stage 16
 * (and later stages whose fixture keeps stage 15's listed servers) runs
 * them again on its own fixture.
 *
 * The layout each check needs (tests/fixtures/stage-15 is one): the binary
 * started as `<binary> config.json` in a copy of the fixture
 * (xt_hard_start_server), stage 14's servers (so stage 13's 8001-8004),
 * and before them in the config:
 *
 *     8011  "/" file_serve from browse/, dir_browsing: true; "/private"
 *           the same with ip_whitelist ["127.0.0.1"]
 *     8012  "/" file_serve from browse/, dir_browsing left out (false)
 *
 * browse/ as in tests/fixtures/stage-15 (docs/ with notes.txt and
 * guide/step.txt, zeta/, private/, data.json, readme.txt, .hidden, no
 * index.html anywhere). The awkward names and the folder of 10,000
 * entries are made at check time in the scratch copy.
 * What is checked:
 *  - a folder without an index file is listed with dir_browsing on, and
 *    404 (no listing) with it off, on 8012 and on stage 13's 8001;
 *  - the course's tester's view: GET // lists the root, Content-Type is
 *    exactly "text/html", the links are in <table><tr><td><a>, absolute,
 *    a folder's bare ("/docs", whose 301 leads to "/docs/"), a .json file
 *    is served as application/json;
 *  - folders first, a parent link below the root and none at it, a
 *    dot-file not listed but served by name;
 *  - names with a space, & < >, quotes, %, #, ?, UTF-8: each href taken
 *    from the page opens its file (200, the file's own bytes);
 *  - HEAD: the GET's head, no body; keep-alive and pipelining across
 *    listings (responses in order on one connection);
 *  - 10,000 entries: all listed, Content-Length exact, and the server's
 *    RSS, measured while the client has read only the start of the page,
 *    grows by under 2 MiB although the page is bigger than that;
 *  - a route whose ip_whitelist refuses the client answers 403, never a
 *    listing, and the allowed client gets the listing;
 *  - a real browser: Debian's headless chromium dumps the DOM of the
 *    root's listing (the row links), of a folder reached through its
 *    link (the 301 followed), of a file reached through an awkward
 *    name's href; its screenshot is kept in build/reports/. SKIP when
 *    chromium is missing or cannot start (saying why).
 *
 * Use: XT_STAGE15_CHECKS_ON(fixture) once at file scope defines a CMocka
 * check per function below, named as in stage 15's report;
 * XT_STAGE15_CHECK_LIST, inside the stage's array of checks, lists them.
 */
#ifndef XPS_TESTS_DIRLIST_CHECKS_H
#define XPS_TESTS_DIRLIST_CHECKS_H

#include "tests/support/harness.h"

#ifdef __cplusplus
extern "C" {
#endif

void xt_dl_check_a_folder_without_index_is_listed_only_with_dir_browsing(const char *fixture);
void xt_dl_check_get_double_slash_lists_the_root_as_the_course_tester_expects(const char *fixture);
void xt_dl_check_every_awkward_name_opens_from_its_link(const char *fixture);
void xt_dl_check_head_keep_alive_and_pipelining_across_listings(const char *fixture);
void xt_dl_check_a_folder_of_10000_entries_lists_with_bounded_memory(const char *fixture);
void xt_dl_check_an_ip_refused_route_gets_403_and_never_a_listing(const char *fixture);
void xt_dl_check_a_real_browser_lists_follows_a_folder_and_opens_awkward_names(const char *fixture);

/* Defines the stage's check `name` as xt_dl_check_<name>(fixture). */
#define XT_DL_CHECK_ON(name, fixture)                                                      \
    static void name(void **state)                                                         \
    {                                                                                      \
        (void)state;                                                                       \
        xt_dl_check_##name(fixture);                                                       \
    }

/* Every stage 15 check, defined for `fixture`. */
#define XT_STAGE15_CHECKS_ON(fixture) \
    XT_DL_CHECK_ON(a_folder_without_index_is_listed_only_with_dir_browsing, fixture) \
    XT_DL_CHECK_ON(get_double_slash_lists_the_root_as_the_course_tester_expects, fixture) \
    XT_DL_CHECK_ON(every_awkward_name_opens_from_its_link, fixture) \
    XT_DL_CHECK_ON(head_keep_alive_and_pipelining_across_listings, fixture) \
    XT_DL_CHECK_ON(a_folder_of_10000_entries_lists_with_bounded_memory, fixture) \
    XT_DL_CHECK_ON(an_ip_refused_route_gets_403_and_never_a_listing, fixture) \
    XT_DL_CHECK_ON(a_real_browser_lists_follows_a_folder_and_opens_awkward_names, fixture)

/* Every stage 15 check, for the stage's array of checks. */
#define XT_STAGE15_CHECK_LIST \
    XT_CHECK(a_folder_without_index_is_listed_only_with_dir_browsing), \
    XT_CHECK(get_double_slash_lists_the_root_as_the_course_tester_expects), \
    XT_CHECK(every_awkward_name_opens_from_its_link), \
    XT_CHECK(head_keep_alive_and_pipelining_across_listings), \
    XT_CHECK(a_folder_of_10000_entries_lists_with_bounded_memory), \
    XT_CHECK(an_ip_refused_route_gets_403_and_never_a_listing), \
    XT_CHECK(a_real_browser_lists_follows_a_folder_and_opens_awkward_names)

#ifdef __cplusplus
}
#endif

#endif /* XPS_TESTS_DIRLIST_CHECKS_H */
