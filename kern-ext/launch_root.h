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

// enter_root() in two steps, for a root whose names are not all served yet. The first
// needs no name of the root but the targets of `binds` and /proc (through a FUSE root,
// names its daemon can answer before it serves the rest): it binds them, mounts /proc
// and pivots, after taking a detached copy of the directory of each `optional` source.
// The second, once the root's names are served, copies each source from its directory's
// copy — a view of the same directory, so a source replaced meanwhile (an agent's socket,
// made anew when the agent restarts) is seen as it is now — and puts it on its target
// inside the new root. A source or a target missing then is left out.
class OptionalBinds {
public:
    OptionalBinds() = default;
    Result<void> attach();

private:
    friend Result<OptionalBinds> enter_root_ahead(const std::string&, const RootBinds&, const RootBinds&);
    struct Later {
        UniqueFd directory;  // clone_mount of the source's directory
        std::string name;    // the source, in it
        std::string target;
    };
    std::vector<Later> binds_;
};
Result<OptionalBinds> enter_root_ahead(const std::string& root, const RootBinds& binds, const RootBinds& optional);

}  // namespace ssi
