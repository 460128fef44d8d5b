/*
 * modules/session/xps_session.h — one client's HTTP exchange, from its first
 * byte to the end of its response: read the request head, find the route,
 * then serve a file, answer a redirect or an error, or relay to an upstream.
 *
 * Why: until stage 11 main.cpp decided what a port does. From stage 12 the
 * configuration decides, per listener, Host and path, so something has to
 * sit between the client's connection and whatever answers it, and hold the
 * exchange together: the session. It is the course's orchestrator (cur 13
 * session + cur 16 config), with three differences: the head is parsed
 * incrementally wherever TCP cuts it, the proxy is HTTP-aware (it rewrites
 * the request head instead of relaying raw bytes), and an upstream that
 * cannot be reached gets the client a 502 instead of a silent close.
 *
 * The pipes of one session (the session is an end of the client pair, its
 * proxy of the upstream pair):
 *
 *   client ──▶ [from_client] ──▶ session ─▶ proxy ──▶ [to_upstream]  ──▶ upstream
 *   client ◀── [to_client]   ◀── session ◀─ proxy ◀── [from_upstream] ◀── upstream
 *
 * The upstream pair exists only for a reverse_proxy route, once connected,
 * and belongs to the request's proxy (modules/proxy/xps_proxy.h): the
 * session passes it its client pipes' events and hears back when the
 * response is queued, or there is none.
 * A file goes into to_client as one file range after the response head, so
 * the connection sends it with sendfile(): the session writes both items
 * itself (a pipe has ONE source, and the session already is it).
 *
 * One request per connection [stage 12]: every response says
 * "Connection: close" and the connection closes after it. Keep-alive and
 * pipelining [stage 13] are switched on with xps_session_set_http11:
 * then a file or a reply made here leaves the connection open when the
 * client allows it (RFC 9112 §9.3: HTTP/1.1 unless "Connection: close";
 * HTTP/1.0 only with "Connection: keep-alive", echoed back) and the request
 * had no body; the bytes after the head are the next request, answered in
 * order (each response is queued whole before the next head is parsed),
 * while the client takes what is queued: with 256 KiB waiting for it, no
 * more requests are read until it has read some (back-pressure: a client
 * that sends and never reads holds a bounded amount of memory and at most
 * a few file descriptors). A refused head, a proxied request, or a request
 * with a body still close the connection. The rules, in the order they
 * apply:
 *  - the head is read into one buffer of the parser's max_head (+1) bytes,
 *    allocated by the request's first byte and freed while a connection
 *    waits for its next request (an idle connection holds no buffer; with
 *    xps_session_set_idle_park, no session either);
 *    a head the parser refuses is answered with its status (400, 413, 414,
 *    431, 501, 505) and reason; a client that stops half-way gets 400.
 *  - route (xps_session_route): listener + Host + longest req_path
 *    (xps_config_lookup); none → 404.
 *  - access [stage 14], switched on with xps_session_set_ip_filter: the
 *    route's ip_whitelist / ip_blacklist (modules/ipfilter) asked about
 *    the client's address right after routing, before anything of the
 *    route is touched — no file opened or looked at, no upstream chosen
 *    or contacted; refused → 403, whatever the route's type. The
 *    connection is kept after it like after any reply made here.
 *  - rate [stage 18], switched on with xps_session_set_rate_limiter: the
 *    route's rate_limit, right after the access check and as early
 *    (modules/ratelimit): an empty bucket → 429 with Retry-After.
 *  - file_serve: GET and HEAD; OPTIONS → 200 with Allow (also "OPTIONS *",
 *    the server as a whole); other methods 405 with Allow (501 for one no
 *    RFC defines); a folder named without its final '/' → 301 to the same
 *    path with it — built from the normalised path, so the Location can
 *    never name another origin; a folder → its index files, in order;
 *    [stage 15] none of them, with dir_browsing and
 *    xps_session_set_dir_listing: the listing (modules/dirlist);
 *    XPS_E_NOTFOUND → 404, XPS_E_PERMISSION → 403. A file of up to 64 KiB
 *    leaves in the same send() as its head; a bigger one by sendfile().
 *  - redirect: the route's status and Location, no body.
 *  - coding [stage 16], switched on with xps_session_set_gzip: a file, a
 *    listing or a proxied response of a type on the route's
 *    gzip_mime_types gets "Vary: Accept-Encoding", and its body gzip-coded
 *    (chunked) when the client accepts it; decided once per response
 *    where its head is made (see xps_session_set_gzip).
 *  - reverse_proxy: the request goes to modules/proxy (one xps_proxy_t
 *    per proxied request; xps_proxy_forward_head for the request rewrite),
 *    to the route's first upstream — [stage 17] with
 *    xps_session_set_balancers, to the one the route's balancer chooses;
 *    the upstream's response is relayed to its end as its head frames it
 *    (Content-Length bytes, the last chunk, or the upstream's close when
 *    it has neither: RFC 9112 §6.3), whatever the upstream then does with
 *    its connection — byte for byte in stage 12; in stage 13 an HTTP/1.1
 *    client gets a response of unknown length re-framed as chunked; 502
 *    when the upstream cannot be reached, closes before sending a byte, or
 *    sends an invalid Content-Length. A request body is forwarded
 *    as it arrives, RE-FRAMED by us: its data bytes with our own
 *    Content-Length, or in chunks of our own (the client's chunk sizes,
 *    extensions and trailers never go up), so the upstream cannot read the
 *    body differently from the way xps did (request smuggling, RFC 9112
 *    §6.3, §7.1). [stage 13] An Upgrade request (not h2c) is forwarded
 *    with its Upgrade; the client's following bytes are held until the
 *    upstream answers: 101 → a raw tunnel both ways; anything else → a
 *    normal response, and the held bytes are never relayed. Before stage
 *    18 there is no timeout for an upstream that accepts and then stays
 *    silent; from stage 18, see xps_session_set_timeouts (504).
 *  - cache [stage 20], switched on with xps_session_set_cache_store: a
 *    reverse_proxy route with "cache" asks the shared cache first
 *    (modules/cache/xps_cache.h): a hit is answered from the entry's file
 *    (sendfile), a miss goes to the proxy with the cache's tee, which
 *    stores what RFC 9111 lets a shared cache keep.
 *  - observe [apps/xps], switched on with xps_session_set_observer: each
 *    request gets an id (X-Request-ID: the client's when well-formed,
 *    else generated; modules/accesslog), returned in the response (our
 *    own heads, a cache hit's, and a proxied one's when http11 rewrites
 *    it) and forwarded upstream; when its response is queued whole (or
 *    the session ends before), ONE call reports it: a line in the access
 *    log and the counters of modules/metrics. A "metrics" route then
 *    answers GET and HEAD with the counters' page (after the access
 *    check, like any route); without an observer it is 501 as before.
 *  - headers [apps/xps], switched on with xps_session_set_route_headers:
 *    the route's "headers" on each of its responses, errors included.
 *  - error pages [apps/xps], switched on with xps_session_set_error_pages:
 *    the config's "error_pages" as the body of the session's own 4xx/5xx.
 *
 * Lifecycle: create (takes the accepted connection) → runs by itself from
 * the loop → destroys itself when the response is queued or either side is
 * gone. A session is a member of the loop's core: destroying the core
 * destroys sessions still running. xps_session_destroy is for shutting one
 * down early and is safe inside any callback (docs/conventions.md,
 * "Lifetimes").
 * Ownership: the session owns the client connection until its response is
 * queued (then the connection finishes sending and closes itself), the
 * upstream connection, its pipe ends and its buffers. The config and the
 * listener record are borrowed and must outlive every session.
 * Errors: XPS_E_NOMEM at create; everything later is an HTTP status sent
 * to the client, and one log line per request at debug level (warn for a
 * 5xx): at info a busy server would pay a write(2) per request.
 * Threading: none.
 */
