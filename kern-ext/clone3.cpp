#include "kern-ext/clone3.h"

#include "kern-ext/files.h"
#include "kern-ext/namespaces.h"
#include "kern-ext/process.h"

#include <fcntl.h>
#include <sched.h>
#include <linux/sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <string>

namespace ssi {

Result<Cloned> clone_process(const CloneOptions& options) {
    int pidfd = -1;
    pid_t tid = options.set_tid;
    struct clone_args args {};
    args.flags = options.flags | (options.want_pidfd ? CLONE_PIDFD : 0);
    args.pidfd = options.want_pidfd ? uint64_t(uintptr_t(&pidfd)) : 0;
    args.exit_signal = SIGCHLD;
    if (tid != 0) {
        args.set_tid = uint64_t(uintptr_t(&tid));
        args.set_tid_size = 1;
    }
    long rc = ::syscall(SYS_clone3, &args, sizeof(args));
    if (rc < 0) return sys_error("clone3", tid != 0 ? "set_tid " + std::to_string(tid) : std::string{});
    Cloned out;
    out.pid = pid_t(rc);
    if (rc > 0 && options.want_pidfd) out.pidfd.reset(pidfd);
    return out;
}

namespace {

Result<void> set_namespace(int fd, int type, const std::string& what) {
    if (::setns(fd, type) < 0) return sys_error("setns", what);
    return ok();
}

}  // namespace

Result<pid_t> fork_in_new_pid_namespace() {
    const std::string own_path = "/proc/thread-self/ns/pid";
    UniqueFd own = TRY(open_file(own_path, O_RDONLY | O_CLOEXEC));
    TRY(unshare_namespaces(CLONE_NEWPID));
    auto child = fork_process();
    if (child && *child == 0) return pid_t(0);
    // Back to forking into our own namespace, whether or not the fork worked.
    auto restored = set_namespace(own.get(), CLONE_NEWPID, own_path);
    if (!child) return child.error();
    if (!restored) {
        ::kill(*child, SIGKILL);
        (void)wait_process(*child);
        return restored.error();
    }
    return *child;
}

}  // namespace ssi
