// SyscallDispatch: where the supervisor takes the program's intercepted system calls
// (seccomp user notification, kern-ext/syscall_listener.h) and hands each to the feature
// that asked for it. One list builds both the filter and the dispatch table, so they
// cannot disagree.
//
// How a feature adds a handler (see children.cpp for a whole one):
//
//     dispatch.add(SyscallRule::notify(SYS_connect), [](const SyscallNotification& n,
//                                                      const SyscallListener& l) {
//         ... l.reply(n.id, 0) / l.fail(n.id, ECONNREFUSED) / l.continue_call(n.id) ...
//     });
//     dispatch.add(SyscallRule::fail(SYS_clone3, ENOSYS));   // no handler: the kernel answers
//
// Every add() comes before the launch (rules() goes into LaunchSpec::syscall_rules);
// start() then runs one thread that receives and dispatches. A handler runs on that
// thread: it must answer every notification exactly once, either before it returns or
// later from a thread of its own (the listener is thread-safe) — a handler that waits
// for the home node must hand the work to its own thread, or every intercepted call of
// the program waits behind it. The thread is real-time (SCHED_FIFO; see serve()), so a
// handler must be quick on it: look, answer or queue, return. Such a thread talks to the deputy through a DEALER of its
// own (connect_to_deputy, fs_transport.h): ZeroMQ sockets are not thread-safe. A call
// whose number has no handler is let through (continue_call).
#pragma once

#include "kern-ext/result.h"
#include "kern-ext/syscall_filter.h"
#include "kern-ext/syscall_listener.h"
#include "kern-ext/unique_fd.h"

#include <functional>
#include <map>
#include <memory>
#include <thread>
#include <vector>

namespace ssi::remote {

using SyscallHandler = std::function<void(const SyscallNotification&, const SyscallListener&)>;

class SyscallDispatch {
public:
    SyscallDispatch() = default;
    ~SyscallDispatch() { stop(); }
    SyscallDispatch(const SyscallDispatch&) = delete;
    SyscallDispatch& operator=(const SyscallDispatch&) = delete;

    // A rule of the filter and, for a notify rule, who answers it. Several notify rules
    // for one system call (different argument conditions) share one handler: the last
    // one given.
    void add(SyscallRule rule, SyscallHandler handler = {});
    const std::vector<SyscallRule>& rules() const { return rules_; }

    // Serves `listener` on a thread of its own until stop(). An invalid listener (no
    // rules) starts nothing.
    Result<void> start(UniqueFd listener);
    // Ends the thread; calls still pending in the kernel get ENOSYS when the listener
    // closes (the program is normally gone by then).
    void stop();
    const SyscallListener* listener() const { return listener_.get(); }

private:
    void serve();

    std::vector<SyscallRule> rules_;
    std::map<int, SyscallHandler> handlers_;
    std::unique_ptr<SyscallListener> listener_;
    UniqueFd wake_;  // eventfd: stop()
    std::thread thread_;
};

}  // namespace ssi::remote