#ifndef XPS_MODULES_SESSION_H
#define XPS_MODULES_SESSION_H

#include "core/xps.h"
#include "http/xps_http_parser.h"
#include "http/xps_http_request.h"
#include "modules/accesslog/xps_accesslog.h"
#include "modules/balancer/xps_balancer_set.h"
#include "modules/cache/xps_cache_store.h"
#include "modules/config/xps_config.h"
#include "modules/dirlist/xps_dirlist.h"
#include "modules/file/xps_file.h"
#include "modules/gzip/xps_gzip.h"
#include "modules/ipfilter/xps_ipfilter.h"
#include "modules/loop/xps_loop.h"
#include "modules/metrics/xps_metrics.h"
#include "modules/ratelimit/xps_ratelimit.h"
#include "modules/proxy/xps_proxy.h"
#include "modules/tcp/xps_tcp.h"
#include "modules/upstream/xps_upstream_pool.h"
#include "modules/upstream/xps_upstream_tls.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xps_session_s xps_session_t;

/* What a session does with a request: the outcome of xps_session_route. */
typedef enum xps_session_action_kind {
    XPS_SESSION_REPLY = 1, /* answer here: an error page or a redirect */
    XPS_SESSION_FILE = 2,  /* 200 with the file in `file` */
    XPS_SESSION_PROXY = 3, /* forward to `upstream` */
    XPS_SESSION_LISTING = 4, /* [stage 15] 200 with the folder's listing in
                                `listing` */
    XPS_SESSION_METRICS = 5, /* [apps/xps] 200 with the counters' page */
} xps_session_action_kind_t;

