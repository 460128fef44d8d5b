// modules/tls/xps_tls.cpp — the contract is in xps_tls.h. OpenSSL does the
// cryptography; this file decides the policy (versions, suites, ALPN, SNI,
// tickets), refuses bad certificates with the file named, and maps every
// SSL_* result onto the project's codes and the readiness to wait for.
#include "modules/tls/xps_tls.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include <arpa/inet.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace {

constexpr unsigned char alpn_http11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

// TLS 1.2's suites: ephemeral ECDHE (forward secrecy) with an AEAD only
// (RFC 9325 §4.2). TLS 1.3's five are all AEAD; OpenSSL's default three
// of them are kept.
constexpr const char *tls12_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// Resumption needs an id context; any constant of ours will do.
constexpr unsigned char session_context[] = "xps";

struct ctx_free {
    void operator()(SSL_CTX *c) const { SSL_CTX_free(c); }
};

struct cert_entry {
    std::unique_ptr<SSL_CTX, ctx_free> ctx;
    std::vector<std::string> names; // lower case, no trailing dot
};

// OpenSSL's reason for the newest error in its queue into `out`, or ""
// (and the queue emptied, so the next step starts clean).
void openssl_reason_into(char *out, size_t size) {
    unsigned long e = ERR_peek_last_error();
    out[0] = '\0';
    if (e != 0) {
        const char *reason = ERR_reason_error_string(e);
        if (reason)
            std::snprintf(out, size, "%s", reason);
        else
            ERR_error_string_n(e, out, size);
    }
    ERR_clear_error();
}

std::string openssl_reason() {
    char text[256];
    openssl_reason_into(text, sizeof text);
    return text;
}

std::string normal_name(const char *name) {
    std::string n;
    for (const char *c = name; *c; c++)
        n += static_cast<char>(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
    if (!n.empty() && n.back() == '.')
        n.pop_back();
    return n;
}

// "*.example.org" holds exactly one more label: a.example.org, not
// example.org nor a.b.example.org.
bool name_matches(const std::string &pattern, const std::string &name) {
    if (pattern.size() > 2 && pattern[0] == '*' && pattern[1] == '.') {
        size_t dot = name.find('.');
        return dot != std::string::npos && dot > 0 && name.compare(dot, std::string::npos,
                                                                   pattern, 1) == 0;
    }
    return pattern == name;
}

} // namespace

struct xps_tls_server_s {
    std::vector<cert_entry> certs; // [0]: the default, and the context every
                                   // connection starts with (its ticket keys
                                   // serve all names: OpenSSL keeps the first
                                   // context for sessions)
};

struct xps_tls_client_s {
    std::unique_ptr<SSL_CTX, ctx_free> ctx;
    bool verify; // the upstream's certificate is checked (chain and name)
};

// Fixed buffers, not strings: these are written inside OpenSSL's callbacks
// and noexcept steps, where an allocation that throws has nowhere to go.
struct xps_tls_conn_s {
    xps_tls_server_t *server; // borrowed
    SSL *ssl;                 // owned
    size_t cert_index;        // set by the SNI callback
    char server_name[256];    // SNI's host_name (at most 253 bytes, RFC 1035)
    char error[XPS_TLS_ERR_MAX];
};

