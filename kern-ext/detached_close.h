// Last closes that wait for the kernel, moved off the caller's path.
//
// The last close of an inotify instance waits for the kernel to destroy its marks: an
// SRCU grace period, 4–24 ms here (fsnotify_destroy_group flushes the system-wide mark
// reaper, so even an instance without marks waits while another process's are reaped).
// A process pays it at its exit too, before its parent's wait returns: that was most of
// a short `ssi-run`'s time. These hand the last reference to a detached process — a
// grandchild sharing our memory, holding nothing else, reaped by init — which pays the
// wait on its own time. It costs two clones in shared memory (tens of µs).
#pragma once

#include "kern-ext/result.h"
#include "kern-ext/unique_fd.h"

#include <span>
#include <vector>

namespace ssi {

// Closes `fds` here now; their last references go in a detached process, which starts
// with a copy of our whole table and trims it at once (for a moment it also holds our
// other descriptors). When none can be made (no memory, a process limit), they are
// closed here, waiting.
void close_detached(std::vector<UniqueFd> fds);

// A detached process takes copies of `fds`, and nothing else of ours, and holds them
// until this process has ended, so that its exit drops no last reference; ours stay open
// and usable.
Result<void> hold_past_exit(std::span<const int> fds);

// A descriptor whose last close waits (an inotify instance): while it lives, exit_now()
// and die_of_signal() hand it to hold_past_exit() first; when it goes, it is closed
// detached.
class SlowCloseFd {
public:
    SlowCloseFd() = default;
    explicit SlowCloseFd(UniqueFd fd);
    SlowCloseFd(SlowCloseFd&& other) noexcept : fd_(std::move(other.fd_)) {}
    SlowCloseFd& operator=(SlowCloseFd&&) = delete;
    ~SlowCloseFd();

    int get() const { return fd_.get(); }
    explicit operator bool() const { return fd_.valid(); }

private:
    UniqueFd fd_;
};

// Hands every live SlowCloseFd to hold_past_exit(): for the way out of a process that
// ends without running destructors.
void hold_slow_closes_past_exit();

}  // namespace ssi
