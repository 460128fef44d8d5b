/*
 * modules/proxy/xps_proxy.h — one proxied exchange: a request that a
 * route sends to an upstream, from the connect to the last byte of the
 * response handed to the client. [stage 12; its own module since stage 17]
 *
 * Why an object of its own: the session decides what a request gets
 * (routing, replies made here, keep-alive bookkeeping); relaying to an
 * upstream is a job with a state of its own (the connect attempt, the
 * upstream connection and its two pipes, the response's head and framing,
 * the pool, a retry, a tunnel) that has nothing to do with a file or a
 * redirect. Until stage 16 those were twenty fields of the session; here
 * they live and die with the exchange. The session creates a proxy when
 * routing says PROXY, forwards it the client pipe events of that request,
 * and hears back through three callbacks (xps_proxy_events_t).
 *
 * One proxy per proxied REQUEST, not per client connection: everything it
 * holds belongs to one request and one response. What outlives a request
 * is the upstream connection, and that lives in the pool
 * (modules/upstream/xps_upstream_pool.h), where the next request — of this
 * client or another — finds it. An object per request needs no "reset for
 * the next one" code, and a session between requests holds no proxy.
 *
 * The pipes of an exchange (the proxy is an end of the two upstream ones;
 * the session stays the end of the client's, and passes their events on):
 *
 *   client ──▶ [from_client] ──▶ session ─▶ proxy ──▶ [to_upstream]   ──▶ upstream
 *   client ◀── [to_client]   ◀── session ◀─ proxy ◀── [from_upstream] ◀── upstream
 *
 * Upward the proxy rewrites the request head for one hop and forwards the
 * body RE-FRAMED by itself (its data with our Content-Length, or chunks of
 * our own): the upstream reads only what xps parsed (no smuggling, RFC
 * 9112 §6.3, §7.1). Downward it reads the response's head, decides how its
 * body ends (Content-Length, chunks, or the upstream's close: RFC 9112
 * §6.3), rewrites the head for the client (hop-by-hop fields and those
 * Connection names out) and relays the body to its end; [stage 13] a
 * close-delimited body goes to an HTTP/1.1 client as chunks of our own.
 * Back-pressure both ways: bytes are taken from a pipe only while the
 * next one has room. The rules are those of modules/session/xps_session.h
 * ("reverse_proxy"), which this module implements.
 *
 * [stage 17] Balanced: with a balancer (modules/balancer) the proxy asks
 * it for an upstream (xps_balancer_choose), holds it as in flight until
 * the exchange ends (xps_balancer_begin / _end: least_connections reads
 * that), and reports the attempt: a connect that went through is a
 * success; a connect refused, failed or timed out, or a fresh connection
 * closed without a byte of answer, a failure. After a failure the request
 * goes to the next upstream the balancer offers (each at most once per
 * request) when nothing of it is lost by that: always after a failed
 * connect (nothing was sent yet), and after an unanswered close only for
 * an idempotent request without a body (RFC 9110 §9.2.2; we hold all of
 * it). Nothing was sent to the client in either case, so it sees no
 * error while one upstream remains. When the balancer has none left
 * (every upstream down or tried), refuse 502 at once, without a connect.
 *
 * Points other modules hook into (keep them single points):
 *  (a) RESPONSE BODY → CLIENT: every byte of a response body is queued for
 *      the client by deliver_body() in xps_proxy.cpp — also the body bytes
 *      that came in the same read as the head, which queue_head() hands to
 *      it with the rewritten head in front (head + body in one buffer, so a
 *      small response leaves in one send()). A body filter (gzip, stage 16)
 *      goes there: what it is given is body data; the chunked re-framing
 *      happens after it. [stage 16] The gzip stream is there: with it,
 *      body_bytes() hands deliver_body() the DATA of each piece (the
 *      upstream's chunk framing removed) and the stream frames its output
 *      as chunks of our own; the decision is the owner's (events.coding),
 *      asked in send_response_head().
 *  (b) UPSTREAM TIMING: the connect starts in connect_fresh() (the attempt
 *      is bounded by XPS_PROXY_CONNECT_TIMEOUT_MS today); the first byte of
 *      the response arrives in on_upstream_bytes(), where upstream_spoke
 *      becomes true. Connect and first-byte timeouts (stage 18) are armed
 *      and disarmed at those two points; a reused pooled connection skips
 *      the first. Every failed connect, a timeout included, ends in
 *      connect_failed(), which [stage 17] moves the request to the next
 *      upstream or refuses it. [stage 18] The bounds are: the connect's
 *      (connect_timeout_ms) passed to xps_upstream_connect there, and one
 *      loop timer per proxy for the upstream's silence (read_timeout_ms),
 *      armed when the request has gone up (start_relay / the body's end)
 *      and moved lazily at each upstream byte (a time stored; the timer,
 *      when it fires early, re-arms for the rest).
 *  (c) [stage 20] RESPONSE TEE: the owner's xps_proxy_tee_t (the shared
 *      cache, modules/cache/xps_cache.h) may add lines to the forwarded
 *      request head (its validators, in request_head()); it sees the final
 *      response head as the upstream sent it, in send_response_head(), and
 *      may add lines to the client's head there (X-Cache) — or, for a
 *      response without a body (a 304), answer the client itself; then
 *      every piece of the body's DATA (the upstream's chunk framing
 *      removed, before gzip), in body_bytes(); then the end, complete
 *      (response_complete) or not (the proxy destroyed before it: a cut,
 *      an upstream that died).
 *
 * Lifecycle: xps_proxy_create (nothing happens yet) → xps_proxy_start
 * (connect, or take an idle connection from the pool; the rest runs from
 * the loop) → one of the events' refuse / cut / done → the owner calls
 * xps_proxy_destroy, which is safe inside those callbacks and inside any
 * other callback (the memory waits for the end of the loop's batch,
 * docs/conventions.md "Lifetimes"). Destroying it early (the client left)
 * cancels the connect and closes the upstream connection.
 * Ownership: the proxy owns the connect attempt, the upstream connection
 * (until it goes back to the pool) and its pipe ends, and the response's
 * body decoder. Borrowed for its whole life: the loop, the pool, the
 * upstreams, the balancer, the request's parser and head buffer, the
 * strings of xps_proxy_request_t, and the owner's two client pipe slots.
 * Errors: XPS_E_NOMEM at create; later, every failure is an event: refuse
 * (502 or 400 and the like, nothing sent yet) or cut (a response half
 * sent). Threading: none.
 */
