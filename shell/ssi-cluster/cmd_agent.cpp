// ssi-cluster stop-agent / start-agent: a node whose agent stops keeps running (its init
// and every other process stay), as a machine does when its ssi-agent service stops.
// Stopping signals the agent from the host; starting asks the node's init (SIGUSR1), so
// the new agent is the init's child like the first one.
#include "libssi/signals.h"
#include "kern-ext/pidfd.h"
#include "kern-ext/process.h"
#include "kern-ext/unix_socket.h"
#include "shell/ssi-cluster/agent_watch.h"
#include "shell/ssi-cluster/cluster_state.h"
#include "shell/ssi-cluster/commands.h"

#include <signal.h>

#include <cstdio>

namespace ssi::cluster {
namespace {

struct RunningAgent {
    pid_t host_pid = 0;
    AgentState state;
};

std::optional<RunningAgent> running_agent(const Cluster& c, int k, const ProcessId& init) {
    AgentState st = read_agent_state(c.paths, k);
    if (st.kind != AgentState::running) return std::nullopt;
    auto host = find_agent_host_pid(init, st.ns_pid);
    if (!host) return std::nullopt;
    return RunningAgent{*host, st};
}

}  // namespace

Result<int> cmd_stop_agent(const AgentOptions& o) {
    int signal = TRY(parse_signal(o.signal));
    if (signal == 0) return make_error("stop-agent needs a signal that stops something, not 0", {}, 0);
    Cluster cluster = TRY(load_cluster(o.name));
    ProcessId init = TRY(cluster.running_init(o.node));
    std::string node = "node " + std::to_string(o.node);
    auto agent = running_agent(cluster, o.node, init);
    if (!agent) return make_error(node + ": ssi-agent is not running", {}, 0);

    // Looked up again once the pidfd pins the process: still the node's agent?
    Pidfd fd = TRY(Pidfd::open(agent->host_pid));
    if (find_agent_host_pid(init, agent->state.ns_pid) != agent->host_pid)
        return make_error(node + ": ssi-agent exited meanwhile", {}, 0);
    TRY(fd.send_signal(signal));
    if (!TRY(wait_readable(fd.fd(), o.timeout_s * 1000)))
        return make_error(node + ": ssi-agent (pid " + std::to_string(agent->host_pid) + ") still runs " +
                              std::to_string(o.timeout_s) + " s after signal " + std::to_string(signal) +
                              " (try --signal KILL)",
                          {}, ETIMEDOUT);
    std::printf("%s: ssi-agent (pid %d) stopped\n", node.c_str(), agent->host_pid);
    return 0;
}

Result<int> cmd_start_agent(const AgentOptions& o) {
    Cluster cluster = TRY(load_cluster(o.name));
    ProcessId init = TRY(cluster.running_init(o.node));
    std::string node = "node " + std::to_string(o.node);
    if (auto agent = running_agent(cluster, o.node, init)) {
        std::printf("%s: ssi-agent is already running (pid %d)\n", node.c_str(), agent->host_pid);
        return 0;
    }
    // Whatever agent.state says now is about the previous agent.
    pid_t stale = read_agent_state(cluster.paths, o.node).ns_pid;
    Pidfd fd = TRY(Pidfd::open(init.pid));
    if (!is_running(init)) return make_error(node + " stopped", {}, ESRCH);
    // Ready, as after `up`, once it also sees the nodes that answer: a request it serves
    // at once must not find them "down" for not having been heard yet.
    std::vector<int32_t> peers = answering_nodes(cluster, o.node);
    TRY(fd.send_signal(SIGUSR1));
    TRY(wait_until_ready(cluster, {ReadyWait{o.node, stale}}, peers, std::chrono::seconds(o.timeout_s)));
    auto agent = running_agent(cluster, o.node, init);
    std::printf("%s: ssi-agent started (pid %d)\n", node.c_str(), agent ? agent->host_pid : 0);
    return 0;
}

}  // namespace ssi::cluster
