#include "ssi-agent/loop_watchdog.h"

#include "kern-ext/thread_wait.h"

#include <spdlog/spdlog.h>

#include <chrono>

namespace ssi::agent {

namespace {
constexpr uint64_t kBeatMs = 200;
constexpr auto kLookEvery = std::chrono::milliseconds(250);
}  // namespace

LoopWatchdog::LoopWatchdog(EventLoop& loop, uint64_t stuck_after_ms)
    : stuck_after_ms_(stuck_after_ms), loop_thread_(current_thread_id()) {
    beat_ = std::make_unique<Timer>(loop, [this] { beats_.fetch_add(1, std::memory_order_relaxed); });
    beat_->start(kBeatMs, kBeatMs);
    watcher_ = std::thread([this] { watch(); });
}

LoopWatchdog::~LoopWatchdog() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    wake_.notify_all();
    watcher_.join();
}

void LoopWatchdog::watch() {
    using Clock = std::chrono::steady_clock;
    uint64_t seen = beats_.load(std::memory_order_relaxed);
    auto changed_at = Clock::now();
    bool reported = false;
    std::unique_lock lock(mu_);
    while (!wake_.wait_for(lock, kLookEvery, [this] { return stopping_; })) {
        auto now = Clock::now();
        uint64_t beats = beats_.load(std::memory_order_relaxed);
        auto still_ms = uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(now - changed_at).count());
        if (beats != seen) {
            if (reported) spdlog::warn("agent: the event loop turns again, after {} ms", still_ms);
            seen = beats;
            changed_at = now;
            reported = false;
        } else if (!reported && still_ms >= stuck_after_ms_) {
            // Said once per stall, while it lasts: where the thread waits is the clue.
            spdlog::warn("agent: the event loop has not turned for {} ms; its thread waits in {}", still_ms,
                         describe_thread_wait(loop_thread_));
            reported = true;
        }
    }
}

}  // namespace ssi::agent
