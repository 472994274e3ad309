#include "ssi-agent/remote_runs.h"

#include "kern-ext/files.h"
#include "kern-ext/proc_status.h"
#include "kern-ext/process.h"
#include "libssi/wire/codec.h"

#include <pwd.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdlib>

namespace ssi::agent {

std::string supervisor_path() {
    if (const char* p = std::getenv("SSI_REMOTE_BIN"); p && *p) return p;
    auto self = self_executable();
    std::string dir = self ? self->substr(0, self->rfind('/')) : ".";
    return dir + "/ssi-remote";
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

Result<void> RemoteRuns::start(const wire::RunRequest& request) {
    // The user must exist here; the supervisor runs the program with exactly these ids.
    if (!::getpwuid(request.uid))
        return make_error("user " + std::to_string(request.uid) + " has no account on node " +
                          std::to_string(config_.self_id));
    std::string path = supervisor_path();
    auto [read_end, write_end] = TRY(make_pipe());
    pid_t child = TRY(fork_process());
    if (child == 0) {
        // The supervisor outlives this agent: its own session, its spec on stdin.
        (void)new_session();
        write_end.reset();
        if (!duplicate_fd(read_end.get(), STDIN_FILENO)) exit_child(125);
        Error e = exec_file(path, {path});
        std::fprintf(stderr, "ssi-agent: cannot start %s: %s\n", path.c_str(), e.message().c_str());
        exit_child(125);
    }
    read_end.reset();
    ++running_;
    // A spec is a few KiB at most: the pipe holds it without blocking the loop.
    if (auto w = write_all(write_end.get(), wire::encode(request)); !w)
        spdlog::warn("runs: handing the spec to the supervisor: {}", w.error().message());
    spdlog::info("runs: started supervisor {} for {} (home {} pid {}, uid {})", child, request.argv[0], request.home,
                 request.pid, request.uid);
    return ok();
}

void RemoteRuns::reap() {
    for (;;) {
        auto r = reap_one();
        if (!r || r->kind != Reaped::child) return;
        if (running_) --running_;
        spdlog::info("runs: supervisor {} ended, {}", r->pid, r->status.describe());
    }
}

}  // namespace ssi::agent
