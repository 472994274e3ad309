// A job run by a child that holds none of our descriptors but the ones it is given.
//
// For a FUSE daemon's own requests to its mount. The kernel ends a request its daemon has
// read only when the daemon answers it or when the connection aborts, at the last close
// of /dev/fuse. A thread of the daemon whose request a worker had read would wait forever
// were the daemon killed before the reply: /dev/fuse stays open in the table of that very
// thread, which cannot exit. A child holding no /dev/fuse cannot keep the connection up:
// killed, the daemon's table closes, the connection aborts, and the child's request fails.
#pragma once

#include "kern-ext/result.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <atomic>
#include <span>
#include <string>

namespace ssi {

// Runs job(arg) in a child sharing our memory (CLONE_VM | CLONE_VFORK: this thread waits
// until it is done) whose descriptor table is a copy trimmed to `keep`. `job` runs beside
// our other threads, on this thread's TLS, with every signal blocked: system calls only
// (errno is this waiting thread's), no allocation, no lock.
Result<void> run_holding_only(std::span<const int> keep, void (*job)(void*), void* arg);

// Looks each of `paths` up under the directory `dir` (fstatat, no link followed) from such
// a child holding only `dir`, until `stop` is set. The lookups are the point: their results
// are not kept.
Result<void> look_up_apart(int dir, std::span<const std::string> paths, const std::atomic<bool>& stop);

// statfs(2) of `fd` from such a child holding only `fd`, which first stores its thread id
// in `tid` (for a daemon to know its own request).
Result<void> stat_fs_apart(int fd, std::atomic<pid_t>& tid);

// The attributes of the directory `root` and of `path` resolved inside it (openat2 with
// RESOLVE_IN_ROOT, as open_in_root), from such a child holding only `root`.
struct InRootStat {
    struct stat root;
    struct stat at;
};
Result<InRootStat> stat_in_root_apart(int root, const std::string& path);

}  // namespace ssi
