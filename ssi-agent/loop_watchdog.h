// LoopWatchdog: says in the log when the agent's loop stops turning, and where its thread
// waits. Everything the agent does runs on that one thread: while it is stuck no peer and
// no local caller is answered, and all they can say is "node N did not answer". A thread
// of its own notices, since the stuck loop cannot.
#pragma once

#include "ssi-agent/event_loop.h"

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>

namespace ssi::agent {

class LoopWatchdog {
public:
    // Built on the loop's thread, which it watches.
    explicit LoopWatchdog(EventLoop& loop, uint64_t stuck_after_ms = 1000);
    ~LoopWatchdog();
    LoopWatchdog(const LoopWatchdog&) = delete;
    LoopWatchdog& operator=(const LoopWatchdog&) = delete;

private:
    void watch();

    const uint64_t stuck_after_ms_;
    const pid_t loop_thread_;
    std::atomic<uint64_t> beats_{0};  // bumped by the loop, read by the watcher
    std::unique_ptr<Timer> beat_;
    std::mutex mu_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread watcher_;
};

}  // namespace ssi::agent
