// modules/cache/xps_cache.cpp — see xps_cache.h. One exchange:
//
//   start ─▶ lookup ─┬─ fresh entry ─────────────▶ events.hit (head + file range)
//                    ├─ being written elsewhere ─▶ wait (timer) ─▶ lookup again
//                    └─ none / stale / bypass ───▶ events.fetch(tee)
//   tee: head ─▶ storable? writer gets "XPSC1 ..." + the head to replay
//        body ─▶ writer;  end(complete) ─▶ commit, else abort
#include "modules/cache/xps_cache.h"

#include <cctype>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

#include "core/xps_core.h"
#include "core/xps_logger.h"
#include "modules/cache/xps_cache_policy.h"

namespace {

constexpr const char *log_name = "cache";
constexpr const char *entry_magic = "XPSC1";   // a stored response
constexpr const char *variants_magic = "XPSV1"; // the Vary names of a key's variants
constexpr size_t max_stored_head = 64 * 1024;  // a longer head is not replayed from disk

// What the exchange is doing.
enum class state { idle, waiting, fetching, done };

// What X-Cache will say of a fetched response.
enum class label { miss, expired, bypass };

using fields = std::vector<std::pair<std::string, std::string>>; // lower-case name, value

std::string lower(std::string s) {
    for (char &c : s)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string trim(const std::string &s) {
    size_t a = s.find_first_not_of(" \t"), b = s.find_last_not_of(" \t");
    return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
}

// Every "name: value" line of a response head (after the status line).
fields head_fields(const char *head, size_t len) {
    fields out;
    std::string h(head, len);
    size_t line = h.find("\r\n");
    while (line != std::string::npos && line + 4 <= h.size()) {
        line += 2;
        size_t end = h.find("\r\n", line);
        if (end == std::string::npos || end == line)
            break;
        size_t colon = h.find(':', line);
        if (colon != std::string::npos && colon < end)
            out.emplace_back(lower(h.substr(line, colon - line)),
                             trim(h.substr(colon + 1, end - colon - 1)));
        line = end;
    }
    return out;
}

// The values of `name` joined with ", " (RFC 9110 §5.3); false when absent.
bool field(const fields &f, const char *name, std::string *out) {
    bool found = false;
    out->clear();
    for (const auto &kv : f)
        if (kv.first == name) {
            if (found)
                *out += ", ";
            *out += kv.second, found = true;
        }
    return found;
}

// The Vary field's names, lower-case, in order.
std::vector<std::string> vary_names(const std::string &vary) {
    std::vector<std::string> names;
    size_t at = 0;
    while (at <= vary.size()) {
        size_t comma = vary.find(',', at);
        std::string name = lower(trim(vary.substr(at, comma - at)));
        if (!name.empty())
            names.push_back(name);
        if (comma == std::string::npos)
            break;
        at = comma + 1;
    }
    return names;
}

// Fields of the response head that are not replayed from an entry: this
// hop's (RFC 9110 §7.6.1), the framing (a hit has our Content-Length) and
// Age (a hit has its own).
bool not_replayed(const std::string &name) {
    static const char *const names[] = {"connection", "keep-alive", "proxy-connection", "te",
                                        "trailer", "transfer-encoding", "upgrade",
                                        "content-length", "age", "x-cache"};
    for (const char *n : names)
        if (name == n)
            return true;
    return false;
}

// The policy's view of a response head's fields.
struct response_view {
    std::string cache_control, expires, date, last_modified, age, vary;
    xps_cache_response_t res{};
    void fill(const fields &f, int status, int64_t request_time, int64_t response_time) {
        res.status = status;
        res.cache_control = field(f, "cache-control", &cache_control) ? cache_control.c_str() : nullptr;
        res.expires = field(f, "expires", &expires) ? expires.c_str() : nullptr;
        res.date = field(f, "date", &date) ? date.c_str() : nullptr;
        res.last_modified = field(f, "last-modified", &last_modified) ? last_modified.c_str() : nullptr;
        res.age = field(f, "age", &age) ? age.c_str() : nullptr;
        res.vary = field(f, "vary", &vary) ? vary.c_str() : nullptr;
        std::string cookie;
        res.has_set_cookie = field(f, "set-cookie", &cookie);
        res.request_time = request_time, res.response_time = response_time;
    }
};

bool read_at(int fd, std::string *out, size_t len, int64_t offset) {
    out->resize(len);
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(fd, &(*out)[got], len - got, offset + static_cast<int64_t>(got));
        if (n <= 0)
            return false;
        got += static_cast<size_t>(n);
    }
    return true;
}

// An entry's first line, "<magic> <words...>\n": its words, and where the
// rest starts. False for a file that is not one of ours.
bool first_line(int fd, uint64_t size, const char *magic, std::string *words, size_t *rest) {
    std::string line;
    size_t n = size < 512 ? static_cast<size_t>(size) : 512;
    if (!read_at(fd, &line, n, 0))
        return false;
    size_t nl = line.find('\n'), m = std::strlen(magic);
    if (nl == std::string::npos || line.compare(0, m, magic) != 0 || line.size() <= m ||
        line[m] != ' ')
        return false;
    *words = line.substr(m + 1, nl - m - 1);
    *rest = nl + 1;
    return true;
}

} // namespace

