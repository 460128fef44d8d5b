/*
 * tests/support/echo_checks.c — echo clients, and the flood, idle-CPU and
 * memory checks every echo port from stage 07 on must pass (see
 * echo_checks.h for what each verifies and why).
 */
#include "tests/support/echo_checks.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/support/checks.h"

enum {
    REPLY_MS = 3000,         /* for one echo */
    FLOOD_MS = 5000,         /* how long the flood check floods */
    PROBE_MAX_MS = 1000,     /* the other client's echo may take at most this */
    PROBE_EVERY_MS = 50,     /* one probe round trip every ... */
    PROBE_LEN = 48,          /* bytes per probe */
    PROBES_MIN = 20,         /* probes that must complete during the flood */
    IDLE_MS = 5000,          /* the idle-CPU check measures over this long */
    STREAM_MS = 15000,       /* the memory check streams for at most this long */
    STEP_MS = 10,            /* the slow reader reads once every ... */
    READ_PER_STEP = 2 << 20, /* ...at most 2 MiB: 200 MiB/s */
    SAMPLE_MS = 100,         /* RSS sampled every ... */
    RSS_GROWTH_MAX_MIB = 64, /* the bound on the server's RSS growth */
    PATTERN = 1 << 20,       /* the flood and the stream repeat 1 MiB of random bytes */
};

#define MIB (1024.0 * 1024.0)
static const long long FLOOD_TARGET = 1LL << 30;  /* the flood tries to send 1 GiB */
static const long long STREAM_TARGET = 2LL << 30; /* the memory check streams 2 GiB */
static const long long STREAM_MIN = 1LL << 30;    /* ...and at least 1 GiB must pass */

/* ------------------------------------------------------- echo clients */

static xt_echo_reply_t reply_kind = XT_REPLY_COPY; /* see xt_echo_expect */

void xt_echo_expect(xt_echo_reply_t reply) { reply_kind = reply; }

const char *xt_echo_reply_text(void)
{
    return reply_kind == XT_REPLY_COPY ? "exactly what it sent"
                                       : "each chunk it sent, reversed";
}

/* The reply to one chunk of len bytes: a copy, or the reversal with a
 * trailing '\n' kept last (stages 01-06's rule). */
static void reply_to(const unsigned char *sent, size_t len, unsigned char *out)
{
    size_t body = len > 0 && sent[len - 1] == '\n' && reply_kind == XT_REPLY_REVERSED ? len - 1
                                                                                     : len;
    for (size_t i = 0; i < len; i++)
        out[i] = reply_kind == XT_REPLY_COPY || i >= body ? sent[i] : sent[body - 1 - i];
}

int xt_echo_connect(xt_proc_t *server, uint16_t port, const char *who)
{
    int fd = xt_try_connect(port);
    char expected[160];
    snprintf(expected, sizeof expected, "%s can connect to 127.0.0.1:%u", who, (unsigned)port);
    xt_expect(fd >= 0, expected, "connect failed: %s%s", strerror(fd < 0 ? -fd : 0),
              xt_server_note(server));
    return fd;
}

void xt_echo_send(xt_proc_t *server, int fd, const char *who, const void *buf, size_t len)
{
    char expected[160];
    snprintf(expected, sizeof expected, "%s can send %zu bytes", who, len);
    bool ok = xt_send_all(fd, buf, len);
    int err = errno;
    xt_expect(ok, expected, "send failed: %s%s", strerror(err), xt_server_note(server));
}

/* The observed text for an echo that came back short: how it ended. */
static void expect_short_echo(xt_proc_t *server, const char *expected, size_t n, size_t len,
                              int why, int err)
{
    char how[96];
    if (why == XT_TIMEOUT)
        snprintf(how, sizeof how, "nothing more within 3 s");
    else if (why == XT_ERROR)
        snprintf(how, sizeof how, "connection error: %s", strerror(err));
    else
        snprintf(how, sizeof how, "connection closed by the server");
    xt_expect(false, expected, "%zu of %zu bytes, then %s%s", n, len, how,
              xt_server_note(server));
}

