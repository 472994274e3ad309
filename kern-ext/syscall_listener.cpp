#include "kern-ext/syscall_listener.h"

#include <fcntl.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/uio.h>

#include <string>

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

namespace ssi {
namespace {

std::string id_context(uint64_t id) { return "notification " + std::to_string(id); }

}  // namespace

Result<SyscallNotification> SyscallListener::receive() const {
    seccomp_notif raw{};  // the kernel wants it zeroed
    for (;;) {
        if (::ioctl(fd_.get(), SECCOMP_IOCTL_NOTIF_RECV, &raw) == 0) break;
        if (errno == EINTR) continue;
        return sys_error("ioctl(SECCOMP_IOCTL_NOTIF_RECV)");
    }
    SyscallNotification n;
    n.id = raw.id;
    n.pid = pid_t(raw.pid);
    n.nr = raw.data.nr;
    n.arch = raw.data.arch;
    n.ip = raw.data.instruction_pointer;
    for (size_t i = 0; i < n.args.size(); ++i) n.args[i] = raw.data.args[i];
    return n;
}

Result<void> SyscallListener::send(uint64_t id, int64_t value, int err, uint32_t flags) const {
    seccomp_notif_resp resp{};
    resp.id = id;
    resp.val = value;
    resp.error = err ? -err : 0;
    resp.flags = flags;
    for (;;) {
        if (::ioctl(fd_.get(), SECCOMP_IOCTL_NOTIF_SEND, &resp) == 0) return ok();
        if (errno == EINTR) continue;
        return sys_error("ioctl(SECCOMP_IOCTL_NOTIF_SEND)", id_context(id));
    }
}

Result<void> SyscallListener::reply(uint64_t id, int64_t value) const { return send(id, value, 0, 0); }

Result<void> SyscallListener::fail(uint64_t id, int err) const { return send(id, 0, err, 0); }

Result<void> SyscallListener::continue_call(uint64_t id) const {
    return send(id, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE);
}

Result<int> SyscallListener::add_fd(uint64_t id, int fd, bool cloexec, bool and_reply) const {
    seccomp_notif_addfd addfd{};
    addfd.id = id;
    addfd.srcfd = uint32_t(fd);
    addfd.newfd_flags = cloexec ? O_CLOEXEC : 0;
    addfd.flags = and_reply ? SECCOMP_ADDFD_FLAG_SEND : 0;
    for (;;) {
        int r = ::ioctl(fd_.get(), SECCOMP_IOCTL_NOTIF_ADDFD, &addfd);
        if (r >= 0) return r;
        if (errno == EINTR) continue;
        return sys_error("ioctl(SECCOMP_IOCTL_NOTIF_ADDFD)", id_context(id) + ", fd " + std::to_string(fd));
    }
}

Result<void> SyscallListener::replace_fd(uint64_t id, int fd, int target, bool cloexec) const {
    seccomp_notif_addfd addfd{};
    addfd.id = id;
    addfd.srcfd = uint32_t(fd);
    addfd.newfd = uint32_t(target);
    addfd.newfd_flags = cloexec ? O_CLOEXEC : 0;
    addfd.flags = SECCOMP_ADDFD_FLAG_SETFD;
    for (;;) {
        if (::ioctl(fd_.get(), SECCOMP_IOCTL_NOTIF_ADDFD, &addfd) >= 0) return ok();
        if (errno == EINTR) continue;
        return sys_error("ioctl(SECCOMP_IOCTL_NOTIF_ADDFD, SETFD)", id_context(id) + ", fd " + std::to_string(target));
    }
}

bool SyscallListener::is_valid(uint64_t id) const {
    return ::ioctl(fd_.get(), SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

Result<size_t> SyscallListener::read_memory(const SyscallNotification& n, RemoteAddr from, std::span<char> into) const {
    iovec local{into.data(), into.size()};
    iovec remote{reinterpret_cast<void*>(from.value), into.size()};
    ssize_t got = ::process_vm_readv(n.pid, &local, 1, &remote, 1, 0);
    if (got < 0) return sys_error("process_vm_readv", "pid " + std::to_string(n.pid));
    // The PID may have been reused between the notification and the read.
    if (!is_valid(n.id)) return make_error("process_vm_readv", id_context(n.id) + " no longer valid", ENOENT);
    return size_t(got);
}

Result<size_t> SyscallListener::write_memory(const SyscallNotification& n, RemoteAddr to,
                                             std::span<const char> from) const {
    if (!is_valid(n.id)) return make_error("process_vm_writev", id_context(n.id) + " no longer valid", ENOENT);
    iovec local{const_cast<char*>(from.data()), from.size()};
    iovec remote{reinterpret_cast<void*>(to.value), from.size()};
    ssize_t put = ::process_vm_writev(n.pid, &local, 1, &remote, 1, 0);
    if (put < 0) return sys_error("process_vm_writev", "pid " + std::to_string(n.pid));
    return size_t(put);
}

Result<void> SyscallListener::set_sync_wakeup() const {
    if (::ioctl(fd_.get(), SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) == 0) return ok();
    return sys_error("ioctl(SECCOMP_IOCTL_NOTIF_SET_FLAGS)", "SYNC_WAKE_UP");
}

}  // namespace ssi
