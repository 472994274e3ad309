// checkpoint(): the steps, in order. Each is a function in its own file.
#include "kern-ext/checkpoint/checkpoint.h"

#include "kern-ext/checkpoint/steps.h"

namespace ssi {

Result<ProcessImage> checkpoint(pid_t pid, const CheckpointOptions& options) {
    // Say no to what we cannot restore (or a replace without a program) before touching
    // the process.
    TRY(ckpt::check_replace_options(options));
    TRY(ckpt::refuse_unsupported(pid, options.migrating));
    // Hold it still: seized and interrupted; the guard lets it go however we leave.
    SeizedTask task = TRY(SeizedTask::seize_and_stop(pid));
    // A thread (or a tracer) may have appeared between the first look and the stop.
    TRY(ckpt::refuse_unsupported(pid, options.migrating));

    ProcessImage image;
    // Registers and FPU first: the next step borrows them.
    TRY(ckpt::dump_cpu_state(pid, image));
    // Mask, pending signals, rseq: what ptrace reads directly.
    TRY(ckpt::dump_signal_state(pid, image));
    // Handlers, altstack, brk, itimers, rlimits: what the process asks for best (injected calls).
    TRY(ckpt::dump_injected_state(pid, image));
    // Umask, personality, cwd: what /proc shows from outside.
    TRY(ckpt::dump_process_attributes(pid, image));
    // Code/data/stack/argv bounds and auxv, for PR_SET_MM_MAP.
    TRY(ckpt::dump_mm_layout(pid, image));
    // Every mapping and the contents of the readable ones (after a pre-copy, of the pages
    // written since); last, after the injected scratch page is gone.
    TRY(ckpt::dump_memory(pid, image, !options.stream_memory, options.precopied, options.huge_page_areas));
    // Open fds: numbers, flags, offsets, paths; before a replace clears close-on-exec.
    TRY(ckpt::dump_open_files(pid, image));
    // Registers as a fresh task must resume them: restart or EINTR an interrupted call.
    ckpt::prepare_syscall_restart(image.regs);

    // Save while it is still stopped; a failure lets it go on as if nothing happened.
    if (options.while_frozen) TRY(options.while_frozen(image));
    image.memory_from = 0;  // streamed contents: the process is about to change or go
    if (options.after == CheckpointOptions::kill) TRY(ckpt::kill_stopped(task));
    // Or become another program in place; a failed exec lets it go on untouched. Its
    // memory may stay behind, in a holder, to be read from there.
    if (options.after == CheckpointOptions::replace) image.memory_from = TRY(ckpt::replace_stopped(task, image, options));
    return image;
}

}  // namespace ssi
