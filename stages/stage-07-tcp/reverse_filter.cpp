// stages/stage-07-tcp/reverse_filter.cpp — see reverse_filter.h.
#include "stages/stage-07-tcp/reverse_filter.h"

#include <algorithm>
#include <cassert>
#include <new>

#include "core/xps_buffer.h"
#include "core/xps_core.h"
#include "core/xps_logger.h"
#include "core/xps_pipe.h"

namespace {

// One client's filter, between its two pipes.
struct reverse_filter {
    xps_core_t *core;          // borrowed: where the filter is a member
    xps_pipe_t *in;            // we are its sink; NULL once detached
    xps_pipe_t *out;           // we are its source; NULL once detached
    xps_core_member_t *member; // so that destroying the core frees us
};

void free_filter(void *object) { delete static_cast<reverse_filter *>(object); }

// Leaves whichever pipe we are still attached to (the other end is told:
// the connection sends what is left of `out`, then FIN; or stops reading
// into `in`) and frees us after this batch of callbacks. No callback
// reaches us after a detach, so this runs once.
void finish(reverse_filter *f) {
    xps_core_remove_member(f->member);
    if (f->in)
        xps_pipe_detach_sink(f->in);
    if (f->out)
        xps_pipe_detach_source(f->out);
    f->in = f->out = nullptr;
    xps_core_defer_free(f->core, free_filter, f);
}

void destroy_member(void *object) { finish(static_cast<reverse_filter *>(object)); }

// A copy of one chunk, reversed but for a trailing '\n'. NULL when out of
// memory.
xps_buffer_t *reversed(const xps_pipe_chunk_t &chunk) {
    xps_buffer_t *copy = xps_buffer_copy_of(chunk.bytes, chunk.len);
    if (copy) {
        char *bytes = xps_buffer_data(copy);
        size_t len = chunk.len;
        if (len > 0 && bytes[len - 1] == '\n')
            len--;
        std::reverse(bytes, bytes + len);
    }
    return copy;
}

// consume() on `in`: chunks are waiting. Move them, reversed, while `out`
// has room; once it is full, wait for on_room() (back-pressure).
void on_chunks(xps_pipe_t *in, void *data) {
    auto *f = static_cast<reverse_filter *>(data);
    xps_pipe_chunk_t chunk;
    while (xps_pipe_room(f->out) > 0 && xps_pipe_peek(in, &chunk) == XPS_OK) {
        assert(chunk.bytes); // a connection writes bytes, never file ranges
        xps_buffer_t *copy = reversed(chunk);
        xps_pipe_consume(in, chunk.len);
        int error = copy ? xps_pipe_write(f->out, copy) : XPS_E_NOMEM;
        if (error != XPS_OK) { // the connection's sink is gone, or no memory
            if (error == XPS_E_NOMEM)
                XPS_LOG(XPS_LOG_ERROR, "stage-07", "reverse filter: out of memory");
            return finish(f);
        }
    }
    if (xps_pipe_room(f->out) == 0) {
        xps_pipe_set_sink_ready(in, false);
        xps_pipe_set_source_ready(f->out, true);
    }
}

// produce() on `out`: it has room again. Take chunks from `in` again (the
// pipe calls on_chunks() if it holds any).
void on_room(xps_pipe_t *out, void *data) {
    auto *f = static_cast<reverse_filter *>(data);
    xps_pipe_set_source_ready(out, false);
    xps_pipe_set_sink_ready(f->in, true);
}

// source_done() on `in`: the client sent FIN and every chunk went through.
void on_input_done(xps_pipe_t *, void *data) { finish(static_cast<reverse_filter *>(data)); }

// sink_gone() on `out`: the connection stopped sending (a reset, an error).
void on_output_gone(xps_pipe_t *, void *data) { finish(static_cast<reverse_filter *>(data)); }

} // namespace

int reverse_filter_start(xps_core_t *core, xps_pipe_t *in, xps_pipe_t *out) noexcept {
    auto *f = new (std::nothrow) reverse_filter{core, in, out, nullptr};
    if (f)
        f->member = xps_core_add_member(core, destroy_member, f);
    if (!f || !f->member) {
        delete f;
        return XPS_E_NOMEM;
    }
    // Fresh pipes whose ends nobody else takes: attaching cannot fail.
    int error = xps_pipe_attach_sink(in, on_chunks, on_input_done, f);
    error = error ? error : xps_pipe_attach_source(out, on_room, on_output_gone, f);
    assert(error == XPS_OK);
    (void)error;
    xps_pipe_set_sink_ready(in, true); // reverse whatever comes; out starts with room
    return XPS_OK;
}
