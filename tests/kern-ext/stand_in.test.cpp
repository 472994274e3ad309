// kern-ext/stand_in: a process that holds a PID, reports its signals and exits as told.
#include "kern-ext/files.h"
#include "kern-ext/process.h"
#include "kern-ext/stand_in.h"

#include <catch2/catch.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

using namespace ssi;

namespace {

StandInSignal next_signal(int fd) {
    pollfd p{fd, POLLIN, 0};
    REQUIRE(::poll(&p, 1, 5000) == 1);
    StandInSignal record;
    REQUIRE(::read(fd, &record, sizeof record) == sizeof record);
    return record;
}

int raw_status(pid_t pid) {
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    return status;
}

}  // namespace

TEST_CASE("stand-in", "[stand_in]") {
    auto [signals_read, signals_write] = make_pipe().value();
    auto s = fork_stand_in(signals_write.get());
    REQUIRE(s.ok());
    // Its name is how the home agent knows it.
    auto comm = [&] { return read_file("/proc/" + std::to_string(s->pid) + "/comm").value_or(""); };
    for (int i = 0; i < 100 && comm() != std::string(kStandInName) + "\n"; ++i) ::usleep(10'000);
    CHECK(comm() == std::string(kStandInName) + "\n");

    SECTION("reports the signals it gets, and is not killed by them") {
        for (int sig : {SIGUSR1, SIGTERM, SIGINT, SIGCHLD}) {
            REQUIRE(::kill(s->pid, sig) == 0);
            auto r = next_signal(signals_read.get());
            CHECK(r.pid == s->pid);
            CHECK(r.signal == sig);
        }
        REQUIRE(end_stand_in(*s, 0x0300).ok());  // exit(3)
        int status = raw_status(s->pid);
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 3);
    }

    SECTION("dies of the signal its real process died of") {
        REQUIRE(end_stand_in(*s, SIGSEGV).ok());
        int status = raw_status(s->pid);
        REQUIRE(WIFSIGNALED(status));
        CHECK(WTERMSIG(status) == SIGSEGV);
        CHECK_FALSE(WCOREDUMP(status));
    }

    SECTION("ends when its parent's end of the command channel closes") {
        s->commands.reset();
        int status = raw_status(s->pid);
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 0);
    }

    SECTION("telling a dead one is an error, not a SIGPIPE") {
        REQUIRE(::kill(s->pid, SIGKILL) == 0);
        (void)raw_status(s->pid);
        auto told = end_stand_in(*s, 0);
        CHECK_FALSE(told.ok());
        CHECK(told.error().err == EPIPE);
    }
}
