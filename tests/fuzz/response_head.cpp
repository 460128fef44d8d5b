// tests/fuzz/response_head.cpp — the proxy's response-head scanner
// (xps_http_response_head_scan, http/xps_http_semantics.h): what reads an
// upstream's status line and fields to learn where its head ends and how
// its body is framed (RFC 9112 §6.3), before the proxy relays or caches it.
//
// Properties, on any bytes:
//  - the verdict (OK, AGAIN, INVAL), head length, version, status and
//    framing are a reference reading's, written here from the RFCs: the
//    head ends at the first CRLF CRLF; "HTTP/1.0" or "HTTP/1.1", SP, three
//    digits (>= 100), then SP or the line's end; every field line "name:
//    value" with a name without SP or HTAB; no CR without its LF, no bare
//    LF and no NUL anywhere (RFC 9110 §5.5: a field value holding CR, LF or
//    NUL is refused, else a client reading the relayed head could see a
//    field the proxy did not); framing by RFC 9112 §6.3's rules, with
//    Content-Length values (on one line or several) all equal;
//  - a complete head is its own bytes: every prefix shorter than it is
//    AGAIN, and bytes after it change nothing;
//  - nothing is read outside buf[0..len) (each scan gets a copy of exactly
//    len bytes, so ASan sees a byte past the end).
#include "tests/fuzz/fuzz.h"

#include <string>
#include <vector>

#include "http/xps_http_semantics.h"

