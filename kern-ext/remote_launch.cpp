#include "kern-ext/remote_launch.h"

#include "kern-ext/clone3.h"
#include "kern-ext/fd_passing.h"
#include "kern-ext/files.h"
#include "kern-ext/launch_inside.h"
#include "kern-ext/launch_spec_transfer.h"
#include "kern-ext/namespace_pids.h"
#include "kern-ext/namespaces.h"
#include "kern-ext/program_setup.h"
#include "kern-ext/unix_socket.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <optional>
#include <vector>

namespace ssi {
namespace {

using namespace launch_inside;

Result<void> check_open(int fd, const char* what) {
    if (fd < 0) return ok();
    if (::fcntl(fd, F_GETFD) < 0) return sys_error("fcntl(F_GETFD)", std::string(what) + " fd " + std::to_string(fd));
    return ok();
}

Result<void> check_spec(const LaunchSpec& spec) {
    auto refuse = [&](const std::string& why) { return make_error("launch", why, EINVAL); };
    if (spec.argv.empty() && !spec.park) return refuse("empty argv");
    if (spec.program.empty() && !spec.park) return refuse("empty program");
    if (spec.pid == 1) return refuse("home PID 1: PID 1 of the namespace is its reaper, it cannot be worn");
    if (spec.pid < 1 || spec.ppid < 1)
        return refuse("home PID " + std::to_string(spec.pid) + ", parent " + std::to_string(spec.ppid) + ": must be positive");
    if (spec.pid == spec.ppid) return refuse("home PID and parent PID are both " + std::to_string(spec.pid));
    if (spec.controlling_terminal && spec.stdin_fd < 0) return refuse("a controlling terminal needs a stdin_fd");
    TRY(check_open(spec.stdin_fd, "stdin"));
    TRY(check_open(spec.stdout_fd, "stdout"));
    TRY(check_open(spec.stderr_fd, "stderr"));
    return ok();
}

}  // namespace

std::optional<int> exec_failure_shell_status(const Error& error) {
    if (error.call != "execve") return std::nullopt;
    return exec_failure_status(error.err);
}

Result<ReadyReaper> RemoteProcess::prepare(std::optional<ReaperRoot> root) {
    Pidfd launcher = TRY(Pidfd::open(::getpid()));
    auto [exec_read, exec_write] = TRY(make_pipe());
    auto [control_here, control_there] = TRY(make_message_pair());
    auto [next_pid_here, next_pid_there] = TRY(make_message_pair());
    auto [spec_here, spec_there] = TRY(make_message_pair());

    pid_t reaper = TRY(fork_in_new_pid_namespace());
    if (reaper == 0)
        await_spec(Channels{exec_write.get(), control_there.get(), next_pid_there.get()}, spec_there.get(),
                   launcher.fd(), root ? &*root : nullptr);
    ReadyReaper ready;
    ready.root_ = std::move(root);
    auto reaper_fd = Pidfd::open(reaper);
    if (!reaper_fd) {
        (void)send_signal(reaper, SIGKILL);
        (void)wait_process(reaper);
        return reaper_fd.error();
    }
    ready.reaper_ = std::move(*reaper_fd);
    ready.spec_ = std::move(spec_here);
    ready.exec_read_ = std::move(exec_read);
    ready.control_ = std::move(control_here);
    ready.next_pid_ = std::move(next_pid_here);
    return ready;
}

Result<RemoteProcess> RemoteProcess::launch(const LaunchSpec& spec) {
    TRY(check_spec(spec));  // before a reaper is forked for it
    return start(spec, TRY(prepare()));
}

Result<RemoteProcess> RemoteProcess::launch(const LaunchSpec& spec, ReadyReaper ready) {
    TRY(check_spec(spec));
    return start(spec, std::move(ready));
}

Result<RemoteProcess> RemoteProcess::start(const LaunchSpec& spec, ReadyReaper ready) {
    // One that died waiting (killed from outside: its end of the socket is closed), or
    // that entered another root than this spec's, is replaced.
    const bool same_root = !ready.root_ || *ready.root_ == ReaperRoot{spec.root, spec.binds, spec.optional_binds};
    if (!ready.reaper_ || !same_root || !send_launch_spec(ready.spec_.get(), spec)) {
        ready = TRY(prepare());
        TRY(send_launch_spec(ready.spec_.get(), spec));
    }
    // Compiled while the reaper builds the program's world, not in the program: about a
    // millisecond of a start (launch_spec_transfer.h).
    if (!spec.syscall_rules.empty()) TRY(send_syscall_filter(ready.spec_.get(), TRY(compile_syscall_filter(spec.syscall_rules))));
    ready.spec_.reset();
    UniqueFd exec_read = std::move(ready.exec_read_);
    // From here on, an early return kills and reaps the whole namespace.
    RemoteProcess process(std::move(*std::exchange(ready.reaper_, std::nullopt)), std::move(ready.control_));
    process.next_pid_ = std::move(ready.next_pid_);

    // Either one failure report, or EOF when the program's exec closed the pipe.
    Report failure;
    size_t got = 0;
    for (;;) {
        size_t n = TRY(read_some(exec_read.get(), bytes_of(failure).subspan(got)));
        if (n == 0) break;
        got += n;
        if (got == sizeof failure) return error_of(failure);
    }
    if (got != 0) return make_error("launch", "truncated report from the namespace", EPROTO);

    // The stub's "started" and the program's listener, in either order; both were sent
    // before the exec pipe's EOF.
    bool want_listener = !spec.syscall_rules.empty();
    while (!process.program_pidfd_ || (want_listener && !process.syscall_listener_)) {
        Report report;
        auto message = TRY(receive_message(process.control_.get(), bytes_of(report)));
        if (message.size != sizeof report || !message.fd)
            return make_error("launch", "the namespace ended before the program started");
        if (report.kind == ReportKind::started && !process.program_pidfd_) {
            process.program_pidfd_ = std::move(message.fd);
            process.program_pid_ = pid_of_pidfd(process.program_pidfd_.get()).value_or(0);
        } else if (report.kind == ReportKind::listener && want_listener && !process.syscall_listener_) {
            process.syscall_listener_ = std::move(message.fd);
        } else {
            return make_error("launch", "unexpected report from the namespace", EPROTO);
        }
    }
    return process;
}

ReadyReaper::ReadyReaper(ReadyReaper&& o) noexcept { *this = std::move(o); }

ReadyReaper& ReadyReaper::operator=(ReadyReaper&& o) noexcept {
    if (this != &o) {
        kill_and_reap();
        reaper_ = std::exchange(o.reaper_, std::nullopt);
        root_ = std::exchange(o.root_, std::nullopt);
        spec_ = std::move(o.spec_);
        exec_read_ = std::move(o.exec_read_);
        control_ = std::move(o.control_);
        next_pid_ = std::move(o.next_pid_);
    }
    return *this;
}

ReadyReaper::~ReadyReaper() { kill_and_reap(); }

void ReadyReaper::kill_and_reap() {
    if (!reaper_) return;
    (void)reaper_->send_signal(SIGKILL);
    (void)wait_pidfd(reaper_->fd(), reaper_->pid());
    reaper_.reset();
}

RemoteProcess::RemoteProcess(RemoteProcess&& o) noexcept
    : reaper_(std::exchange(o.reaper_, std::nullopt)),
      control_(std::move(o.control_)),
      program_pidfd_(std::move(o.program_pidfd_)),
      syscall_listener_(std::move(o.syscall_listener_)),
      next_pid_(std::move(o.next_pid_)),
      program_pid_(o.program_pid_),
      result_(o.result_),
      exit_status_(o.exit_status_),
      control_closed_(o.control_closed_),
      reaped_(o.reaped_),
      released_(o.released_) {}

RemoteProcess& RemoteProcess::operator=(RemoteProcess&& o) noexcept {
    if (this != &o) {
        kill_and_reap();
        reaper_ = std::exchange(o.reaper_, std::nullopt);
        control_ = std::move(o.control_);
        program_pidfd_ = std::move(o.program_pidfd_);
        syscall_listener_ = std::move(o.syscall_listener_);
        next_pid_ = std::move(o.next_pid_);
        program_pid_ = o.program_pid_;
        result_ = o.result_;
        exit_status_ = o.exit_status_;
        control_closed_ = o.control_closed_;
        reaped_ = o.reaped_;
        released_ = o.released_;
    }
    return *this;
}

RemoteProcess::~RemoteProcess() { kill_and_reap(); }

void RemoteProcess::kill_and_reap() {
    if (!reaper_ || reaped_ || released_) return;
    // SIGKILL to a namespace's pid 1 kills every process in it.
    (void)reaper_->send_signal(SIGKILL);
    (void)wait_pidfd(reaper_->fd(), reaper_->pid());
    reaped_ = true;
}

Result<void> RemoteProcess::signal(int sig) const {
    if (!program_pidfd_) return make_error("signal", "no program", ESRCH);
    return signal_through_pidfd(program_pidfd_.get(), sig, program_pid_);
}

Result<RemoteProcess::Change> RemoteProcess::next_change() {
    if (exit_status_ || control_closed_) return Change::ended;
    if (!control_ || !TRY(wait_readable(control_.get(), 0))) return Change::none;
    Report report;
    auto message = TRY(receive_message(control_.get(), bytes_of(report)));
    if (message.size == 0) {
        control_closed_ = true;
        return Change::ended;
    }
    if (message.size != sizeof report) return make_error("launch", "malformed report from the stub", EPROTO);
    switch (report.kind) {
    case ReportKind::stopped: return Change::stopped;
    case ReportKind::continued: return Change::continued;
    case ReportKind::exited: exit_status_ = report.wait_status; return Change::ended;
    default: return make_error("launch", "unexpected report from the stub", EPROTO);
    }
}

Result<void> RemoteProcess::set_next_pid(pid_t pid, int timeout_ms) {
    if (!next_pid_) return make_error("next pid", "no namespace", ESRCH);
    return request_next_pid(next_pid_.get(), pid, timeout_ms);
}

int RemoteProcess::pidfd() const { return reaper_ ? reaper_->fd() : -1; }

pid_t RemoteProcess::reaper_pid() const { return reaper_ ? reaper_->pid() : 0; }

std::optional<ProgramExit> RemoteProcess::reported_exit() const {
    if (!exit_status_) return std::nullopt;
    ProgramExit out;
    static_cast<ExitStatus&>(out) = decode_wait_status(*exit_status_);
    out.core_dumped = WIFSIGNALED(*exit_status_) && WCOREDUMP(*exit_status_);
    return out;
}

Result<ProgramExit> RemoteProcess::wait() {
    if (result_) return *result_;
    if (!reaper_) return make_error("wait", "no process", ECHILD);
    if (!reaped_) {
        while (!TRY(wait_readable(reaper_->fd(), -1))) {
        }
        TRY(wait_pidfd(reaper_->fd(), reaper_->pid()));
        reaped_ = true;
    }
    // Stops and continues reported before the end are past news now.
    while (!exit_status_ && !control_closed_) {
        if (TRY(next_change()) == Change::none) break;
    }
    if (!exit_status_) return make_error("wait", "the stub ended without the program's status (killed from outside?)");
    result_ = reported_exit();
    return *result_;
}

}  // namespace ssi
