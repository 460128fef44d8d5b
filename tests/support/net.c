/*
 * tests/support/net.c — the harness's eyes: sockets with deadlines, and what
 * /proc says about a process (CPU time, RSS, fds, listening sockets).
 */
#define _GNU_SOURCE
#include "tests/support/harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ /proc */

double xt_cpu_seconds(pid_t pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    /* Field 2 (comm) may contain spaces: count fields after its ')'. */
    char *p = strrchr(line, ')');
    unsigned long utime = 0, stime = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                     &utime, &stime) != 2)
        return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

long xt_minor_faults(pid_t pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    char *p = strrchr(line, ')'); /* as in xt_cpu_seconds: field 10 */
    long faults = -1;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %ld", &faults) != 1)
        return -1;
    return faults;
}

long xt_rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

int xt_fd_count(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* Inodes of TCP sockets in LISTEN state on `port`, from /proc/net/tcp{,6}. */
static int listening_inodes(uint16_t port, unsigned long *inodes, int max)
{
    static const char *tables[] = {"/proc/net/tcp", "/proc/net/tcp6"};
    int n = 0;
    for (int t = 0; t < 2; t++) {
        FILE *f = fopen(tables[t], "r");
        if (!f)
            continue;
        char line[512];
        while (fgets(line, sizeof line, f) && n < max) {
            char local[64];
            unsigned state;
            unsigned long inode;
            if (sscanf(line, " %*d: %63s %*s %x %*s %*s %*s %*d %*d %lu", local, &state,
                       &inode) != 3)
                continue;
            char *colon = strrchr(local, ':');
            if (colon && strtoul(colon + 1, NULL, 16) == port && state == 0x0A)
                inodes[n++] = inode;
        }
        fclose(f);
    }
    return n;
}

/* Does process `pid` hold one of these socket inodes? */
static bool holds_inode(pid_t pid, const unsigned long *inodes, int n)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(dir);
    if (!d)
        return false;
    bool found = false;
    struct dirent *e;
    while (!found && (e = readdir(d))) {
        char link[384], target[128];
        snprintf(link, sizeof link, "%s/%s", dir, e->d_name);
        ssize_t len = readlink(link, target, sizeof target - 1);
        unsigned long inode;
        if (len <= 0)
            continue;
        target[len] = '\0';
        if (sscanf(target, "socket:[%lu]", &inode) == 1)
            for (int i = 0; i < n; i++)
                found = found || inode == inodes[i];
    }
    closedir(d);
    return found;
}

void xt_require_port_free(uint16_t port)
{
    unsigned long inodes[8];
    if (listening_inodes(port, inodes, 8) > 0)
        xt_fail("port %u is already in use by another process: stop it (is `make run` "
                "or an earlier server still running? try `ss -ltnp | grep :%u`)",
                port, port);
}

/* Readiness is judged from /proc, not by connecting: a probe connection
 * would be accepted as a real client, and stage 01 serves exactly one. */
void xt_wait_port(xt_proc_t *p, uint16_t port, int timeout_ms)
{
    int64_t deadline = xt_now_ms() + timeout_ms;
    for (;;) {
        unsigned long inodes[8];
        int n = listening_inodes(port, inodes, 8);
        if (n > 0 && holds_inode(xt_pid(p), inodes, n))
            return;
        int status;
        if (xt_wait_exit(p, 0, &status)) {
            char *err = xt_stderr(p);
            size_t len = strlen(err);
            xt_fail("the program %s before listening on port %u; its stderr ends: %s",
                    xt_status_text(status), port,
                    xt_quote(err + (len > 300 ? len - 300 : 0), len > 300 ? 300 : len));
        }
        if (xt_now_ms() > deadline)
            xt_fail("nothing listened on port %u within %d ms", port, timeout_ms);
        xt_sleep_ms(5);
    }
}

/* ------------------------------------------------------------ sockets */

static int remaining(int64_t deadline)
{
    int64_t left = deadline - xt_now_ms();
    return left > 0 ? (int)left : 0;
}

enum { CONNECT_TIMEOUT_MS = 3000 };

/* A non-blocking connect() bounded by CONNECT_TIMEOUT_MS, then the socket is
 * made blocking again: a server whose accept queue is full never completes
 * the handshake, and a blocking connect() would wait for minutes. */
