/*
 * tests/support/course.h — the eXpServer course's stage numbers, and which
 * of our stages its tester's checks for each one grade.
 *
 * Why: the course grades its students with its own tester (public:
 * eXpServer/expserver-tester), numbered by the course's CURRENT stages,
 * while xps follows the older 22-stage roadmap. A course student asks "how
 * does my stage 14 do?"; `make grade COURSE=14` answers with our checks for
 * the course's stage 14, which are stage 10's. This table is the one place
 * that knows the mapping: the Makefile and tests/run ask it through the
 * course-map tool (tests/grader/course_map.c), the harness through
 * xt_course_active().
 *
 * Facts from the tester's code (backend/src/tests/stages/stageN.ts): it has
 * no checks for stages 0 and 2 (setup, and the client, which it never
 * runs: our stages 00 and 02 are graded in our layout only); stage 3 is
 * UDP with threads, which we skip; stages 8 and 9 still expect every string
 * back reversed, stage 10 a copy (the pipe stage switches to echo); stage
 * 13 runs the session module over raw TCP, which is stage 09's behaviour.
 */
#ifndef XPS_TESTS_COURSE_H
#define XPS_TESTS_COURSE_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The highest stage number the course's tester knows. */
#define XT_COURSE_LAST 17

/* One stage of the course, as its tester numbers and names it. */
typedef struct xt_course_step {
    int course;            /* the course's stage number */
    int ours;              /* our stage whose checks grade it, or -1 if none does */
    const char *title;     /* the tester's name for the stage */
    const char *our_flags; /* what OUR binary needs to act as the course's at this
                              step ("--reverse"); "" if nothing. A student's binary
                              gets no flag: it is the course's already. */
    bool reverses;         /* the tester wants each string back reversed, not copied */
    bool tested;           /* the tester has checks for it (not for 0 and 2) */
    const char *note;      /* why no stage of ours, or no tester check, grades it; or "" */
} xt_course_step_t;

/* The course's stage `course` (0..XT_COURSE_LAST), or NULL if the course
 * has no such stage. */
const xt_course_step_t *xt_course_step(int course);

/* The course stage being graded in the course's layout: the one named by
 * $XPS_COURSE, or NULL when the checks run in our own layout (the variable
 * is unset or empty). When $XPS_COURSE names no stage of ours it says so on
 * stderr and exits 2 (a misuse: `make grade` refuses those first, and the
 * check runner asks before any check runs). */
const xt_course_step_t *xt_course_active(void);

#ifdef __cplusplus
}
#endif

#endif /* XPS_TESTS_COURSE_H */
