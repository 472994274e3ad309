// kern-ext/remote_launch: a program started in its own PID namespace wearing home PIDs.
// Needs root (PID/mount namespaces, set_tid); without it the tests say so and pass
// vacuously. Each identity test runs twice: with the host's "/" kept, and pivoted into a
// small root built from binds of the host's /usr and /etc (what a FUSE home root with the
// node's /dev, /sys and a fresh /proc looks like to the program).
#include "kern-ext/file_ops.h"
#include "kern-ext/files.h"
#include "kern-ext/namespaces.h"
#include "kern-ext/process.h"
#include "kern-ext/remote_launch.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <optional>
#include <string>

using namespace ssi;

namespace {

bool have_root() {
    if (::geteuid() == 0) return true;
    WARN("not root: remote launch tests skipped");
    return false;
}

// A root directory: the host's /usr and /etc bound in, merged-/usr symlinks, this node's
// /dev and /sys, a fresh /proc, and a marker file the host's "/" does not have.
struct SmallRoot {
    std::string dir;
    SmallRoot() {
        char tmpl[] = "/tmp/ssi-launch-root.XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        dir = tmpl;
        REQUIRE(::chmod(dir.c_str(), 0755) == 0);
        for (const char* d : {"usr", "etc", "dev", "sys", "proc", "tmp"}) REQUIRE(make_dirs(dir + "/" + d, 0755).ok());
        REQUIRE(::chmod((dir + "/tmp").c_str(), 01777) == 0);
        for (const char* l : {"bin", "lib", "lib64", "sbin"})
            REQUIRE(::symlink((std::string("usr/") + l).c_str(), (dir + "/" + l).c_str()) == 0);
        REQUIRE(write_file_atomic(dir + "/ssi-root-marker", "small root\n", 0644).ok());
    }
    ~SmallRoot() { (void)remove_tree(dir); }
    decltype(LaunchSpec::binds) binds() const { return {{"/usr", "/usr"}, {"/etc", "/etc"}, {"/dev", "/dev"}, {"/sys", "/sys"}, {"/proc", "/proc"}}; }
};

LaunchSpec shell_spec(const std::string& script) {
    LaunchSpec spec;
    spec.program = "sh";
    spec.argv = {"sh", "-c", script};
    spec.env = {"PATH=/usr/bin:/bin", "HOME=/"};
    spec.cwd = "/";
    spec.umask = 022;
    spec.pid = 4711;
    spec.ppid = 4700;
    return spec;
}

std::string read_to_end(int fd) {
    std::string out;
    char buf[4096];
    for (;;) {
        auto n = read_some(fd, buf);
        REQUIRE(n.ok());
        if (*n == 0) return out;
        out.append(buf, *n);
    }
}

std::string read_line(int fd) {
    std::string out;
    char c;
    for (;;) {
        auto n = read_some(fd, {&c, 1});
        REQUIRE(n.ok());
        if (*n == 0 || c == '\n') return out;
        out += c;
    }
}

struct Run {
    ProgramExit exit;
    std::string out, err;
};

// Launches with stdout and stderr on pipes (in `ready`, when given), reads both to EOF, waits.
Run run(LaunchSpec spec, const std::string& input = {}, std::optional<ReadyReaper> ready = std::nullopt) {
    auto in = make_pipe(), out = make_pipe(), err = make_pipe();
    REQUIRE((in.ok() && out.ok() && err.ok()));
    spec.stdin_fd = in->first.get();
    spec.stdout_fd = out->second.get();
    spec.stderr_fd = err->second.get();
    auto process = ready ? RemoteProcess::launch(spec, std::move(*ready)) : RemoteProcess::launch(spec);
    if (!process) FAIL(process.error().message());
    in->first.reset();
    out->second.reset();
    err->second.reset();
    REQUIRE(write_all(in->second.get(), input).ok());
    in->second.reset();
    Run r;
    r.out = read_to_end(out->first.get());  // small outputs: the pipes do not fill
    r.err = read_to_end(err->first.get());
    auto exit = process->wait();
    if (!exit) FAIL(exit.error().message());
    r.exit = *exit;
    return r;
}

bool process_exists(pid_t pid) { return ::kill(pid, 0) == 0 || errno != ESRCH; }

using Pids = std::array<pid_t, 2>;

// Runs `launch` in a launcher process of its own that exits right after, without
// destructors — the reaper's parent death signal must do the cleaning — and returns the
// PIDs it reported once it is gone.
Pids pids_left_by_a_dead_launcher(Pids (*launch)()) {
    auto report = make_pipe();
    REQUIRE(report.ok());
    auto launcher = fork_process();
    REQUIRE(launcher.ok());
    if (*launcher == 0) {
        Pids pids = launch();
        (void)write_all(report->second.get(), {reinterpret_cast<char*>(pids.data()), sizeof pids});
        exit_child(0);
    }
    report->second.reset();
    Pids pids{};
    REQUIRE(read_to_end(report->first.get()).copy(reinterpret_cast<char*>(pids.data()), sizeof pids) == sizeof pids);
    REQUIRE(wait_process(*launcher).ok());
    return pids;
}

bool is_zombie(pid_t pid) {
    auto stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    return stat.ok() && stat->find(") Z ") != std::string::npos;
}

pid_t parent_of(pid_t pid) {
    auto status = read_file("/proc/" + std::to_string(pid) + "/status");
    REQUIRE(status.ok());
    auto at = status->find("\nPPid:");
    REQUIRE(at != std::string::npos);
    return pid_t(std::atoi(status->c_str() + at + 6));
}

}  // namespace

