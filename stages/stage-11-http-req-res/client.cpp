// stages/stage-11-http-req-res/client.cpp — one client of stage 11: two
// pipes, a head buffer and a parser, as in stage 10; then a request object
// for what the head said and a response object for the answer, where stage
// 10 had reply.cpp's snprintf.
//
//   connection ──in──▶ on_request_bytes: append to head[], parse_head()
//   connection ◀─out── answer(): serialised response (one buffer), then the file
#include "stages/stage-11-http-req-res/client.h"

#include <cstdio>
#include <ctime>
#include <new>

#include "core/xps_core.h"
#include "core/xps_logger.h"
#include "core/xps_pipe.h"
#include "http/xps_http_parser.h"
#include "http/xps_http_request.h"
#include "http/xps_http_response.h"
#include "modules/file/xps_file.h"

namespace {

// A client, from accept until its response is queued.
struct client {
    xps_loop_t *loop;             // borrowed
    const char *root;             // borrowed: the document root
    xps_connection_t *connection; // the peer; NULL once it has closed itself
    xps_pipe_t *in, *out;         // request bytes in; the response out (NULL once sent)
    xps_http_parser_t *parser;    // owned
    xps_core_member_t *member;    // so that shutting down mid-request frees us
    size_t len;                   // bytes in head
    char head[16384];             // the parser's buffer; its default max_head
};

void no_op(xps_pipe_t *, void *) {}

// Ends a response stream: a source that comes and goes. The connection
// sends what is queued, then closes. Accepts NULL.
void end_stream(xps_pipe_t *out) {
    if (out && xps_pipe_attach_source(out, no_op, no_op, nullptr) == XPS_OK)
        xps_pipe_detach_source(out);
}

void destroy_client(void *object) {
    auto *c = static_cast<client *>(object);
    xps_core_remove_member(c->member);
    if (c->connection)
        xps_connection_on_close(c->connection, nullptr, nullptr);
    if (c->in)
        xps_pipe_detach_sink(c->in); // the connection stops reading
    end_stream(c->out);
    xps_http_parser_destroy(c->parser);
    delete c;
}

// "400 Bad Request: header line without a colon" as a text/plain page.
xps_http_response_t *error_page(int status, const char *why) {
    char text[256];
    const char *reason = xps_http_reason(status);
    std::snprintf(text, sizeof text, "%d %s: %s", status, reason ? reason : "", why);
    return xps_http_response_create_error(status, text, nullptr);
}

// A head the parser refused, or never finished: its status and reason,
// except 505, answered 400 as in the course (stage 13 sends 505).
xps_http_response_t *refusal(client *c, int rc, const char **why) {
    int status = rc == XPS_E_INVAL ? xps_http_parser_status(c->parser)
                 : rc == XPS_E_EOF ? 400 : rc == XPS_E_AGAIN ? 431 : 500;
    *why = rc == XPS_E_INVAL   ? xps_http_parser_reason(c->parser)
           : rc == XPS_E_EOF   ? "the request ended before its blank line"
           : rc == XPS_E_AGAIN ? "request head over the limit" : "out of memory";
    return error_page(status == 505 ? 400 : status, *why);
}

// A head the parser accepted: GET and HEAD serve the file at the request's
// decoded path (*file, for the caller to send and destroy).
xps_http_response_t *serve(client *c, const xps_http_head_t *h, xps_file_t **file,
                           const char **why) {
    // An unknown method token ("GOT"): 400, the course's reading, where
    // RFC 9110 §9.1 and stage 13 say 501 (stage 10's chapter explains).
    if (h->method == XPS_HTTP_METHOD_OTHER)
        return error_page(400, *why = "unknown method (the course's reading: a bad request)");
    if (h->method != XPS_HTTP_METHOD_GET && h->method != XPS_HTTP_METHOD_HEAD)
        return error_page(501, *why = "only GET and HEAD are served here");
    int error = XPS_OK;
    xps_http_request_t *req = xps_http_request_create(h, c->head, &error);
    const char *path = req ? xps_http_request_path(req) : nullptr; // decoded, normalised
    if (path)
        *file = xps_file_create(xps_loop_core(c->loop), c->root, path, &error);
    xps_http_request_destroy(req); // the file module has what it needs
    xps_http_response_t *res = *file ? xps_http_response_create(200, nullptr) : nullptr;
    if (res) {
        xps_http_response_set_header(res, "Content-Type", xps_file_mime(*file)); // a valid value
        xps_http_response_set_body_length(res, xps_file_size(*file));
    }
    if (*file)
        return res;
    // A directory is "no such file" too: index files come in stage 12.
    *why = error == XPS_E_INVAL                 ? "invalid percent-escape in the path"
           : !path && error == XPS_E_PERMISSION ? "the path climbs above the root"
           : error == XPS_E_NOTFOUND            ? "no such file"
           : error == XPS_E_PERMISSION          ? "outside the root, or not readable by everyone"
                                                : xps_strerror(error);
    int status = error == XPS_E_NOTFOUND ? 404 : error == XPS_E_PERMISSION ? 403 : 500;
    return error_page(error == XPS_E_INVAL ? 400 : status, *why);
}

// Answers, logs, queues the whole head as one buffer (one write), then the
// file; frees the client. The connection closes after the last byte.
void answer(client *c, int rc) {
    const xps_http_head_t *h = rc == XPS_OK ? xps_http_parser_head(c->parser) : nullptr;
    xps_file_t *file = nullptr;
    const char *why = "";
    xps_http_response_t *res = h ? serve(c, h, &file, &why) : refusal(c, rc, &why);
    size_t from = h ? h->method_name.offset : 0, to = h ? h->target.offset + h->target.length : 0;
    XPS_LOG(XPS_LOG_INFO, "stage-11", "%s \"%.*s\" -> %d %s",
            c->connection ? xps_connection_peer(c->connection) : "(gone)", (int)(to - from),
            c->head + from, res ? xps_http_response_status(res) : 0, why);
    if (res && h && h->method == XPS_HTTP_METHOD_HEAD)
        xps_http_response_omit_body(res); // the same head, no body
    int error = res ? xps_http_response_set_header(res, "Connection", "close") : XPS_E_NOMEM;
    xps_buffer_t *bytes = error ? nullptr : xps_http_response_serialize(res, time(nullptr), &error);
    error = bytes ? xps_pipe_write(c->out, bytes) : error; // the pipe takes the buffer
    if (error == XPS_OK && file && xps_http_response_has_body(res) &&
        xps_file_attach(file, c->out, XPS_FILE_RANGE) == XPS_OK)
        c->out = nullptr; // the file stream is the source now, and ends it
    xps_http_response_destroy(res);
    xps_file_destroy(file); // an attached stream has a descriptor of its own
    destroy_client(c);      // ends c->out if still ours
}

// consume(): request bytes arrived; the parser resumes where it stopped.
void on_request_bytes(xps_pipe_t *pipe, void *data) {
    auto *c = static_cast<client *>(data);
    size_t got = 0;
    if (xps_pipe_read(pipe, c->head + c->len, sizeof c->head - c->len, &got) != XPS_OK)
        return destroy_client(c);
    c->len += got;
    int rc = xps_http_parser_parse_head(c->parser, c->head, c->len);
    if (rc != XPS_E_AGAIN || c->len == sizeof c->head) // full: the parser's max_head is this size
        answer(c, rc);
}

// source_done(): the peer stopped sending before its blank line. Part of a
// request gets 400; a client that sent nothing, nothing.
void on_request_end(xps_pipe_t *, void *data) {
    auto *c = static_cast<client *>(data);
    if (c->len == 0 || !c->connection)
        return destroy_client(c);
    answer(c, XPS_E_EOF);
}

void on_connection_closed(xps_connection_t *, int, void *data) {
    static_cast<client *>(data)->connection = nullptr;
}

} // namespace

