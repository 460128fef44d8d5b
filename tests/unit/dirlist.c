/*
 * tests/unit/dirlist.c — modules/dirlist/xps_dirlist.h checked against its
 * contract.
 *
 * The tree is built in a fresh temporary folder by the group setup (and
 * removed by its teardown), so names, modes, times and links are exactly
 * what each table row says. A listing is read back with a small parser of
 * the rows the header promises (<tr><td><a href=...>text</a></td><td>size
 * </td><td>time</td></tr>), so the checks are about what a browser or the
 * course's tester would find in `table tr td a`, not about the bytes
 * around them.
 *
 * Tables: escaping (each awkward name: its href, its text, and that the
 * server's own path decoder turns the href back into the name — the link
 * opens); the order of a whole folder; the ".." link per path; what is
 * left out (dot-files, private files, FIFOs, links that lead out); error
 * codes per path. Then the properties: the same page whatever the read
 * size (1 byte to 64 KiB) and exactly xps_dirlist_length bytes long; a
 * 10,000-entry folder read in 512-byte pieces with every name exactly once
 * and the memory measured (the module's own figure, and the process's
 * heap with mallinfo2 where the allocator reports it: not under ASan);
 * the pipe stream with back-pressure, a sink that leaves early, and a pipe
 * that already has a source. Every test that uses a core ends with no
 * member left.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "core/xps_core.h"
#include "core/xps_logger.h"
#include "core/xps_pipe.h"
#include "http/xps_http_parser.h"
#include "modules/dirlist/xps_dirlist.h"

enum {
    BIG_COUNT = 10000,           /* entries of the large folder */
    MANY_COUNT = 400,            /* root/many: a page of a few chunks */
    SMALL_READ = 512,            /* the large folder's read size */
    TEST_THRESHOLD = 4096,       /* a pipe far smaller than a page */
    MTIME = 1700000000,          /* 2023-11-14 22:13:20 UTC */
};

static char tree[PATH_MAX];     /* the temporary folder holding everything */
static char root[PATH_MAX + 8]; /* tree/root: the document root */

/* ---------------------------------------------------------------- the tree */

static const char *at(const char *rel)
{
    static char bufs[4][PATH_MAX + 300];
    static int next;
    char *b = bufs[next++ % 4];
    int n = snprintf(b, sizeof bufs[0], "%s/%s", tree, rel);
    assert_true(n > 0 && (size_t)n < sizeof bufs[0]);
    return b;
}

