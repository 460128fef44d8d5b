/*
 * tests/fuzz/fuzz.h — what every fuzz target here shares. Each target is
 * one file with LLVMFuzzerTestOneInput (libFuzzer's entry point) that
 * states a property and aborts, with a message, when the module breaks
 * it. Built two ways: with clang's -fsanitize=fuzzer by `make fuzz` (new
 * inputs searched for), and with replay.cpp's main by `make test` (every
 * committed input in tests/fuzz/corpus/<target>/ run again, crashes found
 * earlier included), so a fixed bug stays fixed.
 */
#ifndef XPS_TESTS_FUZZ_H
#define XPS_TESTS_FUZZ_H

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

// A broken property: says which and stops (libFuzzer keeps the input).
#define FUZZ_REQUIRE(cond, ...)                                                    \
    do {                                                                           \
        if (!(cond)) {                                                             \
            std::fprintf(stderr, "fuzz: property broken at %s:%d: ", __FILE__,     \
                         __LINE__);                                                \
            std::fprintf(stderr, __VA_ARGS__);                                     \
            std::fputc('\n', stderr);                                              \
            std::abort();                                                          \
        }                                                                          \
    } while (0)

#endif
