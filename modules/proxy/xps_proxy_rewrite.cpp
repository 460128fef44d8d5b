// modules/proxy/xps_proxy_rewrite.cpp — the heads the proxy writes
// (xps_proxy.cpp relays the bytes): the request head rewritten for
// one hop towards the upstream, and the response head rewritten for the
// client [stage 13]. Both drop what describes only one connection (the
// hop-by-hop fields) and put our own framing and Connection field in:
// what leaves xps is framed the way xps parsed it, never the way the peer
// said it (the defence against request smuggling, and against a response
// that ends somewhere other than where the next hop thinks).
#include "modules/proxy/xps_proxy_internal.hpp"

#include <strings.h>

#include <cctype>
#include <cstring>
#include <new>
#include <string>

#include "core/xps_buffer.h"

using namespace proxy_detail;

namespace {

// ----------------------------------------------------- the request head

// Hop-by-hop fields (RFC 9110 §7.6.1): they describe this connection, not
// the message, and must not travel past it. Connection names more.
// HTTP2-Settings belongs to an "Upgrade: h2c" (RFC 7540 §3.2.1), which we
// never pass on: xps speaks no HTTP/2.
constexpr const char *hop_by_hop[] = {"connection", "keep-alive", "proxy-connection", "te",
                                      "upgrade", "http2-settings"};

// The body's framing. Never forwarded as received: forward_head writes
// its own from what the parser decided (one Content-Length value, or
// "Transfer-Encoding: chunked" for a body that forward_body re-encodes),
// so the upstream can only read the body where xps read it (RFC 9112
// §6.3; "Content-Length: 5, 5" and "Transfer-Encoding: ,chunked," are
// accepted from the client but leave as "5" and "chunked").
constexpr const char *framing_fields[] = {"content-length", "transfer-encoding"};

bool in_list(const char *buf, xps_http_slice_t name, const char *const *list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (xps_http_slice_iequals(buf, name, list[i]))
            return true;
    return false;
}

// Whether some Connection header lists this field's name.
bool named_by_connection(const xps_http_head_t *h, const char *buf, xps_http_slice_t name) {
    std::string token(buf + name.offset, name.length);
    for (const xps_http_header_t *c = xps_http_head_find(h, buf, "Connection", nullptr); c;
         c = xps_http_head_find(h, buf, "Connection", c))
        if (xps_http_list_has_token(buf, c->value, token.c_str()))
            return true;
    return false;
}

// A field name with '_' is a valid token, but a CGI-style upstream maps
// '_' and '-' both to '_' ("Transfer_Encoding" reaches it as
// HTTP_TRANSFER_ENCODING): such a name could smuggle a field past our
// checks under the name of another. Dropped, as nginx does by default.
bool has_underscore(const char *buf, xps_http_slice_t name) {
    return std::memchr(buf + name.offset, '_', name.length) != nullptr;
}

// Whether a received field stays behind. Host is never dropped, even if
// Connection names it ("Connection: host" is an attack, not a request).
bool dropped(const xps_http_head_t *h, const char *buf, xps_http_slice_t name) {
    if (in_list(buf, name, hop_by_hop, sizeof hop_by_hop / sizeof *hop_by_hop) ||
        in_list(buf, name, framing_fields, sizeof framing_fields / sizeof *framing_fields) ||
        has_underscore(buf, name))
        return true;
    return !xps_http_slice_iequals(buf, name, "host") && named_by_connection(h, buf, name);
}

void append_slice(std::string &out, const char *buf, xps_http_slice_t s) {
    out.append(buf + s.offset, s.length);
}

// Appends "<name>: <received values, comma-joined>, <ours>\r\n".
void append_list(std::string &out, const xps_http_head_t *h, const char *buf, const char *name,
                 const std::string &ours) {
    out += name;
    out += ": ";
    for (const xps_http_header_t *f = xps_http_head_find(h, buf, name, nullptr); f;
         f = xps_http_head_find(h, buf, name, f)) {
        append_slice(out, buf, f->value);
        out += ", ";
    }
    out += ours;
    out += "\r\n";
}

// "METHOD origin-form-target HTTP/1.x\r\n"
void append_request_line(std::string &out, const xps_http_head_t *h, const char *buf) {
    append_slice(out, buf, h->method_name);
    out += ' ';
    if (h->target_form == XPS_HTTP_FORM_ABSOLUTE) { // "http://a/p?q" → "/p?q"
        if (h->path.length == 0)
            out += '/';
        append_slice(out, buf, h->path);
        if (h->has_query) {
            out += '?';
            append_slice(out, buf, h->query);
        }
    } else {
        append_slice(out, buf, h->target);
    }
    // The client's own version: the response is relayed to it unchanged,
    // so the upstream must answer in a version the client reads (an
    // HTTP/1.0 client cannot read a chunked reply).
    out += h->version == XPS_HTTP_VERSION_1_0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n";
}

// Via's received-by must be a token (or host): "my site" → "my-site".
std::string via_token(const char *name) {
    std::string t = name && *name ? name : "xps";
    for (char &c : t)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || std::strchr("!#$%&'*+-.^_`|~", c)))
            c = '-';
    return t;
}

} // namespace

