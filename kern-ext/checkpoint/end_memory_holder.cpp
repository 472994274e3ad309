// After the memory is in place, in a process rebuilt where it was replaced (a move from
// home that fell back): the holder of its old memory is its child, with exit signal 0.
// Nobody else may reap it, and the rebuilt program must not find a stray child: it is
// killed and reaped from inside, by an injected wait4(__WALL), before the program runs.
#include "kern-ext/checkpoint/steps.h"
#include "kern-ext/proc_status.h"

#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

namespace ssi::ckpt {

Result<void> end_memory_holder(RemoteSyscaller& sys, const ProcessImage& image, const RestoreOptions& options) {
    if (!options.end_holder) return ok();
    const pid_t holder = image.memory_from;
    const std::string who = "holder " + std::to_string(holder) + " of pid " + std::to_string(sys.pid());
    if (holder <= 0) return make_error("restore: ending the memory's holder", "the image's memory is not held", EINVAL);
    ProcessIdentity identity = TRY(read_process_identity(holder));
    if (identity.ppid != sys.pid()) return make_error("restore: ending the memory's holder", who + ": not its child", EINVAL);
    if (::kill(holder, SIGKILL) < 0) return sys_error("kill", who);
    const uint64_t reaped = TRY(sys.call("wait4", SYS_wait4, uint64_t(holder), 0, __WALL, 0));
    if (pid_t(reaped) != holder) return make_error("wait4", who + ": reaped another process", ECHILD);
    return ok();
}

}  // namespace ssi::ckpt
