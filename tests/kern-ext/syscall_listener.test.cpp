// kern-ext/syscall_filter + syscall_listener: a real child installs a filter and makes
// the calls; this process answers them through the listener. Needs root (the filter is
// installed without no_new_privs); without it the tests say so and pass vacuously.
#include "kern-ext/fd_passing.h"
#include "kern-ext/files.h"
#include "kern-ext/process.h"
#include "kern-ext/syscall_filter.h"
#include "kern-ext/syscall_listener.h"

#include <catch2/catch.hpp>

#include <poll.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <string>

using namespace ssi;

namespace {

bool have_root() {
    if (::geteuid() == 0) return true;
    WARN("not root: seccomp listener tests skipped");
    return false;
}

constexpr int kMagicFd = 99;

// The child: installs the rules, sends its listener over `sock`, makes one call of each
// kind and writes what each returned (value or -errno) to `out`, one line per call.
[[noreturn]] void child_calls(int sock, int out) {
    const SyscallRule rules[] = {
        SyscallRule::notify(SYS_getppid),
        // write() to fd 99 only: the child's other writes are not intercepted.
        SyscallRule::notify(SYS_write, SyscallRule::MaskedEqual{0, ~0ull, kMagicFd}),
        SyscallRule::notify(SYS_getpgid),
        SyscallRule::notify(SYS_dup),
        SyscallRule::fail(SYS_clone3, ENOSYS),
        // getsid() of another process only: the child's own (0) is not intercepted.
        SyscallRule::notify(SYS_getsid, SyscallRule::differs_from(0, 0)),
    };
    auto listener = install_syscall_filter(rules);
    if (!listener || !*listener) exit_child(3);
    if (!send_message(sock, std::span<const char>("L", 1), listener->get())) exit_child(4);
    listener->reset();
    auto result = [](long r) { return std::to_string(r < 0 ? -errno : r) + "\n"; };
    std::string lines;
    lines += result(::syscall(SYS_getppid));
    lines += result(::syscall(SYS_write, kMagicFd, "hello", 5));
    lines += result(::syscall(SYS_getpgid, 0));  // answered with a descriptor
    long added = std::stol(lines.substr(lines.rfind('\n', lines.size() - 2) + 1));
    if (added >= 0) (void)!::write(int(added), "via added fd", 12);
    lines += result(::syscall(SYS_dup, 1));
    lines += result(::syscall(SYS_clone3, nullptr, 0));
    lines += result(::syscall(SYS_getsid, 0));
    lines += result(::syscall(SYS_getsid, 1));
    (void)!::write(out, lines.data(), lines.size());
    exit_child(0);
}

SyscallNotification next(const SyscallListener& l) {
    pollfd p{l.fd(), POLLIN, 0};
    REQUIRE(::poll(&p, 1, 5000) == 1);
    auto n = l.receive();
    REQUIRE(n.ok());
    return *n;
}

}  // namespace

