#include "kern-ext/pidfd.h"

#include "kern-ext/files.h"

#include <signal.h>
#include <sys/wait.h>
#include <sys/ioctl.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#ifndef P_PIDFD
#define P_PIDFD idtype_t(3)
#endif

namespace ssi {

Result<Pidfd> Pidfd::open(pid_t pid) {
    int fd = int(::syscall(SYS_pidfd_open, pid, 0));
    if (fd < 0) return sys_error("pidfd_open", "pid " + std::to_string(pid));
    return Pidfd(UniqueFd(fd), pid);
}

Result<Pidfd> Pidfd::open_thread(pid_t tid) {
    constexpr unsigned kPidfdThread = O_EXCL;  // PIDFD_THREAD, not in Debian 12's headers
    int fd = int(::syscall(SYS_pidfd_open, tid, kPidfdThread));
    if (fd < 0) return sys_error("pidfd_open", "thread " + std::to_string(tid));
    return Pidfd(UniqueFd(fd), tid);
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

namespace {
// linux/pidfd.h of 6.15, for older headers: the first 64 bytes of struct pidfd_info.
struct PidfdInfo {
    uint64_t mask;
    uint64_t cgroupid;
    uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
    int32_t exit_code;
};
constexpr uint64_t kPidfdInfoExit = 1ull << 3;
constexpr unsigned long kPidfdGetInfo = _IOWR(0xFF, 11, PidfdInfo);
}  // namespace

std::optional<int> Pidfd::exit_status() const {
    PidfdInfo info{};
    info.mask = kPidfdInfoExit;
    if (::ioctl(fd_.get(), kPidfdGetInfo, &info) < 0) return std::nullopt;
    if (!(info.mask & kPidfdInfoExit)) return std::nullopt;
    return int(info.exit_code);
}

Result<void> wait_pidfd(int pidfd, pid_t pid) {
    siginfo_t info{};
    for (;;) {
        if (::waitid(P_PIDFD, id_t(pidfd), &info, WEXITED) == 0) return ok();
        if (errno == EINTR) continue;
        if (errno == ECHILD) return ok();  // someone else reaped it: it ended all the same
        return sys_error("waitid(P_PIDFD)", "pid " + std::to_string(pid));
    }
}

Result<void> signal_through_pidfd(int pidfd, int sig, pid_t pid) {
    if (::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) < 0)
        return sys_error("pidfd_send_signal", "pid " + std::to_string(pid));
    return ok();
}

Result<pid_t> pid_of_pidfd(int pidfd) {
    std::string info = TRY(read_file("/proc/self/fdinfo/" + std::to_string(pidfd)));
    auto at = info.find("\nPid:");
    if (at == std::string::npos) return make_error("parse", "fdinfo of pidfd " + std::to_string(pidfd), EIO);
    return pid_t(std::atoi(info.c_str() + at + 5));
}

Result<void> send_signal(pid_t pid, int signal) {
    if (::kill(pid, signal) < 0) return sys_error("kill", "pid " + std::to_string(pid));
    return ok();
}

Result<void> send_thread_signal(pid_t tgid, pid_t tid, int signal) {
    if (::tgkill(tgid, tid, signal) < 0)
        return sys_error("tgkill", "thread " + std::to_string(tid) + " of pid " + std::to_string(tgid));
    return ok();
}

Result<void> queue_signal(pid_t pid, int signal, int64_t value) {
    sigval v{};
    v.sival_ptr = reinterpret_cast<void*>(static_cast<intptr_t>(value));
    if (::sigqueue(pid, signal, v) < 0) return sys_error("sigqueue", "pid " + std::to_string(pid));
    return ok();
}

}  // namespace ssi
