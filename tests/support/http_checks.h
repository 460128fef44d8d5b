/*
 * tests/support/http_checks.h — the static-file-server checks of stages 10
 * and 11.
 *
 * Stage 10 serves ./public over HTTP/1.1 on 8001-8004; stage 11 is the same
 * server rebuilt on http/'s request and response objects, so both run these
 * nine checks, each with its own XT_CHECK entry of the same name. Each takes
 * the fixture folder (tests/fixtures/stage-10 for both) that the server is
 * started in (a scratch copy of it, no arguments):
 *
 *     public/index.html, sample.txt, cat.jpg, doc.pdf, docs/notes.txt
 *     temp/file.txt        beside the root: "/../temp/file.txt" names it
 *
 * and ends in xt_expect() calls whose texts say what was verified. The
 * one-write check can fail only a wrong server, never a right one: one
 * send() of a head arrives as one segment on loopback, while a server that
 * writes line by line is caught when its lines arrive apart (likely, not
 * certain).
 */
#ifndef XPS_TESTS_HTTP_CHECKS_H
#define XPS_TESTS_HTTP_CHECKS_H

#include <stddef.h>
#include <stdint.h>

#include "tests/support/harness.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The four ports, XT_HTTP_BASE_PORT .. XT_HTTP_BASE_PORT + 3. */
#define XT_HTTP_BASE_PORT 8001
#define XT_HTTP_PORTS 4

/* ------------------------------------------------------------ helpers */

/* Starts the stage binary with no flags in a copy of `fixture`, waits up
 * to 5 s for all four ports, and makes the fixture's files world-readable
 * whatever umask copied them (the rule for what may be served). */
xt_proc_t *xt_http_start_server(const char *fixture);

/* Reads the fixture file `rel` (e.g. "public/sample.txt") from the
 * server's working directory into buf; returns its size. An empty file or
 * one of cap bytes or more fails the check. */
size_t xt_http_read_fixture(xt_proc_t *p, const char *rel, char *buf, size_t cap);

/* Cuts a response head (a NUL-terminated copy, status line first) in
 * place into up to `max` header fields: the lines after the status line,
 * up to the blank line, that hold a colon; names[i] and values[i] point
 * into head, values without leading blanks. Returns how many. */
int xt_http_cut_fields(char *head, char **names, char **values, int max);

/* ------------------------------------------------------------- checks */

/* Defines a stage's check `name` as the shared check xt_http_check_<name>
 * run on `fixture`, so that the stage's XT_CHECK(name) prints the same
 * name as before: XT_HTTP_CHECK_ON(answers_404_for_a_missing_file, FIXTURE)
 * (no semicolon after it: it is a function definition). */
#define XT_HTTP_CHECK_ON(name, fixture)                                                    \
    static void name(void **state)                                                         \
    {                                                                                      \
        (void)state;                                                                       \
        xt_http_check_##name(fixture);                                                     \
    }

/* 200 for .txt, .html, .jpg and .pdf (and a file in a folder), one per
 * port: the exact Content-Type (text/plain, text/html, image/jpeg,
 * application/pdf, no parameters), Content-Length equal to the file's
 * size, "Server: eXpServer", and the body byte for byte. */
void xt_http_check_serves_txt_html_jpg_pdf_with_exact_content_types(const char *fixture);

/* HTTP/1.0 without Host is served; so is a "hOST" header (header names
 * match in any case, RFC 9110 §5.1). */
void xt_http_check_serves_http_1_0_without_host_and_headers_in_any_case(const char *fixture);

/* 404 for a missing file, at the root and in a folder. */
void xt_http_check_answers_404_for_a_missing_file(const char *fixture);

/* 403 for paths climbing out of the root ("/../", "/docs/../../") and for
 * a 0600 file in the root (made by the check), never leaking the file;
 * "%2e%2e" gets some 4xx and never the file outside the root. */
void xt_http_check_answers_403_outside_the_root_and_for_a_private_file(const char *fixture);

/* 400 for a malformed request line, an invalid method token, an unknown
 * method ("GOT": the course's 400, where RFC 9110 §9.1 and stage 13 say
 * 501), a missing or unknown version (only 1.0 and 1.1: the course's 400,
 * not 505), a header line without a colon, HTTP/1.1 without Host — each
 * also exactly as the course's tester sends it; then a file is still
 * served. */
void xt_http_check_answers_400_for_each_malformed_request(const char *fixture);

/* A request sent 3 bytes every 20 ms (TCP_NODELAY) is answered 200. */
void xt_http_check_answers_a_request_sent_in_tiny_pieces(const char *fixture);

/* A client stalled half-way through its request line does not hold up
 * another; once it sends the rest it is answered 200. */
void xt_http_check_a_stalled_client_holds_up_no_one(const char *fixture);

/* The first recv() after a request holds the whole head (status line to
 * blank line), 5 times on each port. */
void xt_http_check_sends_the_status_line_and_headers_in_one_write(const char *fixture);

/* SIGTERM with a request half-sent ends the server with status 0 within
 * 3 s. */
void xt_http_check_exits_0_within_3_s_of_sigterm(const char *fixture);

#ifdef __cplusplus
}
#endif

#endif /* XPS_TESTS_HTTP_CHECKS_H */
