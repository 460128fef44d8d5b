/*
 * tests/support/upstream.h — the dummy upstream server the proxy stages are
 * tested against (and that the chapters use in place of a real web server).
 *
 * It binds 127.0.0.1 only and serves many clients at once from one poll()
 * loop. Two modes:
 *
 *   XT_UPSTREAM_HTTP  one request per connection: read the head (up to the
 *                     blank line), answer, close.
 *                       GET /          200 text/html, links to /test/1..3
 *                       GET /test/N    200 text/plain "test N: served by test-upstream\n"
 *                       /echo-request  200 text/plain whose body is the request
 *                                      head exactly as received (any method; a
 *                                      query is allowed): what a proxy forwarded
 *                       GET /chunked/N 200 text/plain, Transfer-Encoding: chunked
 *                                      (no Content-Length), N <= 10000: chunk i
 *                                      (i = 1..N) carries "chunk i of N\n", then
 *                                      the zero-size last chunk, no trailers
 *                       GET /slow/N    200 text/plain with Content-Length, N <= 1000:
 *                                      the body "line i of N\n" (i = 1..N) sent one
 *                                      line every 50 ms (the first with the head),
 *                                      so the whole reply takes about (N-1) * 50 ms
 *                       GET /big/N     200 application/octet-stream, Content-Length
 *                                      N MiB (N <= 4096): body byte i (i from 0) is
 *                                      (i * 7 + i / 4096) & 0xff (XT_UPSTREAM_BIG_BYTE),
 *                                      so a check verifies it without storing it;
 *                                      generated as the client takes it (at most
 *                                      about 1 MiB unsent at any time)
 *                       GET /abort     200 announcing 1000000 body bytes, sends
 *                                      1000 ('a'), then resets the connection (RST)
 *                       otherwise      404 text/plain
 *                     Replies carry Server, Content-Type, Content-Length and
 *                     Connection: close, and no Date, so two replies to the
 *                     same request are byte-identical.
 *   XT_UPSTREAM_ECHO  raw TCP: every byte received is sent back. It stops
 *                     reading a client that has 1 MiB of echo not yet taken,
 *                     so a slow reader pushes back instead of growing memory.
 */
#ifndef XPS_TESTS_UPSTREAM_H
#define XPS_TESTS_UPSTREAM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Body byte i (counting from 0) of GET /big/N. */
#define XT_UPSTREAM_BIG_BYTE(i) ((unsigned char)(((uint64_t)(i) * 7 + (uint64_t)(i) / 4096) & 0xff))

typedef enum { XT_UPSTREAM_HTTP, XT_UPSTREAM_ECHO } xt_upstream_mode_t;

/* Serves forever on 127.0.0.1:port. Returns only on a setup error (bind,
 * listen), with -1 and a message on stderr. */
int xt_upstream_serve(uint16_t port, xt_upstream_mode_t mode);

#ifdef __cplusplus
}
#endif

#endif /* XPS_TESTS_UPSTREAM_H */
