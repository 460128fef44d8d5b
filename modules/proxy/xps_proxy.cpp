// modules/proxy/xps_proxy.cpp — see xps_proxy.h. One proxied exchange:
// connect to the upstream without blocking (or take a pooled connection),
// send it the request head rewritten for one hop, forward the body as it
// arrives, relay the response, and tell the owner when there is no
// response to relay. [stage 12]
//
//   client ─▶ [from_client] ─▶ session ─▶ proxy ─▶ [to_upstream]   ─▶ upstream
//   client ◀─ [to_client]   ◀─ session ◀─ proxy ◀─ [from_upstream] ◀─ upstream
//
// The proxy sits in the middle of both directions (the stage 08 tunnel
// joined the two connections directly) because it has something to do in
// each: upward it rewrites the head, finds where the body ends and frames
// the body itself (what goes up is only what xps parsed: request smuggling
// needs two parsers that disagree, and this way there is one); downward
// it must know whether any byte came back, since a client that got nothing
// is owed a 502, and one that got half a response can only be cut off.
// Each direction copies what it moves (one memcpy per chunk) and obeys the
// far pipe's threshold: it takes from the near pipe only while the far one
// has room, and asks to be called when room comes back.
//
// The owner's events end the exchange (and destroy the proxy from inside
// the callback): after calling refuse, cut or done a function returns at
// once, touching nothing but `ended` (the memory stays until the batch's
// end, xps_proxy_destroy).
#include "modules/proxy/xps_proxy_internal.hpp"

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

using namespace proxy_detail;

