/*
 * tests/support/client_loop.c — the client loop of client_loop.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/client_loop.h"
#include "tests/support/harness.h"

static volatile sig_atomic_t loop_stop;

static void on_loop_stop(int sig)
{
    (void)sig;
    loop_stop = 1;
}

xt_client_loop_t xt_client_loop_start(bool (*one)(void *data), void *data)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        xt_fail("pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0)
        xt_fail("fork: %s", strerror(errno));
    if (pid == 0) {
        close(fds[0]);
        signal(SIGTERM, on_loop_stop);
        long requests = 0, failures = 0;
        while (!loop_stop) {
            bool ok = one(data);
            if (loop_stop && !ok)
                break; /* cut short by the stop itself: not the server's doing */
            requests++;
            failures += !ok;
        }
        char line[64];
        int len = snprintf(line, sizeof line, "%ld %ld\n", requests, failures);
        ssize_t w = write(fds[1], line, (size_t)len);
        _exit(w == len ? 0 : 1);
    }
    close(fds[1]);
    return (xt_client_loop_t){pid, fds[0]};
}

void xt_client_loop_stop(xt_client_loop_t loop, long *requests, long *failures)
{
    kill(loop.pid, SIGTERM);
    int status = 0;
    while (waitpid(loop.pid, &status, 0) < 0 && errno == EINTR)
        ;
    char line[64] = "";
    ssize_t n = read(loop.out, line, sizeof line - 1);
    close(loop.out);
    line[n > 0 ? n : 0] = '\0';
    *requests = *failures = -1;
    if (sscanf(line, "%ld %ld", requests, failures) != 2)
        xt_fail("the client loop reported nothing (%s)", xt_status_text(status));
}
