/*
 * tests/unit/server.c — modules/server's helpers checked against their
 * contracts (xps_server_run itself is a whole server: tests/stages/
 * stage_21.c and tests/apps/xps.c drive it from outside):
 *  - xps_server_cert_ensure: a pair made on the first call (key 0600, a
 *    certificate for localhost / 127.0.0.1 that verifies against itself
 *    as a TLS server's and that modules/tls serves), the same pair on the
 *    next call, a new one for a corrupt certificate, a key of another
 *    certificate, or an expired certificate;
 *  - the pid file: claimed, refused while its process lives, replaced
 *    when stale, released only by its owner; signalled, with the reasons
 *    it cannot be;
 *  - xps_server_check: a certificate that does not load and a cache
 *    folder that cannot be one, each named.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "core/xps.h"
#include "modules/config/xps_config.h"
#include "modules/server/xps_server.h"
#include "modules/server/xps_server_cert.h"
#include "modules/tls/xps_tls.h"

static char dir[64]; /* the scratch folder */

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/xps-unit-server-%d", (int)getpid());
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void path_of(char *out, size_t size, const char *sub, const char *file)
{
    snprintf(out, size, "%s/%s/%s", dir, sub, file);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char text[2][8192];
    static int turn;
    char *buf = text[turn++ % 2];
    size_t n = fread(buf, 1, sizeof text[0] - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static X509 *read_cert(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(x);
    return x;
}

/* ------------------------------------------------------- certificates */

static void a_pair_is_made_once_and_served(void **state)
{
    (void)state;
    char sub[96], crt[160], key[160];
    snprintf(sub, sizeof sub, "%s/state/xps", dir); /* parents made too */
    path_of(crt, sizeof crt, "state/xps", XPS_SERVER_CERT_FILE);
    path_of(key, sizeof key, "state/xps", XPS_SERVER_KEY_FILE);
    char err[256] = "";
    bool made = false;
    assert_int_equal(xps_server_cert_ensure(sub, &made, err, sizeof err), XPS_OK);
    assert_true(made);
    struct stat st;
    assert_int_equal(stat(key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    X509 *x = read_cert(crt);
    assert_int_equal(X509_check_host(x, "localhost", 0, 0, NULL), 1);
    assert_int_equal(X509_check_ip_asc(x, "127.0.0.1", 0), 1);
    assert_int_equal(X509_check_host(x, "example.org", 0, 0, NULL), 0);
    /* trusted as itself (curl --cacert), for a TLS server */
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    assert_int_equal(X509_STORE_add_cert(store, x), 1);
    assert_int_equal(X509_STORE_CTX_init(ctx, store, x, NULL), 1);
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
    int verified = X509_verify_cert(ctx);
    if (verified != 1)
        fail_msg("does not verify: %s",
                 X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    X509_free(x);

    xps_tls_cert_t pair = {.cert_path = crt, .key_path = key};
    char why[XPS_TLS_ERR_MAX];
    xps_tls_server_t *tls = xps_tls_server_create(&pair, 1, why, sizeof why);
    if (!tls)
        fail_msg("modules/tls refuses it: %s", why);
    xps_tls_server_destroy(tls);

    char before_crt[8192], before_key[8192];
    snprintf(before_crt, sizeof before_crt, "%s", slurp(crt));
    snprintf(before_key, sizeof before_key, "%s", slurp(key));
    assert_int_equal(xps_server_cert_ensure(sub, &made, err, sizeof err), XPS_OK);
    assert_false(made);
    assert_string_equal(slurp(crt), before_crt);
    assert_string_equal(slurp(key), before_key);
}

/* Makes the pair in dir/<sub>, spoils it with `spoil`, and expects the
 * next call to make a new one that modules/tls serves. */
static void expect_remade(const char *sub_name, void (*spoil)(const char *crt, const char *key))
{
    char sub[96], crt[160], key[160], err[256] = "";
    snprintf(sub, sizeof sub, "%s/%s", dir, sub_name);
    path_of(crt, sizeof crt, sub_name, XPS_SERVER_CERT_FILE);
    path_of(key, sizeof key, sub_name, XPS_SERVER_KEY_FILE);
    bool made = false;
    assert_int_equal(xps_server_cert_ensure(sub, &made, err, sizeof err), XPS_OK);
    assert_true(made);
    spoil(crt, key);
    made = false;
    assert_int_equal(xps_server_cert_ensure(sub, &made, err, sizeof err), XPS_OK);
    if (!made)
        fail_msg("%s: the spoiled pair was kept", sub_name);
    xps_tls_cert_t pair = {.cert_path = crt, .key_path = key};
    char why[XPS_TLS_ERR_MAX];
    xps_tls_server_t *tls = xps_tls_server_create(&pair, 1, why, sizeof why);
    if (!tls)
        fail_msg("%s: the new pair is refused: %s", sub_name, why);
    xps_tls_server_destroy(tls);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void corrupt_cert(const char *crt, const char *key)
{
    (void)key;
    write_text(crt, "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n");
}

static void key_of_another(const char *crt, const char *key)
{
    (void)crt;
    EVP_PKEY *other = EVP_EC_gen("P-256");
    assert_non_null(other);
    FILE *f = fopen(key, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, other, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
    EVP_PKEY_free(other);
}

static void expired(const char *crt, const char *key)
{
    FILE *f = fopen(key, "r");
    assert_non_null(f);
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(k);
    X509 *x = read_cert(crt);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -3 * 86400));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), -86400));
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);
    f = fopen(crt, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_X509(f, x), 1);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(k);
}

static void a_spoiled_pair_is_made_again(void **state)
{
    (void)state;
    expect_remade("corrupt", corrupt_cert);
    expect_remade("mismatch", key_of_another);
    expect_remade("expired", expired);
}

static void a_folder_that_cannot_be_made_is_named(void **state)
{
    (void)state;
    char file[96], sub[128], err[256] = "";
    snprintf(file, sizeof file, "%s/plain-file", dir);
    mkdir(dir, 0700);
    write_text(file, "x");
    snprintf(sub, sizeof sub, "%s/below", file);
    assert_int_equal(xps_server_cert_ensure(sub, NULL, err, sizeof err), XPS_E_FAIL);
    if (!strstr(err, "plain-file/below") || !strstr(err, "cannot make the folder"))
        fail_msg("message: %s", err);
}

/* ----------------------------------------------------------- pid file */

static void a_pid_file_is_claimed_refused_replaced_and_released(void **state)
{
    (void)state;
    mkdir(dir, 0700);
    char path[96], err[256] = "", want[32];
    snprintf(path, sizeof path, "%s/xps.pid", dir);
    unlink(path);
    assert_int_equal(xps_server_pidfile_claim(path, err, sizeof err), XPS_OK);
    snprintf(want, sizeof want, "%d\n", (int)getpid());
    assert_string_equal(slurp(path), want);

    /* a live process's: refused, and the file kept */
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        pause();
        _exit(0);
    }
    char line[32];
    snprintf(line, sizeof line, "%d\n", (int)child);
    write_text(path, line);
    assert_int_equal(xps_server_pidfile_claim(path, err, sizeof err), XPS_E_FAIL);
    if (!strstr(err, "is running") || !strstr(err, path))
        fail_msg("message: %s", err);
    assert_string_equal(slurp(path), line);
    /* ...and signalled: SIGTERM ends it */
    pid_t got = 0;
    assert_int_equal(xps_server_pidfile_signal(path, SIGTERM, &got, err, sizeof err), XPS_OK);
    assert_int_equal(got, child);
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);

    /* the same file, its process gone: stale, cannot be signalled, replaced */
    assert_int_equal(xps_server_pidfile_signal(path, SIGTERM, NULL, err, sizeof err), XPS_E_FAIL);
    if (!strstr(err, "is not running"))
        fail_msg("message: %s", err);
    assert_int_equal(xps_server_pidfile_claim(path, err, sizeof err), XPS_OK);
    assert_string_equal(slurp(path), want);

    /* released by its owner only */
    write_text(path, "1\n");
    xps_server_pidfile_release(path);
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(xps_server_pidfile_claim(path, err, sizeof err), XPS_E_FAIL); /* pid 1 lives */
    write_text(path, want);
    xps_server_pidfile_release(path);
    assert_int_not_equal(access(path, F_OK), 0);

    /* none, or garbage */
    assert_int_equal(xps_server_pidfile_signal(path, SIGHUP, NULL, err, sizeof err),
                     XPS_E_NOTFOUND);
    if (!strstr(err, "is the server running?"))
        fail_msg("message: %s", err);
    write_text(path, "twelve\n");
    assert_int_equal(xps_server_pidfile_signal(path, SIGHUP, NULL, err, sizeof err), XPS_E_FAIL);
    if (!strstr(err, "holds no pid"))
        fail_msg("message: %s", err);
    assert_int_equal(xps_server_pidfile_claim(path, err, sizeof err), XPS_OK);
    xps_server_pidfile_release(path);
}