namespace {

// The owner's client pipe slots (xps_proxy_request_t): read each time,
// since the owner clears a slot when its pipe goes.
xps_pipe_t *&from_client(xps_proxy_t *p) { return *p->req.from_client; }
xps_pipe_t *&to_client(xps_proxy_t *p) { return *p->req.to_client; }
xps_pipe_t *to_client(const xps_proxy_t *p) { return *p->req.to_client; }

// --------------------------------------------------------- the events

// Each ends the exchange: the owner destroys the proxy inside the call.
void refuse(xps_proxy_t *p, int status, const char *why) { p->ev.refuse(p->data, status, why); }
void cut(xps_proxy_t *p) { p->ev.cut(p->data); }

// --------------------------------------------------------- the relay

void on_upstream_room(xps_pipe_t *pipe, void *data);
void on_upstream_gone(xps_pipe_t *pipe, void *data);
void on_upstream_bytes(xps_pipe_t *pipe, void *data);
void on_upstream_end(xps_pipe_t *pipe, void *data);
void start_tunnel(xps_proxy_t *p);
void arm_read_timeout(xps_proxy_t *p);
void stop_read_timeout(xps_proxy_t *p);

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
void fail(xps_proxy_t *p, const char *why) {
    if (p->relayed == 0)
        return refuse(p, XPS_HTTP_STATUS_BAD_GATEWAY, why);
    XPS_LOG(XPS_LOG_WARN, log_name, "%s \"%s\": %s after %llu bytes of response", p->req.client_ip,
            p->req.log_line, why, static_cast<unsigned long long>(p->relayed));
    cut(p);
}

// fail() with another status than 502 for "nothing relayed yet" [stage 18: 504].
void fail_with(xps_proxy_t *p, int status, const char *why) {
    if (p->relayed == 0)
        return refuse(p, status, why);
    fail(p, why);
}

// Our own memory ran out (never the upstream's fault): 500 if the client
// has had nothing yet, else it is cut off. The balancer does not hear of
// it, so a server short of memory does not mark a healthy upstream down.
void fail_nomem(xps_proxy_t *p) {
    fail_with(p, XPS_HTTP_STATUS_INTERNAL_SERVER_ERROR, "out of memory");
}

// ------------------------------------------------------- the response

// The most of an upstream's head we hold while reading it; past it the
// bytes go down untouched, until the upstream closes.
constexpr size_t max_response_head = 16 * 1024;


// Hook point (a) of xps_proxy.h: every byte of a response body goes to
// the client through here. `head` (NULL: none) is our rewritten response
// head, queued in front of the body: in the same buffer when the body goes
// as it came, so a small response leaves in one send(). The body goes as
// received, or [stage 13] as one chunk of our own (reframe_chunked): a
// body filter belongs here, before that framing. (In stage 12's raw relay,
// and for a head we could not read, `bytes` hold the upstream's head too,
// as it came: there is nothing to filter then.)
int deliver_body(xps_proxy_t *p, const std::string *head, const char *bytes, size_t len) {
    if (p->gzip && !head) // [stage 16] body data, compressed and framed by the stream
        return xps_gzip_write(p->gzip, to_client(p), bytes, len, false);
    if (head && p->reframe == reframe_chunked) {
        int error = write_copy(to_client(p), head->data(), head->size());
        return error == XPS_OK ? write_chunk(to_client(p), bytes, len) : error;
    }
    if (head) {
        xps_buffer_t *b = xps_buffer_create(head->size() + len);
        if (!b)
            return XPS_E_NOMEM;
        std::memcpy(xps_buffer_space(b), head->data(), head->size());
        if (len > 0)
            std::memcpy(xps_buffer_space(b) + head->size(), bytes, len);
        xps_buffer_produce(b, head->size() + len);
        return xps_pipe_write(to_client(p), b);
    }
    return p->reframe == reframe_chunked ? write_chunk(to_client(p), bytes, len)
                                         : write_copy(to_client(p), bytes, len);
}

// [stage 16] The end of a body that went through the gzip stream: what
// zlib still holds, gzip's trailer and our last-chunk.
int finish_gzip(xps_proxy_t *p) {
    int error = to_client(p) ? xps_gzip_write(p->gzip, to_client(p), nullptr, 0, true)
                             : XPS_E_CLOSED;
    xps_gzip_destroy(p->gzip);
    p->gzip = nullptr;
    return error;
}

// How many of the response body bytes[0..len) belong to the response
// (*used). For a body with a length or chunked framing, the body decoder
// (a parser armed with start_body) finds its end: bytes after it are not
// ours to relay, and response_done is set. Otherwise (until the close)
// all of them. XPS_E_INVAL: the upstream's chunked framing is broken.
// [stage 16] With a gzip stream, the body's data is handed to
// deliver_body here, as the decoder finds it (never the chunk framing),
// and the stream is finished at the body's end.
int body_bytes(xps_proxy_t *p, const char *bytes, size_t len, size_t *used) {
    *used = len;
    if (!p->response_body && p->teeing && len > 0) // [stage 20] hook (c)
        p->req.tee->body(p->req.tee->data, bytes, len);
    if (!p->response_body)
        return p->gzip ? deliver_body(p, nullptr, bytes, len) : XPS_OK;
    size_t off = 0;
    int rc, error = XPS_OK;
    do {
        size_t n = 0;
        xps_http_slice_t data;
        rc = xps_http_parser_parse_body(p->response_body, bytes + off, len - off, &n, &data);
        if (rc == XPS_E_NEXT && p->teeing && data.length > 0) // [stage 20] hook (c)
            p->req.tee->body(p->req.tee->data, bytes + off + data.offset, data.length);
        if (rc == XPS_E_NEXT && p->gzip && error == XPS_OK)
            error = deliver_body(p, nullptr, bytes + off + data.offset, data.length);
        off += n;
    } while (rc == XPS_E_NEXT);
    if (rc == XPS_E_INVAL)
        return XPS_E_INVAL;
    *used = off;
    p->response_done = rc == XPS_OK;
    if (error == XPS_OK && p->response_done && p->gzip)
        error = finish_gzip(p);
    return error;
}

// Queues the response body bytes that belong to the response (body_bytes)
// for the client; the framing checked, it goes down as it came.
int relay_body(xps_proxy_t *p, const char *bytes, size_t len, size_t *used) {
    bool filtered = p->gzip != nullptr; // [stage 16] body_bytes delivered the data
    int error = body_bytes(p, bytes, len, used);
    if (error != XPS_OK)
        return error;
    p->relayed += *used;
    return filtered ? XPS_OK : deliver_body(p, nullptr, bytes, *used);
}

// [stage 13] Whether the upstream connection may carry another request:
// both ends asked for it, the response ended exactly where its framing
// said (nothing after it: bytes past the end would pass for the next
// answer), the whole request went up, and the connection is intact.
bool reusable(const xps_proxy_t *p) {
    return p->req.pool && p->upstream && p->upstream_keeps && !p->leftover && !p->upstream_failed &&
           p->body_done && !p->tunnel && p->to_upstream && xps_pipe_len(p->to_upstream) == 0 &&
           p->from_upstream && xps_pipe_len(p->from_upstream) == 0;
}

// Lets go of the upstream connection: into the pool when reusable (it
// parks, see xps_upstream_pool_put), else closed; our pipe ends go.
void release_upstream(xps_proxy_t *p) {
    xps_connection_t *up = p->upstream;
    bool pooled = false;
    if (up)
        xps_connection_on_close(up, nullptr, nullptr);
    if (reusable(p))
        pooled = xps_upstream_pool_put(p->req.pool, p->up->host, p->up->port, p->req.tls,
                                       up) == XPS_OK;
    if (p->to_upstream)
        xps_pipe_detach_source(p->to_upstream);
    if (p->from_upstream)
        xps_pipe_detach_sink(p->from_upstream);
    p->to_upstream = p->from_upstream = nullptr;
    if (up && !pooled)
        xps_connection_destroy(up);
    p->upstream = nullptr;
}

// [stage 20] Hook (c)'s end, once.
void end_tee(xps_proxy_t *p, bool complete) {
    if (!p->teeing)
        return;
    p->teeing = false;
    p->req.tee->end(p->req.tee->data, complete);
}

// The whole response has been relayed: the exchange is over. The upstream
// connection goes back to the pool if it can; [stage 13] the client's
// stays open for its next request when both it and the response's framing
// allow (a close-delimited body relayed as is ends only with our close).
void response_complete(xps_proxy_t *p) {
    XPS_LOG(XPS_LOG_DEBUG, log_name, "%s \"%s\" -> proxied to %s%s, %llu bytes", p->req.client_ip,
            p->req.log_line, p->up->text, p->reused ? " (reused)" : "",
            static_cast<unsigned long long>(p->relayed));
    stop_read_timeout(p); // [stage 18] nothing more is owed
    end_tee(p, !p->upstream_failed); // [stage 20] hook (c)
    release_upstream(p);
    p->ev.done(p->data, p->keep && p->client_framed && to_client(p));
}

// [stage 13] Our Connection field for the client's response.
const char *connection_line(const xps_proxy_t *p) {
    if (!p->keep)
        return "Connection: close\r\n";
    return p->version == XPS_HTTP_VERSION_1_0 ? "Connection: keep-alive\r\n" : "";
}

// How the response's body is delimited: what its head says (RFC 9112
// §6.3), none for an answer to HEAD, until the close for bytes that are
// not a head we could read.
int framing_of(const xps_proxy_t *p, const xps_http_response_head_t *r, int rc) {
    if (rc != XPS_OK)
        return XPS_HTTP_FRAMING_CLOSE;
    return p->method == XPS_HTTP_METHOD_HEAD ? XPS_HTTP_FRAMING_NONE : r->framing;
}

// Follows a body with a length or chunked framing: a parser of its own,
// with no limit on the size (the upstream's body is not ours to bound).
int follow_body(xps_proxy_t *p, int framing, uint64_t length) {
    xps_http_limits_t limits = xps_http_default_limits();
    limits.max_body = UINT64_MAX;
    if (!p->response_body && !(p->response_body = xps_http_parser_create(&limits)))
        return XPS_E_NOMEM;
    xps_http_parser_start_body(p->response_body,
                               framing == XPS_HTTP_FRAMING_CHUNKED ? XPS_HTTP_BODY_CHUNKED
                                                                   : XPS_HTTP_BODY_LENGTH,
                               length);
    return XPS_OK;
}

// Queues the response head and the body bytes[head_len, head_len + used)
// of response_head that came with it: as they came (`head` empty), or our
// rewritten head then the bytes, in one write — except a re-framed body,
// which goes as a chunk of its own after the head.
int queue_head(xps_proxy_t *p, const std::string &head, bool reframe, size_t head_len,
               size_t used) {
    const std::string &buf = p->response_head;
    if (head.empty()) { // stage 12, or no head we could read: as it came
        p->relayed += head_len + used;
        return head_len + used > 0 ? deliver_body(p, nullptr, buf.data(), head_len + used)
                                   : XPS_OK;
    }
    p->relayed += head.size() + used;
    if (reframe)
        p->reframe = reframe_chunked;
    return deliver_body(p, &head, buf.data() + head_len, used);
}

// [stage 16] Hook (a)'s question to the owner: how this response's body
// is coded (nothing when the owner has no coding callback). For HEAD the
// answer is GET's (the head's own framing gives the length).
xps_gzip_choice_t ask_coding(xps_proxy_t *p, const xps_http_response_head_t *r, int *level) {
    *level = XPS_GZIP_DEFAULT_LEVEL;
    if (!p->ev.coding)
        return xps_gzip_choice_t{false, false};
    const std::string &buf = p->response_head;
    std::string type, encoding;
    bool typed = response_field(buf, r->head_length, "Content-Type", &type);
    xps_gzip_response_t facts{};
    facts.status = r->status;
    facts.content_type = typed ? type.c_str() : nullptr;
    facts.content_type_len = type.size();
    facts.length_known = r->framing == XPS_HTTP_FRAMING_LENGTH;
    facts.length = r->content_length;
    // "identity" is no coding (RFC 9110 §8.4.1); any other: encoded already
    facts.encoded = response_field(buf, r->head_length, "Content-Encoding", &encoding) &&
                    strcasecmp(encoding.c_str(), "identity") != 0;
    facts.http11 = p->version == XPS_HTTP_VERSION_1_1;
    return p->ev.coding(p->data, &facts, level);
}

// The final head is complete (or will never be): decide how its body is
// framed, queue the head (rewritten or not) and what followed it. [stage
// 13] A body the upstream means to end by closing (no length, no coding:
// rule 8) is re-framed as chunked for an HTTP/1.1 client of stage 13.
// XPS_E_INVAL: the head's framing is invalid, or the chunks right after
// it are broken (nothing was queued).
int send_response_head(xps_proxy_t *p, const xps_http_response_head_t *r, int rc) {
    std::string &buf = p->response_head;
    int framing = framing_of(p, r, rc);
    p->reframe = reframe_raw;
    int error = XPS_OK;
    if (framing == XPS_HTTP_FRAMING_INVALID)
        return XPS_E_INVAL;
    if (framing == XPS_HTTP_FRAMING_LENGTH || framing == XPS_HTTP_FRAMING_CHUNKED)
        error = follow_body(p, framing, r->content_length);
    int level = XPS_GZIP_DEFAULT_LEVEL; // [stage 16] hook (a): the body's coding
    xps_gzip_choice_t coding = rc == XPS_OK && p->req.http11 ? ask_coding(p, r, &level)
                                                             : xps_gzip_choice_t{false, false};
    bool reframe = framing == XPS_HTTP_FRAMING_CLOSE && rc == XPS_OK && !coding.compress &&
                   !r->has_transfer_encoding && p->req.http11 && p->version == XPS_HTTP_VERSION_1_1;
    p->client_framed = framing != XPS_HTTP_FRAMING_CLOSE || reframe || coding.compress;
    p->keep = p->keep && p->client_framed; // else only our close ends the body
    p->upstream_keeps = p->ask_keep && rc == XPS_OK && framing != XPS_HTTP_FRAMING_CLOSE &&
                        upstream_keeps(buf, r->head_length, r->version);
    // [stage 13] A head we can read is rewritten (client_head): our version,
    // our framing when re-framed, our Connection field.
    std::string head;
    bool replaced = false; // [stage 20] the tee answered the client instead
    try {
        std::string last = reframe ? "Transfer-Encoding: chunked\r\n" : "";
        if (rc == XPS_OK && p->req.http11 && p->req.tee) { // [stage 20] hook (c)
            p->teeing = true;
            bool bodiless = framing == XPS_HTTP_FRAMING_NONE;
            last += p->req.tee->head(p->req.tee->data, buf.data(), r->head_length, r->status,
                                     bodiless ? to_client(p) : nullptr, &replaced);
        }
        if (p->req.request_id) // [apps/xps] the request's id, in place of the upstream's
            ((last += "X-Request-ID: ") += p->req.request_id) += "\r\n";
        if (p->req.response_lines) // [apps/xps] the route's "headers"
            last += p->req.response_lines;
        if (rc == XPS_OK && p->req.http11 && p->client_framed)
            head = client_head(buf, r->head_length,
                               framing == XPS_HTTP_FRAMING_CHUNKED && !coding.compress,
                               (last += connection_line(p)).c_str(), p->req.request_id != nullptr);
        if (!head.empty() && (coding.vary || coding.compress))
            head = coded_head(head, coding);
    } catch (const std::bad_alloc &) {
        error = XPS_E_NOMEM;
    }
    p->response_done = framing == XPS_HTTP_FRAMING_NONE;
    size_t head_len = rc != XPS_OK ? 0 : r->head_length;
    if (error == XPS_OK && replaced) { // [stage 20] nothing of this response goes down
        p->relayed += 1; // the client has had an answer: a later failure is a cut
        p->leftover = head_len < buf.size();
        buf.clear();
        buf.shrink_to_fit();
        return XPS_OK;
    }
    size_t used = 0;
    if (error == XPS_OK && coding.compress) { // [stage 16] the head, then the data through gzip
        p->relayed += head.size();
        error = deliver_body(p, &head, nullptr, 0);
        if (error == XPS_OK && !p->response_done && (p->gzip = xps_gzip_create(level, true, &error)))
            error = body_bytes(p, buf.data() + head_len, buf.size() - head_len, &used);
        p->leftover = p->response_done && head_len + used < buf.size();
        buf.clear();
        buf.shrink_to_fit();
        return error;
    }
    if (error == XPS_OK && !p->response_done)
        error = body_bytes(p, buf.data() + head_len, buf.size() - head_len, &used);
    p->leftover = p->response_done && head_len + used < buf.size();
    if (error == XPS_OK)
        error = queue_head(p, head, reframe, head_len, used);
    buf.clear();
    buf.shrink_to_fit();
    return error;
}

// While reframe_head: moves upstream bytes into response_head until the
// head is complete. A 1xx (not 101) goes down as it is, and the final
// head is looked for after it. Returns false when the exchange has ended.
bool take_response_head(xps_proxy_t *p, xps_pipe_t *pipe) {
    xps_pipe_chunk_t chunk;
    std::string &buf = p->response_head;
    try {
        while (buf.size() < max_response_head && xps_pipe_peek(pipe, &chunk) == XPS_OK) {
            size_t n = std::min(chunk.len, max_response_head - buf.size());
            buf.append(chunk.bytes, n);
            xps_pipe_consume(pipe, n);
        }
    } catch (const std::bad_alloc &) {
        fail_nomem(p);
        return false;
    }
    for (;;) {
        xps_http_response_head_t r;
        int rc = xps_http_response_head_scan(buf.data(), buf.size(), &r);
        if (rc == XPS_E_AGAIN && buf.size() < max_response_head)
            return true; // wait for more
        if (rc == XPS_OK && r.status < 200 && r.status != 101) { // 100, 103: pass on
            if (write_copy(to_client(p), buf.data(), r.head_length) != XPS_OK)
                return cut(p), false;
            p->relayed += r.head_length;
            buf.erase(0, r.head_length);
            continue;
        }
        bool switched = rc == XPS_OK && r.status == 101;
        if (switched && !p->upgrade_asked) { // a server MUST NOT (RFC 9110 §15.2.2)
            fail(p, "the upstream switched protocols without being asked");
            return false;
        }
        int error = switched ? XPS_OK : send_response_head(p, &r, rc);
        if (switched) { // the 101 and what follows: raw, from now on
            p->reframe = reframe_raw;
            error = write_copy(to_client(p), buf.data(), buf.size());
            p->relayed += buf.size();
            buf.clear();
        }
        if (error == XPS_E_INVAL) { // RFC 9112 §6.3 ¶5: discard it, 502
            fail(p, "the upstream's response framing is invalid");
            return false;
        }
        if (error != XPS_OK)
            return cut(p), false;
        if (switched)
            start_tunnel(p);
        else if (p->response_done)
            return response_complete(p), false; // the exchange is over
        // Refused (any other answer): the bytes the client sent after its
        // head are never relayed raw; the connection ends with this response.
        return !p->ended;
    }
}

// The client stopped sending before the end of its body: its request is
// malformed (400), unless a response is already on its way.
void body_cut_short(xps_proxy_t *p) {
    const char *why = "the request body ended early";
    if (p->relayed == 0)
        return refuse(p, XPS_HTTP_STATUS_BAD_REQUEST, why);
    cut(p);
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
// exchange has ended: broken framing (the parser's 400) or no memory.
bool forward_body(xps_proxy_t *p, const char *in, size_t len, size_t *used) {
    bool chunked = xps_http_parser_head(p->req.parser)->body == XPS_HTTP_BODY_CHUNKED;
    size_t off = 0;
    int rc, error = XPS_OK;
    do {
        size_t n = 0;
        xps_http_slice_t data;
        rc = xps_http_parser_parse_body(p->req.parser, in + off, len - off, &n, &data);
        const char *bytes = in + off + data.offset;
        if (rc == XPS_E_NEXT && p->to_upstream && error == XPS_OK)
            error = chunked ? write_chunk(p->to_upstream, bytes, data.length)
                            : write_copy(p->to_upstream, bytes, data.length);
        off += n;
    } while (rc == XPS_E_NEXT);
    *used = off;
    if (rc == XPS_E_INVAL) {
        const char *why = xps_http_parser_reason(p->req.parser);
        if (p->relayed == 0)
            refuse(p, xps_http_parser_status(p->req.parser), why);
        else
            cut(p);
        return false;
    }
    p->body_done = rc == XPS_OK;
    if (p->body_done && chunked && p->to_upstream && error == XPS_OK)
        error = write_copy(p->to_upstream, last_chunk, sizeof last_chunk - 1);
    if (error != XPS_OK) {
        fail_nomem(p);
        return false;
    }
    return true;
}

// The body has gone up (or never will): stop reading the client. Bytes it
// sends from now on are not read; [stage 13] on a kept connection they
// wait in the pipe: they are the next request, read once this one is over.
void stop_reading_client(xps_proxy_t *p) {
    if (p->keep && from_client(p))
        return xps_pipe_set_sink_ready(from_client(p), false);
    if (from_client(p))
        xps_pipe_detach_sink(from_client(p));
    from_client(p) = nullptr;
}

void on_upstream_closed(xps_connection_t *upstream, int reason, void *data) {
    auto *p = static_cast<xps_proxy_t *>(data);
    p->upstream = nullptr; // the pipes tell the rest
    p->upstream_failed |= reason != XPS_OK;
    p->upstream_nomem |= reason == XPS_E_NOMEM;
    // [stage 19] Closed before its TLS handshake was over: say why
    // (on_upstream_end acts on it). The connection is still whole here.
    const xps_tls_conn_t *tls = xps_connection_tls(upstream);
    if (tls && reason != XPS_OK && reason != XPS_E_NOMEM && !*xps_tls_version(tls)) {
        try {
            p->tls_failure = *xps_tls_error(tls) ? xps_tls_error(tls) : xps_strerror(reason);
        } catch (const std::bad_alloc &) {
            p->upstream_nomem = true;
        }
    }
}


// [stage 13] The upstream answered the Upgrade with 101 Switching
// Protocols: only now does the connection stop carrying HTTP. The bytes
// the client sent after its head (held until now) go up raw, and from
// here proxy_client_bytes relays everything the client sends; the
// response direction relays the 101 and whatever follows, until the
// upstream closes. Before the 101 those bytes were not ours to pass on
// unparsed: an upstream that answers 200 instead would read them as a
// request xps never saw — request smuggling (RFC 9110 §7.8).
void start_tunnel(xps_proxy_t *p) {
    const xps_http_head_t *h = xps_http_parser_head(p->req.parser);
    p->tunnel = true;
    stop_read_timeout(p); // [stage 18] a tunnel may be quiet; it ends with a close
    size_t extra = p->req.len - h->head_length;
    if (extra > 0 && p->to_upstream &&
        write_copy(p->to_upstream, p->req.buf + h->head_length, extra) != XPS_OK)
        return cut(p); // the 101 is on its way down: nothing else to say
    XPS_LOG(XPS_LOG_DEBUG, log_name, "%s \"%s\" -> switched protocols, tunnelled to %s",
            p->req.client_ip, p->req.log_line, p->up->text);
    if (from_client(p))
        xps_pipe_set_sink_ready(from_client(p), true);
    else if (p->to_upstream) // the client already sent FIN: pass it on
        xps_pipe_detach_source(p->to_upstream), p->to_upstream = nullptr;
}

// [stage 13] Expect: 100-continue (RFC 9110 §10.1.1): the client waits
// for a go-ahead before sending its body. We give it once the upstream has
// accepted, so a client whose upstream is down gets 502 without having
// sent its body for nothing. The upstream also sees the Expect header and
// may send its own 100: a client accepts any number of 1xx (§15.2).
void send_continue(xps_proxy_t *p) {
    static const char go[] = "HTTP/1.1 100 Continue\r\n\r\n";
    if (!to_client(p))
        return; // the client is gone: the pipes will end the session
    xps_buffer_t *b = xps_buffer_copy_of(go, sizeof go - 1);
    if (!b || xps_pipe_write(to_client(p), b) != XPS_OK) // the pipe takes b
        XPS_LOG(XPS_LOG_WARN, log_name, "%s: cannot send 100 Continue", p->req.client_ip);
}

// The forwarded head (forward_head), in a buffer; NULL when out of memory.
xps_buffer_t *request_head(const xps_http_head_t *h, const char *buf,
                           const xps_proxy_forward_t *fwd, bool keep, const xps_proxy_tee_t *tee) {
    try {
        std::string last = tee && tee->request_lines ? tee->request_lines : ""; // [stage 20] (c)
        std::string out = forward_head(h, buf, fwd, (last += keep ? "" : "Connection: close\r\n").c_str());
        return xps_buffer_copy_of(out.data(), out.size());
    } catch (const std::bad_alloc &) {
        return nullptr;
    }
}

// Connected: plumb the upstream's pipes, send the head and whatever body
// bytes came with it.
void start_relay(xps_proxy_t *p, xps_connection_t *upstream) {
    xps_core_t *core = xps_loop_core(p->req.loop);
    p->upstream = upstream;
    xps_connection_on_close(upstream, on_upstream_closed, p);
    p->to_upstream = xps_pipe_create(core, XPS_PIPE_DEFAULT_THRESHOLD);
    p->from_upstream = xps_pipe_create(core, XPS_PIPE_DEFAULT_THRESHOLD);
    if (!p->to_upstream || !p->from_upstream) {
        xps_pipe_destroy(p->to_upstream); // no end attached yet
        xps_pipe_destroy(p->from_upstream);
        p->to_upstream = p->from_upstream = nullptr;
        return fail_nomem(p);
    }
    xps_pipe_attach_source(p->to_upstream, on_upstream_room, on_upstream_gone, p);
    xps_pipe_attach_sink(p->from_upstream, on_upstream_bytes, on_upstream_end, p);
    xps_connection_attach_sink(upstream, p->to_upstream);
    xps_connection_attach_source(upstream, p->from_upstream);
    xps_pipe_set_sink_ready(p->from_upstream, true);
    p->relaying = true;

    const xps_http_head_t *h = xps_http_parser_head(p->req.parser);
    // [stage 13] An Upgrade (WebSocket) request without a body asks the
    // upstream to switch protocols; the bytes the client sends after it
    // wait until the answer says whether it did (start_tunnel).
    std::string offer;
    try {
        if (p->req.http11 && h->body == XPS_HTTP_BODY_NONE)
            offer = upgrade_offer(h, p->req.buf);
    } catch (const std::bad_alloc &) {
        return fail_nomem(p);
    }
    p->upgrade_asked = !offer.empty();
    // [stage 13] With a pool, an HTTP/1.1 request asks the upstream to keep
    // its connection (1.1's default: no Connection field); an HTTP/1.0
    // client's goes up as 1.0 with "close" (its answer must be one it reads).
    p->ask_keep = p->req.pool && p->version == XPS_HTTP_VERSION_1_1 && !p->upgrade_asked;
    xps_proxy_forward_t fwd{p->req.client_ip, p->req.via_name, p->up->text, p->req.request_id};
    xps_buffer_t *head = p->upgrade_asked ? upgrade_head(h, p->req.buf, &fwd, offer)
                                          : request_head(h, p->req.buf, &fwd, p->ask_keep, p->req.tee);
    if (!head || xps_pipe_write(p->to_upstream, head) != XPS_OK)
        return fail_nomem(p);
    arm_read_timeout(p); // [stage 18] hook point (b): from now the upstream owes an answer
    // The response's head is read before anything goes down: to know where
    // the response ends (not where the upstream closes: it may keep its
    // connection open), to see a 101, and [stage 13] to re-frame a close-
    // delimited body as chunked for an HTTP/1.1 client.
    p->reframe = reframe_head;
    if (p->upgrade_asked) { // no body; the client's next bytes stay in its pipe
        p->body_done = true;
        return;
    }
    if (p->req.http11 && h->expect_continue && h->body != XPS_HTTP_BODY_NONE &&
        p->req.len == h->head_length)
        send_continue(p);
    size_t used = 0; // body bytes that arrived with the head (none left on a retry)
    if (!p->body_done &&
        !forward_body(p, p->req.buf + h->head_length, p->req.len - h->head_length, &used))
        return;
    if (p->body_done)
        stop_reading_client(p);
    else if (!from_client(p)) // the client stopped sending half-way through
        body_cut_short(p);
    else
        xps_pipe_set_sink_ready(from_client(p), true);
}

// [stage 13] A request may go again, once, on a fresh connection when the
// reused one it went on ended before any byte of an answer: the upstream
// closed it (its idle timeout) while the request was on its way, so it
// was never processed — if the method is idempotent (RFC 9110 §9.2.2:
// GET, HEAD, OPTIONS, TRACE, PUT, DELETE) and the request has no body,
// sending it twice does no harm, and we hold all of it (the head buffer).
bool may_retry(const xps_proxy_t *p) {
    const xps_http_head_t *h = xps_http_parser_head(p->req.parser);
    int m = p->method;
    bool idempotent = m == XPS_HTTP_METHOD_GET || m == XPS_HTTP_METHOD_HEAD ||
                      m == XPS_HTTP_METHOD_OPTIONS || m == XPS_HTTP_METHOD_TRACE ||
                      m == XPS_HTTP_METHOD_PUT || m == XPS_HTTP_METHOD_DELETE;
    bool bodyless = h->body == XPS_HTTP_BODY_NONE ||
                    (h->body == XPS_HTTP_BODY_LENGTH && h->content_length == 0);
    return p->reused && !p->retried && idempotent && bodyless && !p->upgrade_asked &&
           to_client(p);
}

// [stage 17] Whether a request whose FRESH connection closed before any
// byte of an answer may go to another upstream: the same conditions as a
// retry after a reused connection (may_retry), with a balancer to ask.
bool may_move_on(const xps_proxy_t *p) {
    if (!p->req.balancer || p->reused || p->relayed > 0)
        return false;
    const xps_http_head_t *h = xps_http_parser_head(p->req.parser);
    int m = p->method;
    bool idempotent = m == XPS_HTTP_METHOD_GET || m == XPS_HTTP_METHOD_HEAD ||
                      m == XPS_HTTP_METHOD_OPTIONS || m == XPS_HTTP_METHOD_TRACE ||
                      m == XPS_HTTP_METHOD_PUT || m == XPS_HTTP_METHOD_DELETE;
    bool bodyless = h->body == XPS_HTTP_BODY_NONE ||
                    (h->body == XPS_HTTP_BODY_LENGTH && h->content_length == 0);
    return idempotent && bodyless && !p->upgrade_asked && to_client(p);
}

void connect_fresh(xps_proxy_t *p);
void tls_failed(xps_proxy_t *p);
void connect_failed(xps_proxy_t *p);

// [stage 17] The upstream this attempt goes to: the balancer's choice
// among those not tried yet for this request, counted as in flight until
// the exchange ends or moves on (let_go); without a balancer, the first.
// False when the balancer has none: every upstream is down or tried.
bool choose_upstream(xps_proxy_t *p) {
    if (!p->req.balancer) {
        p->index = 0, p->up = &p->req.upstreams[0];
        return true;
    }
    size_t i = xps_balancer_choose(p->req.balancer, p->req.client_addr, p->tried,
                                   xps_loop_now_ms(p->req.loop));
    if (i == XPS_BALANCER_NONE)
        return false;
    p->index = i, p->up = &p->req.upstreams[i];
    xps_balancer_begin(p->req.balancer, i);
    p->in_flight = true;
    return true;
}

// [stage 17] This request is no longer on its upstream (least_connections).
void let_go(xps_proxy_t *p) {
    if (p->in_flight)
        xps_balancer_end(p->req.balancer, p->index);
    p->in_flight = false;
}

// [stage 17] The attempt on the current upstream failed before a byte of
// answer: the balancer counts it against the upstream (which it may mark
// down), and the request moves to the next one it offers. False when
// there is none (the current one stays named in p->up, for the log).
bool next_upstream(xps_proxy_t *p) {
    if (!p->req.balancer)
        return false;
    uint64_t now = xps_loop_now_ms(p->req.loop);
    xps_balancer_failed(p->req.balancer, p->index, now);
    if (xps_balancer_is_down(p->req.balancer, p->index, now))
        XPS_LOG(XPS_LOG_WARN, log_name, "upstream %s: marked down (its failures reached "
                "max_fails)", p->up->text);
    p->tried |= uint64_t{1} << p->index;
    const xps_config_upstream_t *failed = p->up;
    size_t failed_index = p->index;
    let_go(p);
    if (!choose_upstream(p)) {
        p->up = failed, p->index = failed_index;
        return false;
    }
    XPS_LOG(XPS_LOG_DEBUG, log_name, "%s \"%s\": upstream %s failed; trying %s", p->req.client_ip,
            p->req.log_line, failed->text, p->up->text);
    p->retried = false; // a reused connection of the new upstream may be retried once too
    return true;
}

// An idle pooled connection to p->up if there is one, else a new connect.
void connect_chosen(xps_proxy_t *p) {
    xps_connection_t *idle =
        p->req.pool ? xps_upstream_pool_take(p->req.pool, p->up->host, p->up->port, p->req.tls)
                    : nullptr;
    p->reused = idle != nullptr;
    if (idle)
        return start_relay(p, idle);
    connect_fresh(p);
}

// [stage 18] The upstream's silence reached read_timeout_ms — unless the
// clock moved (a byte came: re-armed for the rest) or the wait is not the
// upstream's: the body is still coming from the client, response bytes
// wait for a slow client to take them, or a tunnel is open.
void on_read_timeout(xps_loop_timer_t *timer, void *data) {
    auto *p = static_cast<xps_proxy_t *>(data);
    uint64_t now = xps_loop_now_ms(p->req.loop);
    uint64_t quiet = now - p->heard_ms;
    bool client_side = !p->body_done || p->tunnel ||
                       (p->from_upstream && xps_pipe_len(p->from_upstream) > 0) ||
                       (to_client(p) && xps_pipe_room(to_client(p)) == 0);
    if (client_side) {
        p->heard_ms = now;
        return xps_loop_timer_start(timer, p->req.read_timeout_ms);
    }
    if (quiet < p->req.read_timeout_ms)
        return xps_loop_timer_start(timer, p->req.read_timeout_ms - quiet);
    XPS_LOG(XPS_LOG_WARN, log_name, "%s \"%s\": upstream %s silent for %u ms%s",
            p->req.client_ip, p->req.log_line, p->up->text, p->req.read_timeout_ms,
            p->relayed == 0 ? "" : " in mid-response: cut");
    if (p->relayed == 0)
        return refuse(p, XPS_HTTP_STATUS_GATEWAY_TIMEOUT, "the upstream did not answer in time");
    cut(p); // the owner closes the client; destroying us closes the upstream
}

// [stage 18] Hook point (b): the request is going up, so the upstream's
// silence is timed from now.
void arm_read_timeout(xps_proxy_t *p) {
    if (p->req.read_timeout_ms == 0)
        return;
    if (!p->timer && !(p->timer = xps_loop_timer_create(p->req.loop, on_read_timeout, p))) {
        XPS_LOG(XPS_LOG_ERROR, log_name, "%s: no memory for a timer: not timed", p->req.client_ip);
        return;
    }
    p->heard_ms = xps_loop_now_ms(p->req.loop);
    xps_loop_timer_start(p->timer, p->req.read_timeout_ms);
}

void stop_read_timeout(xps_proxy_t *p) {
    if (p->timer && xps_loop_timer_active(p->timer))
        xps_loop_timer_stop(p->timer);
}

void retry(xps_proxy_t *p) {
    XPS_LOG(XPS_LOG_DEBUG, log_name, "%s \"%s\": the reused connection to %s ended before an "
            "answer; again on a new one", p->req.client_ip, p->req.log_line,
            p->up->text);
    release_upstream(p); // not reusable: it has ended
    p->retried = true, p->reused = false, p->upstream_failed = false;
    p->reframe = reframe_raw;
    p->response_head.clear();
    p->relaying = false;
    connect_fresh(p);
}

// The connect attempt is over. A failure has been logged by the upstream
// module, with the address and the reason. [stage 17] Either way the
// balancer hears of it; after a failure, the next upstream it offers.
// [stage 19] A fresh connection to a route with upstream_tls speaks TLS
// from its first byte (the handshake runs under the request's first send).
// False (the connection destroyed, the client answered) without memory.
bool start_upstream_tls(xps_proxy_t *p, xps_connection_t *upstream) {
    const char *name = p->req.tls_server_name ? p->req.tls_server_name : p->up->host;
    if (xps_connection_start_tls(upstream, p->req.tls, name, p->up->host) == XPS_OK) {
        p->tls_unconfirmed = p->req.balancer != nullptr;
        return true;
    }
    xps_connection_destroy(upstream);
    fail_nomem(p);
    return false;
}

void on_connected(xps_upstream_t *, xps_connection_t *upstream, int status, void *data) {
    auto *p = static_cast<xps_proxy_t *>(data);
    p->attempt = nullptr;
    if (status != XPS_OK) {
        // [stage 18] Out of its configured time: 504, unless [stage 17]
        // another upstream takes the request (connect_failed).
        if (status == XPS_E_NOMEM) // ours, not the upstream's: no next upstream either
            return fail_nomem(p);
        p->connect_timed_out = status == XPS_E_TIMEOUT && p->req.connect_timeout_ms > 0;
        return connect_failed(p);
    }
    if (p->req.tls && !start_upstream_tls(p, upstream))
        return;
    if (p->req.balancer && !p->tls_unconfirmed) // [stage 19] else at its first byte
        xps_balancer_succeeded(p->req.balancer, p->index);
    start_relay(p, upstream);
}

// produce() of to_upstream: room again for body bytes.
void on_upstream_room(xps_pipe_t *pipe, void *data) {
    auto *p = static_cast<xps_proxy_t *>(data);
    xps_pipe_set_source_ready(pipe, false);
    if (from_client(p) && !p->body_done)
        xps_pipe_set_sink_ready(from_client(p), true);
}

// sink_gone() of to_upstream: the upstream stopped reading (it closed or
// failed). No more body can go up; its response may still come.
void on_upstream_gone(xps_pipe_t *pipe, void *data) {
    auto *p = static_cast<xps_proxy_t *>(data);
    xps_pipe_detach_source(pipe);
    p->to_upstream = nullptr;
    stop_reading_client(p);
}

// consume() of from_upstream: response bytes, relayed while the client's
// pipe has room, up to the end of the response.
void on_upstream_bytes(xps_pipe_t *pipe, void *data) {
    auto *p = static_cast<xps_proxy_t *>(data);
    p->upstream_spoke = true; // hook point (b) of xps_proxy.h: the first byte is here
    if (p->tls_unconfirmed) { // [stage 19] its handshake is over: a healthy upstream
        p->tls_unconfirmed = false;
        xps_balancer_succeeded(p->req.balancer, p->index);
    }
    p->heard_ms = xps_loop_now_ms(p->req.loop); // [stage 18] its silence starts again
    if (p->reframe == reframe_head && to_client(p) && !take_response_head(p, pipe))
        return; // the exchange has ended
    if (p->reframe == reframe_head)
        return; // the head is not complete yet
    xps_pipe_chunk_t chunk;
    while (to_client(p) && xps_pipe_room(to_client(p)) > 0 &&
           xps_pipe_peek(pipe, &chunk) == XPS_OK) {
        size_t used = 0;
        int error = relay_body(p, chunk.bytes, chunk.len, &used);
        if (error == XPS_E_INVAL) {
            XPS_LOG(XPS_LOG_WARN, log_name, "%s \"%s\": the upstream's chunked framing is broken",
                    p->req.client_ip, p->req.log_line);
            return cut(p); // the client sees a body without its end
        }
        if (error != XPS_OK)
            return cut(p); // the client is gone (or memory is): nobody to answer
        p->leftover = p->response_done && (used < chunk.len || xps_pipe_len(pipe) > chunk.len);
        xps_pipe_consume(pipe, chunk.len);
        if (p->response_done)
            return response_complete(p); // anything after it was not ours to relay
    }
    if (to_client(p) && xps_pipe_len(pipe) > 0) { // full: wait for on_client_room
        xps_pipe_set_sink_ready(pipe, false);
        xps_pipe_set_source_ready(to_client(p), true);
    }
}

// source_done() of from_upstream: the upstream closed and every byte it
// sent has been relayed. That ends a response delimited by the close;
// one with a length or chunks that has not reached its end is cut short.
void on_upstream_end(xps_pipe_t *pipe, void *data) {
    auto *p = static_cast<xps_proxy_t *>(data);
    xps_pipe_detach_sink(pipe);
    p->from_upstream = nullptr;
    if (p->upstream_nomem) // we could not read it (tcp's read block): not its fault
        return fail_nomem(p);
    if (!p->tls_failure.empty()) // [stage 19] nothing went up: as a failed connect
        return tls_failed(p);
    if (!p->upstream_spoke && may_retry(p))
        return retry(p);
    if (!p->upstream_spoke && may_move_on(p)) { // [stage 17] a fresh connection, unanswered
        release_upstream(p);
        p->upstream_failed = false, p->reframe = reframe_raw, p->relaying = false;
        p->response_head.clear();
        if (next_upstream(p))
            return connect_chosen(p);
        return fail(p, "the upstream closed without answering, and no other upstream is up");
    }
    if (p->reframe == reframe_head && to_client(p)) { // closed inside its head
        xps_http_response_head_t r{}; // not read: there is no head
        if (send_response_head(p, &r, XPS_E_INVAL) != XPS_OK)
            return cut(p);
    }
    if (p->relayed == 0)
        return fail(p, "the upstream closed without answering");
    if (p->response_body) { // it had a length or chunks, and they are not all here
        XPS_LOG(XPS_LOG_WARN, log_name, "%s \"%s\": the upstream closed before the end of its "
                "response, after %llu bytes", p->req.client_ip, p->req.log_line,
                static_cast<unsigned long long>(p->relayed));
        return cut(p);
    }
    // [stage 13] The close ends the re-framed body: tell the client so
    // with the last-chunk — unless the upstream failed (a reset): then the
    // client must see a cut body, not a complete one.
    if (p->reframe == reframe_chunked && to_client(p) && !p->upstream_failed) {
        if (write_copy(to_client(p), last_chunk, sizeof last_chunk - 1) != XPS_OK)
            return cut(p);
    }
    // [stage 16] ... and so does a compressed one: the stream's end.
    if (p->gzip && !p->upstream_failed && finish_gzip(p) != XPS_OK)
        return cut(p);
    response_complete(p);
}


// [stage 19] The TLS handshake with p->up failed: no byte of the request
// went up (it would have been encrypted for a session that never was), so
// as after a failed connect, [stage 17] the balancer counts it and any
// request may go to the next upstream; without one, 502.
void tls_failed(xps_proxy_t *p) {
    XPS_LOG(XPS_LOG_WARN, log_name, "%s \"%s\": upstream %s: TLS handshake failed: %s",
            p->req.client_ip, p->req.log_line, p->up->text, p->tls_failure.c_str());
    release_upstream(p);
    p->tls_failure.clear(), p->tls_unconfirmed = false;
    p->upstream_failed = false, p->reframe = reframe_raw, p->relaying = false;
    p->response_head.clear();
    if (next_upstream(p))
        return connect_chosen(p);
    fail(p, "the TLS handshake with the upstream failed");
}

// A new connection to the request's upstream; start_relay follows.
// Hook point (b) of xps_proxy.h: the connect starts here.
void connect_fresh(xps_proxy_t *p) {
    const xps_config_upstream_t *upstream = p->up;
    int error = XPS_OK;
    uint64_t bound = p->req.connect_timeout_ms ? p->req.connect_timeout_ms  // [stage 18]
                                               : XPS_PROXY_CONNECT_TIMEOUT_MS;
    p->attempt = xps_upstream_connect(p->req.loop, upstream->host, upstream->port, bound,
                                      on_connected, p, &error);
    if (!p->attempt) {
        XPS_LOG(XPS_LOG_WARN, log_name, "%s \"%s\": upstream %s: %s", p->req.client_ip,
                p->req.log_line, upstream->text, xps_strerror(error));
        if (error == XPS_E_NOMEM) // ours, not the upstream's (fail_nomem)
            return fail_nomem(p);
        connect_failed(p);
    }
}

// The connect to p->up failed (refused, unreachable, timed out, or could
// not start): nothing was sent, so [stage 17] any request may go to the
// next upstream; without one, 502 — or [stage 18] 504 when the last one
// ran out of the configured connect time.
void connect_failed(xps_proxy_t *p) {
    if (next_upstream(p))
        return connect_chosen(p);
    bool several = p->req.balancer && p->req.n_upstreams > 1;
    if (p->connect_timed_out)
        return fail_with(p, XPS_HTTP_STATUS_GATEWAY_TIMEOUT,
                         several ? "no upstream accepted in time"
                                 : "the upstream did not accept in time");
    fail(p, several ? "no upstream can be reached" : "the upstream cannot be reached");
}

void free_proxy(void *p) { delete static_cast<xps_proxy_t *>(p); }

} // namespace

// --------------------------------------------------------- lifecycle

xps_proxy_t *xps_proxy_create(const xps_proxy_request_t *request,
                              const xps_proxy_events_t *events, void *data,
                              int *error) noexcept {
    assert(request && events && error && request->parser && request->upstreams &&
           request->n_upstreams > 0);
    auto *p = new (std::nothrow) xps_proxy_t{};
    if (!p) {
        *error = XPS_E_NOMEM;
        return nullptr;
    }
    p->req = *request, p->ev = *events, p->data = data;
    const xps_http_head_t *h = xps_http_parser_head(request->parser);
    p->method = h->method, p->version = h->version;
    p->keep = request->keep;
    *error = XPS_OK;
    return p;
}

void xps_proxy_start(xps_proxy_t *p) noexcept {
    if (from_client(p)) // body bytes wait in the pipe until the upstream is there
        xps_pipe_set_sink_ready(from_client(p), false);
    if (!choose_upstream(p)) { // [stage 17] all down: at once, no connect tried
        p->up = &p->req.upstreams[0];
        return refuse(p, XPS_HTTP_STATUS_BAD_GATEWAY, "every upstream is down");
    }
    connect_chosen(p); // [stage 13] an idle pooled connection to it first
}

void xps_proxy_destroy(xps_proxy_t *p) noexcept {
    if (!p || p->ended)
        return;
    p->ended = true;
    end_tee(p, false); // [stage 20] a response cut short leaves no entry
    xps_gzip_destroy(p->gzip); // [stage 16] a body cut short
    p->gzip = nullptr;
    let_go(p);
    xps_upstream_cancel(p->attempt);
    p->attempt = nullptr;
    if (p->to_upstream)
        xps_pipe_detach_source(p->to_upstream);
    if (p->from_upstream)
        xps_pipe_detach_sink(p->from_upstream);
    p->to_upstream = p->from_upstream = nullptr;
    if (p->upstream) { // mid-exchange: not reusable, closed
        xps_connection_on_close(p->upstream, nullptr, nullptr);
        xps_connection_destroy(p->upstream);
        p->upstream = nullptr;
    }
    xps_http_parser_destroy(p->response_body);
    p->response_body = nullptr;
    xps_loop_timer_destroy(p->timer); // [stage 18]
    p->timer = nullptr;
    xps_core_defer_free(xps_loop_core(p->req.loop), free_proxy, p);
}

// -------------------------------------------------------------- operations

void xps_proxy_client_bytes(xps_proxy_t *p) noexcept {
    xps_pipe_chunk_t chunk;
    if (!p->relaying || (p->upgrade_asked && !p->tunnel)) // wait for the upstream; [stage
        return xps_pipe_set_sink_ready(from_client(p), false); // 13] or for its 101
    if (p->tunnel) { // [stage 13] raw bytes up, as long as the upstream takes them
        while (p->to_upstream && xps_pipe_room(p->to_upstream) > 0 &&
               xps_pipe_peek(from_client(p), &chunk) == XPS_OK) {
            if (write_copy(p->to_upstream, chunk.bytes, chunk.len) != XPS_OK)
                return fail_nomem(p);
            xps_pipe_consume(from_client(p), chunk.len);
        }
        if (!p->to_upstream)
            return stop_reading_client(p);
        if (xps_pipe_len(from_client(p)) > 0) {
            xps_pipe_set_sink_ready(from_client(p), false);
            xps_pipe_set_source_ready(p->to_upstream, true);
        }
        return;
    }
    while (!p->body_done && p->to_upstream && xps_pipe_room(p->to_upstream) > 0 &&
           xps_pipe_peek(from_client(p), &chunk) == XPS_OK) {
        size_t used = 0;
        if (!forward_body(p, chunk.bytes, chunk.len, &used))
            return;
        xps_pipe_consume(from_client(p), used);
    }
    if (p->body_done || !p->to_upstream)
        return stop_reading_client(p);
    if (xps_pipe_len(from_client(p)) > 0) { // to_upstream is full: wait for room
        xps_pipe_set_sink_ready(from_client(p), false);
        xps_pipe_set_source_ready(p->to_upstream, true);
    }
}

void xps_proxy_client_end(xps_proxy_t *p) noexcept {
    if (p->tunnel && p->to_upstream) { // [stage 13] half-close: the upstream sees FIN too
        xps_pipe_detach_source(p->to_upstream);
        p->to_upstream = nullptr;
        return;
    }
    // Connecting: start_relay finds out once the bytes already here are
    // forwarded. Relaying with the body complete: nothing changes.
    if (p->relaying && !p->body_done)
        body_cut_short(p);
}

void xps_proxy_client_room(xps_proxy_t *p) noexcept {
    if (p->from_upstream)
        xps_pipe_set_sink_ready(p->from_upstream, true);
}
