// kern-ext/process: spawn_process, how the agent starts supervisors.
#include "kern-ext/files.h"
#include "kern-ext/process.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <string>

using namespace ssi;

TEST_CASE("a spawned program reads the given stdin, in a session of its own", "[spawn]") {
    auto [in_read, in_write] = make_pipe().value();
    auto [out_read, out_write] = make_pipe().value();
    // The child writes its session id and what it read to a pipe it inherits by number.
    const std::string script = "read line; echo \"$(cut -d' ' -f6 /proc/$$/stat) $line\" >&" +
                               std::to_string(out_write.get());
    REQUIRE(::fcntl(out_write.get(), F_SETFD, 0) == 0);
    auto pid = spawn_process("/bin/sh", {"sh", "-c", script}, {.stdin_fd = in_read.get(), .new_session = true});
    REQUIRE(pid.ok());
    out_write.reset();
    in_read.reset();
    REQUIRE(write_all(in_write.get(), std::string("hello\n")).ok());
    in_write.reset();
    auto status = wait_process(*pid);
    REQUIRE(status.ok());
    CHECK(status->shell_status() == 0);
    std::string out;
    char buf[256];
    while (auto n = read_some(out_read.get(), buf)) {
        if (*n == 0) break;
        out.append(buf, *n);
    }
    CHECK(out == std::to_string(*pid) + " hello\n");  // a session leader: its sid is its pid
}

TEST_CASE("a spawn that cannot exec is the caller's error, with its errno", "[spawn]") {
    auto missing = spawn_process("/nonexistent/ssi-remote", {"ssi-remote"});
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().err == ENOENT);
    auto not_a_program = spawn_process("/dev/null", {"null"});
    REQUIRE_FALSE(not_a_program.ok());
    CHECK(not_a_program.error().err == EACCES);
}
