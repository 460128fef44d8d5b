// modules/session/xps_session_internal.hpp — NOT a public header. The
// layout of a session and what the module's C++ files share:
//
//   xps_session.cpp        lifecycle, reading the head, replies, files
//   xps_session_route.cpp  xps_session_route: request → action
//   xps_session_listen.cpp xps_session_listen_all: listeners → sessions
//   xps_session_gzip.cpp   [stage 16] a response's coding: asks modules/gzip
// The reverse proxy is modules/proxy: one xps_proxy_t per proxied request.
//
// C++ on purpose, hence .hpp: public headers (*.h) are C11 and go through
// `make check-headers`; this one is included only from modules/session/.
#ifndef XPS_MODULES_SESSION_INTERNAL_HPP
#define XPS_MODULES_SESSION_INTERNAL_HPP

#include "modules/session/xps_session.h"

#include <cstdint>
#include <memory>
#include <string>

#include "core/xps_core.h"
#include "modules/balancer/xps_balancer_set.h"
#include "modules/cache/xps_cache.h"
#include "modules/proxy/xps_proxy.h"
#include "modules/upstream/xps_upstream_pool.h"
#include "modules/gzip/xps_gzip.h"
#include "http/xps_http_response.h"

// Where a session is in its one exchange. Transitions only go down.
enum class session_phase {
    head,       // reading the request head
    proxying,   // reverse_proxy: `proxy` has the request (connecting, relaying)
    done,       // destroyed; memory waits for the end of the batch
};

namespace session_detail {
// [apps/xps] What the report of the current request holds until observe_end
// (xps_session_observe.cpp).
struct request_report {
    bool pending = false;        // begun, not yet reported
    int status = 0;              // the response's, once known (0: none went)
    int64_t wall = 0;            // when it came, for the line
    uint64_t start_us = 0;       // monotonic: the duration's start
    uint64_t upstream_us = 0;    // monotonic: when it went to the proxy (0: not proxied)
    uint64_t written_at = 0;     // xps_pipe_written(to_client) at the start
    std::string line, referer, user_agent; // copied: the head buffer moves on
    bool has_referer = false, has_user_agent = false;
    char id[XPS_REQUEST_ID_MAX + 1] = "";
};
} // namespace session_detail

struct xps_session_s {
    xps_loop_t *loop;                      // borrowed
    xps_core_member_t *member;             // destroyed with the core
    const xps_config_t *config;            // borrowed
    const xps_config_listener_t *listener; // borrowed: where the client came in
    session_phase phase;                   // see the enum

    // The client. The connection closes itself once both pipes are done.
    xps_connection_t *client;              // NULL once it has closed itself
    xps_pipe_t *from_client;               // we are its sink; NULL once detached
    xps_pipe_t *to_client;                 // we are its source; NULL once detached
    char client_ip[64];                    // the peer's address, without the port
    bool ip_filter;                        // [stage 14] xps_session_set_ip_filter: routes'
                                           // access lists are asked (off in 12 and 13)
    xps_ipfilter_addr_t client_addr;       // [stage 14] client_ip as the filter reads it
    bool dir_listing;                      // [stage 15] xps_session_set_dir_listing
    xps_dirlist_t *listing;                // [stage 15] owned: the page still to queue
                                           // (send_listing); NULL when none is going
    // gzip [stage 16]
    bool gzip;                             // xps_session_set_gzip: routes' gzip_* act
    xps_gzip_settings_t coding;            // this request's route's settings (enable
                                           // false unless gzip and the route says so)
    xps_gzip_t *deflating;                 // owned: the body being compressed into
                                           // to_client (a file or the listing); or NULL
    xps_file_t *body_file;                 // owned: the file feeding `deflating`
    uint64_t body_at, body_left;           // where its next bytes are, how many are left

    // The request head, parsed where it lies (the parser keeps offsets).
    xps_http_parser_t *parser;             // owned
    std::unique_ptr<char[]> head;          // head_size bytes; NULL while no byte of a
                                           // request is here (release_head)
    size_t head_size;                      // bytes allocated at head: grows from
                                           // first_head_bytes to head_cap (grow_head)
    size_t head_cap;                       // the parser's max_head + 1: one byte
                                           // more than any head it accepts
    size_t head_len;                       // bytes received into head
    int method;                            // enum xps_http_method, once parsed
    int version;                           // enum xps_http_version, once parsed

