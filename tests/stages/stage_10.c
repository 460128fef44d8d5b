/*
 * tests/stages/stage_10.c — black-box checks for stage 10 (http-parser).
 *
 * The binary under test ($XPS_STAGE_BIN) is started with no arguments in a
 * scratch working directory holding a copy of tests/fixtures/stage-10:
 *
 *     public/index.html, sample.txt, cat.jpg, doc.pdf, docs/notes.txt
 *     temp/file.txt        beside the root: "/../temp/file.txt" names it
 *
 * so it must serve ./public over HTTP/1.1 on 8001-8004, all four ports
 * alike. What is checked, each on every port at least once:
 *  - 200 for a .txt, .html, .jpg and .pdf file: the exact Content-Type
 *    (text/plain, text/html, image/jpeg, application/pdf, no parameters),
 *    a Content-Length equal to the file's size, "Server: eXpServer", and
 *    the body byte for byte; HTTP/1.0 without Host is served too, and
 *    header names are matched in any case;
 *  - 404 for a missing file;
 *  - 403 for "/../temp/file.txt" (outside the root) and for a file in the
 *    root that is not world-readable (mode 0600, made by the check: the
 *    course's rule, which holds even for a server running as root); an
 *    encoded "%2e%2e" must not serve the outside file either;
 *  - 400 for a malformed request line, an invalid method token, an unknown
 *    method ("GOT": the course's 400, where RFC 9110 §9.1 and stage 13 say
 *    501), a missing version, an unknown version (only 1.0 and 1.1: the
 *    course's 400, not 505), a header line without a colon, HTTP/1.1
 *    without Host — each also as the course's tester sends it — and the
 *    server keeps serving afterwards;
 *  - a request sent in 3-byte pieces 20 ms apart is answered, and a client
 *    stalled half-way through its request does not hold up another;
 *  - the status line and all headers arrive in one write. From outside this
 *    is checked as: the first recv() after the request holds the whole head
 *    (status line to blank line). One send() of a head arrives as one
 *    segment on loopback, so a correct server always passes; a server that
 *    writes line by line is caught when its lines arrive apart, which is
 *    likely but not certain (the client may wake late): the check can fail
 *    only a wrong server, never a right one;
 *  - SIGTERM ends the server with status 0.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tests/support/harness.h"
#include "tests/support/http_checks.h"

static const char FIXTURE[] = "tests/fixtures/stage-10";

/* --------------------------------------------------------------- checks */

/* Stage 10's checks are the shared ones of tests/support/http_checks.h
 * (what each verifies is said there), run on this stage's fixture. */
XT_HTTP_CHECK_ON(serves_txt_html_jpg_pdf_with_exact_content_types, FIXTURE)
XT_HTTP_CHECK_ON(serves_http_1_0_without_host_and_headers_in_any_case, FIXTURE)
XT_HTTP_CHECK_ON(answers_404_for_a_missing_file, FIXTURE)
XT_HTTP_CHECK_ON(answers_403_outside_the_root_and_for_a_private_file, FIXTURE)
XT_HTTP_CHECK_ON(answers_400_for_each_malformed_request, FIXTURE)
XT_HTTP_CHECK_ON(answers_a_request_sent_in_tiny_pieces, FIXTURE)
XT_HTTP_CHECK_ON(a_stalled_client_holds_up_no_one, FIXTURE)
XT_HTTP_CHECK_ON(sends_the_status_line_and_headers_in_one_write, FIXTURE)
XT_HTTP_CHECK_ON(exits_0_within_3_s_of_sigterm, FIXTURE)

int main(void)
{
    const struct CMUnitTest checks[] = {
        XT_CHECK(serves_txt_html_jpg_pdf_with_exact_content_types),
        XT_CHECK(serves_http_1_0_without_host_and_headers_in_any_case),
        XT_CHECK(answers_404_for_a_missing_file),
        XT_CHECK(answers_403_outside_the_root_and_for_a_private_file),
        XT_CHECK(answers_400_for_each_malformed_request),
        XT_CHECK(answers_a_request_sent_in_tiny_pieces),
        XT_CHECK(a_stalled_client_holds_up_no_one),
        XT_CHECK(sends_the_status_line_and_headers_in_one_write),
        XT_CHECK(exits_0_within_3_s_of_sigterm),
    };
    return xt_run_checks("stage 10 (http-parser)", checks);
}
