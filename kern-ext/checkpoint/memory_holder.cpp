#include "kern-ext/checkpoint/memory_holder.h"

#include "kern-ext/checkpoint/remote_memory.h"
#include "kern-ext/checkpoint/steps.h"

#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <string>
#include <vector>

namespace ssi {
namespace {

std::string of(pid_t pid) { return "pid " + std::to_string(pid); }

// A `syscall` instruction in the vdso: code of the kernel's, in every address space,
// which the program's own bytes never replace.
Result<uint64_t> vdso_syscall(pid_t pid) {
    for (const ckpt::MapsEntry& m : TRY(ckpt::read_maps(pid))) {
        if (m.path != "[vdso]") continue;
        std::vector<char> code(m.end - m.start);
        TRY(read_remote(pid, RemotePtr{m.start}, code));
        for (size_t i = 0; i + 1 < code.size(); ++i)
            if (code[i] == '\x0f' && code[i + 1] == '\x05') return m.start + i;
    }
    return make_error("memory holder", of(pid) + ": no syscall instruction in its vdso", ENOENT);
}

// SIGKILL to a holder we trace, and our tracer's notice of its end collected (its
// parent still reaps it).
void kill_traced_holder(pid_t pid) {
    ::kill(pid, SIGKILL);
    for (;;) {
        auto stop = wait_tracee(pid);
        if (!stop || stop->kind == TraceeStop::exited || stop->kind == TraceeStop::killed) return;
    }
}

}  // namespace

Result<MemoryHolder> MemoryHolder::create(SeizedTask& task, RemoteSyscaller& sys, unsigned long options) {
    const pid_t pid = task.pid();
    // The exec must not write into the memory we keep (see the header).
    TRY(sys.call("set_tid_address", SYS_set_tid_address, 0));
    TRY(ptrace_set_options(pid, options | PTRACE_O_TRACECLONE));
    // clone(CLONE_VM), exit signal 0: stops the process at the clone event first.
    TRY(ptrace_set_regs(pid, sys.prepare(SYS_clone, CLONE_VM, 0, 0, 0, 0, 0)));
    TRY(ptrace_cont(pid));
    TraceeStop stop = TRY(wait_tracee(pid));
    const bool cloned = stop.kind == TraceeStop::event_stop && stop.event == PTRACE_EVENT_CLONE;
    pid_t holder = 0;
    if (cloned) {
        holder = pid_t(TRY(ptrace_get_event_msg(pid)));
        TRY(ptrace_cont(pid));  // on to the gadget's int3
        stop = TRY(wait_tracee(pid));
    }
    (void)ptrace_set_options(pid, options);
    if (stop.kind != TraceeStop::signal_stop || stop.signal != SIGTRAP) {
        if (holder) ::kill(holder, SIGKILL);  // the process is not at the gadget: leave it be
        return make_error("memory holder", of(pid) + " " + stop.describe() + " in its clone", ECHILD);
    }
    const Registers after = TRY(ptrace_get_regs(pid));
    if (!cloned) return Error{"clone(CLONE_VM)", int(-int64_t(after.rax)), "injected into " + of(pid)};

    MemoryHolder held(holder);
    auto ready = [&]() -> Result<void> {
        // Its first stop (auto-attached: PTRACE_EVENT_STOP); its registers are the
        // process's, at the gadget's int3, with 0 returned.
        TraceeStop first = TRY(wait_tracee(holder));
        if (first.kind != TraceeStop::event_stop && first.kind != TraceeStop::signal_stop)
            return make_error("memory holder", of(holder) + " " + first.describe() + " at its birth", ECHILD);
        RemoteSyscaller in_holder(holder, sys.gadget(), TRY(ptrace_get_regs(holder)));
        TRY(in_holder.call("prctl(PR_SET_PDEATHSIG)", SYS_prctl, PR_SET_PDEATHSIG, SIGKILL));
        TRY(in_holder.call("close_range", SYS_close_range, 0, ~0u, 0));
        TRY(ptrace_set_sigmask(holder, ~uint64_t(0)));  // after the calls: each int3 unblocks SIGTRAP
        // Found now, while the process can still go on as it was if there is none.
        held.sleep_at_ = TRY(vdso_syscall(holder));
        return ok();
    }();
    if (!ready) {
        held.discard(sys);
        return ready.error();
    }
    return held;
}

void MemoryHolder::discard(RemoteSyscaller& parent) {
    const pid_t pid = std::exchange(pid_, 0);
    if (pid == 0) return;
    if (traced_) kill_traced_holder(pid);
    else ::kill(pid, SIGKILL);
    (void)parent.call("wait4", SYS_wait4, uint64_t(pid), 0, __WALL, 0);
}

Result<void> MemoryHolder::park(uint64_t code, uint64_t original) {
    TRY(ptrace_poke_word(pid_, code, original));
    Registers r = TRY(ptrace_get_regs(pid_));
    r.rip = sleep_at_;
    r.rax = SYS_pause;
    r.orig_rax = uint64_t(-1);
    TRY(ptrace_set_regs(pid_, r));
    TRY(ptrace_detach(pid_));  // every signal still blocked (create)
    traced_ = false;
    return ok();
}

MemoryHolder::~MemoryHolder() {
    if (pid_ == 0) return;
    if (traced_) kill_traced_holder(pid_);
    else ::kill(pid_, SIGKILL);
}

}  // namespace ssi
