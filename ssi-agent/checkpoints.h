// Checkpoints: the agent's part in ssi-checkpoint and ssi-restart (docs/checkpoint.md).
// The agent is the one with the rights a checkpoint and a restore need (ptrace of other
// users' processes, PR_SET_MM_MAP, a chosen PID); the tools bring the files, opened with
// their own credentials, and the agent takes those very open files from the caller
// (pidfd_getfd), so it never opens a path on a user's behalf. A restored process runs
// with the caller's uid, gid and groups, and is the agent's child: the agent reaps it and
// tells the waiting ssi-restart how it ended.
#pragma once

#include "kern-ext/process.h"
#include "libssi/config.h"
#include "libssi/wire/messages.h"
#include "ssi-agent/event_loop.h"
#include "ssi-agent/local_server.h"
#include "ssi-agent/remote_runs.h"

#include <map>
#include <memory>
#include <optional>
#include <vector>

namespace ssi::agent {

class Checkpoints {
public:
    Checkpoints(EventLoop& loop, const ClusterConfig& config, RemoteRuns& runs)
        : loop_(loop), config_(config), runs_(runs) {}

    // Local requests. Checks run on the loop thread; the checkpoint or restore itself on
    // the thread pool (ptrace wants one thread for a whole job), so heartbeats go on.
    void handle(const LocalRequest& request, const wire::CheckpointRequest& checkpoint);
    void handle(const LocalRequest& request, const wire::RestartRequest& restart);
    void handle(const LocalRequest& request, const wire::RestartWaitRequest& wait);

    // Reaps restored processes that ended (call on SIGCHLD; waits by PID only).
    void reap();

private:
    struct CheckpointJob;
    struct RestartJob;
    Result<std::shared_ptr<CheckpointJob>> prepare(const PeerCredentials& caller, const wire::CheckpointRequest& request);
    Result<std::shared_ptr<RestartJob>> prepare(const PeerCredentials& caller, const wire::RestartRequest& request);

    struct Restored {
        uid_t owner = 0;
        bool detached = false;
        std::optional<ExitStatus> ended;
        std::vector<Responder> waiting;
    };
    EventLoop& loop_;
    const ClusterConfig& config_;
    RemoteRuns& runs_;
    std::map<pid_t, Restored> restored_;
};

}  // namespace ssi::agent