    // keep-alive [stage 13]
    bool http11;                           // xps_session_set_http11: stage 13's rules
                                           // (keep-alive, validators, ranges); off in 12
    bool keep;                             // this request's response keeps the
                                           // connection open (decided in on_head)
    bool next;                             // set by end_request: the head buffer
                                           // was shifted; parse the next request
    bool paused;                           // pipelined requests wait: the client's
                                           // pipe is full (pause_requests)
    bool client_eof;                       // the client sent FIN; answer what it sent
    uint64_t served;                       // requests answered on this connection
    xps_connection_wake_cb park_wake;      // xps_session_set_idle_park: who gets the
    void *park_data;                       // client connection while it is idle
    const bool *draining;                  // [stage 21] xps_session_set_draining: once
                                           // true, the response closes the connection
    std::string request_line;              // "GET /x" for the log

    // reverse_proxy [stage 12]
    xps_proxy_t *proxy;                    // owned: the exchange of the request being
                                           // proxied (modules/proxy); NULL otherwise
    xps_upstream_pool_t *pool;             // [stage 13] borrowed (xps_session_set_upstream_pool),
                                           // handed to each proxy; NULL: one upstream
                                           // connection per request
    xps_balancer_set_t *balancers;         // [stage 17] borrowed (xps_session_set_balancers):
                                           // the loop's route balancers; NULL: upstreams[0]
    xps_upstream_tls_set_t *upstream_tls;  // [stage 19] borrowed (xps_session_set_upstream_tls):
                                           // the routes' TLS clients; NULL: always plain
    xps_task_t *resume;                    // owned, or NULL: parses the next request once
                                           // the released upstream connection is idle

    // [stage 18] rate limit and timers
    xps_ratelimit_t *limiter;              // borrowed (xps_session_set_rate_limiter); NULL: none
    const xps_config_timeouts_t *timeouts; // borrowed (xps_session_set_timeouts); NULL: none
    xps_loop_timer_t *timer;               // owned: the one timer of the phase (timer_kind)
    int timer_kind;                        // a session_timer: what the timer is timing
                                           // (the upstream's timers are the proxy's)

    // [stage 20] the shared cache
    xps_cache_store_t *cache_store;        // borrowed (xps_session_set_cache_store); NULL: none
    xps_cache_exchange_t *cached;          // owned: the cache's side of the request being
                                           // proxied (modules/cache/xps_cache.h); NULL otherwise
    xps_config_route_match_t cached_route; // its route, for the fetch (pointers borrowed
                                           // from the config)
    bool cache_sync;                       // inside xps_cache_exchange_start: a hit there is
                                           // answered as a file is (parse_heads goes on)

    // [apps/xps] routes' "headers" (xps_session_set_route_headers)
    bool route_headers;                    // on: the request's route's are added
    const xps_config_header_t *extra;      // this request's route's, borrowed from the
    size_t n_extra;                        // config (NULL/0: none, or before routing)
    const char *extra_lines;               // the same as header lines ("" when none)
    // [apps/xps] "error_pages" (xps_session_set_error_pages)
    bool error_pages;                      // on: our 4xx/5xx use the config's pages
    xps_config_route_match_t page_route;   // type and server of this request's route (type
                                           // 0 before routing, or none): whose pages

    // [apps/xps] observe (xps_session_observe.cpp)
    const xps_session_observer_t *observer; // borrowed (xps_session_set_observer); NULL: off
    std::unique_ptr<session_detail::request_report> report; // owned with an observer: the
                                           // request being reported; NULL: off
};

// What the session's one timer is timing. [stage 18]
enum session_timer {
    timer_none = 0,
    timer_header,    // the request head must be complete: 408 at the bound
    timer_keepalive, // idle between requests: closed quietly at the bound
};

