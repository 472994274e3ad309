// Membership: which nodes are alive, from the heartbeats they send. A node is "up" while
// it is heard from, "suspect" after suspect_after_ms of silence, "down" after
// down_after_ms (or before it was ever heard). Pure bookkeeping: no I/O, so it is tested
// with a hand-driven clock.
#pragma once

#include "libssi/config.h"
#include "libssi/wire/messages.h"

#include <cstdint>
#include <functional>
#include <map>
#include <vector>

namespace ssi::agent {

enum class NodeState { Up, Suspect, Down };
const char* to_string(NodeState s);

class Membership {
public:
    using Change = std::function<void(int32_t node, NodeState before, NodeState after)>;

    Membership(const ClusterConfig& config, Change on_change);

    void heard_from(int32_t node, const wire::NodeStatus& status, uint64_t now_ms);
    // Re-evaluates every node's state; call it often (every ~100 ms).
    void tick(uint64_t now_ms);

    NodeState state(int32_t node) const;
    bool is_member(int32_t node) const { return peers_.count(node) != 0; }
    std::vector<int32_t> peers() const;
    std::vector<int32_t> down_nodes() const;
    std::vector<wire::NodeView> view(const wire::NodeStatus& self_status, uint64_t now_ms) const;

private:
    struct Peer {
        wire::NodeStatus status;
        NodeState state = NodeState::Down;
        int64_t last_heard_ms = -1;
    };
    void set_state(int32_t node, Peer& p, NodeState s);

    uint32_t suspect_after_ms_;
    uint32_t down_after_ms_;
    std::map<int32_t, Peer> peers_;
    Change on_change_;
};

}  // namespace ssi::agent
