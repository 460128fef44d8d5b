/*
 * tests/unit/tcp_tls.c — the TLS transport of modules/tcp (xps_tcp.h,
 * "Transport"): a listener whose options name a TLS server, on a real
 * core and loop, against real OpenSSL clients over loopback.
 *
 * The server runs the loop in the test's thread; each client runs in a
 * thread of its own with blocking OpenSSL calls and socket timeouts (so a
 * server that never answers fails the test instead of hanging it). The
 * loop runs until every client thread has finished, or a deadline.
 *
 * Covered: TLS 1.3 and TLS 1.2 clients echoing 1 MiB in 16 KiB steps
 * (the handshake driven by the loop under the first reads, ALPN
 * http/1.1, the client's close_notify read as the end of the stream, and
 * ours sent back before the FIN), while on the same listener a client
 * sends garbage, one plain HTTP, one offers only TLS 1.1 and one stops in
 * the middle of its ClientHello: each of those ends (or waits) alone, the
 * two good clients are served whole. Then a file range sent over TLS
 * (kTLS when the kernel has it, else read in pieces) byte-exact, and a
 * connection parked (kept alive) between exchanges with its TLS state.
 * And the client side (xps_connection_start_tls, what a proxy's
 * upstream_tls uses): an xps connection in the same loop speaks TLS to
 * the echo listener, verifying its certificate (chain and name), gets its
 * bytes back and ends with close_notify both ways; a certificate for
 * another name fails the handshake with the reason, unless verification
 * is off. Every test ends with the process's descriptor count back where it was.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tests/support/harness.h" /* xt_fd_count */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "core/xps_buffer.h"
#include "core/xps_core.h"
#include "core/xps_pipe.h"
#include "modules/loop/xps_loop.h"
#include "modules/tcp/xps_tcp.h"
#include "modules/tls/xps_tls.h"

enum {
    RUN_MS = 20000,      /* deadline of one run */
    CLIENT_TIMEOUT_S = 10, /* a client's blocking call gives up after this */
    STEP = 16 * 1024,    /* a client writes this much, then reads it back */
    ECHO_BYTES = 1 << 20,
    FILE_BYTES = 3 * 1024 * 1024 + 123, /* several pieces, not a multiple of one */
    MAX_CLIENTS = 8,
};

/* ------------------------------------------------------- certificate */

static char dir[64], crt_path[128], key_path[128];

static int setup_files(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/xps-unit-tcp-tls-%d", (int)getpid());
    snprintf(crt_path, sizeof crt_path, "%s/t.crt", dir);
    snprintf(key_path, sizeof key_path, "%s/t.key", dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return -1;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    if (!key || !x)
        return -1;
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1,
                               -1, 0);
    X509_set_issuer_name(x, name);
    int ok = X509_sign(x, key, EVP_sha256()) > 0;
    FILE *k = fopen(key_path, "w"), *c = fopen(crt_path, "w");
    ok = ok && k && c && PEM_write_PrivateKey(k, key, NULL, NULL, 0, NULL, NULL) == 1 &&
         PEM_write_X509(c, x) == 1;
    if (k)
        fclose(k);
    if (c)
        fclose(c);
    X509_free(x);
    EVP_PKEY_free(key);
    return ok ? 0 : -1;
}

static int remove_files(void **state)
{
    (void)state;
    unlink(crt_path);
    unlink(key_path);
    rmdir(dir);
    return 0;
}

/* ------------------------------------------------------------ server */

typedef enum { SERVE_ECHO, SERVE_FILE, SERVE_PARK } serve_t;

