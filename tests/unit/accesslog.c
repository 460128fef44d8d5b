/*
 * tests/unit/accesslog.c — modules/accesslog/xps_accesslog.h against its
 * contract: which request ids are well-formed (a table), generated ids
 * (well-formed, never repeated), the two line formats on a table of
 * entries (exact lines, in UTC: TZ is set here), escaping of hostile
 * bytes (the JSON line parsed back with cJSON, the combined line one line
 * of printable bytes), and the log itself: buffered until a flush or a
 * full buffer, flushed at close, and two forked writers appending to one
 * file without interleaving a line.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/xps.h"
#include "modules/accesslog/xps_accesslog.h"

static void request_ids_valid(void **state)
{
    (void)state;
    static const struct {
        const char *id;
        bool valid;
    } rows[] = {
        {"a", true},
        {"0f3c-91.ab_Z", true},
        {"123e4567-e89b-12d3-a456-426614174000", true},
        {"", false},
        {"has space", false},
        {"semi;colon", false},
        {"quote\"", false},
        {"new\nline", false},
        {"caf\xc3\xa9", false},
        {"slash/", false},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        if (xps_request_id_valid(rows[i].id, strlen(rows[i].id)) != rows[i].valid)
            fail_msg("\"%s\": expected %s", rows[i].id, rows[i].valid ? "valid" : "invalid");
    char longest[XPS_REQUEST_ID_MAX + 2];
    memset(longest, 'x', sizeof longest);
    assert_true(xps_request_id_valid(longest, XPS_REQUEST_ID_MAX));
    assert_false(xps_request_id_valid(longest, XPS_REQUEST_ID_MAX + 1));
    assert_false(xps_request_id_valid(NULL, 0));
}

static void request_ids_generated(void **state)
{
    (void)state;
    xps_request_ids_t ids;
    xps_request_ids_init(&ids, 0x1a2b, 0x65000000);
    char a[XPS_REQUEST_ID_MAX + 1], b[XPS_REQUEST_ID_MAX + 1];
    size_t na = xps_request_id_next(&ids, a);
    size_t nb = xps_request_id_next(&ids, b);
    assert_string_equal(a, "65000000-1a2b-1");
    assert_string_equal(b, "65000000-1a2b-2");
    assert_int_equal(na, strlen(a));
    assert_int_equal(nb, strlen(b));
    assert_true(xps_request_id_valid(a, na));
    /* Another process at the same second: other ids. */
    xps_request_ids_t other;
    xps_request_ids_init(&other, 0x1a2c, 0x65000000);
    xps_request_id_next(&other, b);
    assert_string_not_equal(a, b);
    /* The largest values still fit and stay valid. */
    xps_request_ids_init(&other, UINT32_MAX, UINT64_MAX);
    other.next = UINT64_MAX;
    nb = xps_request_id_next(&other, b);
    assert_true(xps_request_id_valid(b, nb));
}

#define S(lit) lit, sizeof lit - 1

static void lines_formatted(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        xps_accesslog_format_t format;
        xps_accesslog_entry_t e;
        const char *line;
    } rows[] = {
        {"combined, every field", XPS_ACCESSLOG_COMBINED,
         {"127.0.0.1", 1796353260, S("GET /a?b=1 HTTP/1.1"), 200, 612, 1234,
          S("http://x/"), S("curl/8.5.0"), "abc-1"},
         "127.0.0.1 - - [04/Dec/2026:03:01:00 +0000] \"GET /a?b=1 HTTP/1.1\" 200 612 "
         "\"http://x/\" \"curl/8.5.0\" \"abc-1\" 0.001\n"},
        {"combined, absent fields", XPS_ACCESSLOG_COMBINED,
         {NULL, 1796353260, NULL, 0, 408, 0, 2500000, NULL, 0, NULL, 0, NULL},
         "- - - [04/Dec/2026:03:01:00 +0000] \"\" 408 0 \"-\" \"-\" \"-\" 2.500\n"},
        {"combined, hostile bytes", XPS_ACCESSLOG_COMBINED,
         {"::1", 1796353260, S("GET /\"x\\\x01\xff HTTP/1.1"), 404, 10, 0,
          NULL, 0, S("a\"b\nc"), "id"},
         "::1 - - [04/Dec/2026:03:01:00 +0000] \"GET /\\x22x\\x5C\\x01\\xFF HTTP/1.1\" 404 10 "
         "\"-\" \"a\\x22b\\x0Ac\" \"id\" 0.000\n"},
        {"json, every field", XPS_ACCESSLOG_JSON,
         {"127.0.0.1", 1796353260, S("GET / HTTP/1.1"), 200, 612, 1234,
          S("http://x/"), S("curl/8.5.0"), "abc-1"},
         "{\"time\":\"2026-12-04T03:01:00+00:00\",\"request_id\":\"abc-1\","
         "\"remote_addr\":\"127.0.0.1\",\"request\":\"GET / HTTP/1.1\",\"status\":200,"
         "\"bytes\":612,\"duration_ms\":1.234,\"referer\":\"http://x/\","
         "\"user_agent\":\"curl/8.5.0\"}\n"},
        {"json, absent fields", XPS_ACCESSLOG_JSON,
         {NULL, 1796353260, NULL, 0, 0, 0, 7, NULL, 0, NULL, 0, NULL},
         "{\"time\":\"2026-12-04T03:01:00+00:00\",\"request_id\":null,"
         "\"remote_addr\":\"-\",\"request\":\"\",\"status\":0,"
         "\"bytes\":0,\"duration_ms\":0.007,\"referer\":null,\"user_agent\":null}\n"},
        {"json, hostile bytes", XPS_ACCESSLOG_JSON,
         {"::1", 1796353260, S("GET /\"x\\\x01\xff\t HTTP/1.1"), 404, 10, 0,
          NULL, 0, S("a\"b\nc"), "bad id"},
         "{\"time\":\"2026-12-04T03:01:00+00:00\",\"request_id\":null,"
         "\"remote_addr\":\"::1\",\"request\":\"GET /\\\"x\\\\\\u0001\\u00ff\\t HTTP/1.1\","
         "\"status\":404,\"bytes\":10,\"duration_ms\":0.000,\"referer\":null,"
         "\"user_agent\":\"a\\\"b\\nc\"}\n"},
    };
    static char out[XPS_ACCESSLOG_MAX_LINE];
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        size_t n = xps_accesslog_format(rows[i].format, &rows[i].e, out);
        if (n != strlen(rows[i].line) || memcmp(out, rows[i].line, n) != 0)
            fail_msg("%s:\n  got      %.*s  expected %s", rows[i].name, (int)n, out, rows[i].line);
    }
}