struct xps_cache_exchange_s {
    xps_loop_t *loop;
    xps_cache_store_t *store;
    xps_cache_events_t ev;
    void *data;
    state st = state::idle;
    bool ended = false;
    // the request, copied
    std::string key;            // "<origin>\n<host>\n<target>": the entry, or its
                                // variants record
    fields request;             // its header lines
    bool is_get = false, is_head = false, keep = false, http10 = false;
    bool authorization = false, ranged = false;
    std::string cache_control, pragma;
    xps_cache_request_t req{};  // the policy's view (pointers into the strings above)
    uint32_t wait_ms = 0;
    uint64_t wait_until = 0;    // loop time when a wait gives up
    xps_loop_timer_t *timer = nullptr;
    std::string log_line;
    // the fetch
    label said = label::miss;
    std::string claimed;        // the key `writer` writes: `key`, or a variant's
    bool claimed_variant = false;
    xps_cache_writer_t *writer = nullptr;
    int64_t request_time = 0;   // when the fetch began (s)
    xps_proxy_tee_t tee{};
    // a stale entry being revalidated: what a 304 refreshes
    bool own_conditionals = false; // the request has validators of its own: not ours to add
    int stale_fd = -1;          // owned: the entry's file
    std::string stale_head;     // its head to replay
    uint64_t stale_at = 0, stale_len = 0; // its body in the file
    std::string conditional;    // If-None-Match / If-Modified-Since lines for the upstream
};

