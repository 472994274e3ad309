// rseq: glibc registers an rseq area per thread, and the kernel writes the running CPU
// into it on every return to user space. The forked restore child inherits the caller's
// registration, pointing into memory the restore is about to replace: left alone, the
// kernel would write into the restored process's memory at that address (or send
// SIGSEGV if nothing is mapped there). So it is unregistered first, and the image's
// registration is made again at the end, at the image's area, length and signature.
// Found by trying (Linux 6.18, glibc 2.36): without the unregistration the child dies of
// SIGSEGV on the first injected call after its old layout is unmapped. Without the
// re-registration the restored glibc program runs on (the kernel writes nothing to an
// unregistered area), but its cpu_id goes stale and rseq critical sections would no
// longer be aborted on preemption.
#include "kern-ext/checkpoint/steps.h"

#include <linux/rseq.h>
#include <sys/syscall.h>

namespace ssi::ckpt {

Result<void> unregister_inherited_rseq(RemoteSyscaller& sys) {
    __ptrace_rseq_configuration conf = TRY(ptrace_get_rseq(sys.pid()));
    if (conf.rseq_abi_pointer == 0) return ok();
    TRY(sys.call("rseq (unregister)", SYS_rseq, conf.rseq_abi_pointer, conf.rseq_abi_size, RSEQ_FLAG_UNREGISTER,
                 conf.signature));
    return ok();
}

Result<void> register_rseq(RemoteSyscaller& sys, const ProcessImage& image) {
    if (image.rseq.area == 0) return ok();
    TRY(sys.call("rseq", SYS_rseq, image.rseq.area, image.rseq.size, 0, image.rseq.signature));
    return ok();
}

}  // namespace ssi::ckpt