TEST_CASE("SyscallListener answers a child's intercepted calls", "[seccomp][root]") {
    if (!have_root()) return;
    auto [sock_here, sock_there] = make_message_pair().value();
    auto [out_read, out_write] = make_pipe().value();
    auto [added_read, added_write] = make_pipe().value();
    pid_t child = fork_process().value();
    if (child == 0) child_calls(sock_there.get(), out_write.get());
    sock_there.reset();
    out_write.reset();

    char tag;
    auto got = receive_message(sock_here.get(), std::span<char>(&tag, 1));
    REQUIRE(got.ok());
    REQUIRE(got->fd.valid());
    SyscallListener listener(std::move(got->fd));
    // Harmless where the kernel lacks it (before 6.6).
    if (auto sync = listener.set_sync_wakeup(); !sync) WARN(sync.error().message());

    SECTION("value, memory, descriptor, continue and errno rules") {
        auto ppid = next(listener);
        CHECK(ppid.nr == SYS_getppid);
        CHECK(ppid.pid == child);
        CHECK(listener.is_valid(ppid.id));
        REQUIRE(listener.reply(ppid.id, 4242).ok());
        CHECK_FALSE(listener.is_valid(ppid.id));
        // Answered once: a second answer is refused (EINPROGRESS while the kernel still
        // holds the answered notification, ENOENT once the caller took it).
        auto again = listener.reply(ppid.id, 1);
        REQUIRE_FALSE(again.ok());
        CHECK((again.error().err == ENOENT || again.error().err == EINPROGRESS));

        auto write = next(listener);
        CHECK(write.nr == SYS_write);
        CHECK(write.args[0] == uint64_t(kMagicFd));
        char buf[5];
        auto n = listener.read_memory(write, write.arg_addr(1), std::span<char>(buf, sizeof buf));
        REQUIRE(n.ok());
        CHECK(std::string(buf, *n) == "hello");
        REQUIRE(listener.fail(write.id, EXDEV).ok());

        auto pgid = next(listener);
        CHECK(pgid.nr == SYS_getpgid);
        auto fd = listener.add_fd(pgid.id, added_write.get(), true, true);
        REQUIRE(fd.ok());
        CHECK(*fd >= 0);
        added_write.reset();

        auto dup = next(listener);
        CHECK(dup.nr == SYS_dup);
        REQUIRE(listener.continue_call(dup.id).ok());

        auto sid = next(listener);  // getsid(1); getsid(0) went by
        CHECK(sid.nr == SYS_getsid);
        CHECK(sid.args[0] == 1);
        REQUIRE(listener.reply(sid.id, 777).ok());

        auto status = wait_process(child);
        REQUIRE(status.ok());
        CHECK(status->code == 0);
        std::string lines = read_file("/proc/self/fd/" + std::to_string(out_read.get())).value_or("");
        // getppid's answer, write's errno, the added fd's number, dup's real result, clone3's errno.
        CHECK(lines.rfind("4242\n-" + std::to_string(EXDEV) + "\n" + std::to_string(*fd) + "\n", 0) == 0);
        CHECK(lines.find("\n-" + std::to_string(ENOSYS) + "\n" + std::to_string(::getsid(0)) + "\n777\n") !=
              std::string::npos);
        char via[32] = {};
        CHECK(::read(added_read.get(), via, sizeof via) == 12);
        CHECK(std::string(via) == "via added fd");
    }

    SECTION("a notification whose caller died is no longer valid") {
        auto ppid = next(listener);
        ::kill(child, SIGKILL);
        (void)wait_process(child);
        CHECK_FALSE(listener.is_valid(ppid.id));
        CHECK(listener.reply(ppid.id, 1).error().err == ENOENT);
        char buf[4];
        CHECK_FALSE(listener.read_memory(ppid, RemoteAddr{ppid.ip}, std::span<char>(buf, sizeof buf)).ok());
    }
}

TEST_CASE("install_syscall_filter without rules installs nothing", "[seccomp]") {
    auto fd = install_syscall_filter({});
    REQUIRE(fd.ok());
    CHECK_FALSE(fd->valid());
}

namespace {
void ignore_signal(int) {}
}  // namespace

// Regression (a shell's fork failed with EINTR): once received, a call waits for its
// answer through signals that have handlers without SA_RESTART, as a real fork would.
TEST_CASE("a received notification is not interrupted by a signal", "[seccomp][root]") {
    if (!have_root()) return;
    auto [sock_here, sock_there] = make_message_pair().value();
    auto [out_read, out_write] = make_pipe().value();
    pid_t child = fork_process().value();
    if (child == 0) {
        struct sigaction sa {};
        sa.sa_handler = ignore_signal;  // no SA_RESTART
        ::sigaction(SIGUSR1, &sa, nullptr);
        const SyscallRule rules[] = {SyscallRule::notify(SYS_getppid)};
        auto listener = install_syscall_filter(rules);
        if (!listener || !send_message(sock_there.get(), std::span<const char>("L", 1), listener->get())) exit_child(3);
        listener->reset();
        long r = ::syscall(SYS_getppid);
        std::string line = std::to_string(r < 0 ? -errno : r);
        (void)!::write(out_write.get(), line.data(), line.size());
        exit_child(0);
    }
    out_write.reset();
    char tag;
    auto got = receive_message(sock_here.get(), std::span<char>(&tag, 1));
    REQUIRE(got.ok());
    SyscallListener listener(std::move(got->fd));
    auto n = next(listener);
    REQUIRE(::kill(child, SIGUSR1) == 0);
    ::usleep(50'000);
    CHECK(listener.reply(n.id, 42).ok());
    REQUIRE(wait_process(child).ok());
    char buf[16] = {};
    CHECK(std::string(buf, size_t(std::max<ssize_t>(0, ::read(out_read.get(), buf, sizeof buf)))) == "42");
}
