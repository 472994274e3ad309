// RemoteRuns: the agent's part in ssi-run. At home it vouches for the caller (who it is,
// from the kernel, never from the request) and picks the target; at the target it starts
// one ssi-remote supervisor per program and reaps it when it ends. The program's traffic
// never passes through the agents: the supervisor talks to the deputy directly.
#pragma once

#include "kern-ext/result.h"
#include "kern-ext/unique_fd.h"
#include "kern-ext/unix_socket.h"
#include "libssi/config.h"
#include "libssi/wire/messages.h"
#include "ssi-agent/local_share.h"

#include <chrono>
#include <deque>
#include <map>
#include <optional>
#include <set>

#include <string>

namespace ssi::agent {

class RemoteRuns {
public:
    explicit RemoteRuns(const ClusterConfig& config);

    // Home side: the request with home, pid, ppid, uid, gid and groups filled in from the
    // caller's credentials.
    Result<wire::RunRequest> vouch(const PeerCredentials& caller, wire::RunRequest request) const;

    // Target side: checks the user may run here and starts the supervisor.
    Result<void> start(const wire::RunRequest& request);

    // Target side: keeps kSpares supervisors started and waiting for their specs, so the
    // next run skips a supervisor's start: its exec, libraries, mount namespace and the
    // fork of its program's reaper (called on the scan timer and when a supervisor ends).
    // Two, because a script's runs follow each other within a millisecond: the spare
    // started when one run ended is still loading when the next comes, the older one
    // has long been ready.
    static constexpr size_t kSpares = 2;
    void keep_spare();

    // Reaps supervisors that ended (call on SIGCHLD).
    void reap();
    size_t running() const { return supervisors_.size(); }

    // Home side: this deputy's program runs on `node`; the table lists it there, once.
    void add_deputy(pid_t pid, int32_t node) { deputies_[pid] = node; }
    // Home side: its program came home (a migration); the process is itself again.
    void remove_deputy(pid_t pid) { deputies_.erase(pid); }
    // Home side: how many of our deputies' programs run on `node` now.
    size_t programs_on(int32_t node) const;
    // The node where this deputy's program runs, if `pid` is a deputy, or the stand-in
    // of one of its program's children (a child of a deputy named kStandInName).
    std::optional<int32_t> deputy_target(pid_t pid) const;
    // Target side: this node's PID of the program, or of a child of it, that wears
    // (home, pid), if it runs here.
    std::optional<pid_t> program_wearing(int32_t home, pid_t pid) const;
    // What the process table must hide or relabel on this node now.
    Visibility visibility();

    // Where supervisors tell the agent which PIDs their programs got here.
    const std::string& runs_dir() const { return runs_dir_; }

private:
    struct Supervised {
        WornIdentity identity;
        bool known = false;  // its pids file was read
        pid_t reaper = 0, stub = 0, program = 0;
        std::map<pid_t, WornIdentity> children;  // by PID here: the program's children
    };
    struct Spare {
        pid_t pid = 0;
        UniqueFd spec_pipe;  // its stdin; the spec, then EOF
    };
    Result<Spare> launch_supervisor();

    void read_pids_file(pid_t supervisor, Supervised& run);
    std::optional<pid_t> stand_in_parent(pid_t pid) const;
    const ClusterConfig& config_;
    std::deque<Spare> spares_;  // oldest (readiest) first
    // A spare that cannot start (a missing binary) or ends before any run took it (no
    // memory) is started again only after a pause, doubled each time up to
    // kMaxSparePause, so a broken install does not become a spawn loop.
    void pause_spares();
    static constexpr std::chrono::milliseconds kFirstSparePause{100}, kMaxSparePause{5000};
    std::chrono::milliseconds spare_pause_{0};
    std::chrono::steady_clock::time_point spares_paused_until_{};
    std::string runs_dir_;
    std::map<pid_t, Supervised> supervisors_;
    std::map<pid_t, int32_t> deputies_;  // deputy pid -> node its program runs on
};

// Path of the ssi-remote supervisor: $SSI_REMOTE_BIN, or beside this executable.
std::string supervisor_path();

}  // namespace ssi::agent
