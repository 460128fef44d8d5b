/*
 * tests/bench/idle_connections.c — what idle connections cost an echo server.
 *
 *   idle-connections SERVER_BIN [PORT] [IDLE]
 *
 * Starts SERVER_BIN (an echo server on 127.0.0.1:PORT, default 8001; stage
 * 07 and later), then measures the round-trip time of one active client
 * (1-byte messages, many round trips, median and 99th percentile) twice:
 * with no other client, and with IDLE (default 10,000) idle connections
 * open. It also reports the server's RSS before and after opening them.
 *
 * What it shows: a loop that only touches what is ready (the ready queue,
 * edge-triggered epoll) answers as fast with 10,000 idle clients as with
 * none, so the ratio should be close to 1. A loop that scans every
 * connection per iteration (the course's handle_pipes()) would not.
 *
 * A measurement, not a test: it asserts nothing and prints numbers. It
 * talks only to 127.0.0.1 and stops the server it started.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { ROUND_TRIPS = 20000, WARMUP = 1000 };

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    long kib = -1;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median and p99 of ROUND_TRIPS one-byte echoes on a fresh connection. */
static int measure(int port, double *median, double *p99)
{
    static double samples[ROUND_TRIPS];
    int fd = connect_to(port);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (int i = -WARMUP; i < ROUND_TRIPS; i++) {
        char c = 'x';
        double t0 = now_us();
        if (send(fd, &c, 1, 0) != 1 || recv(fd, &c, 1, 0) != 1) {
            close(fd);
            return -1;
        }
        if (i >= 0)
            samples[i] = now_us() - t0;
    }
    close(fd);
    qsort(samples, ROUND_TRIPS, sizeof samples[0], cmp_double);
    *median = samples[ROUND_TRIPS / 2];
    *p99 = samples[ROUND_TRIPS * 99 / 100];
    return 0;
}

static pid_t start_server(const char *bin)
{
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        freopen("/dev/null", "w", stderr);
        execl(bin, bin, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500; i++) { /* up to 5 s for it to listen */
        usleep(10000);
        int fd = connect_to(8001);
        if (fd >= 0) {
            close(fd);
            return pid;
        }
    }
    kill(pid, SIGKILL);
    return -1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: idle-connections SERVER_BIN [PORT] [IDLE]\n");
        return 2;
    }
    int port = argc > 2 ? atoi(argv[2]) : 8001;
    int idle = argc > 3 ? atoi(argv[3]) : 10000;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < (rlim_t)idle + 64) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < (rlim_t)idle + 64)
            idle = (int)rl.rlim_cur - 64;
    }
    pid_t server = start_server(argv[1]);
    if (server < 0) {
        fprintf(stderr, "idle-connections: %s did not listen on 127.0.0.1:%d\n", argv[1], port);
        return 1;
    }
    double med0, p990, med1, p991;
    long rss0 = rss_kib(server);
    int ok = measure(port, &med0, &p990) == 0;
    int *fds = calloc((size_t)idle, sizeof *fds);
    int opened = 0;
    while (ok && opened < idle && (fds[opened] = connect_to(port)) >= 0)
        opened++;
    usleep(300000); /* let the server accept them all */
    long rss1 = rss_kib(server);
    ok = ok && measure(port, &med1, &p991) == 0;
    for (int i = 0; i < opened; i++)
        close(fds[i]);
    free(fds);
    kill(server, SIGTERM);
    waitpid(server, NULL, 0);
    if (!ok) {
        fprintf(stderr, "idle-connections: a round trip failed\n");
        return 1;
    }
    printf("server: %s\n", argv[1]);
    printf("echo round trip, 0 idle:      median %6.1f us   p99 %6.1f us\n", med0, p990);
    printf("echo round trip, %5d idle:  median %6.1f us   p99 %6.1f us\n", opened, med1, p991);
    printf("ratio (idle / none):          median %.2f       p99 %.2f\n", med1 / med0, p991 / p990);
    printf("server RSS: %ld KiB -> %ld KiB with %d idle: %.0f bytes per idle connection\n", rss0,
           rss1, opened, opened ? (double)(rss1 - rss0) * 1024.0 / opened : 0.0);
    return 0;
}
