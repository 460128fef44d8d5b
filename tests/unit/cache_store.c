/*
 * tests/unit/cache_store.c — modules/cache/xps_cache_store.h with real
 * files and processes: an entry written, committed and read back; a
 * second writer of the same key told to wait while the first lives, and
 * let in once the first was killed mid-write (its temporary file gone,
 * the old entry still served); an aborted write leaves nothing; entries
 * committed in a child process are seen by the parent (the index is
 * shared across fork); the least recently used entries go first when
 * max_bytes or max_entries would be passed; a new open clears what a run
 * left, and a folder it cannot use is refused with its name. (The robust
 * lock's repair, for a process killed while it holds the index's lock,
 * has no seam to be driven from here: not exercised by this test.)
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/xps.h"
#include "modules/cache/xps_cache_store.h"

static char dir[64];

static int fresh_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/xps-unit-cache-%d", (int)getpid());
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int files_in_dir(const char *prefix)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.' && strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    if (d)
        closedir(d);
    return n;
}

static xps_cache_store_t *open_store(uint64_t max_bytes, size_t max_entries)
{
    char err[256] = "";
    xps_cache_store_t *s = xps_cache_store_open(dir, max_bytes, max_entries, err, sizeof err);
    if (!s)
        fail_msg("xps_cache_store_open: %s", err);
    return s;
}

static void put(xps_cache_store_t *s, const char *key, const char *value)
{
    int error = XPS_OK;
    xps_cache_writer_t *w = xps_cache_write_begin(s, key, &error);
    if (!w)
        fail_msg("write_begin(%s): %s", key, xps_strerror(error));
    assert_int_equal(xps_cache_write(w, value, strlen(value)), XPS_OK);
    assert_int_equal(xps_cache_write_commit(w), XPS_OK);
}

/* The entry's bytes (static), or NULL when there is none. */
static const char *get(xps_cache_store_t *s, const char *key)
{
    static char buf[4096];
    int fd = -1;
    uint64_t size = 0;
    if (xps_cache_lookup(s, key, &fd, &size) != XPS_OK)
        return NULL;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    assert_int_equal(n, (ssize_t)size);
    buf[n] = '\0';
    return buf;
}

static void an_entry_is_written_committed_and_read(void **state)
{
    (void)state;
    xps_cache_store_t *s = open_store(1 << 20, 100);
    assert_null(get(s, "GET http://a/x"));
    int error = XPS_OK;
    xps_cache_writer_t *w = xps_cache_write_begin(s, "GET http://a/x", &error);
    assert_non_null(w);
    assert_int_equal(xps_cache_write(w, "HTTP/1.1 200 OK\r\n\r\n", 19), XPS_OK);
    assert_int_equal(xps_cache_write(w, "body", 4), XPS_OK);
    assert_null(get(s, "GET http://a/x")); /* not before the commit */
    assert_int_equal(files_in_dir("tmp-"), 1);
    assert_int_equal(xps_cache_write_commit(w), XPS_OK);
    assert_string_equal(get(s, "GET http://a/x"), "HTTP/1.1 200 OK\r\n\r\nbody");
    assert_int_equal(files_in_dir("tmp-"), 0);
    assert_int_equal(xps_cache_store_count(s), 1);
    assert_int_equal(xps_cache_store_bytes(s), 23);
    put(s, "GET http://a/x", "v2"); /* replaced */
    assert_string_equal(get(s, "GET http://a/x"), "v2");
    assert_int_equal(xps_cache_store_bytes(s), 2);
    xps_cache_remove(s, "GET http://a/x");
    assert_null(get(s, "GET http://a/x"));
    assert_int_equal(xps_cache_store_count(s), 0);
    xps_cache_store_close(s);
}

static void one_writer_per_key_and_a_killed_one_frees_it(void **state)
{
    (void)state;
    xps_cache_store_t *s = open_store(1 << 20, 100);
    put(s, "k", "old");
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t child = fork();
    if (child == 0) { /* begins a write, says so, and is killed in the middle */
        int error = XPS_OK;
        xps_cache_writer_t *w = xps_cache_write_begin(s, "k", &error);
        if (w)
            xps_cache_write(w, "half", 4);
        (void)!write(ready[1], w ? "1" : "0", 1);
        pause();
        _exit(0);
    }
    char c = 0;
    assert_int_equal(read(ready[0], &c, 1), 1);
    assert_int_equal(c, '1');
    int error = XPS_OK;
    assert_null(xps_cache_write_begin(s, "k", &error)); /* the child is writing it */
    assert_int_equal(error, XPS_E_AGAIN);
    assert_string_equal(get(s, "k"), "old");            /* the old entry is still served */
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    assert_int_equal(files_in_dir("tmp-"), 1);          /* its half entry, until ... */
    xps_cache_writer_t *w = xps_cache_write_begin(s, "k", &error);
    assert_non_null(w);                                  /* ... the key is taken again */
    assert_int_equal(files_in_dir("tmp-"), 1);          /* ours; the dead one's is gone */
    assert_int_equal(xps_cache_write(w, "new", 3), XPS_OK);
    assert_int_equal(xps_cache_write_commit(w), XPS_OK);
    assert_string_equal(get(s, "k"), "new");
    assert_int_equal(files_in_dir("tmp-"), 0);
    close(ready[0]);
    close(ready[1]);
    xps_cache_store_close(s);
}

