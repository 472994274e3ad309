// restore() and rebuild(): the steps, in order. Each is a function in its own file. The
// process is rebuilt from inside by injected system calls; until it is let go, any
// failure kills it (restore_into gives it back instead while it is still untouched).
#include "kern-ext/checkpoint/checkpoint.h"

#include "kern-ext/checkpoint/steps.h"

namespace ssi {

Result<pid_t> restore(const ProcessImage& image, const RestoreOptions& options) {
    // Files that cannot be reopened are refused before anything is done.
    TRY(ckpt::check_restore_files(0, image, options));
    // A pre-copied image can be rebuilt only in the process that holds its memory.
    TRY(ckpt::check_precopied(0, image));
    // Our own pages during the restore: free in our layout and in the image's.
    ckpt::RestoreRegion region = TRY(ckpt::choose_restore_region(0, image));
    // A traced fork with the given fds and the gadget, stopped; killed unless committed.
    ckpt::RestoreChild child = TRY(ckpt::spawn_restore_child(region, options));
    const pid_t pid = child.pid();
    RemoteSyscaller sys(pid, region.gadget(), TRY(ptrace_get_regs(pid)));
    // Nothing may interrupt the rebuilding; resume_restored puts the saved mask back.
    TRY(ptrace_set_sigmask(pid, ~0ull));
    ckpt::RebuildProgress progress;
    TRY(ckpt::rebuild(sys, region, image, options, progress));
    return child.commit();
}

namespace ckpt {

Result<void> rebuild(RemoteSyscaller& sys, const RestoreRegion& region, const ProcessImage& image,
                     const RestoreOptions& options, RebuildProgress& progress) {
    // From here on, files are opened as the one who asked for the restart.
    TRY(adopt_file_credentials(sys, region, options));
    // The inherited rseq area points into memory about to be replaced.
    TRY(unregister_inherited_rseq(sys));
    // Empty the process but for the region, and put the vdso where the image had it.
    progress.cleared = true;
    TRY(clear_child_layout(sys, region, image));
    // Every mapping at its address, with its contents and protection.
    TRY(map_image_memory(sys, image, bool(options.lazy_memory)));
    // Or, post-copied, empty and registered, and its filler started.
    TRY(register_lazy_memory(sys, image, options));
    // The memory read, its holder (the process's own child, if asked) ends.
    TRY(end_memory_holder(sys, image, options));
    // brk, argv/env bounds, auxv, name.
    TRY(restore_mm_layout(sys, region, image));
    // Handlers, altstack, pending signals.
    TRY(restore_signal_state(sys, region, image));
    // glibc's rseq area, at the image's address.
    TRY(register_rseq(sys, image));
    // Resource limits, while the process may still raise a hard one.
    TRY(restore_rlimits(sys, region, image, options));
    // Personality, umask, cwd (entered with the asker's file rights).
    TRY(restore_process_attributes(sys, region, image));
    // Open files closed, reopened or found in place, as the asker (RestoreOptions::files).
    TRY(restore_files(sys, region, image, options));
    // The asker's uid and gid, last: the steps above need the restorer's capabilities.
    TRY(restore_credentials(sys, options));
    // Interval timers last, so little of their time passes before the process runs.
    TRY(restore_itimers(sys, region, image));
    // FPU, registers, mask; unmap the region; let go.
    TRY(resume_restored(sys, region, image, options));
    return ok();
}

}  // namespace ckpt
}  // namespace ssi
