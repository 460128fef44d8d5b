// stages/stage-10-http-parser/client.cpp — one client of stage 10: two
// pipes, a head buffer and a parser. The request side of the exchange;
// reply.cpp is the response side.
//
//   connection ──in──▶ on_request_bytes: append to head[], parse_head()
//   connection ◀─out── reply_send(): head in one buffer, then the file
#include "stages/stage-10-http-parser/client.h"

#include <cassert>
#include <new>

#include "core/xps_core.h"
#include "core/xps_logger.h"
#include "stages/stage-10-http-parser/reply.h"

namespace {

// A client, from accept until its request head is complete (or refused).
struct client {
    xps_loop_t *loop;             // borrowed
    const char *root;             // borrowed: the document root
    xps_connection_t *connection; // the peer; NULL once it has closed itself
    xps_pipe_t *in;               // connection → here: the request bytes
    xps_pipe_t *out;              // here → connection: the response (NULL once sent)
    xps_http_parser_t *parser;    // owned
    xps_core_member_t *member;    // so that shutting down mid-request frees us
    size_t len;                   // bytes in head
    char head[16384];             // the request head, the parser's buffer (= max_head)
};

// Done with the request: leave its pipe (the connection stops reading),
// end an unanswered response, free the client. Parts may be missing.
void destroy_client(void *object) {
    auto *c = static_cast<client *>(object);
    xps_core_remove_member(c->member);
    if (c->connection)
        xps_connection_on_close(c->connection, nullptr, nullptr);
    if (c->in)
        xps_pipe_detach_sink(c->in);
    reply_end(c->out);
    xps_http_parser_destroy(c->parser);
    delete c;
}

// Logs and sends r (the stream then carries on by itself); frees c.
void answer(client *c, reply r) {
    const xps_http_head_t *h = xps_http_parser_head(c->parser);
    const char *peer = c->connection ? xps_connection_peer(c->connection) : "(gone)";
    size_t shown = h ? h->target.offset + h->target.length - h->method_name.offset : 0;
    if (h) // the request line up to the target (checked bytes), at most 200 of them
        XPS_LOG(XPS_LOG_INFO, "stage-10", "%s \"%.*s%s\" -> %d %s", peer,
                (int)(shown < 200 ? shown : 200), c->head + h->method_name.offset,
                shown > 200 ? "..." : "", r.status, r.file ? xps_file_mime(r.file) : r.why);
    else
        XPS_LOG(XPS_LOG_INFO, "stage-10", "%s (refused) -> %d %s", peer, r.status, r.why);
    reply_send(c->out, &r);
    c->out = nullptr;
    xps_file_destroy(r.file); // an attached stream has a descriptor of its own
    destroy_client(c);
}

// consume(): request bytes arrived. Append them to the head; the parser
// goes on from where it stopped, whatever the bytes' number and split.
void on_request_bytes(xps_pipe_t *pipe, void *data) {
    auto *c = static_cast<client *>(data);
    size_t got = 0;
    if (xps_pipe_read(pipe, c->head + c->len, sizeof c->head - c->len, &got) != XPS_OK)
        return destroy_client(c);
    c->len += got;
    int rc = xps_http_parser_parse_head(c->parser, c->head, c->len);
    if (rc != XPS_E_AGAIN || c->len == sizeof c->head)
        answer(c, reply_decide(c->parser, rc, c->head, c->len, c->root, xps_loop_core(c->loop)));
}

// source_done(): the client stopped sending before the head was complete.
// Part of a request gets 400; a client that sent nothing, nothing.
void on_request_end(xps_pipe_t *, void *data) {
    auto *c = static_cast<client *>(data);
    if (c->len == 0 || !c->connection)
        return destroy_client(c);
    answer(c, reply{400, "the request ended before its blank line", nullptr, true});
}

// The connection closed itself (reset, error): forget it.
void on_connection_closed(xps_connection_t *, int, void *data) {
    static_cast<client *>(data)->connection = nullptr;
}

} // namespace

void client_start(xps_loop_t *loop, xps_connection_t *connection, const char *root) {
    xps_core_t *core = xps_loop_core(loop);
    auto *c = new (std::nothrow) client{loop, root, connection, nullptr, nullptr,
                                        nullptr, nullptr, 0, {}};
    xps_pipe_t *in = c ? xps_pipe_create(core, sizeof c->head) : nullptr;
    xps_pipe_t *out = in ? xps_pipe_create(core, XPS_PIPE_DEFAULT_THRESHOLD) : nullptr;
    if (out && (c->parser = xps_http_parser_create(nullptr)) &&
        (c->member = xps_core_add_member(core, destroy_client, c))) {
        // Fresh pipes and a fresh connection: attaching cannot fail.
        c->in = in, c->out = out;
        int e = xps_pipe_attach_sink(in, on_request_bytes, on_request_end, c);
        e = e ? e : xps_connection_attach_source(connection, in);
        e = e ? e : xps_connection_attach_sink(connection, out);
        assert(e == XPS_OK);
        (void)e;
        xps_connection_on_close(connection, on_connection_closed, c);
        return xps_pipe_set_sink_ready(in, true);
    }
    XPS_LOG(XPS_LOG_ERROR, "stage-10", "cannot set up a client: out of memory");
    xps_connection_destroy(connection);
    xps_pipe_destroy(in);
    xps_pipe_destroy(out);
    if (c)
        c->connection = nullptr, destroy_client(c);
}