/* A file of `len` bytes 'x', with an exact mode and modification time. */
static void make_file(const char *rel, size_t len, mode_t mode)
{
    int fd = open(at(rel), O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    for (size_t i = 0; i < len; i++)
        assert_int_equal(write(fd, "x", 1), 1);
    struct timespec times[2] = {{MTIME, 0}, {MTIME, 0}};
    assert_int_equal(futimens(fd, times), 0);
    assert_int_equal(close(fd), 0);
    assert_int_equal(chmod(at(rel), mode), 0); /* exact, whatever the umask */
}

static void make_dir(const char *rel, mode_t mode)
{
    assert_int_equal(mkdir(at(rel), 0755), 0);
    assert_int_equal(chmod(at(rel), mode), 0);
}

static void make_link(const char *rel, const char *target)
{
    assert_int_equal(symlink(target, at(rel)), 0);
}

/* The names of the root's escaping table, each a 0644 file of 3 bytes. */
static const char *const awkward[] = {
    "a b.txt", "x&y<z>.txt", "q\"'.txt", "100%.txt", "#hash", "what?", "\xC3\xA9.txt",
};

/*
 * tree/
 *   root/                       the document root (0755)
 *     the awkward names above   3 bytes each
 *     a.txt (5 bytes)  ab  ab.txt  B.txt     for the byte order
 *     .hidden  .git/            dot-files: never listed
 *     private.txt (0600)  fifo  not servable: never listed
 *     Alpha/  empty/  zeta/  sub/inner.txt  sub/deeper/  "sp ace&"/f.txt
 *     many/m000 ... m399        a page longer than two stream chunks
 *     locked/ (0700)            not readable by everyone: neither listed nor listable
 *     link-in -> sub   link-file -> a.txt     listed as what they point to
 *     link-out -> ../outside   link-abs-out -> <abs>/outside/secret.txt
 *     dangling -> nowhere       left out
 *   outside/secret.txt
 */
static void build_tree(void)
{
    make_dir("root", 0755);
    for (size_t i = 0; i < sizeof awkward / sizeof awkward[0]; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "root/%s", awkward[i]);
        make_file(rel, 3, 0644);
    }
    make_file("root/a.txt", 5, 0644);
    make_file("root/ab", 1, 0644);
    make_file("root/ab.txt", 1, 0644);
    make_file("root/B.txt", 1, 0644);
    make_file("root/.hidden", 1, 0644);
    make_dir("root/.git", 0755);
    make_file("root/private.txt", 1, 0600);
    assert_int_equal(mkfifo(at("root/fifo"), 0644), 0);
    make_dir("root/Alpha", 0755);
    make_dir("root/empty", 0755);
    make_dir("root/zeta", 0755);
    make_dir("root/sub", 0755);
    make_file("root/sub/inner.txt", 2, 0644);
    make_dir("root/sub/deeper", 0755);
    make_dir("root/sp ace&", 0755);
    make_file("root/sp ace&/f.txt", 1, 0644);
    make_dir("root/many", 0755);
    for (int i = 0; i < MANY_COUNT; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "root/many/m%03d", i);
        make_file(rel, 0, 0644);
    }
    make_dir("root/locked", 0700);
    make_dir("outside", 0755);
    make_file("outside/secret.txt", 1, 0644);
    make_link("root/link-in", "sub");
    make_link("root/link-file", "a.txt");
    make_link("root/link-out", "../outside");
    make_link("root/link-abs-out", at("outside/secret.txt"));
    make_link("root/dangling", "nowhere");
    /* The folders' own times, now that their contents are made. */
    const char *dirs[] = {"root/Alpha", "root/empty", "root/zeta", "root/sub", "root/sp ace&",
                          "root/many"};
    struct timespec times[2] = {{MTIME, 0}, {MTIME, 0}};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
        assert_int_equal(utimensat(AT_FDCWD, at(dirs[i]), times, 0), 0);
}

static int group_setup(void **state)
{
    (void)state;
    xps_log_threshold = XPS_LOG_ERROR; /* refusals are expected here: keep the output short */
    const char *tmp = getenv("TMPDIR");
    snprintf(tree, sizeof tree, "%s/xps-dirlist-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(tree));
    assert_int_equal(chmod(tree, 0755), 0);
    build_tree();
    snprintf(root, sizeof root, "%s/root", tree);
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
    return nftw(tree, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ------------------------------------------------------- reading a page */

/* The whole page of `dl`, read `step` bytes at a time (NUL-terminated,
 * malloc'ed); *len gets its length. */
static char *read_all(xps_dirlist_t *dl, size_t step, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *page = malloc(cap);
    char *piece = malloc(step);
    assert_non_null(page);
    assert_non_null(piece);
    for (;;) {
        size_t got = xps_dirlist_read(dl, piece, step);
        assert_true(got <= step);
        if (got == 0)
            break;
        if (n + got + 1 > cap) {
            while (n + got + 1 > cap)
                cap *= 2;
            page = realloc(page, cap);
            assert_non_null(page);
        }
        memcpy(page + n, piece, got);
        n += got;
    }
    assert_int_equal(xps_dirlist_read(dl, piece, step), 0); /* and 0 ever after */
    free(piece);
    page[n] = '\0';
    *len = n;
    return page;
}

static xps_dirlist_t *list_ok(const char *path, unsigned flags)
{
    int error = XPS_E_FAIL;
    xps_dirlist_t *dl = xps_dirlist_create(root, path, flags, &error);
    if (!dl)
        fail_msg("xps_dirlist_create(\"%s\"): %s", path, xps_strerror(error));
    assert_int_equal(error, XPS_OK);
    return dl;
}

/* The page of `path`, read in 4 KiB pieces, checked to be exactly
 * xps_dirlist_length bytes. */
static char *page_of(const char *path, unsigned flags)
{
    xps_dirlist_t *dl = list_ok(path, flags);
    size_t len;
    char *page = read_all(dl, 4096, &len);
    assert_int_equal(len, xps_dirlist_length(dl));
    assert_int_equal(strlen(page), len); /* no NUL inside */
    xps_dirlist_destroy(dl);
    return page;
}

/* One row of the table, as the header promises it. */
struct row {
    char *href, *text, *size, *time;
};

struct rows {
    struct row *v;
    size_t n, cap;
};

/* A copy of the text from *p up to `end` (which must come), *p moved past it. */
static char *take_until(const char **p, const char *end)
{
    const char *e = strstr(*p, end);
    if (!e)
        fail_msg("expected \"%s\" in \"%.80s\"", end, *p);
    char *s = strndup(*p, (size_t)(e - *p));
    assert_non_null(s);
    *p = e + strlen(end);
    return s;
}

/* Every row with a link, in page order (the ".." row included). */
static struct rows parse_rows(const char *page)
{
    static const char start[] = "<tr><td><a href=\"";
    struct rows r = {NULL, 0, 0};
    for (const char *p = strstr(page, start); p; p = strstr(p, start)) {
        p += strlen(start);
        if (r.n == r.cap) {
            r.cap = r.cap ? 2 * r.cap : 64;
            r.v = realloc(r.v, r.cap * sizeof *r.v);
            assert_non_null(r.v);
        }
        struct row *w = &r.v[r.n++];
        w->href = take_until(&p, "\">");
        w->text = take_until(&p, "</a></td><td>");
        w->size = take_until(&p, "</td><td>");
        w->time = take_until(&p, "</td></tr>\n");
    }
    return r;
}

static void free_rows(struct rows *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->v[i].href);
        free(r->v[i].text);
        free(r->v[i].size);
        free(r->v[i].time);
    }
    free(r->v);
}

/* The row whose link text is `text`, or NULL. */
static const struct row *find_text(const struct rows *r, const char *text)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->v[i].text, text) == 0)
            return &r->v[i];
    return NULL;
}

