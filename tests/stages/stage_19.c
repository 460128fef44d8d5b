/*
 * tests/stages/stage_19.c — black-box checks for stage 19 (TLS).
 *
 * The checks themselves are in tests/support/tls_checks.c (stages 20 and
 * 21 run them again). The binary under test ($XPS_STAGE_BIN) runs in a
 * scratch copy of tests/fixtures/stage-19 (its README says how its test-only certificates
 * were made), with one of its configs as its one argument:
 *
 *   config.json       127.0.0.1:8443 TLS, shared by two blocks: a (a.test,
 *                     localhost, 127.0.0.1; certificate CN=a.test, the
 *                     default) serving public/, b (b.test; CN=b.test)
 *                     serving public-b/; 127.0.0.1:8080 plain; a request
 *                     head must come within 2 s;
 *   missing-cert.json, mismatch.json, mixed.json   refused at start-up.
 *
 * The clients are real and independent of xps: `openssl s_client` and
 * curl (the openssl and curl packages, see `make deps`). What is checked:
 *  - TLS 1.3 and TLS 1.2 handshakes succeed; a client offering only TLS
 *    1.1 gets the protocol_version alert;
 *  - ALPN agrees on http/1.1;
 *  - SNI picks each block's certificate (its subject), the first block's
 *    without a name; and the request is served by that block (curl
 *    verifying b.test's certificate gets b's page);
 *  - curl --cacert: 200, and a second request on the same connection;
 *  - an 8 MiB file arrives intact (byte for byte) over TLS;
 *  - garbage, plain HTTP, a TLS 1.1 hello and a ClientHello cut short,
 *    sent to the TLS port while a client downloads over TLS: the first
 *    three are closed at once, the cut one at the head timeout (2 s), and
 *    the download completes intact;
 *  - a missing certificate, a key that is not the certificate's, and a
 *    host:port that is TLS in one block and plain in another: exit status
 *    1, the file (or the listeners) named, nothing listening;
 *  - upstream_tls (upstream-tls.json, test-upstream --tls with a.crt on
 *    3443, strict mode: its log shows each handshake and its SNI): a GET
 *    proxied over TLS gets 200 and its body, and a second one on the same
 *    client connection goes up on the same upstream connection, after one
 *    handshake; the default SNI is the upstream's host name; a route
 *    trusting the wrong CA gets 502, the reason logged, nothing sent up;
 *    with verify: false it gets 200; "sni" is what is sent; a plain
 *    upstream among TLS ones fails its handshake once, is marked down,
 *    and every request is answered by the other;
 *  - then every stage 18 check on its fixture (the plain listeners of
 *    stage 18's configs, served as stage 18 does), and stage 17's, 16's,
 *    15's, 14's and 13's, as stage_18.c runs them.
 * All but the shared checks start the binary with a config of this
 * stage's own, so they are skipped in the course's layout.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "tests/support/balancer_checks.h"
#include "tests/support/checks.h"
#include "tests/support/dirlist_checks.h"
#include "tests/support/gzip_checks.h"
#include "tests/support/harness.h"
#include "tests/support/http11_checks.h"
#include "tests/support/http_client.h"
#include "tests/support/ipfilter_checks.h"
#include "tests/support/limits_checks.h"
#include "tests/support/tls_checks.h"

static void prints_its_usage_with_help(void **state)
{
    (void)state;
    const char *args[] = {"--help", NULL};
    xt_proc_t *p = xt_start_stage(args, NULL);
    int status = 0;
    bool exited = xt_wait_exit(p, 5000, &status);
    char *out = xt_stdout(p);
    xt_expect(exited && WIFEXITED(status) && WEXITSTATUS(status) == 0 && strstr(out, "usage: "),
              "--help: exit 0 and a usage line", "%s, stdout %s", xt_status_text(status),
              xt_quote(out, strlen(out)));
    free(out);
}

/* This stage's checks (tests/support/tls_checks.c), then earlier stages',
 * served as those stages do (plain listeners). */
XT_STAGE19_CHECKS_ON("tests/fixtures/stage-19")
XT_STAGE18_CHECKS_ON("tests/fixtures/stage-18")
XT_STAGE17_CHECKS_ON("tests/fixtures/stage-17")
XT_STAGE16_CHECKS_ON("tests/fixtures/stage-16")
XT_STAGE15_CHECKS_ON("tests/fixtures/stage-18")
XT_STAGE14_CHECKS_ON("tests/fixtures/stage-18")
XT_STAGE13_CHECKS_ON("tests/fixtures/stage-18")

int main(void)
{
    const struct CMUnitTest checks[] = {
        XT_CHECK(prints_its_usage_with_help),
        XT_STAGE19_CHECK_LIST,
        XT_STAGE18_CHECK_LIST,
        XT_STAGE17_CHECK_LIST,
        XT_STAGE16_CHECK_LIST,
        XT_STAGE15_CHECK_LIST,
        XT_STAGE14_CHECK_LIST,
        XT_STAGE13_CHECK_LIST,
    };
    return xt_run_checks("stage 19 (tls)", checks);
}