namespace {

struct reading {
    int rc; // XPS_OK, XPS_E_AGAIN or XPS_E_INVAL
    size_t head_length;
    int version, status, framing;
    bool framing_decided; // false: a Content-Length past 10^19, LENGTH or INVALID
    uint64_t content_length;
};

bool ows(char c) { return c == ' ' || c == '\t'; }

std::string lower(std::string s) {
    for (char &c : s)
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
    return s;
}

std::string trim(const std::string &s) {
    size_t a = 0, b = s.size();
    while (a < b && ows(s[a]))
        a++;
    while (b > a && ows(s[b - 1]))
        b--;
    return s.substr(a, b - a);
}

std::vector<std::string> split(const std::string &s, char sep) {
    std::vector<std::string> out;
    size_t start = 0;
    for (size_t i = 0; i <= s.size(); i++)
        if (i == s.size() || s[i] == sep) {
            out.push_back(s.substr(start, i - start));
            start = i + 1;
        }
    return out;
}

reading reference(const std::string &buf) {
    reading r{XPS_E_INVAL, 0, 0, 0, 0, true, 0};
    if (buf.compare(0, std::min<size_t>(buf.size(), 5), "HTTP/", 0,
                    std::min<size_t>(buf.size(), 5)) != 0)
        return r;
    // Every byte up to the head's end (or the input's): no bare CR, bare LF or NUL.
    size_t end = buf.find("\r\n\r\n");
    size_t scanned = end == std::string::npos ? buf.size() : end + 4;
    for (size_t i = 0; i < scanned; i++) {
        char c = buf[i];
        if (c == '\0' || (c == '\n' && (i == 0 || buf[i - 1] != '\r')) ||
            (c == '\r' && i + 1 < buf.size() && buf[i + 1] != '\n'))
            return r;
    }
    // The complete lines, each checked (an incomplete last one waits).
    std::vector<std::string> lines = split(buf.substr(0, scanned), '\n');
    lines.pop_back(); // after the last LF: not a line yet
    for (std::string &l : lines)
        l.pop_back(); // its CR
    if (lines.empty()) {
        r.rc = XPS_E_AGAIN;
        return r;
    }
    const std::string &sl = lines[0];
    if (sl.size() < 12 || sl.compare(0, 7, "HTTP/1.") != 0 || (sl[7] != '0' && sl[7] != '1') ||
        sl[8] != ' ' || (sl.size() > 12 && sl[12] != ' '))
        return r;
    for (size_t i = 9; i < 12; i++)
        if (sl[i] < '0' || sl[i] > '9')
            return r;
    r.version = sl[7] == '1' ? 11 : 10;
    r.status = std::stoi(sl.substr(9, 3));
    if (r.status < 100)
        return r;
    std::vector<std::string> lengths;
    std::string last_te;
    bool has_cl = false, has_te = false;
    for (size_t k = 1; k < lines.size() && !lines[k].empty(); k++) {
        size_t colon = lines[k].find(':');
        if (colon == 0 || colon == std::string::npos ||
            lines[k].find_first_of(" \t") < colon)
            return r;
        std::string name = lower(lines[k].substr(0, colon)), value = lines[k].substr(colon + 1);
        if (name == "content-length") {
            has_cl = true;
            bool any = false; // a line of empty elements alone is no length: invalid
            for (const std::string &e : split(value, ','))
                if (!trim(e).empty())
                    lengths.push_back(trim(e)), any = true;
            if (!any)
                lengths.push_back("none");
        } else if (name == "transfer-encoding") {
            has_te = true;
            last_te = value;
        }
    }
    if (end == std::string::npos) {
        r.rc = XPS_E_AGAIN;
        return r;
    }
    r.rc = XPS_OK;
    r.head_length = end + 4;
    if ((r.status >= 100 && r.status < 200) || r.status == 204 || r.status == 304)
        r.framing = XPS_HTTP_FRAMING_NONE;
    else if (has_te && has_cl)
        r.framing = XPS_HTTP_FRAMING_INVALID;
    else if (has_te) { // the last token of the last line, tokens apart by commas or OWS
        for (char &c : last_te)
            if (c == ',' || c == '\t')
                c = ' ';
        std::string t = trim(last_te);
        t = t.substr(t.find_last_of(' ') == std::string::npos ? 0 : t.find_last_of(' ') + 1);
        r.framing = lower(t) == "chunked" ? XPS_HTTP_FRAMING_CHUNKED : XPS_HTTP_FRAMING_CLOSE;
    } else if (has_cl) {
        // Empty list elements are skipped (RFC 9110 §5.6.1), but each line
        // has one at least; they are 1*DIGIT, all equal.
        r.framing = XPS_HTTP_FRAMING_INVALID;
        bool any = false, equal = true, digits = true;
        std::string seen;
        for (const std::string &e : lengths) {
            if (e.empty())
                continue;
            digits = digits && e.find_first_not_of("0123456789") == std::string::npos;
            std::string v = e.substr(std::min(e.find_first_not_of('0'), e.size() - 1));
            equal = equal && (!any || v == seen);
            seen = v, any = true;
        }
        if (any && digits && equal) {
            if (seen.size() >= 20) {
                r.framing_decided = false;
            } else {
                r.framing = XPS_HTTP_FRAMING_LENGTH;
                r.content_length = std::stoull(seen);
            }
        }
    } else {
        r.framing = XPS_HTTP_FRAMING_CLOSE;
    }
    return r;
}

int scan(const uint8_t *data, size_t len, xps_http_response_head_t *h) {
    static char none[1];
    std::vector<char> copy(data, data + len); // exactly len bytes: ASan sees a read past them
    return xps_http_response_head_scan(len ? copy.data() : none, len, h);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    xps_http_response_head_t h;
    int rc = scan(data, size, &h);
    reading want = reference(std::string(reinterpret_cast<const char *>(data), size));
    FUZZ_REQUIRE(rc == want.rc, "scan says %d, the reference %d (%zu bytes)", rc, want.rc, size);
    if (rc != XPS_OK)
        return 0;
    FUZZ_REQUIRE(h.head_length == want.head_length && h.version == want.version &&
                     h.status == want.status,
                 "head %zu HTTP %d status %d; the reference: head %zu HTTP %d status %d",
                 h.head_length, h.version, h.status, want.head_length, want.version,
                 want.status);
    if (want.framing_decided)
        FUZZ_REQUIRE(h.framing == want.framing &&
                         (h.framing != XPS_HTTP_FRAMING_LENGTH ||
                          h.content_length == want.content_length),
                     "framing %d (length %llu); the reference: %d (length %llu)", h.framing,
                     (unsigned long long)h.content_length, want.framing,
                     (unsigned long long)want.content_length);
    else
        FUZZ_REQUIRE(h.framing == XPS_HTTP_FRAMING_LENGTH || h.framing == XPS_HTTP_FRAMING_INVALID,
                     "a huge Content-Length framed as %d", h.framing);
    // Prefixes: a few, the one a byte short of the head among them.
    size_t cuts[] = {h.head_length - 1, h.head_length / 2, h.head_length - 2, data[0] % h.head_length};
    for (size_t cut : cuts) {
        xps_http_response_head_t p;
        FUZZ_REQUIRE(scan(data, cut, &p) == XPS_E_AGAIN, "a prefix of %zu of a %zu-byte head not AGAIN",
                     cut, h.head_length);
    }
    if (size > h.head_length) { // the head alone: the same answer
        xps_http_response_head_t alone;
        FUZZ_REQUIRE(scan(data, h.head_length, &alone) == XPS_OK &&
                         alone.head_length == h.head_length && alone.status == h.status &&
                         alone.version == h.version && alone.framing == h.framing &&
                         alone.content_length == h.content_length &&
                         alone.has_content_length == h.has_content_length &&
                         alone.has_transfer_encoding == h.has_transfer_encoding,
                     "the head alone scans differently from the head and %zu more bytes",
                     size - h.head_length);
    }
    return 0;
}
