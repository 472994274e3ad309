// The filesystem a remotely executed program sees: the home root (a FUSE mount of the home
// node's files, or "/" kept as it is), this node's own /dev, /sys ... bound into it, and a
// fresh /proc of the program's PID namespace, so /proc/self and /proc/PID agree with the
// PIDs the program wears. Built in a private mount namespace, then pivot_root'ed into.
#pragma once

#include "kern-ext/result.h"
#include "kern-ext/unique_fd.h"

#include <string>
#include <utility>
#include <vector>

namespace ssi {

// {host path, path under root}. A host path of "/proc" is not bound: a fresh procfs of the
// caller's PID namespace is mounted there instead.
using RootBinds = std::vector<std::pair<std::string, std::string>>;

// Makes every mount private, binds `binds` into `root` (recursively: /dev brings /dev/pts
// and /dev/shm), mounts a fresh procfs on <root>/proc (always: a PID namespace needs its
// own) and makes `root` the caller's root and working directory. `root` "" keeps "/".
//
// Call it in a fresh mount namespace, from inside the target PID namespace (procfs takes
// the mounter's), single-threaded. Targets are resolved inside `root` (openat2
// RESOLVE_IN_ROOT), so a symlink in the home tree cannot aim a mount outside it; a
// target must exist (a directory, or a file for a file bind). An `optional` bind whose
// target is missing is left out: the caller need not look first (through a FUSE root,
// one round trip per name).
Result<void> enter_root(const std::string& root, const RootBinds& binds, const RootBinds& optional = {});

// enter_root() in steps, for a root whose names are not all served yet (a FUSE root
// whose daemon answers only the names that are mounted over before its run). Ahead:
// binds `binds`, mounts /proc, and takes a detached copy of the directory of each
// `optional` source — no name of the root asked but those targets. Then switch_into()
// pivots (no name asked); until it, the caller's root and working directory stay this
// node's, so that nobody looking at them (`lsof`, `perf`) waits for the run. Once the
// root's names are served, attach() copies each optional source from its directory's
// copy — a view of the same directory, so a source made anew meanwhile (an agent's
// socket, after a restart) is seen as it is now — and puts it on its target inside the
// new root. A source or a target missing then is left out.
class RootAhead {
public:
    RootAhead() = default;
    Result<void> switch_into();
    Result<void> attach();
    bool has_optional_binds() const { return !binds_.empty(); }
    // The copies' descriptors, to keep open; drop() closes them, after attach() or in a
    // process that will not attach. A copy's last close unmounts it, which waits for an
    // RCU grace period (~0.1 ms here): a caller whose program waits for attach() lets it
    // go on first.
    std::vector<int> fds() const;
    void drop() { binds_.clear(); }

private:
    friend Result<RootAhead> enter_root_ahead(const std::string&, const RootBinds&, const RootBinds&);
    struct Later {
        UniqueFd directory;  // clone_mount of the source's directory
        std::string name;    // the source, in it
        std::string target;
    };
    std::string root_;
    std::vector<Later> binds_;
};
Result<RootAhead> enter_root_ahead(const std::string& root, const RootBinds& binds, const RootBinds& optional);

}  // namespace ssi
