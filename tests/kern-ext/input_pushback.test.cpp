// kern-ext/input_pushback: input read ahead of its consumer is read again, first, from the
// same descriptor number — from a file, a pipe and a terminal.
#include "kern-ext/input_pushback.h"

#include "kern-ext/file_ops.h"
#include "kern-ext/files.h"
#include "kern-ext/process.h"
#include "kern-ext/terminal.h"

#include "tests/support/pipe_lines.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <cstdlib>

using namespace ssi;
using ssi::test::read_to_end;

TEST_CASE("input pushed back into a file is read again from where its consumer stopped", "[input_pushback]") {
    char path[] = "/tmp/ssi-pushback-XXXXXX";
    UniqueFd fd(::mkstemp(path));
    REQUIRE(fd);
    ::unlink(path);
    REQUIRE(write_all(fd.get(), std::string_view("0123456789")));
    REQUIRE(::lseek(fd.get(), 0, SEEK_SET) == 0);
    char ahead[8];
    REQUIRE(*read_some(fd.get(), ahead) == 8);  // the consumer took "0123" of these
    auto back = push_back_input(fd.get(), std::string_view(ahead + 4, 4));
    REQUIRE(back);
    CHECK(*back == PushedBack::seek);
    CHECK(read_to_end(fd.get()) == "456789");
}

TEST_CASE("input pushed back into a pipe comes first, then the rest of the pipe, then its end", "[input_pushback]") {
    auto ends = make_pipe();
    REQUIRE(ends);
    auto& [reader, writer] = *ends;
    REQUIRE(write_all(writer.get(), std::string_view("abcdefgh")));
    char ahead[8];
    REQUIRE(*read_some(reader.get(), ahead) == 8);  // the consumer took "abc"
    const int number = reader.get();
    auto back = push_back_input(number, std::string_view(ahead + 3, 5));
    REQUIRE(back);
    CHECK(*back == PushedBack::feeder);
    // What the original's writer sends afterwards follows, and its close is the end.
    REQUIRE(write_all(writer.get(), std::string_view("-tail")));
    writer.reset();
    CHECK(read_to_end(number) == "defgh-tail");
}

TEST_CASE("in place only: a pipe is refused with ESPIPE and left as it was", "[input_pushback]") {
    auto ends = make_pipe();
    REQUIRE(ends);
    auto& [reader, writer] = *ends;
    const int number = reader.get();
    struct stat before {};
    REQUIRE(::fstat(number, &before) == 0);
    auto back = push_back_input(number, "abc", PushBack::in_place);
    REQUIRE_FALSE(back);
    CHECK(back.error().err == ESPIPE);
    struct stat after {};
    REQUIRE(::fstat(number, &after) == 0);
    CHECK(after.st_ino == before.st_ino);  // still the original pipe: no feeder
}

TEST_CASE("a reader that closes early ends the feeder; an empty push-back changes nothing", "[input_pushback]") {
    auto previous = ::signal(SIGPIPE, SIG_IGN);  // our writes to a pipe without readers
    auto ends = make_pipe();
    REQUIRE(ends);
    auto& [reader, writer] = *ends;
    const int number = reader.get();
    CHECK(*push_back_input(number, "") == PushedBack::seek);  // nothing to give back: untouched
    REQUIRE(*push_back_input(number, "x") == PushedBack::feeder);
    char one;
    REQUIRE(*read_some(number, std::span<char>(&one, 1)) == 1);
    CHECK(one == 'x');
    reader.reset();  // the feeder's next write fails (EPIPE): it is gone, holding nothing
    REQUIRE(write_all(writer.get(), std::string_view("more")));
    // Its only hold on the original's read end went with it: our writer sees no reader.
    for (int i = 0; i < 200; ++i) {
        if (::write(writer.get(), "z", 1) < 0) break;
        ::usleep(10'000);
    }
    CHECK(::write(writer.get(), "z", 1) < 0);
    ::signal(SIGPIPE, previous);
}

TEST_CASE("input pushed back into a terminal is in its input queue", "[input_pushback]") {
    auto pty = Pty::open();
    REQUIRE(pty);
    termios t = *terminal_attributes(pty->slave());
    t.c_lflag &= ~(ICANON | ECHO);
    REQUIRE(set_terminal_attributes(pty->slave(), t));
    auto back = push_back_input(pty->slave(), "typed");
    if (!back && back.error().err == EPERM) {
        WARN("TIOCSTI is not allowed here (dev.tty.legacy_tiocsti=0 and no CAP_SYS_ADMIN)");
        return;
    }
    REQUIRE(back);
    CHECK(*back == PushedBack::terminal);
    char buf[16];
    auto n = read_some(pty->slave(), buf);
    REQUIRE(n);
    CHECK(std::string(buf, *n) == "typed");
}
