#include "kern-ext/namespace_pids.h"

#include "kern-ext/files.h"
#include "kern-ext/process.h"
#include "kern-ext/unique_fd.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <string>

namespace ssi {
namespace {

struct NextPidAnswer {
    int32_t err = 0;
};

// One request (an int32 PID) answered with an errno; false once the other end is gone.
bool serve_one(int socket, UniqueFd& ns_last_pid) {
    int32_t next = 0;
    ssize_t n = ::recv(socket, &next, sizeof next, MSG_DONTWAIT);
    if (n < 0) return errno == EAGAIN || errno == EINTR;
    if (n == 0) return false;
    NextPidAnswer answer;
    if (n != sizeof next || next < 2) answer.err = EINVAL;
    else {
        if (!ns_last_pid) {
            auto opened = open_file("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
            if (opened) ns_last_pid = std::move(*opened);
            else answer.err = opened.error().err ? opened.error().err : EIO;
        }
        if (ns_last_pid) {
            if (auto set = set_last_pid(ns_last_pid.get(), next - 1); !set) answer.err = set.error().err ? set.error().err : EIO;
        }
    }
    (void)::send(socket, &answer, sizeof answer, MSG_NOSIGNAL);
    return true;
}

}  // namespace

Result<void> set_last_pid(pid_t last) {
    UniqueFd fd = TRY(open_file("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC));
    return set_last_pid(fd.get(), last);
}

Result<void> set_last_pid(int ns_last_pid_fd, pid_t last) {
    std::string text = std::to_string(last);
    if (::pwrite(ns_last_pid_fd, text.data(), text.size(), 0) < 0) return sys_error("pwrite", "ns_last_pid " + text);
    return ok();
}

Result<int> reap_until(pid_t pid, const std::function<void(int)>& on_change, int next_pid_requests) {
    int flags = on_change ? WUNTRACED | WCONTINUED : 0;
    UniqueFd children;
    if (next_pid_requests >= 0) children = TRY(open_signalfd(signal_set({SIGCHLD})));
    bool serving = next_pid_requests >= 0;
    UniqueFd ns_last_pid;
    for (;;) {
        int status = 0;
        pid_t r = ::waitpid(-1, &status, flags | (serving ? WNOHANG : 0));
        if (r < 0 && errno != EINTR) return sys_error("waitpid", "pid " + std::to_string(pid));
        if (r == 0) {
            // Nothing has ended: wait for a child's end or a request.
            pollfd fds[2] = {{children.get(), POLLIN, 0}, {next_pid_requests, POLLIN, 0}};
            if (::poll(fds, 2, -1) < 0) continue;
            if (fds[0].revents & POLLIN) {
                signalfd_siginfo info;  // one SIGCHLD stands for every end so far: waitpid reaps them all
                (void)!::read(children.get(), &info, sizeof info);
            }
            if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) serving = serve_one(next_pid_requests, ns_last_pid);
            continue;
        }
        if (r != pid) continue;
        if (WIFSTOPPED(status) || WIFCONTINUED(status)) {
            on_change(status);
            continue;
        }
        return status;
    }
}

Result<void> request_next_pid(int socket, pid_t next, int timeout_ms) {
    int32_t request = next;
    if (::send(socket, &request, sizeof request, MSG_NOSIGNAL) < 0) return sys_error("send", "next pid request");
    pollfd p{socket, POLLIN, 0};
    int ready = ::poll(&p, 1, timeout_ms);
    if (ready < 0) return sys_error("poll", "next pid answer");
    if (ready == 0) return make_error("next pid", "the namespace's reaper did not answer", ETIMEDOUT);
    NextPidAnswer answer;
    ssize_t n = ::recv(socket, &answer, sizeof answer, 0);
    if (n < 0) return sys_error("recv", "next pid answer");
    if (n != sizeof answer) return make_error("next pid", "the namespace's reaper is gone", ESRCH);
    if (answer.err) return Error{"write", answer.err, "ns_last_pid " + std::to_string(next - 1)};
    return ok();
}

}  // namespace ssi
