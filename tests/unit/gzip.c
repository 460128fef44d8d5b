/*
 * tests/unit/gzip.c — modules/gzip/xps_gzip.h checked against its
 * contract, table by table: Accept-Encoding values (q-values, "*", a q of
 * 0 refusing, case, blanks, malformed values falling back to identity),
 * Content-Type matching (parameters ignored, "type/" + asterisk entries,
 * the built-in list and a route's own), ETag weakening, and the decision
 * (Vary and compress per status, length, encoding, client version).
 * Then the stream itself: bodies of several kinds (empty, one byte, text,
 * random bytes, 1 MiB) fed in odd-sized pieces (1, 7, 4093, 65537 bytes),
 * chunked and bare, each inflated back with zlib and compared byte for
 * byte; the chunked framing parsed strictly; no output piece over
 * XPS_GZIP_OUT_MAX; a write after the last fails; the pump stops at the
 * pipe's threshold and goes on when the pipe is drained, holding at most
 * the threshold plus one chunk.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/xps.h"
#include "core/xps_core.h"
#include "core/xps_pipe.h"
#include "modules/gzip/xps_gzip.h"

/* ------------------------------------------------- Accept-Encoding */

struct accept_case {
    const char *value; /* NULL: no header */
    bool gzip;
};

static const struct accept_case accept_rows[] = {
    {NULL, false},                          /* no header: identity */
    {"", false},                            /* empty: identity only */
    {"gzip", true},
    {"GZIP", true},                         /* names are case-insensitive */
    {"x-gzip", true},                       /* the old alias */
    {"deflate, gzip, br, zstd", true},      /* curl --compressed */
    {"gzip, deflate", true},                /* browsers, python requests */
    {"br", false},                          /* only another coding */
    {"identity", false},
    {"gzip;q=0", false},                    /* q=0: "not acceptable" */
    {"gzip; q=0", false},                   /* blanks around ';' */
    {"gzip ;q=0.000", false},
    {"gzip;Q=0", false},                    /* the parameter name too */
    {"gzip;q=0.001", true},                 /* the least above 0 */
    {"gzip;q=1", true},
    {"gzip;q=1.000", true},
    {"gzip;q=0.5, br;q=1", true},           /* any q above 0 accepts */
    {"*", true},                            /* anything, gzip included */
    {"*;q=0", false},
    {"br, *;q=0.1", true},
    {"gzip;q=0, *", false},                 /* named beats the wildcard */
    {"*, gzip;q=0", false},                 /* whatever the order */
    {"identity;q=0, *", true},
    {"gzip, gzip;q=0", true},               /* the best of repeats */
    {"  gzip  ", true},
    {"br,,gzip", true},                     /* empty elements are allowed */
    {",", false},
    {"gzip;q=2", false},                    /* malformed: identity */
    {"gzip;q=1.5", false},
    {"gzip;q=0.1234", false},               /* at most three decimals */
    {"gzip;q=", false},
    {"gzip;q", false},
    {"gzip;q=abc", false},
    {"gz ip", false},                       /* not a token */
    {"gzip;level=9", true},                 /* other parameters are ignored */
    {"gzip\"", false},
    {"gzipx", false},                       /* another name */
    {"xgzip", false},
    {"gzi", false},
};

static void accept_encoding_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof accept_rows / sizeof *accept_rows; i++) {
        const struct accept_case *r = &accept_rows[i];
        bool got = xps_gzip_accepts(r->value, r->value ? strlen(r->value) : 0);
        if (got != r->gzip)
            fail_msg("row %zu: Accept-Encoding %s%s%s: expected %s, got %s", i,
                     r->value ? "\"" : "", r->value ? r->value : "(none)", r->value ? "\"" : "",
                     r->gzip ? "gzip" : "identity", got ? "gzip" : "identity");
    }
    /* The length is what counts, not a NUL: "gzip;q=0" cut to "gzip". */
    assert_true(xps_gzip_accepts("gzip;q=0", 4));
    assert_false(xps_gzip_accepts("gzip", 0));
}