/* One decision. Release it with xps_session_action_release. */
typedef struct xps_session_action {
    xps_session_action_kind_t kind;
    int status;            /* REPLY: 3xx, 4xx or 5xx; FILE: 200; PROXY: 0 */
    const char *reason;    /* a few words for the log and the error page
                              ("no such file"); static, never NULL */
    char *location;        /* REPLY 3xx: the Location value; owned */
    const char *allow;     /* REPLY 405: the Allow value; static, else NULL */
    xps_file_t *file;      /* FILE: the open file; owned */
    xps_dirlist_t *listing; /* LISTING: the folder's snapshot; owned */
    const xps_config_upstream_t *upstream; /* PROXY: borrowed from the config */
    uint32_t retry_after;  /* REPLY 429 [stage 18]: Retry-After, whole seconds */
    const char *text;      /* REPLY 200 of a health route: its body's one
                              line ("ok"); static, else NULL */
    xps_config_route_match_t match;        /* the route (type 0: none matched) */
} xps_session_action_t;

/* Where a request came from: what routing it may depend on. */
typedef struct xps_session_origin {
    const char *listener_host; /* the listener it arrived on, as given by */
    uint16_t listener_port;    /* xps_config_listener */
    const xps_ipfilter_addr_t *client; /* [stage 14] the client's address, for
                                          the route's ip filter; NULL: no
                                          access check (stages 12 and 13) */
    bool dir_listing;          /* [stage 15] a route's dir_browsing may list a
                                  folder; false: 404 as in stages 12-14 */
    xps_ratelimit_t *limiter;  /* [stage 18] the buckets a route's rate_limit
                                  takes from; NULL: no rate limit (12-17) */
    const xps_ipfilter_addr_t *peer; /* [stage 18] the client's address, the
                                  bucket's key (with the route) */
    uint64_t now_ms;           /* [stage 18] the loop's clock, for the buckets */
    bool draining;             /* [stage 21] the worker is stopping: a health
                                  route answers 503 */
    bool metrics;              /* [apps/xps] a "metrics" route is served
                                  (METRICS); false: REPLY 501 */
} xps_session_origin_t;

/* [apps/xps] The product's features, past the course's stages: the
 * reports of "observe" (request ids, access log, metrics: what
 * xps_session_listen_all_with gives its sessions' observer, one per loop). */
typedef struct xps_session_product_options {
    bool request_id;  /* X-Request-ID for every request (see
                         "observe"; xps_session_set_observer) */
    bool access_log;  /* the config's "log": a line per request
                         in log.access's format (off: none) */
    xps_accesslog_t *access_log_file; /* with access_log: the log
                         to write, opened by the caller (a master, before it
                         forks: every worker appends to the same file) and
                         closed by it after the loop; NULL: opened here from
                         log.path (a member of the core: closed with it; a
                         path that cannot be opened fails the call) */
    bool metrics;     /* counters (modules/metrics), and "metrics"
                         routes serve their page */
    xps_metrics_t *metrics_shared; /* with metrics: the caller's
                         mapping (made before the fork) and this process's
                         slot in it; NULL: one slot made here (a member of
                         the core) */
    size_t metrics_slot;
    bool headers;     /* routes' "headers" are added to their responses
                         (xps_session_set_route_headers) */
    bool error_pages; /* the config's "error_pages" replace the session's
                         own error text (xps_session_set_error_pages) */
} xps_session_product_options_t;

/* What xps_session_listen_all_with switches on in every session it
 * starts, one field per stage that adds a rule; all false is stage 12. */
