// LocalShare: this node's own rows of the process table, kept current by scanning /proc.
// Every scan lists PIDs (cheap) to catch processes that appeared or vanished at once;
// every few scans it re-reads every process for CPU, memory and state. Each scan yields
// the change as a TableDelta numbered (epoch, seq) for the peers.
#pragma once

#include "kern-ext/proc_sampler.h"
#include "kern-ext/result.h"
#include "libssi/wire/messages.h"

#include <cstdint>
#include <map>
#include <vector>

namespace ssi::agent {

class LocalShare {
public:
    static Result<LocalShare> create(int32_t self_node);

    // Scans and returns what changed since the last scan (no upserts and no removals when
    // nothing did; seq is only advanced for a non-empty delta).
    Result<wire::TableDelta> scan(bool full_refresh);
    // The whole share, as a snapshot delta carrying the current (epoch, seq).
    wire::TableDelta snapshot() const;
    // Reads every process now (for ssi-ps --fresh).
    Result<std::vector<wire::ProcessRecord>> read_now();

    const std::map<int64_t, wire::ProcessRecord>& rows() const { return rows_; }
    uint64_t epoch() const { return epoch_; }
    uint64_t seq() const { return seq_; }

private:
    LocalShare(int32_t self, ProcessSampler sampler, uint64_t epoch)
        : self_(self), sampler_(std::move(sampler)), epoch_(epoch) {}
    wire::ProcessRecord to_record(const ProcessSample& s) const;

    int32_t self_;
    ProcessSampler sampler_;
    uint64_t epoch_;
    uint64_t seq_ = 0;
    std::map<int64_t, wire::ProcessRecord> rows_;  // by gpid
};

bool same_row(const wire::ProcessRecord& a, const wire::ProcessRecord& b);

}  // namespace ssi::agent
