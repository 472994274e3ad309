#include "shell/ssi-cluster/node_init.h"

#include "kern-ext/files.h"
#include "kern-ext/namespaces.h"
#include "kern-ext/process.h"
#include "kern-ext/unix_socket.h"
#include "shell/ssi-cluster/agent_watch.h"
#include "shell/ssi-cluster/cluster_state.h"

#include <fcntl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

namespace ssi::cluster {
namespace {

using clock = std::chrono::steady_clock;

const sigset_t kHandled = signal_set({SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR1});

void say(int node, const std::string& what) {
    std::fprintf(stderr, "node-init[%d]: %s\n", node, what.c_str());
    std::fflush(stderr);
}

bool is_under(const std::string& path, const std::string& dir) {
    return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/';
}

// The node's own view of the filesystem. Private propagation first, or the tmpfs mounts
// would appear on the host and in every other node. `keep` (the ssi build or install
// tree) stays visible at its own path even when it lies under a directory the node makes
// private, such as a checkout in /tmp.
Result<void> build_filesystem(const std::string& keep) {
    TRY(make_mounts_private("/"));
    for (const auto& [dir, options] : {std::pair{std::string("/tmp"), "mode=1777"},
                                       std::pair{std::string(kNodeRunDir), "mode=0755"},
                                       std::pair{std::string("/dev/shm"), "mode=1777"}}) {
        UniqueFd kept;
        if (is_under(keep, dir)) kept = TRY(open_file(keep, O_PATH | O_DIRECTORY));
        TRY(mount_tmpfs(dir, options));
        if (kept) {
            TRY(make_dirs(keep, 0755));
            TRY(bind_mount("/proc/self/fd/" + std::to_string(kept.get()), keep));
        }
    }
    TRY(mount_proc("/proc"));
    return ok();
}

// The node's secret key, where cluster.toml says every node keeps it.
Result<void> install_secret_key(const StatePaths& paths, int k) {
    std::string key = TRY(read_file(paths.node_dir(k) + "/node.secret"));
    return write_file_atomic(kNodeSecretKeyPath, key, 0600);
}

class NodeInit {
public:
    NodeInit(StatePaths paths, int node, std::string agent)
        : paths_(std::move(paths)), node_(node), agent_(std::move(agent)) {}

    void start_agent() {
        if (agent_pid_ != 0) return;
        auto pid = fork_process();
        if (!pid) return say(node_, "cannot start the agent: " + pid.error().message());
        if (*pid == 0) exec_agent();
        agent_pid_ = *pid;
        record(AgentState{AgentState::running, agent_pid_, {}});
        say(node_, "started ssi-agent, pid " + std::to_string(agent_pid_) + " in the node");
    }

    // Reaps every exited child; notes the agent's end.
    void reap() {
        for (;;) {
            auto r = reap_one();
            if (!r || r->kind != Reaped::child) return;
            if (r->pid != agent_pid_) continue;
            say(node_, "ssi-agent (pid " + std::to_string(agent_pid_) + ") ended: " + r->status.describe());
            record(AgentState{AgentState::exited, agent_pid_, r->status.describe()});
            agent_pid_ = 0;
        }
    }

    // Asks every process of the node to stop, waits a little, then exits: the kernel
    // kills whatever is left when a PID namespace's init exits.
    int shut_down(int signal_fd) {
        say(node_, "stopping the node");
        (void)signal_all_others(SIGTERM);
        auto deadline = clock::now() + std::chrono::seconds(2);
        for (;;) {
            auto r = reap_one();
            if (!r || r->kind == Reaped::no_children) break;
            if (r->kind == Reaped::child) continue;
            int left = int(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count());
            if (left <= 0) break;
            signalfd_siginfo info;
            if (readable(wait_readable(signal_fd, left))) (void)read_some(signal_fd, as_span(info));
        }
        return 0;
    }

    int run(int signal_fd) {
        for (;;) {
            signalfd_siginfo info{};
            auto n = read_some(signal_fd, as_span(info));
            if (!n) {
                say(node_, n.error().message());
                return 1;
            }
            reap();
            switch (info.ssi_signo) {
                case SIGUSR1: start_agent(); break;
                case SIGTERM:
                case SIGINT:
                case SIGHUP:
                    // ssi_pid is 0 for a sender outside the node's PID namespace.
                    if (info.ssi_pid == 0) return shut_down(signal_fd);
                    say(node_, "ignoring signal " + std::to_string(info.ssi_signo) + " from pid " +
                                   std::to_string(info.ssi_pid) + " in the node");
                    break;
                default: break;
            }
        }
    }

private:
    static std::span<char> as_span(signalfd_siginfo& info) {
        return {reinterpret_cast<char*>(&info), sizeof(info)};
    }

    static bool readable(const Result<bool>& r) { return r && *r; }

    [[noreturn]] void exec_agent() {
        (void)set_signal_mask(SIG_UNBLOCK, kHandled);
        if (auto r = redirect_stdio("/dev/null", paths_.agent_log(node_)); !r) {
            say(node_, r.error().message());
            exit_child(126);
        }
        Error e = exec_file(agent_, {agent_, "--config", paths_.config(), "--node", std::to_string(node_)});
        std::fprintf(stderr, "ssi-cluster: %s\n", e.message().c_str());
        exit_child(exec_failure_status(e.err));
    }

    void record(const AgentState& state) {
        if (auto r = write_file_atomic(paths_.agent_state(node_), format_agent_state(state), 0644); !r)
            say(node_, r.error().message());
    }

    StatePaths paths_;
    int node_;
    std::string agent_;
    pid_t agent_pid_ = 0;
};

}  // namespace

Result<int> run_node_init(const NodeInitOptions& o) {
    // Signals first: whatever arrives while the node is being built waits in the signalfd.
    TRY(set_signal_mask(SIG_BLOCK, kHandled));
    UniqueFd signals = TRY(open_signalfd(kHandled));
    if (::getpid() != 1) return make_error("__node-init must be pid 1 of a new PID namespace", {}, EINVAL);

    StatePaths paths{o.state_dir};
    std::string tree = o.agent.substr(0, o.agent.rfind('/'));  // .../bin; keep its parent (the build or install tree)
    TRY(build_filesystem(tree.substr(0, tree.rfind('/'))));
    TRY(set_hostname(node_hostname(o.node)));
    TRY(install_secret_key(paths, o.node));
    say(o.node, "node " + node_hostname(o.node) + " ready");

    NodeInit init(paths, o.node, o.agent);
    init.start_agent();
    return init.run(signals.get());
}

}  // namespace ssi::cluster
