// core/xps_args.cpp — see xps_args.h.
#include "core/xps_args.h"

#include <cstring>

#include "core/xps_logger.h"

int xps_args_without_course_config(int argc, char *const *argv) noexcept {
    if (argc < 2)
        return argc;
    const char *last = argv[argc - 1];
    size_t len = std::strlen(last);
    bool config = last[0] != '-' && len > 5 && std::strcmp(last + len - 5, ".json") == 0;
    return config ? argc - 1 : argc;
}

void xps_args_note_course_config(int args, int argc, char *const *argv, const char *who) noexcept {
    if (args < argc)
        XPS_LOG(XPS_LOG_INFO, who, "%s: not read (%s has no configuration)", argv[argc - 1], who);
}
