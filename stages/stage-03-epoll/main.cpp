// stages/stage-03-epoll/main.cpp — stage 03: one thread, many clients, epoll.
//
// The reversal service of stage 01 (each chunk received is sent back
// reversed, a trailing '\n' left in place) on port 8080, now for any number of
// clients at once. There is still exactly one thread. Instead of blocking in
// accept() or recv() on one socket, it blocks in epoll_wait() on all of them
// and lets the kernel say which ones are ready. A client that leaves (FIN,
// RST, error) is closed and removed; nobody else notices.
//
// Shape, as in the eXpServer course: epoll_create1, the listening socket
// registered for EPOLLIN, a loop on epoll_wait, accept on the listener and
// recv / reverse / send on clients. Level-triggered mode (the default), with
// data.fd as the key of each registration.
//
// Known limit, kept on purpose: accepted sockets are blocking and replies go
// out with a blocking send loop. A client that sends but never reads fills
// its socket buffers, send() blocks, and the whole server stops with it
// (even Ctrl-C waits: the signal is one more event the stuck loop never
// reaches). Stages 06/07 measure that and fix it with non-blocking sockets.
//
// Usage: stage-03 [--port N] [CONFIG.json]   (default 8080; --help for help)

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

constexpr int DEFAULT_PORT = 8080;
// How many connections may wait for accept(). The course uses 5; when a burst
// of clients overflows the queue Linux drops their handshake packets and they
// retry a second later, so ask for the system maximum instead.
constexpr int LISTEN_BACKLOG = SOMAXCONN;
// Ready fds taken from the kernel per epoll_wait(). Any value works: if more
// are ready, the next call returns the rest (the course's value).
constexpr int MAX_EPOLL_EVENTS = 10;
// Bytes read per recv(): one chunk, reversed as a unit (the course's value).
constexpr size_t BUFF_SIZE = 10000;

// Owns one file descriptor and closes it when it goes out of scope, so the
// set-up code in main() can return early without a trail of close() calls.
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

// Everything the event loop works with. Client sockets are not listed here:
// each one lives only in the epoll interest list, keyed by its fd number.
struct server {
    unique_fd epoll_fd;   // the epoll instance (its interest list is the client table)
    unique_fd listen_fd;  // the listening socket, non-blocking
    unique_fd signal_fd;  // SIGINT and SIGTERM, delivered as a readable fd
    unique_fd reserve_fd; // a spare descriptor given up when accept() hits EMFILE
    int client_count = 0; // clients currently connected (for the logs)
};

void usage(FILE *out)
{
    std::fprintf(out,
                 "usage: stage-03 [--port N] [CONFIG.json]\n"
                 "\n"
                 "Reversal service for many clients at once: one thread, level-triggered\n"
                 "epoll. Each chunk received is sent back reversed, a trailing newline\n"
                 "left in place (\"abcd\\n\" -> \"dcba\\n\").\n"
                 "\n"
                 "  --port N      TCP port to listen on, all addresses (default %d)\n"
                 "  CONFIG.json   accepted as the last argument and not read: the course's\n"
                 "                tester starts every stage as ./<binary> <its xps_config.json>\n"
                 "  --help        show this text\n",
                 DEFAULT_PORT);
}

// The course's tester starts every stage binary as ./<binary> <path of its
// xps_config.json>: a last argument ending in ".json" (and not a flag).
bool is_course_config(const char *arg)
{
    size_t len = std::strlen(arg);
    return arg[0] != '-' && len > 5 && std::strcmp(arg + len - 5, ".json") == 0;
}

