#include "shell/ssi-cluster/node_launch.h"

#include "kern-ext/files.h"
#include "kern-ext/namespaces.h"
#include "kern-ext/pidfd.h"
#include "kern-ext/process.h"
#include "kern-ext/unix_socket.h"

#include <sched.h>
#include <signal.h>

#include <cstdio>
#include <thread>

namespace ssi::cluster {
namespace {

using clock = std::chrono::steady_clock;

// In the helper's child, the new namespaces' pid 1: detach, then become the init.
[[noreturn]] void exec_init(const LaunchSpec& spec) {
    if (auto r = new_session(); !r) std::fprintf(stderr, "ssi-cluster: %s\n", r.error().message().c_str());
    if (auto r = redirect_stdio("/dev/null", spec.paths.init_log(spec.node)); !r) {
        std::fprintf(stderr, "ssi-cluster: node %d: %s\n", spec.node, r.error().message().c_str());
        exit_child(126);
    }
    Error e = exec_file(spec.self, {spec.self, "__node-init", "--state-dir", spec.paths.dir, "--node",
                                    std::to_string(spec.node), "--agent", spec.agent});
    std::fprintf(stderr, "ssi-cluster: node %d: %s\n", spec.node, e.message().c_str());
    exit_child(127);
}

// The helper: new namespaces, fork the init, report "ok PID" or "error MESSAGE".
[[noreturn]] void run_helper(const LaunchSpec& spec, UniqueFd report) {
    std::string line;
    if (auto r = unshare_namespaces(CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS); !r) {
        line = "error " + r.error().message();
    } else if (auto pid = fork_process(); !pid) {
        line = "error " + pid.error().message();
    } else if (*pid == 0) {
        report.reset();
        exec_init(spec);
    } else {
        line = "ok " + std::to_string(*pid);
    }
    (void)write_all(report.get(), line);
    exit_child(0);
}

Result<std::string> read_to_end(int fd) {
    std::string out;
    char buf[512];
    for (;;) {
        size_t n = TRY(read_some(fd, buf));
        if (n == 0) return out;
        out.append(buf, n);
    }
}

bool wait_gone(const std::vector<Pidfd>& fds, clock::time_point deadline) {
    for (const auto& fd : fds) {
        for (;;) {
            int left = int(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count());
            auto r = wait_readable(fd.fd(), left > 0 ? left : 0);
            if (!r || *r) break;  // exited (or cannot tell: do not hang on it)
            if (left <= 0) return false;
        }
    }
    return true;
}

}  // namespace

Result<ProcessId> launch_node(const LaunchSpec& spec) {
    auto [read_end, write_end] = TRY(make_pipe());
    pid_t helper = TRY(fork_process());
    if (helper == 0) {
        read_end.reset();
        run_helper(spec, std::move(write_end));
    }
    write_end.reset();
    std::string report = TRY(read_to_end(read_end.get()));
    TRY(wait_process(helper));
    std::string node = "node " + std::to_string(spec.node);
    if (report.rfind("ok ", 0) != 0)
        return make_error(node + ": " + (report.empty() ? "the launch helper died" : report.substr(6)), {}, 0);
    pid_t init = pid_t(std::stol(report.substr(3)));
    auto id = identify_process(init);
    if (!id) return make_error(node + ": its init exited at once", {}, 0);
    return *id;
}

Result<void> stop_inits(const std::vector<ProcessId>& inits, std::chrono::milliseconds grace) {
    std::vector<Pidfd> fds;
    for (const auto& id : inits) {
        auto fd = Pidfd::open(id.pid);
        // Checked after opening: the pidfd now pins the process, so it is the one we named.
        if (!fd || !is_running(id)) continue;
        (void)fd->send_signal(SIGTERM);
        fds.push_back(std::move(*fd));
    }
    if (wait_gone(fds, clock::now() + grace)) return ok();
    for (const auto& fd : fds) (void)fd.send_signal(SIGKILL);
    if (wait_gone(fds, clock::now() + std::chrono::seconds(10))) return ok();
    return make_error("some node inits did not exit after SIGKILL", {}, ETIMEDOUT);
}

}  // namespace ssi::cluster
