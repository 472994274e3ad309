#include "kern-ext/process.h"

#include "kern-ext/detached_close.h"

#include <fcntl.h>
#include <grp.h>
#include <malloc.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sys/stat.h>

#include <cctype>
#include <climits>
#include <cstdio>
#include <algorithm>
#include <cstring>

namespace ssi {

std::vector<char*> c_string_array(const std::vector<std::string>& strings) {
    std::vector<char*> out;
    out.reserve(strings.size() + 1);
    for (const auto& s : strings) out.push_back(const_cast<char*>(s.c_str()));
    out.push_back(nullptr);
    return out;
}

Result<std::string> find_program(const std::string& name, const std::string& path) {
    if (name.find('/') != std::string::npos) return name;
    if (name.empty()) return make_error("execvp", "empty program name", ENOENT);
    bool denied = false;
    size_t start = 0;
    for (;;) {
        size_t end = path.find(':', start);
        std::string dir = path.substr(start, end == std::string::npos ? std::string::npos : end - start);
        std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
        struct stat st {};
        if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
            if (::access(candidate.c_str(), X_OK) == 0) return candidate;
            denied = true;
        }
        if (end == std::string::npos) break;
        start = end + 1;
    }
    return make_error("execvp", name, denied ? EACCES : ENOENT);
}

Result<pid_t> fork_process() {
    pid_t pid = ::fork();
    if (pid < 0) return sys_error("fork");
    return pid;
}

Error exec_path(const std::vector<std::string>& argv) {
    if (argv.empty()) return make_error("execvp", "empty command", EINVAL);
    auto args = c_string_array(argv);
    ::execvp(args[0], args.data());
    return sys_error("execvp", argv[0]);
}

Error exec_file(const std::string& path, const std::vector<std::string>& argv) {
    auto args = c_string_array(argv);
    ::execv(path.c_str(), args.data());
    return sys_error("execv", path);
}

Result<pid_t> spawn_process(const std::string& path, const std::vector<std::string>& argv,
                            const SpawnOptions& options) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    if (int e = ::posix_spawn_file_actions_init(&actions); e != 0)
        return make_error("posix_spawn_file_actions_init", path, e);
    if (int e = ::posix_spawnattr_init(&attributes); e != 0) {
        ::posix_spawn_file_actions_destroy(&actions);
        return make_error("posix_spawnattr_init", path, e);
    }
    int e = 0;
    if (options.stdin_fd >= 0) e = ::posix_spawn_file_actions_adddup2(&actions, options.stdin_fd, STDIN_FILENO);
    if (e == 0 && options.new_session) e = ::posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSID);
    pid_t pid = -1;
    auto args = c_string_array(argv);
    if (e == 0) e = ::posix_spawn(&pid, path.c_str(), &actions, &attributes, args.data(), environ);
    ::posix_spawnattr_destroy(&attributes);
    ::posix_spawn_file_actions_destroy(&actions);
    if (e != 0) return make_error("posix_spawn", path, e);
    return pid;
}

void exit_child(int status) { ::_exit(status); }

void exit_now(int status) {
    hold_slow_closes_past_exit();  // our exit must not wait for their last close
    std::fflush(nullptr);
    ::_exit(status);
}

std::string ExitStatus::describe() const {
    if (!signaled) return "exit status " + std::to_string(code);
    const char* name = ::strsignal(signal);
    return "killed by signal " + std::to_string(signal) + (name ? std::string(" (") + name + ")" : "");
}

ExitStatus decode_wait_status(int status) {
    if (WIFSIGNALED(status)) return ExitStatus{true, 0, WTERMSIG(status)};
    return ExitStatus{false, WEXITSTATUS(status), 0};
}

Result<ExitStatus> wait_process(pid_t pid) {
    int status = 0;
    for (;;) {
        pid_t r = ::waitpid(pid, &status, 0);
        if (r >= 0) break;
        if (errno == EINTR) continue;
        return sys_error("waitpid", "pid " + std::to_string(pid));
    }
    return decode_wait_status(status);
}

Result<void> end_clone_child(pid_t pid) {
    if (::kill(pid, SIGKILL) < 0) return sys_error("kill", "pid " + std::to_string(pid));
    for (;;) {
        if (::waitpid(pid, nullptr, __WALL) >= 0) return ok();
        if (errno != EINTR) return sys_error("waitpid(__WALL)", "pid " + std::to_string(pid));
    }
}

Result<Reaped> reap_one() {
    int status = 0;
    pid_t r = ::waitpid(-1, &status, WNOHANG);
    if (r < 0) {
        if (errno == ECHILD) return Reaped{Reaped::no_children};
        return sys_error("waitpid", "any child");
    }
    if (r == 0) return Reaped{Reaped::none_exited};
    return Reaped{Reaped::child, r, decode_wait_status(status)};
}

Result<std::optional<ExitStatus>> try_wait_process(pid_t pid) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r < 0) return sys_error("waitpid", "pid " + std::to_string(pid));
    if (r == 0) return std::optional<ExitStatus>{};
    return std::optional<ExitStatus>{decode_wait_status(status)};
}

Result<pid_t> new_session() {
    pid_t sid = ::setsid();
    if (sid < 0) return sys_error("setsid");
    return sid;
}

Result<pid_t> process_group_of(pid_t pid) {
    pid_t group = ::getpgid(pid);
    if (group < 0) return sys_error("getpgid", "pid " + std::to_string(pid));
    return group;
}