// Parses the command line into *port. Returns -1 to go on, or the exit
// status to stop with: 0 after --help, 2 after a bad flag (usage on stderr).
int parse_args(int argc, char **argv, int *port)
{
    if (argc > 1 && is_course_config(argv[argc - 1]))
        std::fprintf(stderr, "[INFO] %s: not read (stage 03 has no configuration)\n",
                     argv[--argc]);
    for (int i = 1; i < argc; i++) {
        if (std::strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (std::strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            char *end = nullptr;
            errno = 0;
            long value = std::strtol(argv[++i], &end, 10);
            if (errno != 0 || *end != '\0' || end == argv[i] || value < 1 || value > 65535) {
                std::fprintf(stderr, "[ERROR] --port wants a number from 1 to 65535, got \"%s\"\n",
                             argv[i]);
                usage(stderr);
                return 2;
            }
            *port = static_cast<int>(value);
            continue;
        }
        std::fprintf(stderr, "[ERROR] unknown or incomplete argument \"%s\"\n", argv[i]);
        usage(stderr);
        return 2;
    }
    return -1;
}

// socket -> SO_REUSEADDR -> bind(0.0.0.0:port) -> listen, as in stage 01,
// but non-blocking: epoll says "a connection is waiting", yet it may be gone
// when we call accept() (another process sharing the listener took it; on
// some systems a reset removes it). A blocking accept() would then sleep,
// and with it every other client; a non-blocking one returns EAGAIN.
int create_listener(int port)
{
    unique_fd fd(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd.valid()) {
        std::fprintf(stderr, "[ERROR] socket: %s\n", std::strerror(errno));
        return -1;
    }
    // Without SO_REUSEADDR a restart fails with "Address already in use"
    // while connections from the previous run sit in TIME_WAIT.
    int on = 1;
    if (setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0) {
        std::fprintf(stderr, "[ERROR] setsockopt(SO_REUSEADDR): %s\n", std::strerror(errno));
        return -1;
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (bind(fd.get(), reinterpret_cast<sockaddr *>(&addr), sizeof addr) < 0) {
        std::fprintf(stderr, "[ERROR] cannot bind 0.0.0.0:%d: %s\n", port, std::strerror(errno));
        return -1;
    }
    if (listen(fd.get(), LISTEN_BACKLOG) < 0) {
        std::fprintf(stderr, "[ERROR] listen: %s\n", std::strerror(errno));
        return -1;
    }
    return fd.release();
}

// Blocks SIGINT and SIGTERM and returns a signalfd that becomes readable when
// one arrives. A signal is then one more event of the loop: no handler runs
// in the middle of our code, and we leave through the normal return path
// with status 0. The price: while the loop is stuck in a blocking send(), the
// signal waits too. SIGQUIT (Ctrl-\) is left alone and still kills at once.
int create_signal_fd()
{
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &mask, nullptr) < 0) {
        std::fprintf(stderr, "[ERROR] sigprocmask: %s\n", std::strerror(errno));
        return -1;
    }
    int fd = signalfd(-1, &mask, SFD_CLOEXEC);
    if (fd < 0)
        std::fprintf(stderr, "[ERROR] signalfd: %s\n", std::strerror(errno));
    return fd;
}

// Adds fd to the interest list. data.fd is the whole key: this program keeps
// no other state per client, so the fd number tells the loop everything.
// (From stage 06 on, data.ptr points at a connection object instead.)
bool loop_attach(int epoll_fd, int fd, uint32_t events)
{
    epoll_event ev{};
    ev.events = events; // no EPOLLET flag: level-triggered
    ev.data.fd = fd;
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        std::fprintf(stderr, "[ERROR] epoll_ctl(ADD, fd %d): %s\n", fd, std::strerror(errno));
        return false;
    }
    return true;
}

// Out of descriptors (EMFILE, ENFILE): the connection stays in the accept
// queue, so the level-triggered listener is reported again at once, forever,
// at 100 % CPU. Give up the spare descriptor, accept the client into it and
// close it at once (the client sees its connection closed), take the spare
// back. The queue shrinks by one and the loop keeps serving everyone else.
void refuse_one_client(server &srv)
{
    srv.reserve_fd.reset();
    int fd = accept4(srv.listen_fd.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) {
        close(fd);
        std::fprintf(stderr, "[ERROR] out of file descriptors: refused one client\n");
    }
    srv.reserve_fd.reset(open("/dev/null", O_RDONLY | O_CLOEXEC));
}

// The listener is readable: take one connection from the queue. If more are
// waiting, level-triggered epoll reports the listener again next time round.
void accept_client(server &srv)
{
    sockaddr_in addr{};
    socklen_t addr_len = sizeof addr;
    int fd = accept4(srv.listen_fd.get(), reinterpret_cast<sockaddr *>(&addr), &addr_len,
                     SOCK_CLOEXEC); // a blocking socket: see the file banner
    if (fd < 0) {
        int err = errno;
        // EAGAIN: the connection was gone before we got to it. EINTR,
        // ECONNABORTED: nothing to do. The listener is reported again if
        // more connections are waiting.
        if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR || err == ECONNABORTED)
            return;
        // Anything else (ENOBUFS, ENOMEM, EPERM) is logged and retried when
        // the listener is reported again.
        std::fprintf(stderr, "[ERROR] accept: %s\n", std::strerror(err));
        if (err == EMFILE || err == ENFILE)
            refuse_one_client(srv);
        return;
    }
    if (!loop_attach(srv.epoll_fd.get(), fd, EPOLLIN)) {
        close(fd);
        return;
    }
    srv.client_count++;
    char ip[INET_ADDRSTRLEN] = "?";
    inet_ntop(AF_INET, &addr.sin_addr, ip, sizeof ip);
    std::fprintf(stderr, "[INFO] client connected from %s:%d (fd %d, %d connected)\n", ip,
                 ntohs(addr.sin_port), fd, srv.client_count);
}

