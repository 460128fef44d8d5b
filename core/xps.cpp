// core/xps.cpp — error codes as sentences, and errno mapped onto them.
#include "core/xps.h"

#include <cerrno>

const char *xps_strerror(int code) noexcept {
    switch (code) {
    case XPS_OK: return "success";
    case XPS_E_FAIL: return "failed (see the log)";
    case XPS_E_AGAIN: return "try again later";
    case XPS_E_NEXT: return "go on to the next item";
    case XPS_E_NOTFOUND: return "not found";
    case XPS_E_PERMISSION: return "permission denied";
    case XPS_E_EOF: return "end of stream";
    case XPS_E_NOMEM: return "out of memory";
    case XPS_E_INVAL: return "invalid argument";
    case XPS_E_ADDRINUSE: return "address already in use";
    case XPS_E_REFUSED: return "connection refused";
    case XPS_E_TIMEOUT: return "timed out";
    case XPS_E_CLOSED: return "the other end is closed";
    case XPS_E_LIMIT: return "resource limit reached";
    default: return "unknown error";
    }
}

int xps_error_from_errno(int e) noexcept {
    switch (e) {
    case 0: return XPS_OK;
    case EAGAIN: return XPS_E_AGAIN; // EWOULDBLOCK is the same value on Linux
    case EINPROGRESS: return XPS_E_AGAIN;
    case ENOENT: case ENOTDIR: return XPS_E_NOTFOUND;
    case EACCES: case EPERM: return XPS_E_PERMISSION;
    case ENOMEM: case ENOBUFS: return XPS_E_NOMEM;
    case EINVAL: return XPS_E_INVAL;
    case EADDRINUSE: return XPS_E_ADDRINUSE;
    case ECONNREFUSED: return XPS_E_REFUSED;
    case ETIMEDOUT: return XPS_E_TIMEOUT;
    case ECONNRESET: case EPIPE: case ENOTCONN: case ECONNABORTED: return XPS_E_CLOSED;
    case EMFILE: case ENFILE: return XPS_E_LIMIT;
    default: return XPS_E_FAIL;
    }
}
