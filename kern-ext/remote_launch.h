// Running a program on this node as though it were still at home ("transparent remote
// execution"). The program wears its home identity: getpid() is the home deputy's PID,
// getppid() the home parent's, with the caller's credentials, umask, limits, environment
// and cwd, in the home filesystem (a FUSE root) with this node's /proc, /dev and /sys.
//
//   launcher ── fork into a new PID namespace ──▶ reaper  (pid 1; mount + UTS namespace;
//                                                   forked ahead, it waits for its spec)
//                                                   └─ clone3(set_tid = ppid) ─▶ stub
//                                                        └─ clone3(set_tid = pid) ─▶ program
//
// The reaper dies with the launcher (PR_SET_PDEATHSIG) and takes the namespace with it;
// the stub is the program's parent, waits for it and reports its status to the launcher.
// See docs/remote-exec.md, "Identity and launching".
#pragma once

#include "kern-ext/pidfd.h"
#include "kern-ext/process.h"
#include "kern-ext/result.h"
#include "kern-ext/syscall_filter.h"
#include "kern-ext/unique_fd.h"

#include <sys/resource.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ssi {

struct LaunchSpec {
    std::string root;  // dir to pivot into; "" keeps "/"
    // host path -> path under root ("/dev" -> "/dev"); "/proc" is mounted fresh, not bound.
    std::vector<std::pair<std::string, std::string>> binds;
    // The same, left out when the path under root does not exist.
    std::vector<std::pair<std::string, std::string>> optional_binds;
    std::string cwd;  // inside root; "" = "/"
    std::vector<std::string> argv;
    std::vector<std::string> env;  // "NAME=value"
    std::string program;           // resolved inside root; without '/', searched in env's PATH
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;
    mode_t umask = 022;
    std::vector<std::pair<int, rlimit>> rlimits;
    pid_t pid = 0;   // home PID to wear; not 1
    pid_t ppid = 0;  // home parent's PID; 1 makes the reaper the parent
    int stdin_fd = -1, stdout_fd = -1, stderr_fd = -1;  // become 0, 1, 2; -1 = /dev/null
    std::string hostname;  // optional: a UTS namespace with this name
    // stdin_fd is a terminal (a pty slave) that becomes the program's controlling terminal:
    // the stub leads a session of its own holding it, and the program leads a process group
    // of that session, the terminal's foreground one — not orphaned, so the terminal's
    // Ctrl-Z stops it. The stub then reports the program's stops and continues
    // (RemoteProcess::next_change).
    bool controlling_terminal = false;
    // Do not exec: the program's process waits, still root, in pause() with every signal
    // blocked and only stdio open, for a restore to rebuild a migrated process in it
    // (restore_into); it already wears pid and ppid. `program` and `argv` are unused.
    bool park = false;
    // System calls the program (and everything it starts) has intercepted: the program
    // installs the filter on itself while still root, before a park, and its listener is
    // handed to the launcher (RemoteProcess::take_syscall_listener). Empty: no filter.
    std::vector<SyscallRule> syscall_rules;
};

// The program's root, as a LaunchSpec names it: known before the run when the root is a
// mount made ahead (a spare supervisor's), so that a reaper forked then builds it at once.
struct ReaperRoot {
    std::string root;
    std::vector<std::pair<std::string, std::string>> binds;
    std::vector<std::pair<std::string, std::string>> optional_binds;
    bool operator==(const ReaperRoot&) const = default;
};

// A reaper forked before its run is known, waiting in its new PID namespace for the spec
// (RemoteProcess::prepare). Forking a launcher that is busy — other threads running,
// handshakes on the other CPU — cost 2.5-4 ms here, and the child was scheduled 1-3 ms
// later: made while the launcher is idle and single-threaded, a launch only wakes it.
// It joins the mount namespace its launcher is in at the launch, not at the fork, as
// long as the launcher stays in the one it forked from. Dropped unused, it is killed
// and reaped; it dies with the thread that made it, as a launched reaper does.
class ReadyReaper {
public:
    ReadyReaper(ReadyReaper&& other) noexcept;
    ReadyReaper& operator=(ReadyReaper&& other) noexcept;
    ReadyReaper(const ReadyReaper&) = delete;
    ReadyReaper& operator=(const ReadyReaper&) = delete;
    ~ReadyReaper();
    pid_t pid() const { return reaper_ ? reaper_->pid() : 0; }

private:
    friend class RemoteProcess;
    ReadyReaper() = default;
    void kill_and_reap();