// Removes a client from the interest list, then closes it. close() alone
// would usually do both, but epoll watches the open file, not the number: if
// the socket had been dup()ed or inherited by a child, it would stay
// registered and keep reporting events for an fd number we no longer own.
// err is the errno that ended the connection, 0 for an orderly close (FIN).
void close_client(server &srv, int fd, int err)
{
    if (epoll_ctl(srv.epoll_fd.get(), EPOLL_CTL_DEL, fd, nullptr) < 0)
        std::fprintf(stderr, "[ERROR] epoll_ctl(DEL, fd %d): %s\n", fd, std::strerror(errno));
    close(fd);
    srv.client_count--;
    std::fprintf(stderr, "[INFO] client on fd %d left (%s), %d connected\n", fd,
                 err == 0 ? "closed the connection" : std::strerror(err), srv.client_count);
}

// The reversal rule: reverse the chunk in place; a trailing '\n' stays at the
// end ("abcd\n" -> "dcba\n"), otherwise every byte moves ("abc" -> "cba").
void reverse_chunk(char *buf, size_t len)
{
    if (len > 0 && buf[len - 1] == '\n')
        len--;
    std::reverse(buf, buf + len);
}

// send() may take fewer bytes than offered, so loop until all are gone.
// MSG_NOSIGNAL: writing to a peer that has gone must fail with EPIPE, not
// raise SIGPIPE, whose default action would kill the whole server.
bool send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return false;
        buf += n;
        len -= static_cast<size_t>(n);
    }
    return true;
}

// A client is readable (data, EOF or an error is waiting, so recv() will not
// block). One recv() per event: if more bytes remain, level-triggered epoll
// reports this fd again on the next epoll_wait(), after the other clients.
void handle_client(server &srv, int fd)
{
    char buf[BUFF_SIZE];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR)
        return; // still readable, so reported again
    if (n == 0) {
        close_client(srv, fd, 0); // FIN: the client is done
        return;
    }
    if (n < 0) {
        close_client(srv, fd, errno); // RST: ECONNRESET
        return;
    }
    reverse_chunk(buf, static_cast<size_t>(n));
    if (!send_all(fd, buf, static_cast<size_t>(n)))
        close_client(srv, fd, errno); // gone while we wrote: EPIPE, ECONNRESET
}

// The event loop. Sleeps until at least one registered fd is ready, handles
// each ready fd once, repeats. Returns the exit status.
int run_loop(server &srv)
{
    epoll_event events[MAX_EPOLL_EVENTS];
    for (;;) {
        int n = epoll_wait(srv.epoll_fd.get(), events, MAX_EPOLL_EVENTS, -1);
        if (n < 0 && errno == EINTR)
            continue; // a stop/continue signal or a debugger interrupted the wait
        if (n < 0) {
            std::fprintf(stderr, "[ERROR] epoll_wait: %s\n", std::strerror(errno));
            return 1;
        }
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == srv.listen_fd.get()) {
                accept_client(srv);
            } else if (fd == srv.signal_fd.get()) {
                signalfd_siginfo info{};
                if (read(fd, &info, sizeof info) != sizeof info)
                    continue; // cannot happen: the fd was reported readable
                std::fprintf(stderr, "[INFO] %s received, stopping\n",
                             info.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
                return 0;
            } else {
                handle_client(srv, fd); // any event: EPOLLIN, EPOLLHUP, EPOLLERR
            }
        }
    }
}

} // namespace

int main(int argc, char **argv)
{
    int port = DEFAULT_PORT;
    int status = parse_args(argc, argv, &port);
    if (status >= 0)
        return status;

    server srv;
    srv.listen_fd.reset(create_listener(port));
    if (!srv.listen_fd.valid())
        return 1;
    srv.epoll_fd.reset(epoll_create1(EPOLL_CLOEXEC));
    if (!srv.epoll_fd.valid()) {
        std::fprintf(stderr, "[ERROR] epoll_create1: %s\n", std::strerror(errno));
        return 1;
    }
    srv.signal_fd.reset(create_signal_fd());
    if (!srv.signal_fd.valid())
        return 1;
    srv.reserve_fd.reset(open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!srv.reserve_fd.valid()) {
        std::fprintf(stderr, "[ERROR] open(/dev/null): %s\n", std::strerror(errno));
        return 1;
    }
    if (!loop_attach(srv.epoll_fd.get(), srv.listen_fd.get(), EPOLLIN) ||
        !loop_attach(srv.epoll_fd.get(), srv.signal_fd.get(), EPOLLIN))
        return 1;

    std::fprintf(stderr, "[INFO] listening on 0.0.0.0:%d\n", port);
    status = run_loop(srv);
    // Connected clients are not tracked, so they are not closed one by one:
    // exit hands every descriptor back to the kernel, which closes the
    // sockets (each client sees EOF). Stage 06 does an orderly shutdown.
    std::fprintf(stderr, "[INFO] stopped, %d connected\n", srv.client_count);
    return status;
}
