// modules/session/xps_session_observe.cpp — [apps/xps] "observe" (see
// xps_session.h): a request's id, and the one report of each request to
// the access log and the counters (modules/accesslog, modules/metrics).
//
// A request is reported once: observe_begin when its head is complete (or
// refused) takes the id, the clock and the client pipe's byte count;
// what follows notes the response's status (observe_status, from the
// head that goes down); observe_end, when the response is queued whole or
// the session ends first, writes the line and counts. A session without
// an observer has no report (s->report is NULL): each hook is one test.
#include "modules/session/xps_session_internal.hpp"

#include <strings.h>

#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <new>

#include "core/xps_logger.h"
#include "http/xps_http_parser.h"

namespace session_detail {

namespace {

uint64_t now_us() {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return static_cast<uint64_t>(t.tv_sec) * 1000000u + static_cast<uint64_t>(t.tv_nsec) / 1000u;
}

// The value of request field `name` in the parsed head, or NULL.
const char *field(const xps_session_t *s, const char *name, size_t *len) {
    const xps_http_header_t *h =
        xps_http_head_find(xps_http_parser_head(s->parser), s->head.get(), name, nullptr);
    *len = h ? h->value.length : 0;
    return h ? s->head.get() + h->value.offset : nullptr;
}

// Copies at most `cap` bytes: the line's formatter cuts there anyway.
void keep(std::string &to, const char *from, size_t len, size_t cap) {
    to.assign(from, len < cap ? len : cap);
}

} // namespace

void observe_begin(xps_session_t *s, bool parsed) {
    request_report *r = s->report.get();
    if (!r)
        return;
    r->pending = true, r->status = 0, r->upstream_us = 0;
    r->wall = static_cast<int64_t>(time(nullptr));
    r->start_us = now_us();
    r->written_at = s->to_client ? xps_pipe_written(s->to_client) : 0;
    r->has_referer = r->has_user_agent = false;
    r->id[0] = '\0';
    try {
        if (parsed) { // the whole first line, version included (nginx's $request)
            const xps_http_head_t *h = xps_http_parser_head(s->parser);
            const char *at = s->head.get() + h->method_name.offset;
            size_t n = 0;
            while (n < h->head_length && at[n] != '\r' && at[n] != '\n')
                n++;
            keep(r->line, at, n, 1024);
            size_t len = 0;
            const char *v = field(s, "Referer", &len);
            if ((r->has_referer = v != nullptr))
                keep(r->referer, v, len, 512);
            if ((r->has_user_agent = (v = field(s, "User-Agent", &len)) != nullptr))
                keep(r->user_agent, v, len, 512);
        } else {
            r->line = s->request_line; // refuse()'s printable first bytes
        }
    } catch (const std::bad_alloc &) {
        r->line.clear(); // the line goes without them
    }
    if (!s->observer->ids)
        return;
    size_t len = 0;
    const char *theirs = parsed ? field(s, "X-Request-ID", &len) : nullptr;
    if (theirs && xps_request_id_valid(theirs, len)) {
        std::memcpy(r->id, theirs, len);
        r->id[len] = '\0';
    } else {
        xps_request_id_next(s->observer->ids, r->id);
    }
}

void observe_status(xps_session_t *s, int status) {
    if (s->report && s->report->pending && s->report->status == 0)
        s->report->status = status;
}

void observe_upstream_start(xps_session_t *s) {
    if (s->report)
        s->report->upstream_us = now_us();
}

void observe_upstream_head(xps_session_t *s, int status) {
    request_report *r = s->report.get();
    if (!r)
        return;
    observe_status(s, status);
    if (r->upstream_us && s->observer->slot)
        xps_metrics_upstream_latency(s->observer->slot, now_us() - r->upstream_us);
    r->upstream_us = 0; // one sample per response
}

void observe_cache(xps_session_t *s, bool hit) {
    if (s->report && s->observer->slot)
        xps_metrics_cache(s->observer->slot, hit);
}

xps_buffer_t *head_with_lines(xps_buffer_t *head, const char *lines, const char *drop) {
    const char *at = xps_buffer_data(head);
    size_t len = xps_buffer_len(head);
    if (len < 4 || std::memcmp(at + len - 4, "\r\n\r\n", 4) != 0)
        return head; // not a head we can add to: as it is
    size_t n_drop = drop ? std::strlen(drop) : 0;
    std::string out;
    try {
        out.reserve(len + std::strlen(lines));
        size_t line = 0;
        while (line + 2 < len) { // every line but the blank one
            const char *end = static_cast<const char *>(std::memchr(at + line, '\n', len - line));
            size_t next = end ? static_cast<size_t>(end - at) + 1 : len;
            if (line == 0 || !drop || next - line < n_drop || strncasecmp(at + line, drop, n_drop) != 0)
                out.append(at + line, next - line);
            line = next;
        }
        (out += lines) += "\r\n";
    } catch (const std::bad_alloc &) {
        return head;
    }
    xps_buffer_t *copy = xps_buffer_copy_of(out.data(), out.size());
    if (!copy)
        return head;
    xps_buffer_destroy(head);
    return copy;
}

xps_buffer_t *observe_cached_head(xps_session_t *s, xps_buffer_t *head) {
    if (!s->report)
        return head;
    const char *at = xps_buffer_data(head);
    if (xps_buffer_len(head) > 12 && std::strncmp(at, "HTTP/1.", 7) == 0) // "HTTP/1.1 200 ..."
        observe_status(s, std::atoi(at + 9));
    const char *id = request_id(s);
    if (!id)
        return head;
    // The request that filled the entry had its own id: ours replaces it.
    char line[XPS_REQUEST_ID_MAX + 20];
    std::snprintf(line, sizeof line, "X-Request-ID: %s\r\n", id);
    return head_with_lines(head, line, "x-request-id:");
}

const char *request_id(const xps_session_t *s) {
    return s->report && s->report->id[0] ? s->report->id : nullptr;
}

void observe_end(xps_session_t *s) {
    request_report *r = s->report.get();
    if (!r || !r->pending)
        return;
    r->pending = false;
    uint64_t bytes = s->to_client ? xps_pipe_written(s->to_client) - r->written_at : 0;
    uint64_t took = now_us() - r->start_us;
    if (s->observer->slot)
        xps_metrics_count_response(s->observer->slot, r->status, bytes);
    if (!s->observer->access_log)
        return;
    xps_accesslog_entry_t e{};
    e.client_ip = s->client_ip;
    e.time = r->wall;
    e.request = r->line.data(), e.request_len = r->line.size();
    e.status = r->status, e.bytes = bytes, e.duration_us = took;
    if (r->has_referer)
        e.referer = r->referer.data(), e.referer_len = r->referer.size();
    if (r->has_user_agent)
        e.user_agent = r->user_agent.data(), e.user_agent_len = r->user_agent.size();
    e.request_id = r->id[0] ? r->id : nullptr;
    xps_accesslog_write(s->observer->access_log, &e);
}


} // namespace session_detail

void xps_session_set_observer(xps_session_t *s, const xps_session_observer_t *observer) noexcept {
    assert(s);
    s->observer = nullptr;
    s->report.reset();
    if (!observer)
        return;
    s->report.reset(new (std::nothrow) session_detail::request_report{});
    if (!s->report) {
        XPS_LOG(XPS_LOG_ERROR, session_detail::log_name, "%s: no memory to observe: not reported",
                s->client_ip);
        return;
    }
    s->observer = observer;
}
