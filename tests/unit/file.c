/*
 * tests/unit/file.c — modules/file/xps_file.h checked against its contract.
 *
 * Confinement: every way out of the document root we know of ("..", links
 * that point out, absolute paths, a sibling folder whose name starts like
 * the root's) is refused, and the ways that stay inside work. The tree is
 * built in a fresh temporary folder by the group setup, so modes and links
 * are exactly what each row says.
 *
 * Streaming: a file is read through a pipe by a test sink in both modes,
 * small, empty and multi-buffer (1 MiB + 123 bytes against a 256 KiB pipe),
 * and compared byte for byte; the sink also records what kind of items it
 * saw and how full the pipe got, which is what shows back-pressure and
 * zero-copy ranges. Pipes are driven as the loop would drive them:
 * xps_core_run_tasks() then xps_core_collect(), round after round.
 *
 * Tests run as root in CI, where permission bits stop nothing. Two rules
 * still hold for root and are tested directly: files without S_IROTH are
 * refused, and so is anything that is not a regular file. The cases that
 * need a real EACCES (a folder we may not enter, a file whose owner may not
 * read it) run in a child that drops to uid 65534 ("nobody") when we are
 * root, and in-process otherwise; a control row proves the child can read
 * at all, so the check cannot pass by refusing everything.
 *
 * Every test ends with the core's member count at zero once its open-file
 * cache is dropped (no stream left) and destroys its core; run under valgrind or `make SAN=1` for leaks.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tests/support/harness.h" /* xt_fd_count */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/xps_core.h"
#include "core/xps_logger.h"
#include "core/xps_pipe.h"
#include "modules/file/xps_file.h"

enum {
    BIG_SIZE = (1 << 20) + 123,       /* 17 chunks of 64 KiB, the last short */
    TEST_THRESHOLD = 256 * 1024,      /* a pipe smaller than the big file */
    NOBODY = 65534,                   /* uid/gid to drop to when root */
    SKIPPED = 77,                     /* child exit status: could not drop */
};

static const char SAMPLE[] = "hello from the root\n";
static const char PAGE[] = "<p>a page</p>\n";
static const char INSIDE[] = "root/etc/passwd, not the system's\n";
static const char LITERAL[] = "a file literally named %2e%2e\n";
static const char SECRET[] = "outside the root\n";

static char tree[PATH_MAX];      /* the temporary folder holding everything */
static char root[PATH_MAX + 8];  /* tree/root: the document root */
static char real_root[PATH_MAX]; /* realpath(root) */
static unsigned char *big;       /* the contents of root/big.bin */

/* ---------------------------------------------------------------- the tree */

/* tree + "/" + rel, in one of a few rotating buffers (so two can be used
 * in one call). */
static const char *at(const char *rel)
{
    static char bufs[4][PATH_MAX];
    static int next;
    char *b = bufs[next++ % 4];
    int n = snprintf(b, PATH_MAX, "%s/%s", tree, rel);
    assert_true(n > 0 && n < PATH_MAX);
    return b;
}