TEST_CASE("remote launch: the program wears its home identity", "[launch][root]") {
    if (!have_root()) return;
    bool chroot = GENERATE(false, true);
    CAPTURE(chroot);
    SmallRoot small;
    auto spec_for = [&](const std::string& script) {
        LaunchSpec spec = shell_spec(script);
        if (chroot) {
            spec.root = small.dir;
            spec.binds = small.binds();
        }
        return spec;
    };

    SECTION("the root is the one asked for") {
        auto r = run(spec_for("test -e /ssi-root-marker && echo small || echo host"));
        CHECK(r.out == (chroot ? "small\n" : "host\n"));
    }
    SECTION("getpid and getppid are the home PIDs") {
        auto r = run(spec_for("echo $$ $PPID"));
        CHECK(r.out == "4711 4700\n");
        CHECK(r.exit.shell_status() == 0);
    }
    SECTION("/proc is the namespace's own: /proc/self is the program") {
        // `read` is a builtin: the shell itself opens /proc/self/stat.
        auto r = run(spec_for("read pid rest < /proc/self/stat; echo $pid; test -d /proc/4700 && echo parent"));
        CHECK(r.out == "4711\nparent\n");
    }
    SECTION("the exit code propagates") {
        auto r = run(spec_for("exit 3"));
        CHECK_FALSE(r.exit.signaled);
        CHECK(r.exit.code == 3);
    }
    SECTION("death by a signal propagates as the signal") {
        auto r = run(spec_for("kill -TERM $$"));
        CHECK(r.exit.signaled);
        CHECK(r.exit.signal == SIGTERM);
        CHECK_FALSE(r.exit.core_dumped);
    }
    SECTION("uid, gid and supplementary groups are applied") {
        LaunchSpec spec = spec_for("id -u; id -g; id -G");
        spec.uid = 65534;
        spec.gid = 65534;
        spec.groups = {65534, 100};
        auto r = run(spec);
        CHECK(r.out == "65534\n65534\n65534 100\n");
    }
    SECTION("cwd, environment, umask and rlimits are applied") {
        LaunchSpec spec = spec_for("pwd; echo $SSI_TEST; umask; ulimit -n");
        spec.cwd = "/tmp";
        spec.env.push_back("SSI_TEST=from home");
        spec.umask = 027;
        spec.rlimits = {{RLIMIT_NOFILE, rlimit{64, 64}}};
        auto r = run(spec);
        CHECK(r.out == "/tmp\nfrom home\n0027\n64\n");
    }
    SECTION("stdin, stdout and stderr are the fds given") {
        auto r = run(spec_for("cat; echo to-stderr >&2"), "through the pipe\n");
        CHECK(r.out == "through the pipe\n");
        CHECK(r.err == "to-stderr\n");
    }
    SECTION("a hostname gives the program its own UTS namespace") {
        LaunchSpec spec = spec_for("cat /proc/sys/kernel/hostname");
        spec.hostname = "ssi-remote";
        CHECK(run(spec).out == "ssi-remote\n");
    }
    SECTION("an optional bind is made where its target exists, and left out where not") {
        if (!chroot) return;
        REQUIRE(make_dirs(small.dir + "/present", 0755).ok());
        LaunchSpec spec = spec_for("test -e /present/ssi-root-marker && echo bound; test -e /absent || echo absent");
        spec.optional_binds = {{small.dir, "/present"}, {small.dir, "/absent"}};
        auto r = run(spec);
        CHECK(r.out == "bound\nabsent\n");
        CHECK(r.exit.shell_status() == 0);
    }
    SECTION("a home parent that is init: the reaper is the parent") {
        LaunchSpec spec = spec_for("echo $$ $PPID");
        spec.ppid = 1;
        CHECK(run(spec).out == "4711 1\n");
    }
}

