/*
 * tests/grader/course_map.c — build/tests/course-map: tells `make grade
 * COURSE=N` and tests/run which of our stages grades the course's stage N.
 *
 * The table itself is tests/support/course.c; this program only prints it,
 * so that the Makefile and the shell runner read the same facts as the
 * checks do.
 *
 *   course-map N       one line "NN<TAB>title<TAB>flags" (our stage, the
 *                      course's title, the flags our own binary needs), exit
 *                      0; or, when no stage of ours is graded by the
 *                      course's tester for N, a sentence saying why on
 *                      stderr and exit 2
 *   course-map --list  one line "N<TAB>NN<TAB>flags" per course stage that
 *                      one of ours is graded for, in order
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/course.h"

static int usage(void)
{
    fputs("usage: course-map N | course-map --list\n", stderr);
    return 2;
}

/* Why `make grade COURSE=n` cannot grade anything, on stderr. */
static int refuse(int n, const xt_course_step_t *step)
{
    if (!step)
        fprintf(stderr, "the course has no stage %d (its tester knows stages 1-%d)\n", n,
                XT_COURSE_LAST);
    else if (step->ours < 0)
        fprintf(stderr, "course stage %d (%s): no stage of ours grades it: %s\n", n, step->title,
                step->note);
    else
        fprintf(stderr, "course stage %d (%s): %s; our stage %02d covers that step, graded in "
                        "our own layout: make grade STAGE=%d\n",
                n, step->title, step->note, step->ours, step->ours);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (int n = 0; n <= XT_COURSE_LAST; n++) {
            const xt_course_step_t *step = xt_course_step(n);
            if (step && step->ours >= 0 && step->tested)
                printf("%d\t%02d\t%s\n", n, step->ours, step->our_flags);
        }
        return 0;
    }
    if (argc != 2)
        return usage();
    char *end = NULL;
    long n = strtol(argv[1], &end, 10);
    if (end == argv[1] || *end != '\0' || n < 0 || n > 999) {
        fprintf(stderr, "\"%s\" is not a stage number (the course's are 0-%d)\n", argv[1],
                XT_COURSE_LAST);
        return 2;
    }
    const xt_course_step_t *step = xt_course_step((int)n);
    if (!step || step->ours < 0 || !step->tested)
        return refuse((int)n, step);
    printf("%02d\t%s\t%s\n", step->ours, step->title, step->our_flags);
    return 0;
}