static void make_file(const char *rel, const void *bytes, size_t len, mode_t mode)
{
    int fd = open(at(rel), O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, bytes, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
    assert_int_equal(chmod(at(rel), mode), 0); /* exact, whatever the umask */
}

static void make_text(const char *rel, const char *text, mode_t mode)
{
    make_file(rel, text, strlen(text), mode);
}

static void make_dir(const char *rel)
{
    assert_int_equal(mkdir(at(rel), 0755), 0);
    assert_int_equal(chmod(at(rel), 0755), 0);
}

static void make_link(const char *rel, const char *target)
{
    assert_int_equal(symlink(target, at(rel)), 0);
}

/*
 * tree/
 *   root/            the document root
 *     sample.txt  empty.txt  big.bin  %2e%2e  private.txt (0600)
 *     no-bits.txt (0000)  owner-cannot-read.txt (0044)  fifo
 *     sub/page.html  sub/link-up -> ../sample.txt
 *     etc/passwd  dir/  locked/ (0000) locked/inner.txt
 *     link-in-rel -> sub/page.html   link-in-abs -> <abs>/root/sample.txt
 *     link-self -> .   link-dir-in -> sub
 *     link-out -> ../outside/secret.txt   link-out-abs -> <abs>/outside/...
 *     link-dir-out -> ../outside   link-sibling -> ../root-private/secret.txt
 *     link-etc -> /etc/passwd   dangling -> nowhere   loop-a <-> loop-b
 *   root-link -> root   outside/secret.txt   root-private/secret.txt
 *   temp/file.txt     (the course's stage 12 target, ../temp/file.txt)
 */
static void build_tree(void)
{
    make_dir("root");
    make_dir("root/sub");
    make_dir("root/etc");
    make_dir("root/dir");
    make_dir("root/locked");
    make_dir("outside");
    make_dir("root-private");
    make_dir("temp");
    make_text("root/sample.txt", SAMPLE, 0644);
    make_text("root/empty.txt", "", 0644);
    make_file("root/big.bin", big, BIG_SIZE, 0644);
    make_text("root/%2e%2e", LITERAL, 0644);
    make_text("root/private.txt", "a key\n", 0600);
    make_text("root/no-bits.txt", "a key\n", 0000);
    make_text("root/owner-cannot-read.txt", "owner may not read\n", 0044);
    make_text("root/sub/page.html", PAGE, 0644);
    make_text("root/etc/passwd", INSIDE, 0644);
    make_text("root/locked/inner.txt", "behind a locked door\n", 0644);
    make_text("outside/secret.txt", SECRET, 0644);
    make_text("root-private/secret.txt", SECRET, 0644);
    make_text("temp/file.txt", SECRET, 0644);
    assert_int_equal(mkfifo(at("root/fifo"), 0644), 0);
    make_link("root/sub/link-up", "../sample.txt");
    make_link("root/link-in-rel", "sub/page.html");
    make_link("root/link-in-abs", at("root/sample.txt"));
    make_link("root/link-self", ".");
    make_link("root/link-dir-in", "sub");
    make_link("root/link-out", "../outside/secret.txt");
    make_link("root/link-out-abs", at("outside/secret.txt"));
    make_link("root/link-dir-out", "../outside");
    make_link("root/link-sibling", "../root-private/secret.txt");
    make_link("root/link-etc", "/etc/passwd");
    make_link("root/dangling", "nowhere");
    make_link("root/loop-a", "loop-b");
    make_link("root/loop-b", "loop-a");
    make_link("root-link", "root");
    assert_int_equal(chmod(at("root/locked"), 0000), 0);
    /* As root, hand the 0044 file to nobody: owner bits (none) then apply
     * to the child that runs as nobody. */
    if (geteuid() == 0)
        assert_int_equal(chown(at("root/owner-cannot-read.txt"), NOBODY, NOBODY), 0);
}

static int group_setup(void **state)
{
    (void)state;
    big = malloc(BIG_SIZE);
    assert_non_null(big);
    for (size_t i = 0; i < BIG_SIZE; i++)
        big[i] = (unsigned char)((i * 31 + 7) % 251); /* no period of 64 KiB */
    const char *tmp = getenv("TMPDIR");
    snprintf(tree, sizeof tree, "%s/xps-file-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(tree));
    assert_int_equal(chmod(tree, 0755), 0); /* nobody must be able to enter */
    build_tree();
    snprintf(root, sizeof root, "%s/root", tree);
    assert_non_null(realpath(root, real_root));
    return 0;
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st, (void)type, (void)ftw;
    return remove(path);
}

static int group_teardown(void **state)
{
    (void)state;
    chmod(at("root/locked"), 0755); /* so a non-root run can empty it */
    int rc = nftw(tree, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    free(big);
    return rc;
}

/* ----------------------------------------------------------- test sink */

/* A pipe sink that reads everything and remembers how it arrived. */
struct sink {
    xps_pipe_t *pipe;
    unsigned char *bytes;  /* everything read, in order */
    size_t len, cap;
    size_t consume_calls;  /* consume() calls */
    size_t done_calls;     /* source_done() calls */
    size_t late_consumes;  /* consume() after source_done(): must stay 0 */
    size_t ranges;         /* items that were file ranges */
    size_t buffers;        /* items that were bytes */
    size_t largest_buffer; /* largest bytes item */
    size_t max_pipe_len;   /* most bytes the pipe held at a consume() */
    size_t len_at_done;    /* bytes read when source_done() came */
    int64_t range_offset;  /* the first range item: where it started ... */
    size_t range_len;      /* ... and how long it was */
    size_t stop_after;     /* detach once this many bytes are read (0: never) */
    bool detached;         /* the sink has detached */
    int read_error;        /* first error from xps_pipe_read */
    xps_core_member_t *member; /* when the sink is a core member, else NULL */
};

/* Reads the first item whole, classifying it. False when the sink ended. */
static bool sink_take_item(struct sink *s, xps_pipe_t *pipe, const xps_pipe_chunk_t *c)
{
    if (c->bytes) {
        s->buffers++;
        if (c->len > s->largest_buffer)
            s->largest_buffer = c->len;
    } else if (s->ranges++ == 0) {
        s->range_offset = c->offset;
        s->range_len = c->len;
    }
    if (s->len + c->len > s->cap) {
        s->cap = (s->len + c->len) * 2;
        s->bytes = realloc(s->bytes, s->cap);
        assert_non_null(s->bytes);
    }
    size_t got = 0;
    int rc = xps_pipe_read(pipe, s->bytes + s->len, c->len, &got);
    s->len += got;
    if (rc != XPS_OK && s->read_error == XPS_OK)
        s->read_error = rc;
    if (rc != XPS_OK || (s->stop_after && s->len >= s->stop_after)) {
        xps_pipe_detach_sink(pipe);
        s->detached = true;
        return false;
    }
    return true;
}

static void sink_consume(xps_pipe_t *pipe, void *data)
{
    struct sink *s = data;
    s->consume_calls++;
    if (s->done_calls)
        s->late_consumes++;
    if (xps_pipe_len(pipe) > s->max_pipe_len)
        s->max_pipe_len = xps_pipe_len(pipe);
    xps_pipe_chunk_t c;
    while (xps_pipe_peek(pipe, &c) == XPS_OK)
        if (!sink_take_item(s, pipe, &c))
            return;
}

static void sink_done(xps_pipe_t *pipe, void *data)
{
    struct sink *s = data;
    s->done_calls++;
    s->len_at_done = s->len;
    xps_pipe_detach_sink(pipe);
    s->detached = true;
}

/* A new pipe with `s` attached as a ready sink. */
static xps_pipe_t *sink_attach(xps_core_t *core, struct sink *s)
{
    xps_pipe_t *pipe = xps_pipe_create(core, TEST_THRESHOLD);
    assert_non_null(pipe);
    s->pipe = pipe;
    assert_int_equal(xps_pipe_attach_sink(pipe, sink_consume, sink_done, s), XPS_OK);
    xps_pipe_set_sink_ready(pipe, true);
    return pipe;
}

/* The core's member destroy for a sink (the way a connection is one). */
static void sink_member_destroy(void *data)
{
    struct sink *s = data;
    xps_core_remove_member(s->member); /* frees the record */
    s->member = NULL;
    if (!s->detached) {
        xps_pipe_detach_sink(s->pipe);
        s->detached = true;
    }
}

/* Runs rounds as the loop would, until nothing is queued. Returns the
 * number of rounds. */
static size_t drive(xps_core_t *core)
{
    size_t rounds = 0;
    while (xps_core_has_tasks(core)) {
        assert_true(++rounds < 10000); /* a stream that never ends */
        xps_core_run_tasks(core);
        xps_core_collect(core);
    }
    xps_core_collect(core);
    return rounds;
}

static xps_core_t *new_core(void)
{
    xps_core_t *core = xps_core_create();
    assert_non_null(core);
    return core;
}

/* Ends a test: no stream left behind (the open-file cache, dropped first,
 * is the only other member a core gets from this module), then the core
 * goes. */
static void end_core(xps_core_t *core)
{
    xps_file_cache_drop(core);
    assert_int_equal(xps_core_member_count(core), 0);
    xps_core_destroy(core);
}

static xps_file_t *open_ok(xps_core_t *core, const char *path);

/* open_ok, then the core's open-file cache dropped: the file lives on by
 * itself, and the stream tests' member and descriptor counts are the
 * streams' alone. */
static xps_file_t *open_alone(xps_core_t *core, const char *path)
{
    xps_file_t *file = open_ok(core, path);
    xps_file_cache_drop(core);
    return file;
}

static xps_file_t *open_ok(xps_core_t *core, const char *path)
{
    int error = XPS_E_FAIL;
    xps_file_t *file = xps_file_create(core, root, path, &error);
    if (!file)
        fail_msg("xps_file_create(\"%s\"): %s", path, xps_strerror(error));
    assert_int_equal(error, XPS_OK);
    return file;
}

/* The expected contents of a file of the tree by its name under root. */
static const unsigned char *contents_of(const char *path, size_t *len)
{
    if (strcmp(path, "big.bin") == 0) {
        *len = BIG_SIZE;
        return big;
    }
    const char *text = strcmp(path, "sample.txt") == 0 ? SAMPLE : "";
    *len = strlen(text);
    return (const unsigned char *)text;
}

/* ------------------------------------------------------- confinement */

struct confine_case {
    const char *path;    /* as a client might ask for it */
    int error;           /* what xps_file_create must answer */
    const char *content; /* for XPS_OK: what the file must hold */
};

static const struct confine_case confine_cases[] = {
    /* requests that stay inside */
    {"sample.txt", XPS_OK, SAMPLE},
    {"/sample.txt", XPS_OK, SAMPLE},
    {"//sample.txt", XPS_OK, SAMPLE},
    {"./sample.txt", XPS_OK, SAMPLE},
    {"sub/../sample.txt", XPS_OK, SAMPLE},
    {"nowhere/../sample.txt", XPS_OK, SAMPLE}, /* ".." by text, as in a URL */
    {"sub/page.html", XPS_OK, PAGE},
    {"/etc/passwd", XPS_OK, INSIDE},           /* root/etc/passwd */
    {"%2e%2e", XPS_OK, LITERAL},               /* no percent-decoding here */
    /* climbing out with "..": refused, whether the target exists or not */
    {"../temp/file.txt", XPS_E_PERMISSION, NULL}, /* the stage 09 case */
    {"../temp/no-such-file", XPS_E_PERMISSION, NULL},
    {"..", XPS_E_PERMISSION, NULL},
    {"../x", XPS_E_PERMISSION, NULL},
    {"a/../../x", XPS_E_PERMISSION, NULL},
    {"/../outside/secret.txt", XPS_E_PERMISSION, NULL},
    {"sub/../../outside/secret.txt", XPS_E_PERMISSION, NULL},
    {"./../root/sample.txt", XPS_E_PERMISSION, NULL}, /* out, even if back in */
    /* links: followed, then judged by where they lead */
    {"link-in-rel", XPS_OK, PAGE},
    {"link-in-abs", XPS_OK, SAMPLE},
    {"sub/link-up", XPS_OK, SAMPLE},
    {"link-self/sample.txt", XPS_OK, SAMPLE},
    {"link-dir-in/page.html", XPS_OK, PAGE},
    {"link-out", XPS_E_PERMISSION, NULL},
    {"link-out-abs", XPS_E_PERMISSION, NULL},
    {"link-dir-out/secret.txt", XPS_E_PERMISSION, NULL},
    {"link-sibling", XPS_E_PERMISSION, NULL}, /* "root-private" starts with "root" */
    {"link-etc", XPS_E_PERMISSION, NULL},
    {"dangling", XPS_E_NOTFOUND, NULL},
    {"loop-a", XPS_E_NOTFOUND, NULL},
    /* missing, and things that are not regular files */
    {"missing.txt", XPS_E_NOTFOUND, NULL},
    {"sub/missing.txt", XPS_E_NOTFOUND, NULL},
    {"sample.txt/x", XPS_E_NOTFOUND, NULL},
    {"dir", XPS_E_NOTFOUND, NULL},
    {"dir/", XPS_E_NOTFOUND, NULL},
    {"sample.txt/", XPS_E_NOTFOUND, NULL}, /* a '/' at the end names a folder */
    {"sample.txt/.", XPS_E_NOTFOUND, NULL},
    {"sub/page.html/..", XPS_E_NOTFOUND, NULL},
    {"link-dir-in", XPS_E_NOTFOUND, NULL},
    {"", XPS_E_NOTFOUND, NULL},  /* the root itself: a directory */
    {"/", XPS_E_NOTFOUND, NULL},
    {"fifo", XPS_E_PERMISSION, NULL}, /* and the call must not block */
    /* not readable by everyone: refused, even when running as root */
    {"private.txt", XPS_E_PERMISSION, NULL},
    {"no-bits.txt", XPS_E_PERMISSION, NULL},
};

/* Checks one row against `root_dir`; returns a message or NULL. The
 * message is static (one row at a time). */
static const char *check_confine(xps_core_t *core, const char *root_dir,
                                 const struct confine_case *row)
{
    static char msg[512];
    int error = 12345;
    xps_file_t *file = xps_file_create(core, root_dir, row->path, &error);
    if (error != row->error || (file != NULL) != (row->error == XPS_OK)) {
        snprintf(msg, sizeof msg, "\"%s\" under %s: expected %s, got %s%s", row->path, root_dir,
                 xps_strerror(row->error), xps_strerror(error), file ? " and a file" : "");
        xps_file_destroy(file);
        return msg;
    }
    if (!file)
        return NULL;
    const char *why = NULL;
    char got[256] = {0};
    size_t want = strlen(row->content);
    if (xps_file_size(file) != want)
        why = "wrong size";
    else if (pread(xps_file_fd(file), got, sizeof got, 0) != (ssize_t)want ||
             memcmp(got, row->content, want) != 0)
        why = "wrong contents";
    else if (strncmp(xps_file_path(file), real_root, strlen(real_root)) != 0)
        why = "resolved path not under the real root";
    if (why)
        snprintf(msg, sizeof msg, "\"%s\": %s (%s)", row->path, why, xps_file_path(file));
    xps_file_destroy(file);
    return why ? msg : NULL;
}

static void confinement_table(void **state)
{
    (void)state;
    /* Here, and only here, every log line runs: the reader sees what each
     * refusal logs, and the sanitizers see every log call evaluated. */
    xps_log_set_level(XPS_LOG_DEBUG);
    xps_core_t *core = new_core();
    size_t n = sizeof confine_cases / sizeof confine_cases[0];
    for (int pass = 0; pass < 2; pass++) { /* the second with the cache warm */
        for (size_t i = 0; i < n; i++) {
            const char *msg = check_confine(core, root, &confine_cases[i]);
            if (msg)
                fail_msg("pass %d: %s", pass + 1, msg);
        }
    }
    xps_log_set_level(XPS_LOG_ERROR);
    end_core(core);
}

/* The same verdicts whatever spelling of the root is given: a trailing
 * slash, a link to it, a relative path. */
static void root_may_be_spelled_any_way(void **state)
{
    (void)state;
    xps_core_t *core = new_core();
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof cwd));
    char slash[sizeof root + 1];
    snprintf(slash, sizeof slash, "%s/", root);
    const char *roots[] = {slash, at("root-link"), "root", "./root/"};
    assert_int_equal(chdir(tree), 0); /* for the relative spellings */
    size_t n = sizeof confine_cases / sizeof confine_cases[0];
    for (size_t r = 0; r < sizeof roots / sizeof roots[0]; r++) {
        for (size_t i = 0; i < n; i++) {
            const char *msg = check_confine(core, roots[r], &confine_cases[i]);
            if (msg) {
                assert_int_equal(chdir(cwd), 0);
                fail_msg("%s", msg);
            }
        }
    }
    assert_int_equal(chdir(cwd), 0);
    end_core(core);
}

static void missing_root_is_not_found(void **state)
{
    (void)state;
    xps_core_t *core = new_core();
    int error = XPS_OK;
    assert_null(xps_file_create(core, at("no-such-root"), "sample.txt", &error));
    assert_int_equal(error, XPS_E_NOTFOUND);
    /* error may be NULL */
    assert_null(xps_file_create(core, root, "missing.txt", NULL));
    end_core(core);
}

/* Where a stage finds its files when told no root: ./public first, the
 * course's ../public second (its tester runs binaries from build/ with the
 * files beside it), ./public when neither is a folder; a --root given wins
 * (xps_file_choose_root). Each row makes its own layout under the tree:
 * <tree>/layout-N/build is the working directory, "./public" and
 * "../public" a folder, a plain file or absent. */
static void default_root_prefers_public_then_the_courses(void **state)
{
    (void)state;
    enum kind { NONE, DIR_, FILE_ };
    static const struct {
        enum kind here, above;  /* ./public and ../public */
        const char *root, *why; /* expected, and a word the reason must contain */
    } rows[] = {
        {DIR_, NONE, "./public", "is a folder"},
        {DIR_, DIR_, "./public", "is a folder"},  /* ours wins when both exist */
        {NONE, DIR_, "../public", "the course's ../public"},
        {FILE_, DIR_, "../public", "the course's ../public"}, /* a file is no root */
        {NONE, NONE, "./public", "neither"},
        {NONE, FILE_, "./public", "neither"},
    };
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof cwd));
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char layout[64], rel[96];
        snprintf(layout, sizeof layout, "layout-%zu", i);
        make_dir(layout);
        snprintf(rel, sizeof rel, "%s/build", layout);
        make_dir(rel);
        const enum kind kinds[] = {rows[i].here, rows[i].above};
        const char *places[] = {"%s/build/public", "%s/public"};
        for (int k = 0; k < 2; k++) {
            snprintf(rel, sizeof rel, places[k], layout);
            if (kinds[k] == DIR_)
                make_dir(rel);
            else if (kinds[k] == FILE_)
                make_text(rel, "not a folder\n", 0644);
        }
        snprintf(rel, sizeof rel, "%s/build", layout);
        assert_int_equal(chdir(at(rel)), 0);
        const char *why = NULL;
        const char *got = xps_file_default_root(&why);
        const char *also = xps_file_default_root(NULL); /* why may be NULL */
        const char *chosen = xps_file_choose_root(NULL);
        const char *given = xps_file_choose_root("/srv/www"); /* --root wins, found or not */
        assert_int_equal(chdir(cwd), 0);
        assert_string_equal(got, rows[i].root);
        assert_string_equal(also, rows[i].root);
        assert_string_equal(chosen, rows[i].root);
        assert_string_equal(given, "/srv/www");
        assert_non_null(why);
        if (!strstr(why, rows[i].why))
            fail_msg("row %zu: reason \"%s\" lacks \"%s\"", i, why, rows[i].why);
    }
}

