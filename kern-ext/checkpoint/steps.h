// The steps of checkpoint() and restore(), one per file (kern-ext/checkpoint/<step>.cpp).
// checkpoint.cpp and restore.cpp read as their tables of contents.
#pragma once

#include "kern-ext/checkpoint/checkpoint.h"
#include "kern-ext/checkpoint/process_image.h"
#include "kern-ext/checkpoint/remote_syscall.h"

#include <sys/types.h>

#include <string>
#include <vector>

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
};
Result<std::vector<MapsEntry>> read_maps(pid_t pid);  // pid 0: ourselves

// ---- checkpoint (checkpoint.cpp) ---------------------------------------------------

Result<void> refuse_unsupported(pid_t pid);
Result<void> dump_cpu_state(pid_t pid, ProcessImage& image);
Result<void> dump_signal_state(pid_t pid, ProcessImage& image);
Result<void> dump_injected_state(pid_t pid, ProcessImage& image);
// Called from dump_injected_state, which lends the gadget and a scratch page.
Result<void> dump_itimers(RemoteSyscaller& sys, RemotePtr scratch, ProcessImage& image);
Result<void> dump_rlimits(RemoteSyscaller& sys, RemotePtr scratch, ProcessImage& image);
Result<void> dump_process_attributes(pid_t pid, ProcessImage& image);
Result<void> dump_mm_layout(pid_t pid, ProcessImage& image);
Result<void> dump_memory(pid_t pid, ProcessImage& image);
void prepare_syscall_restart(Registers& regs);
Result<void> kill_stopped(SeizedTask& task);

// ---- restore (restore.cpp) ---------------------------------------------------------

// Where the restore's own pages live: free both in the caller (so in the forked child)
// and in the image. Page 0: the gadget; page 1: scratch for arguments; the rest: a
// parking place for the child's vdso while the image's layout is cleared.
struct RestoreRegion {
    uint64_t start = 0, size = 0;
    RemotePtr gadget() const { return RemotePtr{start}; }
    RemotePtr scratch() const { return RemotePtr{start + 4096}; }
    uint64_t parking() const { return start + 2 * 4096; }
    uint64_t end() const { return start + size; }
};
Result<RestoreRegion> choose_restore_region(const ProcessImage& image);

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
Result<void> map_image_memory(RemoteSyscaller& sys, const ProcessImage& image);
Result<void> restore_mm_layout(RemoteSyscaller& sys, const RestoreRegion& region, const ProcessImage& image);
Result<void> restore_signal_state(RemoteSyscaller& sys, const RestoreRegion& region, const ProcessImage& image);
Result<void> register_rseq(RemoteSyscaller& sys, const ProcessImage& image);
// The asker's groups and file ids first; its real/effective/saved ids last.
Result<void> adopt_file_credentials(RemoteSyscaller& sys, const RestoreRegion& region, const RestoreOptions& options);
Result<void> restore_rlimits(RemoteSyscaller& sys, const RestoreRegion& region, const ProcessImage& image,
                             const RestoreOptions& options);
Result<void> restore_process_attributes(RemoteSyscaller& sys, const RestoreRegion& region, const ProcessImage& image);
Result<void> restore_credentials(RemoteSyscaller& sys, const RestoreOptions& options);
Result<void> restore_itimers(RemoteSyscaller& sys, const RestoreRegion& region, const ProcessImage& image);
Result<void> resume_restored(RemoteSyscaller& sys, const RestoreRegion& region, const ProcessImage& image);

}  // namespace ssi::ckpt