typedef struct server {
    xps_core_t *core;
    xps_loop_t *loop;
    xps_tls_server_t *tls;
    xps_listener_t *listener;
    uint16_t port;
    serve_t serve;
    xps_loop_timer_t *tick, *deadline;
    atomic_int clients_running;
    int fds_before;
    /* what the callbacks saw */
    int accepts, closes, closes_ok, closes_failed;
    char versions[MAX_CLIENTS][16]; /* TLS version of each connection that closed well */
    char alpns[MAX_CLIENTS][16];
    int file_fd;
    /* SERVE_PARK: one exchange at a time ("ping" in, "pong" out), then parked */
    xps_connection_t *conn;
    xps_pipe_t *in, *out;
    char got[8];
    size_t got_len;
    int answered, wakes;
    int closes_awaited; /* a run also waits for this many close callbacks */
} server_t;

static void on_close(xps_connection_t *c, int reason, void *data)
{
    server_t *s = data;
    if (reason == XPS_OK && s->closes_ok < MAX_CLIENTS) {
        const xps_tls_conn_t *t = xps_connection_tls(c);
        assert_non_null(t);
        snprintf(s->versions[s->closes_ok], sizeof s->versions[0], "%s", xps_tls_version(t));
        snprintf(s->alpns[s->closes_ok], sizeof s->alpns[0], "%s", xps_tls_alpn(t));
    }
    s->closes++;
    s->closes_ok += reason == XPS_OK;
    s->closes_failed += reason == XPS_E_FAIL;
}

static void attach_echo(server_t *s, xps_connection_t *c)
{
    xps_pipe_t *p = xps_pipe_create(s->core, 64 * 1024);
    assert_non_null(p);
    assert_int_equal(xps_connection_attach_sink(c, p), XPS_OK);
    assert_int_equal(xps_connection_attach_source(c, p), XPS_OK);
}

static void file_produce(xps_pipe_t *p, void *data) { (void)p, (void)data; }
static void file_sink_gone(xps_pipe_t *p, void *data) { (void)data, xps_pipe_detach_source(p); }

/* "head:", the whole file, ":tail", then the end of the stream. */
static void attach_file(server_t *s, xps_connection_t *c)
{
    xps_pipe_t *p = xps_pipe_create(s->core, 64 * 1024);
    assert_non_null(p);
    assert_int_equal(xps_connection_attach_sink(c, p), XPS_OK);
    assert_int_equal(xps_pipe_attach_source(p, file_produce, file_sink_gone, s), XPS_OK);
    assert_int_equal(xps_pipe_write(p, xps_buffer_copy_of("head:", 5)), XPS_OK);
    assert_int_equal(xps_pipe_write_file(p, s->file_fd, 0, FILE_BYTES), XPS_OK);
    assert_int_equal(xps_pipe_write(p, xps_buffer_copy_of(":tail", 5)), XPS_OK);
    xps_pipe_detach_source(p);
}

/* SERVE_PARK: an HTTP-like owner. Reads a 4-byte request, queues a
 * 4-byte answer, parks the connection and lets go of both pipes; on
 * wake, the same again. */
static void attach_exchange(server_t *s, xps_connection_t *c);
static void on_park_wake(xps_connection_t *c, void *data);

static void park_consume(xps_pipe_t *p, void *data)
{
    server_t *s = data;
    size_t n = 0;
    assert_int_equal(xps_pipe_read(p, s->got + s->got_len, 4 - s->got_len, &n), XPS_OK);
    s->got_len += n;
    if (s->got_len < 4)
        return;
    assert_memory_equal(s->got, "ping", 4);
    assert_int_equal(xps_pipe_write(s->out, xps_buffer_copy_of("pong", 4)), XPS_OK);
    s->answered++;
    assert_int_equal(xps_connection_park(s->conn, on_park_wake, s), XPS_OK);
    xps_pipe_detach_source(s->out); /* sent, then parked: no FIN */
    xps_pipe_detach_sink(p);
    s->in = s->out = NULL;
}

static void park_source_done(xps_pipe_t *p, void *data) /* the peer ended first */
{
    server_t *s = data;
    xps_pipe_detach_sink(p);
    s->in = NULL;
    if (s->out) {
        xps_pipe_detach_source(s->out);
        s->out = NULL;
    }
}