/* A name longer than any path the kernel accepts cannot be a file. */
static void overlong_path_is_not_found(void **state)
{
    (void)state;
    xps_core_t *core = new_core();
    static char path[3 * PATH_MAX];
    memset(path, 'a', sizeof path - 1);
    for (size_t i = 200; i < sizeof path - 1; i += 201)
        path[i] = '/'; /* segments under NAME_MAX, the whole over PATH_MAX */
    int error = XPS_OK;
    assert_null(xps_file_create(core, root, path, &error));
    assert_int_equal(error, XPS_E_NOTFOUND);
    end_core(core);
}

/* Root "/" admits everything: the boundary test must not need a '/'
 * after the root. */
static void filesystem_root_as_root(void **state)
{
    (void)state;
    xps_core_t *core = new_core();
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/sample.txt", real_root);
    int error = XPS_E_FAIL;
    xps_file_t *file = xps_file_create(core, "/", path, &error);
    assert_int_equal(error, XPS_OK);
    assert_string_equal(xps_file_path(file), path);
    xps_file_destroy(file);
    end_core(core);
}

/* Cases that need a real EACCES, and a control row that must succeed. */
static const struct confine_case eacces_cases[] = {
    {"sample.txt", XPS_OK, SAMPLE},                    /* control */
    {"locked/inner.txt", XPS_E_PERMISSION, NULL},      /* may not enter */
    {"owner-cannot-read.txt", XPS_E_PERMISSION, NULL}, /* S_IROTH, yet no read */
};

