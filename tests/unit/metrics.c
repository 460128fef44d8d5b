/*
 * tests/unit/metrics.c — modules/metrics/xps_metrics.h against its
 * contract: a table of counts (status, bytes, latencies, cache answers)
 * and the page lines they must give; the histogram's buckets cumulative;
 * slots summed; the mapping shared across fork() (children count, the
 * parent sees the sum); bad slot counts refused.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/xps.h"
#include "modules/metrics/xps_metrics.h"

static char page[XPS_METRICS_PAGE_MAX + 1];

static const char *render(const xps_metrics_t *m)
{
    size_t n = xps_metrics_render(m, page);
    assert_true(n < XPS_METRICS_PAGE_MAX);
    page[n] = '\0';
    return page;
}

/* Whether `line` (a whole line) is on the page. */
static void expect_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)); p++)
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return;
    fail_msg("no line \"%s\" on the page:\n%s", line, text);
}

static void page_of_counts(void **state)
{
    (void)state;
    int error = XPS_E_FAIL;
    xps_metrics_t *m = xps_metrics_create_shared(1, &error);
    assert_non_null(m);
    assert_int_equal(error, XPS_OK);
    xps_metrics_slot_t *s = xps_metrics_slot(m, 0);
    assert_non_null(s);
    assert_null(xps_metrics_slot(m, 1));
    static const struct {
        int status;
        uint64_t bytes;
    } responses[] = {{200, 100}, {204, 10}, {304, 5}, {404, 50}, {502, 7}, {101, 1}, {0, 3}, {600, 4}};
    for (size_t i = 0; i < sizeof responses / sizeof responses[0]; i++)
        xps_metrics_count_response(s, responses[i].status, responses[i].bytes);
    static const uint64_t latencies_us[] = {1000, 5000, 5001, 30000, 999999, 20000000};
    for (size_t i = 0; i < sizeof latencies_us / sizeof latencies_us[0]; i++)
        xps_metrics_upstream_latency(s, latencies_us[i]);
    xps_metrics_cache(s, true);
    xps_metrics_cache(s, true);
    xps_metrics_cache(s, false);
    xps_metrics_set_connections(s, 9);
    xps_metrics_set_connections(s, 4); /* a gauge: the last value */
    const char *text = render(m);
    static const char *const lines[] = {
        "# TYPE xps_requests_total counter",
        "xps_requests_total{class=\"1xx\"} 1",
        "xps_requests_total{class=\"2xx\"} 2",
        "xps_requests_total{class=\"3xx\"} 1",
        "xps_requests_total{class=\"4xx\"} 1",
        "xps_requests_total{class=\"5xx\"} 1",
        "xps_response_bytes_total 180",
        "# TYPE xps_connections_active gauge",
        "xps_connections_active 4",
        "# TYPE xps_upstream_latency_seconds histogram",
        "xps_upstream_latency_seconds_bucket{le=\"0.005\"} 2",
        "xps_upstream_latency_seconds_bucket{le=\"0.010\"} 3",
        "xps_upstream_latency_seconds_bucket{le=\"0.025\"} 3",
        "xps_upstream_latency_seconds_bucket{le=\"0.050\"} 4",
        "xps_upstream_latency_seconds_bucket{le=\"1.000\"} 5",
        "xps_upstream_latency_seconds_bucket{le=\"10.000\"} 5",
        "xps_upstream_latency_seconds_bucket{le=\"+Inf\"} 6",
        "xps_upstream_latency_seconds_sum 21.041000",
        "xps_upstream_latency_seconds_count 6",
        "xps_cache_requests_total{result=\"hit\"} 2",
        "xps_cache_requests_total{result=\"miss\"} 1",
        "xps_metric_slots 1",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        expect_line(text, lines[i]);
    /* Every line is a comment or "name[{labels}] value". */
    for (const char *p = text; *p; p = strchr(p, '\n') + 1) {
        assert_non_null(strchr(p, '\n'));
        if (*p != '#')
            assert_true(strchr(p, ' ') < strchr(p, '\n'));
    }
    xps_metrics_destroy(m);
    xps_metrics_destroy(NULL);
}

static void slots_shared_across_fork(void **state)
{
    (void)state;
    enum { workers = 3, per = 1000 };
    int error = XPS_E_FAIL;
    xps_metrics_t *m = xps_metrics_create_shared(workers, &error);
    assert_non_null(m);
    assert_int_equal(xps_metrics_slot_count(m), workers);
    pid_t kids[workers];
    for (int k = 0; k < workers; k++) {
        kids[k] = fork();
        assert_true(kids[k] >= 0);
        if (kids[k] == 0) {
            xps_metrics_slot_t *s = xps_metrics_slot(m, (size_t)k);
            for (int i = 0; i < per; i++)
                xps_metrics_count_response(s, 200 + 100 * k, 2);
            xps_metrics_set_connections(s, (uint64_t)k + 1);
            xps_metrics_destroy(m); /* this process's copy: the parent's mapping stays */
            _exit(0);
        }
    }
    for (int k = 0; k < workers; k++) {
        int status = 0;
        assert_int_equal(waitpid(kids[k], &status, 0), kids[k]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    xps_metrics_slot_t total;
    xps_metrics_sum(m, &total);
    assert_int_equal(total.requests[1], per);
    assert_int_equal(total.requests[2], per);
    assert_int_equal(total.requests[3], per);
    assert_int_equal(total.bytes, 2 * per * workers);
    assert_int_equal(total.connections, 1 + 2 + 3);
    const char *text = render(m);
    expect_line(text, "xps_requests_total{class=\"2xx\"} 1000");
    expect_line(text, "xps_response_bytes_total 6000");
    expect_line(text, "xps_metric_slots 3");
    xps_metrics_destroy(m);
}

static void bad_slot_counts(void **state)
{
    (void)state;
    int error = XPS_OK;
    assert_null(xps_metrics_create_shared(0, &error));
    assert_int_equal(error, XPS_E_INVAL);
    assert_null(xps_metrics_create_shared(XPS_METRICS_MAX_SLOTS + 1, &error));
    assert_int_equal(error, XPS_E_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(page_of_counts),
        cmocka_unit_test(slots_shared_across_fork),
        cmocka_unit_test(bad_slot_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