/* ---------------------------------------------------------- types */

struct type_case {
    const char *type;
    bool builtin; /* matches the built-in list */
    bool custom;  /* matches {"text/html", "application/" + asterisk} */
};

static const struct type_case type_rows[] = {
    {"text/html", true, true},
    {"text/html; charset=utf-8", true, true},
    {"TEXT/HTML;charset=UTF-8", true, true},
    {" text/html ;q", true, true},
    {"text/plain", true, false},
    {"text/css", true, false},
    {"application/javascript", true, true},
    {"application/json", true, true},
    {"image/svg+xml", true, false},
    {"image/jpeg", false, false},
    {"application/pdf", false, true},       /* the custom "application/" + asterisk */
    {"application/octet-stream", false, true},
    {"text/htmlx", false, false},
    {"text/htm", false, false},
    {"text", false, false},
    {"", false, false},
    {"applicationx/json", false, false},
};

static void content_type_table(void **state)
{
    (void)state;
    static const char *const custom_list[] = {"text/html", "application/*"};
    xps_gzip_settings_t builtin = {.enable = true};
    xps_gzip_settings_t custom = {.enable = true, .mime_types = custom_list, .n_mime_types = 2};
    for (size_t i = 0; i < sizeof type_rows / sizeof *type_rows; i++) {
        const struct type_case *r = &type_rows[i];
        bool b = xps_gzip_type_matches(&builtin, r->type, strlen(r->type));
        bool c = xps_gzip_type_matches(&custom, r->type, strlen(r->type));
        if (b != r->builtin || c != r->custom)
            fail_msg("row %zu: \"%s\": built-in list expected %d got %d; custom expected %d got %d",
                     i, r->type, r->builtin, b, r->custom, c);
    }
    assert_false(xps_gzip_type_matches(&builtin, NULL, 0));
    /* An empty list (gzip_mime_types: []) matches nothing. */
    xps_gzip_settings_t none = {.enable = true, .mime_types = custom_list, .n_mime_types = 0};
    assert_false(xps_gzip_type_matches(&none, "text/html", 9));
    size_t n = 0;
    const char *const *list = xps_gzip_default_types(&n);
    assert_true(n >= 10);
    for (size_t i = 0; i < n; i++)
        assert_true(xps_gzip_type_matches(&builtin, list[i], strlen(list[i])));
}

/* ----------------------------------------------------------- ETags */

struct etag_case {
    const char *in;
    const char *out; /* NULL: refused (out "") */
};

static const struct etag_case etag_rows[] = {
    {"\"abc\"", "W/\"abc\""},
    {"W/\"abc\"", "W/\"abc\""},             /* weak stays weak */
    {"\"\"", "W/\"\""},                     /* the empty tag is a tag */
    {"W/\"81b4-6b11b78d\"", "W/\"81b4-6b11b78d\""},
    {"abc", NULL},                          /* not quoted */
    {"\"abc", NULL},
    {"W/abc", NULL},
    {"w/\"abc\"", NULL},                    /* W is case-sensitive (RFC 9110 §8.8.3) */
    {"\"a\"b\"", NULL},
    {"\"a b\"", NULL},
    {"", NULL},
    {"\"", NULL},
};

static void etag_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof etag_rows / sizeof *etag_rows; i++) {
        char out[64];
        bool ok = xps_gzip_weaken_etag(etag_rows[i].in, strlen(etag_rows[i].in), out, sizeof out);
        if (ok != (etag_rows[i].out != NULL) || strcmp(out, etag_rows[i].out ? etag_rows[i].out : ""))
            fail_msg("row %zu: weaken(%s): expected %s, got %s \"%s\"", i, etag_rows[i].in,
                     etag_rows[i].out ? etag_rows[i].out : "refused", ok ? "ok" : "refused", out);
    }
    char small[8];
    assert_false(xps_gzip_weaken_etag("\"abcdef\"", 8, small, sizeof small)); /* W/"abcdef" + NUL = 11 */
    assert_string_equal(small, "");
    char fit[9]; /* W/"abcd" + NUL: exactly 9 */
    assert_true(xps_gzip_weaken_etag("\"abcd\"", 6, fit, sizeof fit));
    assert_string_equal(fit, "W/\"abcd\"");
}

