// stages/stage-04-tcp-proxy/main.cpp — stage 04: a TCP proxy.
//
// Listens on port 8080. Every client that connects gets its own, second TCP
// connection to the upstream (127.0.0.1:3000 unless told otherwise), and the
// proxy copies bytes both ways between the two sockets until both sides are
// done. The proxy is a server (to the client) and a client (to the upstream)
// at once; it never looks inside the bytes, so any TCP protocol goes through.
//
//     client ⇄ [client socket | proxy | upstream socket] ⇄ upstream
//
// One thread, level-triggered epoll, as in stage 03. What is new:
//
//  - The relayed sockets are non-blocking, and each direction has a small
//    pending buffer. Bytes that the destination cannot take yet wait there,
//    and while they wait the proxy stops reading the source (back-pressure).
//    A blocking send loop, as in the eXpServer course's proxy, deadlocks as
//    soon as both directions carry more than the socket buffers hold; the
//    chapter draws why.
//  - Interest sets change all the time: each socket is watched for EPOLLIN
//    when we can take its bytes and for EPOLLOUT when we owe it bytes, and
//    EPOLL_CTL_MOD keeps epoll in step.
//  - A FIN from one side is passed on (shutdown(SHUT_WR)) once its bytes are
//    delivered; the pair is closed when both sides have finished. An error
//    or reset on either socket closes the pair at once. Either way only that
//    client is affected.
//
// Known limit, kept on purpose: the connect() to the upstream is blocking.
// To 127.0.0.1 it answers at once (connected, or ECONNREFUSED), but an
// upstream across a network that drops packets would freeze every client
// for as long as the kernel retries. Stage 08 makes the connect non-blocking.
//
// Usage: stage-04 [--port N] [--upstream HOST:PORT] [CONFIG.json]   (--help for help)

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

namespace {

constexpr int DEFAULT_PORT = 8080;
constexpr const char *DEFAULT_UPSTREAM = "127.0.0.1:3000";
// Connections that may wait for accept(); as in stage 03, the system maximum.
constexpr int LISTEN_BACKLOG = SOMAXCONN;
// Ready sockets taken from the kernel per epoll_wait(). Any value works.
constexpr int MAX_EPOLL_EVENTS = 64;
// Bytes the proxy itself holds per direction: what one recv() returns. The
// real buffering is done by the kernel's socket buffers (hundreds of KiB
// each); ours only carries a chunk across from one socket to the other, and
// we read the next chunk only when this one is delivered. 16 KiB is enough
// to move data in few system calls (HAProxy's default buffer has the same
// size) and keeps a client at 2 x 16 KiB of proxy memory, whatever it sends
// and however slowly it reads.
constexpr size_t PENDING_CAPACITY = 16 * 1024;

// Owns one file descriptor and closes it when it goes out of scope.
class unique_fd {
public:
    unique_fd() = default;
    explicit unique_fd(int fd) : fd_(fd) {}
    unique_fd(const unique_fd &) = delete;
    unique_fd &operator=(const unique_fd &) = delete;
    ~unique_fd() { reset(); }