static void park_sink_gone(xps_pipe_t *p, void *data)
{
    server_t *s = data;
    xps_pipe_detach_source(p);
    s->out = NULL;
}

static void attach_exchange(server_t *s, xps_connection_t *c)
{
    s->conn = c;
    s->got_len = 0;
    s->in = xps_pipe_create(s->core, 64 * 1024);
    s->out = xps_pipe_create(s->core, 64 * 1024);
    assert_non_null(s->in);
    assert_non_null(s->out);
    assert_int_equal(xps_connection_attach_source(c, s->in), XPS_OK);
    assert_int_equal(xps_pipe_attach_sink(s->in, park_consume, park_source_done, s), XPS_OK);
    xps_pipe_set_sink_ready(s->in, true);
    assert_int_equal(xps_connection_attach_sink(c, s->out), XPS_OK);
    assert_int_equal(xps_pipe_attach_source(s->out, file_produce, park_sink_gone, s), XPS_OK);
}

/* Woken: the peer sent the next request, or closed (the next read says so). */
static void on_park_wake(xps_connection_t *c, void *data)
{
    server_t *s = data;
    s->wakes++;
    xps_connection_on_close(c, on_close, s); /* park cleared it */
    attach_exchange(s, c);
}

static void on_accept(xps_listener_t *l, xps_connection_t *c, void *data)
{
    (void)l;
    server_t *s = data;
    s->accepts++;
    assert_non_null(xps_connection_tls(c));
    xps_connection_on_close(c, on_close, s);
    if (s->serve == SERVE_FILE)
        attach_file(s, c);
    else if (s->serve == SERVE_PARK)
        attach_exchange(s, c);
    else
        attach_echo(s, c);
}

static void on_tick(xps_loop_timer_t *t, void *data)
{
    server_t *s = data;
    if (atomic_load(&s->clients_running) == 0 && s->closes >= s->closes_awaited) {
        xps_loop_stop(s->loop);
        return;
    }
    xps_loop_timer_start(t, 1);
}

static void on_deadline(xps_loop_timer_t *t, void *data)
{
    (void)t;
    xps_loop_stop(((server_t *)data)->loop);
}

static void server_start(server_t *s, serve_t serve)
{
    memset(s, 0, sizeof *s);
    s->serve = serve;
    s->file_fd = -1;
    s->fds_before = xt_fd_count(getpid());
    s->core = xps_core_create();
    assert_non_null(s->core);
    int err = 12345;
    s->loop = xps_loop_create(s->core, &err);
    assert_non_null(s->loop);
    char why[XPS_TLS_ERR_MAX];
    xps_tls_cert_t cert = {crt_path, key_path, NULL, 0};
    s->tls = xps_tls_server_create(&cert, 1, why, sizeof why);
    assert_non_null(s->tls);
    xps_tcp_options_t o = xps_tcp_default_options();
    o.tls = s->tls;
    s->listener = xps_listener_create(s->loop, "127.0.0.1", 0, &o, on_accept, s, &err);
    assert_non_null(s->listener);
    s->port = xps_listener_port(s->listener);
    s->tick = xps_loop_timer_create(s->loop, on_tick, s);
    s->deadline = xps_loop_timer_create(s->loop, on_deadline, s);
    assert_non_null(s->tick);
    assert_non_null(s->deadline);
}

/* Runs the loop until every client thread has finished (and the close
 * callbacks awaited have come); false at the deadline. */
static bool run(server_t *s)
{
    xps_loop_timer_start(s->tick, 0);
    xps_loop_timer_start(s->deadline, RUN_MS);
    assert_int_equal(xps_loop_run(s->loop), XPS_OK);
    return atomic_load(&s->clients_running) == 0 && s->closes >= s->closes_awaited;
}

static void server_finish(server_t *s)
{
    xps_loop_timer_destroy(s->tick);
    xps_loop_timer_destroy(s->deadline);
    xps_core_destroy(s->core);
    xps_tls_server_destroy(s->tls); /* after every connection made from it */
    if (s->file_fd >= 0)
        close(s->file_fd);
    assert_int_equal(xt_fd_count(getpid()), s->fds_before);
}

