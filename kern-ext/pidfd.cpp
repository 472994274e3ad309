#include "kern-ext/pidfd.h"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>

namespace ssi {

Result<Pidfd> Pidfd::open(pid_t pid) {
    int fd = int(::syscall(SYS_pidfd_open, pid, 0));
    if (fd < 0) return sys_error("pidfd_open", "pid " + std::to_string(pid));
    return Pidfd(UniqueFd(fd), pid);
}

Result<void> Pidfd::send_signal(int signal) const {
    if (::syscall(SYS_pidfd_send_signal, fd_.get(), signal, nullptr, 0) < 0)
        return sys_error("pidfd_send_signal", "pid " + std::to_string(pid_));
    return ok();
}

Result<UniqueFd> Pidfd::get_fd(int fd) const {
    int got = int(::syscall(SYS_pidfd_getfd, fd_.get(), fd, 0));
    if (got < 0) return sys_error("pidfd_getfd", "fd " + std::to_string(fd) + " of pid " + std::to_string(pid_));
    return UniqueFd(got);
}

Result<void> send_signal(pid_t pid, int signal) {
    if (::kill(pid, signal) < 0) return sys_error("kill", "pid " + std::to_string(pid));
    return ok();
}

}  // namespace ssi
