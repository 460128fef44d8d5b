/*
 * layout-probe — a stand-in for a stage binary that reports how it was
 * started, for the grader's self-test (grader_self_test.c): the working
 * directory, every argument, and whether ../public/xps_config.json (where
 * the course's tester keeps it) is there and holds the tester's 8004
 * listener. It prints one "name: value" line each and exits 0.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    char cwd[PATH_MAX];
    printf("cwd: %s\n", getcwd(cwd, sizeof cwd) ? cwd : "(unknown)");
    printf("argc: %d\n", argc);
    for (int i = 0; i < argc; i++)
        printf("argv[%d]: %s\n", i, argv[i]);
    char text[8192] = "";
    FILE *f = fopen("../public/xps_config.json", "r");
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[n] = '\0';
    if (f)
        fclose(f);
    printf("../public/xps_config.json: %s\n",
           !f ? "missing" : strstr(text, "8004") ? "the tester's" : "something else");
    return 0;
}
