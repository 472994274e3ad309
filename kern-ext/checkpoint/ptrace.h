// ptrace(2), wrapped once: every request a checkpoint or a restore makes of a tracee, and
// the SeizedTask guard that lets a process go again however a checkpoint ends.
#pragma once

#include "kern-ext/result.h"

#include <sys/ptrace.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/user.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ssi {

using Registers = user_regs_struct;

Result<void> ptrace_seize(pid_t pid, unsigned long options);
Result<void> ptrace_interrupt(pid_t pid);
// In a freshly forked child: make the parent its tracer.
Result<void> ptrace_traceme();
Result<void> ptrace_set_options(pid_t pid, unsigned long options);
Result<void> ptrace_detach(pid_t pid, int signal = 0);
Result<void> ptrace_cont(pid_t pid, int signal = 0);
// Resume until the next system call entry or exit.
Result<void> ptrace_syscall(pid_t pid, int signal = 0);

Result<Registers> ptrace_get_regs(pid_t pid);
Result<void> ptrace_set_regs(pid_t pid, const Registers& regs);
// The whole XSAVE area (x87, SSE, AVX, ...) as the kernel lays it out (NT_X86_XSTATE).
Result<std::string> ptrace_get_xstate(pid_t pid);
Result<void> ptrace_set_xstate(pid_t pid, const std::string& xstate);
Result<uint64_t> ptrace_get_sigmask(pid_t pid);
Result<void> ptrace_set_sigmask(pid_t pid, uint64_t mask);
Result<__ptrace_rseq_configuration> ptrace_get_rseq(pid_t pid);
// Pending signals with their siginfo: the thread's own queue, or the process's (shared).
Result<std::vector<siginfo_t>> ptrace_peek_siginfo(pid_t pid, bool shared);
Result<uint64_t> ptrace_peek_word(pid_t pid, uint64_t addr);
// PTRACE_GETEVENTMSG: at a clone event stop, the new task's PID.
Result<uint64_t> ptrace_get_event_msg(pid_t pid);
Result<void> ptrace_poke_word(pid_t pid, uint64_t addr, uint64_t word);

// What waitpid(__WALL) said about a tracee.
struct TraceeStop {
    enum Kind { exited, killed, signal_stop, event_stop, syscall_stop } kind = exited;
    int signal = 0;  // the stop signal, or the terminating signal
    int event = 0;   // PTRACE_EVENT_* for event_stop
    int code = 0;    // exit code
    std::string describe() const;
};
Result<TraceeStop> wait_tracee(pid_t pid);

// A process seized with PTRACE_SEIZE and held in a PTRACE_INTERRUPT stop. Destruction
// detaches, so the process runs on however the work on it ended; release() when the
// process is gone (killed) and there is nothing left to detach from.
class SeizedTask {
public:
    // Seizes `pid` and waits until it is stopped. Signals that arrive first are delivered
    // as if nobody were tracing, so the process sees exactly what it would have.
    static Result<SeizedTask> seize_and_stop(pid_t pid);
    SeizedTask(SeizedTask&& o) noexcept : pid_(std::exchange(o.pid_, 0)) {}
    SeizedTask& operator=(SeizedTask&&) = delete;
    SeizedTask(const SeizedTask&) = delete;
    ~SeizedTask();

    pid_t pid() const { return pid_; }
    void release() { pid_ = 0; }

private:
    explicit SeizedTask(pid_t pid) : pid_(pid) {}
    pid_t pid_ = 0;
};

}  // namespace ssi
