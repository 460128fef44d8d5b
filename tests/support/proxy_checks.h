/*
 * tests/support/proxy_checks.h — what the checks of the proxying stages
 * (04's proxy on 8080, 08's and 09's on 8001) share.
 *
 * Two kinds of helper. HTTP replies: fetch what the test upstream answers
 * directly, then expect a client of the proxy to receive exactly those
 * bytes (a proxy must relay byte for byte). Streams: a set of non-blocking
 * endpoints (a client of the proxy, and an upstream the check plays itself)
 * driven by poll(), so that the check never blocks in send() or recv() and
 * cannot deadlock against a proxy's back-pressure; then a readable account
 * of what arrived.
 *
 * All of it follows tests/support/harness.h's failure contract.
 */
#ifndef XPS_TESTS_PROXY_CHECKS_H
#define XPS_TESTS_PROXY_CHECKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tests/support/harness.h"

#ifdef __cplusplus
extern "C" {
#endif

/* -------------------------------------------------------- HTTP replies */

/* One reply of the test upstream, as it sends it (small: a head and at
 * most a few KiB of body). */
typedef struct {
    const char *path; /* the GET it answers */
    char bytes[4096]; /* the reply, byte for byte */
    size_t len;       /* of bytes */
} xt_reply_t;

/* Sends "GET path HTTP/1.1" with Host and Connection: close. A failed send
 * is not reported here: it shows up as a missing reply. */
void xt_send_get(int fd, const char *path);

/* Fills *reply with what the upstream on 127.0.0.1:upstream_port answers
 * to GET path, asked directly (around the proxy). Fails the check when it
 * answers nothing (a harness problem, not the student's). */
void xt_fetch_direct(uint16_t upstream_port, const char *path, xt_reply_t *reply);

/* Reads reply->len bytes from fd within 3 s and expects them to equal the
 * reply: "<who> gets the upstream's reply to GET <path> byte for byte".
 * `name` is how messages call the server ("the proxy", "the server"). */
void xt_expect_same_reply(xt_proc_t *server, const char *name, int fd, const char *who,
                          const xt_reply_t *reply);

/* The eXpServer tester's check, shared by every proxying stage: two
 * clients of proxy_port, both connected before either asks (the second
 * asks first), each get exactly what the upstream on upstream_port answers
 * directly to its own GET /test/N. Start the HTTP test upstream first.
 * `name` as for xt_expect_same_reply. */
void xt_check_two_clients_get_the_upstreams_replies(xt_proc_t *server, const char *name,
                                                     uint16_t proxy_port,
                                                     uint16_t upstream_port);

/* Listens on 127.0.0.1:port itself, to play the upstream in a check. Fails
 * the check when the port is taken. */
int xt_listen_local(uint16_t port);

/* The two ends of one relayed connection, when the check plays the
 * upstream itself. */
typedef struct {
    int client;        /* the check's client of the proxy, non-blocking */
    int upstream;      /* the proxy's connection to the check, non-blocking */
    size_t first_sent; /* bytes of `first` the client sent before the accept */
} xt_relay_t;

/* Listens on 127.0.0.1:upstream_port, connects a client to proxy_port,
 * sends `first` (first_len bytes, may be 0: a proxy may wait for a
 * client's first byte before it connects) and accepts the proxy's
 * connection. Fails the check unless both connections come within 3 s;
 * `name` as for xt_expect_same_reply. The listener is closed either way. */
xt_relay_t xt_relay_open(xt_proc_t *server, const char *name, uint16_t proxy_port,
                         uint16_t upstream_port, const void *first, size_t first_len);

/* ------------------------------------------------------------ streams */

/* One end of a stream through the proxy: it sends `out` and expects `want`,
 * reading at most read_cap bytes per poll() round. */
typedef struct {
    int fd;                    /* non-blocking */
    const unsigned char *out;  /* the bytes to send */
    const unsigned char *want; /* the bytes this end should receive */
    unsigned char *in;         /* where received bytes go (as long as want) */
    size_t len;                /* of out, want and in */
    size_t sent, got;          /* progress */
    size_t read_cap;           /* most bytes one recv() may take; 0: read nothing now */
    bool writes_first;         /* reads nothing until all of out is sent */
    bool closed;               /* recv() saw EOF or an error */
    bool send_failed;          /* send() failed (the peer closed on us) */
    int recv_errno;            /* errno of a failed recv(), 0 for EOF */
    size_t full_waits;         /* times it had bytes to send and the socket was full */
} xt_streamer_t;

/* The most streamers one xt_pump() call drives. */
#define XT_PUMP_MAX 4

/* One round: waits up to wait_ms for any of the streamers, then each sends
 * what its socket takes and reads up to its read_cap. */
void xt_pump(xt_streamer_t *const *ss, int count, int wait_ms);

/* Pumps until every streamer has received all it wants, one is closed,
 * nothing has moved for 3 s (*stuck: a deadlock, likely) or 15 s have
 * passed. Returns the milliseconds spent. */
int64_t xt_pump_until_done(xt_streamer_t *const *ss, int count, bool *stuck);

/* All `len` bytes arrived and equal `want`. */
bool xt_stream_intact(const xt_streamer_t *s);

/* What one end received, for an observed text: "all N bytes arrived
 * intact", "N bytes arrived, then the connection was closed (EOF)", ...
 * `stuck` as from xt_pump_until_done. Two rotating static buffers, so one
 * message can describe both directions. */
const char *xt_stream_outcome(const xt_streamer_t *s, bool stuck);

#ifdef __cplusplus
}
#endif

#endif /* XPS_TESTS_PROXY_CHECKS_H */
