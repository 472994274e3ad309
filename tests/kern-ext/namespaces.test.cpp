// kern-ext/namespaces and kern-ext/process: the calls ssi-cluster builds nodes with.
// Namespace tests need root (CAP_SYS_ADMIN); without it they say so and pass vacuously.
// Each namespace change happens in a forked child, which reports through its exit code,
// so the test process itself never leaves the host's namespaces.
#include "kern-ext/namespaces.h"
#include "kern-ext/process.h"

#include <catch2/catch.hpp>

#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <functional>

using namespace ssi;

namespace {

bool have_root() {
    if (::geteuid() == 0) return true;
    WARN("not root: namespace tests skipped");
    return false;
}

// Runs `body` in a forked child; its return value is the child's exit code.
int in_child(const std::function<int()>& body) {
    auto pid = fork_process();
    REQUIRE(pid.ok());
    if (*pid == 0) exit_child(body());
    auto status = wait_process(*pid);
    REQUIRE(status.ok());
    return status->shell_status();
}

}  // namespace

TEST_CASE("namespaces: unshare gives a child its own hostname and mounts", "[namespaces][root]") {
    if (!have_root()) return;
    std::string host_name = *get_hostname();
    char dir_template[] = "/var/tmp/ssi-ns-test.XXXXXX";
    REQUIRE(::mkdtemp(dir_template) != nullptr);
    std::string dir = dir_template;
    struct stat before {};
    REQUIRE(::stat(dir.c_str(), &before) == 0);

    int rc = in_child([&] {
        if (!unshare_namespaces(CLONE_NEWNS | CLONE_NEWUTS)) return 10;
        if (!make_mounts_private("/")) return 11;
        if (!set_hostname("ssi-test-node")) return 12;
        if (*get_hostname() != "ssi-test-node") return 13;
        if (!mount_tmpfs(dir, "mode=0700")) return 14;
        struct stat inside {};
        if (::stat(dir.c_str(), &inside) != 0 || inside.st_dev == before.st_dev) return 15;
        if (!unmount(dir)) return 16;
        return 0;
    });
    CHECK(rc == 0);
    // Nothing leaked to the host: same hostname, the directory is not a mount point.
    CHECK(*get_hostname() == host_name);
    struct stat after {};
    REQUIRE(::stat(dir.c_str(), &after) == 0);
    CHECK(after.st_dev == before.st_dev);
    ::rmdir(dir.c_str());
}

TEST_CASE("namespaces: the first child after unshare(CLONE_NEWPID) is pid 1", "[namespaces][root]") {
    if (!have_root()) return;
    int rc = in_child([] {
        if (!unshare_namespaces(CLONE_NEWPID | CLONE_NEWNS)) return 10;
        auto pid = fork_process();
        if (!pid) return 11;
        if (*pid == 0) {
            if (::getpid() != 1) exit_child(20);
            // A procfs mounted now shows the new namespace: /proc/self is pid 1.
            if (!make_mounts_private("/") || !mount_proc("/proc")) exit_child(21);
            char link[32] = {};
            if (::readlink("/proc/self", link, sizeof(link) - 1) <= 0 || std::string(link) != "1") exit_child(22);
            exit_child(0);
        }
        auto status = wait_process(*pid);
        return status ? status->shell_status() : 12;
    });
    CHECK(rc == 0);
}

TEST_CASE("namespaces: enter_namespaces joins another process's namespaces", "[namespaces][root]") {
    if (!have_root()) return;
    // A holder process in new UTS and mount namespaces waits on a pipe.
    auto pipe = make_pipe();
    REQUIRE(pipe.ok());
    auto ready = make_pipe();
    REQUIRE(ready.ok());
    auto holder = fork_process();
    REQUIRE(holder.ok());
    if (*holder == 0) {
        pipe->second.reset();
        if (!unshare_namespaces(CLONE_NEWNS | CLONE_NEWUTS) || !set_hostname("ssi-holder")) exit_child(1);
        char c = 'r';
        (void)::write(ready->second.get(), &c, 1);
        (void)::read(pipe->first.get(), &c, 1);  // until the test closes its end
        exit_child(0);
    }
    pipe->first.reset();
    ready->second.reset();
    char c = 0;
    REQUIRE(::read(ready->first.get(), &c, 1) == 1);

    auto holder_uts = namespace_id(*holder, "uts");
    REQUIRE(holder_uts.ok());
    CHECK(*holder_uts != *namespace_id(::getpid(), "uts"));

    int rc = in_child([&] {
        auto fd = Pidfd::open(*holder);
        if (!fd) return 10;
        if (!enter_namespaces(*fd, CLONE_NEWNS | CLONE_NEWUTS)) return 11;
        if (*get_hostname() != "ssi-holder") return 12;
        if (*namespace_id(::getpid(), "uts") != *holder_uts) return 13;
        return 0;
    });
    CHECK(rc == 0);
    pipe->second.reset();
    auto status = wait_process(*holder);
    REQUIRE(status.ok());
    CHECK(status->shell_status() == 0);
}

TEST_CASE("namespaces: errors name the call and the errno", "[namespaces]") {
    auto r = mount_tmpfs("/nonexistent/ssi/dir", "");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().call == "mount(tmpfs)");
    CHECK(r.error().err != 0);
    CHECK(r.error().message().find("/nonexistent/ssi/dir") != std::string::npos);
    auto id = namespace_id(999'999'999, "pid");
    REQUIRE_FALSE(id.ok());
    CHECK(id.error().err == ENOENT);
}

TEST_CASE("process: exit statuses read as a shell reports them", "[process]") {
    CHECK(in_child([] { return 3; }) == 3);
    CHECK(in_child([] {
              ::raise(SIGKILL);
              return 0;
          }) == 128 + SIGKILL);
    CHECK(in_child([] { return exec_failure_status(exec_path({"/nonexistent/ssi-no-such-command"}).err); }) == 127);
    CHECK(in_child([] { return exec_failure_status(exec_path({"/etc/passwd"}).err); }) == 126);
    CHECK(in_child([] {
              (void)exec_path({"sh", "-c", "exit 7"});
              return 99;
          }) == 7);
}

