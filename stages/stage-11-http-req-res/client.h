// stages/stage-11-http-req-res/client.h — one HTTP client of stage 11, from
// accept to the response: its bytes are appended to a head buffer that the
// parser reads as it grows; the head becomes a request object, the answer a
// response object. (Stage-local C++; stage 12's session module does this
// job for good.)
#ifndef XPS_STAGE_11_CLIENT_H
#define XPS_STAGE_11_CLIENT_H

#include "modules/tcp/xps_tcp.h"

// Takes over a just-accepted connection: reads one request head from it,
// answers it with files from `root` (borrowed, must outlive the loop), then
// lets the connection close. On failure (out of memory) the connection is
// destroyed and the failure logged.
void client_start(xps_loop_t *loop, xps_connection_t *connection, const char *root);

#endif // XPS_STAGE_11_CLIENT_H
