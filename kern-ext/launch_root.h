// The filesystem a remotely executed program sees: the home root (a FUSE mount of the home
// node's files, or "/" kept as it is), this node's own /dev, /sys ... bound into it, and a
// fresh /proc of the program's PID namespace, so /proc/self and /proc/PID agree with the
// PIDs the program wears. Built in a private mount namespace, then pivot_root'ed into.
#pragma once

#include "kern-ext/result.h"

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

}  // namespace ssi
