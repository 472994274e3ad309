// kern-ext/namespace_pids: the reaper of a launched program's PID namespace sets the next
// PID handed out there on request (RemoteProcess::set_next_pid). Needs root.
#include "kern-ext/files.h"
#include "kern-ext/process.h"
#include "kern-ext/remote_launch.h"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <string>

using namespace ssi;

namespace {

std::string read_line(int fd) {
    std::string out;
    char c;
    for (;;) {
        auto n = read_some(fd, {&c, 1});
        REQUIRE(n.ok());
        if (*n == 0 || c == '\n') return out;
        out += c;
    }
}

}  // namespace

TEST_CASE("RemoteProcess::set_next_pid: the next child in the namespace gets that PID", "[launch][root]") {
    if (::geteuid() != 0) {
        WARN("not root: next-PID tests skipped");
        return;
    }
    // The program tells us it is ready, waits for a line, forks one child that prints its PID.
    auto in = make_pipe().value();
    auto out = make_pipe().value();
    LaunchSpec spec;
    spec.program = "sh";
    spec.argv = {"sh", "-c", "echo ready; read go; sh -c 'echo $$'; read go; sh -c 'echo $$'; read go; true"};
    spec.env = {"PATH=/usr/bin:/bin"};
    spec.pid = 4711;
    spec.ppid = GENERATE(4700, 1);  // with a stub, and with the reaper as the parent
    CAPTURE(spec.ppid);
    spec.stdin_fd = in.first.get();
    spec.stdout_fd = out.second.get();
    auto process = RemoteProcess::launch(spec);
    if (!process) FAIL(process.error().message());
    in.first.reset();
    out.second.reset();
    REQUIRE(read_line(out.first.get()) == "ready");

    REQUIRE(process->set_next_pid(31337).ok());
    REQUIRE(write_all(in.second.get(), "go\n").ok());
    CHECK(read_line(out.first.get()) == "31337");

    // A taken PID: the kernel hands out the next free one instead.
    REQUIRE(process->set_next_pid(4711).ok());
    REQUIRE(write_all(in.second.get(), "go\n").ok());
    CHECK(read_line(out.first.get()) == "4712");

    // Bad requests are refused with an error, not a hang.
    CHECK(process->set_next_pid(1).error().err == EINVAL);
    CHECK(process->set_next_pid(1 << 30).error().err == EINVAL);
    in.second.reset();
    auto exit = process->wait();
    REQUIRE(exit.ok());
    CHECK(exit->code == 0);
    // The namespace is gone: no answer, an error.
    CHECK_FALSE(process->set_next_pid(5000).ok());
}