#ifndef XPS_MODULES_PROXY_H
#define XPS_MODULES_PROXY_H

#include "core/xps.h"
#include "core/xps_buffer.h"
#include "core/xps_pipe.h"
#include "http/xps_http_parser.h"
#include "modules/balancer/xps_balancer.h"
#include "modules/config/xps_config.h"
#include "modules/gzip/xps_gzip.h"
#include "modules/ipfilter/xps_ipfilter.h"
#include "modules/loop/xps_loop.h"
#include "modules/upstream/xps_upstream_pool.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xps_proxy_s xps_proxy_t;

/* How long connecting to an upstream may take before the client gets 502
 * (stages 12-17; stage 18 sets xps_proxy_request_t.connect_timeout_ms and
 * answers 504 for it). */
#define XPS_PROXY_CONNECT_TIMEOUT_MS 5000

/* What the proxy tells its owner. Each exchange ends with exactly one of
 * refuse, cut and done; the owner then destroys the proxy (it may do so
 * inside the callback). */
typedef struct xps_proxy_events {
    /* Nothing has gone to the client yet and nothing will: answer `status`
     * (502: the upstream cannot be reached, closed without answering, or
     * answered with invalid framing; 400 or the parser's status: the
     * request's body is broken or cut short) with `why`, a few words. */
    void (*refuse)(void *data, int status, const char *why);
    /* The exchange cannot go on and part of a response has been queued
     * (or memory ran out, or the client is gone): the client connection
     * must close once what is queued is sent. Logged by the proxy. */
    void (*cut)(void *data);
    /* The whole response is queued for the client. `client_may_stay`:
     * keep was asked (xps_proxy_request_t) and the response is framed so
     * that the client can tell where it ends; the connection may then read
     * the next request. Otherwise it must close after the response. */
    void (*done)(void *data, bool client_may_stay);
    /* [stage 16] Hook (a)'s question, asked once per response when its
     * head has been read (not for a 1xx or a 101): how its body is coded
     * for the client. `response` holds the head's facts (status,
     * Content-Type, length when known, whether it has a Content-Encoding,
     * the client's version; the owner adds what the request said). The
     * owner answers with xps_gzip_decide's choice and the level to use
     * (*level, default XPS_GZIP_DEFAULT_LEVEL). vary: the head gets "Vary:
     * Accept-Encoding"; compress: the body's data goes through a gzip
     * stream, the head loses Content-Length and Accept-Ranges, its ETag is
     * weakened, and it goes chunked (the client's connection may stay).
     * NULL: never (stages 12-15). */
    xps_gzip_choice_t (*coding)(void *data, const xps_gzip_response_t *response, int *level);
} xps_proxy_events_t;

