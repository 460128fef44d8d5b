// tests/fuzz/http_range.cpp — the validators a partial GET depends on
// (http/xps_http_semantics.h): Range (xps_http_range_eval), If-Range
// (xps_http_if_range_holds) and If-None-Match (xps_http_etag_list_matches),
// each against a reference reading written here from RFC 9110 and the
// header's contract, on the text that follows the first 9 bytes.
//
// The first byte picks the parser; bytes 1..8 give the file's size, its
// mtime and "now" (so size 0 and 1, and huge sizes, come up).
//  - Range: a satisfiable range lies inside the file (first <= last <
//    size) and is the bytes the RFC names for that one range-spec; a value
//    the reference reads as several ranges, another unit or nonsense is
//    IGNOREd (xps serves one range or none, so nothing can overlap), and
//    UNSATISFIABLE exactly when no byte of a valid single range exists.
//    Numbers past 10^18 (past any file) may be ignored instead.
//  - If-Range: an entity-tag holds only on a strong, byte-equal match; the
//    HTTP-date of the mtime holds iff that second is over; a weak tag,
//    xps's own ETag included, never holds.
//  - If-None-Match: for a list that follows the grammar ("*" or
//    1#entity-tag), the verdict is the weak comparison's with each element.
#include "tests/fuzz/fuzz.h"

#include <cstring>
#include <ctime>
#include <string>

#include "http/xps_http_semantics.h"