typedef struct xps_session_options {
    bool http11;    /* [stage 13] xps_session_set_http11, the upstream pool
                       and xps_session_set_idle_park */
    bool ip_filter; /* [stage 14] xps_session_set_ip_filter */
    bool dir_listing; /* [stage 15] xps_session_set_dir_listing */
    bool gzip;        /* [stage 16] xps_session_set_gzip (needs http11) */
    bool balance;   /* [stage 17] xps_session_set_balancers: one balancer
                       set per loop, every upstream of a route used */
    bool rate_limit;  /* [stage 18] routes' rate_limit, one table of buckets
                         for all listeners (xps_session_set_rate_limiter) */
    bool timeouts;    /* [stage 18] the config's "timeouts": the session's
                         (xps_session_set_timeouts), and the connections'
                         send and keep-alive timeouts (modules/tcp) */
    bool limits;      /* [stage 18] the config's "limits": max_connections
                         (modules/tcp's cap), head and body sizes
                         (xps_session_set_limits) */
    size_t rate_limit_entries; /* [stage 18] the buckets' cap (0: the default,
                         XPS_RATELIMIT_MAX_ENTRIES) */
    bool tls;         /* [stage 19] listeners with "tls" speak TLS: one TLS
                         server (modules/tls) per such listener, with the
                         certificate of every block that lists it (SNI picks
                         by the block's hostnames), made before anything
                         listens; a certificate or key that cannot be used
                         fails xps_session_listen_all_with (XPS_E_INVAL, the
                         file named in the log). Off: such listeners serve
                         plain HTTP, as in the stages before 19. And routes'
                         "upstream_tls" speak TLS to their upstreams
                         (xps_session_set_upstream_tls, one set per loop). */
    bool cache;       /* [stage 20] routes' "cache" go through the shared
                         cache (xps_session_set_cache_store; needs http11) */
    xps_cache_store_t *cache_store; /* [stage 20] with cache: the store
                         to use, opened by the caller (stage 21's master, before
                         it forks) and closed by it after the loop; NULL:
                         xps_session_listen_all_with opens the config's "cache"
                         itself (a member of the core: closed with it) */
    xps_session_product_options_t product; /* [apps/xps] all off: as in stage 21 */
} xps_session_options_t;

/* [apps/xps] What sessions report to, shared by every session of a loop
 * (borrowed: it and what it points to outlive them). Each field is
 * optional: NULL switches its part off. */
typedef struct xps_session_observer {
    xps_request_ids_t *ids;       /* request ids: X-Request-ID */
    xps_accesslog_t *access_log;  /* a line per request */
    xps_metrics_t *metrics;       /* the "metrics" route's page */
    xps_metrics_slot_t *slot;     /* this process's counters */
    const size_t *connections;    /* this process's open client connections
                                     (xps_session_open_connections), put into
                                     slot before a page is made; NULL: none */
} xps_session_observer_t;

/* ---------------------------------------------------------- lifecycle */

/* Starts a session for `client`, just accepted on `listener` (the record
 * of xps_config_listener, borrowed, as is `config`). Takes the connection
 * whatever the result: on failure (XPS_E_NOMEM, logged) it is already
 * destroyed. Returns the session, which then runs by itself, or NULL. */
xps_session_t *xps_session_create(xps_loop_t *loop, xps_connection_t *client,
                                  const xps_config_t *config,
                                  const xps_config_listener_t *listener,
                                  int *error) XPS_NOEXCEPT;

/* Ends the session at once: the client connection is told its response
 * is over (what is queued is still sent, then it closes), the upstream
 * connection is closed, a pending connect cancelled. Accepts NULL. */
void xps_session_destroy(xps_session_t *session) XPS_NOEXCEPT;

/* --------------------------------------------------------- operations */

/* [stage 13] Switches on stage 13's HTTP/1.1 rules for `session`: keep-
 * alive and pipelining (above), and for files the validators (ETag W/"size-
 * mtime", Last-Modified; If-None-Match, else If-Modified-Since → 304) and
 * one byte range (Range → 206 with Content-Range; unsatisfiable → 416;
 * several ranges → 200 with everything; an If-Range that does not match
 * this version of the file → 200 with everything), see
 * http/xps_http_semantics.h.
 * Off by default: stage 12's behaviour, exactly. Call it right after
 * create, before the loop runs again. */
void xps_session_set_http11(xps_session_t *session, bool on) XPS_NOEXCEPT;

