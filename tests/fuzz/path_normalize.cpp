// tests/fuzz/path_normalize.cpp — xps_http_path_normalize on any bytes.
// Properties: a result is absolute, has no "." or ".." segment and no
// "//", fits what was promised (cap >= len + 2 always suffices), and
// normalising it again gives it back (idempotent) — unless it contains
// a '%' (a decoded "%25" is a literal percent, not an escape, so a second
// pass may differ: that is decoding twice, which the server never does).
#include "tests/fuzz/fuzz.h"

#include <cstring>
#include <string>

#include "http/xps_http_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *raw = reinterpret_cast<const char *>(data);
    std::string out(size + 2, '\0');
    size_t out_len = 0;
    int rc = xps_http_path_normalize(raw, size, out.data(), out.size(), &out_len);
    FUZZ_REQUIRE(rc == XPS_OK || rc == XPS_E_PERMISSION || rc == XPS_E_INVAL,
                 "rc %d with cap = len + 2", rc);
    if (rc != XPS_OK)
        return 0;
    out.resize(out_len);
    FUZZ_REQUIRE(!out.empty() && out[0] == '/', "not absolute");
    FUZZ_REQUIRE(out.find("//") == std::string::npos, "a \"//\" left");
    std::string padded = out + "/";
    FUZZ_REQUIRE(padded.find("/./") == std::string::npos &&
                     padded.find("/../") == std::string::npos,
                 "a dot segment left in %s", out.c_str());
    FUZZ_REQUIRE(std::memchr(out.data(), '\0', out.size()) == nullptr, "a NUL in the result");
    if (out.find('%') == std::string::npos) {
        std::string again(out.size() + 2, '\0');
        size_t again_len = 0;
        FUZZ_REQUIRE(xps_http_path_normalize(out.data(), out.size(), again.data(), again.size(),
                                             &again_len) == XPS_OK,
                     "the result %s is refused the second time", out.c_str());
        again.resize(again_len);
        FUZZ_REQUIRE(again == out, "not idempotent: %s then %s", out.c_str(), again.c_str());
    }
    return 0;
}