/* ------------------------------------------------------------- escaping */

struct escape_case {
    const char *name; /* on disk, in root/ */
    const char *href; /* what the link must say */
    const char *text; /* what the link must show, as HTML source */
};

static const struct escape_case escape_cases[] = {
    {"a b.txt", "/a%20b.txt", "a b.txt"},
    {"x&y<z>.txt", "/x%26y%3Cz%3E.txt", "x&amp;y&lt;z&gt;.txt"},
    {"q\"'.txt", "/q%22%27.txt", "q&quot;&#39;.txt"},
    {"100%.txt", "/100%25.txt", "100%.txt"},
    {"#hash", "/%23hash", "#hash"},
    {"what?", "/what%3F", "what?"},
    {"\xC3\xA9.txt", "/%C3%A9.txt", "\xC3\xA9.txt"}, /* é in UTF-8: shown as itself */
};

static void escaping(void **state)
{
    (void)state;
    char *page = page_of("/", 0);
    struct rows r = parse_rows(page);
    for (size_t i = 0; i < sizeof escape_cases / sizeof escape_cases[0]; i++) {
        const struct escape_case *c = &escape_cases[i];
        const struct row *w = find_text(&r, c->text);
        if (!w)
            fail_msg("no link shows \"%s\"", c->text);
        assert_string_equal(w->href, c->href);
        assert_string_equal(w->size, "3");
        /* The click: the server's decoder gives back "/" + the name. */
        char decoded[256], expected[256];
        size_t dlen;
        assert_int_equal(xps_http_path_normalize(w->href, strlen(w->href), decoded,
                                                 sizeof decoded, &dlen), XPS_OK);
        snprintf(expected, sizeof expected, "/%s", c->name);
        assert_string_equal(decoded, expected);
    }
    free_rows(&r);
    free(page);
}

/* A folder whose own path needs escaping: the title and every href. */
static void escaping_in_the_path(void **state)
{
    (void)state;
    char *page = page_of("/sp ace&/", 0);
    assert_non_null(strstr(page, "<title>Index of /sp ace&amp;/</title>"));
    assert_non_null(strstr(page, "<h1>Index of /sp ace&amp;/</h1>"));
    struct rows r = parse_rows(page);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.v[0].text, "..");
    assert_string_equal(r.v[0].href, "/");
    assert_string_equal(r.v[1].text, "f.txt");
    assert_string_equal(r.v[1].href, "/sp%20ace%26/f.txt");
    free_rows(&r);
    free(page);
}