namespace {

int ssl_conn_index() {
    static int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

xps_tls_conn_t *conn_of(SSL *ssl) {
    return static_cast<xps_tls_conn_t *>(SSL_get_ex_data(ssl, ssl_conn_index()));
}

// SNI: move the handshake to the context of the certificate for the name.
int on_server_name(SSL *ssl, int *, void *arg) {
    auto *server = static_cast<xps_tls_server_t *>(arg);
    xps_tls_conn_t *conn = conn_of(ssl);
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!conn || !name)
        return SSL_TLSEXT_ERR_OK;
    std::snprintf(conn->server_name, sizeof conn->server_name, "%s", name);
    std::string wanted;
    try {
        wanted = normal_name(name);
    } catch (const std::bad_alloc &) {
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    for (size_t i = 0; i < server->certs.size(); i++)
        for (const std::string &pattern : server->certs[i].names)
            if (name_matches(pattern, wanted)) {
                if (i != 0 && SSL_set_SSL_CTX(ssl, server->certs[i].ctx.get()) == nullptr)
                    return SSL_TLSEXT_ERR_ALERT_FATAL;
                conn->cert_index = i;
                return SSL_TLSEXT_ERR_OK;
            }
    return SSL_TLSEXT_ERR_OK; // the default certificate
}

// ALPN: http/1.1 or nothing we can speak (RFC 7301 §3.2).
int on_alpn(SSL *, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
            unsigned int inlen, void *) {
    unsigned char *chosen = nullptr;
    if (SSL_select_next_proto(&chosen, outlen, alpn_http11, sizeof alpn_http11, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
}

// The policy both sides share: versions, suites, no renegotiation nor
// compression, partial writes, buffers released while idle (a kept
// connection costs ~1 KiB).
void apply_policy(SSL_CTX *ctx) {
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
}

bool is_ip_literal(const char *name) {
    unsigned char addr[16];
    return inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1;
}

// A key file with a passphrase would make OpenSSL ask the terminal, and a
// server must never wait for a prompt: such a key is refused instead.
int no_passphrase(char *, int, int, void *) { return 0; }

bool readable_file(const char *path, const char *what, std::string &err) {
    FILE *f = std::fopen(path, "r");
    if (!f) {
        err = std::string(path) + ": cannot read the " + what + ": " + std::strerror(errno);
        return false;
    }
    std::fclose(f);
    return true;
}

// One context with the project's policy and one certificate; "" or why not.
std::string make_context(const xps_tls_cert_t &cert, cert_entry &entry, xps_tls_server_t *server,
                         bool first) {
    std::string err;
    if (!cert.cert_path || !cert.key_path)
        return "a TLS listener needs a certificate and its key";
    if (!readable_file(cert.cert_path, "certificate", err) ||
        !readable_file(cert.key_path, "private key", err))
        return err;
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        return "out of memory (OpenSSL: " + openssl_reason() + ")";
    entry.ctx.reset(ctx);
    apply_policy(ctx);
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_ENABLE_KTLS);
    if (SSL_CTX_set_cipher_list(ctx, tls12_ciphers) != 1)
        return "cannot set the TLS 1.2 suites (OpenSSL: " + openssl_reason() + ")";
    SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
    SSL_CTX_set_session_id_context(ctx, session_context, sizeof session_context - 1);
    SSL_CTX_set_alpn_select_cb(ctx, on_alpn, nullptr);
    if (first) {
        SSL_CTX_set_tlsext_servername_callback(ctx, on_server_name);
        SSL_CTX_set_tlsext_servername_arg(ctx, server);
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cert.cert_path) != 1)
        return std::string(cert.cert_path) + ": not a PEM certificate (OpenSSL: " +
               openssl_reason() + ")";
    // Read apart from using it, so a file that is not a key and a key that
    // is not the certificate's get different messages.
    FILE *f = std::fopen(cert.key_path, "r");
    EVP_PKEY *key = f ? PEM_read_PrivateKey(f, nullptr, no_passphrase, nullptr) : nullptr;
    if (f)
        std::fclose(f);
    if (!key)
        return std::string(cert.key_path) + ": not a PEM private key without a passphrase " +
               "(OpenSSL: " + openssl_reason() + ")";
    bool paired = SSL_CTX_use_PrivateKey(ctx, key) == 1 && SSL_CTX_check_private_key(ctx) == 1;
    EVP_PKEY_free(key);
    if (!paired) {
        ERR_clear_error();
        return std::string(cert.key_path) + ": does not match the certificate " + cert.cert_path;
    }
    for (size_t i = 0; i < cert.hostname_count; i++)
        if (cert.hostnames && cert.hostnames[i])
            entry.names.push_back(normal_name(cert.hostnames[i]));
    return "";
}

// Maps the result `ret` of an SSL_* call on `conn` onto our codes.
int step_result(xps_tls_conn_t *conn, int ret, unsigned *want) {
    int saved_errno = errno;
    *want = 0;
    switch (SSL_get_error(conn->ssl, ret)) {
    case SSL_ERROR_WANT_READ:
        *want = XPS_TLS_WANT_READ;
        return XPS_E_AGAIN;
    case SSL_ERROR_WANT_WRITE:
        *want = XPS_TLS_WANT_WRITE;
        return XPS_E_AGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return XPS_E_EOF;
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        std::snprintf(conn->error, sizeof conn->error, "%s",
                      saved_errno ? std::strerror(saved_errno) : "the peer closed the connection");
        return saved_errno == 0 || saved_errno == ECONNRESET || saved_errno == EPIPE
                   ? XPS_E_CLOSED
                   : XPS_E_FAIL;
    case SSL_ERROR_SSL:
        if (ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
            ERR_clear_error();
            std::snprintf(conn->error, sizeof conn->error, "the peer closed without close_notify");
            return XPS_E_CLOSED;
        }
        if (ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
            // OpenSSL's reason says only that; the verification says why
            ERR_clear_error();
            std::snprintf(conn->error, sizeof conn->error, "certificate verify failed: %s",
                          X509_verify_cert_error_string(SSL_get_verify_result(conn->ssl)));
            return XPS_E_FAIL;
        }
        openssl_reason_into(conn->error, sizeof conn->error);
        return XPS_E_FAIL;
    default:
        openssl_reason_into(conn->error, sizeof conn->error);
        return XPS_E_FAIL;
    }
}

} // namespace

xps_tls_server_t *xps_tls_server_create(const xps_tls_cert_t *certs, size_t count, char *err,
                                        size_t err_size) XPS_NOEXCEPT {
    std::string why;
    std::unique_ptr<xps_tls_server_t> server(new (std::nothrow) xps_tls_server_t);
    if (!server)
        why = "out of memory";
    else if (!certs || count == 0)
        why = "a TLS listener needs at least one certificate";
    else {
        try {
            server->certs.resize(count);
        } catch (const std::bad_alloc &) {
            why = "out of memory";
        }
    }
    for (size_t i = 0; why.empty() && i < count; i++) {
        try {
            why = make_context(certs[i], server->certs[i], server.get(), i == 0);
        } catch (const std::bad_alloc &) {
            why = "out of memory";
        }
    }
    if (!why.empty()) {
        if (err && err_size)
            std::snprintf(err, err_size, "%s", why.c_str());
        return nullptr;
    }
    return server.release();
}

void xps_tls_server_destroy(xps_tls_server_t *server) XPS_NOEXCEPT { delete server; }

xps_tls_client_t *xps_tls_client_create(const char *ca_file, bool verify, char *err,
                                        size_t err_size) XPS_NOEXCEPT {
    std::string why;
    std::unique_ptr<xps_tls_client_t> client(new (std::nothrow) xps_tls_client_t{});
    try {
        ERR_clear_error();
        SSL_CTX *ctx = client ? SSL_CTX_new(TLS_client_method()) : nullptr;
        if (ctx) {
            client->ctx.reset(ctx);
            client->verify = verify;
            apply_policy(ctx);
        }
        if (!ctx)
            why = "out of memory";
        else if (SSL_CTX_set_cipher_list(ctx, tls12_ciphers) != 1)
            why = "cannot set the TLS 1.2 suites (OpenSSL: " + openssl_reason() + ")";
        else if (SSL_CTX_set_alpn_protos(ctx, alpn_http11, sizeof alpn_http11) != 0) // 0: done
            why = "out of memory";
        else if (!verify)
            SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
        else if (ca_file && !readable_file(ca_file, "CA certificates", why)) {
            // why says it
        } else if (ca_file && SSL_CTX_load_verify_locations(ctx, ca_file, nullptr) != 1)
            why = std::string(ca_file) + ": no PEM certificate in it (OpenSSL: " +
                  openssl_reason() + ")";
        else if (!ca_file && SSL_CTX_set_default_verify_paths(ctx) != 1)
            why = "cannot load the system's CA certificates (OpenSSL: " + openssl_reason() + ")";
        else
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    } catch (const std::bad_alloc &) {
        why = "out of memory";
    }
    if (!why.empty()) {
        if (err && err_size)
            std::snprintf(err, err_size, "%s", why.c_str());
        return nullptr;
    }
    return client.release();
}

void xps_tls_client_destroy(xps_tls_client_t *client) XPS_NOEXCEPT { delete client; }

xps_tls_conn_t *xps_tls_accept(xps_tls_server_t *server, int fd, int *error) XPS_NOEXCEPT {
    auto *conn = new (std::nothrow) xps_tls_conn_t{server, nullptr, 0, "", ""};
    if (conn)
        conn->ssl = SSL_new(server->certs[0].ctx.get());
    if (!conn || !conn->ssl || SSL_set_fd(conn->ssl, fd) != 1 ||
        SSL_set_ex_data(conn->ssl, ssl_conn_index(), conn) != 1) {
        ERR_clear_error();
        xps_tls_conn_destroy(conn);
        if (error)
            *error = XPS_E_NOMEM;
        return nullptr;
    }
    SSL_set_accept_state(conn->ssl);
    return conn;
}

xps_tls_conn_t *xps_tls_connect(xps_tls_client_t *client, int fd, const char *server_name,
                                const char *peer_name, int *error) XPS_NOEXCEPT {
    auto *conn = new (std::nothrow) xps_tls_conn_t{nullptr, nullptr, 0, "", ""};
    if (conn)
        conn->ssl = SSL_new(client->ctx.get());
    bool ok = conn && conn->ssl && SSL_set_fd(conn->ssl, fd) == 1 &&
              SSL_set_ex_data(conn->ssl, ssl_conn_index(), conn) == 1;
    if (ok && server_name && *server_name && !is_ip_literal(server_name)) {
        ok = SSL_set_tlsext_host_name(conn->ssl, server_name) == 1;
        std::snprintf(conn->server_name, sizeof conn->server_name, "%s", server_name);
    }
    if (ok && client->verify && peer_name && *peer_name) {
        X509_VERIFY_PARAM *param = SSL_get0_param(conn->ssl);
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        ok = is_ip_literal(peer_name) ? X509_VERIFY_PARAM_set1_ip_asc(param, peer_name) == 1
                                      : X509_VERIFY_PARAM_set1_host(param, peer_name, 0) == 1;
    }
    if (!ok) {
        ERR_clear_error();
        xps_tls_conn_destroy(conn);
        if (error)
            *error = XPS_E_NOMEM;
        return nullptr;
    }
    SSL_set_connect_state(conn->ssl);
    return conn;
}

void xps_tls_conn_destroy(xps_tls_conn_t *conn) XPS_NOEXCEPT {
    if (!conn)
        return;
    SSL_free(conn->ssl);
    delete conn;
}

int xps_tls_handshake(xps_tls_conn_t *conn, unsigned *want) XPS_NOEXCEPT {
    ERR_clear_error();
    int ret = SSL_do_handshake(conn->ssl);
    if (ret == 1) {
        *want = 0;
        return XPS_OK;
    }
    int rc = step_result(conn, ret, want);
    return rc == XPS_E_EOF ? XPS_E_CLOSED : rc; // no close_notify can end a handshake well
}

int xps_tls_recv(xps_tls_conn_t *conn, void *buf, size_t len, size_t *got,
                 unsigned *want) XPS_NOEXCEPT {
    ERR_clear_error();
    *got = 0;
    int ret = SSL_read_ex(conn->ssl, buf, len, got);
    if (ret == 1) {
        *want = 0;
        return XPS_OK;
    }
    return step_result(conn, ret, want);
}

int xps_tls_send(xps_tls_conn_t *conn, const void *buf, size_t len, size_t *sent,
                 unsigned *want) XPS_NOEXCEPT {
    ERR_clear_error();
    *sent = 0;
    int ret = SSL_write_ex(conn->ssl, buf, len, sent);
    if (ret == 1) {
        *want = 0;
        return XPS_OK;
    }
    return step_result(conn, ret, want);
}

int xps_tls_sendfile(xps_tls_conn_t *conn, int fd, off_t offset, size_t len, size_t *sent,
                     unsigned *want) XPS_NOEXCEPT {
    *sent = 0;
    *want = 0;
    if (!xps_tls_ktls_send(conn))
        return XPS_E_INVAL;
    ERR_clear_error();
    ossl_ssize_t n = SSL_sendfile(conn->ssl, fd, offset, len, 0);
    if (n >= 0) {
        *sent = static_cast<size_t>(n);
        return XPS_OK;
    }
    return step_result(conn, static_cast<int>(n), want);
}

int xps_tls_shutdown(xps_tls_conn_t *conn, unsigned *want) XPS_NOEXCEPT {
    ERR_clear_error();
    int ret = SSL_shutdown(conn->ssl);
    if (ret >= 0) { // 0: ours sent, the peer's not read (not needed); 1: both
        *want = 0;
        return XPS_OK;
    }
    return step_result(conn, ret, want);
}

const char *xps_tls_version(const xps_tls_conn_t *conn) XPS_NOEXCEPT {
    return SSL_is_init_finished(conn->ssl) ? SSL_get_version(conn->ssl) : "";
}

const char *xps_tls_alpn(const xps_tls_conn_t *conn) XPS_NOEXCEPT {
    const unsigned char *proto = nullptr;
    unsigned int len = 0;
    SSL_get0_alpn_selected(conn->ssl, &proto, &len);
    return proto && len == sizeof alpn_http11 - 1 ? "http/1.1" : "";
}

const char *xps_tls_server_name(const xps_tls_conn_t *conn) XPS_NOEXCEPT {
    return conn->server_name;
}

size_t xps_tls_cert_index(const xps_tls_conn_t *conn) XPS_NOEXCEPT { return conn->cert_index; }

bool xps_tls_resumed(const xps_tls_conn_t *conn) XPS_NOEXCEPT {
    return SSL_session_reused(conn->ssl) == 1;
}

bool xps_tls_ktls_send(const xps_tls_conn_t *conn) XPS_NOEXCEPT {
    return BIO_get_ktls_send(SSL_get_wbio(conn->ssl)) == 1;
}

const char *xps_tls_error(const xps_tls_conn_t *conn) XPS_NOEXCEPT { return conn->error; }
