// Borrowing a stopped process's rip for injected system calls, when it has no gadget of
// ours yet: the instruction bytes at rip are replaced by `syscall; int3`, and the guard
// puts them and the registers back however the borrower's work ends.
#pragma once

#include "kern-ext/checkpoint/ptrace.h"
#include "kern-ext/checkpoint/remote_syscall.h"

#include <cstring>
#include <utility>

namespace ssi::ckpt {

class BorrowedRip {
public:
    static Result<BorrowedRip> create(pid_t pid, const Registers& regs) {
        uint64_t original = TRY(ptrace_peek_word(pid, regs.rip));
        uint64_t patched = original;
        std::memcpy(&patched, kSyscallGadget.data(), kSyscallGadget.size());
        TRY(ptrace_poke_word(pid, regs.rip, patched));
        return BorrowedRip(pid, regs, original);
    }
    BorrowedRip(BorrowedRip&& o) noexcept : pid_(std::exchange(o.pid_, 0)), regs_(o.regs_), original_(o.original_) {}
    BorrowedRip(const BorrowedRip&) = delete;
    ~BorrowedRip() { (void)give_back(); }

    // A syscaller running its calls at the borrowed rip.
    RemoteSyscaller syscaller() const { return RemoteSyscaller(pid_, RemotePtr{regs_.rip}, regs_); }
    // Code bytes and registers back now, reporting failure.
    Result<void> give_back() {
        if (pid_ == 0) return ok();
        pid_t pid = std::exchange(pid_, 0);
        auto poked = ptrace_poke_word(pid, regs_.rip, original_);
        TRY(ptrace_set_regs(pid, regs_));
        return poked;
    }
    // The memory is gone (an exec replaced it): nothing to put back.
    void forget() { pid_ = 0; }
    // The code bytes the gadget replaced, a word at the borrowed rip.
    uint64_t original() const { return original_; }

private:
    BorrowedRip(pid_t pid, const Registers& regs, uint64_t original) : pid_(pid), regs_(regs), original_(original) {}
    pid_t pid_;
    Registers regs_;
    uint64_t original_;
};

}  // namespace ssi::ckpt
