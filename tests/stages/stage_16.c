/*
 * tests/stages/stage_16.c — black-box checks for stage 16 (gzip).
 *
 * The binary under test ($XPS_STAGE_BIN) is started with ONE argument,
 * "config.json", in a scratch working directory holding a copy of
 * tests/fixtures/stage-16: stage 15's config (stage 13's four servers on
 * 8001-8004, stage 14's filtered 8005-8009 and [::1]:8010, stage 15's
 * listed 8011 and unlisted 8012 over browse/, so every stage 13, 14 and
 * 15 check runs again, below), and before them:
 *
 *     8013  "/" file_serve from gz/, dir_browsing, gzip_enable, gzip_level 8
 *           (the course tester's keys), gzip_static, the default
 *           gzip_min_length (256) and types
 *     8014  "/" reverse_proxy to 127.0.0.1:3000 (test-upstream), gzip_enable
 *     8015  "/" file_serve from gz/, gzip_enable false (gzip_level 8 loads)
 *
 * gz/ holds page.html (8 KiB of HTML), tiny.txt (under 256 bytes), pic.png
 * (a type not on the list) and list/ (no index: listed). The 20 MiB file
 * and the gzip_static pair are made at check time in the scratch copy.
 * Every compressed body is read as the chunked coding (strictly) and
 * inflated here with zlib, then compared with the file's own bytes. What
 * is checked:
 *  - a file: 200, Content-Encoding gzip, Vary: Accept-Encoding, chunked
 *    (no Content-Length), a weak ETag, the file's bytes once inflated;
 *    curl --compressed gets the same bytes;
 *  - Accept-Encoding with q-values: gzip, *, x-gzip, gzip;q=0, "gzip;q=0,
 *    *", br only, identity, malformed, none — gzip or identity each, and
 *    an identity body is the file with its Content-Length;
 *  - Vary on compressed and uncompressed responses of a listed type (no
 *    Accept-Encoding, under the minimum length) and not on pic.png;
 *  - HEAD: GET's headers, no body, the connection still answers next;
 *  - Range → 206 identity (no Content-Encoding), the file's bytes;
 *  - If-None-Match with the compressed variant's weak ETag → 304 with
 *    Vary, no body;
 *  - keep-alive: two compressed responses (pipelined) on one connection,
 *    each complete, then a third request answered;
 *  - a listing compressed: inflates to the identity listing's page;
 *  - proxied: test-upstream's chunked and Content-Length bodies
 *    compressed (the strong ETag weakened), an upstream's own
 *    Content-Encoding passed on as it is (never twice);
 *  - a 20 MiB file compressed with the server's RSS growing under 3 MiB
 *    while the client has read only the start, then inflated whole;
 *  - gzip_static: file.txt.gz sent as it is (its Content-Length, its exact
 *    bytes, Vary), and when older than file.txt ignored (compressed on
 *    the fly instead); no Accept-Encoding: the file itself;
 *  - HTTP/1.0: identity with Vary, the connection as 1.0 asks;
 *  - gzip_enable false: identity, no Vary, no Content-Encoding;
 *  - every stage 15 check (tests/support/dirlist_checks.h), every stage
 *    14 check (tests/support/ipfilter_checks.h) and every stage 13 check
 *    (tests/support/http11_checks.h).
 *
 * The checks themselves are in tests/support/gzip_checks.c, shared with
 * the stages after this one.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tests/support/dirlist_checks.h"
#include "tests/support/gzip_checks.h"
#include "tests/support/harness.h"
#include "tests/support/http11_checks.h"
#include "tests/support/ipfilter_checks.h"

static const char FIXTURE[] = "tests/fixtures/stage-16";

/* Every stage 16, 15, 14 and 13 check, on this stage's fixture. */
XT_STAGE16_CHECKS_ON(FIXTURE)
XT_STAGE15_CHECKS_ON(FIXTURE)
XT_STAGE14_CHECKS_ON(FIXTURE)
XT_STAGE13_CHECKS_ON(FIXTURE)

int main(void)
{
    const struct CMUnitTest checks[] = {
        XT_STAGE16_CHECK_LIST,
        XT_STAGE15_CHECK_LIST,
        XT_STAGE14_CHECK_LIST,
        XT_STAGE13_CHECK_LIST,
    };
    return xt_run_checks("stage 16 (gzip)", checks);
}
