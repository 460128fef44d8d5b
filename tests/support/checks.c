/*
 * tests/support/checks.c — small helpers that several stage checks share
 * (see checks.h).
 */
#include "tests/support/checks.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

const char *xt_server_state(xt_proc_t *p)
{
    static char text[160];
    if (xt_alive(p))
        return "is still running";
    int status = 0;
    xt_wait_exit(p, 0, &status);
    const char *what = xt_status_text(status);
    /* "killed by signal 9" needs a verb after "the server"; "exited" has one. */
    snprintf(text, sizeof text, "%s%s", strncmp(what, "killed", 6) == 0 ? "was " : "", what);
    return text;
}

const char *xt_server_note(xt_proc_t *p)
{
    static char note[200];
    if (xt_alive(p))
        return "";
    snprintf(note, sizeof note, " (the server %s)", xt_server_state(p));
    return note;
}

void xt_expect_running(xt_proc_t *p, const char *name, const char *when)
{
    char expected[240];
    int status = 0;
    bool exited = xt_wait_exit(p, 200, &status);
    snprintf(expected, sizeof expected, "%s keeps running %s", name, when);
    xt_expect(!exited, expected, "%s %s", name, exited ? xt_status_text(status) : "runs");
}

int xt_wait_fd_count_at_most(xt_proc_t *p, int limit, int timeout_ms)
{
    int64_t deadline = xt_now_ms() + timeout_ms;
    int n = xt_fd_count(xt_serving_pid(p));
    while (n > limit && xt_alive(p) && xt_now_ms() < deadline) {
        xt_sleep_ms(5); /* the server closes a connection within a loop turn or two */
        n = xt_fd_count(xt_serving_pid(p));
    }
    /* A server that has exited has an empty fd list: that is no baseline. */
    return xt_alive(p) ? n : -1;
}

void *xt_alloc(size_t len)
{
    void *p = malloc(len);
    if (!p)
        xt_fail("out of memory (%zu bytes)", len);
    return p;
}

void xt_set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        xt_fail("fcntl(O_NONBLOCK): %s", strerror(errno));
}

void xt_random_bytes(unsigned char *buf, size_t len)
{
    /* Seed from xt_random_text, so XT_SEED repeats binary data as well. */
    char seed_text[8];
    xt_random_text(seed_text, sizeof seed_text);
    unsigned long long x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < sizeof seed_text; i++)
        x = (x ^ (unsigned char)seed_text[i]) * 0x100000001b3ull;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13; /* xorshift64 */
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (unsigned char)(x >> 24);
    }
}

size_t xt_first_difference(const unsigned char *a, const unsigned char *b, size_t len)
{
    size_t i = 0;
    while (i < len && a[i] == b[i])
        i++;
    return i;
}

long long xt_send_some(int fd, const unsigned char *pattern, size_t len, size_t *pos,
                       long long max)
{
    long long sent = 0;
    while (sent < max) {
        size_t chunk = len - *pos;
        if ((long long)chunk > max - sent)
            chunk = (size_t)(max - sent);
        ssize_t n = send(fd, pattern + *pos, chunk, MSG_NOSIGNAL);
        if (n > 0) {
            sent += n;
            *pos = (*pos + (size_t)n) % len;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break; /* the socket is full: the caller decides when to try again */
        } else if (n < 0 && errno != EINTR) {
            return -1;
        }
    }
    return sent;
}
