// Per-process state a deputy hands to its remote program, and the last act of a deputy:
// dying of the same signal as its program.
#pragma once

#include "kern-ext/result.h"

#include <sys/resource.h>
#include <sys/types.h>

#include <utility>
#include <vector>

namespace ssi {

// Sets the umask and returns the previous one.
mode_t exchange_umask(mode_t mask);
// Every resource limit of this process, as (resource, limit).
std::vector<std::pair<int, rlimit>> current_rlimits();
// Dies of `signal` as if it had been delivered with its default action (no core file at
// home: the core, if any, was the remote program's). Returns only if the signal does not
// kill (e.g. SIGCHLD); the caller then exits normally.
void die_of_signal(int signal);
// This process's hostname (uname).
Result<std::string> host_name();

}  // namespace ssi
