// Migrations: the home agent's part in ssi-migrate (docs/migration.md). Every migration
// of a process is decided and driven at its home node, whichever node the tool ran on:
//   - a plain home process moving away is saved while stopped and, still stopped, made
//     to exec `ssi-run --adopt`: the same process (PID, parent, open files) becomes its
//     own deputy, which is then ordered to move the image to the target;
//   - a process already away is moved by its deputy (MoveOrder on its order socket);
//   - whenever the deputy parks (home was the target, or the move failed before its
//     commit point), the agent rebuilds the process inside it from the image
//     (restore_into): back in its own PID, at home, exactly once.
// The checkpoint, the wait for the deputy and the rebuild run on the thread pool (ptrace
// wants one thread for a whole job), so the agent keeps heartbeating and serving.
#pragma once

#include "kern-ext/checkpoint/checkpoint.h"
#include "kern-ext/unique_fd.h"
#include "libssi/config.h"
#include "libssi/gpid.h"
#include "libssi/wire/messages.h"
#include "ssi-agent/event_loop.h"
#include "ssi-agent/remote_runs.h"

#include <functional>
#include <optional>
#include <set>
#include <string>

namespace ssi::agent {

class Migrations {
public:
    using Done = std::function<void(wire::Message)>;  // MigrateReply or ErrorReply
    // Where "auto" goes (a node other than `exclude`, 0 if none), and why a node cannot
    // take a process now (nullopt: it can).
    using PickNode = std::function<int32_t(int32_t exclude)>;
    using NodeProblem = std::function<std::optional<std::string>(int32_t node)>;

    Migrations(EventLoop& loop, const ClusterConfig& config, RemoteRuns& runs, PickNode pick, NodeProblem problem);

    // A process of this node (its home), asked for by `caller_uid` (the kernel's word, or
    // the asking peer's); `done` runs on the loop thread.
    void start(const wire::MigrateRequest& request, uid_t caller_uid, Done done);
    // At start and on full scans: deputies left parked by a move home whose agent died
    // before rebuilding the process in them (or that parked while no agent ran) get it
    // rebuilt now, from the image beside them, in their PID.
    void rebuild_parked();
    // What the process table must not list: the holder of the memory of a process
    // leaving home (kern-ext/checkpoint/memory_holder.h), while the move lasts.
    void hide_holders(Visibility& visibility) const;
    bool moving(pid_t pid) const { return moving_.count(pid) != 0; }

private:
    struct Job;
    Result<std::shared_ptr<Job>> prepare(const wire::MigrateRequest& request, uid_t caller_uid);
    static void run(Job& job);
    static Result<void> save_owned_head(const ProcessImage& image, const Job& job);
    static Result<void> rebuild_in_deputy(const Job& job);
    static void inject_fault(const Job& job, const char* point);
    // A file of the move's that the process's owner may have written: opened only if it
    // is a regular file of theirs, no link followed.
    static Result<UniqueFd> open_owned(const Job& job, const std::string& path);
    // Streamed from `fd` through `source` (both the caller's, alive through the restore).
    static Result<ProcessImage> load_owned_image(const Job& job, UniqueFd& fd, std::optional<FdImageSource>& source);

    EventLoop& loop_;
    const ClusterConfig& config_;
    RemoteRuns& runs_;
    PickNode pick_;
    NodeProblem problem_;
    std::string images_dir_;
    std::set<pid_t> moving_;  // one migration per process at a time
};

// Path of ssi-run, which a process leaving home execs to become its deputy: $SSI_RUN_BIN,
// beside this executable, or in ../bin (installed layout: sbin/ssi-agent, bin/ssi-run).
std::string deputy_program_path();
// The order socket of the deputy `pid` of node `node`: nothing while nobody listens
// there (not yet, or not a deputy: it closed it as it parked), an error when another
// process holds its name.
Result<std::optional<UniqueFd>> connect_deputy(int32_t node, pid_t pid);
// Whether `pid` is a deputy now: it listens on its order socket.
bool listening_deputy(int32_t node, pid_t pid);

}  // namespace ssi::agent