static void an_aborted_write_leaves_nothing(void **state)
{
    (void)state;
    xps_cache_store_t *s = open_store(1 << 20, 100);
    int error = XPS_OK;
    xps_cache_writer_t *w = xps_cache_write_begin(s, "gone", &error);
    assert_int_equal(xps_cache_write(w, "abc", 3), XPS_OK);
    xps_cache_write_abort(w);
    assert_null(get(s, "gone"));
    assert_int_equal(files_in_dir(""), 0);
    w = xps_cache_write_begin(s, "gone", &error); /* and the key is free */
    assert_non_null(w);
    xps_cache_write_abort(w);
    xps_cache_store_close(s);
}

static void entries_are_shared_across_fork(void **state)
{
    (void)state;
    xps_cache_store_t *s = open_store(1 << 20, 100);
    pid_t child = fork();
    if (child == 0) {
        int error = XPS_OK;
        xps_cache_writer_t *w = xps_cache_write_begin(s, "from the child", &error);
        int ok = w && xps_cache_write(w, "hello", 5) == XPS_OK &&
                 xps_cache_write_commit(w) == XPS_OK;
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    waitpid(child, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_string_equal(get(s, "from the child"), "hello");
    assert_int_equal(xps_cache_store_count(s), 1);
    xps_cache_store_close(s);
}

static void the_least_recently_used_go_first(void **state)
{
    (void)state;
    xps_cache_store_t *s = open_store(10, 3); /* 10 bytes, 3 entries */
    put(s, "a", "aaa");
    put(s, "b", "bbb");
    put(s, "c", "ccc");
    assert_non_null(get(s, "a")); /* a is now newer than b */
    put(s, "d", "d");             /* 4 entries > 3: b goes */
    assert_null(get(s, "b"));
    assert_non_null(get(s, "a"));
    assert_non_null(get(s, "c"));
    assert_non_null(get(s, "d"));
    /* a, c, d were just read in that order: a is now the oldest */
    put(s, "e", "eeeee");         /* 3 + 3 + 1 + 5 = 12 > 10, 4 > 3 entries: a goes */
    assert_int_equal(xps_cache_store_count(s), 3);
    assert_int_equal(xps_cache_store_bytes(s), 9);
    assert_null(get(s, "a"));
    assert_non_null(get(s, "c"));
    assert_non_null(get(s, "e"));
    assert_non_null(get(s, "d"));
    put(s, "f", "ffff");          /* 13 > 10: c (the oldest read) goes, 10 left */
    assert_null(get(s, "c"));
    assert_int_equal(xps_cache_store_bytes(s), 10);
    int error = XPS_OK;           /* a single entry over max_bytes is refused */
    xps_cache_writer_t *w = xps_cache_write_begin(s, "big", &error);
    assert_int_equal(xps_cache_write(w, "0123456789x", 11), XPS_E_LIMIT);
    assert_int_equal(xps_cache_write_commit(w), XPS_E_FAIL);
    assert_null(get(s, "big"));
    assert_int_equal(files_in_dir("tmp-"), 0);
    assert_int_equal(files_in_dir(""), 3); /* d's, e's and f's files, nothing else */
    xps_cache_store_close(s);
}

static void a_new_open_clears_what_a_run_left_and_bad_folders_are_refused(void **state)
{
    (void)state;
    xps_cache_store_t *s = open_store(1 << 20, 100);
    put(s, "x", "left behind");
    char keep[128];
    snprintf(keep, sizeof keep, "%s/README", dir); /* not ours: kept */
    FILE *f = fopen(keep, "w");
    fclose(f);
    xps_cache_store_close(s);
    s = open_store(1 << 20, 100);
    assert_null(get(s, "x"));
    assert_int_equal(files_in_dir(""), 1);
    assert_int_equal(files_in_dir("README"), 1);
    xps_cache_store_close(s);
    unlink(keep);

    char err[256] = "";
    assert_null(xps_cache_store_open("/proc/xps-no-such/cache", 1 << 20, 10, err, sizeof err));
    assert_non_null(strstr(err, "/proc/xps-no-such/cache: "));
    assert_null(xps_cache_store_open(dir, 0, 10, err, sizeof err));
    assert_non_null(strstr(err, "max_bytes"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(an_entry_is_written_committed_and_read, fresh_dir),
        cmocka_unit_test_setup(one_writer_per_key_and_a_killed_one_frees_it, fresh_dir),
        cmocka_unit_test_setup(an_aborted_write_leaves_nothing, fresh_dir),
        cmocka_unit_test_setup(entries_are_shared_across_fork, fresh_dir),
        cmocka_unit_test_setup(the_least_recently_used_go_first, fresh_dir),
        cmocka_unit_test_setup(a_new_open_clears_what_a_run_left_and_bad_folders_are_refused,
                               fresh_dir),
    };
    int failed = cmocka_run_group_tests_name("cache_store", tests, NULL, NULL);
    fresh_dir(NULL); /* removes the folder */
    return failed;
}