/* -------------------------------------------------------- decisions */

struct decide_case {
    const char *what;
    bool enable;
    int status;
    const char *type;
    bool known;
    uint64_t length;
    bool encoded, http11;
    const char *accept;
    bool vary, compress;
};

static const struct decide_case decide_rows[] = {
    {"the plain case", true, 200, "text/html", true, 5000, false, true, "gzip", true, true},
    {"gzip_enable off", false, 200, "text/html", true, 5000, false, true, "gzip", false, false},
    {"a type not on the list", true, 200, "image/png", true, 5000, false, true, "gzip", false, false},
    {"no Accept-Encoding", true, 200, "text/html", true, 5000, false, true, NULL, true, false},
    {"gzip;q=0", true, 200, "text/html", true, 5000, false, true, "gzip;q=0", true, false},
    {"malformed Accept-Encoding", true, 200, "text/html", true, 5000, false, true, "gzip;q=x", true, false},
    {"206", true, 206, "text/html", true, 10, false, true, "gzip", true, false},
    {"304", true, 304, "text/html", true, 5000, false, true, "gzip", true, false},
    {"204", true, 204, "text/html", true, 0, false, true, "gzip", true, false},
    {"a 404 page", true, 404, "text/html", true, 5000, false, true, "gzip", true, true},
    {"under the minimum", true, 200, "text/html", true, 255, false, true, "gzip", true, false},
    {"at the minimum", true, 200, "text/html", true, 256, false, true, "gzip", true, true},
    {"an empty body", true, 200, "text/html", true, 0, false, true, "gzip", true, false},
    {"length unknown", true, 200, "text/html", false, 0, false, true, "gzip", true, true},
    {"already encoded", true, 200, "text/html", true, 5000, true, true, "gzip", false, false},
    {"HTTP/1.0", true, 200, "text/html", true, 5000, false, false, "gzip", true, false},
    {"charset parameter", true, 200, "text/plain; charset=utf-8", true, 5000, false, true, "*", true, true},
    {"no Content-Type", true, 200, NULL, true, 5000, false, true, "gzip", false, false},
};

static void decision_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof decide_rows / sizeof *decide_rows; i++) {
        const struct decide_case *r = &decide_rows[i];
        xps_gzip_settings_t s = {.enable = r->enable, .level = 6, .min_length = 256};
        xps_gzip_response_t res = {
            .status = r->status, .content_type = r->type,
            .content_type_len = r->type ? strlen(r->type) : 0, .length_known = r->known,
            .length = r->length, .encoded = r->encoded, .http11 = r->http11,
            .accept_encoding = r->accept, .accept_encoding_len = r->accept ? strlen(r->accept) : 0};
        xps_gzip_choice_t c = xps_gzip_decide(&s, &res);
        if (c.vary != r->vary || c.compress != r->compress)
            fail_msg("row %zu (%s): expected vary %d compress %d, got vary %d compress %d", i,
                     r->what, r->vary, r->compress, c.vary, c.compress);
    }
    xps_gzip_response_t res = {.status = 200, .content_type = "text/html", .content_type_len = 9};
    xps_gzip_choice_t c = xps_gzip_decide(NULL, &res);
    assert_false(c.vary || c.compress);
}

/* ------------------------------------------------------- the stream */

/* Everything waiting in `pipe`, appended to *out (grown with realloc);
 * each item's size is checked against the largest one piece may be. */
