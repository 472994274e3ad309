// Running system calls inside a stopped tracee: point its registers at a `syscall; int3`
// gadget in its memory, continue, and read the result when the int3 traps. This is how
// a checkpoint asks for what only the process itself can see (its signal handlers) and
// how a restore rebuilds a process from inside.
#pragma once

#include "kern-ext/checkpoint/ptrace.h"
#include "kern-ext/checkpoint/remote_memory.h"
#include "kern-ext/result.h"

#include <array>
#include <cstdint>

namespace ssi {

// The gadget's bytes: syscall (0f 05), int3 (cc).
inline constexpr std::array<char, 3> kSyscallGadget{'\x0f', '\x05', '\xcc'};

class RemoteSyscaller {
public:
    // `gadget`: address of kSyscallGadget in the tracee; `base`: registers the calls start
    // from (the tracee's own, so segment registers and flags stay sane).
    RemoteSyscaller(pid_t pid, RemotePtr gadget, const Registers& base) : pid_(pid), gadget_(gadget), base_(base) {}

    // The call's raw return value: negative errno on failure.
    Result<int64_t> raw(long nr, uint64_t a1 = 0, uint64_t a2 = 0, uint64_t a3 = 0, uint64_t a4 = 0,
                        uint64_t a5 = 0, uint64_t a6 = 0);
    // The same, with a failure turned into an Error named `name` (e.g. "mmap").
    Result<uint64_t> call(const char* name, long nr, uint64_t a1 = 0, uint64_t a2 = 0, uint64_t a3 = 0,
                          uint64_t a4 = 0, uint64_t a5 = 0, uint64_t a6 = 0);

    // Registers set up to run `nr` at the gadget, for callers that resume the tracee
    // differently (the last call of a restore stops at the system call's exit instead).
    Registers prepare(long nr, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6) const;

    pid_t pid() const { return pid_; }
    RemotePtr gadget() const { return gadget_; }

private:
    pid_t pid_;
    RemotePtr gadget_;
    Registers base_;
};

}  // namespace ssi