namespace proxy_detail {

std::string forward_head(const xps_http_head_t *h, const char *buf,
                         const xps_proxy_forward_t *fwd, const char *last_lines) {
    std::string out;
    out.reserve(h->head_length + 128);
    append_request_line(out, h, buf);
    bool host_done = false;
    for (size_t i = 0; i < h->header_count; i++) {
        const xps_http_header_t &f = h->headers[i];
        if (dropped(h, buf, f.name) || xps_http_slice_iequals(buf, f.name, "x-forwarded-for") ||
            xps_http_slice_iequals(buf, f.name, "via") ||
            (fwd->request_id && xps_http_slice_iequals(buf, f.name, "x-request-id")))
            continue; // re-emitted below, with our entry (or our id)
        bool is_host = xps_http_slice_iequals(buf, f.name, "host");
        if (is_host && h->target_form == XPS_HTTP_FORM_ABSOLUTE)
            continue; // replaced by the target's authority (RFC 9112 §3.2.2)
        host_done |= is_host;
        append_slice(out, buf, f.name);
        out += ": ";
        append_slice(out, buf, f.value);
        out += "\r\n";
    }
    if (!host_done && h->target_form == XPS_HTTP_FORM_ABSOLUTE && h->host.length > 0) {
        out += "Host: ";
        append_slice(out, buf, h->host);
        if (h->port != 0)
            out += ':' + std::to_string(h->port);
        out += "\r\n";
    } else if (!host_done && fwd->default_host) {
        (out += "Host: ") += fwd->default_host;
        out += "\r\n";
    }
    if (h->body == XPS_HTTP_BODY_LENGTH) // our framing, from what the parser read
        out += "Content-Length: " + std::to_string(h->content_length) + "\r\n";
    else if (h->body == XPS_HTTP_BODY_CHUNKED)
        out += "Transfer-Encoding: chunked\r\n";
    append_list(out, h, buf, "X-Forwarded-For", fwd->client_ip ? fwd->client_ip : "unknown");
    append_list(out, h, buf, "Via",
                (h->version == XPS_HTTP_VERSION_1_0 ? "1.0 " : "1.1 ") + via_token(fwd->via_name));
    if (fwd->request_id) // [apps/xps] the one id, ours (modules/accesslog checked it)
        ((out += "X-Request-ID: ") += fwd->request_id) += "\r\n";
    (out += last_lines) += "\r\n";
    return out;
}

} // namespace proxy_detail

