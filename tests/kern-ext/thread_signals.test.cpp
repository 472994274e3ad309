// kern-ext/thread_signals: a signal counts as waiting for a thread only when it is pending,
// not blocked and not ignored — what decides whether a held system call is let go.
#include "kern-ext/thread_signals.h"

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace ssi;

namespace {

void on_usr1(int) {}

// A child that stops itself with SIGUSR1 handled, SIGUSR2 blocked and SIGWINCH ignored:
// signals sent to it while it is stopped stay pending.
pid_t stopped_child() {
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        ::signal(SIGUSR1, on_usr1);
        ::signal(SIGWINCH, SIG_IGN);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGUSR2);
        ::sigprocmask(SIG_BLOCK, &set, nullptr);
        ::raise(SIGSTOP);
        ::_exit(0);
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, WUNTRACED) == child);
    REQUIRE(WIFSTOPPED(status));
    return child;
}

}  // namespace

TEST_CASE("thread_signals: pending, not blocked, not ignored", "[sockets]") {
    pid_t child = stopped_child();
    CHECK_FALSE(deliverable_signal_pending(child).value());
    ::kill(child, SIGUSR2);  // blocked
    ::kill(child, SIGWINCH);  // ignored (not even queued)
    CHECK_FALSE(deliverable_signal_pending(child).value());
    ::kill(child, SIGUSR1);  // handled: it would run now
    CHECK(deliverable_signal_pending(child).value());
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    CHECK_FALSE(deliverable_signal_pending(child).ok());  // gone
}