/* [stage 20] Hook (c): a copy of the response as it goes down (the
 * cache's writer). Called only for an HTTP/1.1 exchange (http11) whose
 * final head could be read; never for a 1xx, a 101 or a tunnel.
 *  request_lines: lines ("Name: value\r\n" each) added to the forwarded
 *        request head, or NULL;
 *  head: the final head, head[0..len) as received, its status; returns
 *        lines to add to the client's head ("X-Cache: MISS\r\n"; "" for
 *        none), borrowed until the next call of the tee. For a response
 *        without a body, `to_client` is the client's pipe: the tee may
 *        queue a whole response of its own there and set *replaced, and
 *        nothing of the upstream's response goes down (else NULL);
 *  body: `len` bytes of the body's data, in order;
 *  end:  once, last: `complete` when the body reached its end as framed
 *        (or the upstream's clean close for a close-delimited body).
 * Not called for a response whose head never came. */
typedef struct xps_proxy_tee {
    const char *(*head)(void *data, const char *head, size_t len, int status,
                        xps_pipe_t *to_client, bool *replaced);
    void (*body)(void *data, const char *bytes, size_t len);
    void (*end)(void *data, bool complete);
    void *data;
    const char *request_lines;
} xps_proxy_tee_t;

/* One proxied request, as the owner hands it over. */
typedef struct xps_proxy_request {
    xps_loop_t *loop;
    const xps_config_upstream_t *upstreams; /* the route's upstreams[] */
    size_t n_upstreams;          /* >= 1 */
    xps_balancer_t *balancer;    /* [stage 17] the route's: chooses among them,
                                    hears how each attempt went; NULL: the
                                    first upstream only (stages 12-16) */
    const xps_ipfilter_addr_t *client_addr; /* [stage 17] for ip_hash; NULL:
                                    unknown (round robin) */
    xps_upstream_pool_t *pool;   /* [stage 13] idle upstream connections to take
                                    and give back; NULL: one connection per
                                    request, "Connection: close" upward */
    xps_http_parser_t *parser;   /* the request's parser, its head complete;
                                    the proxy runs its body decoder */
    const char *buf;             /* the head buffer: the head, then `len` minus */
    size_t len;                  /* head_length bytes that came after it */
    bool http11;                 /* [stage 13] stage 13's rules: a reusable upstream
                                    connection, re-framing, Upgrade, 100-continue */
    bool keep;                   /* the owner would keep the client's connection
                                    after this response (its keep-alive rules) */
    const char *client_ip;       /* for X-Forwarded-For and the log */
    const char *via_name;        /* received-by in Via (the config's server_name) */
    const char *log_line;        /* "GET /x", for log lines */
    /* The owner's slots for the client's pipes: the proxy reads them each
     * time it needs one (the owner sets a slot to NULL when its pipe goes).
     * The owner stays the pipes' end and passes their events on with
     * xps_proxy_client_bytes / _end / _room. The proxy pauses and resumes
     * from_client (back-pressure, bytes held until the upstream is there);
     * once the request body has all gone up it stops reading it: with
     * keep it only pauses it (what follows is the next request, the
     * owner's), else it detaches it and sets *from_client to NULL. */
    xps_pipe_t **from_client;    /* the request body comes from it */
    xps_pipe_t **to_client;      /* the response goes into it */
    /* [stage 18] Upstream timeouts, armed at hook point (b).
     * connect_timeout_ms: the bound on a new connection's connect; a
     * connect that times out → refuse 504 (RFC 9110 §15.6.5: the upstream
     * did not answer in time). 0: XPS_PROXY_CONNECT_TIMEOUT_MS, and 502 for
     * it as in stages 12-17.
     * read_timeout_ms: once the request has all gone up, the upstream may
     * be silent this long at most: before its first byte → refuse 504;
     * after it → cut (the client sees the response end early; the
     * upstream connection is closed, never pooled). Silence only counts
     * while the proxy is waiting for the upstream: not while response
     * bytes wait for a slow client (the client's send timeout is for
     * that), and not in a tunnel after a 101 (a WebSocket may be quiet for
     * long; it ends when either side closes). The clock restarts at every
     * byte the upstream sends. 0: no bound. */
    uint32_t connect_timeout_ms;
    uint32_t read_timeout_ms;
    /* [stage 20] Hook (c), borrowed: NULL, none. */
    const xps_proxy_tee_t *tee;
    /* [stage 19] The route's upstream_tls: a new upstream connection
     * speaks TLS through this client context (borrowed; NULL: plain TCP),
     * sending tls_server_name as SNI (NULL: the upstream's host) and
     * verifying the certificate against the upstream's host as written
     * (a name or an IP address) when the context verifies. Pooled
     * connections are taken and given back under the same context. A
     * handshake that fails (a certificate that does not verify, an
     * upstream that does not speak TLS) is logged with OpenSSL's reason
     * and counts as a failed connect: [stage 17] the balancer hears of
     * it and the request moves to the next upstream, else 502. Its
     * success is only counted once the upstream answers (a TCP connect
     * that then fails its handshake is no sign of health). */
    xps_tls_client_t *tls;
    const char *tls_server_name;
    /* [apps/xps] The request's id (modules/accesslog), borrowed: it goes
     * up as the one X-Request-ID (xps_proxy_forward_t.request_id) and
     * down in the client's head in place of any the upstream sent (a head
     * we rewrite: http11). NULL: X-Request-ID is relayed as any field. */
    const char *request_id;
    /* [apps/xps] Lines ("Name: value\r\n" each) added to the client's head
     * (a head we rewrite: http11), the route's "headers"; NULL: none. */
    const char *response_lines;
} xps_proxy_request_t;

