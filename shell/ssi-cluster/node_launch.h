// Starting and stopping a node's init: the pid 1 of the node's PID namespace. The init is
// ssi-cluster itself (`ssi-cluster __node-init`, see node_init.h), detached from the
// caller so the node outlives `ssi-cluster up`.
#pragma once

#include "kern-ext/result.h"
#include "shell/ssi-cluster/cluster_state.h"

#include <chrono>
#include <string>
#include <vector>

namespace ssi::cluster {

struct LaunchSpec {
    StatePaths paths;
    int node = 0;
    std::string self;   // this program, to run as the init
    std::string agent;  // the ssi-agent binary the init starts
};

// Forks a helper that unshares PID, mount and UTS namespaces and forks the init (so the
// init is pid 1 of the new PID namespace), in a session of its own, with stdio on
// nodeK/init.log. Returns once the init exists; it builds the node by itself.
Result<ProcessId> launch_node(const LaunchSpec& spec);

// SIGTERM to each init (the init stops its node), SIGKILL to those still there after
// `grace` (which kills the whole PID namespace); returns once every init is gone.
Result<void> stop_inits(const std::vector<ProcessId>& inits, std::chrono::milliseconds grace);

}  // namespace ssi::cluster