/* Every byte value, the longest fields: the JSON line parses back to the
 * fields (cut at their bounds), the combined line is printable. */
static void lines_always_parse(void **state)
{
    (void)state;
    static char request[5000], ua[3000], out[XPS_ACCESSLOG_MAX_LINE];
    for (size_t i = 0; i < sizeof request; i++)
        request[i] = (char)(i % 256);
    for (size_t i = 0; i < sizeof ua; i++)
        ua[i] = (char)(255 - i % 256);
    xps_accesslog_entry_t e = {"10.0.0.1", 1796353260, request, sizeof request, 500, 1, 1,
                               ua, sizeof ua, ua, sizeof ua, "r"};
    size_t n = xps_accesslog_format(XPS_ACCESSLOG_JSON, &e, out);
    assert_true(n <= XPS_ACCESSLOG_MAX_LINE);
    assert_int_equal(out[n - 1], '\n');
    assert_null(memchr(out, '\n', n - 1));
    cJSON *j = cJSON_ParseWithLength(out, n);
    assert_non_null(j);
    const char *got = cJSON_GetStringValue(cJSON_GetObjectItem(j, "request"));
    assert_non_null(got);
    /* \u00XX came back as the code point XX (UTF-8 for >= 0x80); the first
     * 128 bytes are ASCII and come back as sent (except NUL: cJSON's strings
     * end there; the request starts with it, so compare from byte 1). */
    assert_int_equal(strlen(got), 0);
    assert_int_equal(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "status")), 500);
    cJSON_Delete(j);
    request[0] = 'G'; /* no NUL first: the prefix comes back whole */
    n = xps_accesslog_format(XPS_ACCESSLOG_JSON, &e, out);
    j = cJSON_ParseWithLength(out, n);
    assert_non_null(j);
    got = cJSON_GetStringValue(cJSON_GetObjectItem(j, "request"));
    assert_non_null(got);
    assert_int_equal(got[0], 'G');
    assert_memory_equal(got + 1, request + 1, 127 - 1); /* up to 0x7e, then escapes */
    cJSON_Delete(j);
    n = xps_accesslog_format(XPS_ACCESSLOG_COMBINED, &e, out);
    assert_true(n <= XPS_ACCESSLOG_MAX_LINE);
    for (size_t i = 0; i + 1 < n; i++)
        if (out[i] < 0x20 || out[i] > 0x7e)
            fail_msg("byte %zu of the combined line is 0x%02x", i, (unsigned char)out[i]);
}

static char dir[64];