void xt_expect_echo(xt_proc_t *server, int fd, const char *who, const void *sent, size_t len)
{
    static unsigned char got[XT_ECHO_MAX], want[XT_ECHO_MAX];
    char expected[300];
    if (len > sizeof got)
        xt_fail("xt_expect_echo: %zu bytes is more than the check can hold", len);
    reply_to(sent, len, want);
    int why = 0;
    size_t n = xt_recv_exact(fd, got, len, REPLY_MS, &why);
    int err = errno;
    const char *how = reply_kind == XT_REPLY_COPY ? "" : " reversed";
    if (len <= 64)
        snprintf(expected, sizeof expected, "%s gets its %zu bytes back%s: \"%s\"", who, len,
                 how, xt_quote(want, len));
    else
        snprintf(expected, sizeof expected, "%s gets its %zu bytes back%s, in order", who, len,
                 how);
    size_t same = xt_first_difference(want, got, n);
    if (n == len && same == len) {
        xt_expect(true, expected, "%zu bytes, identical", n);
        return;
    }
    if (same < n) {
        size_t show = n - same < 24 ? n - same : 24;
        xt_expect(false, expected, "%zu bytes came, differing from byte %zu on: \"%s\" where "
                  "\"%s\" was due", n, same, xt_quote(got + same, show),
                  xt_quote(want + same, show));
    }
    expect_short_echo(server, expected, n, len, why, err);
}

void xt_echo_round_trip(xt_proc_t *server, int fd, const char *who, size_t len)
{
    char buf[XT_ECHO_MAX];
    if (len > sizeof buf)
        xt_fail("xt_echo_round_trip: %zu bytes is more than the check can hold", len);
    xt_random_text(buf, len);
    xt_echo_send(server, fd, who, buf, len);
    xt_expect_echo(server, fd, who, buf, len);
}

/* ---------------------------------------------------------- the flood */

/* The other client of the flood check: one 48-byte probe in flight at a
 * time, read without blocking so the flood loop never stalls on it. */
typedef struct {
    int fd;
    unsigned char out[PROBE_LEN], in[PROBE_LEN]; /* the probe sent, its echo so far */
    size_t got;                                  /* bytes of the echo so far */
    bool in_flight;                              /* a probe waits for its echo */
    int64_t sent_at, next_at;                    /* when it went out; when the next may */
    int done, wrong;                             /* probes completed; of those, not exact */
    int64_t worst_ms;                            /* the slowest round trip */
} probe_t;

static void probe_start(probe_t *pr, int64_t now)
{
    xt_random_text((char *)pr->out, PROBE_LEN);
    bool ok = xt_send_all(pr->fd, pr->out, PROBE_LEN);
    xt_expect(ok, "the other client can send its probe", "send failed: %s", strerror(errno));
    pr->got = 0;
    pr->in_flight = true;
    pr->sent_at = now;
}

