// Where the programs a node runs are found: the agent, and the ssi tools put on PATH for
// commands run with `ssi-cluster exec`.
#pragma once

#include "kern-ext/result.h"

#include <string>

namespace ssi::cluster {

// This program, resolved (readlink /proc/self/exe), and its directory.
Result<std::string> self_path();
Result<std::string> self_dir();

// ssi-agent from $SSI_BIN, else beside ssi-cluster, else ../sbin (the installed layout).
// Refuses a binary under a directory that nodes mount over (it would vanish in the node).
Result<std::string> find_agent_binary();

// `dir` prepended to the colon-separated `path` unless already in it.
std::string path_with(const std::string& path, const std::string& dir);

}  // namespace ssi::cluster