static void drain(xps_pipe_t *pipe, char **out, size_t *len, size_t *cap, size_t *largest)
{
    xps_pipe_chunk_t chunk;
    while (xps_pipe_peek(pipe, &chunk) == XPS_OK) {
        if (*len + chunk.len > *cap) {
            *cap = (*len + chunk.len) * 2;
            *out = realloc(*out, *cap);
            assert_non_null(*out);
        }
        memcpy(*out + *len, chunk.bytes, chunk.len);
        *len += chunk.len;
        if (chunk.len > *largest)
            *largest = chunk.len;
        xps_pipe_consume(pipe, chunk.len);
    }
}

/* The chunked coding of in[0..len), strictly (hex size, CRLF, data, CRLF,
 * ..., "0" CRLF CRLF, nothing after), decoded into a new buffer; the test
 * fails on any deviation. */
static char *dechunk(const char *in, size_t len, size_t *out_len)
{
    char *out = malloc(len + 1);
    assert_non_null(out);
    size_t at = 0, n = 0;
    for (;;) {
        size_t size = 0, digits = 0;
        while (at < len && strchr("0123456789abcdef", in[at]) && in[at]) {
            size = size * 16 + (size_t)(in[at] <= '9' ? in[at] - '0' : in[at] - 'a' + 10);
            at++, digits++;
        }
        if (digits == 0 || at + 2 > len || in[at] != '\r' || in[at + 1] != '\n')
            fail_msg("bad chunk size line at byte %zu", at);
        at += 2;
        if (size == 0)
            break;
        if (at + size + 2 > len || in[at + size] != '\r' || in[at + size + 1] != '\n')
            fail_msg("chunk of %zu bytes at %zu is not followed by CRLF", size, at);
        memcpy(out + n, in + at, size);
        n += size, at += size + 2;
    }
    if (at + 2 != len || in[at] != '\r' || in[at + 1] != '\n')
        fail_msg("the last-chunk is not the end: %zu bytes after it", len - at);
    *out_len = n;
    return out;
}

/* in[0..len) inflated as one gzip member that must end exactly at len. */
static char *gunzip(const char *in, size_t len, size_t expect, size_t *out_len)
{
    char *out = malloc(expect + 1);
    assert_non_null(out);
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK); /* gzip only, not zlib or raw */
    z.next_in = (Bytef *)in, z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out, z.avail_out = (uInt)expect + 1;
    int rc = inflate(&z, Z_FINISH);
    if (rc != Z_STREAM_END)
        fail_msg("inflate: %d (%s) after %lu bytes out", rc, z.msg ? z.msg : "", z.total_out);
    assert_int_equal(z.avail_in, 0); /* nothing after the gzip trailer */
    *out_len = z.total_out;
    inflateEnd(&z);
    return out;
}

enum { BODY_TEXT, BODY_RANDOM, BODY_ZEROS };

static char *make_body(int kind, size_t len)
{
    char *b = malloc(len + 1);
    assert_non_null(b);
    unsigned x = 12345;
    static const char *words[] = {"gzip ", "deflate ", "window ", "chunk ", "pipe ", "\n"};
    for (size_t i = 0; i < len;) {
        if (kind == BODY_TEXT) {
            x = x * 1103515245 + 12345;
            const char *w = words[(x >> 16) % 6];
            for (; *w && i < len; w++)
                b[i++] = *w;
        } else {
            x = x * 1103515245 + 12345;
            b[i++] = kind == BODY_ZEROS ? 0 : (char)(x >> 16);
        }
    }
    return b;
}

struct stream_case {
    const char *what;
    int kind;
    size_t len;
    size_t piece; /* bytes per xps_gzip_write */
    int level;
    bool chunked;
};

static const struct stream_case stream_rows[] = {
    {"empty", BODY_TEXT, 0, 1, 6, true},
    {"empty, bare", BODY_TEXT, 0, 1, 6, false},
    {"one byte", BODY_TEXT, 1, 1, 6, true},
    {"text in 1-byte pieces", BODY_TEXT, 5000, 1, 6, true},
    {"text in 7-byte pieces", BODY_TEXT, 100000, 7, 1, true},
    {"text in 4093-byte pieces, level 9", BODY_TEXT, 300000, 4093, 9, true},
    {"text in 65537-byte pieces, bare", BODY_TEXT, 1 << 20, 65537, 6, false},
    {"random bytes (grow, not shrink)", BODY_RANDOM, 200000, 4093, 6, true},
    {"zeros, 1 MiB in 65537", BODY_ZEROS, 1 << 20, 65537, 9, true},
    {"level 0 (stored)", BODY_TEXT, 70000, 1000, 0, true},
    {"level -1 (the default)", BODY_TEXT, 70000, 333, -1, true},
};

