#include "ssi-remote/standby_threads.h"

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

namespace ssi::remote {
namespace {

// A waiting thread's one job; an empty job tells it to end unused.
struct Mailbox {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<std::function<void()>> job;
};

struct Standby {
    std::thread thread;
    std::shared_ptr<Mailbox> mailbox;
};

void wait_and_run(Mailbox& mailbox) {
    std::function<void()> job;
    {
        std::unique_lock lock(mailbox.mu);
        mailbox.cv.wait(lock, [&] { return mailbox.job.has_value(); });
        job = std::move(*mailbox.job);
    }
    if (job) job();
}

void give(Standby& standby, std::function<void()> job) {
    {
        std::lock_guard lock(standby.mailbox->mu);
        standby.mailbox->job = std::move(job);
    }
    standby.mailbox->cv.notify_one();
}

class Pool {
public:
    ~Pool() {
        // Those nobody needed end with the process.
        for (Standby& s : waiting_) give(s, {});
        for (Standby& s : waiting_) s.thread.join();
    }

    void start(size_t count) {
        std::lock_guard lock(mu_);
        for (size_t i = 0; i < count; ++i) {
            auto mailbox = std::make_shared<Mailbox>();
            std::thread thread([mailbox] { wait_and_run(*mailbox); });
            waiting_.push_back({std::move(thread), std::move(mailbox)});
        }
    }

    std::optional<Standby> take() {
        std::lock_guard lock(mu_);
        if (waiting_.empty()) return std::nullopt;
        Standby s = std::move(waiting_.back());
        waiting_.pop_back();
        return s;
    }

    size_t size() {
        std::lock_guard lock(mu_);
        return waiting_.size();
    }

private:
    std::mutex mu_;
    std::vector<Standby> waiting_;
};

Pool& pool() {
    static Pool p;
    return p;
}

}  // namespace

void start_standby_threads(size_t count) { pool().start(count); }

std::thread start_thread(std::function<void()> job) {
    auto standby = pool().take();
    if (!standby) return std::thread(std::move(job));
    give(*standby, std::move(job));
    return std::move(standby->thread);
}

size_t standby_threads() { return pool().size(); }

}  // namespace ssi::remote
