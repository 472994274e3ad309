// A progress bar on the caller's terminal for long jobs (large checkpoints and
// migrations): a thread samples how far the job is while the caller waits for the agent's
// answer. Nothing is drawn unless stderr is a terminal.
//
//   WatchedProgress bar("saving 1:4711", expected_bytes, [&] { return bytes_written(); });
//   auto reply = agent.call(...);   // the bar moves meanwhile
//   bar.finish();
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace ssi {

class WatchedProgress {
public:
    // `probe` returns the bytes done so far (0 when unknown); `expected` may be 0 (then
    // only the bytes and the time are shown). The bar appears after a short delay, so
    // quick jobs draw nothing.
    WatchedProgress(std::string label, uint64_t expected, std::function<uint64_t()> probe);
    ~WatchedProgress();
    WatchedProgress(const WatchedProgress&) = delete;
    WatchedProgress& operator=(const WatchedProgress&) = delete;

    // Stops the thread and erases the bar's line.
    void finish();

private:
    void draw(uint64_t done, double seconds);

    std::string label_;
    uint64_t expected_;
    std::function<uint64_t()> probe_;
    std::mutex mutex_;
    std::condition_variable stopping_;  // wakes the drawing thread at once: the tool exits after it
    bool stop_ = false;
    std::atomic<bool> drawn_{false};
    std::thread thread_;
};

}  // namespace ssi
