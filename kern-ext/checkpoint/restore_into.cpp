// restore_into(): the steps, in order. The image is rebuilt inside an existing, parked
// process instead of a fresh fork, so it keeps its PID and its parent: a root agent's
// parked child dropping to the user's ids, or a user's own deputy turning back into the
// program that migrated home. The rebuilding itself is restore()'s (rebuild()).
#include "kern-ext/checkpoint/checkpoint.h"

#include "kern-ext/checkpoint/steps.h"

namespace ssi {

Result<void> restore_into(pid_t pid, const ProcessImage& image, const RestoreOptions& options) {
    // Its PID and its files are its own: there is nothing to choose or hand over.
    if (!options.fds.empty() || options.pid != 0)
        return make_error("restore_into", "pid " + std::to_string(pid) + ": fds and pid are restore()'s options", EINVAL);
    // Files to reopen can be, files in place are there: said before anything is touched.
    TRY(ckpt::check_restore_files(pid, image, options));
    // Pre-copied memory is where the image says, filled, or nothing is touched.
    TRY(ckpt::check_precopied(pid, image));
    // Seized and stopped; given back as it was on a failure, until its layout is cleared.
    ckpt::RestoreTarget target = TRY(ckpt::RestoreTarget::seize(pid));
    // Our pages during the rebuild: free in its layout and in the image's.
    ckpt::RestoreRegion region = TRY(ckpt::choose_restore_region(pid, image));
    // Mapped from inside at its borrowed rip, with the gadget; the rip's bytes go back.
    TRY(target.map_region(region));
    RemoteSyscaller sys(pid, region.gadget(), target.regs());
    // Nothing may interrupt the rebuilding; resume_restored puts the image's mask in.
    TRY(ptrace_set_sigmask(pid, ~0ull));

    ckpt::RebuildProgress progress;
    if (auto rebuilt = ckpt::rebuild(sys, region, image, options, progress); !rebuilt) {
        if (progress.cleared) target.mark_cleared();  // nothing left to give back: killed
        return rebuilt.error();
    }
    target.commit();
    return ok();
}

}  // namespace ssi
