// stages/stage-06-core-loop/reverse_service.h — stage 06's reversal service
// as loop objects: a listener per port and a connection per client.
//
// Why a stage-local file and not a module: the listener/connection pair is
// the part of the program that changes next. Stage 07 replaces it with
// modules/tcp (non-blocking, buffered, pipes); until then it is this
// stage's own code, kept out of main.cpp so that main only composes.
//
// Every object here:
//   - is registered with the loop, whose epoll_event.data.ptr leads straight
//     back to it (no lookup by fd, unlike stage 05's table);
//   - is a member of the loop's core, so xps_core_destroy() destroys every
//     listener and every client still connected, newest first;
//   - may be destroyed inside its own callback: the loop frees the
//     registration after the batch, and the object goes through
//     xps_core_defer_free() too.
//
// A listener accepts clients; each client gets every chunk it sends back
// reversed (a trailing '\n' stays last). Accepted sockets are BLOCKING and
// replies go out with a send-all loop, as in the course: a client that never
// reads stalls the whole process (the chapter's experiment; stage 07 fixes
// it). Connections do not belong to their listener: destroying a listener
// leaves its clients connected.
#ifndef XPS_STAGE06_REVERSE_SERVICE_H
#define XPS_STAGE06_REVERSE_SERVICE_H

#include <cstdint>

#include "core/xps.h"

struct reverse_listener;

// Listens on host:port (a numeric address), watches it with `loop`
// (level-triggered) and joins the loop's core as a member. Returns NULL and
// sets *error (the socket module's codes, e.g. XPS_E_ADDRINUSE, already
// logged) on failure, leaving nothing behind.
reverse_listener *reverse_listener_create(xps_loop_t *loop, const char *host, uint16_t port,
                                          int *error) noexcept;

// Stops listening: leaves the loop and the core, closes the socket. Clients
// already accepted stay. Safe inside any loop callback. Accepts NULL.
void reverse_listener_destroy(reverse_listener *listener) noexcept;

#endif // XPS_STAGE06_REVERSE_SERVICE_H
