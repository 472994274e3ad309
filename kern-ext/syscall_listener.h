// SyscallListener: the supervisor's end of a seccomp user-notification filter
// (kern-ext/syscall_filter.h). Each intercepted system call arrives as one
// SyscallNotification and waits in the kernel until it is answered exactly once: with a
// value, an errno, or "continue" (the kernel runs the call as if nothing happened).
//
// Answers may come from any thread, and later than the receive (the ioctls are
// thread-safe); a notification whose caller was interrupted by a signal becomes invalid
// and its answer fails with ENOENT. Memory of the caller is read and written through
// RemoteAddr only: an address in another process never becomes a pointer here.
#pragma once

#include "kern-ext/result.h"
#include "kern-ext/unique_fd.h"

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <span>

namespace ssi {

// An address in another process's memory.
struct RemoteAddr {
    uint64_t value = 0;
};

struct SyscallNotification {
    uint64_t id = 0;  // names this call in every answer
    pid_t pid = 0;    // the calling thread, in the listener's reader's PID namespace
    int nr = -1;
    uint32_t arch = 0;
    uint64_t ip = 0;
    std::array<uint64_t, 6> args{};
    RemoteAddr arg_addr(unsigned i) const { return RemoteAddr{args[i]}; }
};

class SyscallListener {
public:
    SyscallListener() = default;
    explicit SyscallListener(UniqueFd fd) : fd_(std::move(fd)) {}

    int fd() const { return fd_.get(); }
    bool valid() const { return fd_.valid(); }

    // Blocks until a call arrives (poll fd() for readable first to avoid blocking).
    // ENOENT: the caller went away between the wake-up and the receive; try again.
    Result<SyscallNotification> receive() const;

    // The answers; each fails with ENOENT when the notification is no longer valid.
    Result<void> reply(uint64_t id, int64_t value) const;
    Result<void> fail(uint64_t id, int err) const;
    // Lets the kernel run the call. Not a security decision: the caller can change its
    // memory between our look and the kernel's.
    Result<void> continue_call(uint64_t id) const;
    // Installs our `fd` into the caller (SECCOMP_IOCTL_NOTIF_ADDFD, close-on-exec if asked);
    // returns its number there. With `and_reply`, that number is also the call's result,
    // atomically (SECCOMP_ADDFD_FLAG_SEND): the notification is answered by this.
    Result<int> add_fd(uint64_t id, int fd, bool cloexec, bool and_reply) const;
    // Installs our `fd` as the caller's descriptor `target`, closing what was there, as
    // dup2 would (SECCOMP_ADDFD_FLAG_SETFD). The notification stays unanswered.
    Result<void> replace_fd(uint64_t id, int fd, int target, bool cloexec) const;
    // Whether the caller still waits for this notification.
    bool is_valid(uint64_t id) const;

    // The caller's memory (process_vm_readv/writev). A read is checked against `id` after
    // it is done, so what was read belongs to the caller of this notification, not to a
    // process that reused its PID. Short reads are returned as such.
    Result<size_t> read_memory(const SyscallNotification& n, RemoteAddr from, std::span<char> into) const;
    Result<size_t> write_memory(const SyscallNotification& n, RemoteAddr to, std::span<const char> from) const;

    // SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (Linux 6.6): the caller's thread and ours hand the
    // CPU to each other directly, cutting a round trip by about a third. ENOTTY/EINVAL on
    // older kernels: harmless, everything works without it.
    Result<void> set_sync_wakeup() const;

private:
    Result<void> send(uint64_t id, int64_t value, int err, uint32_t flags) const;
    UniqueFd fd_;
};

}  // namespace ssi