void client_start(xps_loop_t *loop, xps_connection_t *connection, const char *root) {
    xps_core_t *core = xps_loop_core(loop);
    auto *c = new (std::nothrow)
        client{loop, root, connection, nullptr, nullptr, nullptr, nullptr, 0, {}};
    xps_pipe_t *in = c ? xps_pipe_create(core, sizeof c->head) : nullptr;
    xps_pipe_t *out = in ? xps_pipe_create(core, XPS_PIPE_DEFAULT_THRESHOLD) : nullptr;
    if (!out || !(c->parser = xps_http_parser_create(nullptr)) ||
        !(c->member = xps_core_add_member(core, destroy_client, c))) {
        XPS_LOG(XPS_LOG_ERROR, "stage-11", "cannot set up a client: out of memory");
        xps_connection_destroy(connection);
        xps_pipe_destroy(in);
        xps_pipe_destroy(out);
        if (c)
            xps_http_parser_destroy(c->parser);
        delete c;
        return;
    }
    c->in = in, c->out = out; // fresh pipes, a fresh connection: attaching cannot fail
    xps_pipe_attach_sink(in, on_request_bytes, on_request_end, c);
    xps_connection_attach_source(connection, in);
    xps_connection_attach_sink(connection, out);
    xps_connection_on_close(connection, on_connection_closed, c);
    xps_pipe_set_sink_ready(in, true);
}

