// stages/stage-01-tcp-server/main.cpp — Stage 01: a TCP server for one client.
//
// The whole life of a listening socket in one file:
//
//     socket() -> setsockopt() -> bind() -> listen() -> accept() -> recv()/send() -> close()
//
// Every chunk the client sends comes back reversed, a final '\n' kept in place
// ("abcd\n" -> "dcba\n", "abc" -> "cba"). The server calls accept() exactly
// once: when its client leaves, the process exits with status 1. That is the
// deliberate limitation stage 03 removes with epoll.
//
// Usage: stage-01 [--port N] [CONFIG.json]   (default port 8080, bound on 0.0.0.0;
// a last argument ending in .json is the course tester's config: not read)

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

constexpr int default_port = 8080;

// listen()'s backlog: how many connections whose handshake the kernel has
// completed may wait for accept(). This server accepts once, so the queue only
// ever holds clients that will never be served; 5 is the classic small value
// and small enough to watch it fill up (see the chapter's experiments).
constexpr int accept_backlog = 5;

// Bytes asked for per recv(). A chunk is whatever one recv() returns, so a
// line longer than this comes back reversed in pieces (TCP has no messages).
constexpr size_t chunk_capacity = 4096;

// Owns one file descriptor and closes it when it goes out of scope, so no
// early return can leak a socket.
struct fd_guard {
    int fd = -1; // the descriptor owned, or -1 for none

    explicit fd_guard(int owned) : fd(owned) {}
    ~fd_guard() {
        if (fd >= 0) close(fd);
    }
    fd_guard(const fd_guard &) = delete;
    fd_guard &operator=(const fd_guard &) = delete;

    // Gives the descriptor to the caller; the guard no longer closes it.
    int release() {
        int owned = fd;
        fd = -1;
        return owned;
    }
};

void print_usage(FILE *out) {
    std::fprintf(out,
                 "usage: stage-01 [--port N] [CONFIG.json]\n"
                 "  Listens on 0.0.0.0:N (default 8080) and serves ONE client: every chunk\n"
                 "  it sends comes back reversed, a trailing newline kept in place.\n"
                 "  When that client leaves, the server exits with status 1.\n"
                 "  --port N      listen on port N (1-65535)\n"
                 "  CONFIG.json   accepted as the last argument and not read: the course's\n"
                 "                tester starts every stage as ./<binary> <its xps_config.json>;\n"
                 "                stage 01 has no configuration (files come in stage 12)\n"
                 "  --help        print this help\n");
}

// The course's tester starts every stage binary as ./<binary> <path of its
// xps_config.json>: a last argument ending in ".json" (and not a flag).
bool is_course_config(const char *arg) {
    size_t len = std::strlen(arg);
    return arg[0] != '-' && len > 5 && std::strcmp(arg + len - 5, ".json") == 0;
}

// Reads the command line into *port. Returns -1 to go on, or the status to
// exit with: 0 after --help, 2 after an unknown flag or a bad value.
int parse_args(int argc, char **argv, int *port) {
    if (argc > 1 && is_course_config(argv[argc - 1]))
        std::fprintf(stderr, "[INFO] %s: not read (stage 01 has no configuration)\n",
                     argv[--argc]);
    for (int i = 1; i < argc; i++) {
        if (std::strcmp(argv[i], "--help") == 0) {
            print_usage(stdout);
            return 0;
        }
        if (std::strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            char *end = nullptr;
            long value = std::strtol(argv[++i], &end, 10);
            if (*argv[i] != '\0' && *end == '\0' && value >= 1 && value <= 65535) {
                *port = static_cast<int>(value);
                continue;
            }
            std::fprintf(stderr, "[ERROR] bad port \"%s\" (want 1-65535)\n", argv[i]);
        } else {
            std::fprintf(stderr, "[ERROR] unknown or incomplete argument \"%s\"\n", argv[i]);
        }
        print_usage(stderr);
        return 2;
    }
    return -1;
}

// "127.0.0.1:54321" for an IPv4 socket address, for the logs.
std::string endpoint_text(const sockaddr_in &addr) {
    char ip[INET_ADDRSTRLEN] = "?";
    inet_ntop(AF_INET, &addr.sin_addr, ip, sizeof ip);
    return std::string(ip) + ":" + std::to_string(ntohs(addr.sin_port));
}

