// CPU state: general registers (with fs_base/gs_base, the TLS pointers) and the whole
// XSAVE area (x87, SSE, AVX...). Read first, before anything borrows the registers.
#include "kern-ext/checkpoint/steps.h"

namespace ssi::ckpt {

Result<void> dump_cpu_state(pid_t pid, ProcessImage& image) {
    image.pid = pid;
    image.regs = TRY(ptrace_get_regs(pid));
    image.xstate = TRY(ptrace_get_xstate(pid));
    return ok();
}

}  // namespace ssi::ckpt
