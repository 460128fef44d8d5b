// modules/session/xps_session_proxy.cpp — the HTTP-aware reverse proxy of
// a session: connect to the upstream without blocking, send it the request
// head rewritten for one hop, forward the body as it arrives, relay the
// response, and answer 502 when there is no response to relay. [stage 12]
//
//   client ─▶ [from_client] ─▶ session ─▶ [to_upstream]   ─▶ upstream
//   client ◀─ [to_client]   ◀─ session ◀─ [from_upstream] ◀─ upstream
//
// The session sits in the middle of both directions (the stage 08 tunnel
// joined the two connections directly) because it has something to do in
// each: upward it rewrites the head, finds where the body ends and frames
// the body itself (what goes up is only what xps parsed: request smuggling
// needs two parsers that disagree, and this way there is one); downward
// it must know whether any byte came back, since a client that got nothing
// is owed a 502, and one that got half a response can only be cut off.
// Each direction copies what it moves (one memcpy per chunk) and obeys the
// far pipe's threshold: it takes from the near pipe only while the far one
// has room, and asks to be called when room comes back.
#include "modules/session/xps_session_internal.hpp"

#include <strings.h>

#include <algorithm>
#include <cassert>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>

#include "core/xps_buffer.h"
#include "core/xps_core.h"
#include "core/xps_logger.h"
#include "core/xps_pipe.h"
#include "http/xps_http_semantics.h"

using namespace session_detail;

