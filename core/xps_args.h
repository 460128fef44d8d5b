/*
 * core/xps_args.h — what the command lines of the stage binaries share
 * with the eXpServer course: its tester starts every stage as
 *
 *     ./<binary> <absolute path>/xps_config.json
 *
 * Stages before 12 have no configuration, so they accept that last
 * argument and do not read it (the Phase 0 programs, single files by
 * design, keep a copy of the rule). Introduced with the course-layout
 * grading; used by stages 05-11.
 * Lifecycle, ownership, threading: none (a function of its arguments).
 */
#ifndef XPS_CORE_ARGS_H
#define XPS_CORE_ARGS_H

#include "core/xps.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How many of argv's argc entries to parse as flags: argc, or argc - 1
 * when the last argument is the course tester's configuration (argv[0]
 * is never one; a configuration is not a flag and ends in ".json"). A
 * result below argc means: log that argv[argc - 1] is not read. */
int xps_args_without_course_config(int argc, char *const *argv) XPS_NOEXCEPT;

/* When args (from the function above) < argc, logs at info that
 * argv[argc - 1] is not read. Call once the log level is set; `who` names
 * the program ("stage-09"). */
void xps_args_note_course_config(int args, int argc, char *const *argv,
                                 const char *who) XPS_NOEXCEPT;

/* The line each stage's --help gives the argument. */
#define XPS_ARGS_COURSE_CONFIG_HELP \
    "  CONFIG.json  the course tester's configuration: accepted last, not read\n"

#ifdef __cplusplus
}
#endif

#endif /* XPS_CORE_ARGS_H */
