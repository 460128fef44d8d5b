/*
 * tests/unit/cache.c — modules/cache/xps_cache.h without a network: the
 * test plays the session (its hit and fetch events) and the proxy (the
 * tee's head, body and end), over a real store in a scratch folder and a
 * real loop (for the wait of a second request for a key being written).
 * Checked: a miss is fetched with X-Cache: MISS and its response stored;
 * the next request is a hit whose head has X-Cache: HIT, Age and our
 * Content-Length and none of the upstream's hop-by-hop fields or framing,
 * and whose body range of the entry file holds the body's data; a
 * response cut short, one with Set-Cookie and one with no-store leave no
 * entry; POST and a request's no-store are BYPASS; Authorization is BYPASS
 * for an entry without `public`; a stale entry with an ETag is fetched
 * with If-None-Match (EXPIRED); a second request for a key being written
 * waits and is then answered from the entry the first one committed.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/xps.h"
#include "core/xps_core.h"
#include "http/xps_http_parser.h"
#include "modules/cache/xps_cache.h"
#include "modules/loop/xps_loop.h"

static char dir[64];

/* What the events saw. */
typedef struct seen {
    int hits, fetches;
    char head[4096];
    char body[4096];
    size_t body_len;
    const xps_proxy_tee_t *tee;
} seen_t;

static void on_hit(void *data, xps_buffer_t *head, int fd, int64_t offset, uint64_t len)
{
    seen_t *s = data;
    s->hits++;
    size_t n = xps_buffer_len(head) < sizeof s->head - 1 ? xps_buffer_len(head) : sizeof s->head - 1;
    memcpy(s->head, xps_buffer_data(head), n);
    s->head[n] = '\0';
    xps_buffer_destroy(head);
    s->body_len = len < sizeof s->body ? (size_t)len : sizeof s->body;
    assert_int_equal(pread(fd, s->body, s->body_len, offset), (ssize_t)s->body_len);
}

static void on_fetch(void *data, const xps_proxy_tee_t *tee)
{
    seen_t *s = data;
    s->fetches++;
    s->tee = tee;
}

static const xps_cache_events_t events = {on_hit, on_fetch};

typedef struct world {
    xps_core_t *core;
    xps_loop_t *loop;
    xps_cache_store_t *store;
} world_t;

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/xps-unit-cachex-%d", (int)getpid());
    world_t *w = calloc(1, sizeof *w);
    int error = XPS_OK;
    w->core = xps_core_create();
    w->loop = w->core ? xps_loop_create(w->core, &error) : NULL;
    char err[256] = "";
    w->store = xps_cache_store_open(dir, 1 << 20, 64, err, sizeof err);
    if (!w->loop || !w->store)
        fail_msg("setup: %s", err);
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    world_t *w = *state;
    xps_cache_store_close(w->store);
    xps_core_destroy(w->core);
    free(w);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* An exchange for `raw` (a request head), started; its parser in *parser. */
static xps_cache_exchange_t *start(world_t *w, const char *raw, seen_t *s, xps_http_parser_t **parser)
{
    memset(s, 0, sizeof *s);
    *parser = xps_http_parser_create(NULL);
    assert_int_equal(xps_http_parser_parse_head(*parser, raw, strlen(raw)), XPS_OK);
    xps_cache_exchange_request_t req = {w->loop, w->store, xps_http_parser_head(*parser), raw,
                                        true, 500, "test", "127.0.0.1:3000"};
    int error = XPS_OK;
    xps_cache_exchange_t *x = xps_cache_exchange_create(&req, &events, s, &error);
    assert_non_null(x);
    xps_cache_exchange_start(x);
    return x;
}

static void finish(xps_cache_exchange_t *x, xps_http_parser_t *parser)
{
    xps_cache_exchange_destroy(x);
    xps_http_parser_destroy(parser);
}

/* Plays the proxy: the response head, its body in two pieces, the end. */
static const char *respond(seen_t *s, const char *head, const char *body, bool complete)
{
    bool replaced = false;
    const char *lines = s->tee->head(s->tee->data, head, strlen(head), atoi(head + 9), NULL,
                                     &replaced);
    size_t n = strlen(body);
    s->tee->body(s->tee->data, body, n / 2);
    s->tee->body(s->tee->data, body + n / 2, n - n / 2);
    s->tee->end(s->tee->data, complete);
    return lines;
}

