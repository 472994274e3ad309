// shell/ssi-run/output_writer: the deputy's output thread writes in order, counts only the
// current supervisor's bytes, says when its reader is gone, and leaves nothing unwritten.
#include "shell/ssi-run/output_writer.h"

#include "kern-ext/files.h"
#include "kern-ext/process.h"

#include "tests/support/pipe_lines.h"

#include <catch2/catch.hpp>

#include <poll.h>
#include <signal.h>

#include <string>

using namespace ssi;
using ssi::test::read_to_end;
using namespace ssi::run;

namespace {

zmq::message_t bytes(const std::string& s) { return zmq::message_t(s.data(), s.size()); }

// Waits for the writer's news (what the deputy's poll does).
OutputWriter::News next_news(OutputWriter& w) {
    pollfd p{w.news_fd(), POLLIN, 0};
    REQUIRE(::poll(&p, 1, 5000) == 1);
    return w.take_news();
}

}  // namespace

TEST_CASE("output writer: in order, counted per session, all out at finish", "[output_writer]") {
    auto ends = make_pipe();
    REQUIRE(ends);
    auto& [reader, writer] = *ends;
    OutputWriter w;
    w.write(writer.get(), bytes("one "));
    w.write(writer.get(), bytes("two "), /*counted=*/false);  // a supervisor that has left
    w.write(writer.get(), bytes("three "));
    OutputWriter::News news;
    while (news.written < 10) news = next_news(w);
    CHECK(news.written == 10);  // "one " and "three ", not "two "
    CHECK_FALSE(news.reader_gone);
    w.new_session();
    w.write(writer.get(), bytes("four"));
    w.finish();
    CHECK(w.take_news().written == 4);
    writer.reset();
    CHECK(read_to_end(reader.get()) == "one two three four");
}

TEST_CASE("output writer: a stalled reader blocks only its thread; a reader gone is news", "[output_writer]") {
    auto previous = ::signal(SIGPIPE, SIG_IGN);  // the deputy blocks it; here it must not kill the tests
    auto ends = make_pipe();
    REQUIRE(ends);
    auto& [reader, writer] = *ends;
    OutputWriter w;
    // Far more than the pipe holds: the thread blocks, the caller does not.
    std::string big(1 << 20, 'x');
    for (int i = 0; i < 4; ++i) w.write(writer.get(), bytes(big));
    pollfd p{w.news_fd(), POLLIN, 0};
    ::poll(&p, 1, 200);
    CHECK(w.take_news().written < 4u << 20);
    reader.reset();  // the reader goes away: the blocked write fails with EPIPE
    OutputWriter::News news;
    while (!news.reader_gone) news = next_news(w);
    CHECK(news.reader_gone);
    w.finish();  // the rest fails at once: finish returns
    ::signal(SIGPIPE, previous);
}
