// tests/fuzz/config.cpp — the config loader (modules/config) on any text,
// from memory. Properties: never a crash; a refusal always says why, with
// the file's name first (the location); a config that loads has at least
// one server block and one listener.
#include "tests/fuzz/fuzz.h"

#include <cstring>
#include <string>

#include "modules/config/xps_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::string text(reinterpret_cast<const char *>(data), size); // NUL-terminated copy
    char err[XPS_CONFIG_ERR_MAX] = "";
    xps_config_t *c = xps_config_parse(text.c_str(), "fuzz.json", "/nonexistent", err, sizeof err);
    if (!c) {
        FUZZ_REQUIRE(std::strncmp(err, "fuzz.json", 9) == 0 && std::strlen(err) > 11,
                     "a refusal without its location: \"%s\"", err);
        return 0;
    }
    FUZZ_REQUIRE(xps_config_server_count(c) >= 1 && xps_config_listener_count(c) >= 1,
                 "a config without servers or listeners loaded");
    xps_config_destroy(c);
    return 0;
}
