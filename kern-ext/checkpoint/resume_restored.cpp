// The last step: FPU/AVX state; then the restore region (gadget included) is unmapped by
// a system call run from the gadget itself, stopped at the call's exit (PTRACE_SYSCALL)
// so that the process never returns to the vanished page: the image's registers are
// set right there, the saved signal mask put back, and the process let go.
#include "kern-ext/checkpoint/steps.h"

#include <sys/syscall.h>

namespace ssi::ckpt {

namespace {
Result<void> expect_syscall_stop(pid_t pid, const char* when) {
    TraceeStop stop = TRY(wait_tracee(pid));
    if (stop.kind != TraceeStop::syscall_stop)
        return make_error("restore: unmapping the restore region", std::string(when) + ": " + stop.describe());
    return ok();
}
}  // namespace

Result<void> resume_restored(RemoteSyscaller& sys, const RestoreRegion& region, const ProcessImage& image,
                             const RestoreOptions& options) {
    const pid_t pid = sys.pid();
    TRY(ptrace_set_xstate(pid, image.xstate));
    TRY(ptrace_set_regs(pid, sys.prepare(SYS_munmap, region.start, region.size, 0, 0, 0, 0)));
    TRY(ptrace_syscall(pid));
    TRY(expect_syscall_stop(pid, "entry"));
    TRY(ptrace_syscall(pid));
    TRY(expect_syscall_stop(pid, "exit"));
    Registers after = TRY(ptrace_get_regs(pid));
    if (int64_t(after.rax) != 0) return Error{"munmap (restore region)", int(-int64_t(after.rax)), "pid " + std::to_string(pid)};

    TRY(ptrace_set_regs(pid, image.regs));
    TRY(ptrace_set_sigmask(pid, image.sigmask));
    if (options.before_resume) TRY(options.before_resume());
    TRY(ptrace_detach(pid, 0));
    return ok();
}

}  // namespace ssi::ckpt
