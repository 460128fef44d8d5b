/*
 * modules/server/xps_server_cert.h — a self-signed certificate for a
 * server that must speak HTTPS before anyone gave it a certificate: the
 * embedded default of apps/xps (https://127.0.0.1:8443/). [apps/xps]
 *
 * xps_server_cert_ensure(dir) leaves in `dir` two files, made with
 * OpenSSL's own API (no `openssl` command needed):
 *  - localhost.key: a P-256 EC private key, PEM, mode 0600;
 *  - localhost.crt: an X.509 v3 certificate for it, self-signed, valid for
 *    XPS_SERVER_CERT_DAYS days, CN "localhost", subjectAltName
 *    DNS:localhost, IP:127.0.0.1, IP:::1 — what a browser and curl check
 *    against the URL (the CN alone is ignored by both). A client trusts it
 *    by being told to: `curl --cacert dir/localhost.crt`.
 * A pair already there is reused when it loads, matches, and is valid for
 * at least one more day; otherwise (missing, unreadable, corrupt, a key of
 * another certificate, expired or about to be) a new pair replaces it.
 * Each file is written to a temporary name and renamed, so a reader never
 * sees half a key, and a crash leaves the old pair or the new one.
 * `dir` is made (0700) if missing, with its missing parents.
 *
 * Returns XPS_OK, with *generated (may be NULL) true when the pair was
 * made now; else XPS_E_FAIL (or XPS_E_NOMEM) with the path and the reason
 * in `err`. Paths: dir + "/" + XPS_SERVER_CERT_FILE / XPS_SERVER_KEY_FILE.
 */
#ifndef XPS_MODULES_SERVER_CERT_H
#define XPS_MODULES_SERVER_CERT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/xps.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XPS_SERVER_CERT_FILE "localhost.crt"
#define XPS_SERVER_KEY_FILE "localhost.key"
#define XPS_SERVER_CERT_DAYS 365

int xps_server_cert_ensure(const char *dir, bool *generated, char *err,
                           size_t err_size) XPS_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* XPS_MODULES_SERVER_CERT_H */