static int setup(void **state)
{
    (void)state;
    setenv("TZ", "UTC", 1);
    tzset();
    snprintf(dir, sizeof dir, "/tmp/xps-accesslog-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static size_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (size_t)st.st_size : 0;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t cap = file_size(path) + 1;
    char *text = test_calloc(1, cap);
    size_t n = fread(text, 1, cap - 1, f);
    fclose(f);
    text[n] = '\0';
    return text;
}

static void log_buffers_until_flush(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/buffered.log", dir);
    int error = XPS_E_FAIL;
    xps_accesslog_t *log = xps_accesslog_open(path, XPS_ACCESSLOG_COMBINED, 0, &error);
    assert_non_null(log);
    assert_int_equal(error, XPS_OK);
    xps_accesslog_entry_t e = {"127.0.0.1", 1796353260, S("GET / HTTP/1.1"), 200, 1, 1,
                               NULL, 0, NULL, 0, "a"};
    xps_accesslog_write(log, &e);
    xps_accesslog_write(log, &e);
    assert_int_equal(file_size(path), 0); /* buffered */
    assert_true(xps_accesslog_pending(log) > 0);
    assert_int_equal(xps_accesslog_flush(log), XPS_OK);
    size_t two = file_size(path);
    assert_true(two > 0);
    assert_int_equal(xps_accesslog_pending(log), 0);
    /* A full buffer goes by itself: once less than a longest line is free. */
    xps_accesslog_close(log);
    assert_int_equal(file_size(path), two); /* nothing was pending */
    log = xps_accesslog_open(path, XPS_ACCESSLOG_COMBINED, 3 * XPS_ACCESSLOG_MAX_LINE, &error);
    assert_non_null(log);
    size_t writes = 0;
    while (file_size(path) == two && writes < 10000) {
        xps_accesslog_write(log, &e);
        writes++;
    }
    /* ~90-byte lines: 2 * MAX_LINE of them went before the first write */
    assert_true(writes > (2 * XPS_ACCESSLOG_MAX_LINE) / 100 && writes < 10000);
    xps_accesslog_write(log, &e);
    xps_accesslog_close(log); /* flushes */
    char *text = slurp(path);
    size_t lines = 0;
    for (const char *p = text; (p = strchr(p, '\n')); p++)
        lines++;
    assert_int_equal(lines, 2 + writes + 1);
    test_free(text);
}

static void log_open_errors(void **state)
{
    (void)state;
    int error = XPS_OK;
    assert_null(xps_accesslog_open("/nonexistent-dir/x/access.log", XPS_ACCESSLOG_JSON, 0, &error));
    assert_int_equal(error, XPS_E_NOTFOUND);
    assert_null(xps_accesslog_open("", XPS_ACCESSLOG_JSON, 0, &error));
    assert_int_equal(error, XPS_E_INVAL);
    assert_null(xps_accesslog_open("/tmp/x", (xps_accesslog_format_t)7, 0, &error));
    assert_int_equal(error, XPS_E_INVAL);
    xps_accesslog_close(NULL);
}

/* Two processes, each with its own log on one path and a small buffer,
 * write 3000 JSON lines each: every line of the file parses, and each
 * writer's lines are all there, in its order. */
static void log_writers_never_interleave(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/shared.log", dir);
    enum { per_writer = 3000 };
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        kids[k] = fork();
        assert_true(kids[k] >= 0);
        if (kids[k] == 0) {
            int error = 0;
            xps_accesslog_t *log = xps_accesslog_open(path, XPS_ACCESSLOG_JSON, 20000, &error);
            if (!log)
                _exit(2);
            static char ua[400];
            memset(ua, k ? 'b' : 'a', sizeof ua - 1);
            for (int i = 0; i < per_writer; i++) {
                char id[32];
                snprintf(id, sizeof id, "w%d-%d", k, i);
                xps_accesslog_entry_t e = {"127.0.0.1", 1796353260, S("GET / HTTP/1.1"), 200,
                                           (uint64_t)i, 1, NULL, 0, ua, sizeof ua - 1, id};
                xps_accesslog_write(log, &e);
            }
            xps_accesslog_close(log);
            _exit(0);
        }
    }
    for (int k = 0; k < 2; k++) {
        int status = 0;
        assert_int_equal(waitpid(kids[k], &status, 0), kids[k]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    char *text = slurp(path);
    int next[2] = {0, 0};
    size_t lines = 0;
    for (char *line = text, *end; (end = strchr(line, '\n')); line = end + 1, lines++) {
        cJSON *j = cJSON_ParseWithLength(line, (size_t)(end - line));
        if (!j)
            fail_msg("line %zu does not parse: %.80s", lines, line);
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(j, "request_id"));
        int k = -1, i = -1;
        assert_int_equal(sscanf(id, "w%d-%d", &k, &i), 2);
        assert_true(k == 0 || k == 1);
        assert_int_equal(i, next[k]);
        next[k]++;
        cJSON_Delete(j);
    }
    assert_int_equal(lines, 2 * per_writer);
    assert_int_equal(next[0], per_writer);
    assert_int_equal(next[1], per_writer);
    test_free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(request_ids_valid),
        cmocka_unit_test(request_ids_generated),
        cmocka_unit_test(lines_formatted),
        cmocka_unit_test(lines_always_parse),
        cmocka_unit_test(log_buffers_until_flush),
        cmocka_unit_test(log_open_errors),
        cmocka_unit_test(log_writers_never_interleave),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
