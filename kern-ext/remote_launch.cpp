#include "kern-ext/remote_launch.h"

#include "kern-ext/clone3.h"
#include "kern-ext/fd_passing.h"
#include "kern-ext/files.h"
#include "kern-ext/launch_root.h"
#include "kern-ext/launch_spec_transfer.h"
#include "kern-ext/namespace_pids.h"
#include "kern-ext/namespaces.h"
#include "kern-ext/program_setup.h"
#include "kern-ext/terminal.h"
#include "kern-ext/unix_socket.h"

#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <vector>


namespace ssi {
namespace {

// What the processes inside tell the launcher. Fixed size and under PIPE_BUF, so one
// write() is one report, never interleaved.
enum class ReportKind : int32_t { failed = 1, started = 2, exited = 3, stopped = 4, continued = 5, listener = 6 };
struct Report {
    ReportKind kind{};
    int32_t err = 0;
    int32_t wait_status = 0;  // exited: the program's raw wait status
    char call[64] = {};
    char context[512] = {};
};
static_assert(sizeof(Report) <= PIPE_BUF);

std::span<const char> bytes_of(const Report& r) { return {reinterpret_cast<const char*>(&r), sizeof r}; }
std::span<char> bytes_of(Report& r) { return {reinterpret_cast<char*>(&r), sizeof r}; }

Report failure_report(const Error& e) {
    Report r;
    r.kind = ReportKind::failed;
    r.err = e.err;
    std::strncpy(r.call, e.call.c_str(), sizeof r.call - 1);
    std::strncpy(r.context, e.context.c_str(), sizeof r.context - 1);
    return r;
}

Error error_of(const Report& r) {
    return Error{std::string(r.call, strnlen(r.call, sizeof r.call)), r.err,
                 std::string(r.context, strnlen(r.context, sizeof r.context))};
}

// The descriptors the processes inside report through.
struct Channels {
    int exec_report;  // pipe, close-on-exec: one failure Report, or EOF once the program exec'd
    int control;      // socket: Report{started} with the program's pidfd, then Report{exited};
                      // and from the program Report{listener} with its seccomp listener
    int next_pid;     // socket: the launcher's next-PID requests, served by the reaper
};

// Exit status of the reaper or stub when they fail; the Report says why.
constexpr int kLaunchFailed = 125;

[[noreturn]] void fail_child(const Channels& ch, const Error& e, int status) {
    (void)write_all(ch.exec_report, bytes_of(failure_report(e)));
    exit_child(status);
}

void must(const Channels& ch, const Result<void>& r) {
    if (!r) fail_child(ch, r.error(), kLaunchFailed);
}

void close_stdio_sources(const LaunchSpec& spec) {
    for (int fd : {spec.stdin_fd, spec.stdout_fd, spec.stderr_fd})
        if (fd >= 0) ::close(fd);
}

// The stub's report of the program's stops and continues (LaunchSpec::controlling_terminal).
std::function<void(int)> stop_reporter(int report_to) {
    if (report_to < 0) return {};
    return [report_to](int status) {
        Report change;
        change.kind = WIFSTOPPED(status) ? ReportKind::stopped : ReportKind::continued;
        change.wait_status = status;
        (void)send_message(report_to, bytes_of(change));
    };
}

Result<void> check_open(int fd, const char* what) {
    if (fd < 0) return ok();
    if (::fcntl(fd, F_GETFD) < 0) return sys_error("fcntl(F_GETFD)", std::string(what) + " fd " + std::to_string(fd));
    return ok();
}

// ---- inside: the program, its stub parent, the namespace's reaper ----------------------

// LaunchSpec::park: instead of exec'ing, wait as root, one thread, every signal held, for
// a restore to rebuild a saved process in us (kern-ext/checkpoint restore_into). Closing
// the exec pipe tells the launcher we are ready, as a successful exec would.
[[noreturn]] void park(const LaunchSpec& spec, const Channels& ch) {
    must(ch, change_dir(spec.cwd.empty() ? "/" : spec.cwd));
    sigset_t all;
    sigfillset(&all);
    if (auto mask = set_signal_mask(SIG_BLOCK, all); !mask) fail_child(ch, mask.error(), kLaunchFailed);
    ::syscall(SYS_close_range, 3u, ~0u, 0u);
    for (;;) ::pause();
}

[[noreturn]] void run_program(const LaunchSpec& spec, const Channels& ch) {
    // While signals are still blocked: taking the foreground from the background would
    // otherwise stop us with SIGTTOU.
    if (spec.controlling_terminal) must(ch, lead_foreground_group(spec.stdin_fd));
    must(ch, reset_signals());
    must(ch, install_stdio(spec.stdin_fd, spec.stdout_fd, spec.stderr_fd));
    must(ch, close_on_exec_from(3));
    for (const auto& [resource, limit] : spec.rlimits) must(ch, set_resource_limit(resource, limit));
    set_umask(spec.umask);
    // Interposition while still root (no no_new_privs needed, set-uid programs keep
    // working) and before a park: a process restored into the parked one keeps it.
    if (!spec.syscall_rules.empty()) {
        auto listener = install_syscall_filter(spec.syscall_rules);
        if (!listener) fail_child(ch, listener.error(), kLaunchFailed);
        Report report;
        report.kind = ReportKind::listener;
        if (auto sent = send_message(ch.control, bytes_of(report), listener->get()); !sent)
            fail_child(ch, sent.error(), kLaunchFailed);
        listener->reset();
    }
    // Credentials before chdir and exec: the home filesystem checks them, not root's.
    if (spec.park) park(spec, ch);
    must(ch, set_identity(spec.uid, spec.gid, spec.groups));
    must(ch, change_dir(spec.cwd.empty() ? "/" : spec.cwd));
    Error e = exec_program(spec.program, spec.argv, spec.env);
    fail_child(ch, e, exec_failure_status(e.err));
}

// The program's parent, wearing the home parent's PID: starts it, hands its pidfd out,
// waits for it and reports how it ended.
[[noreturn]] void run_stub(const LaunchSpec& spec, const Channels& ch) {
    // The terminal's session is the stub's: the program's process group then has a parent
    // in another group of its session, so it is not orphaned and Ctrl-Z can stop it.
    if (spec.controlling_terminal) must(ch, take_controlling_terminal(spec.stdin_fd));
    // Next-PID requests are the reaper's to serve (unless the reaper is the stub itself).
    bool reaper = ::getpid() == 1;
    if (!reaper) ::close(ch.next_pid);
    auto program = clone_process({.set_tid = spec.pid, .want_pidfd = true});
    if (!program) fail_child(ch, program.error(), kLaunchFailed);
    if (program->pid == 0) run_program(spec, ch);

    Report started;
    started.kind = ReportKind::started;
    if (auto sent = send_message(ch.control, bytes_of(started), program->pidfd.get()); !sent) {
        ::kill(program->pid, SIGKILL);
        fail_child(ch, sent.error(), kLaunchFailed);
    }
    program->pidfd.reset();
    // Only the program holds the exec pipe and its stdio now: EOF means exec'd, and the
    // program's readers see EOF when it (and what it started) closes them.
    ::close(ch.exec_report);
    close_stdio_sources(spec);

    auto status = reap_until(program->pid, stop_reporter(spec.controlling_terminal ? ch.control : -1),
                             reaper ? ch.next_pid : -1);
    if (!status) exit_child(kLaunchFailed);
    Report exited;
    exited.kind = ReportKind::exited;
    exited.wait_status = *status;
    exit_child(send_message(ch.control, bytes_of(exited)) ? 0 : kLaunchFailed);
}

// PID 1 of the new namespace: builds the program's world, starts the stub and lives as
// long as it does. When it exits the kernel kills everything left in the namespace.
[[noreturn]] void run_reaper(const LaunchSpec& spec, Channels ch) {
    // Only the program's stdio and the channels stay open in here.
    must(ch, close_fds_except({spec.stdin_fd, spec.stdout_fd, spec.stderr_fd, ch.exec_report, ch.control, ch.next_pid}));
    for (int* fd : {&ch.exec_report, &ch.control, &ch.next_pid}) {
        auto moved = move_above_stdio(*fd);
        if (!moved) fail_child(ch, moved.error(), kLaunchFailed);
        if (*moved != *fd) ::close(std::exchange(*fd, *moved));
    }
    // Default dispositions first: a launcher ignoring SIGCHLD would have the stub and the
    // program auto-reaped, their statuses lost.
    must(ch, reset_signals());
    // Out of the launcher's session, so its terminal's signals do not reach the program;
    // every signal blocked here and in the stub (pid 1 ignores most anyway, and a
    // program signalling its "parent" must not kill the stub).
    auto session = new_session();
    if (!session) fail_child(ch, session.error(), kLaunchFailed);
    sigset_t all;
    sigfillset(&all);
    auto mask = set_signal_mask(SIG_BLOCK, all);
    if (!mask) fail_child(ch, mask.error(), kLaunchFailed);

    must(ch, unshare_namespaces(CLONE_NEWNS | (spec.hostname.empty() ? 0 : CLONE_NEWUTS)));
    if (!spec.hostname.empty()) must(ch, set_hostname(spec.hostname));
    must(ch, enter_root(spec.root, spec.binds, spec.optional_binds));

    // The home parent is init: the reaper is the parent itself.
    if (spec.ppid == 1) run_stub(spec, ch);
    auto stub = clone_process({.set_tid = spec.ppid});
    if (!stub) fail_child(ch, stub.error(), kLaunchFailed);
    if (stub->pid == 0) run_stub(spec, ch);
    ::close(ch.exec_report);
    ::close(ch.control);
    close_stdio_sources(spec);
    exit_child(reap_until(stub->pid, {}, ch.next_pid) ? 0 : kLaunchFailed);
}

// A reaper forked ahead (RemoteProcess::prepare): waits for its spec, then is a reaper.
[[noreturn]] void await_spec(Channels ch, int spec_socket, int launcher_pidfd) {
    ::prctl(PR_SET_NAME, "ssi-reaper");  // not taken for its launcher by `ps -C` or `pgrep -x`
    must(ch, set_parent_death_signal(SIGKILL));
    // The launcher may have died before the line above: then nobody would kill us.
    if (auto gone = wait_readable(launcher_pidfd, 0); !gone || *gone) exit_child(kLaunchFailed);
    // Nothing of the launcher's stays open in here (its sockets, its pidfd ...).
    must(ch, close_fds_except({ch.exec_report, ch.control, ch.next_pid, spec_socket}));
    auto spec = receive_launch_spec(spec_socket);
    if (!spec) fail_child(ch, spec.error(), kLaunchFailed);
    if (!*spec) exit_child(0);
    ::close(spec_socket);
    run_reaper(**spec, ch);
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

Result<ReadyReaper> RemoteProcess::prepare() {
    Pidfd launcher = TRY(Pidfd::open(::getpid()));
    auto [exec_read, exec_write] = TRY(make_pipe());
    auto [control_here, control_there] = TRY(make_message_pair());
    auto [next_pid_here, next_pid_there] = TRY(make_message_pair());
    auto [spec_here, spec_there] = TRY(make_message_pair());

    pid_t reaper = TRY(fork_in_new_pid_namespace());
    if (reaper == 0)
        await_spec(Channels{exec_write.get(), control_there.get(), next_pid_there.get()}, spec_there.get(),
                   launcher.fd());
    ReadyReaper ready;
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
    // One that died waiting (killed from outside: its end of the socket is closed) is replaced.
    if (!ready.reaper_ || !send_launch_spec(ready.spec_.get(), spec)) {
        ready = TRY(prepare());
        TRY(send_launch_spec(ready.spec_.get(), spec));
    }
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
