// libssi/zmq_calls: ZeroMQ calls made while signals keep landing — as SIGCHLD does in an
// agent whose supervisors come and go — neither throw nor lose or split a message.
#include "libssi/zmq_calls.h"

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/time.h>

#include <array>
#include <atomic>
#include <chrono>
#include <string>

namespace {

std::atomic<long> g_alarms{0};
void count_alarm(int) { g_alarms.fetch_add(1, std::memory_order_relaxed); }

// SIGALRM every 20 µs, without SA_RESTART (libuv's handlers' poll(2) is never restarted
// anyway), until destroyed.
struct AlarmStorm {
    struct sigaction old {};
    AlarmStorm() {
        struct sigaction sa {};
        sa.sa_handler = count_alarm;
        ::sigaction(SIGALRM, &sa, &old);
        itimerval every{{0, 20}, {0, 20}};
        ::setitimer(ITIMER_REAL, &every, nullptr);
    }
    ~AlarmStorm() {
        itimerval off{};
        ::setitimer(ITIMER_REAL, &off, nullptr);
        ::sigaction(SIGALRM, &old, nullptr);
    }
};

}  // namespace

TEST_CASE("zmq_calls: messages cross a storm of signals whole and in order", "[zmq_calls]") {
    zmq::context_t context;
    zmq::socket_t in(context, zmq::socket_type::pair), out(context, zmq::socket_type::pair);
    in.bind("inproc://zmq-calls-test");
    out.connect("inproc://zmq-calls-test");
    AlarmStorm storm;
    int sent = 0, received = 0;
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
    while (std::chrono::steady_clock::now() < until) {
        const std::string n = std::to_string(sent);
        const std::array<zmq::const_buffer, 2> frames = {zmq::buffer(n), zmq::str_buffer("tail")};
        if (ssi::send_frames(out, frames)) ++sent;
        while (ssi::has_input(in)) {
            std::vector<zmq::message_t> got = ssi::receive_queued(in);
            REQUIRE(got.size() == 2);
            REQUIRE(got[0].to_string() == std::to_string(received));
            REQUIRE(got[1].to_string() == "tail");
            ++received;
        }
    }
    INFO(g_alarms.load() << " signals during " << sent << " messages");
    CHECK(g_alarms.load() > 1000);
    CHECK(received == sent);
}
