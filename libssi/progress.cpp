#include "libssi/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace ssi {
namespace {
constexpr auto kFirstDraw = std::chrono::milliseconds(300);
constexpr auto kRedraw = std::chrono::milliseconds(100);
constexpr int kWidth = 30;
}  // namespace

WatchedProgress::WatchedProgress(std::string label, uint64_t expected, std::function<uint64_t()> probe)
    : label_(std::move(label)), expected_(expected), probe_(std::move(probe)) {
    if (!::isatty(STDERR_FILENO)) return;
    thread_ = std::thread([this] {
        auto start = std::chrono::steady_clock::now();
        std::unique_lock lock(mutex_);
        for (auto next = start + kFirstDraw; !stopping_.wait_until(lock, next, [this] { return stop_; });) {
            auto now = std::chrono::steady_clock::now();
            next = now + kRedraw;
            draw(probe_(), std::chrono::duration<double>(now - start).count());
        }
    });
}

WatchedProgress::~WatchedProgress() { finish(); }

void WatchedProgress::finish() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    stopping_.notify_one();
    if (thread_.joinable()) thread_.join();
    if (drawn_) std::fputs("\r\033[K", stderr);
    drawn_ = false;
}

void WatchedProgress::draw(uint64_t done, double seconds) {
    const double mib = double(done) / (1 << 20);
    if (expected_ > 0) {
        // The expectation is an estimate (the process's resident size): never claim 100 %
        // before the job says it is over.
        double fraction = std::min(0.99, double(done) / double(expected_));
        int filled = int(fraction * kWidth);
        std::fprintf(stderr, "\r%s [%.*s%*s] %3d%% %.0f/%.0f MiB %.1fs\033[K", label_.c_str(), filled,
                     "##############################", kWidth - filled, "", int(fraction * 100), mib,
                     double(expected_) / (1 << 20), seconds);
    } else {
        std::fprintf(stderr, "\r%s %.0f MiB %.1fs\033[K", label_.c_str(), mib, seconds);
    }
    std::fflush(stderr);
    drawn_ = true;
}

}  // namespace ssi
