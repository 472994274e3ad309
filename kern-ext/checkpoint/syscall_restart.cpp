// A process stopped inside a system call has rax = -ERESTART* and orig_rax = the call.
// The kernel, resuming it, would restart the call or make it fail with EINTR; the
// restored process is resumed by a fresh task with no such memory, so the image's
// registers are set here to what the kernel would have done when no handler runs:
//   -ERESTARTSYS, -ERESTARTNOINTR, -ERESTARTNOHAND: restart (rip back over `syscall`,
//     rax = the call number);
//   -ERESTART_RESTARTBLOCK (nanosleep, clock_nanosleep, poll...): the restart block lives
//     in the old task, so the call returns -EINTR instead (as CRIU does). Sleeps have
//     already written the remaining time; glibc's sleep() returns it early.
#include "kern-ext/checkpoint/steps.h"

#include <cerrno>

namespace ssi::ckpt {

namespace {
constexpr int64_t kERESTARTSYS = 512, kERESTARTNOINTR = 513, kERESTARTNOHAND = 514, kERESTART_RESTARTBLOCK = 516;
}

void prepare_syscall_restart(Registers& regs) {
    if (int64_t(regs.orig_rax) < 0) return;  // not stopped in a system call
    switch (-int64_t(regs.rax)) {
        case kERESTARTSYS:
        case kERESTARTNOINTR:
        case kERESTARTNOHAND:
            regs.rax = regs.orig_rax;
            regs.rip -= 2;
            break;
        case kERESTART_RESTARTBLOCK:
            regs.rax = uint64_t(-int64_t(EINTR));
            break;
        default:
            break;
    }
    regs.orig_rax = uint64_t(-1);
}

}  // namespace ssi::ckpt
