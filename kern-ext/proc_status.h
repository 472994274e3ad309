// What /proc/PID/status says about a process's identity: the uids that kill(2)'s
// permission rule compares.
#pragma once

#include "kern-ext/result.h"

#include <sys/types.h>

#include <vector>

namespace ssi {

struct ProcessUids {
    uid_t real = 0;
    uid_t effective = 0;
    uid_t saved = 0;
};

Result<ProcessUids> read_process_uids(pid_t pid);

// kill(2)'s rule: root, or the sender's uid equals the target's real or saved uid.
inline bool may_signal(uid_t caller, const ProcessUids& target) {
    return caller == 0 || caller == target.real || caller == target.saved;
}

// Who may have a process's memory and state written out (a checkpoint, a migration):
// root, or its owner in every uid — as ptrace(2) asks. A set-uid program its user may
// signal still holds another user's secrets.
inline bool may_inspect(uid_t caller, const ProcessUids& target) {
    return caller == 0 || (caller == target.real && caller == target.effective && caller == target.saved);
}

}  // namespace ssi

namespace ssi {

// Who a process is, as remote execution must reproduce it elsewhere.
struct ProcessIdentity {
    pid_t ppid = 0;
    uid_t uid = 0;  // real
    gid_t gid = 0;  // real
    std::vector<gid_t> groups;
};

Result<ProcessIdentity> read_process_identity(pid_t pid);

}  // namespace ssi