namespace {

bool ows(char c) { return c == ' ' || c == '\t'; }

// --------------------------------------------------------------- Range

struct range_ref {
    bool decided; // false: a number past 10^18, either verdict allowed
    xps_http_range_result_t verdict;
    uint64_t first, last;
};

// Digits at s[*i..): their value, or huge when there are more than 18
// significant ones. false when there are none.
bool ref_number(const std::string &s, size_t *i, uint64_t *v, bool *huge) {
    size_t start = *i, significant = 0;
    *v = 0;
    for (; *i < s.size() && s[*i] >= '0' && s[*i] <= '9'; ++*i) {
        if (significant > 0 || s[*i] != '0')
            significant++;
        if (significant <= 18)
            *v = *v * 10 + static_cast<uint64_t>(s[*i] - '0');
    }
    *huge = significant > 18;
    return *i > start;
}

// RFC 9110 §14.1.2 for the single range-spec xps serves:
// "bytes=" OWS ( first "-" [last] / "-" suffix ) OWS, nothing else.
range_ref range_reference(const std::string &s, uint64_t size) {
    range_ref r{true, XPS_HTTP_RANGE_IGNORE, 0, 0};
    if (s.compare(0, 6, "bytes=") != 0)
        return r;
    size_t i = 6;
    while (i < s.size() && ows(s[i]))
        i++;
    uint64_t a = 0, b = 0;
    bool huge_a = false, huge_b = false;
    bool has_a = ref_number(s, &i, &a, &huge_a);
    if (i >= s.size() || s[i] != '-')
        return r;
    i++;
    bool has_b = ref_number(s, &i, &b, &huge_b);
    while (i < s.size() && ows(s[i]))
        i++;
    if (i != s.size() || (!has_a && !has_b))
        return r; // several ranges, garbage, or "-" alone
    if (huge_a || huge_b) {
        r.decided = false;
        return r;
    }
    if (!has_a) { // the last b bytes; a suffix longer than the file is all of it
        if (b == 0 || size == 0)
            r.verdict = XPS_HTTP_RANGE_UNSATISFIABLE;
        else
            r = {true, XPS_HTTP_RANGE_OK, b >= size ? 0 : size - b, size - 1};
        return r;
    }
    if (has_b && b < a)
        return r; // invalid: ignored
    if (a >= size)
        r.verdict = XPS_HTTP_RANGE_UNSATISFIABLE;
    else
        r = {true, XPS_HTTP_RANGE_OK, a, has_b && b < size ? b : size - 1};
    return r;
}

void check_range(const std::string &text, uint64_t size) {
    uint64_t first = 7, last = 7;
    xps_http_range_result_t got = xps_http_range_eval(text.data(), text.size(), size, &first, &last);
    if (got == XPS_HTTP_RANGE_OK)
        FUZZ_REQUIRE(first <= last && last < size, "range %llu-%llu outside a file of %llu",
                     (unsigned long long)first, (unsigned long long)last,
                     (unsigned long long)size);
    range_ref want = range_reference(text, size);
    if (!want.decided) {
        FUZZ_REQUIRE(got != XPS_HTTP_RANGE_UNSATISFIABLE || size <= 1000000000000000000ULL,
                     "a huge number made a range unsatisfiable");
        return;
    }
    FUZZ_REQUIRE(got == want.verdict, "Range \"%s\" of %llu: verdict %d, the reference's %d",
                 text.c_str(), (unsigned long long)size, got, want.verdict);
    if (got == XPS_HTTP_RANGE_OK)
        FUZZ_REQUIRE(first == want.first && last == want.last,
                     "Range \"%s\" of %llu: %llu-%llu, the reference's %llu-%llu", text.c_str(),
                     (unsigned long long)size, (unsigned long long)first,
                     (unsigned long long)last, (unsigned long long)want.first,
                     (unsigned long long)want.last);
}

// ------------------------------------------------------- entity-tags

// entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE, etagc = %x21 / %x23-7E /
// obs-text (RFC 9110 §8.8.3). At s[*i..): advances past it, or false.
bool ref_entity_tag(const std::string &s, size_t *i, std::string *opaque) {
    size_t j = *i;
    if (s.compare(j, 2, "W/") == 0)
        j += 2;
    if (j >= s.size() || s[j] != '"')
        return false;
    size_t open = j++;
    for (; j < s.size() && s[j] != '"'; j++) {
        auto c = static_cast<unsigned char>(s[j]);
        if (c < 0x21 || c == 0x7f)
            return false;
    }
    if (j >= s.size())
        return false;
    *opaque = s.substr(open, j + 1 - open); // the quoted part, W/ left off
    *i = j + 1;
    return true;
}

// If-None-Match's list read by the grammar: "*", or elements separated by
// commas with OWS around them (empty elements allowed, RFC 9110 §5.6.1).
// false when the value is not such a list; else *matches.
bool ref_list_matches(const std::string &s, const std::string &etag, bool *matches) {
    std::string own = etag.compare(0, 2, "W/") == 0 ? etag.substr(2) : etag;
    size_t i = 0;
    while (i < s.size() && ows(s[i]))
        i++;
    if (s.compare(i, 1, "*") == 0) {
        for (i++; i < s.size() && ows(s[i]);)
            i++;
        *matches = true;
        return i == s.size();
    }
    *matches = false;
    bool any = false;
    while (i < s.size()) {
        if (s[i] == ',' || ows(s[i])) {
            i++;
            continue;
        }
        std::string opaque;
        if (!ref_entity_tag(s, &i, &opaque))
            return false;
        while (i < s.size() && ows(s[i]))
            i++;
        if (i < s.size() && s[i] != ',')
            return false; // another byte after the tag, not a comma
        any = true;
        *matches = *matches || opaque == own;
    }
    return any;
}

void check_if_none_match(const std::string &text, const std::string &etag) {
    bool got = xps_http_etag_list_matches(text.data(), text.size(), etag.c_str());
    bool want = false;
    if (ref_list_matches(text, etag, &want))
        FUZZ_REQUIRE(got == want, "If-None-Match \"%s\" against %s: %d, the reference's %d",
                     text.c_str(), etag.c_str(), got, want);
}

// --------------------------------------------------------- If-Range

std::string http_date(int64_t t) {
    time_t tt = static_cast<time_t>(t);
    struct tm tm;
    char out[64] = "";
    if (gmtime_r(&tt, &tm))
        std::strftime(out, sizeof out, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return out;
}

void check_if_range(const std::string &text, const std::string &strong, int64_t mtime,
                    int64_t now) {
    char weak[XPS_HTTP_ETAG_MAX];
    xps_http_etag_make(static_cast<uint64_t>(mtime) * 31, mtime, weak);
    // A weak validator never holds: xps's own ETag, sent back as it was.
    FUZZ_REQUIRE(!xps_http_if_range_holds(weak, std::strlen(weak), weak, mtime, now),
                 "If-Range held with the weak %s", weak);
    // An entity-tag: a strong, byte-equal match only.
    bool got = xps_http_if_range_holds(text.data(), text.size(), strong.c_str(), mtime, now);
    if (!text.empty() && text[0] == '"')
        // (strong is passed as a C string: up to its first NUL)
        FUZZ_REQUIRE(got == (text == strong.c_str()), "If-Range %s against %s: %d", text.c_str(),
                     strong.c_str(), got);
    else if (text.compare(0, 2, "W/") == 0)
        FUZZ_REQUIRE(!got, "If-Range held with a weak tag %s", text.c_str());
    else if (got) { // a date: it must name the mtime, and that second must be over
        int64_t date = 0;
        FUZZ_REQUIRE(xps_http_date_parse(text.data(), text.size(), &date) && date == mtime &&
                         mtime < now,
                     "If-Range held with \"%s\" (mtime %lld, now %lld)", text.c_str(),
                     (long long)mtime, (long long)now);
    }
    // The mtime's own HTTP-date: holds exactly when the second is over.
    std::string own = http_date(mtime);
    if (!own.empty() && mtime >= 0 && own.size() == 29) {
        bool holds = xps_http_if_range_holds(own.data(), own.size(), nullptr, mtime, now);
        FUZZ_REQUIRE(holds == (mtime < now), "If-Range \"%s\" (mtime %lld, now %lld): %d",
                     own.c_str(), (long long)mtime, (long long)now, holds);
    }
}

uint64_t read_u32(const uint8_t *p) {
    return uint64_t(p[0]) | uint64_t(p[1]) << 8 | uint64_t(p[2]) << 16 | uint64_t(p[3]) << 24;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 9)
        return 0;
    uint64_t a = read_u32(data + 1), b = read_u32(data + 5);
    std::string text(reinterpret_cast<const char *>(data + 9), size - 9);
    switch (data[0] % 3) {
    case 0: {
        // Small files most of the time (where ranges touch the ends), some
        // huge ones (where numbers near 2^63 matter).
        uint64_t file_size = data[0] & 0x80 ? a << 31 | b : a % 300;
        check_range(text, file_size);
        break;
    }
    case 1: {
        // The tag compared with: the input's first token when it is one, so
        // equal tags come up; else a fixed one.
        std::string etag = "W/\"1a-5f\"";
        size_t i = 0;
        std::string opaque;
        if (ref_entity_tag(text, &i, &opaque))
            etag = text.substr(0, i);
        check_if_none_match(text, etag);
        check_if_none_match(text, "\"xyzzy\"");
        break;
    }
    default: {
        int64_t mtime = static_cast<int64_t>(a % 4102444800ULL); // up to 2100
        int64_t now = mtime + static_cast<int64_t>(b % 5) - 2;
        std::string strong = "\"" + std::to_string(a) + "\"";
        check_if_range(text, text.size() > 1 && text[0] == '"' ? text : strong, mtime, now);
        check_if_range(text, strong, mtime, now);
        break;
    }
    }
    return 0;
}
