/*
 * tests/support/browser.h — Debian's headless Chromium, for the checks
 * that look at a page as a real browser does (stage 15's listings, the
 * product's printed URLs).
 *
 * xt_browser_start() finds /usr/bin/chromium (make browser-deps installs
 * it) and proves it starts here (a DOM of about:blank): when it cannot, it
 * ends the running check as skipped (xt_skip), saying why. Each run is
 * `chromium --headless --no-sandbox ... WHAT URL` with a profile folder of
 * the caller's (--no-sandbox: the checks may run as root in a network
 * namespace, where Chromium's own sandbox cannot start; the pages are
 * ours, on 127.0.0.1), bounded by XT_BROWSER_MS.
 */
#ifndef XPS_TESTS_BROWSER_H
#define XPS_TESTS_BROWSER_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { XT_BROWSER_MS = 30000 }; /* one chromium run, start to exit */

typedef struct xt_browser {
    char profile[4200];  /* --user-data-dir */
    const char *extra;   /* one more flag for every run (e.g. a trusted key's
                            --ignore-certificate-errors-spki-list=...), or NULL */
} xt_browser_t;

/* Readies `b` with its profile in `folder`; when chromium is missing or
 * cannot start in this sandbox, the check ends here as skipped. */
void xt_browser_start(xt_browser_t *b, const char *folder);

/* Runs chromium on `url` with `what` ("--dump-dom", or
 * "--screenshot=PATH"): its stdout (the serialised DOM), malloc'd, or NULL
 * when it did not exit 0 within XT_BROWSER_MS (then *why says how it ended
 * and the end of its stderr). */
char *xt_browser_run(const xt_browser_t *b, const char *what, const char *url, char *why,
                     size_t cap);

#ifdef __cplusplus
}
#endif

#endif
