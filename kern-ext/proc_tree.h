// Where a process stands in the process tree and in nested PID namespaces, from /proc:
// what a supervisor needs to follow the children of a program it does not parent.
#pragma once

#include "kern-ext/result.h"

#include <sys/types.h>

#include <optional>
#include <vector>

namespace ssi {

struct NamespacePids {
    pid_t tgid = 0;                // the process (thread group) of the thread, as we see it
    std::vector<pid_t> nspids;     // the thread's PID in each namespace, ours first ("NSpid:")
    pid_t innermost() const { return nspids.empty() ? 0 : nspids.back(); }
};
Result<NamespacePids> read_namespace_pids(pid_t tid);

// The process that descriptor `fd` of thread `tid` is a pidfd of, as numbered in its
// innermost PID namespace (the last number of the fdinfo's "NSpid:"). ESRCH when it has
// ended, EBADF when `fd` is no pidfd.
Result<pid_t> innermost_pid_of_pidfd(pid_t tid, int fd);

// The processes whose parent is thread `tid` (/proc/TID/task/TID/children), as we see them.
Result<std::vector<pid_t>> read_thread_children(pid_t tid);

// The raw wait status a zombie left (/proc/PID/stat's exit_code): nullopt when `pid` is
// not a zombie (running, or already reaped).
std::optional<int> zombie_wait_status(pid_t pid);

}  // namespace ssi
