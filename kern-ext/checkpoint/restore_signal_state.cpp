// Signal handlers, the alternate signal stack and pending signals, by injected
// rt_sigaction, sigaltstack and rt_(tg)sigqueueinfo. All signals stay blocked while the
// restore runs (so a queued signal cannot interrupt the rebuilding); the saved mask is
// put back last, by resume_restored. Signals already pending in the process are kept:
// a fork has none, and restore_into's target wears the process's PID — what was sent to
// it (a parked deputy, after its last look) was sent to the process.
#include "kern-ext/checkpoint/steps.h"
#include "kern-ext/files.h"

#include <signal.h>
#include <sys/syscall.h>

#include <cstring>
#include <string>

namespace ssi::ckpt {

Result<void> restore_signal_state(RemoteSyscaller& sys, const RestoreRegion& region, const ProcessImage& image) {
    const pid_t pid = sys.pid();
    const RemotePtr scratch = region.scratch();
    // Each rt_sigaction is a call injected into the stopped process (~60 us here): only
    // those that change something.
    const uint64_t changed = TRY(signals_not_default(pid));
    for (int sig = 1; sig <= 64; ++sig) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        const SignalAction& a = image.actions[size_t(sig - 1)];
        const bool plain_default = a.handler == 0 && a.flags == 0 && a.restorer == 0 && a.mask == 0;
        // SIGCHLD's default may carry flags (SA_NOCLDWAIT) that status does not show.
        if (plain_default && sig != SIGCHLD && !(changed & (1ull << (sig - 1)))) continue;
        uint64_t act[4] = {a.handler, a.flags, a.restorer, a.mask};
        TRY(write_remote(pid, scratch, {reinterpret_cast<const char*>(act), sizeof act}));
        TRY(sys.call("rt_sigaction", SYS_rt_sigaction, uint64_t(sig), scratch.addr, 0, 8));
    }
    if ((image.altstack_flags & SS_DISABLE) == 0) {
        stack_t ss{};
        ss.ss_sp = reinterpret_cast<void*>(image.altstack_sp);
        ss.ss_size = image.altstack_size;
        ss.ss_flags = image.altstack_flags & ~SS_ONSTACK;
        TRY(write_remote(pid, scratch, {reinterpret_cast<const char*>(&ss), sizeof ss}));
        TRY(sys.call("sigaltstack", SYS_sigaltstack, scratch.addr, 0));
    }
    // Queued by the process to itself, which the kernel allows with any si_code; named by
    // its own PID, as it sees it (a migrated process lives in a PID namespace of its own).
    const uint64_t self = image.pending.empty() ? 0 : TRY(sys.call("getpid", SYS_getpid));
    for (const PendingSignal& p : image.pending) {
        siginfo_t info;
        std::memcpy(&info, p.info.data(), sizeof info);
        TRY(write_remote(pid, scratch, {p.info.data(), p.info.size()}));
        if (p.shared)
            TRY(sys.call("rt_sigqueueinfo", SYS_rt_sigqueueinfo, self, uint64_t(info.si_signo), scratch.addr));
        else
            TRY(sys.call("rt_tgsigqueueinfo", SYS_rt_tgsigqueueinfo, self, self, uint64_t(info.si_signo), scratch.addr));
    }
    return ok();
}

}  // namespace ssi::ckpt
