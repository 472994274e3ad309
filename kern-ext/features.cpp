#include "kern-ext/features.h"

#include "kern-ext/unique_fd.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <linux/userfaultfd.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ssi {
namespace {

FeatureProbe result(const char* name, bool ok, int err = 0) {
    return FeatureProbe{name, ok, ok ? "" : std::strerror(err)};
}

FeatureProbe probe_pidfd() {
    int fd = int(::syscall(SYS_pidfd_open, ::getpid(), 0));
    int err = errno;
    UniqueFd owned(fd);
    return result("pidfd_open / pidfd_send_signal", fd >= 0, err);
}

FeatureProbe probe_seccomp_notify() {
    struct seccomp_notif_sizes sizes {};
    long rc = ::syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes);
    return result("seccomp user notification", rc == 0, errno);
}

FeatureProbe probe_userfaultfd() {
    int fd = int(::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY));
    int err = errno;
    UniqueFd owned(fd);
    return result("userfaultfd", fd >= 0, err);
}

FeatureProbe probe_process_vm() {
    char src[8] = "probe", dst[8] = {};
    iovec local{dst, sizeof dst}, remote{src, sizeof src};
    ssize_t n = ::process_vm_readv(::getpid(), &local, 1, &remote, 1, 0);
    return result("process_vm_readv", n == ssize_t(sizeof src), errno);
}

// Namespaces are probed in a child so the prober's own namespaces stay as they were.
FeatureProbe probe_namespaces() {
    pid_t child = ::fork();
    if (child < 0) return result("pid, mount and UTS namespaces", false, errno);
    if (child == 0) _exit(::unshare(CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS) == 0 ? 0 : errno);
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    return result("pid, mount and UTS namespaces", ok, WIFEXITED(status) ? WEXITSTATUS(status) : EINVAL);
}

FeatureProbe probe_clone3() {
    // An all-zero, too-small clone_args is refused with EINVAL by a kernel that has clone3.
    struct clone_args args {};
    long rc = ::syscall(SYS_clone3, &args, 0);
    bool ok = rc < 0 && errno == EINVAL;
    return result("clone3 (set_tid)", ok, ok ? 0 : errno);
}

}  // namespace

std::vector<FeatureProbe> probe_kernel_features() {
    return {probe_pidfd(),     probe_seccomp_notify(), probe_userfaultfd(),
            probe_process_vm(), probe_namespaces(),    probe_clone3()};
}

}  // namespace ssi