/* Runs eacces_cases; returns the number of failures, printing each. */
static int run_eacces_cases(xps_core_t *core)
{
    int failures = 0;
    for (size_t i = 0; i < sizeof eacces_cases / sizeof eacces_cases[0]; i++) {
        const char *msg = check_confine(core, root, &eacces_cases[i]);
        if (msg) {
            fprintf(stderr, "as uid %d: %s\n", (int)geteuid(), msg);
            failures++;
        }
    }
    return failures;
}

static void unreadable_for_the_process_is_permission(void **state)
{
    (void)state;
    xps_core_t *core = new_core();
    if (geteuid() != 0) {
        assert_int_equal(run_eacces_cases(core), 0);
        end_core(core);
        return;
    }
    /* Root reads everything: ask as nobody, in a child. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (setgroups(0, NULL) != 0 || setgid(NOBODY) != 0 || setuid(NOBODY) != 0)
            _exit(SKIPPED);
        int failures = run_eacces_cases(core);
        xps_core_destroy(core); /* the child's copies: valgrind follows children */
        free(big);
        _exit(failures);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    end_core(core);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == SKIPPED) {
        print_message("cannot drop to uid %d here; EACCES cases not run\n", NOBODY);
        skip();
    }
    assert_int_equal(WEXITSTATUS(status), 0); /* failures are printed above */
}