/* ----------------------------------------------------------- clients */

typedef enum {
    CLIENT_ECHO,      /* TLS: 1 MiB in steps, close_notify, expect ours and EOF */
    CLIENT_FILE,      /* TLS: read everything to the end */
    CLIENT_PINGS,     /* TLS: "ping" → "pong" three times, pausing between them */
    CLIENT_LAST_WORD, /* TLS: STEP bytes and close_notify in one segment, then read */
    CLIENT_GARBAGE,   /* raw bytes that are not TLS: expect the close */
    CLIENT_PLAIN,     /* a plain HTTP request: expect the close */
    CLIENT_HALF,      /* the start of a ClientHello, then nothing until told to go */
} client_kind_t;

typedef struct client {
    pthread_t thread;
    server_t *server;
    client_kind_t kind;
    int min_version, max_version; /* of a TLS client */
    /* results */
    bool connected;               /* the handshake succeeded */
    char version[16];
    char alpn[16];
    bool echoed;                  /* every byte came back, in order */
    bool got_close_notify;        /* SSL_read said ZERO_RETURN at the end */
    bool closed_by_server;        /* a raw client saw EOF or a reset */
    size_t got;                   /* bytes read */
    unsigned char *data;          /* CLIENT_FILE: what was read */
    atomic_int *go;               /* CLIENT_HALF: set when it may close; such a client
                                     is not counted in clients_running */
} client_t;

static int connect_to(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {CLIENT_TIMEOUT_S, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads exactly len bytes; false on an error or the end first. */
static bool ssl_read_all(SSL *ssl, unsigned char *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        size_t n = 0;
        if (SSL_read_ex(ssl, buf + got, len - got, &n) != 1)
            return false;
        got += n;
    }
    return true;
}

static bool ssl_write_all(SSL *ssl, const unsigned char *buf, size_t len)
{
    size_t n = 0;
    return SSL_write_ex(ssl, buf, len, &n) == 1 && n == len; /* blocking: all or an error */
}

/* One step of an exchange: STEP bytes of `seed` out, the same back. */
static bool exchange(SSL *ssl, unsigned char seed)
{
    unsigned char out[STEP], in[STEP];
    for (size_t i = 0; i < STEP; i++)
        out[i] = (unsigned char)(seed + i * 7);
    return ssl_write_all(ssl, out, STEP) && ssl_read_all(ssl, in, STEP) &&
           memcmp(in, out, STEP) == 0;
}

static void tls_client(client_t *c, int fd)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(ctx);
    SSL_CTX_set_min_proto_version(ctx, c->min_version);
    SSL_CTX_set_max_proto_version(ctx, c->max_version);
    if (c->max_version < TLS1_2_VERSION)
        SSL_CTX_set_security_level(ctx, 0); /* let this OpenSSL even offer TLS 1.1 */
    static const unsigned char alpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn);
    SSL *ssl = SSL_new(ctx);
    assert_non_null(ssl);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "localhost");
    if (SSL_connect(ssl) == 1) {
        c->connected = true;
        snprintf(c->version, sizeof c->version, "%s", SSL_get_version(ssl));
        const unsigned char *p = NULL;
        unsigned len = 0;
        SSL_get0_alpn_selected(ssl, &p, &len);
        snprintf(c->alpn, sizeof c->alpn, "%.*s", (int)len, p ? (const char *)p : "");
        bool ok = true;
        if (c->kind == CLIENT_ECHO) {
            for (size_t done = 0; ok && done < ECHO_BYTES; done += STEP)
                ok = exchange(ssl, (unsigned char)(done / STEP));
        } else if (c->kind == CLIENT_LAST_WORD) {
            /* Corked: the bytes and the close_notify leave in one segment,
             * so the server reads both in one go, with one edge. */
            unsigned char out[STEP], in[STEP];
            memset(out, 'w', sizeof out);
            int on = 1, off = 0;
            setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on);
            ok = ssl_write_all(ssl, out, STEP);
            SSL_shutdown(ssl);
            setsockopt(fd, IPPROTO_TCP, TCP_CORK, &off, sizeof off);
            ok = ok && ssl_read_all(ssl, in, STEP) && memcmp(in, out, STEP) == 0;
            size_t n = 0;
            int r = SSL_read_ex(ssl, in, 1, &n);
            c->got_close_notify = r != 1 && SSL_get_error(ssl, r) == SSL_ERROR_ZERO_RETURN;
        } else if (c->kind == CLIENT_PINGS) {
            unsigned char pong[4];
            for (int i = 0; ok && i < 3; i++) {
                if (i > 0)
                    usleep(50 * 1000); /* the server parks meanwhile */
                ok = ssl_write_all(ssl, (const unsigned char *)"ping", 4) &&
                     ssl_read_all(ssl, pong, 4) && memcmp(pong, "pong", 4) == 0;
            }
        } else if (c->kind == CLIENT_FILE) {
            size_t cap = FILE_BYTES + 64, n = 0;
            c->data = malloc(cap);
            assert_non_null(c->data);
            while (c->got < cap && SSL_read_ex(ssl, c->data + c->got, cap - c->got, &n) == 1)
                c->got += n;
            c->got_close_notify = SSL_get_error(ssl, 0) == SSL_ERROR_ZERO_RETURN;
        }
        c->echoed = ok;
        if (c->kind != CLIENT_FILE && c->kind != CLIENT_LAST_WORD) {
            SSL_shutdown(ssl); /* our close_notify: the end of what we send */
            unsigned char extra;
            size_t n = 0;
            int r = SSL_read_ex(ssl, &extra, 1, &n);
            c->got_close_notify = r != 1 && SSL_get_error(ssl, r) == SSL_ERROR_ZERO_RETURN;
        }
    }
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    ERR_clear_error();
}

