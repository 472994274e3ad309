// ssi-remote/standby_threads: a job runs on a thread made before it was asked for, and on
// a new one when none waits; either way the caller joins it as its own.
#include "ssi-remote/standby_threads.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <future>

using namespace ssi::remote;

TEST_CASE("standby threads take jobs, then new threads do", "[standby_threads]") {
    const size_t before = standby_threads();
    start_standby_threads(2);
    REQUIRE(standby_threads() == before + 2);

    // The job runs on the very thread handed back, one that was waiting already.
    std::promise<std::thread::id> ran_on;
    std::thread first = start_thread([&] { ran_on.set_value(std::this_thread::get_id()); });
    CHECK(standby_threads() == before + 1);
    CHECK(ran_on.get_future().get() == first.get_id());
    first.join();

    std::atomic<int> runs{0};
    std::thread second = start_thread([&] { ++runs; });
    CHECK(standby_threads() == before);
    // None waits now: a new thread runs it, and is joined the same way.
    std::thread third = start_thread([&] { ++runs; });
    CHECK(standby_threads() == before);
    second.join();
    third.join();
    CHECK(runs == 2);
}
