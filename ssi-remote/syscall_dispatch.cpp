#include "ssi-remote/syscall_dispatch.h"

#include "ssi-remote/standby_threads.h"
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdio>

namespace ssi::remote {

void SyscallDispatch::add(SyscallRule rule, SyscallHandler handler) {
    if (handler) handlers_[rule.nr] = std::move(handler);
    rules_.push_back(rule);
}

Result<void> SyscallDispatch::start(UniqueFd listener) {
    if (!listener) return ok();
    int wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake < 0) return sys_error("eventfd");
    wake_.reset(wake);
    listener_ = std::make_unique<SyscallListener>(std::move(listener));
    (void)listener_->set_sync_wakeup();  // faster where the kernel has it (6.6)
    thread_ = start_thread([this] { serve(); });
    return ok();
}

void SyscallDispatch::stop() {
    if (!thread_.joinable()) return;
    uint64_t one = 1;
    (void)!::write(wake_.get(), &one, sizeof one);
    thread_.join();
}

void SyscallDispatch::serve() {
    // A caller is interruptible until we have received its notification (afterwards
    // WAIT_KILLABLE_RECV holds it): a signal in that window makes a fork fail with EINTR
    // in a shell whose SIGCHLD handler lacks SA_RESTART. Being first on the CPU when a
    // notification comes keeps the window to a few microseconds. This thread only
    // receives and dispatches; handlers that wait hand their work to threads of their own.
    sched_param realtime{};
    realtime.sched_priority = 1;
    (void)::pthread_setschedparam(::pthread_self(), SCHED_FIFO, &realtime);
    for (;;) {
        pollfd fds[2] = {{listener_->fd(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) continue;  // EINTR
        if (fds[1].revents) return;
        // POLLHUP: every process under the filter is gone.
        if (fds[0].revents & (POLLHUP | POLLERR | POLLNVAL)) {
            if (!(fds[0].revents & POLLIN)) return;
        }
        if (!(fds[0].revents & POLLIN)) continue;
        auto n = listener_->receive();
        if (!n) {
            if (n.error().err == ENOENT || n.error().err == EINTR) continue;  // the caller left
            std::fprintf(stderr, "ssi-remote: %s\n", n.error().message().c_str());
            return;
        }
        auto it = handlers_.find(n->nr);
        if (it == handlers_.end()) {
            (void)listener_->continue_call(n->id);
            continue;
        }
        it->second(*n, *listener_);
    }
}

}  // namespace ssi::remote
