// libssi/zmq_link/zmq_pid: the PID libzmq is told is kept, and a fork's child is told its own.
#include "kern-ext/process.h"

#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

extern "C" pid_t ssi_zmq_getpid();

TEST_CASE("zmq_pid: libzmq is told this process's PID, and a forked child its own", "[zmq_pid]") {
    REQUIRE(ssi_zmq_getpid() == ::getpid());
    REQUIRE(ssi_zmq_getpid() == ::getpid());  // kept now
    auto child = ssi::fork_process();
    REQUIRE(child.ok());
    if (*child == 0) ::_exit(ssi_zmq_getpid() == ::getpid() ? 0 : 1);
    int status = 0;
    REQUIRE(::waitpid(*child, &status, 0) == *child);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(ssi_zmq_getpid() == ::getpid());
}
