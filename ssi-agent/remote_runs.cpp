#include "ssi-agent/remote_runs.h"

#include "kern-ext/files.h"
#include "kern-ext/proc_status.h"
#include "kern-ext/proc_tree.h"
#include "kern-ext/process.h"
#include "kern-ext/stand_in.h"
#include "libssi/wire/codec.h"

#include <pwd.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace ssi::agent {

namespace {
// A deputy is its home PID: while /proc lists it, its run goes on.
bool process_exists(pid_t pid) { return stat_path("/proc/" + std::to_string(pid)).ok(); }
}  // namespace

std::string supervisor_path() {
    if (const char* p = std::getenv("SSI_REMOTE_BIN"); p && *p) return p;
    auto self = self_executable();
    std::string dir = self ? self->substr(0, self->rfind('/')) : ".";
    return dir + "/ssi-remote";
}

RemoteRuns::RemoteRuns(const ClusterConfig& config) : config_(config) {
    std::string sock = config.socket_path;
    runs_dir_ = sock.substr(0, sock.rfind('/')) + "/runs";
}

Result<wire::RunRequest> RemoteRuns::vouch(const PeerCredentials& caller, wire::RunRequest request) const {
    ProcessIdentity id = TRY(read_process_identity(caller.pid));
    request.home = config_.self_id;
    request.pid = caller.pid;
    // A parent outside this PID namespace shows as 0; the program then sees init as its
    // parent, as an orphan would.
    request.ppid = id.ppid > 0 ? id.ppid : 1;
    request.uid = caller.uid;
    request.gid = caller.gid;
    request.groups.assign(id.groups.begin(), id.groups.end());
    if (request.argv.empty() || request.argv[0].empty()) return make_error("no program to run");
    return request;
}

// A supervisor waiting for its spec on stdin: exec'd and its libraries loaded, so a run
// does not wait for that (several ms of ssi-remote's start). Spawned, not forked: the
// agent's page tables are not copied for a child that only execs, and a failed exec is
// this call's error, with its errno, so a run's user reads why at once.
Result<RemoteRuns::Spare> RemoteRuns::launch_supervisor() {
    std::string path = supervisor_path();
    auto [read_end, write_end] = TRY(make_pipe());
    // The supervisor outlives this agent: its own session, its spec on stdin.
    auto child = spawn_process(path, {path, runs_dir_}, {.stdin_fd = read_end.get(), .new_session = true});
    if (!child)
        return make_error("node " + std::to_string(config_.self_id) + " cannot start its supervisor " + path, {},
                          child.error().err);
    return Spare{*child, std::move(write_end)};
}

void RemoteRuns::keep_spare() {
    if (spares_.size() >= kSpares || std::chrono::steady_clock::now() < spares_paused_until_) return;
    if (auto made = make_dirs(runs_dir_, 0755); !made) return;
    while (spares_.size() < kSpares) {
        auto spare = launch_supervisor();
        if (!spare) {
            pause_spares();
            return spdlog::warn("runs: starting a spare supervisor: {}; the next try in {} ms", spare.error().message(),
                                spare_pause_.count());
        }
        spares_.push_back(std::move(*spare));
    }
}

void RemoteRuns::pause_spares() {
    spare_pause_ = std::clamp(spare_pause_ * 2, kFirstSparePause, kMaxSparePause);
    spares_paused_until_ = std::chrono::steady_clock::now() + spare_pause_;
}

Result<void> RemoteRuns::start(const wire::RunRequest& request) {
    // The user must exist here; the supervisor runs the program with exactly these ids.
    if (!::getpwuid(request.uid))
        return make_error("user " + std::to_string(request.uid) + " has no account on node " +
                          std::to_string(config_.self_id));
    TRY(make_dirs(runs_dir_, 0755));
    Spare s;
    if (spares_.empty()) {
        s = TRY(launch_supervisor());
    } else {
        s = std::move(spares_.front());
        spares_.pop_front();
        spare_pause_ = std::chrono::milliseconds(0);  // spares live long enough to serve
    }
    // A spec is a few KiB at most: the pipe holds it without blocking the loop. Its end
    // (EOF) tells the supervisor the spec is whole.
    const std::string spec = wire::encode(request);
    if (auto w = write_all(s.spec_pipe.get(), spec); !w) {
        // The spare had died, not reaped yet (reap() will, as it does supervisors): this
        // run gets one of its own, or the reason it cannot.
        spdlog::warn("runs: the spare supervisor {} is gone ({}); starting one for the run", s.pid, w.error().message());
        supervisors_[s.pid];
        s = TRY(launch_supervisor());
        TRY(write_all(s.spec_pipe.get(), spec));
    }
    supervisors_[s.pid].identity = WornIdentity{request.home, request.pid, request.ppid};
    spdlog::info("runs: supervisor {} runs {} (home {} pid {}, uid {})", s.pid, request.argv[0], request.home,
                 request.pid, request.uid);
    return ok();
}

