/*
 * tests/unit/tls.c — modules/tls/xps_tls.h checked against its contract.
 * The server side is ours; the client is OpenSSL itself, over a socket
 * pair, both non-blocking and stepped in turn in one thread, so every
 * XPS_E_AGAIN/want the module returns is exercised. The certificates are
 * made here (EC P-256, self-signed) into a scratch folder.
 *
 * Tables: certificate files refused with the file named; SNI names → the
 * certificate picked; client versions and ALPN offers → what is agreed or
 * refused. Then bytes both ways (1 MiB through partial writes),
 * close_notify read as EOF and a close without it as a truncation,
 * plaintext HTTP sent to the TLS side refused, a resumed session, and the
 * sendfile path (kTLS when the kernel has it, else XPS_E_INVAL).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/xps.h"
#include "modules/tls/xps_tls.h"

static char dir[64];            /* the scratch folder */
static char paths[9][128]; /* a.crt a.key b.crt b.key w.crt w.key junk other.key enc.key */
enum { A_CRT, A_KEY, B_CRT, B_KEY, W_CRT, W_KEY, JUNK, OTHER_KEY, ENC_KEY, FILES };

/* ------------------------------------------------------- certificates */

static EVP_PKEY *write_key(const char *path)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    assert_non_null(key);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
    return key;
}

static void write_cert(const char *path, EVP_PKEY *key, const char *cn)
{
    X509 *x = X509_new();
    assert_non_null(x);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, name);
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_X509(f, x), 1);
    fclose(f);
    X509_free(x);
}

static int setup_files(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/xps-unit-tls-%d", (int)getpid());
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return -1;
    const char *names[] = {"a.crt", "a.key", "b.crt", "b.key", "w.crt", "w.key", "junk.crt",
                           "other.key", "enc.key"};
    for (int i = 0; i < FILES; i++)
        snprintf(paths[i], sizeof paths[i], "%s/%s", dir, names[i]);
    const char *cns[] = {"default.test", "www.example.org", "wild.test"};
    for (int i = 0; i < 3; i++) {
        EVP_PKEY *key = write_key(paths[2 * i + 1]);
        write_cert(paths[2 * i], key, cns[i]);
        EVP_PKEY_free(key);
    }
    EVP_PKEY_free(write_key(paths[OTHER_KEY]));
    EVP_PKEY *key = EVP_EC_gen("P-256"); /* with a passphrase: a server cannot type it */
    FILE *e = fopen(paths[ENC_KEY], "w");
    assert_int_equal(PEM_write_PrivateKey(e, key, EVP_aes_128_cbc(), (unsigned char *)"pass", 4,
                                          NULL, NULL), 1);
    fclose(e);
    EVP_PKEY_free(key);
    FILE *f = fopen(paths[JUNK], "w");
    fputs("this is not a certificate\n", f);
    fclose(f);
    return 0;
}

static int remove_files(void **state)
{
    (void)state;
    for (int i = 0; i < FILES; i++)
        unlink(paths[i]);
    rmdir(dir);
    return 0;
}

/* -------------------------------------------------------- the server */

static const char *const b_names[] = {"www.example.org", "Example.ORG."};
static const char *const w_names[] = {"*.wild.test"};

static xps_tls_server_t *three_cert_server(void)
{
    const xps_tls_cert_t certs[] = {
        {paths[A_CRT], paths[A_KEY], NULL, 0},
        {paths[B_CRT], paths[B_KEY], b_names, 2},
        {paths[W_CRT], paths[W_KEY], w_names, 1},
    };
    char err[XPS_TLS_ERR_MAX] = "";
    xps_tls_server_t *s = xps_tls_server_create(certs, 3, err, sizeof err);
    if (!s)
        fail_msg("xps_tls_server_create: %s", err);
    return s;
}

/* A connected pair: ours on fds[0] (server), OpenSSL's client on fds[1]. */
typedef struct {
    int fds[2];
    xps_tls_conn_t *server;
    SSL_CTX *client_ctx;
    SSL *client;
} pair_t;

typedef struct {
    int max_version;           /* 0: OpenSSL's default (1.3) */
    const char *sni;           /* NULL: none */
    const unsigned char *alpn; /* wire format; NULL: no ALPN */
    size_t alpn_len;
    SSL_SESSION *resume;       /* NULL: a full handshake */
} client_opts_t;

