// State only the process itself can ask the kernel for: its signal handlers
// (rt_sigaction), its alternate signal stack (sigaltstack), its exact brk (brk(0)) and
// its interval timers and resource limits (dump_itimers.cpp, dump_rlimits.cpp).
// We borrow the instruction at its rip for a `syscall; int3` gadget and a scratch page
// from an injected mmap; a guard puts the code bytes, the registers and the layout back
// however this step ends. Each injected call costs ~40 us of the freeze here: a signal
// /proc/PID/status shows with its default action is saved as the plain default without
// asking (flags given with SIG_DFL change nothing but what sigaction(2) would report;
// SIGCHLD is always asked: its default may carry SA_NOCLDWAIT, which changes reaping).
#include "kern-ext/checkpoint/borrowed_rip.h"
#include "kern-ext/checkpoint/steps.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>

namespace ssi::ckpt {

namespace {

struct KernelSigaction {
    uint64_t handler, flags, restorer, mask;
};

}  // namespace

Result<void> dump_injected_state(pid_t pid, ProcessImage& image) {
    const uint64_t not_default = TRY(signals_not_default(pid));
    BorrowedRip borrowed = TRY(BorrowedRip::create(pid, image.regs));
    RemoteSyscaller sys = borrowed.syscaller();

    const uint64_t page = 4096;
    uint64_t scratch = TRY(sys.call("mmap", SYS_mmap, 0, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                                    uint64_t(-1), 0));
    auto read_scratch = [&](void* out, size_t len) { return read_remote(pid, RemotePtr{scratch}, {static_cast<char*>(out), len}); };

    Result<void> result = [&]() -> Result<void> {
        for (int sig = 1; sig <= 64; ++sig) {
            if (sig == SIGKILL || sig == SIGSTOP) continue;
            if (sig != SIGCHLD && !(not_default & (1ull << (sig - 1)))) {
                image.actions[size_t(sig - 1)] = SignalAction{};
                continue;
            }
            TRY(sys.call("rt_sigaction", SYS_rt_sigaction, uint64_t(sig), 0, scratch, 8));
            KernelSigaction act{};
            TRY(read_scratch(&act, sizeof act));
            image.actions[size_t(sig - 1)] = SignalAction{act.handler, act.flags, act.restorer, act.mask};
        }
        TRY(sys.call("sigaltstack", SYS_sigaltstack, 0, scratch));
        stack_t ss{};
        TRY(read_scratch(&ss, sizeof ss));
        image.altstack_sp = uint64_t(ss.ss_sp);
        image.altstack_size = ss.ss_size;
        image.altstack_flags = ss.ss_flags;
        image.mm.brk = TRY(sys.call("brk", SYS_brk, 0));
        TRY(dump_itimers(sys, RemotePtr{scratch}, image));
        TRY(dump_rlimits(sys, RemotePtr{scratch}, image));
        return ok();
    }();
    // The scratch page goes whatever happened, so the layout we save is the process's own.
    auto unmapped = sys.call("munmap", SYS_munmap, scratch, page);
    TRY(result);
    TRY(unmapped);
    return ok();
}

}  // namespace ssi::ckpt
