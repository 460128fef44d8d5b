/* test-upstream — command-line front of tests/support/upstream.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/upstream.h"

static int usage(FILE *to, int status)
{
    fprintf(to, "usage: test-upstream [--port N] [--mode http|echo]\n"
                "  A dummy upstream on 127.0.0.1 (default port 3000, mode http).\n"
                "  http: GET /test/N answers \"test N: served by test-upstream\", GET / a page\n"
                "        of links, GET /abort a truncated reply ended by a reset, /echo-request\n"
                "        the request head as it arrived (what a proxy forwarded).\n"
                "        GET /chunked/N  N chunks \"chunk i of N\" (Transfer-Encoding: chunked)\n"
                "        GET /slow/N     N lines \"line i of N\", one every 50 ms (Content-Length)\n"
                "        GET /big/N      N MiB, byte i = (i * 7 + i / 4096) & 0xff (Content-Length)\n"
                "  echo: every byte received is sent back.\n");
    return status;
}

int main(int argc, char **argv)
{
    long port = 3000;
    xt_upstream_mode_t mode = XT_UPSTREAM_HTTP;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0)
            return usage(stdout, 0);
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            char *end;
            port = strtol(argv[++i], &end, 10);
            if (*end || port < 1 || port > 65535)
                return usage(stderr, 2);
        } else if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc) {
            const char *m = argv[++i];
            if (strcmp(m, "http") == 0) mode = XT_UPSTREAM_HTTP;
            else if (strcmp(m, "echo") == 0) mode = XT_UPSTREAM_ECHO;
            else return usage(stderr, 2);
        } else {
            return usage(stderr, 2);
        }
    }
    return xt_upstream_serve((uint16_t)port, mode) == 0 ? 0 : 1;
}