/* [stage 13] Lets the proxy reuse upstream connections through `pool`
 * (borrowed: it must outlive the session; NULL: none, stage 12's one
 * connection per request). An HTTP/1.1 request then goes up without
 * "Connection: close" on an idle connection from the pool, or a new one;
 * after a response that ended exactly at its framing, with the whole
 * request sent and the upstream not saying "close", the connection goes
 * back to the pool. A bodyless idempotent request whose reused connection
 * ends before any byte of an answer is sent once more, on a new one.
 * Call it right after create. */
void xps_session_set_upstream_pool(xps_session_t *session,
                                   xps_upstream_pool_t *pool) XPS_NOEXCEPT;

/* [stage 13] Lets the session give its connection back while it waits
 * between two requests. Once a response is queued and no byte of the next
 * request has come, the session parks the connection (xps_connection_park,
 * modules/tcp) and ends itself: an idle kept connection then costs a
 * connection and a socket, not a session, a parser and two pipes. When the
 * client sends again, or closes, wake(connection, data) owns the
 * connection: start a new session for it, as for one just accepted.
 * xps_session_listen_all does so when `http11` is on. wake NULL (the
 * default): the session keeps its connection while it waits. Call it right
 * after create. */
void xps_session_set_idle_park(xps_session_t *session, xps_connection_wake_cb wake,
                               void *data) XPS_NOEXCEPT;

/* [stage 14] Switches on the routes' access lists for `session`: every
 * request's route is asked whether the client's address may use it
 * (xps_ipfilter_allows on the route's ip_whitelist / ip_blacklist) before
 * anything else is done for it; refused → 403. The address is read from
 * the connection's peer once, here. Off by default: stages 12 and 13 load
 * the lists (a bad entry is refused at start-up) and never ask them. Call
 * it right after create. */
void xps_session_set_ip_filter(xps_session_t *session, bool on) XPS_NOEXCEPT;

/* [stage 15] Lets a file_serve route with `dir_browsing: true` answer a
 * folder that has none of its index files with the folder's listing
 * (modules/dirlist): 200, Content-Type "text/html", a Content-Length (the
 * page's exact length), no body for HEAD; the connection is kept as after
 * a file. The page is pulled from the listing a chunk at a time
 * (xps_dirlist_read, XPS_DIRLIST_CHUNK bytes) while the client's pipe has
 * room, so a big folder never becomes one string; pipelined requests wait
 * until the whole page is queued. Folder links are bare ("/test", the
 * course grader's form: XPS_DIRLIST_BARE_FOLDERS); a click gets the 301 to
 * "/test/". Off by default: a folder without an index is 404 whatever the
 * route says (stages 12-14). Call it right after create. */
void xps_session_set_dir_listing(xps_session_t *session, bool on) XPS_NOEXCEPT;

/* [stage 16] Lets a route's gzip_* keys (modules/gzip) code its bodies:
 * for a response whose Content-Type is on the route's gzip_mime_types,
 * "Vary: Accept-Encoding" always, and, when the client accepts gzip
 * (HTTP/1.1 only: HTTP/1.0 gets identity), the body compressed as it goes
 * out, chunked, the connection kept, the ETag weakened — for a file, a
 * listing and a proxied body, each decided at the one point where its
 * response head is made (xps_gzip_decide). Never a 206, a 304, a HEAD
 * body (HEAD gets GET's headers), a body under gzip_min_length, or a
 * proxied body that already has a Content-Encoding. With gzip_static, a
 * "<file>.gz" beside the file and not older than it is sent instead, as
 * it is (sendfile, its own Content-Length, Content-Encoding: gzip), when
 * the client accepts gzip and asked for no Range. The body is pulled
 * through the deflate stream XPS_GZIP_IN_MAX bytes at a time while the
 * client's pipe has room, so memory stays bounded whatever its size. Off
 * by default: the keys load but nothing is compressed (stages 12-15).
 * Call it right after create. */
void xps_session_set_gzip(xps_session_t *session, bool on) XPS_NOEXCEPT;
/* [stage 19] Lets a reverse_proxy route with "upstream_tls" speak TLS to
 * its upstreams, with the route's client context from `set` (borrowed: it
 * must outlive the session and every pooled connection; made on the
 * route's first request). A context that cannot be made (its CA file is
 * unreadable) gets the request a 502, logged with the file. NULL (the
 * default): upstream_tls is ignored, as in the stages before 19. Call it
 * right after create. */
void xps_session_set_upstream_tls(xps_session_t *session,
                                  xps_upstream_tls_set_t *set) XPS_NOEXCEPT;

