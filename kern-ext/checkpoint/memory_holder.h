// A stopped process's address space, kept through its exec. The process is made to
// clone(CLONE_VM) a child: the two share one address space, and when the process execs
// (becoming its deputy) the kernel gives it a new one and leaves the old, whole and
// unchanged, to the child — nothing copied (0.18 ms for 256 MiB here). Whoever moves the
// process then reads its memory from that child, the *holder*, with process_vm_readv.
//
// The holder never runs a single instruction of the program: it is caught at its birth
// (PTRACE_O_TRACECLONE), gets every signal blocked, no descriptors (it would otherwise
// keep pipes open and files locked), PR_SET_PDEATHSIG so that it dies with its parent
// (the deputy), and is left asleep in pause() at a `syscall` of the vdso. Its exit
// signal is 0: its parent's wait() never sees it (only waitpid(__WALL) reaps it).
//
// One trap, measured: an exec writes 0 at the old program's clear_child_tid (glibc's
// thread descriptor's tid) when its address space has another user. create() clears
// that address first (set_tid_address(NULL)); a restore does not set it back anyway.
#pragma once

#include "kern-ext/checkpoint/ptrace.h"
#include "kern-ext/checkpoint/remote_syscall.h"
#include "kern-ext/result.h"

#include <sys/types.h>

#include <utility>

namespace ssi {

class MemoryHolder {
public:
    // In the stopped, seized, single-threaded `task`, through its injected calls `sys`
    // (whose gadget the holder, sharing the memory, uses too); `options` are the ptrace
    // options in force, put back after. The holder stays stopped, traced by us.
    static Result<MemoryHolder> create(SeizedTask& task, RemoteSyscaller& sys, unsigned long options);

    // Once the process has exec'd: the word at `code` in the held memory back to
    // `original` (the gadget was borrowed there), then the holder asleep and let go.
    Result<void> park(uint64_t code, uint64_t original);

    // Not wanted after all (the exec failed): killed, and reaped by its parent — the
    // still-stopped process, through `parent`'s injected wait4 — so that no zombie is
    // left among the children of a process that goes on as it was.
    void discard(RemoteSyscaller& parent);

    // Killed (SIGKILL) unless released; our tracer's notice of its end collected while
    // we trace it. Its parent reaps it (waitpid(__WALL)).
    ~MemoryHolder();
    MemoryHolder(MemoryHolder&& o) noexcept
        : pid_(std::exchange(o.pid_, 0)), traced_(o.traced_), sleep_at_(o.sleep_at_) {}
    MemoryHolder& operator=(MemoryHolder&&) = delete;

    pid_t pid() const { return pid_; }
    // It lives on (its parent or a later owner ends it).
    pid_t release() { return std::exchange(pid_, 0); }

private:
    MemoryHolder(pid_t pid) : pid_(pid) {}
    pid_t pid_ = 0;
    bool traced_ = true;
    uint64_t sleep_at_ = 0;  // a `syscall` of the vdso, where it will sleep in pause()
};

}  // namespace ssi
