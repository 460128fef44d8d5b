/* test-upstream — command-line front of tests/support/upstream.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/upstream.h"

static int usage(FILE *to, int status)
{
    fprintf(to, "usage: test-upstream [--port N] [--mode http|echo|strict] [--log FILE]\n"
                "                     [--tls CERT KEY]\n"
                "  A dummy upstream on 127.0.0.1 (default port 3000, mode http).\n"
                "  --tls: every connection speaks TLS with that certificate and key (PEM);\n"
                "        strict mode logs each handshake \"tls <connection> sni=<name|->\".\n"
                "  http: GET /test/N answers \"test N: served by test-upstream\", GET / a page\n"
                "        of links, GET /abort a truncated reply ended by a reset, /echo-request\n"
                "        the request head as it arrived (what a proxy forwarded).\n"
                "        GET /chunked/N  N chunks \"chunk i of N\" (Transfer-Encoding: chunked)\n"
                "        GET /slow/N     N lines \"line i of N\", one every 50 ms (Content-Length)\n"
                "        GET /big/N      N MiB, byte i = (i * 7 + i / 4096) & 0xff (Content-Length)\n"
                "        GET /whoami     \"port N\": which of several upstreams answered\n"
                "  echo: every byte received is sent back.\n"
                "  strict: keep-alive HTTP/1.1 parsed strictly (RFC 9112: CRLF only, one\n"
                "        Content-Length of digits or Transfer-Encoding: chunked without\n"
                "        extensions or trailers, head 64 KiB, body 16 MiB); Connection: close\n"
                "        is ignored. Each request is answered 200 with X-Request-Number: n and\n"
                "        the head as received plus the decoded body, X-Connection: c (the\n"
                "        connection's number in accept order), and logged to FILE\n"
                "        (default strict.log) as \"request <n> <method> <target> via=<Via|->\n"
                "        body=<body>\"; a bad one is logged \"error <reason>\" and the\n"
                "        connection closed unanswered. An Upgrade to /ws-accept... gets 101\n"
                "        (logged \"tunnel\") and then an echo; any other Upgrade a plain 200.\n"
                "        /close... is answered with Connection: close, then closed; /vanish...\n"
                "        closes unanswered (logged \"vanish\") unless first on its connection.\n");
    return status;
}

int main(int argc, char **argv)
{
    long port = 3000;
    xt_upstream_mode_t mode = XT_UPSTREAM_HTTP;
    const char *log_path = NULL;
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
            else if (strcmp(m, "strict") == 0) mode = XT_UPSTREAM_STRICT;
            else return usage(stderr, 2);
        } else if (strcmp(argv[i], "--log") == 0 && i + 1 < argc) {
            log_path = argv[++i];
        } else if (strcmp(argv[i], "--tls") == 0 && i + 2 < argc) {
            if (xt_upstream_use_tls(argv[i + 1], argv[i + 2]) != 0)
                return 1;
            i += 2;
        } else {
            return usage(stderr, 2);
        }
    }
    return xt_upstream_serve((uint16_t)port, mode, log_path) == 0 ? 0 : 1;
}
