// ssi-cluster exec K -- CMD: runs CMD as if logged into node K. It joins the node's PID,
// mount and UTS namespaces (so /run/ssi, /dev/shm, /tmp and /proc are the node's and
// the ssi tools find node K's agent at their default paths), forks (a PID namespace
// applies to children only), and waits, passing on the signals it is sent.
#include "kern-ext/namespaces.h"
#include "kern-ext/pidfd.h"
#include "kern-ext/program_setup.h"
#include "kern-ext/process.h"
#include "shell/ssi-cluster/binaries.h"
#include "shell/ssi-cluster/cluster_state.h"
#include "shell/ssi-cluster/commands.h"

#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace ssi::cluster {
namespace {

const std::initializer_list<int> kForwarded = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

volatile sig_atomic_t g_child = 0;

// Signals sent to ssi-cluster by a process go on to the command. Signals from the
// terminal (SI_KERNEL) are not repeated: the command is in our foreground process group
// and got its own. (Raw kill(2): only async-signal-safe calls belong in a handler.)
void forward_signal(int signal, siginfo_t* info, void*) {
    if (info->si_code == SI_KERNEL || g_child <= 0) return;
    ::kill(g_child, signal);
}

struct UserIdentity {
    std::string name, home, shell;
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;
};

// Looked up after joining the node: the node's view of the user database.
Result<UserIdentity> lookup_user(const std::string& name) {
    struct passwd pw {};
    struct passwd* found = nullptr;
    std::vector<char> buf(16384);
    int rc = ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
    if (rc != 0) return make_error("getpwnam_r", name, rc);
    if (!found) return make_error("no such user", name, 0);
    UserIdentity u{pw.pw_name, pw.pw_dir, pw.pw_shell, pw.pw_uid, pw.pw_gid, {}};
    int count = 64;
    u.groups.resize(size_t(count));
    if (::getgrouplist(pw.pw_name, pw.pw_gid, u.groups.data(), &count) < 0) {
        u.groups.resize(size_t(count));
        ::getgrouplist(pw.pw_name, pw.pw_gid, u.groups.data(), &count);
    }
    u.groups.resize(size_t(count));
    return u;
}

struct ChildPlan {
    std::string cwd;
    std::string tools_dir;
    std::optional<UserIdentity> user;
    std::vector<std::string> command;
};

[[noreturn]] void die(const std::string& what, int status) {
    std::fprintf(stderr, "ssi-cluster: %s\n", what.c_str());
    exit_child(status);
}

[[noreturn]] void run_child(const ChildPlan& plan) {
    (void)set_signal_mask(SIG_UNBLOCK, signal_set(kForwarded));
    // Joining a mount namespace moved us to its root; go back where the caller was.
    if (!change_dir(plan.cwd)) (void)change_dir("/");
    if (plan.user) {
        if (auto r = set_identity(plan.user->uid, plan.user->gid, plan.user->groups); !r)
            die(r.error().message(), 126);
        ::setenv("HOME", plan.user->home.c_str(), 1);
        ::setenv("USER", plan.user->name.c_str(), 1);
        ::setenv("LOGNAME", plan.user->name.c_str(), 1);
    }
    // A login brings stdin, stdout and stderr, nothing else of the caller's (as ssh).
    (void)close_on_exec_from(3);
    const char* path = std::getenv("PATH");
    ::setenv("PATH", path_with(path ? path : "/usr/local/bin:/usr/bin:/bin", plan.tools_dir).c_str(), 1);
    Error e = exec_path(plan.command);
    die(plan.command[0] + ": " + std::strerror(e.err), exec_failure_status(e.err));
}

}  // namespace

Result<int> cmd_exec(const ExecOptions& o) {
    Cluster cluster = TRY(load_cluster(o.name));
    ProcessId init = TRY(cluster.running_init(o.node));
    auto cwd = current_dir();  // may be gone; the command then starts in /
    ChildPlan plan{cwd ? *cwd : "/", TRY(self_dir()), std::nullopt, o.command};

    // The pidfd pins the init; checking its identity after opening makes sure it is ours.
    Pidfd target = TRY(Pidfd::open(init.pid));
    if (!is_running(init)) return make_error("node " + std::to_string(o.node) + " stopped", {}, ESRCH);
    TRY(enter_namespaces(target, CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS));
    if (!o.user.empty()) plan.user = TRY(lookup_user(o.user));

    // Blocked until the child's pid is known to the handler; the child unblocks them.
    sigset_t forwarded = signal_set(kForwarded);
    TRY(set_signal_mask(SIG_BLOCK, forwarded));
    pid_t child = TRY(fork_process());
    if (child == 0) run_child(plan);
    g_child = child;
    for (int s : kForwarded) TRY(set_signal_handler(s, forward_signal));
    TRY(set_signal_mask(SIG_UNBLOCK, forwarded));

    ExitStatus status = TRY(wait_process(child));
    return status.shell_status();
}

}  // namespace ssi::cluster