namespace {


// --------------------------------------------------------- the relay

void on_upstream_room(xps_pipe_t *pipe, void *data);
void on_upstream_gone(xps_pipe_t *pipe, void *data);
void on_upstream_bytes(xps_pipe_t *pipe, void *data);
void on_upstream_end(xps_pipe_t *pipe, void *data);
void start_tunnel(xps_session_t *s);

// Writes a copy of `len` bytes into `pipe` (we are its source).
int write_copy(xps_pipe_t *pipe, const char *bytes, size_t len) {
    if (len == 0)
        return XPS_OK;
    xps_buffer_t *b = xps_buffer_copy_of(bytes, len);
    return b ? xps_pipe_write(pipe, b) : XPS_E_NOMEM;
}

// Writes bytes[0..len) into `pipe` as one chunk of the chunked coding
// (RFC 9112 §7.1): the size in hex, CRLF, the data, CRLF — framing of our
// own, in one buffer. Nothing for len 0 (that would be the last-chunk).
int write_chunk(xps_pipe_t *pipe, const char *bytes, size_t len) {
    if (len == 0)
        return XPS_OK;
    char size_line[24];
    int n = std::snprintf(size_line, sizeof size_line, "%zx\r\n", len);
    xps_buffer_t *b = xps_buffer_create(static_cast<size_t>(n) + len + 2);
    if (!b)
        return XPS_E_NOMEM;
    char *at = xps_buffer_space(b);
    std::memcpy(at, size_line, static_cast<size_t>(n));
    std::memcpy(at + n, bytes, len);
    std::memcpy(at + n + len, "\r\n", 2);
    xps_buffer_produce(b, static_cast<size_t>(n) + len + 2);
    return xps_pipe_write(pipe, b);
}

constexpr char last_chunk[] = "0\r\n\r\n"; // the end of a chunked body, no trailers

// No response can be relayed: 502 if the client has had nothing yet,
// else the client is cut off (it sees the response end early).
void fail(xps_session_t *s, const char *why) {
    if (s->relayed == 0)
        return reply(s, XPS_HTTP_STATUS_BAD_GATEWAY, why, nullptr, nullptr);
    XPS_LOG(XPS_LOG_WARN, log_name, "%s \"%s\": %s after %llu bytes of response", s->client_ip,
            s->request_line.c_str(), why, static_cast<unsigned long long>(s->relayed));
    finish(s);
}

// ------------------------------------------------------- the response

// The most of an upstream's head we hold while reading it; past it the
// bytes go down untouched, until the upstream closes.
constexpr size_t max_response_head = 16 * 1024;


// Queues bytes[0..len) for the client: as they are, or as one chunk.
int write_down(xps_session_t *s, const char *bytes, size_t len) {
    return s->reframe == reframe_chunked ? write_chunk(s->to_client, bytes, len)
                                         : write_copy(s->to_client, bytes, len);
}

// How many of the response body bytes[0..len) belong to the response
// (*used). For a body with a length or chunked framing, the body decoder
// (a parser armed with start_body) finds its end: bytes after it are not
// ours to relay, and response_done is set. Otherwise (until the close)
// all of them. XPS_E_INVAL: the upstream's chunked framing is broken.
int body_bytes(xps_session_t *s, const char *bytes, size_t len, size_t *used) {
    *used = len;
    if (!s->response_body)
        return XPS_OK;
    size_t off = 0;
    int rc;
    do {
        size_t n = 0;
        xps_http_slice_t data;
        rc = xps_http_parser_parse_body(s->response_body, bytes + off, len - off, &n, &data);
        off += n;
    } while (rc == XPS_E_NEXT);
    if (rc == XPS_E_INVAL)
        return XPS_E_INVAL;
    *used = off;
    s->response_done = rc == XPS_OK;
    return XPS_OK;
}

// Queues the response body bytes that belong to the response (body_bytes)
// for the client; the framing checked, it goes down as it came.
int relay_body(xps_session_t *s, const char *bytes, size_t len, size_t *used) {
    int error = body_bytes(s, bytes, len, used);
    if (error != XPS_OK)
        return error;
    s->relayed += *used;
    return write_down(s, bytes, *used);
}

// [stage 13] Whether the upstream connection may carry another request:
// both ends asked for it, the response ended exactly where its framing
// said (nothing after it: bytes past the end would pass for the next
// answer), the whole request went up, and the connection is intact.
bool reusable(const xps_session_t *s) {
    return s->pool && s->upstream && s->upstream_keeps && !s->leftover && !s->upstream_failed &&
           s->body_done && !s->tunnel && s->to_upstream && xps_pipe_len(s->to_upstream) == 0 &&
           s->from_upstream && xps_pipe_len(s->from_upstream) == 0;
}

// Lets go of the upstream connection: into the pool when reusable (it
// parks, see xps_upstream_pool_put), else closed; our pipe ends go.
void release_upstream(xps_session_t *s) {
    xps_connection_t *up = s->upstream;
    bool pooled = false;
    if (up)
        xps_connection_on_close(up, nullptr, nullptr);
    if (reusable(s))
        pooled = xps_upstream_pool_put(s->pool, s->upstream_cfg->host, s->upstream_cfg->port,
                                       up) == XPS_OK;
    if (s->to_upstream)
        xps_pipe_detach_source(s->to_upstream);
    if (s->from_upstream)
        xps_pipe_detach_sink(s->from_upstream);
    s->to_upstream = s->from_upstream = nullptr;
    if (up && !pooled)
        xps_connection_destroy(up);
    s->upstream = nullptr;
}

// The state of one proxied exchange, cleared for the next request.
void reset_exchange(xps_session_t *s) {
    s->upstream_cfg = nullptr;
    s->body_done = s->upgrade_asked = s->response_done = s->upstream_failed = false;
    s->ask_keep = s->upstream_keeps = s->reused = s->retried = false;
    s->upstream_spoke = s->leftover = s->client_framed = false;
    s->relayed = 0;
    s->reframe = reframe_raw;
    s->response_head.clear();
}

// The whole response has been relayed: the exchange is over. The upstream
// connection goes back to the pool if it can; [stage 13] the client's
// stays open for its next request when both it and the response's framing
// allow (a close-delimited body relayed as is ends only with our close).
void response_complete(xps_session_t *s) {
    XPS_LOG(XPS_LOG_DEBUG, log_name, "%s \"%s\" -> proxied to %s%s, %llu bytes", s->client_ip,
            s->request_line.c_str(), s->upstream_cfg->text, s->reused ? " (reused)" : "",
            static_cast<unsigned long long>(s->relayed));
    release_upstream(s);
    if (!s->keep || !s->client_framed || !s->to_client)
        return finish(s);
    reset_exchange(s);
    s->phase = session_phase::head;
    next_request(s);
}

// [stage 13] Our Connection field for the client's response.
const char *connection_line(const xps_session_t *s) {
    if (!s->keep)
        return "Connection: close\r\n";
    return s->version == XPS_HTTP_VERSION_1_0 ? "Connection: keep-alive\r\n" : "";
}

// How the response's body is delimited: what its head says (RFC 9112
// §6.3), none for an answer to HEAD, until the close for bytes that are
// not a head we could read.
int framing_of(const xps_session_t *s, const xps_http_response_head_t *r, int rc) {
    if (rc != XPS_OK)
        return XPS_HTTP_FRAMING_CLOSE;
    return s->method == XPS_HTTP_METHOD_HEAD ? XPS_HTTP_FRAMING_NONE : r->framing;
}

// Follows a body with a length or chunked framing: a parser of its own,
// with no limit on the size (the upstream's body is not ours to bound).
int follow_body(xps_session_t *s, int framing, uint64_t length) {
    xps_http_limits_t limits = xps_http_default_limits();
    limits.max_body = UINT64_MAX;
    if (!s->response_body && !(s->response_body = xps_http_parser_create(&limits)))
        return XPS_E_NOMEM;
    xps_http_parser_start_body(s->response_body,
                               framing == XPS_HTTP_FRAMING_CHUNKED ? XPS_HTTP_BODY_CHUNKED
                                                                   : XPS_HTTP_BODY_LENGTH,
                               length);
    return XPS_OK;
}

// Queues the response head and the body bytes[head_len, head_len + used)
// of response_head that came with it: as they came (`head` empty), or our
// rewritten head then the bytes, in one write — except a re-framed body,
// which goes as a chunk of its own after the head.
int queue_head(xps_session_t *s, std::string &head, bool reframe, size_t head_len, size_t used) {
    const std::string &buf = s->response_head;
    int error = XPS_OK;
    if (head.empty()) { // stage 12, or no head we could read: as it came
        s->relayed += head_len + used;
        return head_len + used > 0 ? write_down(s, buf.data(), head_len + used) : XPS_OK;
    }
    if (!reframe) {
        try {
            head.append(buf, head_len, used);
        } catch (const std::bad_alloc &) {
            return XPS_E_NOMEM;
        }
        s->relayed += head.size();
        return write_copy(s->to_client, head.data(), head.size());
    }
    error = write_copy(s->to_client, head.data(), head.size());
    s->relayed += head.size() + used;
    s->reframe = reframe_chunked;
    return error == XPS_OK ? write_down(s, buf.data() + head_len, used) : error;
}

// The final head is complete (or will never be): decide how its body is
// framed, queue the head (rewritten or not) and what followed it. [stage
// 13] A body the upstream means to end by closing (no length, no coding:
// rule 8) is re-framed as chunked for an HTTP/1.1 client of stage 13.
// XPS_E_INVAL: the head's framing is invalid, or the chunks right after
// it are broken (nothing was queued).
int send_response_head(xps_session_t *s, const xps_http_response_head_t *r, int rc) {
    std::string &buf = s->response_head;
    int framing = framing_of(s, r, rc);
    s->reframe = reframe_raw;
    int error = XPS_OK;
    if (framing == XPS_HTTP_FRAMING_INVALID)
        return XPS_E_INVAL;
    if (framing == XPS_HTTP_FRAMING_LENGTH || framing == XPS_HTTP_FRAMING_CHUNKED)
        error = follow_body(s, framing, r->content_length);
    bool reframe = framing == XPS_HTTP_FRAMING_CLOSE && rc == XPS_OK &&
                   !r->has_transfer_encoding && s->http11 && s->version == XPS_HTTP_VERSION_1_1;
    s->client_framed = framing != XPS_HTTP_FRAMING_CLOSE || reframe;
    s->keep = s->keep && s->client_framed; // else only our close ends the body
    s->upstream_keeps = s->ask_keep && rc == XPS_OK && framing != XPS_HTTP_FRAMING_CLOSE &&
                        upstream_keeps(buf, r->head_length, r->version);
    // [stage 13] A head we can read is rewritten (client_head): our version,
    // our framing when re-framed, our Connection field.
    std::string head;
    try {
        std::string last = reframe ? "Transfer-Encoding: chunked\r\n" : "";
        if (rc == XPS_OK && s->http11 && s->client_framed)
            head = client_head(buf, r->head_length, framing == XPS_HTTP_FRAMING_CHUNKED,
                               (last += connection_line(s)).c_str());
    } catch (const std::bad_alloc &) {
        error = XPS_E_NOMEM;
    }
    s->response_done = framing == XPS_HTTP_FRAMING_NONE;
    size_t head_len = rc != XPS_OK ? 0 : r->head_length;
    size_t used = 0;
    if (error == XPS_OK && !s->response_done)
        error = body_bytes(s, buf.data() + head_len, buf.size() - head_len, &used);
    s->leftover = s->response_done && head_len + used < buf.size();
    if (error == XPS_OK)
        error = queue_head(s, head, reframe, head_len, used);
    buf.clear();
    buf.shrink_to_fit();
    return error;
}

// While reframe_head: moves upstream bytes into response_head until the
// head is complete. A 1xx (not 101) goes down as it is, and the final
// head is looked for after it. Returns false when the session has ended.
bool take_response_head(xps_session_t *s, xps_pipe_t *pipe) {
    xps_pipe_chunk_t chunk;
    std::string &buf = s->response_head;
    try {
        while (buf.size() < max_response_head && xps_pipe_peek(pipe, &chunk) == XPS_OK) {
            size_t n = std::min(chunk.len, max_response_head - buf.size());
            buf.append(chunk.bytes, n);
            xps_pipe_consume(pipe, n);
        }
    } catch (const std::bad_alloc &) {
        fail(s, "out of memory");
        return false;
    }
    for (;;) {
        xps_http_response_head_t r;
        int rc = xps_http_response_head_scan(buf.data(), buf.size(), &r);
        if (rc == XPS_E_AGAIN && buf.size() < max_response_head)
            return true; // wait for more
        if (rc == XPS_OK && r.status < 200 && r.status != 101) { // 100, 103: pass on
            if (write_copy(s->to_client, buf.data(), r.head_length) != XPS_OK)
                return finish(s), false;
            s->relayed += r.head_length;
            buf.erase(0, r.head_length);
            continue;
        }
        bool switched = rc == XPS_OK && r.status == 101;
        if (switched && !s->upgrade_asked) { // a server MUST NOT (RFC 9110 §15.2.2)
            fail(s, "the upstream switched protocols without being asked");
            return false;
        }
        int error = switched ? XPS_OK : send_response_head(s, &r, rc);
        if (switched) { // the 101 and what follows: raw, from now on
            s->reframe = reframe_raw;
            error = write_copy(s->to_client, buf.data(), buf.size());
            s->relayed += buf.size();
            buf.clear();
        }
        if (error == XPS_E_INVAL) { // RFC 9112 §6.3 ¶5: discard it, 502
            fail(s, "the upstream's response framing is invalid");
            return false;
        }
        if (error != XPS_OK)
            return finish(s), false;
        if (switched)
            start_tunnel(s);
        else if (s->response_done)
            return response_complete(s), false; // the exchange is over
        // Refused (any other answer): the bytes the client sent after its
        // head are never relayed raw; the connection ends with this response.
        return s->phase != session_phase::done;
    }
}

// The client stopped sending before the end of its body: its request is
// malformed (400), unless a response is already on its way.
void body_cut_short(xps_session_t *s) {
    const char *why = "the request body ended early";
    if (s->relayed == 0)
        return reply(s, XPS_HTTP_STATUS_BAD_REQUEST, why, nullptr, nullptr);
    finish(s);
}

// Runs the body parser over in[0..len) and forwards the body's DATA, re-
// framed by us: as it is for a Content-Length body (forward_head sent the
// length), as chunks of our own for a chunked one, with our last-chunk at
// its end. The client's framing bytes — sizes, extensions, trailers —
// never go up: an upstream cannot read a body we forward differently from
// the way we read it (RFC 9112 §7.1, the defence against smuggling
// through chunked framing). *used gets the bytes used: all of them, unless
// the body ends inside `in` (what follows is a pipelined request: stage
// 13). Sets body_done at the end of the body. Returns false when the
// session has ended: broken framing (the parser's 400) or no memory.
bool forward_body(xps_session_t *s, const char *in, size_t len, size_t *used) {
    bool chunked = xps_http_parser_head(s->parser)->body == XPS_HTTP_BODY_CHUNKED;
    size_t off = 0;
    int rc, error = XPS_OK;
    do {
        size_t n = 0;
        xps_http_slice_t data;
        rc = xps_http_parser_parse_body(s->parser, in + off, len - off, &n, &data);
        const char *bytes = in + off + data.offset;
        if (rc == XPS_E_NEXT && s->to_upstream && error == XPS_OK)
            error = chunked ? write_chunk(s->to_upstream, bytes, data.length)
                            : write_copy(s->to_upstream, bytes, data.length);
        off += n;
    } while (rc == XPS_E_NEXT);
    *used = off;
    if (rc == XPS_E_INVAL) {
        const char *why = xps_http_parser_reason(s->parser);
        if (s->relayed == 0)
            reply(s, xps_http_parser_status(s->parser), why, nullptr, nullptr);
        else
            finish(s);
        return false;
    }
    s->body_done = rc == XPS_OK;
    if (s->body_done && chunked && s->to_upstream && error == XPS_OK)
        error = write_copy(s->to_upstream, last_chunk, sizeof last_chunk - 1);
    if (error != XPS_OK) {
        fail(s, "out of memory");
        return false;
    }
    return true;
}

// The body has gone up (or never will): stop reading the client. Bytes it
// sends from now on are not read; [stage 13] on a kept connection they
// wait in the pipe: they are the next request, read once this one is over.
void stop_reading_client(xps_session_t *s) {
    if (s->keep && s->from_client)
        return xps_pipe_set_sink_ready(s->from_client, false);
    if (s->from_client)
        xps_pipe_detach_sink(s->from_client);
    s->from_client = nullptr;
}

void on_upstream_closed(xps_connection_t *, int reason, void *data) {
    auto *s = static_cast<xps_session_t *>(data);
    s->upstream = nullptr; // the pipes tell the rest
    s->upstream_failed |= reason != XPS_OK;
}


// [stage 13] The upstream answered the Upgrade with 101 Switching
// Protocols: only now does the connection stop carrying HTTP. The bytes
// the client sent after its head (held until now) go up raw, and from
// here proxy_client_bytes relays everything the client sends; the
// response direction relays the 101 and whatever follows, until the
// upstream closes. Before the 101 those bytes were not ours to pass on
// unparsed: an upstream that answers 200 instead would read them as a
// request xps never saw — request smuggling (RFC 9110 §7.8).
void start_tunnel(xps_session_t *s) {
    const xps_http_head_t *h = xps_http_parser_head(s->parser);
    s->tunnel = true;
    size_t extra = s->head_len - h->head_length;
    if (extra > 0 && s->to_upstream &&
        write_copy(s->to_upstream, s->head.get() + h->head_length, extra) != XPS_OK)
        return finish(s); // the 101 is on its way down: nothing else to say
    XPS_LOG(XPS_LOG_DEBUG, log_name, "%s \"%s\" -> switched protocols, tunnelled to %s",
            s->client_ip, s->request_line.c_str(), s->upstream_cfg->text);
    if (s->from_client)
        xps_pipe_set_sink_ready(s->from_client, true);
    else if (s->to_upstream) // the client already sent FIN: pass it on
        xps_pipe_detach_source(s->to_upstream), s->to_upstream = nullptr;
}

// [stage 13] Expect: 100-continue (RFC 9110 §10.1.1): the client waits
// for a go-ahead before sending its body. We give it once the upstream has
// accepted, so a client whose upstream is down gets 502 without having
// sent its body for nothing. The upstream also sees the Expect header and
// may send its own 100: a client accepts any number of 1xx (§15.2).
void send_continue(xps_session_t *s) {
    static const char go[] = "HTTP/1.1 100 Continue\r\n\r\n";
    if (!s->to_client)
        return; // the client is gone: the pipes will end the session
    xps_buffer_t *b = xps_buffer_copy_of(go, sizeof go - 1);
    if (!b || xps_pipe_write(s->to_client, b) != XPS_OK) // the pipe takes b
        XPS_LOG(XPS_LOG_WARN, log_name, "%s: cannot send 100 Continue", s->client_ip);
}

// The forwarded head (forward_head), in a buffer; NULL when out of memory.
xps_buffer_t *request_head(const xps_http_head_t *h, const char *buf,
                           const xps_session_forward_t *fwd, bool keep) {
    try {
        std::string out = forward_head(h, buf, fwd, keep ? "" : "Connection: close\r\n");
        return xps_buffer_copy_of(out.data(), out.size());
    } catch (const std::bad_alloc &) {
        return nullptr;
    }
}

// Connected: plumb the upstream's pipes, send the head and whatever body
// bytes came with it.
void start_relay(xps_session_t *s, xps_connection_t *upstream) {
    xps_core_t *core = xps_loop_core(s->loop);
    s->upstream = upstream;
    xps_connection_on_close(upstream, on_upstream_closed, s);
    s->to_upstream = xps_pipe_create(core, XPS_PIPE_DEFAULT_THRESHOLD);
    s->from_upstream = xps_pipe_create(core, XPS_PIPE_DEFAULT_THRESHOLD);
    if (!s->to_upstream || !s->from_upstream) {
        xps_pipe_destroy(s->to_upstream); // no end attached yet
        xps_pipe_destroy(s->from_upstream);
        s->to_upstream = s->from_upstream = nullptr;
        return fail(s, "out of memory");
    }
    xps_pipe_attach_source(s->to_upstream, on_upstream_room, on_upstream_gone, s);
    xps_pipe_attach_sink(s->from_upstream, on_upstream_bytes, on_upstream_end, s);
    xps_connection_attach_sink(upstream, s->to_upstream);
    xps_connection_attach_source(upstream, s->from_upstream);
    xps_pipe_set_sink_ready(s->from_upstream, true);
    s->phase = session_phase::proxying;

    const xps_http_head_t *h = xps_http_parser_head(s->parser);
    // [stage 13] An Upgrade (WebSocket) request without a body asks the
    // upstream to switch protocols; the bytes the client sends after it
    // wait until the answer says whether it did (start_tunnel).
    std::string offer;
    try {
        if (s->http11 && h->body == XPS_HTTP_BODY_NONE)
            offer = upgrade_offer(h, s->head.get());
    } catch (const std::bad_alloc &) {
        return fail(s, "out of memory");
    }
    s->upgrade_asked = !offer.empty();
    // [stage 13] With a pool, an HTTP/1.1 request asks the upstream to keep
    // its connection (1.1's default: no Connection field); an HTTP/1.0
    // client's goes up as 1.0 with "close" (its answer must be one it reads).
    s->ask_keep = s->pool && s->version == XPS_HTTP_VERSION_1_1 && !s->upgrade_asked;
    xps_session_forward_t fwd{s->client_ip, xps_config_server_name(s->config),
                              s->upstream_cfg->text};
    xps_buffer_t *head = s->upgrade_asked ? upgrade_head(h, s->head.get(), &fwd, offer)
                                          : request_head(h, s->head.get(), &fwd, s->ask_keep);
    if (!head || xps_pipe_write(s->to_upstream, head) != XPS_OK)
        return fail(s, "out of memory");
    // The response's head is read before anything goes down: to know where
    // the response ends (not where the upstream closes: it may keep its
    // connection open), to see a 101, and [stage 13] to re-frame a close-
    // delimited body as chunked for an HTTP/1.1 client.
    s->reframe = reframe_head;
    if (s->upgrade_asked) { // no body; the client's next bytes stay in its pipe
        s->body_done = true;
        return;
    }
    if (s->http11 && h->expect_continue && h->body != XPS_HTTP_BODY_NONE &&
        s->head_len == h->head_length)
        send_continue(s);
    size_t used = 0; // body bytes that arrived with the head (none left on a retry)
    if (!s->body_done &&
        !forward_body(s, s->head.get() + h->head_length, s->head_len - h->head_length, &used))
        return;
    if (s->body_done)
        stop_reading_client(s);
    else if (!s->from_client) // the client stopped sending half-way through
        body_cut_short(s);
    else
        xps_pipe_set_sink_ready(s->from_client, true);
}

// [stage 13] A request may go again, once, on a fresh connection when the
// reused one it went on ended before any byte of an answer: the upstream
// closed it (its idle timeout) while the request was on its way, so it
// was never processed — if the method is idempotent (RFC 9110 §9.2.2:
// GET, HEAD, OPTIONS, TRACE, PUT, DELETE) and the request has no body,
// sending it twice does no harm, and we hold all of it (the head buffer).
bool may_retry(const xps_session_t *s) {
    const xps_http_head_t *h = xps_http_parser_head(s->parser);
    int m = s->method;
    bool idempotent = m == XPS_HTTP_METHOD_GET || m == XPS_HTTP_METHOD_HEAD ||
                      m == XPS_HTTP_METHOD_OPTIONS || m == XPS_HTTP_METHOD_TRACE ||
                      m == XPS_HTTP_METHOD_PUT || m == XPS_HTTP_METHOD_DELETE;
    bool bodyless = h->body == XPS_HTTP_BODY_NONE ||
                    (h->body == XPS_HTTP_BODY_LENGTH && h->content_length == 0);
    return s->reused && !s->retried && idempotent && bodyless && !s->upgrade_asked &&
           s->to_client;
}

void connect_fresh(xps_session_t *s);

void retry(xps_session_t *s) {
    XPS_LOG(XPS_LOG_DEBUG, log_name, "%s \"%s\": the reused connection to %s ended before an "
            "answer; again on a new one", s->client_ip, s->request_line.c_str(),
            s->upstream_cfg->text);
    release_upstream(s); // not reusable: it has ended
    s->retried = true, s->reused = false, s->upstream_failed = false;
    s->reframe = reframe_raw;
    s->response_head.clear();
    s->phase = session_phase::connecting;
    connect_fresh(s);
}

// The connect attempt is over. A failure has been logged by the upstream
// module, with the address and the reason.
void on_connected(xps_upstream_t *, xps_connection_t *upstream, int status, void *data) {
    auto *s = static_cast<xps_session_t *>(data);
    s->attempt = nullptr;
    if (status != XPS_OK)
        return fail(s, "the upstream cannot be reached");
    start_relay(s, upstream);
}

// produce() of to_upstream: room again for body bytes.
void on_upstream_room(xps_pipe_t *pipe, void *data) {
    auto *s = static_cast<xps_session_t *>(data);
    xps_pipe_set_source_ready(pipe, false);
    if (s->from_client && !s->body_done)
        xps_pipe_set_sink_ready(s->from_client, true);
}

// sink_gone() of to_upstream: the upstream stopped reading (it closed or
// failed). No more body can go up; its response may still come.
void on_upstream_gone(xps_pipe_t *pipe, void *data) {
    auto *s = static_cast<xps_session_t *>(data);
    xps_pipe_detach_source(pipe);
    s->to_upstream = nullptr;
    stop_reading_client(s);
}

// consume() of from_upstream: response bytes, relayed while the client's
// pipe has room, up to the end of the response.
void on_upstream_bytes(xps_pipe_t *pipe, void *data) {
    auto *s = static_cast<xps_session_t *>(data);
    s->upstream_spoke = true;
    if (s->reframe == reframe_head && s->to_client && !take_response_head(s, pipe))
        return; // the session, or this exchange, has ended
    if (s->reframe == reframe_head)
        return; // the head is not complete yet
    xps_pipe_chunk_t chunk;
    while (s->to_client && xps_pipe_room(s->to_client) > 0 &&
           xps_pipe_peek(pipe, &chunk) == XPS_OK) {
        size_t used = 0;
        int error = relay_body(s, chunk.bytes, chunk.len, &used);
        if (error == XPS_E_INVAL) {
            XPS_LOG(XPS_LOG_WARN, log_name, "%s \"%s\": the upstream's chunked framing is broken",
                    s->client_ip, s->request_line.c_str());
            return finish(s); // the client sees a body without its end
        }
        if (error != XPS_OK)
            return finish(s); // the client is gone (or memory is): nobody to answer
        s->leftover = s->response_done && (used < chunk.len || xps_pipe_len(pipe) > chunk.len);
        xps_pipe_consume(pipe, chunk.len);
        if (s->response_done)
            return response_complete(s); // anything after it was not ours to relay
    }
    if (s->to_client && xps_pipe_len(pipe) > 0) { // full: wait for on_client_room
        xps_pipe_set_sink_ready(pipe, false);
        xps_pipe_set_source_ready(s->to_client, true);
    }
}

// source_done() of from_upstream: the upstream closed and every byte it
// sent has been relayed. That ends a response delimited by the close;
// one with a length or chunks that has not reached its end is cut short.
void on_upstream_end(xps_pipe_t *pipe, void *data) {
    auto *s = static_cast<xps_session_t *>(data);
    xps_pipe_detach_sink(pipe);
    s->from_upstream = nullptr;
    if (!s->upstream_spoke && may_retry(s))
        return retry(s);
    if (s->reframe == reframe_head && s->to_client) { // closed inside its head
        xps_http_response_head_t r{}; // not read: there is no head
        if (send_response_head(s, &r, XPS_E_INVAL) != XPS_OK)
            return finish(s);
    }
    if (s->relayed == 0)
        return fail(s, "the upstream closed without answering");
    if (s->response_body) { // it had a length or chunks, and they are not all here
        XPS_LOG(XPS_LOG_WARN, log_name, "%s \"%s\": the upstream closed before the end of its "
                "response, after %llu bytes", s->client_ip, s->request_line.c_str(),
                static_cast<unsigned long long>(s->relayed));
        return finish(s);
    }
    // [stage 13] The close ends the re-framed body: tell the client so
    // with the last-chunk — unless the upstream failed (a reset): then the
    // client must see a cut body, not a complete one.
    if (s->reframe == reframe_chunked && s->to_client && !s->upstream_failed) {
        if (write_copy(s->to_client, last_chunk, sizeof last_chunk - 1) != XPS_OK)
            return finish(s);
    }
    response_complete(s);
}

} // namespace

