// kern-ext/proc_tree: a process's PIDs across namespaces, its children, a zombie's status.
#include "kern-ext/pidfd.h"
#include "kern-ext/proc_tree.h"

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

using namespace ssi;

TEST_CASE("proc_tree", "[proc]") {
    auto self = read_namespace_pids(::getpid());
    REQUIRE(self.ok());
    CHECK(self->tgid == ::getpid());
    CHECK(self->nspids.front() == ::getpid());

    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) ::_exit(7);
    auto pidfd = Pidfd::open(child);
    REQUIRE(pidfd.ok());
    auto kids = read_thread_children(::getpid());
    REQUIRE(kids.ok());
    CHECK(std::find(kids->begin(), kids->end(), child) != kids->end());

    // A zombie shows its status; once reaped, the pidfd does (Linux 6.15+).
    std::optional<int> zombie;
    for (int i = 0; i < 500 && !zombie; ++i) {
        zombie = zombie_wait_status(child);
        if (!zombie) ::usleep(2'000);
    }
    REQUIRE(zombie);
    CHECK(WIFEXITED(*zombie));
    CHECK(WEXITSTATUS(*zombie) == 7);
    CHECK_FALSE(zombie_wait_status(::getpid()));  // running, not a zombie
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK_FALSE(zombie_wait_status(child));
    if (auto after = pidfd->exit_status()) CHECK(*after == status);
    else WARN("PIDFD_INFO_EXIT not available (Linux < 6.15)");
}

TEST_CASE("the process a pidfd held by a thread refers to", "[proc]") {
    pid_t child = ::fork();
    if (child == 0) {
        ::pause();
        ::_exit(0);
    }
    auto pidfd = Pidfd::open(child);
    REQUIRE(pidfd.ok());
    auto pid = innermost_pid_of_pidfd(::getpid(), pidfd->fd());
    REQUIRE(pid.ok());
    CHECK(*pid == child);  // no nested namespace: its only PID
    CHECK(innermost_pid_of_pidfd(::getpid(), STDERR_FILENO).error().err == EBADF);
    ::kill(child, SIGKILL);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK(innermost_pid_of_pidfd(::getpid(), pidfd->fd()).error().err == ESRCH);
}
