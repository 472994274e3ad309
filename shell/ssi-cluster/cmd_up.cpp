// ssi-cluster up: N nodes on this machine, each a real ssi-agent in its own PID, mount
// and UTS namespaces, all sharing one cluster.toml. Returns once every agent sees every
// node up; on any failure it stops what it started and leaves no state behind.
#include "kern-ext/files.h"
#include "libssi/config.h"
#include "libssi/keys.h"
#include "shell/ssi-cluster/agent_watch.h"
#include "shell/ssi-cluster/binaries.h"
#include "shell/ssi-cluster/commands.h"
#include "shell/ssi-cluster/host_dirs.h"
#include "shell/ssi-cluster/node_launch.h"
#include "shell/ssi-cluster/ports.h"

#include <cstdio>

namespace ssi::cluster {
namespace {

// Undoes a half-made cluster unless commit() is called.
class UpGuard {
public:
    explicit UpGuard(StatePaths paths) : paths_(std::move(paths)) {}
    UpGuard(const UpGuard&) = delete;
    UpGuard& operator=(const UpGuard&) = delete;
    ~UpGuard() {
        if (committed_) return;
        (void)stop_inits(recorded_inits(paths_), std::chrono::seconds(1));
        (void)remove_tree(paths_.dir);
        tidy_host_dirs();
    }
    void commit() { committed_ = true; }

private:
    StatePaths paths_;
    bool committed_ = false;
};

// One key pair per node (nodeK/node.secret, node.pub) and the one cluster.toml.
Result<void> write_config(const StatePaths& paths, int n, uint16_t base) {
    ClusterConfig config;
    config.self_id = 1;  // each agent is told its node with --node
    config.secret_key_file = kNodeSecretKeyPath;
    for (int k = 1; k <= n; ++k) {
        KeyPair keys = TRY(generate_keypair());
        TRY(write_key_files(keys, paths.node_dir(k), "node"));
        config.nodes.push_back(NodeConfig{k, node_address(k), node_port(base, k), keys.public_key});
    }
    return write_file_atomic(paths.config(), render_config(config), 0644);
}

Result<uint16_t> choose_base_port(const UpOptions& o) {
    if (!o.base_port) return pick_base_port(o.nodes);
    TRY(check_base_port(*o.base_port, o.nodes));
    return *o.base_port;
}

}  // namespace

Result<int> cmd_up(const UpOptions& o) {
    // Find what the nodes will run before touching anything.
    std::string self = TRY(self_path());
    std::string agent = TRY(find_agent_binary());

    // Claim the name: the state dir exists from here on, and the guard removes it on failure.
    StatePaths paths = state_paths(o.name);
    TRY(claim_state_dir(o.name, paths));
    UpGuard guard(paths);

    // Ports, keys and the shared configuration, written before any node reads them.
    uint16_t base = TRY(choose_base_port(o));
    TRY(write_config(paths, o.nodes, base));

    // The nodes: each init records itself at once, so a failure later can stop it.
    for (int k = 1; k <= o.nodes; ++k) {
        ProcessId init = TRY(launch_node(LaunchSpec{paths, k, self, agent}));
        TRY(write_init_record(paths, k, init));
    }

    // Up means every agent answers and sees all N nodes up.
    Cluster cluster = TRY(load_cluster(o.name));
    std::vector<ReadyWait> all;
    std::vector<int32_t> ids;
    for (int k = 1; k <= o.nodes; ++k) all.push_back(ReadyWait{k, 0}), ids.push_back(k);
    TRY(wait_until_ready(cluster, all, ids, std::chrono::seconds(o.timeout_s)));
    guard.commit();

    std::printf("cluster '%s' is up: %d node%s, state in %s\n", o.name.c_str(), o.nodes, o.nodes == 1 ? "" : "s",
                paths.dir.c_str());
    for (const auto& n : cluster.nodes)
        std::printf("  node%d  %s:%u  init pid %d\n", n.config.id, n.config.address.c_str(), unsigned(n.config.port),
                    n.init ? n.init->pid : 0);
    return 0;
}

}  // namespace ssi::cluster