Result<void> duplicate_fd(int fd, int target) {
    if (::dup2(fd, target) < 0) return sys_error("dup2", std::to_string(fd) + " -> " + std::to_string(target));
    return ok();
}

Result<void> redirect_stdio(const std::string& stdin_path, const std::string& output_path) {
    int in = ::open(stdin_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (in < 0) return sys_error("open", stdin_path);
    UniqueFd in_fd(in);
    int out = ::open(output_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (out < 0) return sys_error("open", output_path);
    UniqueFd out_fd(out);
    TRY(duplicate_fd(in_fd.get(), STDIN_FILENO));
    TRY(duplicate_fd(out_fd.get(), STDOUT_FILENO));
    TRY(duplicate_fd(out_fd.get(), STDERR_FILENO));
    return ok();
}

Result<std::pair<UniqueFd, UniqueFd>> make_pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) < 0) return sys_error("pipe2");
    return std::pair<UniqueFd, UniqueFd>{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

Result<std::string> current_dir() {
    char buf[PATH_MAX];
    if (::getcwd(buf, sizeof(buf)) == nullptr) return sys_error("getcwd");
    return std::string(buf);
}

Result<void> change_dir(const std::string& path) {
    if (::chdir(path.c_str()) < 0) return sys_error("chdir", path);
    return ok();
}

Result<std::string> self_executable() {
    char buf[PATH_MAX];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    if (n < 0) return sys_error("readlink", "/proc/self/exe");
    return std::string(buf, size_t(n));
}

Result<void> set_identity(uid_t uid, gid_t gid, const std::vector<gid_t>& groups) {
    if (::setgroups(groups.size(), groups.data()) < 0) return sys_error("setgroups", "uid " + std::to_string(uid));
    if (::setgid(gid) < 0) return sys_error("setgid", "gid " + std::to_string(gid));
    if (::setuid(uid) < 0) return sys_error("setuid", "uid " + std::to_string(uid));
    return ok();
}

sigset_t signal_set(std::initializer_list<int> signals) {
    sigset_t set;
    sigemptyset(&set);
    for (int s : signals) sigaddset(&set, s);
    return set;
}

Result<sigset_t> set_signal_mask(int how, const sigset_t& set) {
    sigset_t old;
    int rc = ::sigprocmask(how, &set, &old);
    if (rc < 0) return sys_error("sigprocmask");
    return old;
}

void keep_freed_heap_memory(size_t keep_bytes) {
    ::mallopt(M_MMAP_THRESHOLD, int(std::min<size_t>(keep_bytes, 32u << 20)));
    ::mallopt(M_TRIM_THRESHOLD, int(keep_bytes));
}

void use_one_heap_arena() { ::mallopt(M_ARENA_MAX, 1); }

Result<void> reserve_descriptor_table(unsigned slots) {
    rlimit limit {};
    if (::getrlimit(RLIMIT_NOFILE, &limit) < 0) return sys_error("getrlimit(RLIMIT_NOFILE)");
    const rlim_t want = std::min<rlim_t>(slots, limit.rlim_max);
    if (want == 0) return ok();
    if (want > limit.rlim_cur) {
        rlimit raised {want, limit.rlim_max};
        if (::setrlimit(RLIMIT_NOFILE, &raised) < 0) return sys_error("setrlimit(RLIMIT_NOFILE)");
    }
    // The lowest free number from the last slot on: nothing open there is touched, and if
    // that slot is taken the table is already as large.
    Error failed {};
    int source = ::open("/", O_PATH | O_CLOEXEC);
    if (source < 0) failed = sys_error("open", "/");
    int probe = source < 0 ? -1 : ::fcntl(source, F_DUPFD_CLOEXEC, int(want - 1));
    if (source >= 0 && probe < 0 && errno != EMFILE && errno != EINVAL)
        failed = sys_error("fcntl(F_DUPFD_CLOEXEC)", "slot " + std::to_string(want - 1));
    if (probe >= 0) ::close(probe);
    if (source >= 0) ::close(source);
    if (want > limit.rlim_cur) (void)::setrlimit(RLIMIT_NOFILE, &limit);
    if (!failed.call.empty()) return failed;
    return ok();
}

Result<UniqueFd> open_signalfd(const sigset_t& set) {
    int fd = ::signalfd(-1, &set, SFD_CLOEXEC);
    if (fd < 0) return sys_error("signalfd");
    return UniqueFd(fd);
}

Result<void> set_signal_handler(int signal, void (*handler)(int, siginfo_t*, void*)) {
    struct sigaction sa {};
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (::sigaction(signal, &sa, nullptr) < 0) return sys_error("sigaction", "signal " + std::to_string(signal));
    return ok();
}

Result<void> reset_signal_handler(int signal) {
    struct sigaction sa {};
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    if (::sigaction(signal, &sa, nullptr) < 0) return sys_error("sigaction", "signal " + std::to_string(signal));
    return ok();
}

Result<void> set_parent_death_signal(int signal) {
    if (::prctl(PR_SET_PDEATHSIG, signal, 0, 0, 0) < 0) return sys_error("prctl(PR_SET_PDEATHSIG)");
    return ok();
}

Result<void> signal_all_others(int signal) {
    if (::kill(-1, signal) < 0 && errno != ESRCH) return sys_error("kill", "-1");
    return ok();
}

}  // namespace ssi
