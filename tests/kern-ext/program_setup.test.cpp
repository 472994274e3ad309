// kern-ext/program_setup: what a launched program starts with.
#include "kern-ext/process.h"
#include "kern-ext/program_setup.h"

#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

using namespace ssi;

namespace {

void on_signal(int) {}
void on_signal_info(int, siginfo_t*, void*) {}

// In a child: how many signals are not at their default action.
int signals_not_default() {
    int n = 0;
    for (int s = 1; s < NSIG; ++s) {
        struct sigaction current {};
        if (::sigaction(s, nullptr, &current) < 0) continue;
        if ((current.sa_flags & SA_SIGINFO) || current.sa_handler != SIG_DFL) ++n;
    }
    return n;
}

}  // namespace

// The launcher ignores SIGPIPE and may catch others; the program must start with none of
// that (an ignored signal stays ignored across exec).
TEST_CASE("reset_signals leaves every signal at its default action, and none blocked", "[program_setup]") {
    auto pid = fork_process();
    REQUIRE(pid.ok());
    if (*pid == 0) {
        ::signal(SIGPIPE, SIG_IGN);
        ::signal(SIGUSR1, on_signal);
        struct sigaction with_info {};
        with_info.sa_sigaction = on_signal_info;
        with_info.sa_flags = SA_SIGINFO;
        ::sigaction(SIGRTMIN + 3, &with_info, nullptr);
        sigset_t blocked;
        sigemptyset(&blocked);
        sigaddset(&blocked, SIGTERM);
        ::sigprocmask(SIG_BLOCK, &blocked, nullptr);
        if (signals_not_default() < 3) exit_child(10);  // Catch2's own handlers come on top
        if (!reset_signals()) exit_child(11);
        if (signals_not_default() != 0) exit_child(12);
        sigset_t now;
        ::sigprocmask(SIG_BLOCK, nullptr, &now);
        exit_child(sigismember(&now, SIGTERM) ? 13 : 0);
    }
    auto status = wait_process(*pid);
    REQUIRE(status.ok());
    CHECK(status->shell_status() == 0);
}