    int get() const { return fd_; }
    bool valid() const { return fd_ >= 0; }
    // Gives the descriptor away: the caller owns it now.
    int release()
    {
        int fd = fd_;
        fd_ = -1;
        return fd;
    }
    void reset(int fd = -1)
    {
        if (fd_ >= 0)
            close(fd_);
        fd_ = fd;
    }

private:
    int fd_ = -1; // the descriptor owned, or -1 for none
};

struct relay_pair;

// One socket of a relayed pair, and the bytes read from it that its peer has
// not taken yet. The bytes travelling the other way live in the peer.
struct side {
    unique_fd fd;                       // the socket (non-blocking)
    const char *name = "";              // "client" or "upstream", for the logs
    relay_pair *pair = nullptr;         // the pair this side belongs to
    side *peer = nullptr;               // the other socket of the pair
    char pending[PENDING_CAPACITY];     // bytes read from fd, owed to peer
    size_t pending_off = 0;             // first byte of pending not yet sent
    size_t pending_len = 0;             // bytes of pending not yet sent
    bool got_fin = false;               // recv() returned 0: it sends no more
    bool fin_passed = false;            // ...and we have shut down peer's writing
    uint32_t interest = 0;              // events epoll watches fd for; 0: not registered
    unsigned long long relayed = 0;     // bytes read from fd and delivered to peer
};

// A client and its own upstream connection. Allocated per client: there is no
// table with a fixed number of rows (the course's MAX_SOCKS is 10).
struct relay_pair {
    unsigned long id = 0;         // client number, for the logs
    side client;                  // the socket accept() gave us
    side upstream;                // the socket we connected for this client
    bool closed = false;          // closed during this batch of events, not yet freed
    relay_pair *prev = nullptr;   // previous pair in the proxy's list of live pairs
    relay_pair *next = nullptr;   // next pair in that list (or in the closed list)
};

// Everything the event loop works with.
struct proxy {
    unique_fd epoll_fd;               // the epoll instance
    unique_fd listen_fd;              // the listening socket, non-blocking
    unique_fd signal_fd;              // SIGINT and SIGTERM, delivered as a readable fd
    unique_fd reserve_fd;             // a spare descriptor given up when accept() hits EMFILE
    sockaddr_in upstream_addr{};      // where each client's second connection goes
    std::string upstream_text;        // the same, as the user wrote it, for the logs
    relay_pair *open_pairs = nullptr; // list of live pairs (owned)
    relay_pair *closed_pairs = nullptr; // closed in this batch, freed after it (owned)
    unsigned long next_id = 1;        // number of the next client
    int open_count = 0;               // live pairs, for the logs
};

void log_line(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_line(const char *level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    std::fprintf(stderr, "[%s] ", level);
    std::vfprintf(stderr, fmt, ap);
    std::fputc('\n', stderr);
    va_end(ap);
}

void usage(FILE *out)
{
    std::fprintf(out,
                 "usage: stage-04 [--port N] [--upstream HOST:PORT] [CONFIG.json]\n"
                 "\n"
                 "TCP proxy: each client that connects gets its own connection to the\n"
                 "upstream, and bytes are relayed both ways (one thread, epoll).\n"
                 "\n"
                 "  --port N              TCP port to listen on, all addresses (default %d)\n"
                 "  --upstream HOST:PORT  where to connect for each client, IPv4 (default %s)\n"
                 "  CONFIG.json           accepted as the last argument and not read: the\n"
                 "                        course's tester starts every stage as\n"
                 "                        ./<binary> <its xps_config.json>\n"
                 "  --help                show this text\n",
                 DEFAULT_PORT, DEFAULT_UPSTREAM);
}

// Parses "1".."65535". Returns false for anything else.
bool parse_port(const char *text, int *port)
{
    char *end = nullptr;
    errno = 0;
    long value = std::strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < 1 || value > 65535)
        return false;
    *port = static_cast<int>(value);
    return true;
}

// Turns "HOST:PORT" into an IPv4 address, once, at start-up: a name such as
// "localhost" is looked up here, so no client ever waits for a DNS answer.
bool parse_upstream(const char *text, sockaddr_in *addr)
{
    const char *colon = std::strrchr(text, ':');
    int port = 0;
    if (colon == nullptr || colon == text || !parse_port(colon + 1, &port))
        return false;
    std::string host(text, colon);
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo *found = nullptr;
    if (getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0 || found == nullptr)
        return false;
    *addr = *reinterpret_cast<sockaddr_in *>(found->ai_addr);
    addr->sin_port = htons(static_cast<uint16_t>(port));
    freeaddrinfo(found);
    return true;
}

// The course's tester starts every stage binary as ./<binary> <path of its
// xps_config.json>: a last argument ending in ".json" (and not a flag).
bool is_course_config(const char *arg)
{
    size_t len = std::strlen(arg);
    return arg[0] != '-' && len > 5 && std::strcmp(arg + len - 5, ".json") == 0;
}

// Parses the command line. Returns -1 to go on, or the exit status to stop
// with: 0 after --help, 2 after a bad flag (usage on stderr).
int parse_args(int argc, char **argv, int *port, proxy &px)
{
    const char *upstream = DEFAULT_UPSTREAM;
    if (argc > 1 && is_course_config(argv[argc - 1]))
        log_line("INFO", "%s: not read (stage 04 has no configuration)", argv[--argc]);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        bool has_value = i + 1 < argc;
        if (std::strcmp(arg, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (std::strcmp(arg, "--port") == 0 && has_value && parse_port(argv[i + 1], port)) {
            i++;
        } else if (std::strcmp(arg, "--upstream") == 0 && has_value) {
            upstream = argv[++i];
        } else {
            std::fprintf(stderr, "[ERROR] unknown, incomplete or bad argument \"%s%s%s\"\n", arg,
                         has_value ? " " : "", has_value ? argv[i + 1] : "");
            usage(stderr);
            return 2;
        }
    }
    if (!parse_upstream(upstream, &px.upstream_addr)) {
        std::fprintf(stderr, "[ERROR] --upstream wants HOST:PORT with an IPv4 host, got \"%s\"\n",
                     upstream);
        usage(stderr);
        return 2;
    }
    px.upstream_text = upstream;
    return -1;
}

// socket -> SO_REUSEADDR -> bind(0.0.0.0:port) -> listen, non-blocking so
// that a client who resets before accept() cannot put the loop to sleep.
int create_listener(int port)
{
    unique_fd fd(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd.valid()) {
        log_line("ERROR", "socket: %s", std::strerror(errno));
        return -1;
    }
    // Without SO_REUSEADDR a restart fails with "Address already in use"
    // while connections from the previous run sit in TIME_WAIT.
    int on = 1;
    if (setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0) {
        log_line("ERROR", "setsockopt(SO_REUSEADDR): %s", std::strerror(errno));
        return -1;
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (bind(fd.get(), reinterpret_cast<sockaddr *>(&addr), sizeof addr) < 0) {
        log_line("ERROR", "bind to port %d: %s", port, std::strerror(errno));
        return -1;
    }
    if (listen(fd.get(), LISTEN_BACKLOG) < 0) {
        log_line("ERROR", "listen: %s", std::strerror(errno));
        return -1;
    }
    return fd.release();
}

// Blocks SIGINT and SIGTERM and returns a signalfd that becomes readable when
// one arrives, so that stopping is one more event of the loop (as in stage 03).
int create_signal_fd()
{
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &mask, nullptr) < 0) {
        log_line("ERROR", "sigprocmask: %s", std::strerror(errno));
        return -1;
    }
    int fd = signalfd(-1, &mask, SFD_CLOEXEC);
    if (fd < 0)
        log_line("ERROR", "signalfd: %s", std::strerror(errno));
    return fd;
}

// The upstream half of a new pair. A plain blocking connect(): see the file
// banner for why that is acceptable here and what stage 08 changes. Once
// connected the socket is made non-blocking like the client's. Returns the
// socket, or -errno (ECONNREFUSED when nothing listens on the upstream port).
int connect_upstream(const sockaddr_in &addr)
{
    unique_fd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd.valid())
        return -errno;
    if (connect(fd.get(), reinterpret_cast<const sockaddr *>(&addr), sizeof addr) < 0)
        return -errno;
    int flags = fcntl(fd.get(), F_GETFL);
    if (flags < 0 || fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK) < 0)
        return -errno;
    return fd.release();
}