/* [stage 17] Lets a reverse_proxy route use all of its upstreams[]: each
 * proxied request's upstream is chosen by the route's balancer in `set`
 * (borrowed: it must outlive the session; modules/balancer), by the
 * route's load_balancing, skipping upstreams that are down; a failed
 * connect moves the request to the next upstream, and when none is left
 * the client gets 502 at once (modules/proxy/xps_proxy.h, "Balanced").
 * NULL (the default): the route's first upstream only, as in stages
 * 12-16. Call it right after create. */
void xps_session_set_balancers(xps_session_t *session,
                               xps_balancer_set_t *set) XPS_NOEXCEPT;

/* [stage 18] Applies the routes' rate_limit: right after routing and the
 * access check, before anything of the route is touched, a request to a
 * route with a rate_limit takes a token from the bucket of (client
 * address, route) in `limiter` (borrowed: it must outlive the session);
 * an empty bucket → 429 with Retry-After (modules/ratelimit). The
 * connection is kept after a 429 like after any reply made here. NULL:
 * no limit (stages 12-17). Call it right after create. */
void xps_session_set_rate_limiter(xps_session_t *session,
                                  xps_ratelimit_t *limiter) XPS_NOEXCEPT;

/* [stage 20] Routes with "cache" go through `store` (borrowed; it outlives
 * the session): modules/cache/xps_cache.h. Needs xps_session_set_http11.
 * NULL: off. */
void xps_session_set_cache_store(xps_session_t *session,
                                 xps_cache_store_t *store) XPS_NOEXCEPT;

/* [stage 18] Arms the session's timers from `timeouts` (borrowed from
 * the config), on the loop's timer heap — one timer per session, moved at
 * phase changes, never a scan of sessions:
 *  - header_read_ms: from the session's start (a new connection, or a
 *    parked one that spoke), or from the first byte of a request after a
 *    kept-alive response, to the end of the request head; past it → 408
 *    and the connection closes (a slowloris);
 *  - keepalive_ms: between a response and the next request's first byte,
 *    while the session holds the connection (a parked one is timed by the
 *    connection itself: xps_tcp_options_t.park_timeout_ms) → closed
 *    quietly, after what is queued has been sent;
 *  - upstream_connect_ms: connecting to an upstream → 504;
 *  - upstream_read_ms: the upstream's silence while a response is owed:
 *    before its first byte → 504; after it → both connections closed
 *    (the client sees the response end early).
 * NULL: none of these (stages 12-17: only the fixed connect timeout,
 * XPS_SESSION_CONNECT_TIMEOUT_MS, answered 502). Call it right after
 * create. */
void xps_session_set_timeouts(xps_session_t *session,
                              const xps_config_timeouts_t *timeouts) XPS_NOEXCEPT;

/* [stage 18] The request size limits of `limits` (borrowed): a head over
 * max_header_bytes → 431; a body over max_body_bytes → 413 — a declared
 * Content-Length at once, from the head, before a byte of the body is
 * read or anything is forwarded; a chunked body as soon as its chunks
 * add up past it (what went up before is cut off with the upstream
 * connection, and no byte of the client's framing ever goes up: the no-
 * smuggling rule holds). The body is not read further; the connection
 * closes after the answer. NULL: the parser's defaults (16 KiB head, 1 MiB
 * body). Call it right after create. */
void xps_session_set_limits(xps_session_t *session,
                            const xps_config_limits_t *limits) XPS_NOEXCEPT;

/* [stage 21] Lets a worker that is stopping end this session's connection
 * after the response being made: once *draining (borrowed: it must outlive
 * the session) is true, a response made from then on says "Connection:
 * close", and the connection closes after it instead of waiting for a next
 * request (the client is told, not cut off mid-response). A response whose
 * head already left keeps its head, and the connection closes after its
 * end. NULL (the default): never. Call it right after create. */
void xps_session_set_draining(xps_session_t *session, const bool *draining) XPS_NOEXCEPT;

/* [apps/xps] Switches on routes' "headers" for `session`: every response
 * of a route that has them gets them, after its own fields — the
 * session's own heads (files, listings, redirects, error replies, the
 * metrics page), a cache hit's, and a proxied response's head when http11
 * rewrites it. A response before any route (a refused head, 404 for no
 * route) has none. Off by default. Call it right after create. */
void xps_session_set_route_headers(xps_session_t *session, bool on) XPS_NOEXCEPT;

