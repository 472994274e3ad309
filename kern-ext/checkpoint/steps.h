// The steps of checkpoint() and restore(), one per file (kern-ext/checkpoint/<step>.cpp).
// checkpoint.cpp and restore.cpp read as their tables of contents.
#pragma once

#include "kern-ext/checkpoint/checkpoint.h"
#include "kern-ext/checkpoint/process_image.h"
#include "kern-ext/checkpoint/remote_syscall.h"

#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ssi {
class WriteTracker;
}

namespace ssi::ckpt {

// ---- shared ------------------------------------------------------------------------

// One line of /proc/PID/maps.
struct MapsEntry {
    uint64_t start = 0, end = 0;
    std::string perms;  // "rw-p"
    uint64_t offset = 0;
    uint64_t inode = 0;
    std::string path;
    bool is_kernel() const;  // [vdso], [vvar], [vvar_vclock], [vsyscall], [uprobes]
    uint32_t prot() const;   // PROT_READ | PROT_WRITE | PROT_EXEC, from perms
};
Result<std::vector<MapsEntry>> read_maps(pid_t pid);  // pid 0: ourselves
// The start of every area that has transparent huge pages or asked for them (MADV_HUGEPAGE).
Result<std::vector<uint64_t>> read_huge_page_areas(pid_t pid);
// The signals the process ignores or catches now (/proc/PID/status SigIgn | SigCgt): the
// others have their default action. All of them when status cannot tell.
Result<uint64_t> signals_not_default(pid_t pid);
// /proc/PID/fd and fdinfo, in fd order (dump_open_files.cpp).
Result<std::vector<OpenFile>> read_open_files(pid_t pid);
// SIGKILL a process we trace; when we are not its parent, collect the tracer's notice so
// its parent gets the usual one (kill_stopped.cpp).
Result<void> kill_traced(pid_t pid);

// ---- checkpoint (checkpoint.cpp) ---------------------------------------------------

// `migrating`: also refuse fds beyond 0..2 that cannot be reopened by path elsewhere.
Result<void> refuse_unsupported(pid_t pid, bool migrating);
Result<void> dump_cpu_state(pid_t pid, ProcessImage& image);
Result<void> dump_signal_state(pid_t pid, ProcessImage& image);
Result<void> dump_injected_state(pid_t pid, ProcessImage& image);
// Called from dump_injected_state, which lends the gadget and a scratch page.
Result<void> dump_itimers(RemoteSyscaller& sys, RemotePtr scratch, ProcessImage& image);
Result<void> dump_rlimits(RemoteSyscaller& sys, RemotePtr scratch, ProcessImage& image);
Result<void> dump_process_attributes(pid_t pid, ProcessImage& image);
Result<void> dump_mm_layout(pid_t pid, ProcessImage& image);
// `contents`: read them into the image; else the image says they are in the process.
// `precopied`: the tracker of a pre-copy; the mappings it follows are saved as their runs
// written since its last look.
// `known_huge`: the huge-page areas, read before (CheckpointOptions::huge_page_areas).
Result<void> dump_memory(pid_t pid, ProcessImage& image, bool contents, WriteTracker* precopied,
                         const std::optional<std::vector<uint64_t>>& known_huge);
Result<void> dump_open_files(pid_t pid, ProcessImage& image);
void prepare_syscall_restart(Registers& regs);
Result<void> kill_stopped(SeizedTask& task);
// Before anything is touched: a replace without a program is refused.
Result<void> check_replace_options(const CheckpointOptions& options);
// The PID of the memory's holder when options.hold_memory asked for one (memory_holder.h),
// asleep and let go; else 0.
Result<pid_t> replace_stopped(SeizedTask& task, const ProcessImage& image, const CheckpointOptions& options);

// ---- restore (restore.cpp) ---------------------------------------------------------

// Where the restore's own pages live: free both in the process being rebuilt (the
// caller's fork, or restore_into's target) and in the image. Page 0: the gadget; page 1: scratch for arguments; the rest: a
// parking place for the child's vdso while the image's layout is cleared.
struct RestoreRegion {
    uint64_t start = 0, size = 0;
    RemotePtr gadget() const { return RemotePtr{start}; }
    RemotePtr scratch() const { return RemotePtr{start + 4096}; }
    uint64_t parking() const { return start + 2 * 4096; }
    uint64_t end() const { return start + size; }
};
// `whose`: the process the region will be mapped in; 0 = the caller (restore() forks it).
Result<RestoreRegion> choose_restore_region(pid_t whose, const ProcessImage& image);

// The child being rebuilt: killed and reaped unless commit()ed.
class RestoreChild {
public:
    explicit RestoreChild(pid_t pid) : pid_(pid) {}
    RestoreChild(RestoreChild&& o) noexcept : pid_(std::exchange(o.pid_, 0)) {}
    RestoreChild(const RestoreChild&) = delete;
    ~RestoreChild();
    pid_t pid() const { return pid_; }
    pid_t commit() { return std::exchange(pid_, 0); }

private:
    pid_t pid_;
};
Result<RestoreChild> spawn_restore_child(const RestoreRegion& region, const RestoreOptions& options);
Result<void> unregister_inherited_rseq(RemoteSyscaller& sys);
Result<void> clear_child_layout(RemoteSyscaller& sys, const RestoreRegion& region, const ProcessImage& image);
// lazy: the readable mappings are made but left empty (register_lazy_memory's to fill).
Result<void> map_image_memory(RemoteSyscaller& sys, const ProcessImage& image, bool lazy = false);
Result<void> register_lazy_memory(RemoteSyscaller& sys, const ProcessImage& image, const RestoreOptions& options);
Result<void> end_memory_holder(RemoteSyscaller& sys, const ProcessImage& image, const RestoreOptions& options);
Result<void> restore_mm_layout(RemoteSyscaller& sys, const RestoreRegion& region, const ProcessImage& image);
Result<void> restore_signal_state(RemoteSyscaller& sys, const RestoreRegion& region, const ProcessImage& image);
Result<void> register_rseq(RemoteSyscaller& sys, const ProcessImage& image);
// The asker's groups and file ids first; its real/effective/saved ids last.
Result<void> adopt_file_credentials(RemoteSyscaller& sys, const RestoreRegion& region, const RestoreOptions& options);
Result<void> restore_rlimits(RemoteSyscaller& sys, const RestoreRegion& region, const ProcessImage& image,
                             const RestoreOptions& options);
Result<void> restore_process_attributes(RemoteSyscaller& sys, const RestoreRegion& region, const ProcessImage& image);
Result<void> restore_credentials(RemoteSyscaller& sys, const RestoreOptions& options);
// Before anything is touched: the image's files can be reopened (Files::reopen), or
// `target` (0: none, restore()) holds them under the same numbers (Files::in_place).
Result<void> check_restore_files(pid_t target, const ProcessImage& image, const RestoreOptions& options);
Result<void> restore_files(RemoteSyscaller& sys, const RestoreRegion& region, const ProcessImage& image,
                           const RestoreOptions& options);
Result<void> resume_restored(RemoteSyscaller& sys, const RestoreRegion& region, const ProcessImage& image,
                             const RestoreOptions& options);
// The image's pre-copied mappings are all in `target`, anonymous and writable (0: restore()
// has no such process, and refuses an image with any).
Result<void> check_precopied(pid_t target, const ProcessImage& image);
// The one protection all of `run` has in `maps`, or ~0u when it is mixed or not mapped.
uint32_t current_protection(const std::vector<MapsEntry>& maps, PageRun run);
// Whether the process already runs with `c` exactly (real, effective, saved and fs ids
// and groups): then the credential steps change nothing.
Result<bool> has_credentials(pid_t pid, const RestoreCredentials& c);
// The fs uid, fs gid and groups the process runs with now.
Result<RestoreCredentials> read_fs_credentials(pid_t pid);

// How far rebuild() got: until the layout is cleared, the process is still its old self.
struct RebuildProgress {
    bool cleared = false;
};
// The steps restore() and restore_into() share, from a stopped tracee with the region
// mapped (gadget, scratch) to letting it run as the image (restore.cpp).
Result<void> rebuild(RemoteSyscaller& sys, const RestoreRegion& region, const ProcessImage& image,
                     const RestoreOptions& options, RebuildProgress& progress);

// ---- restore_into (restore_into.cpp) -----------------------------------------------


// The existing process being rebuilt (restore_target.cpp): seized and stopped. Unless
// commit()ed it is given back as it was (region unmapped, code bytes, registers, mask,
// rseq, fs ids and groups put back, detached), or killed once mark_cleared() was said.
class RestoreTarget {
public:
    static Result<RestoreTarget> seize(pid_t pid);
    RestoreTarget(RestoreTarget&&) noexcept = default;
    RestoreTarget(const RestoreTarget&) = delete;
    ~RestoreTarget();

    pid_t pid() const { return task_.pid(); }
    const Registers& regs() const { return regs_; }
    // Maps the region by calls injected at the borrowed rip; writes the gadget.
    Result<void> map_region(const RestoreRegion& region);
    void mark_cleared() { cleared_ = true; }
    void commit() { task_.release(); }  // resume_restored detached it

private:
    explicit RestoreTarget(SeizedTask task) : task_(std::move(task)) {}
    void undo();
    SeizedTask task_;
    Registers regs_{};
    uint64_t sigmask_ = 0;
    __ptrace_rseq_configuration rseq_{};
    RestoreCredentials fs_credentials_;  // adopt_file_credentials may change them
    std::optional<RestoreRegion> region_;
    bool cleared_ = false;
};

Result<void> restore_itimers(RemoteSyscaller& sys, const RestoreRegion& region, const ProcessImage& image);

}  // namespace ssi::ckpt