static void stream_round_trips(void **state)
{
    (void)state;
    xps_core_t *core = xps_core_create();
    assert_non_null(core);
    for (size_t i = 0; i < sizeof stream_rows / sizeof *stream_rows; i++) {
        const struct stream_case *r = &stream_rows[i];
        char *body = make_body(r->kind, r->len);
        int error = XPS_E_FAIL;
        xps_gzip_t *g = xps_gzip_create(r->level, r->chunked, &error);
        assert_non_null(g);
        assert_int_equal(error, XPS_OK);
        xps_pipe_t *pipe = xps_pipe_create(core, 1 << 20);
        assert_non_null(pipe);
        char *wire = NULL;
        size_t wire_len = 0, wire_cap = 0, largest = 0;
        size_t at = 0;
        do {
            size_t n = r->len - at < r->piece ? r->len - at : r->piece;
            bool last = at + n == r->len;
            assert_int_equal(xps_gzip_write(g, pipe, body + at, n, last), XPS_OK);
            at += n;
            drain(pipe, &wire, &wire_len, &wire_cap, &largest);
        } while (at < r->len);
        if (r->len == 0) /* the loop above wrote once, with last */
            assert_int_equal(xps_gzip_bytes_in(g), 0);
        assert_int_equal(xps_gzip_write(g, pipe, "x", 1, false), XPS_E_FAIL); /* finished */
        assert_int_equal(xps_gzip_bytes_in(g), r->len);
        size_t gz_len = wire_len;
        char *gz = r->chunked ? dechunk(wire, wire_len, &gz_len) : wire;
        assert_int_equal(xps_gzip_bytes_out(g), gz_len);
        if (largest > XPS_GZIP_OUT_MAX + 16)
            fail_msg("row %zu (%s): a piece of %zu bytes (at most %d + framing)", i, r->what,
                     largest, XPS_GZIP_OUT_MAX);
        size_t plain_len = 0;
        char *plain = gunzip(gz, gz_len, r->len, &plain_len);
        if (plain_len != r->len || memcmp(plain, body, r->len) != 0)
            fail_msg("row %zu (%s): %zu bytes in, %zu back, %s", i, r->what, r->len, plain_len,
                     plain_len == r->len ? "different bytes" : "a different length");
        if (r->kind == BODY_TEXT && r->len > 10000 && r->level != 0 && gz_len * 3 > r->len)
            fail_msg("row %zu (%s): text of %zu bytes only shrank to %zu", i, r->what, r->len,
                     gz_len);
        free(plain);
        if (gz != wire)
            free(gz);
        free(wire);
        free(body);
        xps_gzip_destroy(g);
        xps_pipe_destroy(pipe);
    }
    xps_core_destroy(core);
}

/* xps_gzip_pump's reader: a body of `left` text bytes, handed out in
 * pieces no bigger than `piece`; with fail_at, an error at that offset. */
struct source {
    const char *body;
    size_t len, at, piece, fail_at;
    size_t reads;
};

static size_t read_source(void *data, char *dst, size_t cap, int *error)
{
    struct source *s = data;
    s->reads++;
    if (s->fail_at && s->at >= s->fail_at) {
        *error = XPS_E_EOF;
        return 0;
    }
    size_t n = s->len - s->at;
    n = n < cap ? n : cap;
    n = n < s->piece ? n : s->piece;
    memcpy(dst, s->body + s->at, n);
    s->at += n;
    return n;
}

/* The pump stops once the pipe is at its threshold, whatever is left,
 * and goes on when it is drained; the pipe never holds more than the
 * threshold plus one piece; the result inflates to the body. */
