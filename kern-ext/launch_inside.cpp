#include "kern-ext/launch_inside.h"

#include "kern-ext/clone3.h"
#include "kern-ext/fd_passing.h"
#include "kern-ext/files.h"
#include "kern-ext/launch_root.h"
#include "kern-ext/launch_spec_transfer.h"
#include "kern-ext/namespace_pids.h"
#include "kern-ext/namespaces.h"
#include "kern-ext/program_setup.h"
#include "kern-ext/remote_launch.h"
#include "kern-ext/terminal.h"
#include "kern-ext/unix_socket.h"

#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <utility>

namespace ssi::launch_inside {
namespace {

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
        auto filter = receive_syscall_filter(ch.filter);
        if (!filter) fail_child(ch, filter.error(), kLaunchFailed);
        ::close(ch.filter);
        auto listener = filter->install();
        if (!listener) fail_child(ch, listener.error(), kLaunchFailed);
        Report report;
        report.kind = ReportKind::listener;
        if (auto sent = send_message(ch.control, bytes_of(report), listener->get()); !sent)
            fail_child(ch, sent.error(), kLaunchFailed);
        listener->reset();
    }
    // The reaper finishes the root meanwhile (its optional binds wait for the home files):
    // nothing of the program's own may run in it before.
    if (ch.root_ready >= 0) {
        char byte;
        while (::read(ch.root_ready, &byte, 1) < 0 && errno == EINTR) {
        }
        ::close(ch.root_ready);
    }
    // Credentials before chdir and exec: the home filesystem checks them, not root's.
    if (spec.park) park(spec, ch);
    must(ch, set_identity(spec.uid, spec.gid, spec.groups));
    must(ch, change_dir(spec.cwd.empty() ? "/" : spec.cwd));
    Error e = exec_program(spec.program, spec.argv, spec.env);
    fail_child(ch, e, exec_failure_status(e.err));
}

// The program's start runs in the stub's memory, on a stack of its own, the stub waiting
// for its exec: a copy of the stub's address space made only to be dropped by the exec
// cost 2-3 ms here. A process to be restored in place (park) keeps a copy: it never execs.
alignas(64) std::byte program_start_stack[256 * 1024];

struct ProgramStart {
    const LaunchSpec* spec;
    const Channels* channels;
};

Result<Cloned> start_program(const LaunchSpec& spec, const Channels& ch) {
    CloneOptions options{.set_tid = spec.pid, .want_pidfd = true};
    if (spec.park) {
        Cloned program = TRY(clone_process(options));
        if (program.pid == 0) run_program(spec, ch);
        return program;
    }
    ProgramStart start{&spec, &ch};
    return spawn_in_shared_memory(
        options, [](void* p) { run_program(*static_cast<ProgramStart*>(p)->spec, *static_cast<ProgramStart*>(p)->channels); },
        &start, program_start_stack);
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
    auto program = start_program(spec, ch);
    if (!program) fail_child(ch, program.error(), kLaunchFailed);
    if (ch.filter >= 0) ::close(ch.filter);  // the program's alone
    if (ch.root_ready >= 0) ::close(ch.root_ready);

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
[[noreturn]] void run_reaper(const LaunchSpec& spec, Channels ch, bool root_entered, RootAhead later) {
    // Only the program's stdio, the channels and the root's pending binds stay open in here.
    std::vector<int> keep{spec.stdin_fd, spec.stdout_fd, spec.stderr_fd, ch.exec_report, ch.control, ch.next_pid, ch.filter};
    for (int fd : later.fds()) keep.push_back(fd);
    must(ch, close_fds_except(std::move(keep)));
    for (int* fd : {&ch.exec_report, &ch.control, &ch.next_pid, &ch.filter}) {
        if (*fd < 0) continue;
        auto moved = move_above_stdio(*fd);
        if (!moved) fail_child(ch, moved.error(), kLaunchFailed);
        if (*moved != *fd) ::close(std::exchange(*fd, *moved));
    }
    const int uts = spec.hostname.empty() ? 0 : CLONE_NEWUTS;
    if (root_entered) {
        if (uts) must(ch, unshare_namespaces(uts));
    } else {
        must(ch, unshare_namespaces(CLONE_NEWNS | uts));
    }
    if (!spec.hostname.empty()) must(ch, set_hostname(spec.hostname));
    if (!root_entered) must(ch, enter_root(spec.root, spec.binds, spec.optional_binds));

    // The home parent is init: the reaper is the parent itself.
    if (spec.ppid == 1) {
        must(ch, later.attach());
        later.drop();
        run_stub(spec, ch);
    }
    // The root's optional binds wait for the home files; the stub and the program's own
    // set-up need neither, and go on meanwhile — the program waits for the root only
    // before it runs anything of its own in it (run_program).
    UniqueFd root_done;
    if (later.has_optional_binds()) {
        auto [ready, done] = [&] {
            auto p = make_pipe();
            if (!p) fail_child(ch, p.error(), kLaunchFailed);
            return std::move(*p);
        }();
        // Above stdio, as the channels: the program's own stdio goes there before it reads.
        auto above = move_above_stdio(ready.get());
        if (!above) fail_child(ch, above.error(), kLaunchFailed);
        ch.root_ready = *above != ready.get() ? *above : ready.release();
        root_done = std::move(done);
    }
    auto stub = clone_process({.set_tid = spec.ppid});
    if (!stub) fail_child(ch, stub.error(), kLaunchFailed);
    if (stub->pid == 0) {
        root_done.reset();
        later.drop();
        run_stub(spec, ch);
    }
    if (ch.root_ready >= 0) ::close(ch.root_ready);
    must(ch, later.attach());
    root_done.reset();  // the program goes on
    later.drop();
    ::close(ch.exec_report);
    ::close(ch.control);
    if (ch.filter >= 0) ::close(ch.filter);
    close_stdio_sources(spec);
    exit_child(reap_until(stub->pid, {}, ch.next_pid) ? 0 : kLaunchFailed);
}

}  // namespace