namespace {

void free_exchange(void *p) { delete static_cast<xps_cache_exchange_t *>(p); }

// The key of the variant of `x`'s request for a response varying on `names`.
std::string variant_key(const xps_cache_exchange_t *x, const std::vector<std::string> &names) {
    std::string k = x->key;
    for (const std::string &name : names) {
        std::string value;
        field(x->request, name.c_str(), &value);
        (((k += '\n') += name) += ':') += value;
    }
    return k;
}

void drop_writer(xps_cache_exchange_t *x) {
    xps_cache_write_abort(x->writer);
    x->writer = nullptr;
}

// ---------------------------------------------------------------- a hit

// What the lookup found for the request.
enum class found { none, fresh, stale, bypass };

// The head of a hit: the stored head, our Age, X-Cache, length, Connection.
xps_buffer_t *hit_head(const xps_cache_exchange_t *x, const std::string &stored, int64_t age,
                       uint64_t body_len, const char *x_cache) {
    char lines[160];
    const char *connection = !x->keep ? "Connection: close\r\n"
                             : x->http10 ? "Connection: keep-alive\r\n" : "";
    int n = std::snprintf(lines, sizeof lines,
                          "Age: %" PRId64 "\r\nX-Cache: %s\r\nContent-Length: %" PRIu64
                          "\r\n%s\r\n",
                          age, x_cache, body_len, connection);
    size_t keep_len = stored.size() - 2; // without the blank line
    xps_buffer_t *b = xps_buffer_create(keep_len + static_cast<size_t>(n));
    if (!b)
        return nullptr;
    std::memcpy(xps_buffer_space(b), stored.data(), keep_len);
    std::memcpy(xps_buffer_space(b) + keep_len, lines, static_cast<size_t>(n));
    xps_buffer_produce(b, keep_len + static_cast<size_t>(n));
    return b;
}

// A stale entry with a validator, for a request without validators of its
// own: kept, and the fetch asks the upstream whether it is still good
// (RFC 9111 §4.3.1): If-None-Match with its ETag, If-Modified-Since with
// its Last-Modified.
void keep_stale(xps_cache_exchange_t *x, int fd, const fields &f, const std::string &stored,
                uint64_t body_at, uint64_t body_len) {
    std::string etag, modified;
    bool tagged = field(f, "etag", &etag), dated = field(f, "last-modified", &modified);
    if (x->own_conditionals || (!tagged && !dated))
        return;
    int copy = dup(fd);
    if (copy < 0)
        return; // revalidated in full: a plain fetch
    if (x->stale_fd >= 0)
        close(x->stale_fd);
    x->stale_fd = copy;
    x->stale_head = stored, x->stale_at = body_at, x->stale_len = body_len;
    x->conditional.clear();
    if (tagged)
        x->conditional += "If-None-Match: " + etag + "\r\n";
    if (dated)
        x->conditional += "If-Modified-Since: " + modified + "\r\n";
}

// Reads the entry open on fd: serves it when fresh for this request.
found use_entry(xps_cache_exchange_t *x, int fd, uint64_t size) {
    std::string words, stored;
    size_t at = 0;
    long long req_t = 0, res_t = 0;
    size_t head_len = 0;
    if (!first_line(fd, size, entry_magic, &words, &at) ||
        std::sscanf(words.c_str(), "%lld %lld %zu", &req_t, &res_t, &head_len) != 3 ||
        head_len < 4 || head_len > max_stored_head || at + head_len > size ||
        !read_at(fd, &stored, head_len, static_cast<int64_t>(at)))
        return found::none; // not ours, or cut: as if absent (it is replaced)
    int status = 0;
    std::sscanf(stored.c_str(), "HTTP/1.1 %d", &status);
    fields f = head_fields(stored.data(), stored.size());
    response_view v;
    v.fill(f, status, req_t, res_t);
    xps_cache_control_t cc;
    xps_cache_control_parse(v.res.cache_control, v.cache_control.size(), &cc);
    // RFC 9111 §3.5: a request with Authorization gets a stored response
    // only when that response said it may be shared.
    if (x->authorization && !cc.public_ && cc.s_maxage == XPS_CACHE_UNSET && !cc.must_revalidate)
        return found::bypass;
    int64_t now = static_cast<int64_t>(time(nullptr));
    uint64_t body_len = size - at - head_len;
    if (xps_cache_use(&x->req, &v.res, now) == XPS_CACHE_REVALIDATE) {
        keep_stale(x, fd, f, stored, at + head_len, body_len);
        return found::stale;
    }
    xps_buffer_t *head = hit_head(x, stored, xps_cache_current_age(&v.res, now), body_len, "HIT");
    if (!head)
        return found::none;
    XPS_LOG(XPS_LOG_DEBUG, log_name, "\"%s\" -> HIT (%" PRIu64 " bytes)", x->log_line.c_str(),
            body_len);
    x->st = state::done;
    x->ev.hit(x->data, head, fd, static_cast<int64_t>(at + head_len),
              x->is_head ? 0 : body_len);
    return found::fresh;
}

// Looks up `key`; for a variants record, the variant of this request.
// *claim is the key a fetch would write.
found look(xps_cache_exchange_t *x, std::string *claim, bool *variant) {
    *claim = x->key, *variant = false;
    int fd = -1;
    uint64_t size = 0;
    if (xps_cache_lookup(x->store, x->key.c_str(), &fd, &size) != XPS_OK)
        return found::none;
    std::string words;
    size_t at = 0;
    if (first_line(fd, size, variants_magic, &words, &at)) {
        close(fd);
        *claim = variant_key(x, vary_names(words)), *variant = true;
        if (xps_cache_lookup(x->store, claim->c_str(), &fd, &size) != XPS_OK)
            return found::none;
    }
    found r = use_entry(x, fd, size);
    close(fd);
    return r;
}

// ---------------------------------------------------------- the fetch

const char *label_line(label l) {
    return l == label::bypass ? "X-Cache: BYPASS\r\n"
           : l == label::expired ? "X-Cache: EXPIRED\r\n" : "X-Cache: MISS\r\n";
}

void fetch(xps_cache_exchange_t *x, label l) {
    x->said = l;
    x->tee.request_lines = l == label::expired && x->stale_fd >= 0 ? x->conditional.c_str()
                                                                   : nullptr;
    x->st = state::fetching;
    x->request_time = static_cast<int64_t>(time(nullptr));
    x->ev.fetch(x->data, &x->tee);
}

// Writes the entry's first line and the head to replay; false on a store error.
bool write_entry_head(xps_cache_exchange_t *x, const char *head, size_t len,
                      int64_t response_time) {
    std::string stored("HTTP/1.1");
    std::string h(head, len);
    size_t line = h.find("\r\n");
    stored.append(h, 8, line + 2 - 8);
    for (line += 2; line + 2 < len;) {
        size_t end = h.find("\r\n", line), colon = h.find(':', line);
        if (!not_replayed(lower(h.substr(line, colon - line))))
            stored.append(h, line, end + 2 - line);
        line = end + 2;
    }
    stored += "\r\n";
    char first[96];
    int n = std::snprintf(first, sizeof first, "%s %" PRId64 " %" PRId64 " %zu\n", entry_magic,
                          x->request_time, response_time, stored.size());
    return stored.size() <= max_stored_head &&
           xps_cache_write(x->writer, first, static_cast<size_t>(n)) == XPS_OK &&
           xps_cache_write(x->writer, stored.data(), stored.size()) == XPS_OK;
}

// A response with Vary, for a key with no variants record yet: the record
// goes in the claimed writer, and the variant gets a writer of its own.
bool switch_to_variant(xps_cache_exchange_t *x, const std::string &vary) {
    std::string record = std::string(variants_magic) + " " + vary + "\n";
    if (xps_cache_write(x->writer, record.data(), record.size()) != XPS_OK ||
        xps_cache_write_commit(x->writer) != XPS_OK) {
        x->writer = nullptr; // commit frees it, abort too
        return false;
    }
    x->claimed = variant_key(x, vary_names(vary));
    int error = XPS_OK;
    x->writer = xps_cache_write_begin(x->store, x->claimed.c_str(), &error);
    return x->writer != nullptr;
}

// RFC 9111 §4.3.4: the stale head updated with the 304's fields (a field
// the 304 has replaces the stored one of that name).
std::string refreshed_head(const std::string &stale, const char *head, size_t len) {
    fields fresh = head_fields(head, len);
    std::string out = stale.substr(0, stale.find("\r\n") + 2);
    for (size_t line = out.size(); line + 2 < stale.size();) {
        size_t end = stale.find("\r\n", line), colon = stale.find(':', line);
        std::string name = lower(stale.substr(line, colon - line)), ignored;
        if (!field(fresh, name.c_str(), &ignored))
            out.append(stale, line, end + 2 - line);
        line = end + 2;
    }
    std::string h(head, len); // the 304's own lines, as sent
    for (size_t line = h.find("\r\n") + 2; line + 2 < len;) {
        size_t end = h.find("\r\n", line), colon = h.find(':', line);
        if (!not_replayed(lower(h.substr(line, colon - line))))
            out.append(h, line, end + 2 - line);
        line = end + 2;
    }
    return out + "\r\n";
}

// The upstream said 304 to our validators: the stale entry is good again.
// Its refreshed copy replaces it in the store (when this exchange holds the
// key's writer), and the client gets it, as a hit would be sent.
bool refresh(xps_cache_exchange_t *x, const char *head, size_t len, xps_pipe_t *to_client) {
    int64_t now = static_cast<int64_t>(time(nullptr));
    std::string merged = refreshed_head(x->stale_head, head, len);
    if (x->writer && write_entry_head(x, merged.data(), merged.size(), now)) {
        std::string block;
        for (uint64_t off = 0; x->writer && off < x->stale_len; off += block.size()) {
            size_t n = x->stale_len - off < 65536 ? static_cast<size_t>(x->stale_len - off) : 65536;
            if (!read_at(x->stale_fd, &block, n, static_cast<int64_t>(x->stale_at + off)) ||
                xps_cache_write(x->writer, block.data(), n) != XPS_OK)
                drop_writer(x);
        }
        xps_cache_writer_t *w = x->writer;
        x->writer = nullptr;
        if (w && xps_cache_write_commit(w) == XPS_OK)
            XPS_LOG(XPS_LOG_DEBUG, log_name, "\"%s\": revalidated (304), refreshed",
                    x->log_line.c_str());
    }
    drop_writer(x);
    fields f = head_fields(merged.data(), merged.size());
    response_view v;
    v.fill(f, 200, x->request_time, now);
    xps_buffer_t *b = hit_head(x, merged, xps_cache_current_age(&v.res, now), x->stale_len,
                               "EXPIRED");
    if (!b || xps_pipe_write(to_client, b) != XPS_OK)
        return false;
    return x->is_head || x->stale_len == 0 ||
           xps_pipe_write_file(to_client, x->stale_fd, static_cast<int64_t>(x->stale_at),
                               static_cast<size_t>(x->stale_len)) == XPS_OK;
}

const char *on_tee_head(void *data, const char *head, size_t len, int status,
                        xps_pipe_t *to_client, bool *replaced) {
    auto *x = static_cast<xps_cache_exchange_t *>(data);
    if (status == 304 && x->tee.request_lines && to_client) {
        try {
            *replaced = refresh(x, head, len, to_client);
        } catch (const std::bad_alloc &) {
            drop_writer(x);
        }
        if (*replaced)
            return "";
    }
    if (!x->writer)
        return label_line(x->said);
    try {
        fields f = head_fields(head, len);
        response_view v;
        int64_t now = static_cast<int64_t>(time(nullptr));
        v.fill(f, status, x->request_time, now);
        xps_cache_store_verdict_t verdict = xps_cache_storable(&x->req, &v.res);
        bool stored = verdict == XPS_CACHE_STORE && status != 206; // whole responses only
        if (!stored) {
            XPS_LOG(XPS_LOG_DEBUG, log_name, "\"%s\" -> %d, not stored: %s", x->log_line.c_str(),
                    status, status == 206 ? "partial content" : xps_cache_verdict_text(verdict));
            drop_writer(x);
            if (x->said == label::expired) // the stale one may no longer be served
                xps_cache_remove(x->store, x->claimed.c_str());
            return label_line(x->said);
        }
        bool varies = v.res.vary && !vary_names(v.vary).empty();
        if (varies && x->claimed_variant && x->claimed != variant_key(x, vary_names(v.vary)))
            drop_writer(x); // its Vary changed: the record says otherwise
        else if (varies && !x->claimed_variant && !switch_to_variant(x, v.vary))
            drop_writer(x);
        else if (!varies && x->claimed_variant)
            drop_writer(x); // the record says it varies; this one does not
        if (x->writer && !write_entry_head(x, head, len, now))
            drop_writer(x);
    } catch (const std::bad_alloc &) {
        drop_writer(x);
    }
    return label_line(x->said);
}

void on_tee_body(void *data, const char *bytes, size_t len) {
    auto *x = static_cast<xps_cache_exchange_t *>(data);
    if (x->writer && xps_cache_write(x->writer, bytes, len) != XPS_OK)
        drop_writer(x); // past max_bytes, or the disk: not stored
}

void on_tee_end(void *data, bool complete) {
    auto *x = static_cast<xps_cache_exchange_t *>(data);
    if (!x->writer)
        return;
    if (!complete) {
        XPS_LOG(XPS_LOG_DEBUG, log_name, "\"%s\": response cut short, not stored",
                x->log_line.c_str());
        return drop_writer(x);
    }
    xps_cache_writer_t *w = x->writer;
    x->writer = nullptr;
    if (xps_cache_write_commit(w) == XPS_OK)
        XPS_LOG(XPS_LOG_DEBUG, log_name, "\"%s\": stored", x->log_line.c_str());
}

// ------------------------------------------------------------- lookup

void on_wait(xps_loop_timer_t *, void *data);

// One try: a hit ends it; else a claim of the key and a fetch; a key being
// written elsewhere waits (bounded), then fetches without storing.
void attempt(xps_cache_exchange_t *x) {
    std::string claim;
    bool variant = false;
    found r = found::none;
    try {
        r = look(x, &claim, &variant);
    } catch (const std::bad_alloc &) {
        return fetch(x, label::miss);
    }
    if (r == found::fresh)
        return;
    if (r == found::bypass)
        return fetch(x, label::bypass);
    label l = r == found::stale ? label::expired : label::miss;
    // A HEAD or a Range is answered from an entry, never stored from.
    if (!x->is_get || x->ranged)
        return fetch(x, l);
    int error = XPS_OK;
    x->writer = xps_cache_write_begin(x->store, claim.c_str(), &error);
    if (x->writer) {
        x->claimed = claim, x->claimed_variant = variant;
        return fetch(x, l);
    }
    uint64_t now = xps_loop_now_ms(x->loop);
    if (error != XPS_E_AGAIN || now >= x->wait_until || (!x->timer &&
        !(x->timer = xps_loop_timer_create(x->loop, on_wait, x))))
        return fetch(x, l); // the other fetch took too long, or no memory: ours is not stored
    x->st = state::waiting;
    xps_loop_timer_start(x->timer, XPS_CACHE_WAIT_STEP_MS);
}

void on_wait(xps_loop_timer_t *, void *data) {
    auto *x = static_cast<xps_cache_exchange_t *>(data);
    if (x->st == state::waiting)
        attempt(x);
}

} // namespace

