/*
 * tests/support/course.c — the course's stages and ours (see course.h).
 */
#include "tests/support/course.h"

#include <stdio.h>
#include <stdlib.h>

/* Titles as the tester's backend/src/tests/index.ts gives them. */
static const xt_course_step_t steps[] = {
    {0, 0, "Setup", "", false, false, "the course's tester has no checks for stage 0"},
    {1, 1, "TCP Server", "", true, true, ""},
    {2, 2, "TCP Client", "", false, false,
     "the course's tester has no checks for stage 2 (it never runs a client)"},
    {3, -1, "UDP Multithreading", "", true, true,
     "UDP with one thread per datagram is a side trip of the course (it says later stages do "
     "not need it); xps has no UDP stage"},
    {4, 3, "Linux Epoll", "", true, true, ""},
    {5, 4, "TCP Proxy", "", false, true, ""},
    {6, 5, "Listener and Connection Module", "", true, true, ""},
    {7, 6, "Core and Loop Modules", "", true, true, ""},
    {8, 7, "Non-blocking Sockets", "--reverse", true, true, ""},
    {9, 7, "Epoll Edge Triggered", "--reverse", true, true, ""},
    {10, 7, "Pipe Module", "", false, true, ""},
    {11, 8, "Upstream Module", "", false, true, ""},
    {12, 9, "File Module", "", false, true, ""},
    {13, 9, "Session Module", "", false, true, ""},
    {14, 10, "HTTP Request Module", "", false, true, ""},
    {15, 11, "HTTP Response Module", "", false, true, ""},
    {16, 12, "HTTP Config Module", "", false, true, ""},
    {17, -1, "Directory Browsing", "", false, true,
     "our stage 15 lists a folder only on a route with \"dir_browsing\": true (off by "
     "default: 404, never a listing), and the tester's configuration has no such key, so in "
     "its layout a folder without index.html is 404; what that tester looks at (GET //, "
     "Content-Type exactly text/html, links in table tr td a, a folder's bare /test link, "
     ".json as application/json) is checked in our layout: make grade STAGE=15"},
};

const xt_course_step_t *xt_course_step(int course)
{
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        if (steps[i].course == course)
            return &steps[i];
    return NULL;
}

const xt_course_step_t *xt_course_active(void)
{
    const char *text = getenv("XPS_COURSE");
    if (!text || !*text)
        return NULL;
    char *end = NULL;
    long n = strtol(text, &end, 10);
    const xt_course_step_t *step = *end == '\0' ? xt_course_step((int)n) : NULL;
    if (!step || step->ours < 0 || !step->tested) {
        fprintf(stderr, "XPS_COURSE=%s names no course stage that one of ours grades (run "
                        "`make grade COURSE=N`, which says which ones do)\n", text);
        exit(2);
    }
    return step;
}
