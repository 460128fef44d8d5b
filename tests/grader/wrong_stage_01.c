/*
 * wrong-stage-01 — a deliberately wrong "stage 01": it listens on 8080,
 * serves one client and exits with status 1 when that client leaves, exactly
 * like the real one, but it echoes instead of reversing. The grader's own
 * test (grader_self_test.c) grades it and expects the reversal checks, and
 * only those, to fail with a readable reason.
 *
 * Its second mistake is the one our stages 01-11 used to make: it refuses
 * every argument (exit 2), so the course's tester, which starts it as
 * ./wrong-stage-01 /usr/src/public/xps_config.json, scores it 0. Graded in
 * the course's layout (XPS_COURSE=1) it must fail every check.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc > 1) {
        fprintf(stderr, "wrong-stage-01: unknown or incomplete argument \"%s\"\n", argv[1]);
        return 2;
    }
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(8080)};
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 5) != 0) {
        perror("wrong-stage-01: bind/listen");
        return 2;
    }
    int cfd = accept(lfd, NULL, NULL);
    char buf[10000];
    ssize_t n;
    while ((n = recv(cfd, buf, sizeof buf, 0)) > 0)
        send(cfd, buf, (size_t)n, MSG_NOSIGNAL); /* the mistake: no reversal */
    return 1;
}
