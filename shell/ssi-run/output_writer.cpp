#include "shell/ssi-run/output_writer.h"

#include "kern-ext/files.h"

#include <cerrno>
#include <utility>

namespace ssi::run {
namespace {
constexpr uint64_t kNotCounted = ~uint64_t(0);
}  // namespace

OutputWriter::OutputWriter() {
    auto news = make_wakeup_fd();
    if (news) news_ = std::move(*news);
    thread_ = std::thread([this] { run(); });
}

OutputWriter::~OutputWriter() { finish(); }

void OutputWriter::write(int fd, zmq::message_t bytes, bool counted) {
    std::lock_guard lock(mutex_);
    queue_.push_back(Item{fd, std::move(bytes), counted ? session_ : kNotCounted});
    queued_.notify_one();
}

OutputWriter::News OutputWriter::take_news() {
    if (news_) clear_wakeup_fd(news_.get());
    std::lock_guard lock(mutex_);
    return News{written_, std::exchange(reader_gone_, false)};
}

void OutputWriter::new_session() {
    std::lock_guard lock(mutex_);
    ++session_;
    written_ = 0;
}

void OutputWriter::finish() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        queued_.notify_one();
    }
    if (thread_.joinable()) thread_.join();
}

void OutputWriter::run() {
    std::unique_lock lock(mutex_);
    for (;;) {
        queued_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, and everything is out
        Item item = std::move(queue_.front());
        queue_.pop_front();
        lock.unlock();
        // A closed stdout is the reader's choice, as at home; the deputy passes the
        // SIGPIPE this thread cannot take (it is blocked here, and our signalfd reads
        // only the main thread's) on to the program.
        auto done = write_all(item.fd, std::span<const char>(item.bytes.data<char>(), item.bytes.size()));
        lock.lock();
        if (item.session == session_) written_ += item.bytes.size();
        if (!done && done.error().err == EPIPE) reader_gone_ = true;
        if (news_) poke_wakeup_fd(news_.get());
    }
}

}  // namespace ssi::run
