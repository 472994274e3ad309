// Pidfd: a handle on one process that cannot be confused with a later process reusing
// its PID. Signals go through it, so checking a process's owner and then signalling it
// cannot race with the PID being recycled in between.
#pragma once

#include "kern-ext/result.h"
#include "kern-ext/unique_fd.h"

#include <sys/types.h>

#include <optional>

namespace ssi {

class Pidfd {
public:
    static Result<Pidfd> open(pid_t pid);
    // A pidfd of one thread, not its process (PIDFD_THREAD, Linux 6.9): `open` of a thread
    // that does not lead its process fails (ENOENT on 6.18, EINVAL on older kernels). Its
    // get_fd reads the descriptor table the thread shares with its process.
    static Result<Pidfd> open_thread(pid_t tid);

    Result<void> send_signal(int signal) const;
    // pidfd_getfd(2): a copy (close-on-exec) of the process's descriptor `fd`: the same
    // open file, offset and flags included. Needs ptrace access to the process.
    Result<UniqueFd> get_fd(int fd) const;
    // The raw wait status of a process that ended and was reaped, by anyone (PIDFD_GET_INFO
    // with PIDFD_INFO_EXIT, Linux 6.15): nullopt while it runs or is a zombie, or when the
    // kernel cannot tell.
    std::optional<int> exit_status() const;
    pid_t pid() const { return pid_; }
    int fd() const { return fd_.get(); }

private:
    Pidfd(UniqueFd fd, pid_t pid) : fd_(std::move(fd)), pid_(pid) {}
    UniqueFd fd_;
    pid_t pid_ = 0;
};

// For a raw pidfd (received from another namespace): waitid(P_PIDFD) until the process has
// ended (ECHILD — someone else reaped it — counts as ended); pidfd_send_signal; the PID it
// refers to in our namespace (the "Pid:" line of its fdinfo). `pid` only names it in errors.
Result<void> wait_pidfd(int pidfd, pid_t pid);
Result<void> signal_through_pidfd(int pidfd, int sig, pid_t pid);
Result<pid_t> pid_of_pidfd(int pidfd);

// Plain kill(2), for callers that own the process they signal (e.g. their own children).
Result<void> send_signal(pid_t pid, int signal);
// tgkill(2): `signal` to thread `tid` of process `tgid`.
Result<void> send_thread_signal(pid_t tgid, pid_t tid, int signal);
// sigqueue(3): `signal` with `value` (si_code SI_QUEUE, the caller as sender).
Result<void> queue_signal(pid_t pid, int signal, int64_t value);

}  // namespace ssi
