// ChildDeputies: the deputy's part in a remote program's children (docs/remote-exec.md,
// "Children"). For each child the program creates, the deputy forks a stand-in
// (kern-ext/stand_in.h) whose PID the child then wears over there: at home it is a real
// process, child of the deputy as the remote child is of the program, so nobody else gets
// that PID, and `kill` finds it. The signals it receives go to the child (ChildSignal);
// when the child ends, it exits the same way and the deputy reaps it.
#pragma once

#include "kern-ext/result.h"
#include "kern-ext/stand_in.h"
#include "kern-ext/unique_fd.h"

#include <map>
#include <optional>
#include <utility>
#include <vector>

namespace ssi::run {

class ChildDeputies {
public:
    static Result<ChildDeputies> create();

    // A stand-in for a new child; its PID. One is kept forked ahead (refill()), so a
    // reservation costs no fork while the program waits.
    Result<pid_t> reserve();
    // Forks the spare stand-in if there is none (call after answering a reservation).
    void refill();
    // The child wearing `pid` ended with this raw wait status (0 for a reservation that
    // went unused); its stand-in does the same.
    void ended(pid_t pid, int wait_status);
    // Readable when stand-ins received signals; take_signals() reads them as (pid, signal).
    int signals_fd() const { return signals_read_.get(); }
    std::vector<std::pair<pid_t, int>> take_signals();
    // Reaps the stand-ins that ended (on SIGCHLD). Returns those that ended untold (a
    // `kill -9` at home): their children must be killed too.
    std::vector<pid_t> reap();
    // The program ended: every stand-in left ends now, and is reaped.
    void end_all();
    bool holds(pid_t pid) const { return stand_ins_.count(pid) != 0; }

private:
    ChildDeputies(UniqueFd read, UniqueFd write) : signals_read_(std::move(read)), signals_write_(std::move(write)) {}
    UniqueFd signals_read_, signals_write_;
    std::map<pid_t, StandIn> stand_ins_;
    std::map<pid_t, StandIn> ending_;  // told to end, not reaped yet
    std::optional<StandIn> spare_;     // forked ahead, not given to a child yet
};

}  // namespace ssi::run