// What a side should be watched for, from its state alone:
//  - EPOLLIN when we may read from it: it has not finished sending and the
//    bytes we read from it last time have all been delivered. Stopping here
//    is the back-pressure: its bytes stay in the kernel, its sender's TCP
//    window closes, and the sender slows down to the pace of the reader.
//  - EPOLLOUT when we owe it bytes (its peer's pending buffer is not empty).
// After EOF we must stop asking for EPOLLIN: in level-triggered mode a socket
// at EOF is readable forever, and the loop would spin.
uint32_t wanted_events(const side &s)
{
    uint32_t events = 0;
    if (!s.got_fin && s.pending_len == 0)
        events |= EPOLLIN;
    if (s.peer->pending_len > 0)
        events |= EPOLLOUT;
    return events;
}

// Brings epoll in line with wanted_events(s): ADD the first time, MOD when it
// changes, DEL when it drops to nothing. Why DEL rather than MOD to 0: epoll
// reports EPOLLHUP and EPOLLERR even for an empty interest set, and a socket
// whose both directions are shut down is in EPOLLHUP for good; with nothing
// to do about it, level-triggered mode would wake us for it in a busy loop.
bool update_interest(proxy &px, side &s)
{
    uint32_t want = wanted_events(s);
    if (want == s.interest)
        return true;
    epoll_event ev{};
    ev.events = want; // no EPOLLET: level-triggered
    ev.data.ptr = &s; // the event leads straight back to this side
    int op = s.interest == 0 ? EPOLL_CTL_ADD : want == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
    if (epoll_ctl(px.epoll_fd.get(), op, s.fd.get(), &ev) < 0) {
        log_line("ERROR", "client %lu: epoll_ctl on the %s socket: %s", s.pair->id, s.name,
                 std::strerror(errno));
        return false;
    }
    s.interest = want;
    return true;
}

