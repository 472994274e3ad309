// ssi-cluster status: one line per node, with host pids, so a test or a person can see
// (and signal) each node's init and agent from the host.
#include "shell/ssi-cluster/agent_watch.h"
#include "shell/ssi-cluster/cluster_state.h"
#include "shell/ssi-cluster/commands.h"

#include <cstdio>

namespace ssi::cluster {

Result<int> cmd_status(const std::string& name) {
    Cluster cluster = TRY(load_cluster(name));
    std::printf("%-5s %-9s %-22s %-9s %-10s %s\n", "NODE", "HOSTNAME", "ADDRESS", "INIT-PID", "AGENT-PID", "AGENT");
    for (const auto& n : cluster.nodes) {
        int k = n.config.id;
        std::string address = n.config.address + ":" + std::to_string(n.config.port);
        std::string init_pid = "-", agent_pid = "-", agent = "node-down";
        if (n.init && is_running(*n.init)) {
            init_pid = std::to_string(n.init->pid);
            agent = "stopped";
            AgentState st = read_agent_state(cluster.paths, k);
            if (st.kind == AgentState::running) {
                if (auto host = find_agent_host_pid(*n.init, st.ns_pid)) {
                    agent_pid = std::to_string(*host);
                    agent = "running";
                }
            }
        }
        std::printf("%-5d %-9s %-22s %-9s %-10s %s\n", k, node_hostname(k).c_str(), address.c_str(), init_pid.c_str(),
                    agent_pid.c_str(), agent.c_str());
    }
    return 0;
}

}  // namespace ssi::cluster
