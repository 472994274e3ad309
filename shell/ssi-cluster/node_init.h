// `ssi-cluster __node-init`: pid 1 of a node. It builds the node's filesystem view
// (mounts made private, then a tmpfs on /tmp, /run/ssi and /dev/shm and a /proc of the
// node's PID namespace), names the node, starts the agent and then reaps forever.
//
// Signals are its whole interface (read from a signalfd):
//   SIGUSR1  start the agent unless it is running (`ssi-cluster start-agent`)
//   SIGTERM  from outside the node: stop every process of the node and exit, which ends
//            the node (SIGKILL does the same without the courtesy). From inside the node
//            it is ignored, as a real init ignores `kill 1`.
//   SIGCHLD  reap; an agent that exits is not restarted (tests stop agents on purpose).
// Killing the agent therefore never kills the node.
#pragma once

#include "kern-ext/result.h"

#include <string>

namespace ssi::cluster {

struct NodeInitOptions {
    std::string state_dir;
    int node = 0;
    std::string agent;
};

Result<int> run_node_init(const NodeInitOptions& options);

}  // namespace ssi::cluster
