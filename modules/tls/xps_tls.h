/*
 * modules/tls/xps_tls.h — TLS for a connection's bytes, with OpenSSL 3,
 * non-blocking: the server side of a TLS listener (certificates chosen by
 * SNI), the client side of a connection to an upstream that speaks TLS,
 * one TLS state per connection, and what the loop needs to drive it
 * (which readiness a step waits for). [stage 19]
 *
 * Why a module of its own: TLS sits between the socket and everything
 * above it. The connection asks this module to turn ciphertext on the
 * socket into plaintext and back; the pipe graph above never knows. The
 * rules it enforces are the project's, not OpenSSL's defaults:
 *  - TLS 1.2 and 1.3 only (RFC 8996 retired 1.0 and 1.1); TLS 1.2 only
 *    with forward-secret AEAD suites (ECDHE with AES-GCM or ChaCha20-
 *    Poly1305, RFC 9325 §4.2); no renegotiation, no compression;
 *  - ALPN: "http/1.1" is chosen when the client offers it; a client that
 *    offers only other protocols gets the no_application_protocol alert
 *    (RFC 7301 §3.2); a client that offers none is served HTTP/1.1;
 *  - SNI (RFC 6066 §3): the server name picks the certificate of the
 *    entry whose hostnames hold it (case-insensitive, a trailing dot
 *    ignored, "*.example.org" matching one label); no name, or one that
 *    no entry holds, gets the first entry's certificate;
 *  - resumption with session tickets (RFC 8446 §2.2), one ticket key for
 *    every certificate of a listener, so a resumed client may change name;
 *  - a clean end: close_notify sent and, when it comes, read as EOF.
 * A certificate or key that is missing, unreadable, not PEM, or not a
 * pair is refused when the listener is made, with the file named: a
 * server never starts half-configured.
 *
 * The client side (a proxy's upstream connections, route key
 * "upstream_tls"): the same versions and suites, ALPN offering "http/1.1"
 * only, SNI sent when asked, and — unless verification is turned off —
 * the upstream's certificate checked: its chain up to a trusted CA (a PEM
 * file of CAs, or the system's store) and its name, the host name (RFC
 * 6125) or IP address the connection was made to (X509_VERIFY_PARAM's
 * host and IP checks). A certificate that fails fails the handshake
 * (XPS_E_FAIL), with OpenSSL's reason why in xps_tls_error ("certificate
 * verify failed: self-signed certificate in certificate chain").
 *
 * Driving it. Every step (handshake, recv, send, shutdown) returns at once:
 * XPS_OK (done or some bytes moved), XPS_E_AGAIN with *want saying which
 * readiness of the socket to wait for before trying the SAME step again
 * (TLS may need to write to read, and read to write), XPS_E_EOF (the peer
 * sent close_notify, or closed after it), XPS_E_CLOSED (the peer reset or
 * closed without close_notify: a truncation, RFC 8446 §6.1), XPS_E_FAIL
 * (a TLS error: garbage, a refused version, a bad MAC; the reason is in
 * xps_tls_error()). A failed connection concerns that connection only.
 *
 * kTLS: when the kernel offers it (Linux's tls module) and OpenSSL was
 * built with it, the record layer moves into the kernel after the
 * handshake and xps_tls_sendfile() sends a file range with sendfile():
 * no copy through user space. Otherwise xps_tls_sendfile() says
 * XPS_E_INVAL and the caller reads the range and uses xps_tls_send().
 *
 * Lifecycle: xps_tls_server_create (at start-up, from the listener's
 * certificates) → xps_tls_accept per connection → handshake → recv/send
 * → shutdown → xps_tls_conn_destroy; xps_tls_server_destroy after every
 * connection made from it. The client side likewise: xps_tls_client_create
 * → xps_tls_connect per connection → ... → xps_tls_client_destroy.
 * Ownership: a server or client owns its OpenSSL context(s); a connection
 * owns its SSL and borrows the socket's fd (it never closes it) and the
 * server or client it was made from.
 * Threading: none (one loop per process).
 */
#ifndef XPS_MODULES_TLS_H
#define XPS_MODULES_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/xps.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xps_tls_server_s xps_tls_server_t;
typedef struct xps_tls_conn_s xps_tls_conn_t;
typedef struct xps_tls_client_s xps_tls_client_t;

/* What a step waits for before it is tried again (a bit set). */
enum {
    XPS_TLS_WANT_READ = 1,  /* the socket must be readable */
    XPS_TLS_WANT_WRITE = 2, /* the socket must be writable */
};

/* A buffer of this size holds any message this module writes, whole. */
#define XPS_TLS_ERR_MAX 512

/* One certificate of a listener, and the names it is for. */
typedef struct xps_tls_cert {
    const char *cert_path;             /* PEM: the certificate, then its chain */
    const char *key_path;              /* PEM: its private key */
    const char *const *hostnames;      /* the names SNI picks it for; may be NULL */
    size_t hostname_count;
} xps_tls_cert_t;

/* ------------------------------------------------------------ server */

/* The TLS side of one listener: `count` certificates (at least one; the
 * first is the default). NULL when one of them cannot be used, with the
 * reason and the file in `err` (e.g. "certs/site.key: does not match the
 * certificate certs/site.crt"). */
xps_tls_server_t *xps_tls_server_create(const xps_tls_cert_t *certs, size_t count, char *err,
                                        size_t err_size) XPS_NOEXCEPT;