/* What xps_proxy_forward_head adds to a forwarded request. */
typedef struct xps_proxy_forward {
    const char *client_ip;    /* the client's address, no port ("127.0.0.1",
                                 "::1"): appended to X-Forwarded-For */
    const char *via_name;     /* received-by in Via, e.g. the config's
                                 server_name; non-token bytes become '-' */
    const char *default_host; /* Host for a request that has none (HTTP/1.0):
                                 the upstream's "host:port" */
    const char *request_id;   /* [apps/xps] non-NULL: every received
                                 X-Request-ID is dropped and this one sent
                                 after Via; NULL: relayed as received */
} xps_proxy_forward_t;

/* ---------------------------------------------------------- lifecycle */

/* A proxy for `request` (copied; what it points to is borrowed, see
 * "Ownership"), reporting to `events` (copied) with `data`. Nothing
 * happens until xps_proxy_start. NULL and *error XPS_E_NOMEM. */
xps_proxy_t *xps_proxy_create(const xps_proxy_request_t *request,
                              const xps_proxy_events_t *events, void *data,
                              int *error) XPS_NOEXCEPT;

/* Starts the exchange: [stage 17] the balancer's choice (else the first
 * upstream), then an idle pooled connection to it if there is one, else a
 * new connect. The client's bytes after the head wait in its pipe until
 * the upstream is there. May call an event before it returns (no upstream
 * may be tried, or none can even be tried: refuse 502). */
