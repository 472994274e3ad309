// kern-ext/detached_close: last references dropped by a detached process, which holds
// nothing else of ours, and, when asked, holds them until we have ended.
// A pipe's write end stands in for an inotify instance: its reader sees the last close.
#include "kern-ext/detached_close.h"

#include "kern-ext/process.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <utility>

using namespace ssi;

namespace {

// Whether the writers of `read_end` are all gone within `ms` (end of file, or hang-up).
bool writers_gone(int read_end, int ms) {
    pollfd p{read_end, POLLIN, 0};
    if (::poll(&p, 1, ms) <= 0) return false;
    char c;
    return (p.revents & POLLHUP) || ::read(read_end, &c, 1) == 0;
}

// A forked owner of `write_end`: `hand_over` runs in it (false: it failed), its own copy
// is closed, and it waits to be killed. Returns once that is done, our copy closed too.
pid_t start_owner(UniqueFd& read_end, UniqueFd& write_end, const std::function<bool(UniqueFd&)>& hand_over) {
    auto [ready_read, ready_write] = make_pipe().value();
    pid_t owner = ::fork();
    if (owner == 0) {
        read_end.reset();
        ready_read.reset();
        if (!hand_over(write_end)) ::_exit(10);
        write_end.reset();
        ready_write.reset();  // says: handed over, and ours closed
        ::pause();
        ::_exit(12);
    }
    write_end.reset();
    ready_write.reset();
    if (owner > 0) CHECK(writers_gone(ready_read.get(), 5000));
    return owner;
}

// Kills the owner; the detached copy goes once it has ended.
void end_owner(pid_t owner, int read_end) {
    ::kill(owner, SIGKILL);
    int status = 0;
    REQUIRE(::waitpid(owner, &status, 0) == owner);
    CHECK(WIFSIGNALED(status));  // not one of start_owner's failures
    CHECK(writers_gone(read_end, 5000));
}

}  // namespace

TEST_CASE("detached_close: ours close now, the last reference goes elsewhere", "[detached_close]") {
    auto [handed_read, handed_write] = make_pipe().value();
    int handed = handed_write.get();
    std::vector<UniqueFd> fds;
    fds.push_back(std::move(handed_write));
    close_detached(std::move(fds));
    CHECK(::fcntl(handed, F_GETFD) == -1);  // ours is closed
    CHECK(writers_gone(handed_read.get(), 5000));  // and so, soon, is the detached copy
}

TEST_CASE("detached_close: held past our end, and only until then; nothing else held", "[detached_close]") {
    auto [other_read, other_write] = make_pipe().value();  // a number below the held one
    auto [read_end, write_end] = make_pipe().value();
    pid_t owner = start_owner(read_end, write_end, [&](UniqueFd& fd) {
        int n = fd.get();
        bool held = hold_past_exit(std::span<const int>(&n, 1)).ok();
        bool ours_usable = ::fcntl(n, F_GETFD) >= 0;
        other_write.reset();
        return held && ours_usable;
    });
    REQUIRE(owner > 0);
    other_write.reset();
    // The detached process holds no copy of the owner's other descriptors.
    CHECK(writers_gone(other_read.get(), 0));
    // Ours and the owner's are closed: only the detached copy is left, held while the owner lives.
    CHECK_FALSE(writers_gone(read_end.get(), 200));
    end_owner(owner, read_end.get());
}

TEST_CASE("detached_close: a slow-close descriptor is held past exit_now's exit", "[detached_close]") {
    auto [read_end, write_end] = make_pipe().value();
    pid_t owner = start_owner(read_end, write_end, [](UniqueFd& fd) {
        // Never destroyed: this process is killed, never unwound, as exit_now() ends one.
        auto* slow = new SlowCloseFd(UniqueFd(::dup(fd.get())));
        hold_slow_closes_past_exit();  // what exit_now() does first
        ::close(slow->get());  // as our exit would
        return true;
    });
    REQUIRE(owner > 0);
    CHECK_FALSE(writers_gone(read_end.get(), 200));  // the detached copy
    end_owner(owner, read_end.get());
}