// Creates the listening socket on 0.0.0.0:port. Returns it, or -1 after
// logging which step failed.
int create_listener(int port) {
    // An IPv4 (AF_INET) TCP (SOCK_STREAM) socket: just a descriptor so far,
    // with no address and no connection.
    fd_guard sock(socket(AF_INET, SOCK_STREAM, 0));
    if (sock.fd < 0) {
        std::fprintf(stderr, "[ERROR] socket: %s\n", std::strerror(errno));
        return -1;
    }
    // SO_REUSEADDR: connections of a previous run may still hold port `port`
    // in TIME_WAIT (or FIN_WAIT2) for up to a minute after it exited. Without
    // this option bind() would fail with EADDRINUSE until they expire; with
    // it, a restarted server can bind at once. (It never lets two live
    // listeners share the port.)
    int one = 1;
    if (setsockopt(sock.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) {
        std::fprintf(stderr, "[ERROR] setsockopt(SO_REUSEADDR): %s\n", std::strerror(errno));
        return -1;
    }
    // bind(): give the socket its local address. INADDR_ANY (0.0.0.0) means
    // "every interface of this machine"; both numbers in network byte order.
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (bind(sock.fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) < 0) {
        std::fprintf(stderr, "[ERROR] cannot bind 0.0.0.0:%d: %s\n", port, std::strerror(errno));
        return -1;
    }
    // listen(): from now on the kernel answers SYNs on this port and queues
    // finished handshakes (up to the backlog) until we accept() them.
    if (listen(sock.fd, accept_backlog) < 0) {
        std::fprintf(stderr, "[ERROR] listen: %s\n", std::strerror(errno));
        return -1;
    }
    return sock.release();
}

// Takes the first connection from the listener's queue (blocking until a
// client arrives). Returns the new connected socket, or -1.
int accept_client(int listen_fd, sockaddr_in *peer) {
    socklen_t peer_len = sizeof *peer;
    int fd = accept(listen_fd, reinterpret_cast<sockaddr *>(peer), &peer_len);
    if (fd < 0) {
        std::fprintf(stderr, "[ERROR] accept: %s\n", std::strerror(errno));
        return -1;
    }
    std::fprintf(stderr, "[INFO] client connected from %s\n", endpoint_text(*peer).c_str());
    return fd;
}

// Reverses chunk[0..len) in place. A final '\n' stays at the end, so a line
// typed into nc comes back as a line: "abcd\n" -> "dcba\n", "abc" -> "cba".
void reverse_chunk(char *chunk, size_t len) {
    if (len > 0 && chunk[len - 1] == '\n') len--;
    std::reverse(chunk, chunk + len);
}

// Sends all len bytes. send() may accept fewer bytes than asked (the socket's
// send buffer had less room, or a signal interrupted it), so keep sending the
// rest until none is left. MSG_NOSIGNAL: a peer that has gone away makes
// send() fail with EPIPE instead of killing this process with SIGPIPE.
bool send_all(int fd, const char *data, size_t len) {
    while (len > 0) {
        ssize_t sent = send(fd, data, len, MSG_NOSIGNAL);
        if (sent < 0 && errno == EINTR) continue;
        if (sent < 0) return false;
        data += sent;
        len -= static_cast<size_t>(sent);
    }
    return true;
}

// Printable copy of the first bytes of a chunk for the log: "cd\n" -> cd\n.
std::string preview(const char *data, size_t len) {
    constexpr size_t shown = 32;
    std::string out;
    for (size_t i = 0; i < len && i < shown; i++) {
        unsigned char c = static_cast<unsigned char>(data[i]);
        if (c == '\n') out += "\\n";
        else if (c == '\r') out += "\\r";
        else if (c < 0x20 || c >= 0x7f) out += '.';
        else out += static_cast<char>(c);
    }
    if (len > shown) out += "...";
    return out;
}

// The request/response loop for the one client: recv a chunk, reverse it,
// send it back. Returns only when the client has gone, saying how it left.
std::string serve_client(int fd) {
    char chunk[chunk_capacity];
    for (;;) {
        // recv() blocks until at least one byte has arrived and returns what
        // is there, up to chunk_capacity: 0 means the client closed its side
        // (an orderly FIN), -1 an error such as ECONNRESET (an abrupt RST).
        ssize_t got = recv(fd, chunk, sizeof chunk, 0);
        if (got < 0 && errno == EINTR) continue;
        if (got == 0) return "closed the connection";
        if (got < 0) return std::string("recv: ") + std::strerror(errno);

        size_t len = static_cast<size_t>(got);
        std::string before = preview(chunk, len);
        reverse_chunk(chunk, len);
        std::fprintf(stderr, "[INFO] chunk of %zu bytes: \"%s\" -> \"%s\"\n", len, before.c_str(),
                     preview(chunk, len).c_str());
        if (!send_all(fd, chunk, len)) return std::string("send: ") + std::strerror(errno);
    }
}

} // namespace

int main(int argc, char **argv) {
    int port = default_port;
    int status = parse_args(argc, argv, &port);
    if (status >= 0) return status;

    fd_guard listener(create_listener(port));
    if (listener.fd < 0) return 1;
    std::fprintf(stderr, "[INFO] listening on 0.0.0.0:%d\n", port);

    // The one and only accept(). Later clients still complete their handshake
    // (the kernel does that, into the backlog queue) but nobody ever accepts
    // them, so they wait unanswered.
    sockaddr_in peer{};
    fd_guard client(accept_client(listener.fd, &peer));
    if (client.fd < 0) return 1;

    std::string how = serve_client(client.fd);

    // Both guards close their sockets on the way out; closing the listener
    // also resets the connections still waiting in its backlog.
    std::fprintf(stderr,
                 "[INFO] client %s left (%s); stage 01 serves one client only, "
                 "exiting with status 1\n",
                 endpoint_text(peer).c_str(), how.c_str());
    return 1;
}