/* Waits for the server to close a raw client (EOF or a reset). */
static bool closed_by_peer(int fd)
{
    char buf[512];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return true;
        if (n < 0)
            return false; /* the timeout: still open */
    }
}

static void *client_main(void *arg)
{
    client_t *c = arg;
    int fd = connect_to(c->server->port);
    if (fd >= 0) {
        static const char garbage[] = "\x01\x02\x03 this is not a TLS record at all\r\n\r\n";
        static const char plain[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
        /* A record header announcing a 512-byte ClientHello, and 4 bytes of it. */
        static const char half[] = "\x16\x03\x01\x02\x00\x01\x00\x01";
        switch (c->kind) {
        case CLIENT_GARBAGE:
            c->closed_by_server = send(fd, garbage, sizeof garbage - 1, 0) > 0 && closed_by_peer(fd);
            break;
        case CLIENT_PLAIN:
            c->closed_by_server = send(fd, plain, sizeof plain - 1, 0) > 0 && closed_by_peer(fd);
            break;
        case CLIENT_HALF:
            assert_true(send(fd, half, sizeof half - 1, 0) > 0);
            while (!atomic_load(c->go))
                usleep(1000);
            break;
        default:
            tls_client(c, fd);
        }
        close(fd);
    }
    if (!c->go)
        atomic_fetch_sub(&c->server->clients_running, 1);
    return NULL;
}

static void client_start(server_t *s, client_t *c, client_kind_t kind, int min_v, int max_v)
{
    c->server = s;
    c->kind = kind;
    c->min_version = min_v;
    c->max_version = max_v;
    if (!c->go) /* a client that waits to be let go is not waited for */
        atomic_fetch_add(&s->clients_running, 1);
    assert_int_equal(pthread_create(&c->thread, NULL, client_main, c), 0);
}

/* ------------------------------------------------------------- tests */

/* Two good clients and five bad ones on one listener at once. */
static void tls_echo_survives_bad_clients_beside_it(void **state)
{
    (void)state;
    server_t s;
    server_start(&s, SERVE_ECHO);
    atomic_int go = 0;
    client_t c[6];
    memset(c, 0, sizeof c);
    c[0].go = &go;
    client_start(&s, &c[0], CLIENT_HALF, 0, 0);
    client_start(&s, &c[1], CLIENT_GARBAGE, 0, 0);
    client_start(&s, &c[2], CLIENT_PLAIN, 0, 0);
    client_start(&s, &c[3], CLIENT_ECHO, TLS1_1_VERSION, TLS1_1_VERSION);
    client_start(&s, &c[4], CLIENT_ECHO, TLS1_3_VERSION, TLS1_3_VERSION);
    client_start(&s, &c[5], CLIENT_ECHO, TLS1_2_VERSION, TLS1_2_VERSION);
    assert_true(run(&s)); /* all but the half handshake, which still hangs */
    atomic_store(&go, 1);
    for (int i = 0; i < 6; i++)
        pthread_join(c[i].thread, NULL);

    assert_true(c[4].connected);
    assert_string_equal(c[4].version, "TLSv1.3");
    assert_string_equal(c[4].alpn, "http/1.1");
    assert_true(c[4].echoed);
    assert_true(c[4].got_close_notify);
    assert_true(c[5].connected);
    assert_string_equal(c[5].version, "TLSv1.2");
    assert_string_equal(c[5].alpn, "http/1.1");
    assert_true(c[5].echoed);
    assert_true(c[5].got_close_notify);
    assert_false(c[3].connected); /* TLS 1.1 is refused */
    assert_true(c[1].closed_by_server);
    assert_true(c[2].closed_by_server);
    /* The server's view: both good ones ended well, with what they agreed. */
    assert_int_equal(s.accepts, 6);
    assert_int_equal(s.closes_ok, 2);
    bool v13 = !strcmp(s.versions[0], "TLSv1.3") || !strcmp(s.versions[1], "TLSv1.3");
    bool v12 = !strcmp(s.versions[0], "TLSv1.2") || !strcmp(s.versions[1], "TLSv1.2");
    assert_true(v13 && v12);
    assert_string_equal(s.alpns[0], "http/1.1");
    assert_string_equal(s.alpns[1], "http/1.1");
    assert_true(s.closes_failed >= 3); /* garbage, plain HTTP, TLS 1.1 */
    server_finish(&s);
}

static void file_range_goes_out_over_tls_byte_exact(void **state)
{
    (void)state;
    server_t s;
    server_start(&s, SERVE_FILE);
    char path[160];
    snprintf(path, sizeof path, "%s/file", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    unsigned char *content = malloc(FILE_BYTES);
    assert_non_null(content);
    for (size_t i = 0; i < FILE_BYTES; i++)
        content[i] = (unsigned char)(i * 31 + (i >> 11));
    assert_int_equal(write(fd, content, FILE_BYTES), FILE_BYTES);
    unlink(path);
    s.file_fd = fd;
    client_t c = {0};
    client_start(&s, &c, CLIENT_FILE, TLS1_2_VERSION, TLS1_3_VERSION);
    assert_true(run(&s));
    pthread_join(c.thread, NULL);
    assert_true(c.connected);
    assert_int_equal(c.got, FILE_BYTES + 10);
    assert_memory_equal(c.data, "head:", 5);
    assert_memory_equal(c.data + 5, content, FILE_BYTES);
    assert_memory_equal(c.data + 5 + FILE_BYTES, ":tail", 5);
    assert_true(c.got_close_notify);
    free(c.data);
    free(content);
    server_finish(&s);
}

/* Keep-alive over TLS: the connection parks between exchanges with its
 * TLS state (the keys live in OpenSSL, not in a pipe), the next record
 * wakes it, and the client's close_notify, arriving while parked, wakes
 * it to read the end: it then closes well, sending its own close_notify. */
static void a_parked_tls_connection_wakes_for_the_next_request_and_the_end(void **state)
{
    (void)state;
    server_t s;
    server_start(&s, SERVE_PARK);
    s.closes_awaited = 1;
    client_t c = {0};
    client_start(&s, &c, CLIENT_PINGS, TLS1_3_VERSION, TLS1_3_VERSION);
    assert_true(run(&s));
    pthread_join(c.thread, NULL);
    assert_true(c.connected);
    assert_true(c.echoed); /* three pongs */
    assert_int_equal(s.answered, 3);
    assert_int_equal(s.accepts, 1); /* one connection for the three */
    assert_int_equal(s.wakes, 3);   /* two requests and the end */
    assert_true(c.got_close_notify);
    assert_int_equal(s.closes_ok, 1);
    server_finish(&s);
}

/* Bytes and close_notify read in one go: the end is found after the
 * bytes, with no edge left to announce it, and must not wait for one. */
static void close_notify_right_after_the_bytes_ends_the_stream_at_once(void **state)
{
    (void)state;
    server_t s;
    server_start(&s, SERVE_ECHO);
    client_t c = {0};
    client_start(&s, &c, CLIENT_LAST_WORD, TLS1_3_VERSION, TLS1_3_VERSION);
    assert_true(run(&s));
    pthread_join(c.thread, NULL);
    assert_true(c.connected);
    assert_true(c.echoed);
    assert_true(c.got_close_notify);
    assert_int_equal(s.closes_ok, 1);
    server_finish(&s);
}

/* ------------------------------------------------- the client side */

/* An xps connection speaking TLS as a client to the echo listener, in the
 * same loop: MESSAGE up, then the end of the stream (close_notify, FIN),
 * and the echo read back until the server's end. */
static const char MESSAGE[] = "hello over tls";

typedef struct tls_client {
    server_t *server;
    char got[64];
    size_t got_len;
    bool down_ended;
    bool closed;
    int reason;
    char version[16], alpn[16], error[XPS_TLS_ERR_MAX];
} tls_client_t;

static void down_consume(xps_pipe_t *p, void *data)
{
    tls_client_t *t = data;
    size_t n = 0;
    assert_int_equal(xps_pipe_read(p, t->got + t->got_len, sizeof t->got - t->got_len, &n),
                     XPS_OK);
    t->got_len += n;
}

static void down_done(xps_pipe_t *p, void *data)
{
    tls_client_t *t = data;
    xps_pipe_detach_sink(p);
    t->down_ended = true;
}

static void client_closed(xps_connection_t *c, int reason, void *data)
{
    tls_client_t *t = data;
    const xps_tls_conn_t *tls = xps_connection_tls(c);
    assert_non_null(tls);
    t->closed = true;
    t->reason = reason;
    snprintf(t->version, sizeof t->version, "%s", xps_tls_version(tls));
    snprintf(t->alpn, sizeof t->alpn, "%s", xps_tls_alpn(tls));
    snprintf(t->error, sizeof t->error, "%s", xps_tls_error(tls));
    t->server->closes++; /* run() waits for it too */
}

/* Connects to the echo listener through `client` with `peer_name` as the
 * name to verify (and SNI), runs the exchange to both closes. */
static void run_client(server_t *s, xps_tls_client_t *client, const char *peer_name,
                       tls_client_t *t)
{
    memset(t, 0, sizeof *t);
    t->server = s;
    s->closes_awaited = 2; /* the server's connection and ours */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(s->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    int err = 12345;
    xps_connection_t *c = xps_connection_create(s->loop, fd, NULL, &err);
    assert_non_null(c);
    assert_null(xps_connection_tls(c));
    assert_int_equal(xps_connection_start_tls(c, client, peer_name, peer_name), XPS_OK);
    assert_int_equal(xps_connection_start_tls(c, client, peer_name, peer_name), XPS_E_INVAL);
    xps_connection_on_close(c, client_closed, t);
    xps_pipe_t *up = xps_pipe_create(s->core, 64 * 1024);
    xps_pipe_t *down = xps_pipe_create(s->core, 64 * 1024);
    assert_non_null(up);
    assert_non_null(down);
    assert_int_equal(xps_connection_attach_sink(c, up), XPS_OK);
    assert_int_equal(xps_pipe_attach_source(up, file_produce, file_sink_gone, s), XPS_OK);
    assert_int_equal(xps_pipe_write(up, xps_buffer_copy_of(MESSAGE, sizeof MESSAGE - 1)), XPS_OK);
    xps_pipe_detach_source(up); /* all of it: then our end */
    assert_int_equal(xps_connection_attach_source(c, down), XPS_OK);
    assert_int_equal(xps_pipe_attach_sink(down, down_consume, down_done, t), XPS_OK);
    xps_pipe_set_sink_ready(down, true);
    assert_true(run(s));
}

static void a_client_connection_verifies_the_server_and_echoes(void **state)
{
    (void)state;
    server_t s;
    server_start(&s, SERVE_ECHO);
    char why[XPS_TLS_ERR_MAX] = "";
    xps_tls_client_t *client = xps_tls_client_create(crt_path, true, why, sizeof why);
    assert_non_null(client);
    tls_client_t t;
    run_client(&s, client, "localhost", &t); /* the certificate's CN */
    assert_true(t.closed);
    assert_int_equal(t.reason, XPS_OK);
    assert_true(t.down_ended);
    assert_int_equal(t.got_len, sizeof MESSAGE - 1);
    assert_memory_equal(t.got, MESSAGE, sizeof MESSAGE - 1);
    assert_true(!strcmp(t.version, "TLSv1.3") || !strcmp(t.version, "TLSv1.2"));
    assert_string_equal(t.alpn, "http/1.1");
    assert_int_equal(s.closes_ok, 1); /* our close_notify read as the end */
    assert_string_equal(s.alpns[0], "http/1.1");
    server_finish(&s);
    xps_tls_client_destroy(client);
}

static void a_client_refuses_a_certificate_for_another_name_unless_told_not_to(void **state)
{
    (void)state;
    char why[XPS_TLS_ERR_MAX] = "";
    xps_tls_client_t *verifying = xps_tls_client_create(crt_path, true, why, sizeof why);
    xps_tls_client_t *trusting = xps_tls_client_create(NULL, false, why, sizeof why);
    assert_non_null(verifying);
    assert_non_null(trusting);
    server_t s;
    server_start(&s, SERVE_ECHO);
    tls_client_t t;
    run_client(&s, verifying, "other.test", &t);
    assert_true(t.closed);
    assert_int_equal(t.reason, XPS_E_FAIL);
    assert_non_null(strstr(t.error, "certificate verify failed"));
    assert_int_equal(t.got_len, 0);
    assert_string_equal(t.version, ""); /* no session was made */
    server_finish(&s);
    server_start(&s, SERVE_ECHO);
    run_client(&s, trusting, "other.test", &t);
    assert_int_equal(t.reason, XPS_OK);
    assert_int_equal(t.got_len, sizeof MESSAGE - 1);
    server_finish(&s);
    /* and a CA file that is not there is refused, naming it */
    assert_null(xps_tls_client_create("/nonexistent/ca.pem", true, why, sizeof why));
    assert_non_null(strstr(why, "/nonexistent/ca.pem"));
    xps_tls_client_destroy(verifying);
    xps_tls_client_destroy(trusting);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tls_echo_survives_bad_clients_beside_it),
        cmocka_unit_test(file_range_goes_out_over_tls_byte_exact),
        cmocka_unit_test(a_parked_tls_connection_wakes_for_the_next_request_and_the_end),
        cmocka_unit_test(close_notify_right_after_the_bytes_ends_the_stream_at_once),
        cmocka_unit_test(a_client_connection_verifies_the_server_and_echoes),
        cmocka_unit_test(a_client_refuses_a_certificate_for_another_name_unless_told_not_to),
    };
    return cmocka_run_group_tests(tests, setup_files, remove_files);
}