/* ------------------------------------------------------- order and rows */

/* The root's rows, in order: folders first, then files, each by bytes
 * ('A' 0x41 < 'a'; ' ' < '.' < 'b'; a name before a longer one it begins;
 * 0xC3 last), links listed as what they point to, and nothing else. */
struct order_case {
    const char *text, *href, *size;
};

static const struct order_case root_rows[] = {
    {"Alpha/", "/Alpha/", "-"},
    {"empty/", "/empty/", "-"},
    {"link-in/", "/link-in/", "-"},
    {"many/", "/many/", "-"},
    {"sp ace&amp;/", "/sp%20ace%26/", "-"},
    {"sub/", "/sub/", "-"},
    {"zeta/", "/zeta/", "-"},
    {"#hash", "/%23hash", "3"},
    {"100%.txt", "/100%25.txt", "3"},
    {"B.txt", "/B.txt", "1"},
    {"a b.txt", "/a%20b.txt", "3"},
    {"a.txt", "/a.txt", "5"},
    {"ab", "/ab", "1"},
    {"ab.txt", "/ab.txt", "1"},
    {"link-file", "/link-file", "5"},
    {"q&quot;&#39;.txt", "/q%22%27.txt", "3"},
    {"what?", "/what%3F", "3"},
    {"x&amp;y&lt;z&gt;.txt", "/x%26y%3Cz%3E.txt", "3"},
    {"\xC3\xA9.txt", "/%C3%A9.txt", "3"},
};

static void order_of_the_root(void **state)
{
    (void)state;
    char *page = page_of("/", 0);
    struct rows r = parse_rows(page);
    size_t n = sizeof root_rows / sizeof root_rows[0];
    for (size_t i = 0; i < r.n && i < n; i++) {
        if (strcmp(r.v[i].text, root_rows[i].text) != 0)
            fail_msg("row %zu: \"%s\", expected \"%s\"", i, r.v[i].text, root_rows[i].text);
        assert_string_equal(r.v[i].href, root_rows[i].href);
        assert_string_equal(r.v[i].size, root_rows[i].size);
    }
    assert_int_equal(r.n, n);
    xps_dirlist_t *dl = list_ok("/", 0);
    assert_int_equal(xps_dirlist_count(dl), n);
    xps_dirlist_destroy(dl);
    free_rows(&r);
    free(page);
}

/* The same folder listed twice gives the same bytes. */
static void same_page_twice(void **state)
{
    (void)state;
    char *a = page_of("/", 0), *b = page_of("/", 0);
    assert_string_equal(a, b);
    free(a);
    free(b);
}

/* Sizes in bytes, times in UTC, the document's fixed parts. */
static void page_parts(void **state)
{
    (void)state;
    assert_string_equal(xps_dirlist_content_type(), "text/html");
    char *page = page_of("/", 0);
    assert_memory_equal(page, "<!DOCTYPE html>\n", 16);
    assert_non_null(strstr(page, "<meta charset=\"utf-8\">"));
    assert_non_null(strstr(page, "<title>Index of /</title>"));
    assert_non_null(strstr(page, "<table>"));
    assert_non_null(strstr(page, "<th>Modified (UTC)</th>"));
    static const char tail[] = "</table>\n</body>\n</html>\n";
    size_t len = strlen(page);
    assert_true(len > sizeof tail);
    assert_string_equal(page + len - (sizeof tail - 1), tail);
    struct rows r = parse_rows(page);
    const struct row *a = find_text(&r, "a.txt");
    assert_non_null(a);
    assert_string_equal(a->size, "5");
    assert_string_equal(a->time, "2023-11-14 22:13:20");
    const struct row *sub = find_text(&r, "sub/");
    assert_non_null(sub);
    assert_string_equal(sub->time, "2023-11-14 22:13:20");
    free_rows(&r);
    free(page);
}