static void open_pair(pair_t *p, xps_tls_server_t *server, const client_opts_t *o)
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p->fds), 0);
    int error = XPS_OK;
    p->server = xps_tls_accept(server, p->fds[0], &error);
    assert_non_null(p->server);
    p->client_ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(p->client_ctx);
    SSL_CTX_set_min_proto_version(p->client_ctx, TLS1_VERSION);
    if (o && o->max_version) {
        SSL_CTX_set_max_proto_version(p->client_ctx, o->max_version);
        SSL_CTX_set_security_level(p->client_ctx, 0); /* let it offer 1.0/1.1 */
    }
    p->client = SSL_new(p->client_ctx);
    SSL_set_fd(p->client, p->fds[1]);
    SSL_set_connect_state(p->client);
    if (o && o->sni)
        SSL_set_tlsext_host_name(p->client, o->sni);
    if (o && o->alpn)
        SSL_set_alpn_protos(p->client, o->alpn, (unsigned)o->alpn_len);
    if (o && o->resume)
        SSL_set_session(p->client, o->resume);
}

static void close_pair(pair_t *p)
{
    xps_tls_conn_destroy(p->server);
    SSL_free(p->client);
    SSL_CTX_free(p->client_ctx);
    if (p->fds[0] >= 0)
        close(p->fds[0]);
    if (p->fds[1] >= 0)
        close(p->fds[1]);
    ERR_clear_error();
}

/* Steps both handshakes until both are done or one fails; returns the
 * server's last result (XPS_OK when it completed). */
static int handshake(pair_t *p, int *client_ok)
{
    int rc = XPS_E_AGAIN, c = 0;
    for (int i = 0; i < 50 && (rc == XPS_E_AGAIN || c != 1); i++) {
        if (c != 1) {
            c = SSL_do_handshake(p->client);
            if (c <= 0) {
                int e = SSL_get_error(p->client, c);
                if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                    break;
            }
        }
        if (rc == XPS_E_AGAIN) {
            unsigned want = 0;
            rc = xps_tls_handshake(p->server, &want);
            if (rc == XPS_E_AGAIN)
                assert_true(want == XPS_TLS_WANT_READ || want == XPS_TLS_WANT_WRITE);
        }
    }
    /* A failing server sends its alert; let the client read it. */
    if (rc != XPS_OK && c != 1)
        c = SSL_do_handshake(p->client);
    if (client_ok)
        *client_ok = c == 1;
    return rc;
}

/* ------------------------------------------------------------- tests */

struct refusal {
    int cert, key;      /* indexes into paths, or -1 for a missing file */
    const char *named;  /* the file the message must name */
    const char *says;   /* and what it must say */
};