/* [apps/xps] Switches on "error_pages" for `session`: a 4xx or 5xx reply
 * the session makes itself (not a proxied one) gets, when the config has
 * a page for its status (xps_config_error_page: the request's block, else
 * the top level), that page's bytes as its body, Content-Type text/html,
 * with the same status and headers. Off by default (the one-line text).
 * Call it right after create. */
void xps_session_set_error_pages(xps_session_t *session, bool on) XPS_NOEXCEPT;

/* [apps/xps] Switches on "observe" (above) for `session` with
 * `observer` (borrowed; NULL: off, the default). Call it right after
 * create. Costs nothing per request when off but one test. */
void xps_session_set_observer(xps_session_t *session,
                              const xps_session_observer_t *observer) XPS_NOEXCEPT;

/* [stage 12] What a config-driven server does to accept clients: one
 * listener per distinct host:port of `config` (xps_config_listener), and a
 * session for every client accepted on it, with HTTP/1.1 semantics when
 * `http11` is true (stage 13). Listeners join the loop's core, so
 * destroying the core closes them; `config` must outlive the core. Returns
 * XPS_OK, or the error of the first listener that could not be opened
 * (logged with its address; those already open are the core's). */
int xps_session_listen_all(xps_loop_t *loop, const xps_config_t *config,
                           bool http11) XPS_NOEXCEPT;

/* [stage 14] xps_session_listen_all with each stage's switches in
 * `options` (borrowed for the call; NULL: all off, stage 12):
 * xps_session_listen_all(loop, config, h) is this with {.http11 = h}. */
int xps_session_listen_all_with(xps_loop_t *loop, const xps_config_t *config,
                                const xps_session_options_t *options) XPS_NOEXCEPT;

/* [stage 21] The listeners of one xps_session_serve_sockets call: a member
 * of the loop's core (destroying the core destroys them). */
typedef struct xps_session_listeners_s xps_session_listeners_t;

/* [stage 21] xps_session_listen_all_with on sockets already bound, for a
 * worker process that inherited them from its master: sockets[i] is
 * listener i of `config` (xps_config_listener(config, i)), listening, and
 * is taken whatever the result (xps_listener_adopt). `exclusive`: one
 * worker is woken per new connection, not all of them
 * (xps_tcp_options_t.accept_exclusive; false only to watch the thundering
 * herd, chapter 21). *listeners (may be NULL) gets the set, for the two
 * calls below. Returns as xps_session_listen_all_with. */
int xps_session_serve_sockets(xps_loop_t *loop, const xps_config_t *config,
                              xps_listen_socket_t *const *sockets,
                              const xps_session_options_t *options, bool exclusive,
                              xps_session_listeners_t **listeners) XPS_NOEXCEPT;

/* [stage 21] Starts a worker's drain: closes every listener of the set (in
 * this process: a master's copy of the socket stays open, and the kernel
 * queues new clients for the other workers), and makes every session of
 * the set end its connection after its current response
 * (xps_session_set_draining); a parked connection that speaks again gets
 * one answer, with "Connection: close". Connections go on until then.
 * Calling it again does nothing. */
void xps_session_drain(xps_session_listeners_t *listeners) XPS_NOEXCEPT;

/* [stage 21] The connections the set's listeners accepted that are still
 * open (serving, parked between requests, or lingering): a drain is over
 * at 0. */
size_t xps_session_open_connections(const xps_session_listeners_t *listeners) XPS_NOEXCEPT;

/* [stage 12] Decides what to do with `req`, which came from `from` (see
 * "The rules" above): fills *out. With from->client set [stage 14], a
 * client the route's access lists refuse gets REPLY 403 and nothing else
 * happens: no file is opened or looked at, no upstream chosen. Otherwise,
 * for a file_serve route it opens the file (under `core`, as
 * xps_file_create). Never fails to decide: out of memory gives REPLY 500
 * and XPS_E_NOMEM, else XPS_OK. The caller releases *out. */
int xps_session_route(xps_core_t *core, const xps_config_t *config,
                      const xps_session_origin_t *from, const xps_http_request_t *req,
                      xps_session_action_t *out) XPS_NOEXCEPT;

/* Destroys the action's file (and listing) and frees its location; leaves it zeroed.
 * Accepts an action already released. */
void xps_session_action_release(xps_session_action_t *action) XPS_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* XPS_MODULES_SESSION_H */
