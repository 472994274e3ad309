// LocalShare: this node's own rows of the process table, kept current by scanning /proc.
// Every scan lists PIDs (cheap) to catch processes that appeared or vanished at once,
// and re-reads the processes of the last second (a fork is usually followed by an exec,
// which changes the command it shows); every few scans it re-reads every process for
// CPU, memory and state. Each scan yields
// the change as a TableDelta numbered (epoch, seq) for the peers.
#pragma once

#include "kern-ext/proc_sampler.h"
#include "kern-ext/result.h"
#include "libssi/wire/messages.h"

#include <cstdint>
#include <map>
#include <set>
#include <vector>

namespace ssi::agent {

// A process here that runs for another node (ssi-run): it is listed under its home
// identity, not under this node's PID for it.
struct WornIdentity {
    int32_t home = 0;
    int32_t pid = 0;   // its PID at home
    int32_t ppid = 0;  // its parent's PID at home
};

// Which of this node's processes the table shows, and as whom.
struct Visibility {
    std::set<pid_t> hidden;                 // deputies, supervisors and their helpers
    std::map<pid_t, WornIdentity> worn;     // remote programs, by their PID here
};

class LocalShare {
public:
    // How many scans after its first a process is re-read on every scan.
    static constexpr unsigned kYoungScans = 5;

    static Result<LocalShare> create(int32_t self_node);

    // Scans and returns what changed since the last scan (no upserts and no removals when
    // nothing did; seq is only advanced for a non-empty delta).
    Result<wire::TableDelta> scan(bool full_refresh, const Visibility& visibility = {});
    // The whole share, as a snapshot delta carrying the current (epoch, seq).
    wire::TableDelta snapshot() const;
    // Reads every process now (for ssi-ps --fresh).
    Result<std::vector<wire::ProcessRecord>> read_now(const Visibility& visibility = {});

    const std::map<int64_t, wire::ProcessRecord>& rows() const { return rows_; }
    uint64_t epoch() const { return epoch_; }
    uint64_t seq() const { return seq_; }

private:
    LocalShare(int32_t self, ProcessSampler sampler, uint64_t epoch)
        : self_(self), sampler_(std::move(sampler)), epoch_(epoch) {}
    wire::ProcessRecord to_record(const ProcessSample& s, const Visibility& visibility) const;
    int64_t gpid_of(pid_t pid, const Visibility& visibility) const;

    int32_t self_;
    ProcessSampler sampler_;
    uint64_t epoch_;
    uint64_t seq_ = 0;
    std::map<int64_t, wire::ProcessRecord> rows_;  // by gpid
    std::set<pid_t> helpers_;                       // hidden because their parent is
    std::map<pid_t, unsigned> young_;               // new processes: scans left to re-read them
};

bool same_row(const wire::ProcessRecord& a, const wire::ProcessRecord& b);

}  // namespace ssi::agent
