#include "kern-ext/stand_in.h"

#include "kern-ext/fd_passing.h"
#include "kern-ext/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <string>

namespace ssi {
namespace {

// Closes every descriptor but those in `keep` (sorted).
void close_all_but(int a, int b, int c) {
    int keep[3] = {a, b, c};
    std::sort(keep, keep + 3);
    unsigned from = 0;
    for (int k : keep) {
        if (unsigned(k) > from) ::syscall(SYS_close_range, from, unsigned(k) - 1, 0u);
        from = unsigned(k) + 1;
    }
    ::syscall(SYS_close_range, from, ~0u, 0u);
}

[[noreturn]] void exit_like(int status) {
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        rlimit none{0, 0};
        ::setrlimit(RLIMIT_CORE, &none);  // the core, if any, was dumped where it ran
        struct sigaction dfl {};
        dfl.sa_handler = SIG_DFL;
        ::sigaction(sig, &dfl, nullptr);
        sigset_t one;
        sigemptyset(&one);
        sigaddset(&one, sig);
        ::kill(::getpid(), sig);
        ::sigprocmask(SIG_UNBLOCK, &one, nullptr);
        ::_exit(128 + sig);  // a signal that does not kill
    }
    ::_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 0);
}

[[noreturn]] void stand_in_body(int commands, int signals_out, pid_t parent) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(0);  // the parent died before the line above
    ::prctl(PR_SET_NAME, kStandInName);
    (void)!::chdir("/");  // holds no directory of its parent's busy
    sigset_t all;
    sigfillset(&all);
    ::sigprocmask(SIG_SETMASK, &all, nullptr);
    int signals = ::signalfd(-1, &all, SFD_CLOEXEC);  // SIGKILL and SIGSTOP are ignored by it
    if (signals < 0) ::_exit(125);
    close_all_but(commands, signals_out, signals);
    for (;;) {
        pollfd fds[2] = {{commands, POLLIN, 0}, {signals, POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) continue;
        if (fds[1].revents & POLLIN) {
            signalfd_siginfo info;
            if (::read(signals, &info, sizeof info) == sizeof info) {
                StandInSignal record{int32_t(::getpid()), int32_t(info.ssi_signo)};
                (void)!::write(signals_out, &record, sizeof record);
            }
        }
        if (fds[0].revents) {
            int32_t status = 0;
            ssize_t n = ::read(commands, &status, sizeof status);
            if (n == sizeof status) exit_like(status);
            if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) ::_exit(0);  // the parent is gone
        }
    }
}

}  // namespace

Result<StandIn> fork_stand_in(int signals_out) {
    // A socket, not a pipe: telling a stand-in that was killed meanwhile must not raise
    // SIGPIPE in the deputy (which would forward it to the program).
    auto [command_read, command_write] = TRY(make_message_pair());
    pid_t parent = ::getpid();
    pid_t pid = TRY(fork_process());
    if (pid == 0) stand_in_body(command_read.get(), signals_out, parent);
    return StandIn{pid, std::move(command_write)};
}

Result<void> end_stand_in(const StandIn& stand_in, int wait_status) {
    int32_t status = wait_status;
    if (::send(stand_in.commands.get(), &status, sizeof status, MSG_NOSIGNAL) != sizeof status)
        return sys_error("write", "stand-in " + std::to_string(stand_in.pid));
    return ok();
}

}  // namespace ssi