int xt_try_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int err = 0;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        err = errno;
        if (err == EINPROGRESS) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            int64_t deadline = xt_now_ms() + CONNECT_TIMEOUT_MS;
            int r;
            while ((r = poll(&pfd, 1, remaining(deadline))) < 0 && errno == EINTR) {
            }
            socklen_t len = sizeof err;
            if (r == 0)
                err = ETIMEDOUT;
            else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
                err = errno;
        }
    }
    if (err != 0) {
        close(fd);
        return -err;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

int xt_connect_from(const char *source, uint16_t port)
{
    bool v6 = strchr(source, ':') != NULL;
    int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        xt_fail("socket(): %s", strerror(errno));
    struct sockaddr_storage from = {0}, to = {0};
    socklen_t len;
    if (v6) {
        struct sockaddr_in6 *f = (struct sockaddr_in6 *)&from, *t = (struct sockaddr_in6 *)&to;
        f->sin6_family = t->sin6_family = AF_INET6;
        inet_pton(AF_INET6, source, &f->sin6_addr);
        inet_pton(AF_INET6, "::1", &t->sin6_addr);
        t->sin6_port = htons(port);
        len = sizeof(struct sockaddr_in6);
    } else {
        struct sockaddr_in *f = (struct sockaddr_in *)&from, *t = (struct sockaddr_in *)&to;
        f->sin_family = t->sin_family = AF_INET;
        inet_pton(AF_INET, source, &f->sin_addr);
        inet_pton(AF_INET, "127.0.0.1", &t->sin_addr);
        t->sin_port = htons(port);
        len = sizeof(struct sockaddr_in);
    }
    if (bind(fd, (struct sockaddr *)&from, len) != 0)
        xt_fail("bind(%s): %s (127.0.0.0/8 and ::1 must be on the loopback interface)", source,
                strerror(errno));
    if (connect(fd, (struct sockaddr *)&to, len) != 0)
        xt_fail("connect from %s to port %u: %s", source, port, strerror(errno));
    return fd;
}

int xt_connect(uint16_t port)
{
    int fd = xt_try_connect(port);
    if (fd < 0)
        xt_fail("could not connect to 127.0.0.1:%u: %s%s", port, strerror(-fd),
                fd == -ETIMEDOUT ? " (the handshake did not complete within 3 s: "
                                   "is the server still accepting?)" : "");
    return fd;
}

bool xt_send_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == ENOTSOCK)
            n = write(fd, p, len); /* a pipe, e.g. a child's stdin */
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

ssize_t xt_recv_deadline(int fd, void *buf, size_t cap, int timeout_ms)
{
    int64_t deadline = xt_now_ms() + timeout_ms;
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int r = poll(&pfd, 1, remaining(deadline));
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            return XT_TIMEOUT;
        ssize_t n = recv(fd, buf, cap, 0);
        if (n < 0 && errno == EINTR)
            continue;
        return n < 0 ? XT_ERROR : n;
    }
}

size_t xt_recv_exact(int fd, void *buf, size_t len, int timeout_ms, int *why)
{
    int64_t deadline = xt_now_ms() + timeout_ms;
    size_t got = 0;
    int reason = 0;
    while (got < len) {
        ssize_t n = xt_recv_deadline(fd, (char *)buf + got, len - got, remaining(deadline));
        if (n <= 0) {
            reason = (int)n;
            break;
        }
        got += (size_t)n;
    }
    if (why)
        *why = reason;
    return got;
}

size_t xt_read_until(int fd, char *buf, size_t cap, const char *delim, int timeout_ms)
{
    int64_t deadline = xt_now_ms() + timeout_ms;
    size_t got = 0, dlen = strlen(delim);
    buf[0] = '\0';
    while (got + 1 < cap) {
        ssize_t n = xt_recv_deadline(fd, buf + got, cap - 1 - got, remaining(deadline));
        if (n <= 0)
            break;
        got += (size_t)n;
        buf[got] = '\0';
        if (memmem(buf, got, delim, dlen))
            break;
    }
    return got;
}

size_t xt_recv_until_eof(int fd, void *buf, size_t cap, int timeout_ms, bool *eof)
{
    int64_t deadline = xt_now_ms() + timeout_ms;
    size_t got = 0;
    bool closed = false;
    for (;;) {
        char sink[4096];
        char *dst = got < cap ? (char *)buf + got : sink;
        size_t room = got < cap ? cap - got : sizeof sink;
        ssize_t n = xt_recv_deadline(fd, dst, room, remaining(deadline));
        if (n == 0 || n == XT_ERROR)
            closed = true;
        if (n <= 0)
            break;
        if (dst != sink)
            got += (size_t)n;
    }
    if (eof)
        *eof = closed;
    return got;
}

void xt_close_abort(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

/* ------------------------------------------------------------ misc */

void xt_random_text(char *buf, size_t len)
{
    static unsigned seed;
    static bool seeded;
    if (!seeded) {
        const char *s = getenv("XT_SEED");
        seed = s ? (unsigned)strtoul(s, NULL, 10) : (unsigned)time(NULL) ^ (unsigned)getpid();
        seeded = true;
        xt_note("random text seed %u: XT_SEED=%u repeats this run", seed, seed);
    }
    for (size_t i = 0; i < len; i++)
        buf[i] = (char)(' ' + rand_r(&seed) % 95); /* printable ASCII, no '\n' */
}

int64_t xt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void xt_sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}
