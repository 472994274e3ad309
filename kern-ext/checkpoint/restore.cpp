// restore(): the steps, in order. Each is a function in its own file. The child is
// rebuilt from inside by injected system calls; until it is let go, any failure kills it.
#include "kern-ext/checkpoint/checkpoint.h"

#include "kern-ext/checkpoint/steps.h"

namespace ssi {

Result<pid_t> restore(const ProcessImage& image, const RestoreOptions& options) {
    // Our own pages during the restore: free in our layout and in the image's.
    ckpt::RestoreRegion region = TRY(ckpt::choose_restore_region(image));
    // A traced fork with the given fds and the gadget, stopped; killed unless committed.
    ckpt::RestoreChild child = TRY(ckpt::spawn_restore_child(region, options));
    const pid_t pid = child.pid();
    RemoteSyscaller sys(pid, region.gadget(), TRY(ptrace_get_regs(pid)));
    // Nothing may interrupt the rebuilding; resume_restored puts the saved mask back.
    TRY(ptrace_set_sigmask(pid, ~0ull));

    // From here on, files are opened as the one who asked for the restart.
    TRY(ckpt::adopt_file_credentials(sys, region, options));
    // The inherited rseq area points into memory about to be replaced.
    TRY(ckpt::unregister_inherited_rseq(sys));
    // Empty the child but for the region, and put the vdso where the image had it.
    TRY(ckpt::clear_child_layout(sys, region, image));
    // Every mapping at its address, with its contents and protection.
    TRY(ckpt::map_image_memory(sys, image));
    // brk, argv/env bounds, auxv, name.
    TRY(ckpt::restore_mm_layout(sys, region, image));
    // Handlers, altstack, pending signals.
    TRY(ckpt::restore_signal_state(sys, region, image));
    // glibc's rseq area, at the image's address.
    TRY(ckpt::register_rseq(sys, image));
    // Resource limits, while the child may still raise a hard one.
    TRY(ckpt::restore_rlimits(sys, region, image, options));
    // Personality, umask, cwd (entered with the asker's file rights).
    TRY(ckpt::restore_process_attributes(sys, region, image));
    // The asker's uid and gid, last: the steps above need the restorer's capabilities.
    TRY(ckpt::restore_credentials(sys, options));
    // Interval timers last, so little of their time passes before the process runs.
    TRY(ckpt::restore_itimers(sys, region, image));
    // FPU, registers, mask; unmap the region; let go.
    TRY(ckpt::resume_restored(sys, region, image));
    return child.commit();
}

}  // namespace ssi
