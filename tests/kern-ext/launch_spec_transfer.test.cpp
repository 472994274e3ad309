// kern-ext/launch_spec_transfer: a LaunchSpec through bytes, for a reaper forked ahead (its
// trip through the socket is tested with the launch, tests/kern-ext/remote_launch.test.cpp),
// and the compiled system call filter that follows it.
#include "kern-ext/launch_spec_transfer.h"

#include "kern-ext/fd_passing.h"

#include <catch2/catch.hpp>

#include <sys/syscall.h>

using namespace ssi;

namespace {

LaunchSpec full_spec() {
    LaunchSpec s;
    s.root = "/run/ssi/remote-42";
    s.binds = {{"/dev", "/dev"}, {"/sys", "/sys"}};
    s.optional_binds = {{"/run/ssi/agent.sock", "/run/ssi/agent.sock"}};
    s.cwd = "/home/user/work dir";
    s.argv = {"sh", "-c", std::string("echo \0x", 8), ""};
    s.env = {"PATH=/usr/bin", "LANG=C.UTF-8"};
    s.program = "/bin/sh";
    s.uid = 1000;
    s.gid = 100;
    s.groups = {100, 27, 65534};
    s.umask = 027;
    s.rlimits = {{RLIMIT_NOFILE, rlimit{256, 4096}}, {RLIMIT_CORE, rlimit{RLIM_INFINITY, RLIM_INFINITY}}};
    s.pid = 4711;
    s.ppid = 4700;
    s.stdin_fd = 5;  // not encoded: descriptors travel as descriptors
    s.hostname = "node-2";
    s.controlling_terminal = true;
    s.park = true;
    s.syscall_rules = {SyscallRule::notify(SYS_openat), SyscallRule::fail(SYS_ptrace, EPERM),
                       SyscallRule::notify(SYS_clone, SyscallRule::MaskedEqual{0, 0x10000, 0}),
                       SyscallRule::notify(SYS_tgkill, SyscallRule::differs_from(0, 4711))};
    return s;
}

}  // namespace

TEST_CASE("launch spec transfer: every field survives the trip", "[launch-spec]") {
    LaunchSpec in = full_spec();
    auto out = decode_launch_spec(encode_launch_spec(in));
    REQUIRE(out.ok());
    CHECK(out->root == in.root);
    CHECK(out->binds == in.binds);
    CHECK(out->optional_binds == in.optional_binds);
    CHECK(out->cwd == in.cwd);
    CHECK(out->argv == in.argv);
    CHECK(out->env == in.env);
    CHECK(out->program == in.program);
    CHECK(out->uid == in.uid);
    CHECK(out->gid == in.gid);
    CHECK(out->groups == in.groups);
    CHECK(out->umask == in.umask);
    REQUIRE(out->rlimits.size() == 2);
    CHECK(out->rlimits[0].first == RLIMIT_NOFILE);
    CHECK(out->rlimits[0].second.rlim_cur == 256);
    CHECK(out->rlimits[0].second.rlim_max == 4096);
    CHECK(out->rlimits[1].second.rlim_cur == RLIM_INFINITY);
    CHECK(out->pid == 4711);
    CHECK(out->ppid == 4700);
    CHECK(out->hostname == "node-2");
    CHECK(out->controlling_terminal);
    CHECK(out->park);
    CHECK(out->stdin_fd == -1);
    REQUIRE(out->syscall_rules.size() == 4);
    CHECK(out->syscall_rules[0].nr == SYS_openat);
    CHECK(out->syscall_rules[0].action == SyscallRule::Action::notify);
    CHECK_FALSE(out->syscall_rules[0].when);
    CHECK(out->syscall_rules[1].action == SyscallRule::Action::fail);
    CHECK(out->syscall_rules[1].err == EPERM);
    REQUIRE(out->syscall_rules[2].when);
    CHECK(out->syscall_rules[2].when->mask == 0x10000);
    CHECK(out->syscall_rules[2].when->value == 0);
    CHECK_FALSE(out->syscall_rules[2].when->differs);
    REQUIRE(out->syscall_rules[3].when);
    CHECK(out->syscall_rules[3].when->differs);
    CHECK(out->syscall_rules[3].when->value == 4711);
}

TEST_CASE("launch spec transfer: damaged bytes are an error", "[launch-spec]") {
    std::string bytes = encode_launch_spec(full_spec());
    CHECK(decode_launch_spec("").error().err == EPROTO);
    CHECK(decode_launch_spec("\xc1 not msgpack").error().err == EPROTO);
    CHECK(decode_launch_spec(std::string_view(bytes).substr(0, bytes.size() / 2)).error().err == EPROTO);
    LaunchSpec odd = full_spec();
    odd.syscall_rules = {SyscallRule{SYS_openat, SyscallRule::Action(7), 0, std::nullopt}};
    CHECK(decode_launch_spec(encode_launch_spec(odd)).error().err == EPROTO);
}

TEST_CASE("launch spec transfer: a compiled filter follows the spec", "[launch-spec]") {
    auto [launcher, reaper] = make_message_pair().value();
    SyscallFilter sent = compile_syscall_filter(full_spec().syscall_rules).value();
    REQUIRE(sent.notifies);
    REQUIRE(!sent.program.empty());
    REQUIRE(send_syscall_filter(launcher.get(), sent));
    SyscallFilter got = receive_syscall_filter(reaper.get()).value();
    CHECK(got.program == sent.program);
    CHECK(got.notifies);

    // Rules that only fail make no listener, and that survives the trip too.
    REQUIRE(send_syscall_filter(launcher.get(), compile_syscall_filter(std::vector{SyscallRule::fail(SYS_ptrace, EPERM)}).value()));
    CHECK_FALSE(receive_syscall_filter(reaper.get()).value().notifies);

    // A launcher that gave up closes the socket: the program is told, it does not wait.
    launcher.reset();
    auto none = receive_syscall_filter(reaper.get());
    REQUIRE_FALSE(none);
    CHECK(none.error().err == EPROTO);
}

TEST_CASE("a filter that is no BPF program is refused before seccomp(2)", "[launch-spec]") {
    SyscallFilter torn{std::string(13, '\0'), true};  // not a whole number of instructions
    auto installed = torn.install();
    REQUIRE_FALSE(installed);
    CHECK(installed.error().err == EINVAL);
    CHECK(installed.error().call == "seccomp filter");
}
