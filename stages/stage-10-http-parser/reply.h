// stages/stage-10-http-parser/reply.h — stage 10's hand-built responses:
// which status a request gets, and the bytes that say so. (Stage-local C++,
// not a module: stage 11 replaces it with http/'s response module.)
#ifndef XPS_STAGE_10_REPLY_H
#define XPS_STAGE_10_REPLY_H

#include "core/xps_pipe.h"
#include "http/xps_http_parser.h"
#include "modules/file/xps_file.h"

// The answer to one request.
struct reply {
    int status;          // the status code to send
    const char *why;     // a few words for the log and an error body; static
    xps_file_t *file;    // 200: the file, open (the caller destroys it); else NULL
    bool with_body;      // false for HEAD: the same headers, no body
};

// Decides the answer: rc is what parse_head returned for the head in buf.
// Parser refusals keep their status, except 505, which this stage answers
// with 400 (the course's rule; stage 13 answers 505). GET and HEAD are
// served from `root`; an unknown method token ("GOT") gets 400 (the
// course's rule again; RFC 9110 and stage 13: 501); other known methods 501.
reply reply_decide(const xps_http_parser_t *parser, int rc, const char *buf, size_t len,
                   const char *root, xps_core_t *core);

// Writes the status line and every header (and an error's short body) into
// `out` as ONE buffer, then the file as a file range (sendfile) when there is
// a body to send, then ends the stream. Becomes and stays the pipe's source
// until the end, so `out` must have no source yet. Returns XPS_OK, or an
// error code if the response could not be queued (the stream is ended
// anyway).
int reply_send(xps_pipe_t *out, const reply *r);

// Ends `out` with nothing sent (the connection then closes), or releases it
// if its sink is already gone. Accepts NULL.
void reply_end(xps_pipe_t *out);

#endif // XPS_STAGE_10_REPLY_H