namespace session_detail {

constexpr const char *log_name = "session";

// [stage 16] How one response's body is coded (xps_session_gzip.cpp).
struct coding {
    bool vary;          // "Vary: Accept-Encoding"
    bool compress;      // we compress the body as it goes (chunked)
    bool precompressed; // the body is a gzip_static file: Content-Encoding only
};

// Asks modules/gzip about a response of `status` and Content-Type
// type[0..type_len), of a known length or not, already encoded or not,
// for this request's client and route (s->coding).
coding choose_coding(const xps_session_t *s, int status, const char *type, size_t type_len,
                     bool length_known, uint64_t length, bool encoded);
// The headers that follow: Vary, Content-Encoding; when compressing also
// Transfer-Encoding: chunked, the ETag weakened, no Accept-Ranges.
int coding_headers(xps_http_response_t *res, const coding &c);
// gzip_static: "<file>.gz" beside `file`, when the route serves them, the
// client takes gzip, the type is compressible, no Range was asked, and
// it is not older than the file; NULL otherwise.
xps_file_t *static_variant(xps_session_t *s, const xps_file_t *file);
// xps_gzip_read_cb over the body being compressed: s->listing's page or
// s->body_file's bytes from body_at.
size_t read_body(void *data, char *dst, size_t cap, int *error);

// Queues a response made here (error page or redirect) into to_client,
// logs the request's line, then ends the session. `why` (a few words) goes
// into the log and, for 4xx/5xx, into the page ("404 Not Found: no such
// file"); `location` and `allow` are optional headers (NULL: none).
void reply(xps_session_t *s, int status, const char *why, const char *location,
           const char *allow);

// reply() with one more header `name: value` instead of Location and
// Allow (416's Content-Range) [stage 13]; reply_headers() takes them all.
void reply_with(xps_session_t *s, int status, const char *why, const char *name,
                const char *value);
void reply_headers(xps_session_t *s, int status, const char *why, const char *location,
                   const char *allow, const char *name, const char *value);

// reply() for a success with a one-line text/plain body `text` ("ok" of a
// health route), never cached (Cache-Control: no-store): a probe asks
// this process now, not a copy from some minutes ago.
void reply_text(xps_session_t *s, int status, const char *why, const char *text);

// Ends the session (xps_session_destroy): the client gets what is queued.
void finish(xps_session_t *s);

// The response to the current request is queued: with s->keep, get ready
// for the next request on the same connection (keep-alive, pipelining);
// otherwise finish(). [stage 13]
void end_request(xps_session_t *s);

// [stage 18] Arms the session's timer to time `kind` (timer_none: stops
// it). Nothing without xps_session_set_timeouts.
void arm_timer(xps_session_t *s, session_timer kind);

// reverse_proxy: hands the request to a new xps_proxy_t for the route's
// upstreams ([stage 17] and its balancer); its events (refuse, cut, done)
// bring the session back. [stage 20] A route with "cache", in a session
// with a store, asks the cache first (modules/cache): a hit is answered
// from it, a miss goes to the proxy with the cache's tee.
void proxy_start(xps_session_t *s, const xps_config_route_match_t *route);

// [apps/xps] observe (xps_session_observe.cpp), each a no-op without an
// observer. begin: a head is complete (parsed) or refused (not: the
// request line is refuse()'s); status: the response's status, the first
// noted wins; upstream_start/_head: a proxied request went up / its
// response head came (the latency); cache: the shared cache's answer;
// end: the request is over (its response queued whole, or the session
// ends first), reported once; cached_head: a cache hit's stored head
// (taken) with the request's id in place of any stored one, and its status
// noted (the head as it was when there is nothing to add or no memory).
void observe_begin(xps_session_t *s, bool parsed);
void observe_status(xps_session_t *s, int status);
void observe_upstream_start(xps_session_t *s);
void observe_upstream_head(xps_session_t *s, int status);
void observe_cache(xps_session_t *s, bool hit);
void observe_end(xps_session_t *s);
xps_buffer_t *observe_cached_head(xps_session_t *s, xps_buffer_t *head);
// [apps/xps] `head` (taken; ends in CRLF CRLF) with `lines` before its
// blank line, and without the lines named `drop` ("x-request-id:"; NULL:
// none): a new buffer, or `head` itself when there is nothing to do or no
// memory.
xps_buffer_t *head_with_lines(xps_buffer_t *head, const char *lines, const char *drop);
// The current request's id (NUL-terminated), or NULL without ids.
const char *request_id(const xps_session_t *s);

} // namespace session_detail

#endif // XPS_MODULES_SESSION_INTERNAL_HPP
