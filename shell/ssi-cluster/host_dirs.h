// The few host directories clusters share: /run/ssi-cluster (every cluster's state dir)
// and /run/ssi, which must exist as the mount point of each node's private /run/ssi.
// `down` of the last cluster removes what `up` had to create, and nothing else.
#pragma once

#include "kern-ext/result.h"
#include "shell/ssi-cluster/cluster_state.h"

#include <string>
#include <vector>

namespace ssi::cluster {

Result<void> prepare_host_dirs();
void tidy_host_dirs();

// Creates the state dir of a new cluster. A dir left by a cluster whose nodes are all
// gone is removed first; one whose nodes run is "already up".
Result<void> claim_state_dir(const std::string& name, const StatePaths& paths);

// Every init recorded in a state dir (nodeK/init.pid), even of a half-started cluster.
std::vector<ProcessId> recorded_inits(const StatePaths& paths);

}  // namespace ssi::cluster
