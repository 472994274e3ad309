// kern-ext/clone3: spawn_in_shared_memory, how the stub starts a remote program.
#include "kern-ext/clone3.h"
#include "kern-ext/pidfd.h"
#include "kern-ext/process.h"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <array>
#include <cstddef>
#include <cstdint>

using namespace ssi;

namespace {

alignas(64) std::array<std::byte, 64 * 1024> child_stack;

struct Seen {
    pid_t pid = 0;
    uintptr_t local_at = 0;
    int written = 0;
};

}  // namespace

TEST_CASE("a child spawned in shared memory writes the caller's memory, on its stack, before the caller goes on",
          "[clone3]") {
    Seen seen;
    auto child = spawn_in_shared_memory(
        {.want_pidfd = true},
        [](void* p) {
            auto* s = static_cast<Seen*>(p);
            int local = 0;
            s->local_at = reinterpret_cast<uintptr_t>(&local);
            s->pid = ::getpid();
            s->written = 42;
            exit_child(5);
        },
        &seen, child_stack);
    REQUIRE(child.ok());
    REQUIRE(child->pid > 0);
    // The caller waited for the child's end: its writes are here, without a wait.
    CHECK(seen.written == 42);
    CHECK(seen.pid == child->pid);
    auto begin = reinterpret_cast<uintptr_t>(child_stack.data());
    CHECK(seen.local_at >= begin);
    CHECK(seen.local_at < begin + child_stack.size());
    REQUIRE(child->pidfd);
    CHECK(pid_of_pidfd(child->pidfd.get()).value_or(0) == child->pid);
    auto status = wait_process(child->pid);
    REQUIRE(status.ok());
    CHECK(status->shell_status() == 5);
}

TEST_CASE("a child spawned in shared memory that execs leaves the caller's memory as it was", "[clone3]") {
    int canary = 7;
    auto child = spawn_in_shared_memory(
        {},
        [](void*) {
            char sh[] = "/bin/sh", c[] = "-c", script[] = "exit 3";
            char* argv[] = {sh, c, script, nullptr};
            ::execv("/bin/sh", argv);
            exit_child(127);
        },
        nullptr, child_stack);
    REQUIRE(child.ok());
    CHECK(canary == 7);
    auto status = wait_process(child->pid);
    REQUIRE(status.ok());
    CHECK(status->shell_status() == 3);
}

TEST_CASE("a spawn in shared memory that cannot start is the caller's error", "[clone3]") {
    // PID 1 is taken in this namespace (and asking for it outside of one needs root anyway).
    auto child = spawn_in_shared_memory({.set_tid = 1}, [](void*) { exit_child(0); }, nullptr, child_stack);
    REQUIRE_FALSE(child.ok());
    CHECK(child.error().message().find("clone3") != std::string::npos);
}