static const char GET_A[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
static const char OK_60[] = "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: 11\r\n"
                            "Connection: keep-alive\r\nContent-Type: text/plain\r\n\r\n";

static void a_miss_is_stored_and_the_next_request_is_a_hit(void **state)
{
    world_t *w = *state;
    seen_t s;
    xps_http_parser_t *p;
    xps_cache_exchange_t *x = start(w, GET_A, &s, &p);
    assert_int_equal(s.fetches, 1);
    assert_string_equal(respond(&s, OK_60, "hello world", true), "X-Cache: MISS\r\n");
    finish(x, p);
    assert_int_equal(xps_cache_store_count(w->store), 1);

    x = start(w, GET_A, &s, &p);
    assert_int_equal(s.hits, 1);
    assert_int_equal(s.fetches, 0);
    assert_non_null(strstr(s.head, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(s.head, "X-Cache: HIT\r\n"));
    assert_non_null(strstr(s.head, "Age: "));
    assert_non_null(strstr(s.head, "Content-Length: 11\r\n"));
    assert_non_null(strstr(s.head, "Content-Type: text/plain\r\n"));
    assert_null(strstr(s.head, "keep-alive")); /* the upstream's hop-by-hop field */
    assert_int_equal(s.body_len, 11);
    assert_memory_equal(s.body, "hello world", 11);
    finish(x, p);
}

static void cut_cookie_and_no_store_responses_leave_no_entry(void **state)
{
    world_t *w = *state;
    seen_t s;
    xps_http_parser_t *p;
    const char *heads[] = {
        OK_60,
        "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nSet-Cookie: a=b\r\n\r\n",
        "HTTP/1.1 200 OK\r\nCache-Control: no-store\r\n\r\n",
    };
    for (int i = 0; i < 3; i++) {
        xps_cache_exchange_t *x = start(w, GET_A, &s, &p);
        assert_int_equal(s.fetches, 1);
        respond(&s, heads[i], "hello world", i != 0); /* the first is cut short */
        finish(x, p);
        assert_int_equal(xps_cache_store_count(w->store), 0);
    }
}

static void post_no_store_and_authorization_are_bypass(void **state)
{
    world_t *w = *state;
    seen_t s;
    xps_http_parser_t *p;
    xps_cache_exchange_t *x = start(w, GET_A, &s, &p);
    respond(&s, OK_60, "hello world", true);
    finish(x, p);
    const char *requests[] = {
        "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        "GET /a HTTP/1.1\r\nHost: x\r\nCache-Control: no-store\r\n\r\n",
        "GET /a HTTP/1.1\r\nHost: x\r\nAuthorization: Basic dTpw\r\n\r\n",
    };
    for (int i = 0; i < 3; i++) {
        x = start(w, requests[i], &s, &p);
        assert_int_equal(s.hits, 0);
        assert_int_equal(s.fetches, 1);
        bool replaced = false;
        assert_string_equal(s.tee->head(s.tee->data, OK_60, strlen(OK_60), 200, NULL, &replaced),
                            "X-Cache: BYPASS\r\n");
        s.tee->end(s.tee->data, true);
        finish(x, p);
    }
}

static void a_stale_entry_is_fetched_with_its_etag(void **state)
{
    world_t *w = *state;
    seen_t s;
    xps_http_parser_t *p;
    xps_cache_exchange_t *x = start(w, GET_A, &s, &p);
    /* fresh for 60 s from a Date long past: stale at once */
    respond(&s, "HTTP/1.1 200 OK\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
                "Cache-Control: max-age=60\r\nETag: \"v7\"\r\n\r\n", "old", true);
    assert_int_equal(xps_cache_store_count(w->store), 1);
    finish(x, p);
    x = start(w, GET_A, &s, &p);
    assert_int_equal(s.fetches, 1);
    assert_non_null(s.tee->request_lines);
    assert_string_equal(s.tee->request_lines, "If-None-Match: \"v7\"\r\n");
    bool replaced = false;
    const char *fresh = "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\n\r\n";
    assert_string_equal(s.tee->head(s.tee->data, fresh, strlen(fresh), 200, NULL, &replaced),
                        "X-Cache: EXPIRED\r\n");
    s.tee->body(s.tee->data, "new", 3);
    s.tee->end(s.tee->data, true);
    finish(x, p);
    x = start(w, GET_A, &s, &p); /* the 200 replaced the stale entry */
    assert_int_equal(s.hits, 1);
    assert_memory_equal(s.body, "new", 3);
    finish(x, p);
}

static void on_stop(xps_loop_timer_t *t, void *loop)
{
    (void)t;
    xps_loop_stop(loop);
}

static void a_second_request_waits_for_the_first_ones_entry(void **state)
{
    world_t *w = *state;
    seen_t first, second;
    xps_http_parser_t *p1, *p2;
    xps_cache_exchange_t *a = start(w, GET_A, &first, &p1);
    xps_cache_exchange_t *b = start(w, GET_A, &second, &p2);
    assert_int_equal(first.fetches, 1);
    assert_int_equal(second.fetches + second.hits, 0); /* waiting */
    respond(&first, OK_60, "hello world", true);
    xps_loop_timer_t *t = xps_loop_timer_create(w->loop, on_stop, w->loop);
    xps_loop_timer_start(t, 100);
    xps_loop_run(w->loop);
    xps_loop_timer_destroy(t);
    assert_int_equal(second.hits, 1);
    assert_int_equal(second.fetches, 0);
    assert_memory_equal(second.body, "hello world", 11);
    finish(a, p1);
    finish(b, p2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_miss_is_stored_and_the_next_request_is_a_hit, setup, teardown),
        cmocka_unit_test_setup_teardown(cut_cookie_and_no_store_responses_leave_no_entry, setup, teardown),
        cmocka_unit_test_setup_teardown(post_no_store_and_authorization_are_bypass, setup, teardown),
        cmocka_unit_test_setup_teardown(a_stale_entry_is_fetched_with_its_etag, setup, teardown),
        cmocka_unit_test_setup_teardown(a_second_request_waits_for_the_first_ones_entry, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
