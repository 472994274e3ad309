#include "ssi-agent/cluster_table.h"

namespace ssi::agent {

ClusterTable::Applied ClusterTable::apply(int32_t node, const wire::TableDelta& delta) {
    auto it = shares_.find(node);
    // Only a snapshot starts a share; a delta applies only as the next of a known epoch.
    if (!delta.full && (it == shares_.end() || it->second.epoch != delta.epoch || delta.seq != it->second.seq + 1))
        return Applied::NeedSnapshot;
    Share& share = shares_[node];
    if (delta.full) share.rows.clear();
    share.epoch = delta.epoch;
    share.seq = delta.seq;
    for (int64_t gpid : delta.removed) share.rows.erase(gpid);
    for (const auto& r : delta.upserts) share.rows[r.gpid] = r;
    return Applied::Yes;
}

bool ClusterTable::in_sync(int32_t node, uint64_t epoch, uint64_t seq) const {
    auto it = shares_.find(node);
    return it != shares_.end() && it->second.epoch == epoch && it->second.seq == seq;
}

void ClusterTable::drop(int32_t node) { shares_.erase(node); }

std::vector<wire::ProcessRecord> ClusterTable::all() const {
    std::vector<wire::ProcessRecord> out;
    out.reserve(size());
    for (const auto& [node, share] : shares_)
        for (const auto& [gpid, r] : share.rows) out.push_back(r);
    return out;
}

std::optional<wire::ProcessRecord> ClusterTable::find(int64_t gpid) const {
    for (const auto& [node, share] : shares_)
        if (auto it = share.rows.find(gpid); it != share.rows.end()) return it->second;
    return std::nullopt;
}

size_t ClusterTable::size() const {
    size_t n = 0;
    for (const auto& [node, share] : shares_) n += share.rows.size();
    return n;
}

}  // namespace ssi::agent
