/*
 * tests/bench/idle_bytes.c — what an idle keep-alive HTTP connection costs
 * a server's memory.
 *
 *   idle-bytes PID PORT PATH N
 *
 * PID is the process that holds the connections (for nginx, its worker).
 * Opens connections to 127.0.0.1:PORT; on each it sends one
 * `GET PATH HTTP/1.1`, reads the whole response (it must be a 200 framed by
 * Content-Length) and then leaves the connection open and silent, as a
 * browser leaves a kept connection between page loads. First N/5 of them,
 * not counted: they use up whatever free memory the server's allocator
 * already held, which would otherwise make the first connections look
 * free. Then N more, with PID's resident set read before and after; it
 * prints both and their difference per connection:
 *
 *   rss_before_kib=... rss_after_kib=... connections=N bytes_per_connection=...
 *
 * The kernel's socket buffers are not in a process's RSS, so the figure is
 * what the server itself keeps per connection: its structures and any
 * buffer it did not give back after the request. A measurement, not a test:
 * it exits 1 only when it could not measure (a refused connection, a bad
 * response), and closes every connection it opened.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static long rss_kib(long pid)
{
    char path[64], line[256];
    long kib = -1;
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

/* One keep-alive exchange on a new connection; the open socket, or -1. */
static int open_after_one_request(int port, const char *request, size_t request_len)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        send(fd, request, request_len, 0) != (ssize_t)request_len)
        goto fail;
    char buf[8192];
    size_t have = 0;
    char *end = NULL;
    while (!end) { /* the head */
        ssize_t n = recv(fd, buf + have, sizeof buf - 1 - have, 0);
        if (n <= 0)
            goto fail;
        have += (size_t)n;
        buf[have] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (!end && have == sizeof buf - 1)
            goto fail;
    }
    const char *length = strcasestr(buf, "\r\ncontent-length:");
    if (strncmp(buf, "HTTP/1.1 200", 12) != 0 || !length || length > end)
        goto fail;
    long body = strtol(length + 17, NULL, 10);
    long left = body - (long)(have - (size_t)(end + 4 - buf));
    while (left > 0) { /* the body */
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            goto fail;
        left -= n;
    }
    if (left == 0)
        return fd;
fail:
    if (fd >= 0)
        close(fd);
    return -1;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: idle-bytes PID PORT PATH N\n");
        return 2;
    }
    long pid = atol(argv[1]);
    int port = atoi(argv[2]);
    int wanted = atoi(argv[4]);
    char request[512];
    int len = snprintf(request, sizeof request,
                       "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: idle-bytes\r\n\r\n", argv[3]);
    if (pid <= 0 || port <= 0 || wanted <= 0 || len <= 0 || (size_t)len >= sizeof request) {
        fprintf(stderr, "idle-bytes: bad arguments\n");
        return 2;
    }
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < (rlim_t)wanted + wanted / 5 + 16) {
        fprintf(stderr, "idle-bytes: the descriptor limit (%llu) is below %d connections\n",
                (unsigned long long)rl.rlim_cur, wanted + wanted / 5);
        return 1;
    }

    int warm = wanted / 5, total = warm + wanted;
    int *fds = calloc((size_t)total, sizeof *fds);
    long before = -1;
    int opened = 0;
    while (fds && opened < total) {
        if (opened == warm) {
            usleep(300000); /* let the server finish with the last one */
            before = rss_kib(pid);
        }
        if ((fds[opened] = open_after_one_request(port, request, (size_t)len)) < 0)
            break;
        opened++;
    }
    usleep(300000);
    long after = rss_kib(pid);
    for (int i = 0; i < opened; i++)
        close(fds[i]);
    free(fds);
    if (before < 0 || after < 0 || opened < total) {
        fprintf(stderr, "idle-bytes: measured %d of %d connections to port %d (pid %ld)\n", opened,
                total, port, pid);
        return 1;
    }
    opened -= warm;
    printf("rss_before_kib=%ld rss_after_kib=%ld connections=%d bytes_per_connection=%.0f\n", before,
           after, opened, (double)(after - before) * 1024.0 / opened);
    return 0;
}
