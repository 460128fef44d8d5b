// modules/server/xps_server_cert.cpp — the self-signed pair of
// xps_server_cert.h, made and checked with OpenSSL 3's API. [apps/xps]
#include "modules/server/xps_server_cert.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace {

constexpr long seconds_per_day = 24L * 60 * 60;

// `path` and its missing parents, 0700.
bool make_dirs(const std::string &path, char *err, size_t err_size) {
    for (size_t at = 1; at <= path.size(); at++) {
        if (at != path.size() && path[at] != '/')
            continue;
        std::string part = path.substr(0, at);
        if (mkdir(part.c_str(), 0700) != 0 && errno != EEXIST) {
            std::snprintf(err, err_size, "%s: cannot make the folder: %s", part.c_str(),
                          std::strerror(errno));
            return false;
        }
    }
    return true;
}

// The reason OpenSSL gives for the last failure, for a message.
const char *openssl_reason() {
    unsigned long e = ERR_get_error();
    const char *why = e ? ERR_reason_error_string(e) : nullptr;
    ERR_clear_error();
    return why ? why : "unknown OpenSSL error";
}

// Whether the pair in cert_path / key_path can be served one more day.
bool usable(const std::string &cert_path, const std::string &key_path) {
    bool ok = false;
    FILE *cf = std::fopen(cert_path.c_str(), "r");
    FILE *kf = cf ? std::fopen(key_path.c_str(), "r") : nullptr;
    X509 *cert = cf ? PEM_read_X509(cf, nullptr, nullptr, nullptr) : nullptr;
    EVP_PKEY *key = kf ? PEM_read_PrivateKey(kf, nullptr, nullptr, nullptr) : nullptr;
    if (cert && key && X509_check_private_key(cert, key) == 1) {
        time_t tomorrow = time(nullptr) + seconds_per_day;
        ok = X509_cmp_time(X509_get0_notAfter(cert), &tomorrow) > 0 &&
             X509_cmp_current_time(X509_get0_notBefore(cert)) < 0;
    }
    ERR_clear_error();
    X509_free(cert);
    EVP_PKEY_free(key);
    if (kf)
        std::fclose(kf);
    if (cf)
        std::fclose(cf);
    return ok;
}

// One v3 extension on a self-signed certificate (issuer = subject).
bool add_extension(X509 *cert, int nid, const char *value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    bool ok = ext && X509_add_ext(cert, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

X509 *make_cert(EVP_PKEY *key) {
    X509 *cert = X509_new();
    X509_NAME *name = cert ? X509_get_subject_name(cert) : nullptr;
    unsigned char serial[16];
    BIGNUM *bn = nullptr;
    ASN1_INTEGER *sn = nullptr;
    bool ok = name && X509_set_version(cert, X509_VERSION_3) == 1 &&
              RAND_bytes(serial, sizeof serial) == 1 && // a random serial (RFC 5280 §4.1.2.2)
              (bn = BN_bin2bn(serial, sizeof serial, nullptr)) &&
              (sn = BN_to_ASN1_INTEGER(bn, nullptr)) && X509_set_serialNumber(cert, sn) == 1 &&
              // A minute in the past: a client whose clock is a little behind accepts it.
              X509_gmtime_adj(X509_getm_notBefore(cert), -60) &&
              X509_gmtime_adj(X509_getm_notAfter(cert), XPS_SERVER_CERT_DAYS * seconds_per_day) &&
              X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                         reinterpret_cast<const unsigned char *>("xps"), -1, -1,
                                         0) == 1 &&
              X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                         reinterpret_cast<const unsigned char *>("localhost"), -1,
                                         -1, 0) == 1 &&
              X509_set_issuer_name(cert, name) == 1 && X509_set_pubkey(cert, key) == 1 &&
              // Its own trust anchor: a CA of one certificate, as `openssl req -x509` makes.
              add_extension(cert, NID_basic_constraints, "critical,CA:TRUE") &&
              add_extension(cert, NID_subject_key_identifier, "hash") &&
              add_extension(cert, NID_authority_key_identifier, "keyid:always") &&
              add_extension(cert, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1") &&
              X509_sign(cert, key, EVP_sha256()) > 0;
    ASN1_INTEGER_free(sn);
    BN_free(bn);
    if (!ok) {
        X509_free(cert);
        return nullptr;
    }
    return cert;
}

// Writes `path` through `path`.tmp with `mode`; `write` puts the PEM in.
template <typename Write>
bool write_file(const std::string &path, mode_t mode, Write write, char *err, size_t err_size) {
    std::string tmp = path + ".tmp";
    unlink(tmp.c_str()); // one left by a crash: O_EXCL below must make it afresh
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : nullptr;
    if (!f) {
        std::snprintf(err, err_size, "%s: cannot write: %s", tmp.c_str(), std::strerror(errno));
        if (fd >= 0)
            close(fd);
        unlink(tmp.c_str());
        return false;
    }
    bool ok = write(f);
    const char *why = ok ? nullptr : openssl_reason();
    if (std::fclose(f) != 0 && ok)
        ok = false, why = std::strerror(errno);
    if (ok && rename(tmp.c_str(), path.c_str()) != 0)
        ok = false, why = std::strerror(errno);
    if (!ok) {
        std::snprintf(err, err_size, "%s: cannot write: %s", path.c_str(), why);
        unlink(tmp.c_str());
    }
    return ok;
}

} // namespace

int xps_server_cert_ensure(const char *dir, bool *generated, char *err, size_t err_size) noexcept {
    if (generated)
        *generated = false;
    std::string cert_path, key_path;
    try {
        cert_path = std::string(dir) + "/" XPS_SERVER_CERT_FILE;
        key_path = std::string(dir) + "/" XPS_SERVER_KEY_FILE;
        if (!make_dirs(dir, err, err_size))
            return XPS_E_FAIL;
    } catch (const std::bad_alloc &) {
        std::snprintf(err, err_size, "%s: out of memory", dir);
        return XPS_E_NOMEM;
    }
    if (usable(cert_path, key_path))
        return XPS_OK;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *cert = key ? make_cert(key) : nullptr;
    if (!cert) {
        std::snprintf(err, err_size, "%s: cannot make a certificate: %s", dir, openssl_reason());
        EVP_PKEY_free(key);
        return XPS_E_FAIL;
    }
    // The key first: a certificate is never left beside a key it does not match
    // for longer than it takes to write it, and the next start would make both again.
    bool ok = write_file(key_path, 0600, [&](FILE *f) {
        return PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
    }, err, err_size) && write_file(cert_path, 0644, [&](FILE *f) {
        return PEM_write_X509(f, cert) == 1;
    }, err, err_size);
    X509_free(cert);
    EVP_PKEY_free(key);
    if (ok && generated)
        *generated = true;
    return ok ? XPS_OK : XPS_E_FAIL;
}