// ------------------------------------------------------------ shared

namespace session_detail {

void proxy_start(xps_session_t *s, const xps_config_upstream_t *upstream) {
    s->upstream_cfg = upstream;
    s->phase = session_phase::connecting;
    if (s->from_client) // body bytes wait in the pipe until the upstream is there
        xps_pipe_set_sink_ready(s->from_client, false);
    // [stage 13] An idle connection to this upstream, if the pool has one.
    xps_connection_t *idle =
        s->pool ? xps_upstream_pool_take(s->pool, upstream->host, upstream->port) : nullptr;
    if (idle) {
        s->reused = true;
        return start_relay(s, idle);
    }
    connect_fresh(s);
}

} // namespace session_detail

namespace {

// A new connection to the session's upstream; start_relay follows.
void connect_fresh(xps_session_t *s) {
    const xps_config_upstream_t *upstream = s->upstream_cfg;
    int error = XPS_OK;
    s->attempt = xps_upstream_connect(s->loop, upstream->host, upstream->port,
                                      XPS_SESSION_CONNECT_TIMEOUT_MS, on_connected, s, &error);
    if (!s->attempt) {
        XPS_LOG(XPS_LOG_WARN, log_name, "%s \"%s\": upstream %s: %s", s->client_ip,
                s->request_line.c_str(), upstream->text, xps_strerror(error));
        fail(s, "the upstream cannot be reached");
    }
}

} // namespace

