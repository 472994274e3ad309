// Signal state ptrace can read without the process's help: the blocked mask, pending
// signals (the thread's queue and the process's) and the rseq registration.
#include "kern-ext/checkpoint/steps.h"

#include <cstring>

namespace ssi::ckpt {

Result<void> dump_signal_state(pid_t pid, ProcessImage& image) {
    image.sigmask = TRY(ptrace_get_sigmask(pid));
    for (bool shared : {false, true})
        for (const siginfo_t& info : TRY(ptrace_peek_siginfo(pid, shared))) {
            PendingSignal p;
            p.shared = shared;
            static_assert(sizeof(siginfo_t) == sizeof(p.info));
            std::memcpy(p.info.data(), &info, sizeof info);
            image.pending.push_back(p);
        }
    __ptrace_rseq_configuration rseq = TRY(ptrace_get_rseq(pid));
    image.rseq = RseqRegistration{rseq.rseq_abi_pointer, rseq.rseq_abi_size, rseq.signature};
    return ok();
}

}  // namespace ssi::ckpt