/* XPS_DIRLIST_BARE_FOLDERS: "/sub", the course tester's form; text keeps '/'. */
static void bare_folders(void **state)
{
    (void)state;
    char *page = page_of("/", XPS_DIRLIST_BARE_FOLDERS);
    struct rows r = parse_rows(page);
    const struct row *sub = find_text(&r, "sub/");
    assert_non_null(sub);
    assert_string_equal(sub->href, "/sub");
    assert_string_equal(find_text(&r, "a.txt")->href, "/a.txt");
    free_rows(&r);
    free(page);
    page = page_of("/sub/deeper/", XPS_DIRLIST_BARE_FOLDERS);
    r = parse_rows(page);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.v[0].href, "/sub/"); /* ".." keeps its '/' */
    free_rows(&r);
    free(page);
}

/* ------------------------------------------------------- the ".." link */

struct parent_case {
    const char *path;   /* listed */
    const char *parent; /* the ".." href, NULL: no ".." row */
    size_t rows;        /* rows with a link, ".." included */
};

static const struct parent_case parent_cases[] = {
    {"/", NULL, sizeof root_rows / sizeof root_rows[0]},
    {"", NULL, sizeof root_rows / sizeof root_rows[0]}, /* "" is "/" */
    {"/sub/", "/", 3},                                  /* .., deeper/, inner.txt */
    {"/sub", "/", 3},                                   /* no '/': the same folder */
    {"sub", "/", 3},
    {"/sub/deeper/", "/sub/", 1},
    {"/link-in/", "/", 3},  /* through a link: hrefs follow the path asked */
    {"/empty/", "/", 1},
};

static void parent_link(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof parent_cases / sizeof parent_cases[0]; i++) {
        const struct parent_case *c = &parent_cases[i];
        char *page = page_of(c->path, 0);
        struct rows r = parse_rows(page);
        const struct row *up = find_text(&r, "..");
        if (c->parent) {
            if (!up || up != &r.v[0])
                fail_msg("\"%s\": no \"..\" first row", c->path);
            assert_string_equal(up->href, c->parent);
        } else if (up) {
            fail_msg("\"%s\": a \"..\" row at the root", c->path);
        }
        if (r.n != c->rows)
            fail_msg("\"%s\": %zu rows, expected %zu", c->path, r.n, c->rows);
        free_rows(&r);
        free(page);
    }
    char *page = page_of("/link-in/", 0);
    assert_non_null(strstr(page, "href=\"/link-in/inner.txt\""));
    assert_non_null(strstr(page, "href=\"/link-in/deeper/\""));
    free(page);
}

/* ------------------------------------------------------ what is hidden */

/* Names that must appear nowhere in the root's page. */
static const char *const never_listed[] = {
    ".hidden", ".git", "private.txt", "fifo", "locked", "link-out", "link-abs-out",
    "dangling", "secret",
};

static void left_out(void **state)
{
    (void)state;
    char *page = page_of("/", 0);
    for (size_t i = 0; i < sizeof never_listed / sizeof never_listed[0]; i++)
        if (strstr(page, never_listed[i]))
            fail_msg("\"%s\" is on the page", never_listed[i]);
    /* A dot inside a name is no dot-file. */
    assert_non_null(strstr(page, ">a.txt<"));
    free(page);
}

/* -------------------------------------------------------------- errors */

struct error_case {
    const char *path;
    int error;
};

static const struct error_case error_cases[] = {
    {"/missing/", XPS_E_NOTFOUND},
    {"/sub/missing", XPS_E_NOTFOUND},
    {"/a.txt", XPS_E_NOTFOUND},     /* a file, not a folder */
    {"/a.txt/", XPS_E_NOTFOUND},
    {"/dangling/", XPS_E_NOTFOUND},
    {"/../outside/", XPS_E_PERMISSION}, /* above the root */
    {"/sub/../../outside", XPS_E_PERMISSION},
    {"/link-out/", XPS_E_PERMISSION},   /* a link that leads out */
    {"/locked/", XPS_E_PERMISSION},     /* 0700: not readable by everyone (root too) */
    {"/fifo", XPS_E_NOTFOUND},
};

