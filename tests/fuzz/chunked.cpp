// tests/fuzz/chunked.cpp — the body decoder (xps_http_parser_parse_body,
// http/xps_http_parser.h) armed by xps_http_parser_start_body, as the proxy
// arms it to follow an upstream's body and the session after a request
// head: chunked framing (RFC 9112 §7.1) mostly, Content-Length too.
//
// Input: byte 0 seeds where the body is split, byte 1 picks the framing
// and the limits (max_body, and max_head / max_headers for the trailers),
// the rest is the body. Properties:
//  - the same data, verdict (OK, AGAIN, INVAL), status and, on OK, bytes
//    consumed, whether the body comes whole or in pieces of any sizes;
//  - those are a reference decoder's, written here from RFC 9112 §7.1 and
//    the header's rules: chunk-size 1*16HEXDIG, the sizes summing to at
//    most max_body (else 413), extensions by their grammar with BWS only
//    before ";" and around "=", every framing line ending in CRLF, a size
//    line of at most XPS_HTTP_CHUNK_LINE_MAX bytes and the body's
//    extensions at most XPS_HTTP_CHUNK_EXT_MAX, trailers as field lines
//    within max_head bytes and max_headers lines (else 431);
//  - every data slice and every count lies inside the piece given (each
//    piece is a copy of exactly its bytes, so ASan sees a read past it).
#include "tests/fuzz/fuzz.h"

#include <cstring>
#include <string>
#include <vector>

#include "http/xps_http_parser.h"

namespace {

struct outcome {
    int rc;     // XPS_OK, XPS_E_AGAIN or XPS_E_INVAL
    int status; // after XPS_E_INVAL
    size_t consumed;
    std::string data;
};

struct limits {
    int body; // XPS_HTTP_BODY_CHUNKED or _LENGTH
    uint64_t length, max_body;
    size_t max_head, max_headers;
};

bool ows(unsigned char c) { return c == ' ' || c == '\t'; }
bool hex(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool tchar(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != 0 && std::strchr("!#$%&'*+-.^_`|~", c));
}
bool control(unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; }

// The reference: a recursive-descent reading of the whole body, which
// stops at the first byte that cannot be right (INVAL) or at the end of
// the input (AGAIN).
class reference {
  public:
    reference(const std::string &s, const limits &l) : s_(s), l_(l) {}

    outcome run() {
        if (l_.body == XPS_HTTP_BODY_LENGTH) {
            size_t n = s_.size() < l_.length ? s_.size() : static_cast<size_t>(l_.length);
            out_.data = s_.substr(0, n);
            out_.rc = n == l_.length ? XPS_OK : XPS_E_AGAIN;
            out_.consumed = n;
            return out_;
        }
        try {
            while (chunk()) {
            }
            out_.rc = XPS_OK;
            out_.consumed = i_;
        } catch (const stop &) {
        }
        return out_;
    }

  private:
    struct stop {};
    const std::string &s_;
    limits l_;
    outcome out_{XPS_E_AGAIN, XPS_HTTP_STATUS_NONE, 0, ""};
    size_t i_ = 0, counted_ = 0, line_ = 0, ext_ = 0, trailer_bytes_ = 0, trailer_lines_ = 0;
    unsigned __int128 total_ = 0;