/* Frees it. Accepts NULL. Every connection made from it must be gone. */
void xps_tls_server_destroy(xps_tls_server_t *server) XPS_NOEXCEPT;

/* ------------------------------------------------------------ client */

/* The client side for connections to upstreams: `ca_file` a PEM file of
 * the CAs to trust (NULL: the system's store), `verify` whether the
 * upstream's certificate is checked at all (false: any certificate is
 * accepted — encryption without authentication, for a test upstream).
 * NULL when the CA file cannot be used (missing, unreadable, no
 * certificate in it) or the system store cannot be loaded, with the
 * reason and the file in `err`. */
xps_tls_client_t *xps_tls_client_create(const char *ca_file, bool verify, char *err,
                                        size_t err_size) XPS_NOEXCEPT;

/* Frees it. Accepts NULL. Every connection made from it must be gone. */
void xps_tls_client_destroy(xps_tls_client_t *client) XPS_NOEXCEPT;

/* ------------------------------------------------------- connections */

/* The TLS state of an accepted connection on `fd` (non-blocking). Nothing
 * is read or written yet: call xps_tls_handshake(). NULL and *error
 * XPS_E_NOMEM when out of memory. */
xps_tls_conn_t *xps_tls_accept(xps_tls_server_t *server, int fd, int *error) XPS_NOEXCEPT;

/* The TLS state of a connection we made on `fd` (non-blocking, connected)
 * to an upstream: `server_name` is sent as SNI (NULL: none; an IP literal
 * is never sent, RFC 6066 §3), `peer_name` is what the certificate must
 * name when the client verifies: a host name or an IP address (NULL:
 * the chain alone). Nothing is read or written yet: call
 * xps_tls_handshake(), which speaks first. NULL and *error XPS_E_NOMEM
 * when out of memory. */
xps_tls_conn_t *xps_tls_connect(xps_tls_client_t *client, int fd, const char *server_name,
                                const char *peer_name, int *error) XPS_NOEXCEPT;

/* Frees it without a word to the peer (see xps_tls_shutdown). Accepts
 * NULL. Does not close the fd. */
void xps_tls_conn_destroy(xps_tls_conn_t *conn) XPS_NOEXCEPT;

/* One step of the handshake: XPS_OK once it is complete (protocol, ALPN
 * and server name are then known), XPS_E_AGAIN with *want, or an error as
 * above. */
int xps_tls_handshake(xps_tls_conn_t *conn, unsigned *want) XPS_NOEXCEPT;

/* Up to `len` bytes of plaintext into `buf`: XPS_OK with *got > 0,
 * XPS_E_AGAIN with *want, XPS_E_EOF at close_notify, or an error. */
int xps_tls_recv(xps_tls_conn_t *conn, void *buf, size_t len, size_t *got,
                 unsigned *want) XPS_NOEXCEPT;

/* Sends up to `len` bytes of `buf`: XPS_OK with *sent > 0 (it may be less
 * than len: send the rest next), XPS_E_AGAIN with *want, or an error. A
 * step that said XPS_E_AGAIN must be retried with the same bytes. */
int xps_tls_send(xps_tls_conn_t *conn, const void *buf, size_t len, size_t *sent,
                 unsigned *want) XPS_NOEXCEPT;

/* With kTLS on this connection: sends up to `len` bytes of file `fd` from
 * `offset` with the kernel's sendfile (XPS_OK with *sent, XPS_E_AGAIN
 * with *want, or an error). Without it: XPS_E_INVAL, nothing sent. */
int xps_tls_sendfile(xps_tls_conn_t *conn, int fd, off_t offset, size_t len, size_t *sent,
                     unsigned *want) XPS_NOEXCEPT;

/* Sends close_notify: XPS_OK once it is out (the caller may then close;
 * waiting for the peer's is not required, RFC 8446 §6.1), XPS_E_AGAIN
 * with *want, or an error (close anyway). */
int xps_tls_shutdown(xps_tls_conn_t *conn, unsigned *want) XPS_NOEXCEPT;

/* --------------------------------------------------------- what it is */

/* "TLSv1.3" or "TLSv1.2" once the handshake is done, else "". */
const char *xps_tls_version(const xps_tls_conn_t *conn) XPS_NOEXCEPT;

/* The protocol ALPN chose ("http/1.1"), or "" when the client offered none. */
const char *xps_tls_alpn(const xps_tls_conn_t *conn) XPS_NOEXCEPT;

/* The server name the client sent (SNI), or "" when none; on the client
 * side, the one we sent. */
const char *xps_tls_server_name(const xps_tls_conn_t *conn) XPS_NOEXCEPT;

/* Which certificate the handshake used: its index in the server's list. */
size_t xps_tls_cert_index(const xps_tls_conn_t *conn) XPS_NOEXCEPT;

/* Whether the handshake resumed an earlier session (a ticket). */
bool xps_tls_resumed(const xps_tls_conn_t *conn) XPS_NOEXCEPT;

/* Whether the kernel does the record layer's sending (kTLS). */
bool xps_tls_ktls_send(const xps_tls_conn_t *conn) XPS_NOEXCEPT;

/* Why the last step failed, in words (OpenSSL's reason, or ours), or "". */
const char *xps_tls_error(const xps_tls_conn_t *conn) XPS_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* XPS_MODULES_TLS_H */