namespace session_detail {

void proxy_client_bytes(xps_session_t *s) {
    xps_pipe_chunk_t chunk;
    if (s->upgrade_asked && !s->tunnel) // [stage 13] held until the upstream's 101
        return xps_pipe_set_sink_ready(s->from_client, false);
    if (s->tunnel) { // [stage 13] raw bytes up, as long as the upstream takes them
        while (s->to_upstream && xps_pipe_room(s->to_upstream) > 0 &&
               xps_pipe_peek(s->from_client, &chunk) == XPS_OK) {
            if (write_copy(s->to_upstream, chunk.bytes, chunk.len) != XPS_OK)
                return fail(s, "out of memory");
            xps_pipe_consume(s->from_client, chunk.len);
        }
        if (!s->to_upstream)
            return stop_reading_client(s);
        if (xps_pipe_len(s->from_client) > 0) {
            xps_pipe_set_sink_ready(s->from_client, false);
            xps_pipe_set_source_ready(s->to_upstream, true);
        }
        return;
    }
    while (!s->body_done && s->to_upstream && xps_pipe_room(s->to_upstream) > 0 &&
           xps_pipe_peek(s->from_client, &chunk) == XPS_OK) {
        size_t used = 0;
        if (!forward_body(s, chunk.bytes, chunk.len, &used))
            return;
        xps_pipe_consume(s->from_client, used);
    }
    if (s->body_done || !s->to_upstream)
        return stop_reading_client(s);
    if (xps_pipe_len(s->from_client) > 0) { // to_upstream is full: wait for room
        xps_pipe_set_sink_ready(s->from_client, false);
        xps_pipe_set_source_ready(s->to_upstream, true);
    }
}

void proxy_client_end(xps_session_t *s) {
    s->client_eof = true; // [stage 13] kept: what it sent is answered, then the end
    if (s->tunnel && s->to_upstream) { // [stage 13] half-close: the upstream sees FIN too
        xps_pipe_detach_source(s->to_upstream);
        s->to_upstream = nullptr;
        return;
    }
    // Connecting: start_relay finds out once the bytes already here are
    // forwarded. Proxying with the body complete: nothing changes.
    if (s->phase == session_phase::proxying && !s->body_done)
        body_cut_short(s);
}

void proxy_client_room(xps_session_t *s) {
    if (s->from_upstream)
        xps_pipe_set_sink_ready(s->from_upstream, true);
}

} // namespace session_detail

// -------------------------------------------------------------- operations

void xps_session_set_upstream_pool(xps_session_t *s, xps_upstream_pool_t *pool) noexcept {
    assert(s);
    s->pool = pool;
}
