// tests/fuzz/http_fields.cpp — the field parsers that take a client's or
// an upstream's text: Range (xps_http_range_eval), If-None-Match lists,
// HTTP dates, the proxy's response-head scanner, and Cache-Control. The
// first byte picks the parser. Properties: never a crash, and what each
// promises: a satisfiable range lies inside the file; a scanned head's
// length is within the input and ends with the blank line.
#include "tests/fuzz/fuzz.h"

#include <cstring>
#include <string>

#include "http/xps_http_semantics.h"
#include "modules/cache/xps_cache_policy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    const char *text = reinterpret_cast<const char *>(data + 1);
    size_t len = size - 1;
    std::string z(text, len); // a NUL-terminated copy for the C-string parsers
    switch (data[0] % 5) {
    case 0: {
        uint64_t file_size = len * 7 + 3, first = 0, last = 0;
        xps_http_range_result_t r = xps_http_range_eval(text, len, file_size, &first, &last);
        if (r == XPS_HTTP_RANGE_OK)
            FUZZ_REQUIRE(first <= last && last < file_size, "range %llu-%llu of %llu",
                         (unsigned long long)first, (unsigned long long)last,
                         (unsigned long long)file_size);
        break;
    }
    case 1:
        xps_http_etag_list_matches(text, len, "W/\"1a-5f\"");
        break;
    case 2: {
        int64_t t = 0;
        xps_http_date_parse(text, len, &t);
        break;
    }
    case 3: {
        xps_http_response_head_t h;
        if (xps_http_response_head_scan(text, len, &h) == XPS_OK)
            FUZZ_REQUIRE(h.head_length >= 4 && h.head_length <= len &&
                             std::memcmp(text + h.head_length - 4, "\r\n\r\n", 4) == 0,
                         "head_length %zu of %zu", h.head_length, len);
        break;
    }
    default: {
        xps_cache_control_t cc;
        xps_cache_control_parse(z.c_str(), len, &cc);
        FUZZ_REQUIRE(cc.max_age >= XPS_CACHE_UNSET && cc.s_maxage >= XPS_CACHE_UNSET,
                     "a negative age");
        break;
    }
    }
    return 0;
}