TEST_CASE("remote launch: signal() reaches the program's trap", "[launch][root]") {
    if (!have_root()) return;
    auto out = make_pipe();
    REQUIRE(out.ok());
    LaunchSpec spec = shell_spec("trap 'echo got-usr1; exit 7' USR1; echo ready; while :; do sleep 0.05; done");
    spec.stdout_fd = out->second.get();
    auto process = RemoteProcess::launch(spec);
    if (!process) FAIL(process.error().message());
    out->second.reset();
    REQUIRE(read_line(out->first.get()) == "ready");
    REQUIRE(process->signal(SIGUSR1).ok());
    CHECK(read_line(out->first.get()) == "got-usr1");
    auto exit = process->wait();
    REQUIRE(exit.ok());
    CHECK(exit->code == 7);
    // Everything ended: the pidfd is readable, and waiting again gives the same answer.
    pollfd p{process->pidfd(), POLLIN, 0};
    CHECK(::poll(&p, 1, 0) == 1);
    CHECK(process->wait()->code == 7);
}

TEST_CASE("remote launch: stdio given as -1 is the null device, opened as a shell would", "[launch][root]") {
    if (!have_root()) return;
    auto out = make_pipe();
    REQUIRE(out.ok());
    // Each descriptor's device (major:minor, hex) and access mode (fdinfo's flags, octal:
    // the last digit is O_RDONLY 0, O_WRONLY 1, O_RDWR 2).
    LaunchSpec spec = shell_spec(
        "for fd in 0 2; do f=$(sed -n 's/^flags:[[:space:]]*//p' /proc/self/fdinfo/$fd); "
        "echo $fd $(stat -L -c %t:%T /proc/self/fd/$fd) ${f#${f%?}}; done; cat; echo dropped >&2");
    spec.stdin_fd = -1;
    spec.stdout_fd = out->second.get();
    spec.stderr_fd = -1;
    auto process = RemoteProcess::launch(spec);
    if (!process) FAIL(process.error().message());
    out->second.reset();
    // stdin ends at once (cat returns), and what goes to stderr is dropped.
    CHECK(read_to_end(out->first.get()) == "0 1:3 0\n2 1:3 1\n");
    auto exit = process->wait();
    REQUIRE(exit.ok());
    CHECK(exit->code == 0);
}

TEST_CASE("remote launch: a launcher that ignores SIGCHLD still gets the status", "[launch][root]") {
    if (!have_root()) return;
    auto launcher = fork_process();
    REQUIRE(launcher.ok());
    if (*launcher == 0) {
        ::signal(SIGCHLD, SIG_IGN);
        auto process = RemoteProcess::launch(shell_spec("exit 5"));
        if (!process) exit_child(100);
        auto exit = process->wait();
        exit_child(exit ? exit->code : 101);
    }
    auto status = wait_process(*launcher);
    REQUIRE(status.ok());
    CHECK(status->shell_status() == 5);
}

TEST_CASE("remote launch: exec failures are 127 and 126 with errno and path", "[launch][root]") {
    if (!have_root()) return;
    SECTION("not found in PATH") {
        LaunchSpec spec = shell_spec("");
        spec.program = "ssi-no-such-program";
        spec.argv = {"ssi-no-such-program"};
        auto r = RemoteProcess::launch(spec);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().err == ENOENT);
        CHECK(exec_failure_shell_status(r.error()) == 127);
        CHECK(r.error().message().find("ssi-no-such-program") != std::string::npos);
    }
    SECTION("no such path") {
        LaunchSpec spec = shell_spec("");
        spec.program = "/nonexistent/ssi/prog";
        auto r = RemoteProcess::launch(spec);
        REQUIRE_FALSE(r.ok());
        CHECK(exec_failure_shell_status(r.error()) == 127);
        CHECK(r.error().context == "/nonexistent/ssi/prog");
    }
    SECTION("not executable") {
        char tmpl[] = "/tmp/ssi-launch-noexec.XXXXXX";
        int fd = ::mkstemp(tmpl);
        REQUIRE(fd >= 0);
        ::close(fd);
        REQUIRE(::chmod(tmpl, 0644) == 0);
        LaunchSpec spec = shell_spec("");
        spec.program = tmpl;
        auto r = RemoteProcess::launch(spec);
        ::unlink(tmpl);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().err == EACCES);
        CHECK(exec_failure_shell_status(r.error()) == 126);
        CHECK(r.error().context == tmpl);
    }
    SECTION("a step before exec fails: not an exec failure") {
        LaunchSpec spec = shell_spec("true");
        spec.cwd = "/nonexistent/ssi/dir";
        auto r = RemoteProcess::launch(spec);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().call == "chdir");
        CHECK_FALSE(exec_failure_shell_status(r.error()).has_value());
    }
    SECTION("PIDs that cannot be worn are refused") {
        LaunchSpec spec = shell_spec("true");
        spec.pid = 1;
        CHECK(RemoteProcess::launch(spec).error().err == EINVAL);
        spec.pid = spec.ppid = 4700;
        CHECK(RemoteProcess::launch(spec).error().err == EINVAL);
    }
}

