/*
 * tests/support/hardening_checks.h — the checks that a server past the
 * course's stages must pass however it grows: no request smuggling through
 * a tunnel or through body framing, no open redirect, bounded pipelining,
 * If-Range, an error response that survives an unread upload, OPTIONS *.
 * Each one replays the exact bytes that outside test suites and a request-
 * smuggling scanner found defects with (issue 7), so each fails on the
 * server those bytes broke.
 *
 * Stage 13 runs them first; every later stage that keeps stage 13's
 * layout runs them again, so no new feature reopens a hole. The layout
 * (tests/fixtures/stage-13 is one): started as `<binary> config.json` in
 * a copy of the fixture, 8001 serves files from public/ (which holds
 * a.txt "aaaa\n", b.txt "bbbb\n", digits.txt, 100 bytes "0123456789" ten
 * times, and a folder docs/ with notes.txt), 8002 is a reverse_proxy to
 * localhost:3000.
 *
 * The proxy checks put the STRICT test upstream on 3000 (test-upstream
 * --mode strict, tests/support/upstream.h): it parses every request on a
 * connection strictly, ignores "Connection: close", and logs each request
 * it parses with its Via. Whatever a check sends, the log must then show
 * only requests that came through the proxy's forwarding (they carry
 * Via), and never the smuggled one. A lenient upstream would hide a
 * smuggled request; one that closes after each answer would never read
 * it.
 */
#ifndef XPS_TESTS_HARDENING_CHECKS_H
#define XPS_TESTS_HARDENING_CHECKS_H

#include "tests/support/harness.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Defines the stage's check `name` as xt_hard_check_<name>(fixture), so
 * the stage's XT_CHECK(name) prints the shared name (no semicolon after:
 * it is a function definition). */
#define XT_HARD_CHECK_ON(name, fixture)                                                    \
    static void name(void **state)                                                         \
    {                                                                                      \
        (void)state;                                                                       \
        xt_hard_check_##name(fixture);                                                     \
    }

/* Starts the binary as `<binary> config.json` in a copy of `fixture`,
 * waits for 8001-8004, makes public/'s files world-readable. */
xt_proc_t *xt_hard_start_server(const char *fixture);

/* xt_hard_start_server, then every file and folder under the copy's
 * `served` (e.g. "browse") made readable by everyone, whatever the umask
 * of the copy. With `measured`, ASan's quarantine is off in the server
 * (SAN=1: memory held back to catch a use after free would count as RSS;
 * other builds ignore the option). */
xt_proc_t *xt_hard_start_served(const char *fixture, const char *served, bool measured);

/* An Upgrade (WebSocket, then h2c) with a second request in the same
 * write, to an upstream that answers 200 instead of 101: the client gets
 * that one answer, and the upstream's log shows one request, with Via, and
 * no "GET /smuggled" (RFC 9110 §7.8: the protocol switches at the 101). */
void xt_hard_check_refuses_to_tunnel_before_the_upstreams_101(const char *fixture);

/* An Upgrade to /ws-accept, 101 from the upstream: the bytes sent in the
 * same write as the head, and those sent after the 101, come back through
 * the tunnel. */
void xt_hard_check_tunnels_a_websocket_upgrade_after_the_101(const char *fixture);

/* Chunked framing that a strict parser reads otherwise: a bare LF after a
 * chunk-size (the scanner's "2;\nxx" case, with a smuggled request after
 * it), "5 \r\n", an 8,000-byte chunk extension: 400 each, and nothing of
 * them parsed by the upstream as a request of its own. */
void xt_hard_check_refuses_loose_chunked_framing_with_400(const char *fixture);

/* "Content-Length: 5, 5", two equal Content-Length lines, and
 * "Transfer-Encoding: ,chunked," with a chunk extension and a trailer
 * "Content-Length: 40": the strict upstream (which refuses lists,
 * repeats, extensions and trailers) receives one framing line of the
 * proxy's own and the body re-encoded, and answers 200. */
void xt_hard_check_forwards_framing_of_its_own_not_the_clients(const char *fixture);

/* "Transfer_Encoding: chunked" and the field "Connection: X-Drop" names
 * never reach the upstream; an ordinary field does. */
void xt_hard_check_drops_underscore_fields_and_those_connection_names(const char *fixture);

/* GET //evil.example/%2e%2e/docs, //evil.example/../docs and
 * /\evil.example/%2e%2e/docs (docs a folder): 301 with Location exactly
 * "/docs/" — a path on this origin, never a network-path reference. */
void xt_hard_check_redirects_a_folder_only_to_this_origin(const char *fixture);

/* One client pipelining 1,000 GETs of a 2 MiB file, and another of a small
 * file, without reading: the server's descriptor count grows by at most a
 * few, and another client is served meanwhile. */
void xt_hard_check_bounds_what_a_client_that_never_reads_holds(const char *fixture);

/* Range: bytes=0-9 with If-Range: a 1970 date, or the file's weak ETag →
 * 200 and all 100 bytes; with its Last-Modified (an hour old) → 206. */
void xt_hard_check_if_range_for_another_version_gets_the_whole_file(const char *fixture);

/* A 4 MiB upload to a server whose limit is 1 MiB: the client sends all
 * of it without a reset (the server shuts down its side and reads on, RFC
 * 9112 §9.6) and reads the 413; and `curl -H 'Expect:' --data-binary`
 * prints 413, five times in a row. */
void xt_hard_check_an_upload_over_the_limit_gets_its_413_not_a_reset(const char *fixture);

/* OPTIONS * → 200 with Allow (RFC 9110 §9.3.7); the connection goes on. */
void xt_hard_check_answers_options_star_with_200_and_allow(const char *fixture);

#ifdef __cplusplus
}
#endif

#endif /* XPS_TESTS_HARDENING_CHECKS_H */
