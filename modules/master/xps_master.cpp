// modules/master/xps_master.cpp — the contract is in xps_master.h. The
// master is one poll() on a signalfd, with a timeout for the nearest
// deadline (a drain to cut short, a throttled restart to make).
#include "modules/master/xps_master.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <vector>

#include <poll.h>
#include <sched.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/xps_logger.h"

namespace {

constexpr const char *log_name = "master";
constexpr uint64_t default_drain_ms = 10000;
constexpr uint64_t quick_death_ms = 1000; // died this soon after its start: a crash loop?
constexpr uint64_t first_pause_ms = 100;
constexpr uint64_t max_pause_ms = 10000;

uint64_t now_ms() {
    timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return static_cast<uint64_t>(t.tv_sec) * 1000 + static_cast<uint64_t>(t.tv_nsec) / 1000000;
}

// A worker slot of the current generation.
struct slot {
    pid_t pid = 0;              // 0: not running
    uint64_t started = 0;       // when it was forked
    uint64_t start_at = 0;      // not running: when to fork it (throttled)
    uint64_t pause = 0;         // the next pause after a quick death
};

// A worker of an older generation, draining.
struct draining {
    pid_t pid;
    uint64_t kill_at;           // SIGKILL then
};

struct master {
    const xps_master_config_t *config;
    int signal_fd = -1;         // the master's; closed in each worker
    sigset_t old_mask;          // the caller's: restored in each worker
    int generation = 0;
    std::vector<slot> slots;
    std::vector<draining> old;
    bool stopping = false;
    uint64_t drain_ms = default_drain_ms;
};

void fork_worker(master &m, size_t index) {
    slot &s = m.slots[index];
    pid_t pid = fork();
    if (pid == 0) { // the worker: the caller's signal world, then its work
        close(m.signal_fd);
        sigprocmask(SIG_SETMASK, &m.old_mask, nullptr);
        int status = m.config->worker_main(m.config->data, static_cast<int>(index), m.generation);
        _exit(status);
    }
    uint64_t now = now_ms();
    if (pid < 0) {
        s.pause = s.pause ? std::min(s.pause * 2, max_pause_ms) : first_pause_ms;
        s.start_at = now + s.pause;
        XPS_LOG(XPS_LOG_ERROR, log_name, "cannot start worker %zu: %s (again in %llu ms)", index,
                std::strerror(errno), static_cast<unsigned long long>(s.pause));
        return;
    }
    s.pid = pid;
    s.started = now;
    XPS_LOG(XPS_LOG_INFO, log_name, "worker %zu started: pid %d (generation %d)", index,
            static_cast<int>(pid), m.generation);
}

void drain(master &m, pid_t pid) {
    kill(pid, SIGTERM);
    m.old.push_back({pid, now_ms() + m.drain_ms});
}

const char *status_text(int status, char *buf, size_t size) {
    if (WIFEXITED(status))
        std::snprintf(buf, size, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        std::snprintf(buf, size, "killed by %s", strsignal(WTERMSIG(status)));
    else
        std::snprintf(buf, size, "ended (status %d)", status);
    return buf;
}

// Collects every ended child: a draining one is forgotten, a current one
// is replaced (or, while stopping, forgotten).
void reap(master &m) {
    for (;;) {
        int status = 0;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            return;
        bool known = false;
        for (size_t i = 0; i < m.old.size(); i++)
            if (m.old[i].pid == pid) {
                m.old.erase(m.old.begin() + static_cast<long>(i));
                known = true;
                break;
            }
        for (size_t i = 0; !known && i < m.slots.size(); i++) {
            slot &s = m.slots[i];
            if (s.pid != pid)
                continue;
            known = true;
            s.pid = 0;
            if (m.stopping)
                break;
            char why[96];
            uint64_t now = now_ms(), lived = now - s.started;
            if (lived < quick_death_ms) {
                s.pause = s.pause ? std::min(s.pause * 2, max_pause_ms) : first_pause_ms;
                s.start_at = now + s.pause;
            } else {
                s.pause = 0;
                s.start_at = now; // at once
            }
            XPS_LOG(XPS_LOG_WARN, log_name, "worker %zu (pid %d) %s after %llu ms: %s", i,
                    static_cast<int>(pid), status_text(status, why, sizeof why),
                    static_cast<unsigned long long>(lived),
                    s.start_at > now ? "restarting after a pause (it keeps dying)" : "restarting");
        }
    }
}

void stop(master &m) {
    m.stopping = true;
    for (slot &s : m.slots)
        if (s.pid > 0) {
            drain(m, s.pid);
            s.pid = 0;
        }
    XPS_LOG(XPS_LOG_INFO, log_name, "stopping: %zu worker(s) draining (at most %llu ms)",
            m.old.size(), static_cast<unsigned long long>(m.drain_ms));
}

void reload(master &m) {
    char err[512] = "";
    if (m.config->reload && m.config->reload(m.config->data, err, sizeof err) != XPS_OK) {
        XPS_LOG(XPS_LOG_ERROR, log_name, "reload refused, the running workers keep serving: %s",
                err[0] ? err : "(no reason given)");
        return;
    }
    m.generation++;
    XPS_LOG(XPS_LOG_INFO, log_name, "reloading: generation %d starts, the old one drains",
            m.generation);
    for (size_t i = 0; i < m.slots.size(); i++) {
        if (m.slots[i].pid > 0)
            drain(m, m.slots[i].pid);
        m.slots[i] = slot{};
        fork_worker(m, i);
    }
}

// The next thing that has a time, as a poll() timeout (-1: none).
int next_timeout(const master &m) {
    uint64_t now = now_ms(), next = UINT64_MAX;
    for (const draining &d : m.old)
        next = std::min(next, d.kill_at);
    if (!m.stopping)
        for (const slot &s : m.slots)
            if (s.pid == 0)
                next = std::min(next, s.start_at);
    if (next == UINT64_MAX)
        return -1;
    return next <= now ? 0 : static_cast<int>(std::min<uint64_t>(next - now, 60000));
}

void due(master &m) {
    uint64_t now = now_ms();
    for (draining &d : m.old)
        if (d.kill_at <= now) {
            XPS_LOG(XPS_LOG_WARN, log_name, "worker pid %d still running after %llu ms: SIGKILL",
                    static_cast<int>(d.pid), static_cast<unsigned long long>(m.drain_ms));
            kill(d.pid, SIGKILL);
            d.kill_at = UINT64_MAX; // reaped when it goes
        }
    if (!m.stopping)
        for (size_t i = 0; i < m.slots.size(); i++)
            if (m.slots[i].pid == 0 && m.slots[i].start_at <= now)
                fork_worker(m, i);
}

} // namespace

int xps_master_auto_workers(void) XPS_NOEXCEPT {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? static_cast<int>(n) : 1;
}

int xps_master_run(const xps_master_config_t *config) XPS_NOEXCEPT {
    if (!config || !config->worker_main || config->workers < 1 || config->workers > 1024)
        return XPS_E_INVAL;
    sigset_t mask;
    sigemptyset(&mask);
    for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP})
        sigaddset(&mask, sig);
    master m;
    m.config = config;
    if (config->drain_ms)
        m.drain_ms = config->drain_ms;
    if (sigprocmask(SIG_BLOCK, &mask, &m.old_mask) != 0)
        return XPS_E_FAIL;
    int fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (fd < 0) {
        XPS_LOG(XPS_LOG_ERROR, log_name, "signalfd: %s", std::strerror(errno));
        sigprocmask(SIG_SETMASK, &m.old_mask, nullptr);
        return XPS_E_FAIL;
    }
    m.signal_fd = fd;
    try {
        m.slots.resize(static_cast<size_t>(config->workers));
        m.old.reserve(2 * m.slots.size());
    } catch (...) {
        close(fd);
        sigprocmask(SIG_SETMASK, &m.old_mask, nullptr);
        return XPS_E_NOMEM;
    }
    XPS_LOG(XPS_LOG_INFO, log_name, "pid %d: starting %d worker(s)", static_cast<int>(getpid()),
            config->workers);
    for (size_t i = 0; i < m.slots.size(); i++)
        fork_worker(m, i);

    while (!m.stopping || !m.old.empty()) {
        pollfd p = {fd, POLLIN, 0};
        int ready = poll(&p, 1, next_timeout(m));
        if (ready < 0 && errno != EINTR)
            break;
        signalfd_siginfo info; // non-blocking: every signal that is waiting, then on
        while (read(fd, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
            int sig = static_cast<int>(info.ssi_signo);
            if (sig == SIGCHLD)
                reap(m);
            else if ((sig == SIGTERM || sig == SIGINT) && !m.stopping)
                stop(m);
            else if (sig == SIGHUP && !m.stopping)
                reload(m);
        }
        reap(m); // a SIGCHLD merged with another is still a child to collect
        due(m);
    }
    // A second SIGTERM or SIGINT sent during the drain asks for the stop
    // that has just finished: it stays blocked (and is dropped with the
    // signalfd) instead of killing the process on its way out.
    close(fd);
    sigset_t still_blocked = m.old_mask;
    sigaddset(&still_blocked, SIGTERM);
    sigaddset(&still_blocked, SIGINT);
    sigprocmask(SIG_SETMASK, &still_blocked, nullptr);
    XPS_LOG(XPS_LOG_INFO, log_name, "every worker has ended");
    return XPS_OK;
}
