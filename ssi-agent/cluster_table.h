// ClusterTable: every node's share of the process table as this node knows it. Deltas
// from a peer apply only in sequence; a gap (lost message, peer restart) asks for a
// snapshot instead of guessing. A node that goes down takes its rows with it.
#pragma once

#include "libssi/wire/messages.h"

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

namespace ssi::agent {

class ClusterTable {
public:
    enum class Applied { Yes, NeedSnapshot };

    Applied apply(int32_t node, const wire::TableDelta& delta);
    // True when a heartbeat's (epoch, seq) shows we hold all of that node's changes.
    bool in_sync(int32_t node, uint64_t epoch, uint64_t seq) const;
    void drop(int32_t node);

    std::vector<wire::ProcessRecord> all() const;
    std::optional<wire::ProcessRecord> find(int64_t gpid) const;
    size_t size() const;

private:
    struct Share {
        uint64_t epoch = 0;
        uint64_t seq = 0;
        std::map<int64_t, wire::ProcessRecord> rows;
    };
    std::map<int32_t, Share> shares_;
};

}  // namespace ssi::agent
