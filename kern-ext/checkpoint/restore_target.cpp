// restore_into's target: an existing process, seized (PTRACE_O_EXITKILL: if we die
// half-way, so does the half-rebuilt process) and stopped. Its restore region is mapped
// by calls injected at its borrowed rip (MAP_FIXED_NOREPLACE: never over one of its
// mappings), and the gadget written there. Until its layout is cleared it is still its
// old self, and a failure gives it back exactly so: rseq registered again, fs ids and
// groups back, region unmapped, code bytes, registers and mask back, detached. After,
// there is nothing to go back to: it is killed.
#include "kern-ext/checkpoint/borrowed_rip.h"
#include "kern-ext/checkpoint/steps.h"

#include <sys/mman.h>
#include <sys/syscall.h>

#include <string>

namespace ssi::ckpt {

Result<RestoreTarget> RestoreTarget::seize(pid_t pid) {
    SeizedTask task = TRY(SeizedTask::seize_and_stop(pid));  // detaches unless moved into the guard
    TRY(ptrace_set_options(pid, PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD));
    Registers regs = TRY(ptrace_get_regs(pid));
    uint64_t sigmask = TRY(ptrace_get_sigmask(pid));
    __ptrace_rseq_configuration rseq = TRY(ptrace_get_rseq(pid));
    RestoreCredentials fs = TRY(read_fs_credentials(pid));
    RestoreTarget target(std::move(task));
    target.regs_ = regs;
    target.sigmask_ = sigmask;
    target.rseq_ = rseq;
    target.fs_credentials_ = std::move(fs);
    return target;
}

Result<void> RestoreTarget::map_region(const RestoreRegion& region) {
    const pid_t pid = task_.pid();
    BorrowedRip borrowed = TRY(BorrowedRip::create(pid, regs_));
    RemoteSyscaller sys = borrowed.syscaller();
    uint64_t at = TRY(sys.call("mmap (restore region)", SYS_mmap, region.start, region.size, PROT_NONE,
                               MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, uint64_t(-1), 0));
    if (at != region.start) {  // a kernel that ignores MAP_FIXED_NOREPLACE put it elsewhere
        (void)sys.call("munmap", SYS_munmap, at, region.size);
        return make_error("mmap (restore region)", "pid " + std::to_string(pid) + ": landed elsewhere", EEXIST);
    }
    region_ = region;  // from here the undo unmaps it
    TRY(sys.call("mprotect (gadget)", SYS_mprotect, region.start, 4096, PROT_READ | PROT_WRITE));
    TRY(write_remote(pid, region.gadget(), kSyscallGadget));
    TRY(sys.call("mprotect (gadget)", SYS_mprotect, region.start, 4096, PROT_READ | PROT_EXEC));
    TRY(sys.call("mprotect (scratch)", SYS_mprotect, region.scratch().addr, 4096, PROT_READ | PROT_WRITE));
    TRY(borrowed.give_back());
    return ok();
}

void RestoreTarget::undo() {
    const pid_t pid = task_.pid();
    if (auto borrowed = BorrowedRip::create(pid, regs_)) {
        RemoteSyscaller sys = borrowed->syscaller();
        // EBUSY when it was never unregistered: fine.
        if (rseq_.rseq_abi_pointer != 0)
            (void)sys.raw(SYS_rseq, rseq_.rseq_abi_pointer, rseq_.rseq_abi_size, 0, rseq_.signature);
        (void)sys.raw(SYS_setfsgid, fs_credentials_.gid);
        (void)sys.raw(SYS_setfsuid, fs_credentials_.uid);
        if (region_) {
            const auto& g = fs_credentials_.groups;
            // Unchanged groups of an unprivileged process: EPERM, nothing to put back.
            if (write_remote(pid, region_->scratch(), {reinterpret_cast<const char*>(g.data()), g.size() * sizeof(gid_t)}))
                (void)sys.raw(SYS_setgroups, g.size(), region_->scratch().addr);
            (void)sys.raw(SYS_munmap, region_->start, region_->size);
        }
    }  // code bytes and registers back here
    (void)ptrace_set_sigmask(pid, sigmask_);
}  // task_ detaches

RestoreTarget::~RestoreTarget() {
    if (task_.pid() == 0) return;
    if (cleared_) {
        (void)kill_traced(task_.pid());
        task_.release();
        return;
    }
    undo();
}

}  // namespace ssi::ckpt