/* -------------------------------------------------------------- check */

static void check_expect(const char *json, const char *want)
{
    char err[XPS_CONFIG_ERR_MAX] = "";
    xps_config_t *c = xps_config_parse(json, "t.json", dir, err, sizeof err);
    if (!c)
        fail_msg("the config is refused: %s", err);
    int rc = xps_server_check(c, err, sizeof err);
    xps_config_destroy(c);
    if (!want) {
        if (rc != XPS_OK)
            fail_msg("refused: %s", err);
        return;
    }
    assert_int_equal(rc, XPS_E_INVAL);
    if (!strstr(err, want))
        fail_msg("expected \"%s\" in: %s", want, err);
}

static void check_names_the_certificate_and_the_cache_folder(void **state)
{
    (void)state;
    mkdir(dir, 0700);
    char file[96];
    snprintf(file, sizeof file, "%s/plain-file", dir);
    write_text(file, "x");
#define SITE(extra)                                                                      \
    "{" extra "\"servers\": [{\"listeners\": [{\"host\": \"127.0.0.1\", \"port\": 9443"  \
    ", \"tls\": {\"cert\": \"missing.crt\", \"key\": \"missing.key\"}}], "                \
    "\"routes\": [{\"req_path\": \"/\", \"type\": \"health\"}]}]}"
    check_expect(SITE(""), "missing.crt");
    check_expect("{\"cache\": {\"dir\": \"plain-file/cache\"}, \"servers\": [{\"listeners\": "
                 "[{\"host\": \"127.0.0.1\", \"port\": 9080}], \"routes\": "
                 "[{\"req_path\": \"/\", \"type\": \"health\"}]}]}",
                 "plain-file: not a folder");
    check_expect("{\"cache\": {\"dir\": \"new/cache\"}, \"servers\": [{\"listeners\": "
                 "[{\"host\": \"127.0.0.1\", \"port\": 9080}], \"routes\": "
                 "[{\"req_path\": \"/\", \"type\": \"health\"}]}]}",
                 NULL);
    struct stat st;
    char made[128];
    snprintf(made, sizeof made, "%s/new", dir);
    assert_int_not_equal(stat(made, &st), 0); /* looked at, not made */
#undef SITE
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_pair_is_made_once_and_served),
        cmocka_unit_test(a_spoiled_pair_is_made_again),
        cmocka_unit_test(a_folder_that_cannot_be_made_is_named),
        cmocka_unit_test(a_pid_file_is_claimed_refused_replaced_and_released),
        cmocka_unit_test(check_names_the_certificate_and_the_cache_folder),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
