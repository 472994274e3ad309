#include "ssi-agent/membership.h"

#include <algorithm>

namespace ssi::agent {

const char* to_string(NodeState s) {
    switch (s) {
        case NodeState::Up: return "up";
        case NodeState::Suspect: return "suspect";
        case NodeState::Down: return "down";
    }
    return "?";
}

Membership::Membership(const ClusterConfig& config, Change on_change)
    : suspect_after_ms_(config.suspect_after_ms), down_after_ms_(config.down_after_ms), on_change_(std::move(on_change)) {
    for (const auto& n : config.nodes) {
        if (n.id == config.self_id) continue;
        Peer p;
        p.status.id = n.id;
        p.status.address = n.address;
        peers_[n.id] = p;
    }
}

void Membership::set_state(int32_t node, Peer& p, NodeState s) {
    if (p.state == s) return;
    NodeState before = p.state;
    p.state = s;
    on_change_(node, before, s);
}

void Membership::heard_from(int32_t node, const wire::NodeStatus& status, uint64_t now_ms) {
    auto it = peers_.find(node);
    if (it == peers_.end()) return;
    it->second.status = status;
    it->second.last_heard_ms = int64_t(now_ms);
    set_state(node, it->second, NodeState::Up);
}

void Membership::tick(uint64_t now_ms) {
    for (auto& [id, p] : peers_) {
        if (p.last_heard_ms < 0) continue;  // never heard: stays down
        if (now_ms <= uint64_t(p.last_heard_ms)) continue;
        uint64_t silent = now_ms - uint64_t(p.last_heard_ms);
        if (silent >= down_after_ms_)
            set_state(id, p, NodeState::Down);
        else if (silent >= suspect_after_ms_)
            set_state(id, p, NodeState::Suspect);
    }
}

NodeState Membership::state(int32_t node) const {
    auto it = peers_.find(node);
    return it == peers_.end() ? NodeState::Down : it->second.state;
}

std::vector<int32_t> Membership::peers() const {
    std::vector<int32_t> out;
    for (const auto& [id, p] : peers_) out.push_back(id);
    return out;
}

std::vector<int32_t> Membership::down_nodes() const {
    std::vector<int32_t> out;
    for (const auto& [id, p] : peers_)
        if (p.state == NodeState::Down) out.push_back(id);
    return out;
}

std::vector<wire::NodeView> Membership::view(const wire::NodeStatus& self_status, uint64_t now_ms) const {
    std::vector<wire::NodeView> out;
    out.push_back(wire::NodeView{self_status, "up", 0, true});
    for (const auto& [id, p] : peers_) {
        int64_t ago = p.last_heard_ms < 0 ? -1 : int64_t(now_ms) - p.last_heard_ms;
        out.push_back(wire::NodeView{p.status, to_string(p.state), ago, false});
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.status.id < b.status.id; });
    return out;
}

}  // namespace ssi::agent