    std::optional<Pidfd> reaper_;
    std::optional<ReaperRoot> root_;  // the root it built before its spec, if any
    UniqueFd spec_;       // the spec goes in here
    UniqueFd exec_read_;  // one failure Report, or EOF once the program exec'd
    UniqueFd control_;    // the stub's reports (RemoteProcess::control_)
    UniqueFd next_pid_;   // the reaper's next-PID service
};

// How the program ended. Derives from ExitStatus so shell_status()/describe() apply.
struct ProgramExit : ExitStatus {
    bool core_dumped = false;
};

// For a launch() error: the shell's status when the program could not be executed (127 not
// found, 126 found but not runnable), nullopt when the failure was elsewhere (a mount, a
// PID already taken ...).
std::optional<int> exec_failure_shell_status(const Error& error);

class RemoteProcess {
public:
    // Returns once the program has been exec'd, or with the first error on the way:
    // "execve" errors carry the errno and path (see exec_failure_shell_status); others the
    // step that failed. The PIDs are checked first: pid 1 and pid == ppid are refused.
    static Result<RemoteProcess> launch(const LaunchSpec& spec);
    // The same in a reaper forked earlier; should it have died waiting, in a new one.
    static Result<RemoteProcess> launch(const LaunchSpec& spec, ReadyReaper reaper);
    // Forks a reaper for a later launch (ReadyReaper). Call it from the thread that will
    // live as long as the launched program should. Given `root`, the reaper makes its
    // mount namespace and enters that root before its spec comes (the spec's own root
    // must then be the same, or the launch uses a fresh reaper): unshare, binds, /proc
    // and pivot_root off the start — 1-2 ms here. Its lookups in a FUSE root not yet
    // served wait until it is; the root must be mounted before this call.
    static Result<ReadyReaper> prepare(std::optional<ReaperRoot> root = std::nullopt);

    RemoteProcess(RemoteProcess&& other) noexcept;
    RemoteProcess& operator=(RemoteProcess&& other) noexcept;
    RemoteProcess(const RemoteProcess&) = delete;
    RemoteProcess& operator=(const RemoteProcess&) = delete;
    // Kills the whole namespace (SIGKILL to its pid 1) and reaps it, unless it already
    // ended or was released.
    ~RemoteProcess();

    // To the program itself, through its pidfd (it sees the signal as sent by PID 0).
    Result<void> signal(int sig) const;
    // Readable when everything has ended: the program, the stub, and whatever the program
    // left running (the namespace ends with the program).
    int pidfd() const;
    // The reaper's PID and the program's, in the launcher's PID namespace.
    pid_t reaper_pid() const;
    pid_t program_pid() const { return program_pid_; }
    // Blocks until everything ended; the program's exit code or signal. Repeatable.
    Result<ProgramExit> wait();
    // How the program ended, as soon as its stub reported it (next_change() said `ended`
    // after reading the report) — before the namespace has finished going away, which
    // takes the kernel a few ms more (unmounting, RCU). nullopt until then.
    std::optional<ProgramExit> reported_exit() const;
    // Leaves it running after this object is gone; the caller then reaps reaper_pid().
    void release() { released_ = true; }

    // With LaunchSpec::controlling_terminal, the stub reports when the program stops and
    // continues. changes_fd() is readable when next_change() has news; next_change() does
    // not block (none: nothing yet; ended: the stub reported the end or is gone, and
    // changes_fd() need not be watched any more).
    enum class Change { none, stopped, continued, ended };
    int changes_fd() const { return control_.get(); }
    Result<Change> next_change();

    // The listener of LaunchSpec::syscall_rules' filter (invalid without rules); once.
    UniqueFd take_syscall_listener() { return std::move(syscall_listener_); }
    // The next process (or thread) created in the program's namespace gets `pid`, if it
    // is free: the reaper writes the namespace's ns_last_pid. Whoever creates one next
    // takes it; callers serialize. May be called from another thread than the others.
    Result<void> set_next_pid(pid_t pid, int timeout_ms = 1000);

private:
    // launch() of a checked spec.
    static Result<RemoteProcess> start(const LaunchSpec& spec, ReadyReaper ready);
    RemoteProcess(Pidfd reaper, UniqueFd control) : reaper_(std::move(reaper)), control_(std::move(control)) {}
    void kill_and_reap();

    std::optional<Pidfd> reaper_;
    UniqueFd control_;        // the stub's reports
    UniqueFd program_pidfd_;  // received from the stub
    UniqueFd syscall_listener_;  // received from the program
    UniqueFd next_pid_;          // the reaper serves next-PID requests here
    pid_t program_pid_ = 0;
    std::optional<ProgramExit> result_;
    std::optional<int> exit_status_;  // the stub's exited report, once next_change() read it
    bool control_closed_ = false;
    bool reaped_ = false;
    bool released_ = false;
};

}  // namespace ssi