TEST_CASE("remote launch: nothing is left behind", "[launch][root]") {
    if (!have_root()) return;
    SECTION("destroying a running RemoteProcess kills the reaper, the stub and the program") {
        pid_t reaper = 0, stub = 0, program = 0;
        {
            auto process = RemoteProcess::launch(shell_spec("sleep 100 & exec sleep 100"));
            if (!process) FAIL(process.error().message());
            reaper = process->reaper_pid();
            program = process->program_pid();
            REQUIRE(program > 0);
            stub = parent_of(program);
            CHECK(parent_of(stub) == reaper);
        }
        CHECK_FALSE(process_exists(reaper));
        CHECK_FALSE(process_exists(stub));
        CHECK_FALSE(process_exists(program));
    }
    SECTION("the launcher dying kills the program") {
        auto pids = pids_left_by_a_dead_launcher([] {
            auto process = RemoteProcess::launch(shell_spec("exec sleep 100"));
            return Pids{process ? process->reaper_pid() : 0, process ? process->program_pid() : 0};
        });
        REQUIRE(pids[1] > 0);
        // The reaper was the launcher's child and is now reparented: poll until gone.
        for (int i = 0; i < 200 && (process_exists(pids[0]) || process_exists(pids[1])); ++i) ::usleep(10'000);
        CHECK_FALSE(process_exists(pids[1]));
    }
}

TEST_CASE("remote launch: a reaper forked ahead", "[launch][root]") {
    if (!have_root()) return;
    SECTION("runs the spec it is sent later, stdio included") {
        auto ready = RemoteProcess::prepare();
        REQUIRE(ready.ok());
        pid_t reaper = ready->pid();
        CHECK(process_exists(reaper));
        LaunchSpec spec = shell_spec("cat; echo $$ $PPID; echo to-stderr >&2; exit 4");
        spec.env.push_back("SSI_TEST=" + std::string(100000, 'x'));  // the spec in several messages
        auto r = run(spec, "through the pipe\n", std::move(*ready));
        CHECK(r.out == "through the pipe\n4711 4700\n");
        CHECK(r.err == "to-stderr\n");
        CHECK(r.exit.code == 4);
        CHECK_FALSE(process_exists(reaper));
    }
    SECTION("sees what its launcher mounted after the fork") {
        // As the supervisor does: its own mount namespace, the reaper, then the home mount.
        auto out = make_pipe();
        REQUIRE(out.ok());
        auto launcher = fork_process();
        REQUIRE(launcher.ok());
        if (*launcher == 0) {
            if (!unshare_namespaces(CLONE_NEWNS) || !make_mounts_private("/")) exit_child(100);
            auto ready = RemoteProcess::prepare();
            if (!ready) exit_child(101);
            char dir[] = "/tmp/ssi-launch-ahead.XXXXXX";
            if (!::mkdtemp(dir) || !mount_tmpfs(dir, "size=64k") ||
                !write_file_atomic(std::string(dir) + "/marker", "mounted\n", 0644))
                exit_child(102);
            LaunchSpec spec = shell_spec(std::string("cat ") + dir + "/marker");
            spec.stdout_fd = out->second.get();
            auto process = RemoteProcess::launch(spec, std::move(*ready));
            int code = process && process->wait() ? process->wait()->code : 103;
            (void)unmount(dir);
            ::rmdir(dir);
            exit_child(code);
        }
        out->second.reset();
        CHECK(read_to_end(out->first.get()) == "mounted\n");
        auto status = wait_process(*launcher);
        REQUIRE(status.ok());
        CHECK(status->shell_status() == 0);
    }
    SECTION("dropped unused, it is killed and reaped") {
        pid_t reaper = 0;
        {
            auto ready = RemoteProcess::prepare();
            REQUIRE(ready.ok());
            reaper = ready->pid();
            REQUIRE(process_exists(reaper));
        }
        CHECK_FALSE(process_exists(reaper));
    }
    SECTION("given its root, enters it before its spec comes") {
        SmallRoot small;
        const std::string ours = readlink_at(AT_FDCWD, "/proc/self/ns/mnt").value_or("");
        auto ready = RemoteProcess::prepare(ReaperRoot{small.dir, small.binds(), {}});
        REQUIRE(ready.ok());
        const std::string theirs = "/proc/" + std::to_string(ready->pid()) + "/ns/mnt";
        std::string seen = ours;
        for (int i = 0; i < 200 && (seen = readlink_at(AT_FDCWD, theirs).value_or(ours)) == ours; ++i) ::usleep(5'000);
        CHECK(seen != ours);  // a mount namespace of its own, with no spec yet
        LaunchSpec spec = shell_spec("test -e /ssi-root-marker && echo small || echo host; echo $$");
        spec.root = small.dir;
        spec.binds = small.binds();
        auto r = run(spec, {}, std::move(*ready));
        CHECK(r.out == "small\n4711\n");
    }
    SECTION("given its root with optional binds, makes them once its spec comes") {
        SmallRoot small;
        REQUIRE(make_dirs(small.dir + "/present", 0755).ok());
        REQUIRE(write_file_atomic(small.dir + "/bound-file", "home's\n", 0644).ok());
        SmallRoot elsewhere;  // a file of this node's, made anew after the root is entered
        REQUIRE(write_file_atomic(elsewhere.dir + "/socket", "before\n", 0644).ok());
        const decltype(LaunchSpec::optional_binds) optional{
            {small.dir, "/present"}, {small.dir, "/absent"}, {elsewhere.dir + "/socket", "/bound-file"}};
        auto ready = RemoteProcess::prepare(ReaperRoot{small.dir, small.binds(), optional});
        REQUIRE(ready.ok());
        LaunchSpec spec = shell_spec(
            "test -e /present/ssi-root-marker && echo bound; test -e /absent || echo absent; cat /bound-file");
        spec.root = small.dir;
        spec.binds = small.binds();
        spec.optional_binds = optional;
        // Before its spec: the root built — its own PID namespace's procfs there — but not
        // switched into (its root is still ours), and the optional binds not made yet.
        const std::string ours = "/proc/" + std::to_string(ready->pid()) + "/root";
        const std::string built = ours + small.dir;
        for (int i = 0; i < 200 && ::access((built + "/proc/1/stat").c_str(), F_OK) != 0; ++i) ::usleep(5'000);
        CHECK(::access((built + "/proc/1/stat").c_str(), F_OK) == 0);
        CHECK(::access((built + "/proc/2").c_str(), F_OK) != 0);
        CHECK(::access((ours + "/ssi-root-marker").c_str(), F_OK) != 0);
        CHECK(::access((built + "/present/ssi-root-marker").c_str(), F_OK) != 0);
        REQUIRE(write_file_atomic(elsewhere.dir + "/socket", "after\n", 0644).ok());  // a new file
        auto r = run(spec, {}, std::move(*ready));
        CHECK(r.out == "bound\nabsent\nafter\n");
        CHECK(r.exit.shell_status() == 0);
    }
    SECTION("given another root than its spec's, the launch forks another") {
        SmallRoot small;
        auto ready = RemoteProcess::prepare(ReaperRoot{small.dir, small.binds(), {}});
        REQUIRE(ready.ok());
        pid_t reaper = ready->pid();
        auto r = run(shell_spec("test -e /ssi-root-marker && echo small || echo host"), {}, std::move(*ready));
        CHECK(r.out == "host\n");
        CHECK_FALSE(process_exists(reaper));
    }
    SECTION("killed while it waited, the launch forks another") {
        auto ready = RemoteProcess::prepare();
        REQUIRE(ready.ok());
        pid_t reaper = ready->pid();
        REQUIRE(::kill(reaper, SIGKILL) == 0);
        for (int i = 0; i < 200 && !is_zombie(reaper); ++i) ::usleep(5'000);
        auto r = run(shell_spec("echo $$"), {}, std::move(*ready));
        CHECK(r.out == "4711\n");
        CHECK_FALSE(process_exists(reaper));
    }
    SECTION("its launcher dying kills it") {
        pid_t pid = pids_left_by_a_dead_launcher([] {
            auto ready = RemoteProcess::prepare();
            return Pids{ready ? ready->pid() : 0, 0};
        })[0];
        REQUIRE(pid > 0);
        for (int i = 0; i < 200 && process_exists(pid); ++i) ::usleep(10'000);
        CHECK_FALSE(process_exists(pid));
    }
}