void xps_proxy_start(xps_proxy_t *proxy) XPS_NOEXCEPT;

/* Ends the exchange at once: the connect is cancelled, the upstream
 * connection closed (not pooled), the upstream pipes let go. The client
 * pipes are the owner's and are not touched. Accepts NULL; safe inside any
 * callback, the proxy's events included. */
void xps_proxy_destroy(xps_proxy_t *proxy) XPS_NOEXCEPT;

/* --------------------------------------------------------- operations */

/* The owner's from_client has bytes (consume()): body bytes, [stage 13]
 * tunnel bytes, or bytes held until the upstream answers an Upgrade. */
void xps_proxy_client_bytes(xps_proxy_t *proxy) XPS_NOEXCEPT;

/* The client sent FIN (source_done() of from_client; the owner has
 * detached it and set its slot to NULL). A body not complete by then is
 * cut short (refuse 400, or cut); [stage 13] in a tunnel the upstream
 * gets the FIN too. */
void xps_proxy_client_end(xps_proxy_t *proxy) XPS_NOEXCEPT;

/* The owner's to_client has room again (produce()): more of the response
 * may go down. */
void xps_proxy_client_room(xps_proxy_t *proxy) XPS_NOEXCEPT;

/* [stage 12] The request head to send upstream, rewritten for one hop
 * (RFC 9110 §7.6), as one new buffer the caller owns:
 *  - request line: the method and version as received; the target in
 *    origin form (an absolute-form target loses its scheme and authority);
 *  - Host: kept as sent; taken from an absolute-form target; for a request
 *    without one, fwd->default_host;
 *  - removed (hop-by-hop, §7.6.1): Connection, every field it names
 *    (except Host: naming it there is an attack, not a request),
 *    Keep-Alive, Proxy-Connection, TE, Upgrade, HTTP2-Settings; every
 *    field whose name has '_' (a CGI-style upstream reads
 *    "Transfer_Encoding" as Transfer-Encoding: nginx drops them too);
 *  - the framing as received (Content-Length, Transfer-Encoding), replaced
 *    by ours after the other fields: "Content-Length: <the one value the
 *    parser accepted>", or "Transfer-Encoding: chunked" for a chunked body
 *    (the proxy re-encodes its chunks), nothing for a body-less request;
 *  - X-Forwarded-For: the client's address appended to any received list;
 *    Via (§7.6.3): "<1.0|1.1> <via_name>" appended likewise;
 *  - [apps/xps] X-Request-ID: fwd->request_id in place of the client's;
 *  - Connection: close (this hop ends after one response; [stage 13] a
 *    pooled exchange leaves it out);
 *  - every other field in the order received.
 * `head` and `buf` as the parser gave them. NULL and *error XPS_E_NOMEM. */
xps_buffer_t *xps_proxy_forward_head(const xps_http_head_t *head, const char *buf,
                                     const xps_proxy_forward_t *fwd,
                                     int *error) XPS_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* XPS_MODULES_PROXY_H */