namespace {

// Hop-by-hop fields of a response (RFC 9110 §7.6.1), besides those its
// Connection header names.
constexpr const char *response_hop_by_hop[] = {"connection", "keep-alive", "proxy-connection",
                                               "te", "trailer", "upgrade", "transfer-encoding"};

// Whether the comma-separated list[0..len) has `token` (case-insensitive).
bool list_has(const std::string &list, const std::string &token) {
    size_t at = 0;
    while (at <= list.size()) {
        size_t end = list.find(',', at);
        if (end == std::string::npos)
            end = list.size();
        size_t a = at, b = end;
        while (a < b && (list[a] == ' ' || list[a] == '\t'))
            a++;
        while (b > a && (list[b - 1] == ' ' || list[b - 1] == '\t'))
            b--;
        if (b - a == token.size() && strncasecmp(list.data() + a, token.data(), b - a) == 0)
            return true;
        at = end + 1;
    }
    return false;
}

} // namespace

namespace proxy_detail {

// [stage 13] The head minus the hop-by-hop fields (and those Connection
// names), plus `last_lines`: our framing and our Connection field. The
// status line says HTTP/1.1 whatever the upstream spoke: a proxy sends
// its own version (RFC 9110 §6.2), and a client may ignore chunked in an
// HTTP/1.0 response. With `keep_chunked` (a chunked body relayed as it
// came) the upstream's Transfer-Encoding and Trailer stay: they describe
// the bytes that follow. [apps/xps] With `drop_request_id` the upstream's
// X-Request-ID goes too: last_lines has the request's.
std::string client_head(const std::string &head, size_t head_length, bool keep_chunked,
                        const char *last_lines, bool drop_request_id) {
    std::string connection; // every Connection value, comma-joined
    std::string out;
    for (int pass = 0; pass < 2; pass++) {
        size_t line = head.find("\r\n") + 2; // after the status line
        if (pass == 1)
            out.assign("HTTP/1.1").append(head, 8, line - 8);
        while (line + 2 < head_length) {
            size_t end = head.find("\r\n", line);
            size_t colon = head.find(':', line);
            std::string name = head.substr(line, colon - line);
            for (char &c : name)
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            if (pass == 0 && name == "connection")
                connection.append(head, colon + 1, end - colon - 1).append(",");
            bool drop = list_has(connection, name) && name != "content-length";
            for (const char *h : response_hop_by_hop)
                drop |= name == h;
            if (keep_chunked && (name == "transfer-encoding" || name == "trailer"))
                drop = false;
            drop |= drop_request_id && name == "x-request-id"; // [apps/xps] ours is in last_lines
            if (pass == 1 && !drop)
                out.append(head, line, end + 2 - line);
            line = end + 2;
        }
    }
    return (out += last_lines) += "\r\n";
}

// [stage 16] See the header.
bool response_field(const std::string &head, size_t head_length, const char *name,
                    std::string *out) {
    size_t n = std::strlen(name);
    size_t line = head.find("\r\n") + 2;
    while (line + 2 < head_length) {
        size_t end = head.find("\r\n", line);
        if (end - line > n && head[line + n] == ':' &&
            strncasecmp(head.data() + line, name, n) == 0) {
            size_t a = line + n + 1, b = end;
            while (a < b && (head[a] == ' ' || head[a] == '\t'))
                a++;
            while (b > a && (head[b - 1] == ' ' || head[b - 1] == '\t'))
                b--;
            out->assign(head, a, b - a);
            return true;
        }
        line = end + 2;
    }
    return false;
}

// [stage 16] See the header. `head` is ours (client_head's), so every
// line ends in CRLF and the last is the blank one.
std::string coded_head(const std::string &head, const xps_gzip_choice_t &c) {
    size_t line = head.find("\r\n") + 2;
    std::string out(head, 0, line);
    while (line + 2 < head.size()) {
        size_t end = head.find("\r\n", line);
        size_t colon = head.find(':', line);
        std::string name = head.substr(line, colon - line);
        for (char &ch : name)
            ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        // compressing: no length, no ranges of these bytes, and no
        // "Content-Encoding: identity" beside ours (anything else was never
        // compressed)
        bool ours = c.compress && (name == "content-length" || name == "accept-ranges" ||
                                   name == "content-encoding");
        if (c.compress && name == "etag") {
            size_t a = colon + 1;
            while (a < end && (head[a] == ' ' || head[a] == '\t'))
                a++;
            char weak[512];
            if (xps_gzip_weaken_etag(head.data() + a, end - a, weak, sizeof weak))
                out.append("ETag: ").append(weak).append("\r\n");
            ours = true;
        }
        if (!ours)
            out.append(head, line, end + 2 - line);
        line = end + 2;
    }
    if (c.vary)
        out += "Vary: Accept-Encoding\r\n";
    if (c.compress)
        out += "Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n";
    return out += "\r\n";
}

// [stage 13] Whether the upstream lets its connection serve another
// request after this response (RFC 9112 §9.3): HTTP/1.1 unless its
// Connection lists "close"; HTTP/1.0 only if it lists "keep-alive".
bool upstream_keeps(const std::string &head, size_t head_length, int version) {
    std::string connection;
    size_t line = head.find("\r\n") + 2;
    while (line + 2 < head_length) {
        size_t end = head.find("\r\n", line), colon = head.find(':', line);
        if (colon - line == 10 && strncasecmp(head.data() + line, "connection", 10) == 0)
            connection.append(head, colon + 1, end - colon - 1).append(",");
        line = end + 2;
    }
    if (list_has(connection, "close"))
        return false;
    return version == 11 || list_has(connection, "keep-alive");
}

// [stage 13] The protocols of the client's Upgrade (RFC 9110 §7.8) that
// we ask the upstream for: all but h2c. xps speaks no HTTP/2, and an
// upstream that switched to it would send frames we would relay as if
// they were an HTTP/1.1 answer. "" when none is left (or the request asks
// for none: the parser ignores Upgrade in HTTP/1.0): no upgrade at all.
std::string upgrade_offer(const xps_http_head_t *h, const char *buf) {
    std::string offer;
    size_t at = h->upgrade_protocols.offset, end = at + h->upgrade_protocols.length;
    while (h->upgrade && at < end) {
        size_t a = at, b = at;
        while (b < end && buf[b] != ',')
            b++;
        at = b + 1;
        while (a < b && (buf[a] == ' ' || buf[a] == '\t'))
            a++;
        while (b > a && (buf[b - 1] == ' ' || buf[b - 1] == '\t'))
            b--;
        size_t name = a; // protocol = protocol-name ["/" protocol-version]
        while (name < b && buf[name] != '/')
            name++;
        if (a == b || xps_http_slice_iequals(buf, xps_http_slice_t{a, name - a}, "h2c"))
            continue;
        offer.append(offer.empty() ? "" : ", ").append(buf + a, b - a);
    }
    return offer;
}

// [stage 13] The head of an Upgrade request: the usual one-hop rewrite
// (Upgrade and Connection are hop-by-hop, so it drops them), then the one
// hop-by-hop request this upstream must see put back: instead of
// "Connection: close", "Connection: Upgrade" and the protocols we offer
// (RFC 9110 §7.8). NULL when out of memory.
xps_buffer_t *upgrade_head(const xps_http_head_t *h, const char *buf,
                           const xps_proxy_forward_t *fwd, const std::string &offer) {
    try {
        std::string last = "Connection: Upgrade\r\nUpgrade: " + offer + "\r\n";
        std::string out = forward_head(h, buf, fwd, last.c_str());
        return xps_buffer_copy_of(out.data(), out.size());
    } catch (const std::bad_alloc &) {
        return nullptr;
    }
}

} // namespace proxy_detail

// -------------------------------------------------------------- operations

xps_buffer_t *xps_proxy_forward_head(const xps_http_head_t *head, const char *buf,
                                     const xps_proxy_forward_t *fwd, int *error) noexcept {
    try {
        std::string out = forward_head(head, buf, fwd, "Connection: close\r\n");
        xps_buffer_t *b = xps_buffer_copy_of(out.data(), out.size());
        *error = b ? XPS_OK : XPS_E_NOMEM;
        return b;
    } catch (const std::bad_alloc &) {
        *error = XPS_E_NOMEM;
        return nullptr;
    }
}
