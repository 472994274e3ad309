#include "ssi-agent/local_share.h"

#include "libssi/gpid.h"

#include <chrono>
#include <random>
#include <set>

namespace ssi::agent {

bool same_row(const wire::ProcessRecord& a, const wire::ProcessRecord& b) {
    return a.ppid == b.ppid && a.uid == b.uid && a.state == b.state && a.pcpu_x10 == b.pcpu_x10 &&
           a.rss_kb == b.rss_kb && a.vsz_kb == b.vsz_kb && a.cpu_ms / 10 == b.cpu_ms / 10 && a.node == b.node &&
           a.start_time == b.start_time && a.cmd == b.cmd && a.comm == b.comm && a.user == b.user && a.tty == b.tty;
}

Result<LocalShare> LocalShare::create(int32_t self_node) {
    ProcessSampler sampler = TRY(ProcessSampler::create());
    // A fresh epoch per agent start: peers holding rows from a previous run replace them.
    uint64_t epoch = uint64_t(std::chrono::system_clock::now().time_since_epoch().count()) ^ std::random_device{}();
    return LocalShare(self_node, std::move(sampler), epoch);
}

int64_t LocalShare::gpid_of(pid_t pid, const Visibility& visibility) const {
    auto it = visibility.worn.find(pid);
    return it == visibility.worn.end() ? Gpid{self_, pid}.value() : Gpid{it->second.home, it->second.pid}.value();
}

wire::ProcessRecord LocalShare::to_record(const ProcessSample& s, const Visibility& visibility) const {
    wire::ProcessRecord r;
    r.gpid = gpid_of(s.pid, visibility);
    r.node = self_;
    r.home = self_;
    r.pid = s.pid;
    r.ppid = s.ppid;
    if (auto it = visibility.worn.find(s.pid); it != visibility.worn.end()) {
        r.home = it->second.home;
        r.pid = it->second.pid;
        r.ppid = it->second.ppid;
    }
    r.uid = s.uid;
    r.user = s.user;
    r.state = s.state;
    r.pcpu_x10 = s.pcpu_x10;
    r.rss_kb = s.rss_kb;
    r.vsz_kb = s.vsz_kb;
    r.start_time = s.start_time;
    r.cpu_ms = s.cpu_ms;
    r.tty = s.tty;
    r.comm = s.comm;
    r.cmd = s.cmdline;
    return r;
}

Result<wire::TableDelta> LocalShare::scan(bool full_refresh, const Visibility& visibility) {
    wire::TableDelta delta;
    delta.epoch = epoch_;
    std::vector<pid_t> pids = TRY(sampler_.list_pids());
    std::set<pid_t> listed(pids.begin(), pids.end());
    std::erase_if(helpers_, [&](pid_t p) { return !listed.count(p); });
    auto hidden = [&](pid_t p) {
        return visibility.hidden.count(p) || (helpers_.count(p) && !visibility.worn.count(p));
    };
    std::set<int64_t> present;
    std::vector<pid_t> fresh;
    for (pid_t pid : pids) {
        if (hidden(pid)) continue;
        int64_t gpid = gpid_of(pid, visibility);
        present.insert(gpid);
        if (!rows_.count(gpid)) fresh.push_back(pid);
    }
    for (auto it = rows_.begin(); it != rows_.end();) {
        if (!present.count(it->first)) {
            delta.removed.push_back(it->first);
            it = rows_.erase(it);
        } else {
            ++it;
        }
    }
    // The young are read again: the first read may have caught a child between its fork
    // and its exec, showing the parent's command until the next full refresh.
    std::erase_if(young_, [&](const auto& y) { return !listed.count(y.first) || y.second == 0; });
    std::vector<pid_t> wanted = fresh;
    for (auto& [pid, left] : young_) {
        wanted.push_back(pid);
        --left;
    }
    for (pid_t pid : fresh) young_[pid] = kYoungScans;
    std::vector<ProcessSample> samples = full_refresh ? TRY(sampler_.sample_all()) : TRY(sampler_.sample(wanted));
    // The children of hidden processes (a remote run's reaper and stub, before the run's
    // PIDs file names them) are hidden too; a program wearing a home identity is not.
    for (bool grew = true; grew;) {
        grew = false;
        for (const ProcessSample& s : samples) {
            if (hidden(s.pid) || visibility.worn.count(s.pid) || !hidden(s.ppid)) continue;
            helpers_.insert(s.pid);
            grew = true;
            if (auto row = rows_.find(Gpid{self_, s.pid}.value()); row != rows_.end()) {
                delta.removed.push_back(row->first);
                rows_.erase(row);
            }
        }
    }
    for (const ProcessSample& s : samples) {
        if (hidden(s.pid)) continue;
        wire::ProcessRecord r = to_record(s, visibility);
        if (!present.count(r.gpid)) continue;  // appeared after the listing: next scan
        auto it = rows_.find(r.gpid);
        if (it != rows_.end() && same_row(it->second, r)) continue;
        rows_[r.gpid] = r;
        delta.upserts.push_back(std::move(r));
    }
    if (!delta.upserts.empty() || !delta.removed.empty()) ++seq_;
    delta.seq = seq_;
    return delta;
}

wire::TableDelta LocalShare::snapshot() const {
    wire::TableDelta d;
    d.epoch = epoch_;
    d.seq = seq_;
    d.full = true;
    d.upserts.reserve(rows_.size());
    for (const auto& [gpid, r] : rows_) d.upserts.push_back(r);
    return d;
}

Result<std::vector<wire::ProcessRecord>> LocalShare::read_now(const Visibility& visibility) {
    std::vector<ProcessSample> samples = TRY(sampler_.sample_all());
    std::vector<wire::ProcessRecord> out;
    out.reserve(samples.size());
    for (const auto& s : samples)
        if (!visibility.hidden.count(s.pid)) out.push_back(to_record(s, visibility));
    return out;
}

}  // namespace ssi::agent
