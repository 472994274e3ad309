// OutputWriter: the program's output, written out at home on a thread of its own. The
// deputy's loop hands it each output frame and goes on; a reader that does not read (a
// pager, `| sleep`, a stopped job) blocks only this thread, so signals sent to the deputy
// (kill, timeout, Ctrl-C) still reach the program, and keepalives still flow, while its
// output waits. How much is queued is bounded by the supervisor's output window
// (wire::OutputTaken), which the deputy reports from written().
#pragma once

#include "kern-ext/unique_fd.h"

#include <zmq.hpp>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>

namespace ssi::run {

class OutputWriter {
public:
    OutputWriter();
    ~OutputWriter();  // finish()
    OutputWriter(const OutputWriter&) = delete;
    OutputWriter& operator=(const OutputWriter&) = delete;

    // Queues `bytes` for `fd`, in order with everything queued before; `counted`: in
    // written() once out (not what a supervisor that has left sent last).
    void write(int fd, zmq::message_t bytes, bool counted = true);
    // Readable (poll) when bytes were written out or a write found its reader gone; the
    // owner clears it with take_news().
    int news_fd() const { return news_.get(); }
    struct News {
        uint64_t written = 0;     // bytes written since the last new_session()
        bool reader_gone = false;  // a write failed with EPIPE since the last call
    };
    News take_news();
    // From now on written() counts from zero (a new supervisor: its own window).
    void new_session();
    // Returns once everything queued is written (or failed); then the thread has ended:
    // the process is single-threaded again (a deputy about to park or exit).
    void finish();

private:
    struct Item {
        int fd;
        zmq::message_t bytes;
        uint64_t session;
    };
    void run();

    std::mutex mutex_;
    std::condition_variable queued_;
    std::deque<Item> queue_;
    uint64_t session_ = 0, written_ = 0;
    bool reader_gone_ = false, stopping_ = false;
    UniqueFd news_;
    std::thread thread_;
};

}  // namespace ssi::run