static void bad_certificates_are_refused_with_the_file_named(void **state)
{
    (void)state;
    char missing_crt[160], missing_key[160];
    snprintf(missing_crt, sizeof missing_crt, "%s/none.crt", dir);
    snprintf(missing_key, sizeof missing_key, "%s/none.key", dir);
    const struct refusal rows[] = {
        {-1, A_KEY, "none.crt", "cannot read the certificate: No such file or directory"},
        {A_CRT, -1, "none.key", "cannot read the private key: No such file or directory"},
        {JUNK, A_KEY, "junk.crt", "not a PEM certificate"},
        {A_CRT, JUNK, "junk.crt", "not a PEM private key"},
        {A_CRT, ENC_KEY, "enc.key", "not a PEM private key without a passphrase"},
        {A_CRT, OTHER_KEY, "other.key", "does not match the certificate"},
        {A_CRT, B_KEY, "b.key", "does not match the certificate"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        xps_tls_cert_t cert = {rows[i].cert < 0 ? missing_crt : paths[rows[i].cert],
                               rows[i].key < 0 ? missing_key : paths[rows[i].key], NULL, 0};
        char err[XPS_TLS_ERR_MAX] = "";
        xps_tls_server_t *s = xps_tls_server_create(&cert, 1, err, sizeof err);
        if (s || !strstr(err, rows[i].named) || !strstr(err, rows[i].says))
            fail_msg("row %zu: expected a refusal naming %s and saying \"%s\"; got %s: \"%s\"", i,
                     rows[i].named, rows[i].says, s ? "a server" : "NULL", err);
    }
    char err[XPS_TLS_ERR_MAX] = "";
    assert_null(xps_tls_server_create(NULL, 0, err, sizeof err));
    assert_non_null(strstr(err, "at least one certificate"));
}

static void a_client_without_sni_gets_tls13_http11_and_the_default(void **state)
{
    (void)state;
    xps_tls_server_t *server = three_cert_server();
    pair_t p;
    open_pair(&p, server, &(client_opts_t){.alpn = (const unsigned char *)"\x08http/1.1",
                                           .alpn_len = 9});
    int client_ok = 0;
    assert_int_equal(handshake(&p, &client_ok), XPS_OK);
    assert_true(client_ok);
    assert_string_equal(xps_tls_version(p.server), "TLSv1.3");
    assert_string_equal(xps_tls_alpn(p.server), "http/1.1");
    assert_string_equal(xps_tls_server_name(p.server), "");
    assert_int_equal(xps_tls_cert_index(p.server), 0);
    assert_false(xps_tls_resumed(p.server));
    X509 *peer = SSL_get1_peer_certificate(p.client);
    char cn[64] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
    assert_string_equal(cn, "default.test");
    X509_free(peer);
    close_pair(&p);
    xps_tls_server_destroy(server);
}

static void sni_picks_the_certificate_whose_hostnames_hold_the_name(void **state)
{
    (void)state;
    const struct { const char *sni; size_t index; const char *cn; } rows[] = {
        {"www.example.org", 1, "www.example.org"},
        {"EXAMPLE.org", 1, "www.example.org"},     /* case and the config's trailing dot */
        {"example.org.", 1, "www.example.org"},
        {"a.wild.test", 2, "wild.test"},           /* *.wild.test: one label */
        {"b.a.wild.test", 0, "default.test"},      /* two labels: not the wildcard's */
        {"wild.test", 0, "default.test"},          /* no label: neither */
        {"unknown.test", 0, "default.test"},
    };
    xps_tls_server_t *server = three_cert_server();
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        pair_t p;
        open_pair(&p, server, &(client_opts_t){.sni = rows[i].sni});
        int client_ok = 0;
        int rc = handshake(&p, &client_ok);
        X509 *peer = client_ok ? SSL_get1_peer_certificate(p.client) : NULL;
        char cn[64] = "";
        if (peer)
            X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
        X509_free(peer);
        if (rc != XPS_OK || !client_ok || xps_tls_cert_index(p.server) != rows[i].index ||
            strcmp(cn, rows[i].cn) != 0 || strcmp(xps_tls_server_name(p.server), rows[i].sni))
            fail_msg("SNI %s: expected certificate %zu (%s); got rc %d, index %zu, CN \"%s\", "
                     "name \"%s\"", rows[i].sni, rows[i].index, rows[i].cn, rc,
                     xps_tls_cert_index(p.server), cn, xps_tls_server_name(p.server));
        close_pair(&p);
    }
    xps_tls_server_destroy(server);
}

static void versions_and_alpn_offers_are_agreed_or_refused(void **state)
{
    (void)state;
    const struct {
        int max_version;
        const char *alpn; /* wire format, or NULL */
        size_t alpn_len;
        bool agreed;
        const char *version, *protocol;
    } rows[] = {
        {0, "\x08http/1.1", 9, true, "TLSv1.3", "http/1.1"},
        {0, "\x02h2\x08http/1.1", 12, true, "TLSv1.3", "http/1.1"}, /* h2 first: still 1.1 */
        {0, NULL, 0, true, "TLSv1.3", ""},                         /* no ALPN: HTTP/1.1 */
        {0, "\x02h2", 3, false, "", ""},                           /* only h2: alert */
        {TLS1_2_VERSION, "\x08http/1.1", 9, true, "TLSv1.2", "http/1.1"},
        {TLS1_1_VERSION, NULL, 0, false, "", ""},                  /* RFC 8996 */
        {TLS1_VERSION, NULL, 0, false, "", ""},
    };
    xps_tls_server_t *server = three_cert_server();
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        pair_t p;
        open_pair(&p, server, &(client_opts_t){.max_version = rows[i].max_version,
                                               .alpn = (const unsigned char *)rows[i].alpn,
                                               .alpn_len = rows[i].alpn_len});
        int client_ok = 0;
        int rc = handshake(&p, &client_ok);
        bool agreed = rc == XPS_OK && client_ok;
        if (agreed != rows[i].agreed || strcmp(xps_tls_version(p.server), rows[i].version) ||
            strcmp(xps_tls_alpn(p.server), rows[i].protocol) ||
            (!agreed && (rc != XPS_E_FAIL || !xps_tls_error(p.server)[0])))
            fail_msg("row %zu: expected %s %s \"%s\"; got rc %d (client %s), %s \"%s\", error "
                     "\"%s\"", i, rows[i].agreed ? "agreed" : "refused", rows[i].version,
                     rows[i].protocol, rc, client_ok ? "done" : "not done",
                     xps_tls_version(p.server), xps_tls_alpn(p.server), xps_tls_error(p.server));
        if (agreed) {
            const char *suite = SSL_get_cipher_name(p.client);
            if (strcmp(rows[i].version, "TLSv1.2") == 0 &&
                (!strstr(suite, "ECDHE") || (!strstr(suite, "GCM") && !strstr(suite, "CHACHA"))))
                fail_msg("row %zu: TLS 1.2 agreed on %s, not an ECDHE AEAD suite", i, suite);
        }
        close_pair(&p);
    }
    xps_tls_server_destroy(server);
}