static void errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof error_cases / sizeof error_cases[0]; i++) {
        const struct error_case *c = &error_cases[i];
        int error = XPS_OK;
        xps_dirlist_t *dl = xps_dirlist_create(root, c->path, 0, &error);
        if (dl || error != c->error)
            fail_msg("\"%s\": %s, expected %s", c->path, dl ? "listed" : xps_strerror(error),
                     xps_strerror(c->error));
    }
    int error = XPS_OK;
    assert_null(xps_dirlist_create(at("no-such-root"), "/", 0, &error));
    assert_int_equal(error, XPS_E_NOTFOUND);
    assert_null(xps_dirlist_create(root, "/missing/", 0, NULL)); /* error may be NULL */
}

/* Unreadable by the process (not only by everyone): mode 0000. As root,
 * EACCES never comes, and the S_IROTH rule answers instead; either way it
 * is XPS_E_PERMISSION, never a listing. */
static void unreadable_folder(void **state)
{
    (void)state;
    make_dir("root/closed", 0000);
    int error = XPS_OK;
    assert_null(xps_dirlist_create(root, "/closed/", 0, &error));
    assert_int_equal(error, XPS_E_PERMISSION);
    assert_int_equal(rmdir(at("root/closed")), 0);
}

/* ------------------------------------------------------ any read size */

static void any_read_size(void **state)
{
    (void)state;
    static const size_t steps[] = {1, 7, 64, SMALL_READ, 65536};
    char *expected = page_of("/", 0);
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        xps_dirlist_t *dl = list_ok("/", 0);
        size_t len;
        char *page = read_all(dl, steps[i], &len);
        assert_int_equal(len, xps_dirlist_length(dl));
        assert_string_equal(page, expected);
        free(page);
        xps_dirlist_destroy(dl);
    }
    free(expected);
}

/* ------------------------------------------------------- a big folder */

/* Heap bytes in use, as glibc reports them; 0 when the allocator does not
 * (ASan has its own). */
static size_t heap_in_use(void)
{
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}

static bool heap_is_measurable(void)
{
    size_t before = heap_in_use();
    char *p = malloc(1 << 20);
    assert_non_null(p);
    memset(p, 1, 1 << 20);
    size_t during = heap_in_use();
    free(p);
    return during >= before + (1 << 20);
}

/* The name of the big folder's i-th file: varied lengths, a space, UTF-8. */
static void big_name(int i, char *buf, size_t cap)
{
    snprintf(buf, cap, "f%05d%s", i, i % 3 == 0 ? " \xC3\xBC.txt" : i % 3 == 1 ? ".dat" : "");
}

