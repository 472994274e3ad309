#include "ssi-agent/loop_watchdog.h"

#include <catch2/catch.hpp>
#include <poll.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <sys/syscall.h>

#include <memory>
#include <string>

using namespace ssi::agent;

namespace {

// The default logger, writing into memory while the test runs.
struct CapturedLog {
    std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64);
    std::shared_ptr<spdlog::logger> before = spdlog::default_logger();
    CapturedLog() { spdlog::set_default_logger(std::make_shared<spdlog::logger>("captured", sink)); }
    ~CapturedLog() { spdlog::set_default_logger(before); }
    std::string text() const {
        std::string all;
        for (auto& line : sink->last_formatted()) all += line;
        return all;
    }
};

}  // namespace

TEST_CASE("a stuck loop is reported with the system call its thread waits in", "[loop_watchdog]") {
    CapturedLog log;
    EventLoop loop;
    {
        LoopWatchdog watchdog(loop, 300);
        // The stall: the loop's thread in poll(2) for 900 ms, as it would be in a blocking call.
        Timer stall(loop, [] { ::poll(nullptr, 0, 900); });
        stall.start(50);
        Timer stop(loop, [&loop] { loop.stop(); });
        stop.start(1400);
        loop.run();
    }
    std::string text = log.text();
    INFO(text);
    CHECK(text.find("the event loop has not turned for") != std::string::npos);
    CHECK(text.find("syscall " + std::to_string(SYS_poll) + " ") != std::string::npos);
    CHECK(text.find("the event loop turns again, after") != std::string::npos);
}

TEST_CASE("a loop that turns is not reported", "[loop_watchdog]") {
    CapturedLog log;
    EventLoop loop;
    {
        LoopWatchdog watchdog(loop, 300);
        Timer stop(loop, [&loop] { loop.stop(); });
        stop.start(1000);
        loop.run();
    }
    CHECK(log.text().find("event loop") == std::string::npos);
}
