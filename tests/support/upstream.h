/*
 * tests/support/upstream.h — the dummy upstream server the proxy stages are
 * tested against (and that the chapters use in place of a real web server).
 *
 * It binds 127.0.0.1 only and serves many clients at once from one poll()
 * loop. Three modes:
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
 *                       GET /tagged    200 text/plain, ETag "upstream-text" (strong),
 *                                      Content-Length; the body XT_UPSTREAM_TEXT_LINES
 *                                      lines XT_UPSTREAM_TEXT_LINE (i = 1..)
 *                       GET /encoded   the same text, as one gzip member, with
 *                                      Content-Encoding: gzip (what a proxy must
 *                                      pass on as it is, never compress again)
 *                       GET /whoami    200 text/plain "port <port>\n": which of
 *                                      several upstreams answered (stage 17)
 *                       GET /abort     200 announcing 1000000 body bytes, sends
 *                                      1000 ('a'), then resets the connection (RST)
 *                       GET /cache/CC/TAG[?OPTIONS]  [stage 20] 200 text/plain with
 *                                      Date, Cache-Control: CC (none when CC is
 *                                      "none"), whose body is "response K for
 *                                      <path> accept-encoding=<the request's, or
 *                                      -->\n" (K counts /cache/ requests: a cache
 *                                      hit repeats it), padded with '.' to kib=N
 *                                      KiB. OPTIONS (any order, '&'-joined):
 *                                      cookie (Set-Cookie), vary (Vary:
 *                                      Accept-Encoding), kib=N (N <= 1024), delay
 *                                      (the body 300 ms after the head), abort
 *                                      (announces 100 times the body, sends it,
 *                                      then resets: an upstream dying mid-body),
 *                                      etag (ETag "v1"; a request with
 *                                      If-None-Match: "v1" gets 304 with the
 *                                      same Cache-Control and X-Refreshed: K)
 *                       GET /cache-count 200 "count K\n": /cache/ requests so far
 *                       otherwise      404 text/plain
 *                     Replies carry Server, Content-Type, Content-Length and
 *                     Connection: close, and no Date, so two replies to the
 *                     same request are byte-identical.
 *   XT_UPSTREAM_ECHO  raw TCP: every byte received is sent back. It stops
 *                     reading a client that has 1 MiB of echo not yet taken,
 *                     so a slow reader pushes back instead of growing memory.
 *   XT_UPSTREAM_STRICT a keep-alive HTTP/1.1 upstream that parses strictly
 *                     and logs every request it parses, so a proxy test can
 *                     see exactly which requests reached it and how framed.
 *                     Per connection, requests are parsed one after another
 *                     (pipelining allowed) by RFC 9112, strictly:
 *                       request line  method SP target SP HTTP/1.0|HTTP/1.1 CRLF
 *                                     (method a token, target visible chars)
 *                       field lines   name ":" OWS value OWS CRLF (name a token,
 *                                     nothing before the colon; value visible
 *                                     chars, obs-text, SP, HTAB); no obs-fold
 *                       then CRLF; no bare LF or bare CR anywhere
 *                       framing       at most one Content-Length line, 1*DIGIT;
 *                                     or one Transfer-Encoding line, "chunked"
 *                                     (case-insensitive); not both; neither: no
 *                                     body. Chunked: 1*HEXDIG CRLF data CRLF per
 *                                     chunk, no extensions, then 0 CRLF CRLF, no
 *                                     trailers
 *                       limits        head 64 KiB, body 16 MiB
 *                     `Connection: close` is ignored: after each answer it
 *                     reads the next request; it closes only when the client
 *                     does (after sending what it owes) or after a refusal.
 *                     Answer: 200, Content-Type text/plain, Content-Length,
 *                     X-Request-Number: n (1, 2, ... on the connection),
 *                     X-Connection: c (the connection's number, 1, 2, ... in
 *                     the order accepted: how many connections a proxy opened),
 *                     whose body is the request head exactly as received
 *                     (request line to blank line) and then the decoded body.
 *                     A target starting "/close" gets "Connection: close" too,
 *                     and the connection closes after that answer. A target
 *                     starting "/vanish" is answered only as the FIRST request
 *                     of its connection; later on a connection it is logged
 *                       vanish\n
 *                     and the connection closes unanswered: what a proxy sees
 *                     when an upstream closes a kept connection as a request
 *                     arrives (its retry gets a fresh connection, request 1).
 *                     Upgrade: a request with an Upgrade header and a target
 *                     starting "/ws-accept" gets "101 Switching Protocols"
 *                     (Connection: Upgrade, Upgrade: the request's value); from
 *                     then on every byte is echoed raw, with echo mode's
 *                     back-pressure. Any other Upgrade request gets the plain
 *                     200 (upgrade refused) and parsing goes on: a proxy that
 *                     tunnels before it sees a 101 lets the bytes after it be
 *                     parsed as requests, which the log shows without its Via.
 *                     The log (default strict.log in the working directory,
 *                     opened O_APPEND|O_CREAT, one write(2) per record) gets
 *                       request <n> <method> <target> via=<Via, or -> body=<body>\n
 *                     for each request parsed (several Via lines joined with
 *                     ", "; the body bytes raw, so a body with LF spans lines),
 *                       tunnel\n            after the request line of a 101,
 *                       error <reason>\n    for a refused request: it is not
 *                                           answered and the connection closes
 *                                           (answers owed to earlier requests are
 *                                           sent first); also when the client
 *                                           closes in the middle of a request
 *                                           ("incomplete request at EOF").
 *                     Reasons: bare LF, bare CR, head too large, bad request
 *                     line, obs-fold, whitespace before colon, bad field name,
 *                     bad field value, duplicate Content-Length, bad
 *                     Content-Length, duplicate Transfer-Encoding, bad
 *                     Transfer-Encoding, Content-Length with Transfer-Encoding,
 *                     body too large, bad chunk size, chunk extension, bad
 *                     chunk end, trailer section, incomplete request at EOF.
 */