[[noreturn]] void await_spec(Channels ch, int spec_socket, int launcher_pidfd, const ReaperRoot* root) {
    ::prctl(PR_SET_NAME, "ssi-reaper");  // not taken for its launcher by `ps -C` or `pgrep -x`
    must(ch, set_parent_death_signal(SIGKILL));
    // The launcher may have died before the line above: then nobody would kill us.
    if (auto gone = wait_readable(launcher_pidfd, 0); !gone || *gone) exit_child(kLaunchFailed);
    // What needs no spec is done before it comes (a reaper is often forked well ahead).
    // Default dispositions first: a launcher ignoring SIGCHLD would have the stub and the
    // program auto-reaped, their statuses lost.
    must(ch, reset_signals());
    // Out of the launcher's session, so its terminal's signals do not reach the program;
    // every signal blocked here and in the stub (pid 1 ignores most anyway, and a
    // program signalling its "parent" must not kill the stub). SIGKILL, the launcher's
    // way to drop us, cannot be blocked.
    auto session = new_session();
    if (!session) fail_child(ch, session.error(), kLaunchFailed);
    sigset_t all;
    sigfillset(&all);
    auto mask = set_signal_mask(SIG_BLOCK, all);
    if (!mask) fail_child(ch, mask.error(), kLaunchFailed);
    // Nothing of the launcher's stays open in here (its sockets, its pidfd ...).
    must(ch, close_fds_except({ch.exec_report, ch.control, ch.next_pid, spec_socket}));
    // The root, when known ahead: built now, switched into once the spec comes (our root
    // and working directory in an unserved mount would hang whoever looks at them), and
    // its optional binds made then, whose targets are names the run serves.
    RootAhead later;
    if (root) {
        must(ch, unshare_namespaces(CLONE_NEWNS));
        auto entered = enter_root_ahead(root->root, root->binds, root->optional_binds);
        if (!entered) fail_child(ch, entered.error(), kLaunchFailed);
        later = std::move(*entered);
    }
    auto spec = receive_launch_spec(spec_socket);
    if (!spec) fail_child(ch, spec.error(), kLaunchFailed);
    if (!*spec) exit_child(0);
    if (root) must(ch, later.switch_into());
    // Its filter follows on the same socket, for the program to take (send_syscall_filter).
    if ((*spec)->syscall_rules.empty()) ::close(spec_socket);
    else ch.filter = spec_socket;
    run_reaper(**spec, ch, root != nullptr, std::move(later));
}

}  // namespace ssi::launch_inside
