#include "kern-ext/checkpoint/remote_syscall.h"

#include <string>

namespace ssi {

Registers RemoteSyscaller::prepare(long nr, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5,
                                   uint64_t a6) const {
    Registers r = base_;
    r.rip = gadget_.addr;
    r.rax = uint64_t(nr);
    // Not inside a system call: the kernel must not apply restart logic to our registers.
    r.orig_rax = uint64_t(-1);
    r.rdi = a1;
    r.rsi = a2;
    r.rdx = a3;
    r.r10 = a4;
    r.r8 = a5;
    r.r9 = a6;
    return r;
}

Result<int64_t> RemoteSyscaller::raw(long nr, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5,
                                     uint64_t a6) {
    TRY(ptrace_set_regs(pid_, prepare(nr, a1, a2, a3, a4, a5, a6)));
    TRY(ptrace_cont(pid_, 0));
    TraceeStop stop = TRY(wait_tracee(pid_));
    if (stop.kind != TraceeStop::signal_stop || stop.signal != SIGTRAP)
        return make_error("injected system call " + std::to_string(nr), "pid " + std::to_string(pid_) + " " + stop.describe());
    Registers after = TRY(ptrace_get_regs(pid_));
    if (after.rip != gadget_.addr + 3)
        return make_error("injected system call " + std::to_string(nr), "pid " + std::to_string(pid_) + " trapped outside the gadget");
    return int64_t(after.rax);
}

Result<uint64_t> RemoteSyscaller::call(const char* name, long nr, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
                                       uint64_t a5, uint64_t a6) {
    int64_t rv = TRY(raw(nr, a1, a2, a3, a4, a5, a6));
    if (rv < 0 && rv >= -4095)
        return Error{name, int(-rv), "injected into pid " + std::to_string(pid_)};
    return uint64_t(rv);
}

}  // namespace ssi
