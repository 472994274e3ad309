#include "shell/ssi-cluster/agent_watch.h"

#include "kern-ext/files.h"
#include "libssi/agent_client.h"

#include <filesystem>
#include <sstream>
#include <thread>

namespace ssi::cluster {
namespace {

using clock = std::chrono::steady_clock;

// The first (or last) number on the "KEY" line of a /proc status file.
std::optional<long> status_field(const std::string& text, const std::string& key, bool last_token) {
    auto pos = text.find("\n" + key);
    if (pos == std::string::npos) return std::nullopt;
    pos += 1 + key.size();
    std::istringstream line(text.substr(pos, text.find('\n', pos) - pos));
    std::optional<long> value;
    for (long v; line >> v;) {
        value = v;
        if (!last_token) break;
    }
    return value;
}

// Names the logs by their place in the state dir: a failed `up` removes the dir.
Error node_failure(const Cluster& c, int k, const std::string& what) {
    std::string msg = "node " + std::to_string(k) + ": " + what;
    std::string node = "node" + std::to_string(k);
    std::string agent = log_tail(c.paths.agent_log(k));
    std::string init = log_tail(c.paths.init_log(k));
    if (!agent.empty()) msg += "\n" + node + "/agent.log ends with:\n" + agent;
    if (!init.empty()) msg += "\n" + node + "/init.log ends with:\n" + init;
    if (agent.empty() && init.empty()) msg += " (its logs are empty)";
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    return make_error(msg, {}, 0);
}

// "" when ready, else why not (yet).
std::string not_ready_reason(const Cluster& c, const ProcessId& init, const std::vector<int32_t>& must_see_up) {
    auto reply = ask_nodes(agent_socket_from_host(init, c.config), 1000);
    if (!reply) return reply.error().message();
    std::string waiting;
    for (int32_t id : must_see_up) {
        std::string state = "unknown";
        for (const auto& v : reply->nodes)
            if (v.status.id == id) state = v.state;
        if (state != "up") waiting += " node" + std::to_string(id) + "=" + state;
    }
    return waiting.empty() ? std::string() : "not every node is up yet:" + waiting;
}

}  // namespace

AgentState read_agent_state(const StatePaths& paths, int k) {
    AgentState s;
    auto text = read_file(paths.agent_state(k));
    if (!text) return s;
    std::istringstream in(*text);
    std::string kind;
    in >> kind >> s.ns_pid;
    if (kind == "running") s.kind = AgentState::running;
    if (kind == "exited") s.kind = AgentState::exited;
    std::getline(in >> std::ws, s.how);
    return s;
}

std::string format_agent_state(const AgentState& s) {
    std::string kind = s.kind == AgentState::running ? "running" : s.kind == AgentState::exited ? "exited" : "unknown";
    return kind + " " + std::to_string(s.ns_pid) + (s.how.empty() ? "" : " " + s.how) + "\n";
}

std::optional<pid_t> find_agent_host_pid(const ProcessId& init, pid_t ns_pid) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
        const std::string name = entry.path().filename().string();
        if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
        auto status = read_file("/proc/" + name + "/status");
        if (!status) continue;
        std::string text = "\n" + *status;
        if (status_field(text, "PPid:", false) != long(init.pid)) continue;
        if (text.find("\nState:\tZ") != std::string::npos) continue;  // exited, not yet reaped
        if (status_field(text, "NSpid:", true) == long(ns_pid)) return pid_t(std::stol(name));
    }
    return std::nullopt;
}

std::string agent_socket_from_host(const ProcessId& init, const ClusterConfig& config) {
    return "/proc/" + std::to_string(init.pid) + "/root" + config.socket_path;
}

Result<wire::NodesReply> ask_nodes(const std::string& socket, int timeout_ms) {
    AgentClient client = TRY(AgentClient::connect(socket));
    wire::Message reply = TRY(client.call(wire::NodesRequest{}, timeout_ms));
    if (auto* nodes = std::get_if<wire::NodesReply>(&reply)) return std::move(*nodes);
    return make_error("unexpected reply to NodesRequest", socket, EPROTO);
}

Result<void> wait_until_ready(const Cluster& c, const std::vector<ReadyWait>& nodes,
                              const std::vector<int32_t>& must_see_up, std::chrono::milliseconds timeout) {
    auto deadline = clock::now() + timeout;
    std::vector<ReadyWait> pending = nodes;
    std::string last_reason;
    int last_node = 0;
    while (!pending.empty()) {
        std::vector<ReadyWait> still;
        for (const auto& w : pending) {
            auto init = c.running_init(w.node);
            if (!init) return node_failure(c, w.node, "its init exited");
            AgentState st = read_agent_state(c.paths, w.node);
            if (st.kind == AgentState::exited && st.ns_pid != w.stale_ns_pid)
                return node_failure(c, w.node, "ssi-agent exited (" + st.how + ")");
            std::string reason = st.kind == AgentState::running && st.ns_pid != w.stale_ns_pid
                                     ? not_ready_reason(c, *init, must_see_up)
                                     : "the agent has not started yet";
            if (!reason.empty()) {
                still.push_back(w);
                last_reason = reason;
                last_node = w.node;
            }
        }
        pending = std::move(still);
        if (pending.empty()) break;
        if (clock::now() >= deadline) {
            auto secs = std::chrono::duration_cast<std::chrono::seconds>(timeout).count();
            return node_failure(c, last_node,
                                "not ready after " + std::to_string(secs) + " s (" + last_reason + ")");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return ok();
}

std::vector<int32_t> answering_nodes(const Cluster& c, int except) {
    std::vector<int32_t> out;
    for (const auto& n : c.config.nodes) {
        if (n.id == except) continue;
        auto init = c.running_init(n.id);
        if (init && ask_nodes(agent_socket_from_host(*init, c.config), 500)) out.push_back(n.id);
    }
    return out;
}

}  // namespace ssi::cluster
