// ssi-remote/syscall_dispatch: a program launched with the dispatch's rules (through
// kern-ext/remote_launch, as the supervisor does) has its calls answered by the handlers
// registered for them, and everything else let through. Needs root.
#include "kern-ext/files.h"
#include "kern-ext/process.h"
#include "kern-ext/remote_launch.h"
#include "ssi-remote/syscall_dispatch.h"

#include "tests/support/pipe_lines.h"

#include <catch2/catch.hpp>

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <string>

using namespace ssi;
using ssi::test::read_to_end;
using namespace ssi::remote;

TEST_CASE("SyscallDispatch: handlers answer the launched program's calls", "[seccomp][launch][root]") {
    if (::geteuid() != 0) {
        WARN("not root: dispatch tests skipped");
        return;
    }
    std::atomic<int> forks{0};
    SyscallDispatch dispatch;
    // Process creation is counted and let through; threads are not intercepted at all.
    auto count_and_continue = [&](const SyscallNotification& n, const SyscallListener& l) {
        forks++;
        REQUIRE(l.continue_call(n.id).ok());
    };
    dispatch.add(SyscallRule::notify(SYS_clone, SyscallRule::MaskedEqual{0, CLONE_THREAD, 0}), count_and_continue);
    dispatch.add(SyscallRule::notify(SYS_fork), count_and_continue);
    dispatch.add(SyscallRule::notify(SYS_vfork), count_and_continue);
    dispatch.add(SyscallRule::fail(SYS_clone3, ENOSYS));
    // A notify rule nobody handles: let through.
    dispatch.add(SyscallRule::notify(SYS_getppid));
    CHECK(dispatch.rules().size() == 5);

    auto out = make_pipe().value();
    LaunchSpec spec;
    spec.program = "sh";
    spec.argv = {"sh", "-c", "/bin/true; (exit 3); echo status $? ppid $PPID"};
    spec.env = {"PATH=/usr/bin:/bin"};
    spec.pid = 4711;
    spec.ppid = 4700;
    spec.stdout_fd = out.second.get();
    spec.syscall_rules = dispatch.rules();
    auto process = RemoteProcess::launch(spec);
    if (!process) FAIL(process.error().message());
    out.second.reset();
    UniqueFd listener = process->take_syscall_listener();
    REQUIRE(listener.valid());
    CHECK_FALSE(process->take_syscall_listener().valid());  // once
    REQUIRE(dispatch.start(std::move(listener)).ok());

    CHECK(read_to_end(out.first.get()) == "status 3 ppid 4700\n");
    auto exit = process->wait();
    REQUIRE(exit.ok());
    CHECK(exit->code == 0);
    CHECK(forks >= 2);  // the command and the subshell
    dispatch.stop();
}

TEST_CASE("remote launch without syscall rules has no listener", "[seccomp][launch][root]") {
    if (::geteuid() != 0) return;
    LaunchSpec spec;
    spec.program = "true";
    spec.argv = {"true"};
    spec.env = {"PATH=/usr/bin:/bin"};
    spec.pid = 4711;
    spec.ppid = 4700;
    auto process = RemoteProcess::launch(spec);
    if (!process) FAIL(process.error().message());
    CHECK_FALSE(process->take_syscall_listener().valid());
    CHECK(process->wait().ok());
}
