/*
 * tests/stages/stage_15.c — black-box checks for stage 15 (dir-browsing).
 *
 * The binary under test ($XPS_STAGE_BIN) is started with ONE argument,
 * "config.json", in a scratch working directory holding a copy of
 * tests/fixtures/stage-15: stage 14's config exactly (stage 13's four
 * servers on 8001-8004, the filtered 8005-8009 and [::1]:8010, so every
 * stage 13 and stage 14 check runs again, below), and before them, so
 * that they listen once 8001-8004 do:
 *
 *     8011  "/" file_serve from browse/, dir_browsing: true; "/private"
 *           the same with ip_whitelist ["127.0.0.1"]
 *     8012  "/" file_serve from browse/, dir_browsing left out (false)
 *
 * browse/ has no index.html anywhere: docs/ (notes.txt, guide/step.txt),
 * zeta/ (a folder whose name sorts after every file), private/,
 * data.json, readme.txt and .hidden. The awkward names, and the folder of
 * 10,000 entries, are made at check time in the scratch copy, so the
 * repository holds no file a checkout on another system could refuse.
 * What is checked (tests/support/dirlist_checks.c, shared with later
 * stages):
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
 *    chromium is missing or cannot start (saying why);
 *  - every stage 14 check (tests/support/ipfilter_checks.h) and every
 *    stage 13 check (tests/support/http11_checks.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tests/support/dirlist_checks.h"
#include "tests/support/harness.h"
#include "tests/support/http11_checks.h"
#include "tests/support/ipfilter_checks.h"

static const char FIXTURE[] = "tests/fixtures/stage-15";

/* Every stage 15, 14 and 13 check, on this stage's fixture (8001-8010 as
 * stage 14's, 8011 and 8012 listed and not). */
XT_STAGE15_CHECKS_ON(FIXTURE)
XT_STAGE14_CHECKS_ON(FIXTURE)
XT_STAGE13_CHECKS_ON(FIXTURE)

int main(void)
{
    const struct CMUnitTest checks[] = {
        XT_STAGE15_CHECK_LIST,
        XT_STAGE14_CHECK_LIST,
        XT_STAGE13_CHECK_LIST,
    };
    return xt_run_checks("stage 15 (dir-browsing)", checks);
}
