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
    auto [ready_read, ready_write] = make_pipe().value();
    pid_t owner = ::fork();
    REQUIRE(owner >= 0);
    if (owner == 0) {
        read_end.reset();
        ready_read.reset();
        int fd = write_end.get();
        if (!hold_past_exit(std::span<const int>(&fd, 1))) ::_exit(10);
        if (::fcntl(fd, F_GETFD) < 0) ::_exit(11);  // ours stays usable
        write_end.reset();
        other_write.reset();
        ready_write.reset();  // says: held, and ours closed
        ::pause();
        ::_exit(12);
    }
    write_end.reset();
    other_write.reset();
    ready_write.reset();
    CHECK(writers_gone(ready_read.get(), 5000));
    // The detached process holds no copy of the owner's other descriptors.
    CHECK(writers_gone(other_read.get(), 0));
    // Ours and the owner's are closed: only the detached copy is left, held while the owner lives.
    CHECK_FALSE(writers_gone(read_end.get(), 200));
    ::kill(owner, SIGKILL);
    int status = 0;
    REQUIRE(::waitpid(owner, &status, 0) == owner);
    CHECK(WIFSIGNALED(status));
    CHECK(writers_gone(read_end.get(), 5000));
}

TEST_CASE("detached_close: a slow-close descriptor is held past exit_now's exit", "[detached_close]") {
    auto [read_end, write_end] = make_pipe().value();
    auto [ready_read, ready_write] = make_pipe().value();
    pid_t owner = ::fork();
    REQUIRE(owner >= 0);
    if (owner == 0) {
        read_end.reset();
        ready_read.reset();
        int fd = ::dup(write_end.get());
        write_end.reset();
        SlowCloseFd slow{UniqueFd(fd)};
        hold_slow_closes_past_exit();  // what exit_now() does first
        ::close(slow.get());  // as our exit would (this process is killed, never unwound)
        ready_write.reset();
        ::pause();
        ::_exit(12);
    }
    write_end.reset();
    ready_write.reset();
    CHECK(writers_gone(ready_read.get(), 5000));
    CHECK_FALSE(writers_gone(read_end.get(), 200));  // the detached copy
    ::kill(owner, SIGKILL);
    REQUIRE(::waitpid(owner, nullptr, 0) == owner);
    CHECK(writers_gone(read_end.get(), 5000));
}
