// RemoteRuns: the agent's part in ssi-run. At home it vouches for the caller (who it is,
// from the kernel, never from the request) and picks the target; at the target it starts
// one ssi-remote supervisor per program and reaps it when it ends. The program's traffic
// never passes through the agents: the supervisor talks to the deputy directly.
#pragma once

#include "kern-ext/result.h"
#include "kern-ext/unix_socket.h"
#include "libssi/config.h"
#include "libssi/wire/messages.h"

#include <string>

namespace ssi::agent {

class RemoteRuns {
public:
    explicit RemoteRuns(const ClusterConfig& config) : config_(config) {}

    // Home side: the request with home, pid, ppid, uid, gid and groups filled in from the
    // caller's credentials.
    Result<wire::RunRequest> vouch(const PeerCredentials& caller, wire::RunRequest request) const;

    // Target side: checks the user may run here and starts the supervisor.
    Result<void> start(const wire::RunRequest& request);

    // Reaps supervisors that ended (call on SIGCHLD).
    void reap();
    size_t running() const { return running_; }

private:
    const ClusterConfig& config_;
    size_t running_ = 0;
};

// Path of the ssi-remote supervisor: $SSI_REMOTE_BIN, or beside this executable.
std::string supervisor_path();

}  // namespace ssi::agent