// Closes both sockets of a pair at once and queues it to be freed after the
// current batch of events: a later event of the same batch may still point at
// it, and must find it marked closed rather than find freed memory. `why`
// says what ended it. Closing a socket also removes it from epoll (we never
// dup() them, so the socket is gone with the descriptor).
void close_pair(proxy &px, relay_pair &p, const char *why)
{
    if (p.closed)
        return;
    p.client.fd.reset();
    p.upstream.fd.reset();
    p.closed = true;
    if (p.prev)
        p.prev->next = p.next;
    else
        px.open_pairs = p.next;
    if (p.next)
        p.next->prev = p.prev;
    p.next = px.closed_pairs;
    px.closed_pairs = &p;
    px.open_count--;
    log_line("INFO", "client %lu closed: %s (client->upstream %llu bytes, "
             "upstream->client %llu bytes; %d open)",
             p.id, why, p.client.relayed, p.upstream.relayed, px.open_count);
}

// Same, for a failed system call on one side: "upstream: recv: Connection reset by peer".
void close_pair_on_error(proxy &px, side &s, const char *call, int err)
{
    char why[160];
    std::snprintf(why, sizeof why, "%s: %s: %s", s.name, call, std::strerror(err));
    close_pair(px, *s.pair, why);
}

// Sends what is pending from `src` to its peer: as much as the peer's socket
// buffer takes now, which may be less than all of it (a partial write). The
// rest stays pending; wanted_events() then asks for EPOLLOUT on the peer and
// stops reading src until it is gone. Once all is delivered and src has sent
// its FIN, pass the FIN on: shutdown(SHUT_WR) tells the peer "no more bytes"
// while its own bytes can still flow back to src. Returns false if the pair
// had to be closed.
bool deliver_pending(proxy &px, side &src)
{
    side &dst = *src.peer;
    while (src.pending_len > 0) {
        // MSG_NOSIGNAL: a peer that has gone gives EPIPE, not a SIGPIPE that kills us.
        ssize_t n = send(dst.fd.get(), src.pending + src.pending_off, src.pending_len,
                         MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true; // dst is full: EPOLLOUT on dst will bring us back
        if (n < 0) {
            close_pair_on_error(px, dst, "send", errno);
            return false;
        }
        src.pending_off += static_cast<size_t>(n);
        src.pending_len -= static_cast<size_t>(n);
        src.relayed += static_cast<unsigned long long>(n);
    }
    src.pending_off = 0;
    if (src.got_fin && !src.fin_passed) {
        if (shutdown(dst.fd.get(), SHUT_WR) < 0) {
            close_pair_on_error(px, dst, "shutdown", errno);
            return false;
        }
        src.fin_passed = true;
    }
    return true;
}

// Reads one chunk from a side whose previous chunk has been delivered, then
// tries to deliver it at once (the common case costs no extra wake-up).
// One recv() per event: if more is waiting, level-triggered epoll reports the
// socket again next time round, after the other clients have had a turn.
// Returns false if the pair had to be closed.
bool read_side(proxy &px, side &s)
{
    ssize_t n = recv(s.fd.get(), s.pending, sizeof s.pending, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return true; // nothing after all; epoll will say when
    if (n < 0) {
        close_pair_on_error(px, s, "recv", errno); // ECONNRESET: a RST arrived
        return false;
    }
    if (n == 0)
        s.got_fin = true; // FIN: deliver_pending passes it on
    s.pending_off = 0;
    s.pending_len = static_cast<size_t>(n);
    return deliver_pending(px, s);
}

// One epoll event for one side of a pair. EPOLLERR and EPOLLHUP are not acted
// on directly: they mean "a call on this socket will not block", so we make
// the call we were waiting to make, and recv()/send() return the data still
// queued, or 0, or the error (ECONNRESET, EPIPE) that closes the pair.
void handle_side_event(proxy &px, side &s, uint32_t events)
{
    relay_pair &p = *s.pair;
    if (p.closed)
        return; // closed by an earlier event of this batch
    const uint32_t broken = EPOLLERR | EPOLLHUP;
    if ((events & (EPOLLIN | broken)) && !s.got_fin && s.pending_len == 0) {
        if (!read_side(px, s))
            return;
    }
    if ((events & (EPOLLOUT | broken)) && s.peer->pending_len > 0) {
        if (!deliver_pending(px, *s.peer)) // bytes owed to s are in its peer
            return;
    }
    if (p.client.fin_passed && p.upstream.fin_passed) {
        close_pair(px, p, "both sides finished");
        return;
    }
    if (!update_interest(px, p.client) || !update_interest(px, p.upstream))
        close_pair(px, p, "epoll_ctl failed");
}

// Out of descriptors (EMFILE, ENFILE): the connection stays in the accept
// queue and the level-triggered listener is reported again at once, forever.
// Give up the spare descriptor, accept the client into it and close it at
// once (it sees its connection closed), then take the spare back.
void refuse_one_client(proxy &px)
{
    px.reserve_fd.reset();
    int fd = accept4(px.listen_fd.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) {
        close(fd);
        log_line("ERROR", "out of file descriptors: refused one client");
    }
    px.reserve_fd.reset(open("/dev/null", O_RDONLY | O_CLOEXEC));
}

// Builds the pair for a new client whose upstream connection is made: both
// sides start watched for EPOLLIN only, as nothing is owed to either yet.
// Takes ownership of both sockets. Returns false (sockets closed) on failure.
bool open_pair(proxy &px, unsigned long id, int client_fd, int upstream_fd)
{
    relay_pair *p = new (std::nothrow) relay_pair;
    if (p == nullptr) {
        close(client_fd);
        close(upstream_fd);
        log_line("ERROR", "client %lu: out of memory, closed", id);
        return false;
    }
    p->id = id;
    p->client.fd.reset(client_fd);
    p->upstream.fd.reset(upstream_fd);
    p->client.name = "client";
    p->upstream.name = "upstream";
    p->client.pair = p->upstream.pair = p;
    p->client.peer = &p->upstream;
    p->upstream.peer = &p->client;
    p->next = px.open_pairs;
    if (px.open_pairs)
        px.open_pairs->prev = p;
    px.open_pairs = p;
    px.open_count++;
    if (!update_interest(px, p->client) || !update_interest(px, p->upstream)) {
        close_pair(px, *p, "epoll_ctl failed"); // freed after this batch
        return false;
    }
    return true;
}

// The listener is readable: accept one client and connect its upstream. If
// the upstream cannot be reached, this client is closed and nobody else is
// touched. More waiting clients are reported again on the next epoll_wait().
void accept_client(proxy &px)
{
    sockaddr_in addr{};
    socklen_t addr_len = sizeof addr;
    int fd = accept4(px.listen_fd.get(), reinterpret_cast<sockaddr *>(&addr), &addr_len,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR || err == ECONNABORTED)
            return; // the client left before we got to it, or nothing to do
        log_line("ERROR", "accept: %s", std::strerror(err));
        if (err == EMFILE || err == ENFILE)
            refuse_one_client(px);
        return;
    }
    unique_fd client(fd);
    unsigned long id = px.next_id++;
    char ip[INET_ADDRSTRLEN] = "?";
    inet_ntop(AF_INET, &addr.sin_addr, ip, sizeof ip);
    log_line("INFO", "client %lu connected from %s:%d", id, ip, ntohs(addr.sin_port));

    int upstream = connect_upstream(px.upstream_addr);
    if (upstream < 0) {
        log_line("ERROR", "client %lu: cannot connect to upstream %s: %s; closing the client",
                 id, px.upstream_text.c_str(), std::strerror(-upstream));
        return; // `client` closes the client's socket
    }
    open_pair(px, id, client.release(), upstream);
}

// Frees the pairs closed during the batch of events just handled.
void free_closed_pairs(proxy &px)
{
    while (px.closed_pairs) {
        relay_pair *p = px.closed_pairs;
        px.closed_pairs = p->next;
        delete p;
    }
}

// The event loop. Each event carries the pointer it was registered with:
// &px.listen_fd, &px.signal_fd, or the side of a pair. Returns the exit status.
int run_loop(proxy &px)
{
    epoll_event events[MAX_EPOLL_EVENTS];
    for (;;) {
        int n = epoll_wait(px.epoll_fd.get(), events, MAX_EPOLL_EVENTS, -1);
        if (n < 0 && errno == EINTR)
            continue; // a stop/continue signal or a debugger interrupted the wait
        if (n < 0) {
            log_line("ERROR", "epoll_wait: %s", std::strerror(errno));
            return 1;
        }
        for (int i = 0; i < n; i++) {
            void *key = events[i].data.ptr;
            if (key == &px.listen_fd) {
                accept_client(px);
            } else if (key == &px.signal_fd) {
                signalfd_siginfo info{};
                if (read(px.signal_fd.get(), &info, sizeof info) != sizeof info)
                    continue; // cannot happen: the fd was reported readable
                log_line("INFO", "%s received, shutting down",
                         info.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
                return 0;
            } else {
                handle_side_event(px, *static_cast<side *>(key), events[i].events);
            }
        }
        free_closed_pairs(px);
    }
}

// Registers a descriptor of the proxy itself; `key` is what its events carry.
bool watch_own_fd(proxy &px, unique_fd &fd)
{
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &fd;
    if (epoll_ctl(px.epoll_fd.get(), EPOLL_CTL_ADD, fd.get(), &ev) < 0) {
        log_line("ERROR", "epoll_ctl(ADD): %s", std::strerror(errno));
        return false;
    }
    return true;
}

} // namespace

int main(int argc, char **argv)
{
    proxy px;
    int port = DEFAULT_PORT;
    int status = parse_args(argc, argv, &port, px);
    if (status >= 0)
        return status;

    px.listen_fd.reset(create_listener(port));
    if (!px.listen_fd.valid())
        return 1;
    px.epoll_fd.reset(epoll_create1(EPOLL_CLOEXEC));
    if (!px.epoll_fd.valid()) {
        log_line("ERROR", "epoll_create1: %s", std::strerror(errno));
        return 1;
    }
    px.signal_fd.reset(create_signal_fd());
    px.reserve_fd.reset(open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!px.signal_fd.valid() || !px.reserve_fd.valid() || !watch_own_fd(px, px.listen_fd) ||
        !watch_own_fd(px, px.signal_fd))
        return 1;

    log_line("INFO", "Proxy listening on port %d, upstream %s", port, px.upstream_text.c_str());
    status = run_loop(px);
    // Orderly stop: close every pair (each client sees its connection end).
    while (px.open_pairs)
        close_pair(px, *px.open_pairs, "proxy shutting down");
    free_closed_pairs(px);
    return status;
}