/* Moves `len` bytes from our side to the client, stepping both. */
static void server_to_client(pair_t *p, const unsigned char *data, size_t len, unsigned char *got)
{
    size_t sent = 0, received = 0;
    for (int i = 0; i < 100000 && received < len; i++) {
        if (sent < len) {
            size_t n = 0;
            unsigned want = 0;
            int rc = xps_tls_send(p->server, data + sent, len - sent, &n, &want);
            assert_true(rc == XPS_OK || rc == XPS_E_AGAIN);
            sent += n;
        }
        size_t n = 0;
        if (SSL_read_ex(p->client, got + received, len - received, &n) == 1)
            received += n;
    }
    assert_int_equal(received, len);
}

static void bytes_go_both_ways_through_partial_writes(void **state)
{
    (void)state;
    xps_tls_server_t *server = three_cert_server();
    pair_t p;
    open_pair(&p, server, NULL);
    assert_int_equal(handshake(&p, NULL), XPS_OK);
    size_t len = 1 << 20;
    unsigned char *data = malloc(len), *got = malloc(len);
    for (size_t i = 0; i < len; i++)
        data[i] = (unsigned char)(i * 31 + (i >> 11));
    server_to_client(&p, data, len, got);
    assert_memory_equal(got, data, len);

    /* and up: the client writes, ours reads (XPS_E_AGAIN while nothing came) */
    unsigned want = 0;
    size_t n = 0;
    char buf[64];
    assert_int_equal(xps_tls_recv(p.server, buf, sizeof buf, &n, &want), XPS_E_AGAIN);
    assert_int_equal(want, XPS_TLS_WANT_READ);
    size_t w = 0;
    assert_int_equal(SSL_write_ex(p.client, "GET / HTTP/1.1\r\n", 16, &w), 1);
    assert_int_equal(xps_tls_recv(p.server, buf, sizeof buf, &n, &want), XPS_OK);
    assert_int_equal(n, 16);
    assert_memory_equal(buf, "GET / HTTP/1.1\r\n", 16);
    free(data);
    free(got);
    close_pair(&p);
    xps_tls_server_destroy(server);
}

static void close_notify_is_eof_and_a_bare_close_is_a_truncation(void **state)
{
    (void)state;
    xps_tls_server_t *server = three_cert_server();
    char buf[16];
    size_t n = 0;
    unsigned want = 0;

    pair_t p;
    open_pair(&p, server, NULL);
    assert_int_equal(handshake(&p, NULL), XPS_OK);
    SSL_shutdown(p.client); /* close_notify */
    assert_int_equal(xps_tls_recv(p.server, buf, sizeof buf, &n, &want), XPS_E_EOF);
    assert_int_equal(xps_tls_shutdown(p.server, &want), XPS_OK); /* ours back */
    assert_int_equal(SSL_read_ex(p.client, buf, sizeof buf, &n), 0);
    assert_int_equal(SSL_get_error(p.client, 0), SSL_ERROR_ZERO_RETURN);
    close_pair(&p);

    open_pair(&p, server, NULL);
    assert_int_equal(handshake(&p, NULL), XPS_OK);
    close(p.fds[1]); /* gone, no close_notify */
    p.fds[1] = -1;
    int rc = xps_tls_recv(p.server, buf, sizeof buf, &n, &want);
    if (rc != XPS_E_CLOSED)
        fail_msg("a close without close_notify: expected XPS_E_CLOSED; got %d (%s)", rc,
                 xps_tls_error(p.server));
    close_pair(&p);
    xps_tls_server_destroy(server);
}