static void big_folder(void **state)
{
    (void)state;
    make_dir("root/big", 0755);
    char name[64], rel[128];
    for (int i = 0; i < BIG_COUNT; i++) {
        big_name(i, name, sizeof name);
        snprintf(rel, sizeof rel, "root/big/%s", name);
        int fd = open(at(rel), O_WRONLY | O_CREAT | O_EXCL, 0644);
        assert_true(fd >= 0);
        assert_int_equal(close(fd), 0);
    }
    assert_int_equal(chmod(at("root/big"), 0755), 0);

    /* Pass 1: memory. Nothing but the module allocates between the marks. */
    bool measurable = heap_is_measurable();
    char piece[SMALL_READ];
    size_t before = heap_in_use();
    xps_dirlist_t *dl = list_ok("/big/", 0);
    size_t after_create = heap_in_use(), peak = after_create, total = 0, got;
    size_t held = xps_dirlist_memory(dl);
    while ((got = xps_dirlist_read(dl, piece, sizeof piece)) > 0) {
        total += got;
        size_t now = heap_in_use();
        peak = now > peak ? now : peak;
        assert_int_equal(xps_dirlist_memory(dl), held); /* reading holds no more */
    }
    uint64_t length = xps_dirlist_length(dl);
    assert_int_equal(total, length);
    assert_int_equal(xps_dirlist_count(dl), BIG_COUNT);
    /* The promise: 24 bytes + the name per entry, plus a row buffer of a
     * few KB; and far less than the page, which is never held. */
    size_t names = 0;
    for (int i = 0; i < BIG_COUNT; i++) {
        big_name(i, name, sizeof name);
        names += strlen(name);
    }
    assert_true(held <= (size_t)BIG_COUNT * 24 + names + 8192);
    assert_true(held < length / 2);
    print_message("      10,000 entries: page %llu bytes, listing holds %zu bytes",
                  (unsigned long long)length, held);
    if (measurable) {
        assert_int_equal(peak, after_create); /* not one byte more while reading */
        assert_true(after_create - before <= held + held / 4 + 4096); /* malloc's overhead */
        print_message(", heap +%zu bytes\n", after_create - before);
    } else {
        print_message(" (the heap is not measurable under this allocator)\n");
    }
    xps_dirlist_destroy(dl);

    /* Pass 2: every name exactly once, in byte order, all files. */
    dl = list_ok("/big/", 0);
    size_t len;
    char *page = read_all(dl, SMALL_READ, &len);
    xps_dirlist_destroy(dl);
    struct rows r = parse_rows(page);
    assert_int_equal(r.n, BIG_COUNT + 1); /* and ".." */
    assert_string_equal(r.v[0].text, "..");
    char *seen = calloc(BIG_COUNT, 1);
    assert_non_null(seen);
    for (size_t i = 1; i < r.n; i++) {
        int n = atoi(r.v[i].text + 1);
        assert_true(r.v[i].text[0] == 'f' && n >= 0 && n < BIG_COUNT);
        big_name(n, name, sizeof name);
        assert_string_equal(r.v[i].text, name);
        assert_int_equal(seen[n]++, 0);
        assert_int_equal(n, (int)i - 1); /* "f00000..." sort by number */
        char decoded[256], expected[256];
        size_t dlen;
        assert_int_equal(xps_http_path_normalize(r.v[i].href, strlen(r.v[i].href), decoded,
                                                 sizeof decoded, &dlen), XPS_OK);
        snprintf(expected, sizeof expected, "/big/%s", name);
        assert_string_equal(decoded, expected);
    }
    free(seen);
    free_rows(&r);
    free(page);
    for (int i = 0; i < BIG_COUNT; i++) {
        big_name(i, name, sizeof name);
        snprintf(rel, sizeof rel, "root/big/%s", name);
        assert_int_equal(unlink(at(rel)), 0);
    }
    assert_int_equal(rmdir(at("root/big")), 0);
}

/* --------------------------------------------------------- the stream */

/* A pipe sink that reads everything and remembers how it arrived. */
struct sink {
    char *bytes;
    size_t len, cap;
    size_t max_pipe_len; /* most bytes the pipe held at a consume() */
    size_t done_calls;   /* source_done() calls */
    size_t stop_after;   /* detach once this many bytes are read (0: never) */
    bool detached;
};

static void sink_consume(xps_pipe_t *pipe, void *data)
{
    struct sink *s = data;
    if (xps_pipe_len(pipe) > s->max_pipe_len)
        s->max_pipe_len = xps_pipe_len(pipe);
    size_t want = xps_pipe_len(pipe);
    if (s->len + want + 1 > s->cap) {
        s->cap = (s->len + want + 1) * 2;
        s->bytes = realloc(s->bytes, s->cap);
        assert_non_null(s->bytes);
    }
    size_t got = 0;
    assert_int_equal(xps_pipe_read(pipe, s->bytes + s->len, want, &got), XPS_OK);
    s->len += got;
    s->bytes[s->len] = '\0';
    if (s->stop_after && s->len >= s->stop_after) {
        xps_pipe_detach_sink(pipe);
        s->detached = true;
    }
}

static void sink_done(xps_pipe_t *pipe, void *data)
{
    struct sink *s = data;
    s->done_calls++;
    xps_pipe_detach_sink(pipe);
    s->detached = true;
}

static void drive(xps_core_t *core)
{
    size_t rounds = 0;
    while (xps_core_has_tasks(core)) {
        assert_true(++rounds < 100000); /* a stream that never ends */
        xps_core_run_tasks(core);
        xps_core_collect(core);
    }
    xps_core_collect(core);
}

/* stop_after 0: the whole page arrives, under the pipe's threshold plus
 * one chunk, then source_done once. Else the sink leaves early and the
 * stream (and the listing it owns) goes away. */
