// What ssi-cluster keeps about a running cluster, and where. Everything lives under
// /run/ssi-cluster/NAME ("the state dir"):
//
//   cluster.toml        the cluster configuration every node's agent reads
//   nodeK/node.secret   node K's CURVE secret key (0600); node.pub its public key
//   nodeK/init.pid      "PID START": host pid and start time of node K's init
//   nodeK/agent.state   written by the init: "running NSPID" or "exited HOW"
//   nodeK/init.log      the init's stdout/stderr
//   nodeK/agent.log     the agent's stdout/stderr
#pragma once

#include "kern-ext/result.h"
#include "libssi/config.h"

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ssi::cluster {

inline constexpr const char* kStateRoot = "/run/ssi-cluster";
// The directories made private (a tmpfs of their own) in every node.
inline constexpr const char* kNodeRunDir = "/run/ssi";
inline const std::vector<std::string> kPrivateDirs = {"/tmp", kNodeRunDir, "/dev/shm"};
// Inside every node the agent reads its secret key here (the node's private tmpfs), so
// one cluster.toml serves every node, as /etc/ssi/cluster.toml does on real machines.
inline constexpr const char* kNodeSecretKeyPath = "/run/ssi/node.secret";
inline constexpr int kMaxNodes = 64;

struct StatePaths {
    std::string dir;

    std::string config() const { return dir + "/cluster.toml"; }
    std::string node_dir(int k) const { return dir + "/node" + std::to_string(k); }
    std::string init_pid(int k) const { return node_dir(k) + "/init.pid"; }
    std::string agent_state(int k) const { return node_dir(k) + "/agent.state"; }
    std::string init_log(int k) const { return node_dir(k) + "/init.log"; }
    std::string agent_log(int k) const { return node_dir(k) + "/agent.log"; }
};

StatePaths state_paths(const std::string& name);
// $SSI_CLUSTER, or "default".
std::string default_cluster_name();
// Names become directory names: letters, digits, '.', '_', '-'; not starting with '.'.
bool is_valid_cluster_name(const std::string& name);
std::string node_hostname(int k);
std::string node_address(int k);  // 127.0.1.K

// A process named so that a recycled pid is never mistaken for it.
struct ProcessId {
    pid_t pid = 0;
    uint64_t start_ticks = 0;  // /proc/PID/stat field 22
};

Result<ProcessId> identify_process(pid_t pid);
// True while the process exists, is not a zombie, and is the one that was identified.
bool is_running(const ProcessId& id);

struct NodeRecord {
    NodeConfig config;
    std::optional<ProcessId> init;  // nullopt when its init.pid is missing or unreadable
};

struct Cluster {
    std::string name;
    StatePaths paths;
    ClusterConfig config;
    std::vector<NodeRecord> nodes;

    const NodeRecord* node(int k) const;
    // Errors "cluster NAME has no node K (nodes 1..N)".
    Result<const NodeRecord*> require_node(int k) const;
    // The node's init, alive; an error saying the node is down otherwise.
    Result<ProcessId> running_init(int k) const;
};

// Errors "no cluster named NAME is up" when its state dir does not exist.
Result<Cluster> load_cluster(const std::string& name);
bool any_init_running(const Cluster& cluster);

Result<void> write_init_record(const StatePaths& paths, int k, const ProcessId& init);
std::optional<ProcessId> read_init_record(const std::string& file);

// The last `lines` lines of a log file, each prefixed with "  | "; empty if unreadable.
std::string log_tail(const std::string& path, size_t lines = 15);

}  // namespace ssi::cluster
