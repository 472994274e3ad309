// The target's side of a move from home that resumes the program before its memory has
// arrived (docs/migration.md, "Post-copy"). The restore leaves the program's mappings
// empty and hands them over (RestoreOptions::lazy_memory, kern-ext/checkpoint/lazy_memory.h);
// a thread of ours fills them from the deputy, which reads them from the memory's holder
// at home:
//   - a page a thread of the program waits for comes first: a 64 KiB block around it,
//     asked on a link of its own, so that it never queues behind the rest;
//   - the rest comes in 1 MiB pieces, four in flight, smallest mappings first (code,
//     libraries, stack, heap: what a program touches first; the big buffers last), once
//     the program runs (the pages waited for while it is rebuilt come before);
//   - then the deputy is told ('Z'), and ends the holder.
// If the memory cannot come (the deputy gone, an error), the program cannot go on: it is
// killed, as it would die with its deputy anyway.
#pragma once

#include "kern-ext/checkpoint/lazy_memory.h"
#include "kern-ext/result.h"
#include "kern-ext/unique_fd.h"
#include "ssi-remote/fs_transport.h"

#include <zmq.hpp>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace ssi::remote {

class PostCopy {
public:
    // Its two links to the deputy, made now: their handshakes overlap the restore.
    PostCopy(zmq::context_t& context, const SessionKeys& keys);
    // Stops the filler; a program still waiting for memory is killed.
    ~PostCopy();
    PostCopy(const PostCopy&) = delete;
    PostCopy& operator=(const PostCopy&) = delete;

    // RestoreOptions::lazy_memory: starts filling `memory`, the mappings of `program`:
    // only the pages waited for, while the process is rebuilt (the rest would compete
    // with the rebuild for this machine's cores while the process is stopped)...
    Result<void> start(LazyMemory memory, pid_t program);
    // ...and, once it runs, the rest too.
    void resumed();
    // Blocks until every page is there (or the filler gave up: then the program was killed).
    void wait();

    // Called on the filler's thread once the first piece of the rest is in (a fault point).
    std::function<void()> after_first_piece;

private:
    class Filler;
    void run(LazyMemory memory, pid_t program);

    zmq::socket_t bulk_, faults_;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::atomic<bool> resumed_{false};
    UniqueFd wake_;  // poked by resumed() and the destructor
    std::mutex mutex_;
    std::condition_variable done_cv_;
    bool started_ = false, done_ = false;
};

}  // namespace ssi::remote
