// modules/proxy/xps_proxy_internal.hpp — NOT a public header. The layout
// of one proxied exchange and what the module's C++ files share:
//
//   xps_proxy.cpp         the exchange: connect, relay both ways, 502, reuse
//   xps_proxy_rewrite.cpp the heads it writes, up and down
//
// C++ on purpose, hence .hpp: public headers (*.h) are C11 and go through
// `make check-headers`; this one is included only from modules/proxy/.
#ifndef XPS_MODULES_PROXY_INTERNAL_HPP
#define XPS_MODULES_PROXY_INTERNAL_HPP

#include "modules/proxy/xps_proxy.h"

#include <string>

#include "modules/upstream/xps_upstream.h"

struct xps_proxy_s {
    xps_proxy_request_t req;               // as handed over (pointers borrowed)
    xps_proxy_events_t ev;                 // the owner's callbacks
    void *data;                            // ... and their argument
    int method;                            // enum xps_http_method of the request
    int version;                           // enum xps_http_version of the request
    bool keep;                             // the client's connection may stay: the
                                           // owner's wish, then the response's framing
    bool ended;                            // destroyed; memory waits for the batch's end

    // the upstream side
    const xps_config_upstream_t *up;       // the one this attempt goes to
    size_t index;                          // its number in req.upstreams
    bool in_flight;                        // [stage 17] counted by the balancer (begin)
    uint64_t tried;                        // [stage 17] bit i: upstream i failed this request
    xps_upstream_t *attempt;               // the pending connect, or NULL
    bool relaying;                         // connected: the upstream pipes exist
    xps_connection_t *upstream;            // NULL until connected / once closed
    xps_pipe_t *to_upstream;               // we are its source; NULL once detached
    xps_pipe_t *from_upstream;             // we are its sink; NULL once detached
    bool body_done;                        // the whole request body went up
    bool upgrade_asked;                    // [stage 13] the head asked to switch protocols;
                                           // the client's next bytes wait for the answer
    bool tunnel;                           // [stage 13] the upstream said 101: raw bytes
                                           // both ways from now on
    uint64_t relayed;                      // response bytes passed to the client
    // the response
    int reframe;                           // a reframe_mode: how response bytes go down
    std::string response_head;             // upstream bytes until its head is complete
    xps_http_parser_t *response_body;      // owned: follows a body with a length or
                                           // chunks to its end; NULL otherwise
    bool response_done;                    // all of the response has gone down
    bool upstream_failed;                  // the upstream connection ended in an error
                                           // (a cut body must not get a last-chunk)
    bool upstream_nomem;                   // ... for want of OUR memory (fail_nomem: 500,
                                           // neither a retry nor the balancer's count)
    bool client_framed;                    // the client can tell where the response ends
                                           // without our close (not close-delimited)
    // connection reuse [stage 13]
    bool ask_keep;                         // the forwarded head asked the upstream to keep
                                           // its connection (no "Connection: close")
    bool upstream_keeps;                   // ... and the response's head agreed
    bool reused;                           // the upstream connection came from the pool
    bool retried;                          // this request already went to a fresh one
    bool upstream_spoke;                   // a byte came from the upstream for this request
    bool leftover;                         // bytes came after the response's end: the
                                           // connection is not reusable
    // [stage 16] hook (a)'s body filter
    xps_gzip_t *gzip;                      // owned: the body's gzip stream while the owner's
                                           // events.coding said compress; NULL otherwise
    // [stage 18] the upstream's read timeout
    xps_loop_timer_t *timer;               // owned, or NULL (no read_timeout_ms)
    uint64_t heard_ms;                     // when the upstream last sent a byte, or the
                                           // request went up
    bool connect_timed_out;                // the last connect ran out of connect_timeout_ms
    // [stage 20] hook (c)
    bool teeing;                           // req.tee has had head() and not yet end()
    // [stage 19] upstream_tls
    bool tls_unconfirmed;                  // a fresh TLS connection: the balancer hears of
                                           // its success at the upstream's first byte
    std::string tls_failure;               // why the handshake failed ("" while none did)
};

// How the response is relayed to the client.
enum reframe_mode {
    reframe_raw = 0, // byte for byte, as received (the head too, but in stage 13
                     // for a close-delimited body: then reframe_chunked)
    reframe_head,    // collecting the upstream's head to decide
    reframe_chunked, // [stage 13] each block read becomes one chunk; EOF the
                     // last-chunk
};

namespace proxy_detail {

constexpr const char *log_name = "proxy";

// The heads the proxy writes (xps_proxy_rewrite.cpp). forward_head: the
// request head for one hop, with `last_lines` ("Connection: close\r\n",
// or "" to keep the upstream connection) before the blank line.
std::string forward_head(const xps_http_head_t *h, const char *buf,
                         const xps_proxy_forward_t *fwd, const char *last_lines);
// [stage 13] the protocols of an Upgrade we pass on ("" none), and the head
// that asks for them (NULL when out of memory).
std::string upgrade_offer(const xps_http_head_t *h, const char *buf);
xps_buffer_t *upgrade_head(const xps_http_head_t *h, const char *buf,
                           const xps_proxy_forward_t *fwd, const std::string &offer);
// [stage 13] the response head for the client: hop-by-hop fields out
// (a chunked coding relayed as is keeps its Transfer-Encoding and Trailer
// with keep_chunked), status line HTTP/1.1, then `last_lines`; [apps/xps]
// with drop_request_id, no X-Request-ID of the upstream's.
std::string client_head(const std::string &head, size_t head_length, bool keep_chunked,
                        const char *last_lines, bool drop_request_id = false);
// [stage 13] whether the response's head lets its connection be reused.
bool upstream_keeps(const std::string &head, size_t head_length, int version);
// [stage 16] the value of field `name` in the response head[0..head_length)
// (blanks trimmed; the first such line), false when absent.
bool response_field(const std::string &head, size_t head_length, const char *name,
                    std::string *out);
// [stage 16] a client head of client_head, for the body's coding `c`: with
// c.vary "Vary: Accept-Encoding"; with c.compress no Content-Length,
// Accept-Ranges or Content-Encoding (identity), the ETag weakened (dropped
// if it cannot be), then
// "Content-Encoding: gzip" and "Transfer-Encoding: chunked".
std::string coded_head(const std::string &head, const xps_gzip_choice_t &c);

} // namespace proxy_detail

#endif // XPS_MODULES_PROXY_INTERNAL_HPP
