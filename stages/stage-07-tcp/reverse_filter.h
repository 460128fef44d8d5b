// stages/stage-07-tcp/reverse_filter.h — the string reversal of stages 01-06
// as a pipe filter, for stage 07's --reverse mode.
//
// Why it exists: the course's tester still wants every string reversed at
// its stages 8 (non-blocking sockets) and 9 (edge-triggered epoll), which
// our stage 07 covers together with its stage 10 (pipes), where the course
// switches to echo. `stage-07 --reverse` is stages 8 and 9.
//
// Why a filter and not an `if` in the connection: the connection module
// only moves bytes between a socket and pipes; what the server DOES with
// the bytes is whatever is plugged into the pipe graph. Echo is the
// connection feeding its own sink; reversal is one more stage between two
// pipes:
//
//   connection ──source──▶ [ in ] ──▶ reverse filter ──▶ [ out ] ──sink──▶ connection
//
// The same place will hold gzip and TLS later (ARCHITECTURE.md §4), and the
// connection never learns of any of them.
//
// The rule, as in stages 01 and 06: each chunk, as one recv() read it (the
// connection writes each read into the pipe as an item of its own), goes
// back reversed, a trailing '\n' left last: "abcd\n" -> "dcba\n".
//
// Back-pressure holds through the filter: it takes a chunk from `in` only
// while `out` has room. When `out` is full it stops, so `in` fills, so the
// connection stops reading its socket and TCP pushes back on the client.
// Memory per client: two pipe thresholds at most, whatever the client does.
//
// Ends: when the client has sent everything (FIN) and every chunk went
// through, the filter ends `out`, so the connection sends the rest and then
// FIN. When the connection goes (reset), the filter ends too. Either way it
// detaches from both pipes and frees itself; it is a member of the core, so
// destroying the core (SIGTERM) frees one still running.
#ifndef XPS_STAGE07_REVERSE_FILTER_H
#define XPS_STAGE07_REVERSE_FILTER_H

#include "core/xps.h"

// Becomes the sink of `in` and the source of `out` (two new pipes of
// `core`, neither end of them taken by anyone else). Returns XPS_OK, or
// XPS_E_NOMEM with nothing attached.
int reverse_filter_start(xps_core_t *core, xps_pipe_t *in, xps_pipe_t *out) noexcept;

#endif // XPS_STAGE07_REVERSE_FILTER_H