static void resolve_reports_the_real_path(void **state)
{
    (void)state;
    char out[PATH_MAX];
    char want[PATH_MAX + 8];
    snprintf(want, sizeof want, "%s/sub", real_root);
    /* A directory resolves (xps_file_create would say NOTFOUND). */
    assert_int_equal(xps_file_resolve(root, "link-dir-in", out, sizeof out), XPS_OK);
    assert_string_equal(out, want);
    assert_int_equal(xps_file_resolve(root, "", out, sizeof out), XPS_OK);
    assert_string_equal(out, real_root);
    assert_int_equal(xps_file_resolve(root, "sub", out, strlen(want)), XPS_E_LIMIT);
    assert_int_equal(xps_file_resolve(root, "sub", out, strlen(want) + 1), XPS_OK);
    assert_int_equal(xps_file_resolve(root, "../temp", out, sizeof out), XPS_E_PERMISSION);
    assert_int_equal(xps_file_resolve(root, "link-dir-out", out, sizeof out), XPS_E_PERMISSION);
    assert_int_equal(xps_file_resolve(root, "nope", out, sizeof out), XPS_E_NOTFOUND);
}

static void accessors_describe_the_opened_file(void **state)
{
    (void)state;
    xps_core_t *core = new_core();
    char want[PATH_MAX + 32];

    xps_file_t *file = open_ok(core, "link-in-rel");
    snprintf(want, sizeof want, "%s/sub/page.html", real_root);
    assert_string_equal(xps_file_path(file), want); /* the link's target */
    assert_string_equal(xps_file_mime(file), "text/html");
    assert_int_equal(xps_file_size(file), strlen(PAGE));
    int fd = xps_file_fd(file);
    assert_true(fd >= 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_int_equal(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
    xps_file_destroy(file);
    assert_true(fcntl(fd, F_GETFD) >= 0); /* the open-file cache keeps it... */
    xps_file_cache_drop(core);
    assert_int_equal(fcntl(fd, F_GETFD), -1); /* ...until it is dropped */

    file = open_ok(core, "big.bin");
    assert_int_equal(xps_file_size(file), BIG_SIZE);
    assert_string_equal(xps_file_mime(file), "application/octet-stream");
    xps_file_destroy(file);

    file = open_ok(core, "sample.txt");
    assert_string_equal(xps_file_mime(file), "text/plain");
    xps_file_destroy(file);

    xps_file_destroy(NULL);
    end_core(core);
}

/* ------------------------------------------------------- open-file cache */

/* Writes `text` over tree/rel in place (same inode), keeping mode 0644. */
static void rewrite(const char *rel, const char *text)
{
    int fd = open(at(rel), O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(close(fd), 0);
}

static void expect_bytes(const xps_file_t *file, const char *text)
{
    assert_int_equal(xps_file_size(file), strlen(text));
    assert_non_null(xps_file_bytes(file)); /* small: kept in memory */
    assert_memory_equal(xps_file_bytes(file), text, strlen(text));
}

/* A second open of the same file comes from the cache (same descriptor,
 * bytes in memory, no new descriptor), and every change to the file is
 * seen by the very next open: an edit in place, a replacement by rename,
 * a chmod, a deletion. */
static void cache_serves_a_file_again_and_sees_every_change(void **state)
{
    (void)state;
    make_text("root/cached.txt", "version 1\n", 0644);
    xps_core_t *core = new_core();
    xps_file_t *a = open_ok(core, "cached.txt");
    expect_bytes(a, "version 1\n");
    int fds = xt_fd_count(getpid());
    xps_file_t *b = open_ok(core, "/./cached.txt"); /* another spelling, same file */
    assert_int_equal(xps_file_fd(b), xps_file_fd(a));
    assert_int_equal(xt_fd_count(getpid()), fds);
    xps_file_destroy(a);
    xps_file_destroy(b);

    /* In place (same inode). A longer text: an edit of the same size
     * within one clock tick can keep the same times on an older kernel
     * (xps_file.h), and this test must not depend on the kernel. */
    rewrite("root/cached.txt", "version 22\n");
    a = open_ok(core, "cached.txt");
    expect_bytes(a, "version 22\n");
    xps_file_destroy(a);

    make_text("root/cached.new", "version three\n", 0644);
    assert_int_equal(rename(at("root/cached.new"), at("root/cached.txt")), 0);
    a = open_ok(core, "cached.txt");
    expect_bytes(a, "version three\n");
    xps_file_destroy(a);

    assert_int_equal(chmod(at("root/cached.txt"), 0600), 0);
    int error = XPS_OK;
    assert_null(xps_file_create(core, root, "cached.txt", &error));
    assert_int_equal(error, XPS_E_PERMISSION);

    assert_int_equal(unlink(at("root/cached.txt")), 0);
    assert_null(xps_file_create(core, root, "cached.txt", &error));
    assert_int_equal(error, XPS_E_NOTFOUND);
    end_core(core);
}

/* A file in use outlives its eviction: the cache replaces it (the file
 * changed) while a request still holds the old one, whose descriptor and
 * bytes stay valid until that request destroys it. */
static void a_file_in_use_outlives_its_cache_entry(void **state)
{
    (void)state;
    make_text("root/held.txt", "old bytes\n", 0644);
    xps_core_t *core = new_core();
    xps_file_t *old = open_ok(core, "held.txt");
    rewrite("root/held.txt", "new bytes, longer\n");
    xps_file_t *now = open_ok(core, "held.txt");
    expect_bytes(now, "new bytes, longer\n");
    assert_int_not_equal(xps_file_fd(now), xps_file_fd(old));
    expect_bytes(old, "old bytes\n"); /* what it opened, still whole */
    assert_true(fcntl(xps_file_fd(old), F_GETFD) >= 0);
    xps_file_destroy(old);
    xps_file_destroy(now);
    assert_int_equal(unlink(at("root/held.txt")), 0);
    end_core(core);
}

/* The cache is bounded: opening many more files than it keeps holds at
 * most XPS_FILE_CACHE_FILES descriptors; a file over
 * XPS_FILE_CACHE_BYTES_MAX is not kept in memory. */
static void cache_holds_a_bounded_number_of_files(void **state)
{
    (void)state;
    enum { MANY = XPS_FILE_CACHE_FILES + 20 };
    make_dir("root/many");
    char rel[64];
    for (int i = 0; i < MANY; i++) {
        snprintf(rel, sizeof rel, "root/many/%d.txt", i);
        make_text(rel, "x", 0644);
    }
    int fds = xt_fd_count(getpid());
    xps_core_t *core = new_core();
    for (int i = 0; i < MANY; i++) {
        snprintf(rel, sizeof rel, "many/%d.txt", i);
        xps_file_destroy(open_ok(core, rel));
    }
    int held = xt_fd_count(getpid()) - fds;
    if (held < XPS_FILE_CACHE_FILES || held > XPS_FILE_CACHE_FILES + 1) /* + the root's */
        fail_msg("%d descriptors held after %d files, expected %d (+1 for the root)", held,
                 MANY, XPS_FILE_CACHE_FILES);
    xps_file_t *file = open_ok(core, "big.bin");
    assert_true(xps_file_size(file) > XPS_FILE_CACHE_BYTES_MAX);
    assert_null(xps_file_bytes(file));
    xps_file_destroy(file);
    end_core(core);
    assert_int_equal(xt_fd_count(getpid()), fds); /* dropped with the core */
    for (int i = 0; i < MANY; i++) {
        snprintf(rel, sizeof rel, "root/many/%d.txt", i);
        assert_int_equal(unlink(at(rel)), 0);
    }
    assert_int_equal(rmdir(at("root/many")), 0);
}

/* --------------------------------------------------------- streaming */

struct stream_case {
    const char *path;
    xps_file_mode_t mode;
    bool source_first; /* attach the file before the sink */
};

static const struct stream_case stream_cases[] = {
    {"sample.txt", XPS_FILE_RANGE, false},   {"sample.txt", XPS_FILE_BUFFERS, false},
    {"sample.txt", XPS_FILE_RANGE, true},    {"sample.txt", XPS_FILE_BUFFERS, true},
    {"empty.txt", XPS_FILE_RANGE, false},    {"empty.txt", XPS_FILE_BUFFERS, false},
    {"big.bin", XPS_FILE_RANGE, false},      {"big.bin", XPS_FILE_BUFFERS, false},
    {"big.bin", XPS_FILE_RANGE, true},       {"big.bin", XPS_FILE_BUFFERS, true},
};

/* What the sink must have seen after a whole stream of `len` bytes. */
static void expect_whole_stream(const struct sink *s, xps_file_mode_t mode,
                                const unsigned char *want, size_t len)
{
    assert_int_equal(s->read_error, XPS_OK);
    assert_int_equal(s->done_calls, 1);     /* end of stream, told once ... */
    assert_int_equal(s->len_at_done, len);  /* ... after the last byte */
    assert_int_equal(s->late_consumes, 0);
    assert_int_equal(s->len, len);
    if (len)
        assert_memory_equal(s->bytes, want, len);
    else
        assert_int_equal(s->consume_calls, 0); /* nothing to consume */
    if (mode == XPS_FILE_RANGE) {
        /* One zero-copy item: a socket sink could sendfile() it. */
        assert_int_equal(s->buffers, 0);
        assert_int_equal(s->ranges, len ? 1 : 0);
        if (len)
            assert_int_equal(s->range_len, len);
    } else {
        assert_int_equal(s->ranges, 0);
        assert_int_equal(s->buffers, (len + XPS_FILE_CHUNK - 1) / XPS_FILE_CHUNK);
        assert_true(s->largest_buffer <= XPS_FILE_CHUNK);
        /* Back-pressure: the file is read as the sink drains, never more
         * than a chunk past the threshold. */
        assert_true(s->max_pipe_len <= TEST_THRESHOLD + XPS_FILE_CHUNK);
        if (len > TEST_THRESHOLD + XPS_FILE_CHUNK)
            assert_true(s->consume_calls >= len / (TEST_THRESHOLD + XPS_FILE_CHUNK) + 1);
    }
}

/* Each row: open, attach, DESTROY THE FILE AT ONCE (the stream holds its
 * own descriptor), drive, compare. */
static void streams_whole_files_in_both_modes(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof stream_cases / sizeof stream_cases[0]; i++) {
        const struct stream_case *row = &stream_cases[i];
        print_message("%s, %s, %s first\n", row->path,
                      row->mode == XPS_FILE_RANGE ? "range" : "buffers",
                      row->source_first ? "source" : "sink");
        xps_core_t *core = new_core();
        struct sink s = {0};
        xps_pipe_t *pipe = NULL;
        if (!row->source_first)
            pipe = sink_attach(core, &s);
        else
            pipe = xps_pipe_create(core, TEST_THRESHOLD);
        assert_non_null(pipe);
        xps_file_t *file = open_alone(core, row->path);
        assert_int_equal(xps_file_attach(file, pipe, row->mode), XPS_OK);
        xps_file_destroy(file);
        assert_int_equal(xps_core_member_count(core), 1); /* the stream */
        if (row->source_first) {
            drive(core); /* nothing may happen without a sink */
            assert_int_equal(xps_core_member_count(core), 1);
            s.pipe = pipe;
            assert_int_equal(xps_pipe_attach_sink(pipe, sink_consume, sink_done, &s), XPS_OK);
            xps_pipe_set_sink_ready(pipe, true);
        }
        drive(core);
        size_t len;
        const unsigned char *want = contents_of(row->path, &len);
        expect_whole_stream(&s, row->mode, want, len);
        free(s.bytes);
        end_core(core);
    }
}

/* A part of a file (a Range reply), in both modes. */
static void streams_a_part_in_both_modes(void **state)
{
    (void)state;
    const int64_t offset = 100000;
    const size_t len = 200000;
    const xps_file_mode_t modes[] = {XPS_FILE_RANGE, XPS_FILE_BUFFERS};
    for (size_t m = 0; m < 2; m++) {
        xps_core_t *core = new_core();
        struct sink s = {0};
        xps_pipe_t *pipe = sink_attach(core, &s);
        xps_file_t *file = open_alone(core, "big.bin");
        assert_int_equal(xps_file_attach_part(file, pipe, modes[m], offset, len), XPS_OK);
        xps_file_destroy(file);
        drive(core);
        expect_whole_stream(&s, modes[m], big + offset, len);
        if (modes[m] == XPS_FILE_RANGE)
            assert_int_equal(s.range_offset, offset);
        free(s.bytes);
        end_core(core);
    }
}

/* Out-of-bounds parts are refused and leave the pipe without a source. */
static void part_out_of_bounds_is_refused(void **state)
{
    (void)state;
    xps_core_t *core = new_core();
    struct sink s = {0};
    xps_pipe_t *pipe = sink_attach(core, &s);
    xps_file_t *file = open_alone(core, "sample.txt");
    size_t size = xps_file_size(file);
    const struct {
        int64_t offset;
        size_t len;
    } bad[] = {{-1, 1}, {(int64_t)size + 1, 0}, {0, size + 1}, {1, size}, {0, (size_t)-1}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(xps_file_attach_part(file, pipe, XPS_FILE_RANGE, bad[i].offset, bad[i].len),
                         XPS_E_INVAL);
        assert_false(xps_pipe_has_source(pipe));
        assert_int_equal(xps_core_member_count(core), 0);
    }
    /* The edge that is allowed: nothing, from the very end. */
    assert_int_equal(xps_file_attach_part(file, pipe, XPS_FILE_BUFFERS, (int64_t)size, 0), XPS_OK);
    xps_file_destroy(file);
    drive(core);
    assert_int_equal(s.done_calls, 1);
    assert_int_equal(s.len, 0);
    end_core(core);
}

/* A pipe has one source, ever: a second attach fails and changes nothing. */
static void second_source_is_refused(void **state)
{
    (void)state;
    xps_core_t *core = new_core();
    struct sink s = {0};
    xps_pipe_t *pipe = sink_attach(core, &s);
    xps_file_t *file = open_alone(core, "sample.txt");
    assert_int_equal(xps_file_attach(file, pipe, XPS_FILE_BUFFERS), XPS_OK);
    assert_int_equal(xps_file_attach(file, pipe, XPS_FILE_RANGE), XPS_E_FAIL);
    assert_int_equal(xps_core_member_count(core), 1);
    xps_file_destroy(file);
    drive(core);
    expect_whole_stream(&s, XPS_FILE_BUFFERS, (const unsigned char *)SAMPLE, strlen(SAMPLE));
    free(s.bytes);
    end_core(core);
}

/* One file, two streams at once (each with its own descriptor and offset). */
static void one_file_feeds_two_pipes(void **state)
{
    (void)state;
    xps_core_t *core = new_core();
    struct sink a = {0}, b = {0};
    xps_pipe_t *pa = sink_attach(core, &a);
    xps_pipe_t *pb = sink_attach(core, &b);
    xps_file_t *file = open_alone(core, "big.bin");
    assert_int_equal(xps_file_attach(file, pa, XPS_FILE_BUFFERS), XPS_OK);
    assert_int_equal(xps_file_attach(file, pb, XPS_FILE_BUFFERS), XPS_OK);
    assert_int_equal(xps_core_member_count(core), 2);
    drive(core);
    xps_file_destroy(file); /* after, this time: either order is fine */
    expect_whole_stream(&a, XPS_FILE_BUFFERS, big, BIG_SIZE);
    expect_whole_stream(&b, XPS_FILE_BUFFERS, big, BIG_SIZE);
    free(a.bytes);
    free(b.bytes);
    end_core(core);
}

/* The sink leaves mid-stream: the stream hears sink_gone and frees itself. */
static void sink_leaving_ends_the_stream(void **state)
{
    (void)state;
    const xps_file_mode_t modes[] = {XPS_FILE_RANGE, XPS_FILE_BUFFERS};
    for (size_t m = 0; m < 2; m++) {
        int fds = xt_fd_count(getpid());
        xps_core_t *core = new_core();
        struct sink s = {.stop_after = 1};
        xps_pipe_t *pipe = sink_attach(core, &s);
        xps_file_t *file = open_alone(core, "big.bin");
        assert_int_equal(xps_file_attach(file, pipe, modes[m]), XPS_OK);
        xps_file_destroy(file);
        drive(core);
        assert_true(s.detached);
        assert_int_equal(s.done_calls, 0);
        assert_int_equal(s.consume_calls, 1);
        if (modes[m] == XPS_FILE_BUFFERS) /* the rest was never read */
            assert_int_equal(s.len, XPS_FILE_CHUNK);
        assert_int_equal(xt_fd_count(getpid()), fds); /* the stream's and the pipe's */
        free(s.bytes);
        end_core(core); /* member count 0: the stream is gone */
    }
}

/* Shutting down mid-stream: the core destroys the stream (a member), the
 * sink (a member too, like a connection), and the pipe with them. No
 * callback runs during the teardown; valgrind/ASan check nothing leaks. */
static void core_destroy_ends_a_running_stream(void **state)
{
    (void)state;
    int fds = xt_fd_count(getpid());
    xps_core_t *core = new_core();
    struct sink s = {0};
    xps_pipe_t *pipe = sink_attach(core, &s);
    s.member = xps_core_add_member(core, sink_member_destroy, &s);
    assert_non_null(s.member);
    xps_file_t *file = open_alone(core, "big.bin");
    assert_int_equal(xps_file_attach(file, pipe, XPS_FILE_BUFFERS), XPS_OK);
    xps_file_destroy(file);
    for (int i = 0; i < 3; i++) { /* a few rounds: some bytes flowed */
        xps_core_run_tasks(core);
        xps_core_collect(core);
    }
    assert_true(s.len > 0 && s.len < BIG_SIZE);
    assert_int_equal(xps_core_member_count(core), 2);
    size_t consumed = s.consume_calls;
    xps_core_destroy(core);
    assert_true(s.detached);
    assert_int_equal(s.done_calls, 0);
    assert_int_equal(s.consume_calls, consumed);
    assert_int_equal(xt_fd_count(getpid()), fds); /* the stream's descriptor is closed */
    free(s.bytes);
}

int main(void)
{
    /* Refusals are logged at warn level: hundreds of them would bury the
     * results. confinement_table turns every level on for its own rows. */
    xps_log_set_level(XPS_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(confinement_table),
        cmocka_unit_test(root_may_be_spelled_any_way),
        cmocka_unit_test(missing_root_is_not_found),
        cmocka_unit_test(default_root_prefers_public_then_the_courses),
        cmocka_unit_test(overlong_path_is_not_found),
        cmocka_unit_test(filesystem_root_as_root),
        cmocka_unit_test(unreadable_for_the_process_is_permission),
        cmocka_unit_test(resolve_reports_the_real_path),
        cmocka_unit_test(accessors_describe_the_opened_file),
        cmocka_unit_test(cache_serves_a_file_again_and_sees_every_change),
        cmocka_unit_test(a_file_in_use_outlives_its_cache_entry),
        cmocka_unit_test(cache_holds_a_bounded_number_of_files),
        cmocka_unit_test(streams_whole_files_in_both_modes),
        cmocka_unit_test(streams_a_part_in_both_modes),
        cmocka_unit_test(part_out_of_bounds_is_refused),
        cmocka_unit_test(second_source_is_refused),
        cmocka_unit_test(one_file_feeds_two_pipes),
        cmocka_unit_test(sink_leaving_ends_the_stream),
        cmocka_unit_test(core_destroy_ends_a_running_stream),
    };
    return cmocka_run_group_tests_name("modules/file/xps_file", tests, group_setup,
                                       group_teardown);
}