static void stream_case(size_t stop_after)
{
    xps_core_t *core = xps_core_create();
    assert_non_null(core);
    char *expected = page_of("/many/", 0);
    assert_true(strlen(expected) > 2 * XPS_DIRLIST_CHUNK); /* several rounds */
    xps_pipe_t *pipe = xps_pipe_create(core, TEST_THRESHOLD);
    assert_non_null(pipe);
    assert_int_equal(xps_dirlist_attach(list_ok("/many/", 0), core, pipe), XPS_OK);
    assert_int_equal(xps_core_member_count(core), 1); /* the stream */
    struct sink s = {.stop_after = stop_after};
    assert_int_equal(xps_pipe_attach_sink(pipe, sink_consume, sink_done, &s), XPS_OK);
    xps_pipe_set_sink_ready(pipe, true);
    drive(core);
    assert_true(s.detached);
    if (stop_after == 0) {
        assert_int_equal(s.done_calls, 1);
        assert_int_equal(s.len, strlen(expected));
        assert_string_equal(s.bytes, expected);
        assert_true(s.max_pipe_len <= TEST_THRESHOLD + XPS_DIRLIST_CHUNK);
    } else {
        assert_int_equal(s.done_calls, 0);
        assert_true(s.len >= stop_after && s.len < strlen(expected));
    }
    assert_int_equal(xps_core_member_count(core), 0); /* the stream has ended */
    free(s.bytes);
    free(expected);
    xps_core_destroy(core);
}

static void stream_whole(void **state)
{
    (void)state;
    stream_case(0);
}

static void stream_sink_leaves(void **state)
{
    (void)state;
    stream_case(100);
}

/* A pipe that already has a source: refused, and the listing is
 * destroyed anyway (a leak here shows under ASan or valgrind). */
static void stream_refused(void **state)
{
    (void)state;
    xps_core_t *core = xps_core_create();
    assert_non_null(core);
    xps_pipe_t *pipe = xps_pipe_create(core, TEST_THRESHOLD);
    assert_non_null(pipe);
    assert_int_equal(xps_dirlist_attach(list_ok("/sub/", 0), core, pipe), XPS_OK);
    assert_int_equal(xps_dirlist_attach(list_ok("/sub/", 0), core, pipe), XPS_E_FAIL);
    assert_int_equal(xps_core_member_count(core), 1); /* only the first stream */
    /* A sink that leaves at once ends the first stream; the pipe, both
     * ends detached, frees itself. */
    struct sink s = {0};
    assert_int_equal(xps_pipe_attach_sink(pipe, sink_consume, sink_done, &s), XPS_OK);
    xps_pipe_detach_sink(pipe);
    drive(core);
    assert_int_equal(xps_core_member_count(core), 0);
    xps_core_destroy(core);
}

/* A stream still running when the core goes: the core ends it. */
static void stream_core_destroyed(void **state)
{
    (void)state;
    xps_core_t *core = xps_core_create();
    assert_non_null(core);
    xps_pipe_t *pipe = xps_pipe_create(core, TEST_THRESHOLD);
    assert_non_null(pipe);
    struct sink s = {0};
    assert_int_equal(xps_pipe_attach_sink(pipe, sink_consume, sink_done, &s), XPS_OK);
    assert_int_equal(xps_dirlist_attach(list_ok("/many/", 0), core, pipe), XPS_OK);
    xps_pipe_set_sink_ready(pipe, false); /* never reads: the stream waits at the threshold */
    drive(core);
    assert_int_equal(xps_core_member_count(core), 1);
    xps_pipe_detach_sink(pipe);
    xps_core_destroy(core); /* the stream's member ends it; no leak under ASan */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(escaping),
        cmocka_unit_test(escaping_in_the_path),
        cmocka_unit_test(order_of_the_root),
        cmocka_unit_test(same_page_twice),
        cmocka_unit_test(page_parts),
        cmocka_unit_test(bare_folders),
        cmocka_unit_test(parent_link),
        cmocka_unit_test(left_out),
        cmocka_unit_test(errors),
        cmocka_unit_test(unreadable_folder),
        cmocka_unit_test(any_read_size),
        cmocka_unit_test(big_folder),
        cmocka_unit_test(stream_whole),
        cmocka_unit_test(stream_sink_leaves),
        cmocka_unit_test(stream_refused),
        cmocka_unit_test(stream_core_destroyed),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