    [[noreturn]] void fail(int status) {
        out_.rc = XPS_E_INVAL;
        out_.status = status;
        throw stop{};
    }
    // The next byte; the end of the input stops with AGAIN. A LF is only
    // ever valid where lf() takes it.
    unsigned char peek() {
        if (i_ == s_.size())
            throw stop{};
        auto c = static_cast<unsigned char>(s_[i_]);
        if (c == '\n')
            fail(400);
        return c;
    }
    void crlf() {
        if (peek() != '\r')
            fail(400);
        i_++;
        if (i_ == s_.size())
            throw stop{};
        if (s_[i_++] != '\n')
            fail(400);
    }
    // A byte of a size line after the size: within the line's and the
    // body's bounds, no control. (Each byte counted once, however often
    // it is looked at.)
    unsigned char ext_byte() {
        unsigned char c = peek();
        if (c == '\r' || i_ < counted_)
            return c;
        counted_ = i_ + 1;
        if (++line_ > XPS_HTTP_CHUNK_LINE_MAX || ++ext_ > XPS_HTTP_CHUNK_EXT_MAX || control(c))
            fail(400);
        return c;
    }
    bool skip_ows() { // true if there was some
        bool any = false;
        while (ows(ext_byte()))
            i_++, any = true;
        return any;
    }
    void token() {
        if (!tchar(ext_byte()))
            fail(400);
        while (tchar(ext_byte()))
            i_++;
    }
    void quoted() { // at the opening DQUOTE
        i_++;
        for (;;) {
            unsigned char c = ext_byte();
            if (c == '\r')
                fail(400);
            i_++;
            if (c == '"')
                return;
            if (c == '\\') {
                if (ext_byte() == '\r')
                    fail(400);
                i_++;
            }
        }
    }
    // *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] ), up to the CR.
    void extensions() {
        for (;;) {
            bool ws = skip_ows();
            unsigned char c = ext_byte();
            if (c == '\r') {
                if (ws)
                    fail(400); // whitespace at the end of the line
                return;
            }
            if (c != ';')
                fail(400);
            i_++;
            skip_ows();
            token();
            bool before_eq = skip_ows();
            if (ext_byte() != '=') {
                if (before_eq && ext_byte() != ';')
                    fail(400); // "a b", or "a \r"
                continue;
            }
            i_++;
            skip_ows();
            if (ext_byte() == '"')
                quoted();
            else
                token();
        }
    }
    void trailers() {
        for (;;) {
            unsigned char c = peek();
            if (++trailer_bytes_ > l_.max_head)
                fail(431);
            if (c == '\r') {
                crlf();
                return;
            }
            if (!tchar(c))
                fail(400);
            if (++trailer_lines_ > l_.max_headers)
                fail(431);
            for (i_++;; i_++) { // the name
                c = peek();
                if (++trailer_bytes_ > l_.max_head)
                    fail(431);
                if (c == ':')
                    break;
                if (!tchar(c))
                    fail(400);
            }
            for (i_++;; i_++) { // the value
                c = peek();
                if (++trailer_bytes_ > l_.max_head)
                    fail(431);
                if (c == '\r')
                    break;
                if (control(c))
                    fail(400);
            }
            crlf();
        }
    }
    // One chunk; false after the last one (and its trailers).
    bool chunk() {
        unsigned __int128 size = 0;
        unsigned digits = 0;
        line_ = 0;
        for (unsigned char c; hex(c = peek()); i_++) {
            unsigned v = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
            line_++;
            if (total_ + size * 16 + v > l_.max_body)
                fail(413);
            if (digits == 16)
                fail(400);
            size = size * 16 + v;
            digits++;
        }
        if (digits == 0)
            fail(400);
        extensions();
        crlf();
        total_ += size;
        if (size == 0) {
            trailers();
            return false;
        }
        size_t have = s_.size() - i_;
        size_t n = size < have ? static_cast<size_t>(size) : have;
        out_.data.append(s_, i_, n);
        i_ += n;
        if (n < size)
            throw stop{};
        crlf();
        return true;
    }
};

// The decoder, given body[0..len) in pieces that end where `cuts` says
// (each piece a copy of its bytes alone; unconsumed bytes passed again).
outcome decode(xps_http_parser_t *p, const limits &l, const std::string &body,
               const std::vector<size_t> &cuts) {
    xps_http_parser_start_body(p, l.body, l.length);
    outcome o{XPS_E_AGAIN, XPS_HTTP_STATUS_NONE, 0, ""};
    size_t at = 0; // bytes of body consumed
    for (size_t k = 0; k <= cuts.size(); k++) {
        size_t avail = k < cuts.size() ? cuts[k] : body.size();
        if (avail < at)
            continue;
        for (;;) {
            std::vector<char> piece(body.begin() + at, body.begin() + avail);
            size_t used = 0;
            xps_http_slice_t data{0, 0};
            int rc = xps_http_parser_parse_body(p, piece.data(), piece.size(), &used, &data);
            FUZZ_REQUIRE(used <= piece.size(), "consumed %zu of %zu", used, piece.size());
            at += used;
            if (rc == XPS_E_NEXT) {
                FUZZ_REQUIRE(data.offset <= piece.size() &&
                                 data.length <= piece.size() - data.offset &&
                                 data.offset + data.length <= used && data.length > 0,
                             "a data slice %zu+%zu outside the %zu bytes given (%zu consumed)",
                             data.offset, data.length, piece.size(), used);
                o.data.append(piece.data() + data.offset, data.length);
                continue;
            }
            FUZZ_REQUIRE(rc == XPS_OK || rc == XPS_E_AGAIN || rc == XPS_E_INVAL,
                         "parse_body returned %d", rc);
            if (rc == XPS_E_AGAIN)
                FUZZ_REQUIRE(used == piece.size(), "AGAIN with %zu of %zu bytes left",
                             piece.size() - used, piece.size());
            o.rc = rc;
            if (rc != XPS_E_AGAIN) {
                o.status = xps_http_parser_status(p);
                o.consumed = at;
                return o;
            }
            break;
        }
    }
    return o;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2)
        return 0;
    std::string body(reinterpret_cast<const char *>(data + 2), size - 2);
    limits l{XPS_HTTP_BODY_CHUNKED, 0, UINT64_MAX, 16384, 100};
    switch (data[1] % 5) {
    case 0: // the proxy's: no bound on an upstream's body
        break;
    case 1: // small bounds, so 413 and 431 come up
        l.max_body = data[1] / 5;
        l.max_head = 1 + data[1] % 64; // (a parser needs both at least 1)
        l.max_headers = 1 + data[1] % 3;
        break;
    case 2: // the session's defaults
        l.max_body = 1 << 20;
        break;
    case 3:
        l.max_body = 4096;
        l.max_head = 128;
        l.max_headers = 4;
        break;
    default: // Content-Length
        l.body = XPS_HTTP_BODY_LENGTH;
        l.length = data[1] / 5;
        break;
    }
    xps_http_limits_t pl = xps_http_default_limits();
    pl.max_body = l.max_body;
    pl.max_head = l.max_head;
    pl.max_headers = l.max_headers;
    xps_http_parser_t *p = xps_http_parser_create(&pl);
    FUZZ_REQUIRE(p, "no parser");

