// tests/fuzz/replay.cpp — a main for the fuzz targets without libFuzzer:
// runs LLVMFuzzerTestOneInput once on each file named (folders: each file
// in them), so `make test` replays the committed corpus and the crashes
// found earlier with the ordinary compiler and, under SAN=1, sanitizers.
#include "tests/fuzz/fuzz.h"

#include <dirent.h>
#include <sys/stat.h>

#include <string>
#include <vector>

namespace {

bool run_file(const std::string &path) {
    FILE *f = std::fopen(path.c_str(), "rb");
    if (!f) {
        std::perror(path.c_str());
        return false;
    }
    std::vector<uint8_t> bytes;
    uint8_t buf[65536];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;)
        bytes.insert(bytes.end(), buf, buf + n);
    std::fclose(f);
    LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
    return true;
}

} // namespace

int main(int argc, char **argv) {
    size_t runs = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            std::perror(argv[i]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            runs += run_file(argv[i]);
            continue;
        }
        DIR *d = opendir(argv[i]);
        while (dirent *e = d ? readdir(d) : nullptr)
            if (e->d_name[0] != '.')
                runs += run_file(std::string(argv[i]) + "/" + e->d_name);
        if (d)
            closedir(d);
    }
    // In CMocka's words, so tests/run counts these as it counts the rest
    // (a broken property has aborted before this line).
    std::printf("replay: %zu input(s), every property held\n", runs);
    std::printf("[==========] %zu test(s) run.\n[  PASSED  ] %zu test(s).\n", runs, runs);
    return 0;
}