static void plain_http_on_the_tls_side_fails_that_connection(void **state)
{
    (void)state;
    xps_tls_server_t *server = three_cert_server();
    pair_t p;
    open_pair(&p, server, NULL);
    const char *http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(write(p.fds[1], http, strlen(http)), (ssize_t)strlen(http));
    unsigned want = 0;
    int rc = xps_tls_handshake(p.server, &want);
    assert_int_equal(rc, XPS_E_FAIL);
    assert_true(xps_tls_error(p.server)[0] != '\0');
    close_pair(&p);

    /* the same server goes on serving the next client */
    open_pair(&p, server, NULL);
    assert_int_equal(handshake(&p, NULL), XPS_OK);
    close_pair(&p);
    xps_tls_server_destroy(server);
}

static void a_ticket_resumes_the_session_even_under_another_name(void **state)
{
    (void)state;
    xps_tls_server_t *server = three_cert_server();
    pair_t p;
    open_pair(&p, server, &(client_opts_t){.sni = "www.example.org"});
    assert_int_equal(handshake(&p, NULL), XPS_OK);
    unsigned char byte = 'x', got = 0;
    server_to_client(&p, &byte, 1, &got); /* the client reads the tickets on the way */
    SSL_SESSION *session = SSL_get1_session(p.client);
    assert_non_null(session);
    SSL_shutdown(p.client); /* a session that ends without close_notify is not resumed */
    close_pair(&p);
    assert_true(SSL_SESSION_is_resumable(session));

    const char *names[] = {"www.example.org", NULL};
    for (int i = 0; i < 2; i++) {
        open_pair(&p, server, &(client_opts_t){.sni = names[i], .resume = session});
        assert_int_equal(handshake(&p, NULL), XPS_OK);
        if (!xps_tls_resumed(p.server) || !SSL_session_reused(p.client))
            fail_msg("resuming with SNI %s: not resumed", names[i] ? names[i] : "(none)");
        SSL_shutdown(p.client);
        close_pair(&p);
    }
    SSL_SESSION_free(session);
    xps_tls_server_destroy(server);
}

static void sendfile_uses_ktls_or_says_it_cannot(void **state)
{
    (void)state;
    xps_tls_server_t *server = three_cert_server();
    pair_t p;
    open_pair(&p, server, NULL);
    assert_int_equal(handshake(&p, NULL), XPS_OK);
    int fd = open(paths[A_CRT], O_RDONLY);
    assert_true(fd >= 0);
    size_t sent = 99;
    unsigned want = 0;
    int rc = xps_tls_sendfile(p.server, fd, 0, 10, &sent, &want);
    if (xps_tls_ktls_send(p.server)) {
        assert_int_equal(rc, XPS_OK);
        assert_int_equal(sent, 10);
        char got[10];
        size_t n = 0;
        for (int i = 0; i < 1000 && n == 0; i++)
            SSL_read_ex(p.client, got, sizeof got, &n);
        assert_memory_equal(got, "-----BEGIN", 10);
    } else {
        assert_int_equal(rc, XPS_E_INVAL); /* the caller reads the file and sends */
        assert_int_equal(sent, 0);
    }
    close(fd);
    close_pair(&p);
    xps_tls_server_destroy(server);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bad_certificates_are_refused_with_the_file_named),
        cmocka_unit_test(a_client_without_sni_gets_tls13_http11_and_the_default),
        cmocka_unit_test(sni_picks_the_certificate_whose_hostnames_hold_the_name),
        cmocka_unit_test(versions_and_alpn_offers_are_agreed_or_refused),
        cmocka_unit_test(bytes_go_both_ways_through_partial_writes),
        cmocka_unit_test(close_notify_is_eof_and_a_bare_close_is_a_truncation),
        cmocka_unit_test(plain_http_on_the_tls_side_fails_that_connection),
        cmocka_unit_test(a_ticket_resumes_the_session_even_under_another_name),
        cmocka_unit_test(sendfile_uses_ktls_or_says_it_cannot),
    };
    return cmocka_run_group_tests_name("tls", tests, setup_files, remove_files);
}