    outcome want = reference(body, l).run();
    // Whole; byte by byte; and in pieces whose ends a generator seeded by
    // byte 0 picks (small steps mostly, now and then a long one).
    std::vector<size_t> bytewise, seeded;
    for (size_t i = 1; i < body.size(); i++)
        bytewise.push_back(i);
    uint32_t x = data[0] * 2654435761u + 1;
    for (size_t at = 0; at < body.size();) {
        x = x * 1103515245u + 12345u;
        at += 1 + ((x >> 16) % 8 == 0 ? (x >> 8) % 512 : (x >> 8) % 7);
        seeded.push_back(at < body.size() ? at : body.size());
    }
    const char *names[] = {"whole", "byte by byte", "in seeded pieces"};
    std::vector<size_t> none;
    const std::vector<size_t> *ways[] = {&none, &bytewise, &seeded};
    for (int w = 0; w < 3; w++) {
        outcome got = decode(p, l, body, *ways[w]);
        FUZZ_REQUIRE(got.rc == want.rc && got.data == want.data &&
                         (got.rc != XPS_E_INVAL || got.status == want.status) &&
                         (got.rc != XPS_OK || got.consumed == want.consumed),
                     "%s: rc %d status %d, %zu data bytes, %zu consumed; the reference: rc %d "
                     "status %d, %zu data bytes, %zu consumed",
                     names[w], got.rc, got.status, got.data.size(), got.consumed, want.rc,
                     want.status, want.data.size(), want.consumed);
    }
    xps_http_parser_destroy(p);
    return 0;
}