// By PID: the agent has other children (restarted processes, checkpoints.cpp) whose
// statuses are not ours to take.
void RemoteRuns::reap() {
    std::erase_if(spares_, [this](const Spare& spare) {
        auto r = try_wait_process(spare.pid);
        if (!r || !*r) return false;
        pause_spares();
        spdlog::warn("runs: the spare supervisor {} ended, {}; the next starts in {} ms", spare.pid,
                     (*r)->describe(), spare_pause_.count());
        return true;
    });
    for (auto it = supervisors_.begin(); it != supervisors_.end();) {
        pid_t pid = it->first;
        auto r = try_wait_process(pid);
        if (!r || !*r) {
            ++it;
            continue;
        }
        it = supervisors_.erase(it);
        ::unlink((runs_dir_ + "/" + std::to_string(pid)).c_str());
        spdlog::info("runs: supervisor {} ended, {}", pid, (*r)->describe());
    }
    // A run just ended (or the spare did): the CPU it used is free, and the next run
    // often follows at once (a script's loop).
    keep_spare();
}

}  // namespace ssi::agent

namespace ssi::agent {

// The deputy whose stand-in `pid` is (kern-ext/stand_in.h), if it is one.
std::optional<pid_t> RemoteRuns::stand_in_parent(pid_t pid) const {
    auto id = read_process_identity(pid);
    if (!id || !deputies_.count(id->ppid)) return std::nullopt;
    auto comm = read_file("/proc/" + std::to_string(pid) + "/comm");
    if (!comm || *comm != std::string(kStandInName) + "\n") return std::nullopt;
    return id->ppid;
}

size_t RemoteRuns::programs_on(int32_t node) const {
    return size_t(std::count_if(deputies_.begin(), deputies_.end(), [node](const auto& d) {
        return d.second == node && process_exists(d.first);
    }));
}

std::optional<int32_t> RemoteRuns::deputy_target(pid_t pid) const {
    auto it = deputies_.find(pid);
    if (it != deputies_.end()) return it->second;
    if (auto deputy = stand_in_parent(pid)) return deputies_.at(*deputy);
    return std::nullopt;
}

std::optional<pid_t> RemoteRuns::program_wearing(int32_t home, pid_t pid) const {
    for (const auto& [supervisor, run] : supervisors_) {
        if (!run.known || run.identity.home != home) continue;
        if (run.identity.pid == pid) return run.program;
        for (const auto& [here, worn] : run.children)
            if (worn.pid == pid) return here;
    }
    return std::nullopt;
}

// "reaper stub program", then "child <pid here> <home pid> <home ppid>" per child of the
// program (ssi-remote/children.h); re-read at every scan, since children come and go.
void RemoteRuns::read_pids_file(pid_t supervisor, Supervised& run) {
    auto text = read_file(runs_dir_ + "/" + std::to_string(supervisor));
    if (!text) return;
    if (std::sscanf(text->c_str(), "%d %d %d", &run.reaper, &run.stub, &run.program) == 3) run.known = true;
    run.children.clear();
    for (size_t at = text->find("\nchild "); at != std::string::npos; at = text->find("\nchild ", at + 1)) {
        int here = 0, pid = 0, ppid = 0;
        if (std::sscanf(text->c_str() + at + 7, "%d %d %d", &here, &pid, &ppid) == 3)
            run.children[here] = WornIdentity{run.identity.home, pid, ppid};
    }
}

Visibility RemoteRuns::visibility() {
    Visibility v;
    // A deputy that exited is forgotten, so that its PID, once reused, is listed again.
    std::erase_if(deputies_, [](const auto& d) { return !process_exists(d.first); });
    for (const auto& [deputy, node] : deputies_) {
        v.hidden.insert(deputy);
        // Its stand-ins hold its program's children's PIDs; the children are listed where they run.
        if (auto kids = read_thread_children(deputy))
            for (pid_t kid : *kids)
                if (stand_in_parent(kid)) v.hidden.insert(kid);
    }
    for (const Spare& spare : spares_) v.hidden.insert(spare.pid);
    for (auto& [supervisor, run] : supervisors_) {
        v.hidden.insert(supervisor);
        // Written by the supervisor once the program runs, rewritten as children come and go.
        read_pids_file(supervisor, run);
        if (!run.known) continue;
        v.hidden.insert(run.reaper);
        v.hidden.insert(run.stub);
        v.worn[run.program] = run.identity;
        for (const auto& [here, worn] : run.children) v.worn[here] = worn;
    }
    return v;
}

}  // namespace ssi::agent
