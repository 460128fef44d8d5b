/*
 * tests/support/http_client.c — see http_client.h.
 */
#include "tests/support/http_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <stdarg.h>
#include <setjmp.h>
#include <cmocka.h> /* test_calloc */

bool xt_header_value(const char *text, const char *name, char *out, size_t cap)
{
    const char *end = strstr(text, "\r\n\r\n");
    size_t n = strlen(name);
    for (const char *line = strstr(text, "\r\n"); line && (!end || line < end);
         line = strstr(line + 2, "\r\n")) {
        const char *l = line + 2;
        if (strncasecmp(l, name, n) == 0 && l[n] == ':') {
            l += n + 1;
            while (*l == ' ' || *l == '\t')
                l++;
            size_t len = strcspn(l, "\r\n");
            while (len > 0 && (l[len - 1] == ' ' || l[len - 1] == '\t'))
                len--;
            len = len < cap - 1 ? len : cap - 1;
            memcpy(out, l, len);
            out[len] = '\0';
            return true;
        }
    }
    return false;
}

xt_response_t *xt_read_response(int fd, bool no_body)
{
    xt_response_t *r = test_calloc(1, sizeof *r);
    size_t n = 0;
    while (n < sizeof r->head - 1 && (n < 4 || memcmp(r->head + n - 4, "\r\n\r\n", 4) != 0)) {
        if (xt_recv_deadline(fd, r->head + n, 1, XT_REPLY_MS) != 1)
            break;
        n++;
    }
    r->head[n] = '\0';
    if (sscanf(r->head, "HTTP/1.%*d %3d", &r->status) != 1)
        r->status = 0;
    char length[32] = "";
    if (!no_body && xt_header_value(r->head, "Content-Length", length, sizeof length)) {
        size_t want = strtoul(length, NULL, 10);
        want = want < sizeof r->body - 1 ? want : sizeof r->body - 1;
        r->body_len = xt_recv_exact(fd, r->body, want, XT_REPLY_MS, NULL);
    }
    r->body[r->body_len] = '\0';
    return r;
}

xt_response_t *xt_ask(int fd, const char *request, bool no_body)
{
    xt_send_all(fd, request, strlen(request));
    return xt_read_response(fd, no_body);
}

const char *xt_describe_response(const xt_response_t *r)
{
    static char text[1400];
    snprintf(text, sizeof text, "status %d, head \"%s\", %zu body bytes \"%s\"", r->status,
             xt_quote(r->head, strlen(r->head)), r->body_len, xt_quote(r->body, r->body_len));
    return text;
}

bool xt_closes_silently(int fd)
{
    char byte;
    return xt_recv_deadline(fd, &byte, 1, XT_REPLY_MS) == 0;
}

char *xt_run_curl(const char *const *args, int *status)
{
    if (access("/usr/bin/curl", X_OK) != 0)
        xt_fail("/usr/bin/curl is missing: run `make deps`");
    return xt_run_to_exit("/usr/bin/curl", args, NULL, 5000, status);
}