static void pump_respects_the_pipes_threshold(void **state)
{
    (void)state;
    enum { THRESHOLD = 64 * 1024, BODY = 4 << 20 };
    xps_core_t *core = xps_core_create();
    char *body = make_body(BODY_RANDOM, BODY); /* incompressible: output ≈ input */
    struct source src = {.body = body, .len = BODY, .piece = 10000};
    int error = XPS_OK;
    xps_gzip_t *g = xps_gzip_create(6, true, &error);
    xps_pipe_t *pipe = xps_pipe_create(core, THRESHOLD);
    assert_non_null(g);
    assert_non_null(pipe);
    char *wire = NULL;
    size_t wire_len = 0, wire_cap = 0, largest = 0, rounds = 0, most = 0;
    bool done = false;
    while (!done) {
        assert_int_equal(xps_gzip_pump(g, pipe, read_source, &src, &done), XPS_OK);
        size_t held = xps_pipe_len(pipe);
        most = held > most ? held : most;
        if (!done)
            assert_true(xps_pipe_room(pipe) == 0); /* stopped only because it is full */
        drain(pipe, &wire, &wire_len, &wire_cap, &largest);
        rounds++;
    }
    if (most > THRESHOLD + XPS_GZIP_OUT_MAX + 16)
        fail_msg("the pipe held %zu bytes (threshold %d + one piece)", most, THRESHOLD);
    assert_true(rounds > BODY / (2 * THRESHOLD)); /* it did stop, many times */
    assert_int_equal(src.at, BODY);
    bool again = false;
    assert_int_equal(xps_gzip_pump(g, pipe, read_source, &src, &again), XPS_OK); /* finished */
    assert_true(again);
    size_t gz_len = 0, plain_len = 0;
    char *gz = dechunk(wire, wire_len, &gz_len);
    char *plain = gunzip(gz, gz_len, BODY, &plain_len);
    assert_int_equal(plain_len, BODY);
    assert_memory_equal(plain, body, BODY);
    free(plain), free(gz), free(wire), free(body);
    xps_gzip_destroy(g);
    xps_pipe_destroy(pipe);
    xps_core_destroy(core);
}

/* A reader's error stops the pump with that error, the stream unfinished. */
static void pump_passes_a_read_error_on(void **state)
{
    (void)state;
    xps_core_t *core = xps_core_create();
    char *body = make_body(BODY_TEXT, 100000);
    struct source src = {.body = body, .len = 100000, .piece = 5000, .fail_at = 50000};
    int error = XPS_OK;
    xps_gzip_t *g = xps_gzip_create(6, true, &error);
    xps_pipe_t *pipe = xps_pipe_create(core, 1 << 20);
    bool done = true;
    assert_int_equal(xps_gzip_pump(g, pipe, read_source, &src, &done), XPS_E_EOF);
    assert_false(done);
    assert_int_equal(xps_gzip_bytes_in(g), 50000);
    free(body);
    xps_gzip_destroy(g);
    xps_pipe_destroy(pipe);
    xps_core_destroy(core);
}

/* Out-of-range levels are taken as the default, not refused (the config
 * checks the range; the stream must not fail on what it is given). */
static void a_level_out_of_range_is_the_default(void **state)
{
    (void)state;
    int error = XPS_E_FAIL;
    xps_gzip_t *g = xps_gzip_create(42, false, &error);
    assert_non_null(g);
    assert_int_equal(error, XPS_OK);
    xps_gzip_destroy(g);
    xps_gzip_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accept_encoding_table),
        cmocka_unit_test(content_type_table),
        cmocka_unit_test(etag_table),
        cmocka_unit_test(decision_table),
        cmocka_unit_test(stream_round_trips),
        cmocka_unit_test(pump_respects_the_pipes_threshold),
        cmocka_unit_test(pump_passes_a_read_error_on),
        cmocka_unit_test(a_level_out_of_range_is_the_default),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
