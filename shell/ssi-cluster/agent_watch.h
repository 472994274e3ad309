// Watching a node's agent from the host: what its init says about it, which host
// process it is, and whether it answers on its socket (reached through the init's root,
// /proc/INIT/root/run/ssi/agent.sock, since the socket lives in the node's private tmpfs).
#pragma once

#include "kern-ext/result.h"
#include "libssi/wire/messages.h"
#include "shell/ssi-cluster/cluster_state.h"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace ssi::cluster {

// nodeK/agent.state, written by the node's init each time it starts or reaps the agent.
struct AgentState {
    enum Kind { unknown, running, exited } kind = unknown;
    pid_t ns_pid = 0;    // the agent's pid inside the node
    std::string how;     // for exited: "exit status 1", "killed by signal 9 (Killed)"
};

AgentState read_agent_state(const StatePaths& paths, int k);
std::string format_agent_state(const AgentState& state);  // the file's one line

// The host pid of node K's agent: the child of its init whose pid in the node is ns_pid.
std::optional<pid_t> find_agent_host_pid(const ProcessId& init, pid_t ns_pid);

std::string agent_socket_from_host(const ProcessId& init, const ClusterConfig& config);
Result<wire::NodesReply> ask_nodes(const std::string& socket, int timeout_ms);

struct ReadyWait {
    int node = 0;
    pid_t stale_ns_pid = 0;  // an agent that was stopped: its "exited" line is old news
};

// Waits until each node's agent answers NodesRequest and lists every node of `must_see_up`
// as "up". Fails at once when a node's init or agent dies, and at the deadline; the error
// ends with the tail of the failing node's logs.
Result<void> wait_until_ready(const Cluster& cluster, const std::vector<ReadyWait>& nodes,
                              const std::vector<int32_t>& must_see_up, std::chrono::milliseconds timeout);

// The nodes other than `except` whose agent runs and answers now: the ones a restarted
// agent should see up before it is ready (a stopped or frozen agent would never be).
std::vector<int32_t> answering_nodes(const Cluster& cluster, int except);

}  // namespace ssi::cluster