#ifndef XPS_TESTS_UPSTREAM_H
#define XPS_TESTS_UPSTREAM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Body byte i (counting from 0) of GET /big/N. */
#define XT_UPSTREAM_BIG_BYTE(i) ((unsigned char)(((uint64_t)(i) * 7 + (uint64_t)(i) / 4096) & 0xff))

/* The lines of /tagged and /encoded (printf format, the line number). */
#define XT_UPSTREAM_TEXT_LINES 200
#define XT_UPSTREAM_TEXT_LINE "line %d of the text test-upstream sends for gzip checks\n"

typedef enum { XT_UPSTREAM_HTTP, XT_UPSTREAM_ECHO, XT_UPSTREAM_STRICT } xt_upstream_mode_t;

/* Makes every connection xt_upstream_serve accepts speak TLS (1.2 or 1.3)
 * with this certificate (PEM, its chain after it) and key: any mode over
 * TLS, for a proxy's upstream_tls (stage 19). The handshake is driven by
 * the poll() loop like the rest; a client whose handshake fails is closed
 * (the reason on stderr). Strict mode logs each handshake as
 *   tls <connection> sni=<the client's SNI, or ->\n
 * Call it before xt_upstream_serve. 0, or -1 with a message on stderr
 * (the files cannot be used). */
int xt_upstream_use_tls(const char *cert_path, const char *key_path);

/* Serves forever on 127.0.0.1:port. log_path: strict mode's log (NULL:
 * "strict.log"); the other modes ignore it. Returns only on a setup error
 * (the log cannot be opened, bind, listen), with -1 and a message on stderr. */
int xt_upstream_serve(uint16_t port, xt_upstream_mode_t mode, const char *log_path);

#ifdef __cplusplus
}
#endif

#endif /* XPS_TESTS_UPSTREAM_H */