/* Reads what has come of the probe; true when the connection failed. */
static bool probe_read(probe_t *pr)
{
    ssize_t n = recv(pr->fd, pr->in + pr->got, PROBE_LEN - pr->got, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        return true;
    if (n > 0)
        pr->got += (size_t)n;
    if (pr->got == PROBE_LEN) {
        int64_t now = xt_now_ms(), took = now - pr->sent_at;
        pr->worst_ms = took > pr->worst_ms ? took : pr->worst_ms;
        unsigned char want[PROBE_LEN];
        reply_to(pr->out, PROBE_LEN, want);
        pr->wrong += memcmp(pr->in, want, PROBE_LEN) != 0;
        pr->done++;
        pr->in_flight = false;
        pr->next_at = now + PROBE_EVERY_MS;
    }
    return false;
}

/* What the flood did, for the report. */
typedef struct {
    int64_t start_ms;     /* when the flood began (xt_now_ms) */
    long long sent;       /* bytes the flooding client got out */
    int64_t last_byte_ms; /* when it last got a byte out, from the start */
    int64_t took_ms;      /* how long the flood ran */
    bool probe_failed;    /* the other client's connection broke */
    bool late;            /* a probe had no complete echo after PROBE_MAX_MS */
} flood_t;

/* Floods from `flood` (non-blocking, never reading) for FLOOD_MS or until
 * FLOOD_TARGET bytes went out, while `pr` round-trips probes. Stops early
 * when a probe is late or its connection breaks. */
static void flood_and_probe(int flood, probe_t *pr, flood_t *f)
{
    enum { PER_ROUND = 8 << 20 }; /* then look at the probe again */
    unsigned char *pattern = xt_alloc(PATTERN);
    xt_random_bytes(pattern, PATTERN);
    size_t pos = 0;
    bool flood_failed = false;
    int64_t start = f->start_ms = xt_now_ms(), end = start + FLOOD_MS;
    for (int64_t now = start; now < end && f->sent < FLOOD_TARGET; now = xt_now_ms()) {
        if (!pr->in_flight && now >= pr->next_at)
            probe_start(pr, now);
        if (pr->in_flight && now - pr->sent_at > PROBE_MAX_MS) {
            f->late = true;
            break;
        }
        struct pollfd pfds[2] = {{.fd = flood_failed ? -1 : flood, .events = POLLOUT},
                                 {.fd = pr->fd, .events = POLLIN}};
        poll(pfds, 2, 10);
        if (pfds[0].revents && !flood_failed) {
            long long n = xt_send_some(flood, pattern, PATTERN, &pos, PER_ROUND);
            flood_failed = n < 0;
            f->sent += n > 0 ? n : 0;
            if (n > 0)
                f->last_byte_ms = xt_now_ms() - start;
        }
        if (pfds[1].revents && (f->probe_failed = probe_read(pr)))
            break;
    }
    f->took_ms = xt_now_ms() - start;
    free(pattern);
}

/* The flood check's verdict, from what flood_and_probe saw. */
static void judge_flood(xt_proc_t *server, const probe_t *pr, const flood_t *f)
{
    char expected[200];
    snprintf(expected, sizeof expected,
             "while a client streams up to 1 GiB without reading, another client's %d-byte "
             "reply comes back within %d ms, every time",
             PROBE_LEN, PROBE_MAX_MS);
    if (f->late)
        xt_expect(false, expected, "a probe sent %lld ms into the flood had no complete echo "
                  "after %d ms (%zu of %d bytes); %.1f MiB flooded by then%s",
                  (long long)(pr->sent_at - f->start_ms), PROBE_MAX_MS, pr->got,
                  PROBE_LEN, f->sent / MIB, xt_server_note(server));
    xt_expect_running(server, "the server", "while a client floods it");
    xt_expect(!f->probe_failed, "the other client's connection stays open during the flood",
              "it was closed after %d probes%s", pr->done, xt_server_note(server));
    xt_expect(pr->wrong == 0, reply_kind == XT_REPLY_COPY ? "every probe comes back exactly as sent"
                              : "every probe comes back reversed",
              "%d of %d probes came back different", pr->wrong, pr->done);
    xt_expect(pr->done >= PROBES_MIN && pr->worst_ms < PROBE_MAX_MS, expected,
              "%d probes in %lld ms, the slowest took %lld ms; %.1f MiB flooded", pr->done,
              (long long)f->took_ms, (long long)pr->worst_ms, f->sent / MIB);
}

void xt_check_flood_does_not_delay(xt_proc_t *server, uint16_t flood_port,
                                   uint16_t probe_port)
{
    int flood = xt_echo_connect(server, flood_port, "the flooding client");
    xt_set_nonblocking(flood);
    probe_t pr = {.fd = xt_echo_connect(server, probe_port, "the other client")};
    flood_t f = {0};
    flood_and_probe(flood, &pr, &f);
    close(flood);
    xt_note("flood on port %u, probes on port %u: %.1f MiB went out in %lld ms, the last byte "
            "%lld ms in; %d probes, slowest %lld ms",
            (unsigned)flood_port, (unsigned)probe_port, f.sent / MIB, (long long)f.took_ms,
            (long long)f.last_byte_ms, pr.done, (long long)pr.worst_ms);
    judge_flood(server, &pr, &f);
    close(pr.fd);
}

/* ---------------------------------------------------------- idle CPU */

void xt_check_idle_cpu(xt_proc_t *server, uint16_t port)
{
    int fd = xt_echo_connect(server, port, "the idle client");
    xt_echo_round_trip(server, fd, "the idle client", 64);
    xt_sleep_ms(100); /* let the start-up's own CPU time settle */
    double before = xt_cpu_seconds(xt_pid(server));
    int64_t t0 = xt_now_ms();
    xt_sleep_ms(IDLE_MS);
    double after = xt_cpu_seconds(xt_pid(server));
    double secs = (double)(xt_now_ms() - t0) / 1000.0;
    xt_expect_running(server, "the server", "with an idle client");
    xt_echo_round_trip(server, fd, "the idle client", 64); /* still served after its nap */
    close(fd);
    xt_expect(before >= 0 && after >= 0, "the server's CPU time can be read from /proc",
              "before %.2f s, after %.2f s", before, after);
    double share = (after - before) / secs * 100.0;
    xt_expect(share < 2.0,
              "with one idle client connected, the server uses under 2 % CPU over 5 s",
              "%.2f s of CPU in %.1f s: %.1f %%", after - before, secs, share);
}

/* ------------------------------------------------------------ memory */

/* The memory check's client: what it sent and read, against the pattern. */
typedef struct {
    int fd;
    const unsigned char *pattern;
    size_t pattern_len;
    size_t out_pos, in_pos; /* where in the pattern the next byte sent / expected is */
    long long sent, got;    /* bytes sent, bytes of echo read */
    long long first_wrong;  /* offset of the first byte that differs, or -1 */
    long long counts[256];  /* XT_REPLY_REVERSED: how many bytes of each value came */
    bool failed;            /* the connection broke */
    long base_kib, peak_kib; /* the server's RSS before the stream, and its peak */
    int64_t took_ms;        /* how long the stream ran */
} stream_t;

/* Compares n received bytes with the pattern, across its wrap; for a
 * reversal, whose chunks the client cannot see, counts them by value. */
static void stream_compare(stream_t *s, const unsigned char *buf, size_t n)
{
    if (reply_kind == XT_REPLY_REVERSED) {
        for (size_t i = 0; i < n; i++)
            s->counts[buf[i]]++;
        return;
    }
    for (size_t i = 0; i < n;) {
        size_t left = s->pattern_len - s->in_pos, k = left < n - i ? left : n - i;
        if (s->first_wrong < 0 && memcmp(buf + i, s->pattern + s->in_pos, k) != 0)
            s->first_wrong = s->got + (long long)i;
        s->in_pos = (s->in_pos + k) % s->pattern_len;
        i += k;
    }
}

/* Reads at most `budget` bytes of echo without blocking. */
static void stream_read(stream_t *s, long long budget)
{
    static unsigned char buf[1 << 16];
    while (budget > 0 && !s->failed) {
        size_t want = budget < (long long)sizeof buf ? (size_t)budget : sizeof buf;
        ssize_t n = recv(s->fd, buf, want, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            s->failed = true;
            break;
        }
        if (n < 0)
            break;
        stream_compare(s, buf, (size_t)n);
        s->got += n;
        budget -= n;
    }
}

/* Streams for STREAM_MS or until STREAM_TARGET bytes came back: sends what
 * the socket takes, reads READ_PER_STEP every STEP_MS, samples the RSS. */
static void stream_slowly(xt_proc_t *server, stream_t *s)
{
    s->base_kib = s->peak_kib = xt_rss_kib(xt_pid(server));
    int64_t start = xt_now_ms(), end = start + STREAM_MS;
    int64_t next_step = start, next_sample = start + SAMPLE_MS;
    while (xt_now_ms() < end && s->got < STREAM_TARGET && !s->failed) {
        if (s->sent < STREAM_TARGET) {
            long long n = xt_send_some(s->fd, s->pattern, s->pattern_len, &s->out_pos,
                                       STREAM_TARGET - s->sent);
            s->failed = n < 0;
            s->sent += n > 0 ? n : 0;
        }
        stream_read(s, READ_PER_STEP);
        int64_t now = xt_now_ms();
        if (now >= next_sample) {
            long rss = xt_rss_kib(xt_pid(server));
            s->peak_kib = rss > s->peak_kib ? rss : s->peak_kib;
            next_sample += SAMPLE_MS;
        }
        next_step += STEP_MS; /* the slow part: wait for the next 10 ms step */
        if (next_step > now)
            xt_sleep_ms((int)(next_step - now));
    }
    s->took_ms = xt_now_ms() - start;
}

/* XT_REPLY_REVERSED: once sending has stopped, reads (within 3 s) until
 * every byte sent has come back, then compares the counts of each byte
 * value with those of the bytes sent (the pattern, repeated from its
 * start). Sets s->first_wrong to the first value whose count differs. */
static void stream_drain_and_count(stream_t *s)
{
    int64_t deadline = xt_now_ms() + REPLY_MS;
    while (s->got < s->sent && !s->failed && xt_now_ms() < deadline) {
        struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
        poll(&pfd, 1, 10);
        stream_read(s, s->sent - s->got);
    }
    long long want[256] = {0};
    long long whole = s->sent / (long long)s->pattern_len;
    size_t rest = (size_t)(s->sent % (long long)s->pattern_len);
    for (size_t i = 0; i < s->pattern_len; i++)
        want[s->pattern[i]] += whole + (i < rest);
    for (int b = 0; b < 256 && s->first_wrong < 0; b++)
        if (s->counts[b] != want[b])
            s->first_wrong = b;
}

const char *xt_asan_quarantine_env(void)
{
    static char env[512];
    const char *have = getenv("ASAN_OPTIONS");
    snprintf(env, sizeof env, "ASAN_OPTIONS=%s%squarantine_size_mb=4", have ? have : "",
             have && *have ? ":" : "");
    return env;
}

void xt_check_rss_bounded_slow_reader(xt_proc_t *server, uint16_t port)
{
    unsigned char *pattern = xt_alloc(PATTERN);
    xt_random_bytes(pattern, PATTERN);
    stream_t s = {.fd = xt_echo_connect(server, port, "the streaming client"),
                  .pattern = pattern, .pattern_len = PATTERN, .first_wrong = -1};
    xt_echo_round_trip(server, s.fd, "the streaming client", 64);
    xt_set_nonblocking(s.fd);
    stream_slowly(server, &s);
    if (reply_kind == XT_REPLY_REVERSED)
        stream_drain_and_count(&s);
    xt_note("stream on port %u: %.0f MiB sent, %.0f MiB echoed in %lld ms; server RSS %ld KiB "
            "before, %ld KiB at most",
            (unsigned)port, s.sent / MIB, s.got / MIB, (long long)s.took_ms, s.base_kib,
            s.peak_kib);
    close(s.fd);
    free(pattern);
    xt_expect_running(server, "the server", "while 2 GiB stream through it");
    xt_expect(!s.failed, "the streaming client's connection stays open",
              "it broke after %.0f MiB came back%s", s.got / MIB, xt_server_note(server));
    if (reply_kind == XT_REPLY_COPY)
        xt_expect(s.first_wrong < 0, "every byte of the echo matches what was sent",
                  "the echo differs from byte %lld on", s.first_wrong);
    else
        xt_expect(s.got == s.sent && s.first_wrong < 0,
                  "every byte sent comes back, reversed in its chunk: as many of each value",
                  "%lld of %lld bytes came back; %s", s.got, s.sent,
                  s.first_wrong < 0 ? "the counts agree" : "the count of some value differs");
    xt_expect(s.got >= STREAM_MIN, "at least 1 GiB comes back to a client reading at 200 MiB/s "
              "within 15 s", "%.0f MiB came back in %lld ms", s.got / MIB, (long long)s.took_ms);
    xt_expect(s.base_kib > 0 && s.peak_kib - s.base_kib < RSS_GROWTH_MAX_MIB * 1024L,
              "while gigabytes pass through a slow reader, the server's RSS grows by less "
              "than 64 MiB",
              "RSS %ld KiB before the stream, %ld KiB at its peak: +%ld KiB after %.0f MiB",
              s.base_kib, s.peak_kib, s.peak_kib - s.base_kib, s.got / MIB);
}
