#include "shell/ssi-run/child_deputies.h"

#include "kern-ext/files.h"
#include "kern-ext/pidfd.h"
#include "kern-ext/process.h"

#include <signal.h>

namespace ssi::run {

Result<ChildDeputies> ChildDeputies::create() {
    auto [read_end, write_end] = TRY(make_pipe());
    TRY(set_nonblocking(read_end.get()));
    return ChildDeputies(std::move(read_end), std::move(write_end));
}

Result<pid_t> ChildDeputies::reserve() {
    // A spare killed at home meanwhile holds no PID any more.
    if (spare_) {
        auto ended = try_wait_process(spare_->pid);
        if (!ended || *ended) spare_.reset();
    }
    if (!spare_) spare_ = TRY(fork_stand_in(signals_write_.get()));
    pid_t pid = spare_->pid;
    stand_ins_.emplace(pid, std::move(*spare_));
    spare_.reset();
    return pid;
}

void ChildDeputies::refill() {
    if (spare_) return;
    if (auto s = fork_stand_in(signals_write_.get())) spare_ = std::move(*s);
}

void ChildDeputies::ended(pid_t pid, int wait_status) {
    auto it = stand_ins_.find(pid);
    if (it == stand_ins_.end()) return;
    if (!end_stand_in(it->second, wait_status)) (void)send_signal(pid, SIGKILL);
    ending_.insert(stand_ins_.extract(it));
    (void)reap();
}

std::vector<std::pair<pid_t, int>> ChildDeputies::take_signals() {
    std::vector<std::pair<pid_t, int>> out;
    for (;;) {
        StandInSignal record;
        auto n = read_some(signals_read_.get(), std::span<char>(reinterpret_cast<char*>(&record), sizeof record));
        if (!n || *n != sizeof record) return out;
        if (stand_ins_.count(record.pid)) out.emplace_back(record.pid, record.signal);
    }
}

std::vector<pid_t> ChildDeputies::reap() {
    std::vector<pid_t> untold;
    for (auto* set : {&ending_, &stand_ins_}) {
        for (auto it = set->begin(); it != set->end();) {
            auto r = try_wait_process(it->first);
            if (r && !*r) {
                ++it;
                continue;
            }
            if (set == &stand_ins_) untold.push_back(it->first);
            it = set->erase(it);  // ended (or not ours any more)
        }
    }
    return untold;
}

void ChildDeputies::end_all() {
    if (spare_) {
        (void)send_signal(spare_->pid, SIGKILL);
        (void)wait_process(spare_->pid);
        spare_.reset();
    }
    for (auto* set : {&ending_, &stand_ins_}) {
        for (auto& [pid, s] : *set) {
            (void)send_signal(pid, SIGKILL);
            (void)wait_process(pid);
        }
        set->clear();
    }
}

}  // namespace ssi::run
