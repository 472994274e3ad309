// A stand-in: a child process that only holds a PID for a process that runs elsewhere
// (a remote program's child, held by the program's deputy at home). It wears the PID, so
// the home kernel gives it to nobody else and `kill PID` at home finds it; it reports
// every catchable signal it receives, and exits as the real process did when told.
//
// Forked from a multi-threaded process, the stand-in makes only raw system calls
// (async-signal-safe) and keeps none of its parent's descriptors, stdio included.
#pragma once

#include "kern-ext/result.h"
#include "kern-ext/unique_fd.h"

#include <sys/types.h>

#include <cstdint>

namespace ssi {

// What a stand-in writes to `signals_out` for each signal it receives: one write, so the
// records of several stand-ins sharing a pipe never interleave.
struct StandInSignal {
    int32_t pid = 0;     // the stand-in
    int32_t signal = 0;
};

struct StandIn {
    pid_t pid = 0;
    UniqueFd commands;  // ours: end_stand_in writes here; closing it ends the stand-in (status 0)
};

// Its name (comm) at home: how the home agent tells a deputy's stand-ins from other
// children it may have.
inline constexpr const char* kStandInName = "ssi-stand-in";

// Forks one. It dies with the calling thread (PR_SET_PDEATHSIG).
Result<StandIn> fork_stand_in(int signals_out);

// Tells it to end with this raw wait status: exit(code), or death by the same signal
// (without a core file). The caller reaps it.
Result<void> end_stand_in(const StandIn& stand_in, int wait_status);

}  // namespace ssi
