// The PID libzmq compares against, kept instead of asked for.
//
// libzmq calls getpid() on every mailbox wait and signal, to notice that it runs in a
// forked child; glibc asks the kernel each time. A forwarded file request made ~20 such
// calls between the supervisor and the deputy, at ~1 µs each on this VM (docs/benchmarks.md).
// CMakeLists.txt beside this file links a copy of libzmq.a whose getpid calls come here;
// nothing else of ours is affected. A fork's child forgets the kept PID (pthread_atfork).
// A child made by a raw clone (kern-ext/clone3.h) keeps its parent's, which only a child
// using libzmq could notice — and none does: those children run kern-ext code, then exec.
#include <pthread.h>
#include <unistd.h>

#include <atomic>

namespace {

std::atomic<pid_t> kept{0};

const int forget_in_children = pthread_atfork(nullptr, nullptr, [] { kept.store(0, std::memory_order_relaxed); });

}  // namespace

extern "C" pid_t ssi_zmq_getpid() {
    pid_t pid = kept.load(std::memory_order_relaxed);
    if (pid == 0) {
        pid = ::getpid();
        kept.store(pid, std::memory_order_relaxed);
    }
    return pid;
}