xps_cache_exchange_t *xps_cache_exchange_create(const xps_cache_exchange_request_t *request,
                                                const xps_cache_events_t *events, void *data,
                                                int *error) noexcept {
    *error = XPS_OK;
    auto *x = new (std::nothrow) xps_cache_exchange_t{};
    if (!x)
        return *error = XPS_E_NOMEM, nullptr;
    try {
        const xps_http_head_t *h = request->head;
        const char *buf = request->buf;
        x->loop = request->loop, x->store = request->store;
        x->ev = *events, x->data = data;
        x->keep = request->keep;
        x->http10 = h->version == XPS_HTTP_VERSION_1_0;
        x->is_get = h->method == XPS_HTTP_METHOD_GET;
        x->is_head = h->method == XPS_HTTP_METHOD_HEAD;
        x->wait_ms = request->wait_ms;
        x->log_line = request->log_line ? request->log_line : "";
        x->key.assign(request->origin ? request->origin : "").append("\n");
        x->key.append(buf + h->host.offset, h->host.length);
        x->key.append("\n").append(buf + h->target.offset, h->target.length);
        for (size_t i = 0; i < h->header_count; i++) {
            const xps_http_header_t &hd = h->headers[i];
            x->request.emplace_back(lower(std::string(buf + hd.name.offset, hd.name.length)),
                                    std::string(buf + hd.value.offset, hd.value.length));
        }
        std::string ignored;
        x->authorization = field(x->request, "authorization", &ignored);
        x->ranged = field(x->request, "range", &ignored);
        x->own_conditionals = field(x->request, "if-none-match", &ignored) ||
                              field(x->request, "if-modified-since", &ignored);
        x->req.is_get = x->is_get || x->is_head;
        x->req.cache_control =
            field(x->request, "cache-control", &x->cache_control) ? x->cache_control.c_str() : nullptr;
        x->req.pragma = field(x->request, "pragma", &x->pragma) ? x->pragma.c_str() : nullptr;
        x->req.has_authorization = x->authorization;
    } catch (const std::bad_alloc &) {
        delete x;
        return *error = XPS_E_NOMEM, nullptr;
    }
    x->tee = xps_proxy_tee_t{on_tee_head, on_tee_body, on_tee_end, x, nullptr};
    return x;
}

void xps_cache_exchange_start(xps_cache_exchange_t *x) noexcept {
    xps_cache_control_t cc;
    xps_cache_control_parse(x->req.cache_control, x->cache_control.size(), &cc);
    x->wait_until = xps_loop_now_ms(x->loop) + x->wait_ms;
    if ((!x->is_get && !x->is_head) || cc.no_store) // RFC 9111 §3, §5.2.1.5
        return fetch(x, label::bypass);
    attempt(x);
}

void xps_cache_exchange_destroy(xps_cache_exchange_t *x) noexcept {
    if (!x || x->ended)
        return;
    x->ended = true;
    x->st = state::done;
    drop_writer(x);
    if (x->stale_fd >= 0)
        close(x->stale_fd);
    x->stale_fd = -1;
    xps_loop_timer_destroy(x->timer);
    x->timer = nullptr;
    xps_core_defer_free(xps_loop_core(x->loop), free_exchange, x);
}
