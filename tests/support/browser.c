/*
 * tests/support/browser.c — headless Chromium for the checks (browser.h).
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
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/browser.h"
#include "tests/support/harness.h"

static const char CHROMIUM[] = "/usr/bin/chromium";

char *xt_browser_run(const xt_browser_t *b, const char *what, const char *url, char *why,
                     size_t cap)
{
    char data_dir[4300];
    snprintf(data_dir, sizeof data_dir, "--user-data-dir=%s", b->profile);
    const char *args[] = {"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                          "--disable-dev-shm-usage", "--window-size=1000,700", data_dir,
                          b->extra ? b->extra : "--headless", what, url, NULL};
    xt_proc_t *p = xt_start(CHROMIUM, args, NULL);
    int status = 0;
    if (!xt_wait_exit(p, XT_BROWSER_MS, &status)) {
        xt_stop(p, SIGKILL, 2000);
        snprintf(why, cap, "still running after %d ms (killed)", XT_BROWSER_MS);
        return NULL;
    }
    char *err = xt_stderr(p);
    size_t n = strlen(err);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(why, cap, "%s; stderr ends \"%s\"", xt_status_text(status),
                 xt_quote(err + (n > 300 ? n - 300 : 0), n > 300 ? 300 : n));
        free(err);
        return NULL;
    }
    free(err);
    return xt_stdout(p);
}

void xt_browser_start(xt_browser_t *b, const char *folder)
{
    if (access(CHROMIUM, X_OK) != 0)
        xt_skip("Debian's chromium is not installed (make browser-deps installs it)");
    snprintf(b->profile, sizeof b->profile, "%s/chromium-profile", folder);
    char why[600];
    char *blank = xt_browser_run(b, "--dump-dom", "about:blank", why, sizeof why);
    bool ok = blank && strstr(blank, "<html");
    free(blank);
    if (!ok) {
        static char text[700];
        snprintf(text, sizeof text, "headless chromium cannot start in this sandbox: %s", why);
        xt_skip(text);
    }
}
