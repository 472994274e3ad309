// Agent: one node's ssi-agent. It owns the node's links to its peers, its local socket,
// its share of the process table and the whole-cluster copy in shared memory, and it
// answers for the node's processes (signals, fresh listings). Everything runs on the
// one loop thread.
#pragma once

#include "kern-ext/result.h"
#include "libssi/config.h"
#include "libssi/gpid.h"
#include "libssi/proc_table.h"
#include "ssi-agent/checkpoints.h"
#include "ssi-agent/cluster_table.h"
#include "ssi-agent/event_loop.h"
#include "ssi-agent/local_server.h"
#include "ssi-agent/local_share.h"
#include "ssi-agent/loop_watchdog.h"
#include "ssi-agent/membership.h"
#include "ssi-agent/migrations.h"
#include "ssi-agent/peer_calls.h"
#include "ssi-agent/peer_mesh.h"
#include "ssi-agent/remote_runs.h"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace ssi::agent {

class Agent {
public:
    static Result<std::unique_ptr<Agent>> create(EventLoop& loop, ClusterConfig config);
    ~Agent();

    // Runs until SIGTERM or SIGINT.
    void run();

private:
    Agent(EventLoop& loop, ClusterConfig config, LocalShare share, ProcTableWriter table);
    Result<void> start(const std::string& secret_key);

    // Peers
    void on_peer(PeerInbound&& in);
    void on_heartbeat(const PeerInbound& in, const wire::Heartbeat& hb);
    void on_table_delta(const PeerInbound& in, const wire::TableDelta& delta);
    void request_snapshot(int32_t node);
    void send_heartbeats();
    void on_node_state(int32_t node, NodeState before, NodeState after);

    // What the table hides: the remote runs' helpers, and the memory held for a move.
    Visibility visibility();
    // Deputies this agent was not told of (it restarted while their programs ran away).
    void find_deputies();

    // Local callers
    void on_local(LocalRequest&& request);
    void handle_kill(const LocalRequest& request, const wire::KillRequest& kill);
    using KillDone = std::function<void(wire::KillReply)>;
    void signal_home_process(const Gpid& target, int signal, uid_t uid, KillDone done);
    wire::KillReply signal_worn_program(const Gpid& target, int signal, uid_t uid);
    void handle_cluster_ps(const LocalRequest& request, const wire::ClusterPsRequest& ps);
    void handle_run(const LocalRequest& request, const wire::RunRequest& run);
    void handle_migrate(const LocalRequest& request, const wire::MigrateRequest& migrate);
    int32_t least_loaded_peer(int32_t exclude = 0) const;
    std::optional<std::string> node_problem(int32_t node) const;

    // This node's processes
    void scan_local();
    void mark_table_dirty();
    void publish_table();
    wire::NodeStatus self_status() const;

    EventLoop& loop_;
    ClusterConfig config_;
    LocalShare share_;
    ProcTableWriter shm_table_;
    ClusterTable table_;
    Membership membership_;
    std::unique_ptr<PeerMesh> mesh_;
    std::unique_ptr<PeerCalls> calls_;
    std::unique_ptr<LocalServer> local_;
    RemoteRuns runs_;
    Checkpoints checkpoints_;
    Migrations migrations_;
    std::map<int32_t, wire::NodeStatus> peer_status_;
    std::map<int32_t, uint32_t> placing_;  // runs sent to a peer that has not answered yet
    std::unique_ptr<Timer> heartbeat_timer_, membership_timer_, scan_timer_, publish_timer_;
    std::unique_ptr<LoopWatchdog> watchdog_;
    std::vector<std::unique_ptr<SignalWatch>> stop_signals_;
    std::unique_ptr<SignalWatch> child_signal_;
    std::map<int32_t, uint64_t> snapshot_asked_at_;
    uint64_t scans_ = 0;
    bool publish_pending_ = false;
    int64_t started_at_ = 0;
    std::string pid_file_;
};

}  // namespace ssi::agent
