// kern-ext/run_holding_only: a job run by a child that shares our memory and holds none of
// our descriptors but those given. (What that buys a FUSE daemon killed during its own
// request is tested with a real mount: tests/ssi-remote/home_fs.test.cpp.)
#include "kern-ext/run_holding_only.h"

#include "tests/support/temp_dir.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <string>

using namespace ssi;

namespace {

struct Seen {
    int kept_fd, other_fd;
    bool kept_open = false, other_open = true, all_blocked = false, ran = false;
    pid_t tid = 0;
};

void look(void* p) {
    Seen& s = *static_cast<Seen*>(p);
    s.kept_open = ::fcntl(s.kept_fd, F_GETFD) >= 0;
    s.other_open = ::fcntl(s.other_fd, F_GETFD) >= 0;
    sigset_t mask;
    ::syscall(SYS_rt_sigprocmask, SIG_SETMASK, nullptr, &mask, sizeof(uint64_t));
    s.all_blocked = sigismember(&mask, SIGTERM) == 1 && sigismember(&mask, SIGCHLD) == 1 && sigismember(&mask, SIGUSR1) == 1;
    s.tid = pid_t(::syscall(SYS_gettid));
    s.ran = true;
}

}  // namespace

TEST_CASE("run_holding_only: the job runs in a child holding only what it is given, we waiting", "[run_holding_only]") {
    int kept[2], other[2];
    REQUIRE(::pipe(kept) == 0);
    REQUIRE(::pipe(other) == 0);
    Seen seen{kept[0], other[0]};
    const int keep[] = {kept[0]};
    REQUIRE(run_holding_only(keep, look, &seen).ok());
    CHECK(seen.ran);  // done when we are back: the memory is ours, shared
    CHECK(seen.kept_open);
    CHECK_FALSE(seen.other_open);
    CHECK(seen.all_blocked);
    CHECK(seen.tid != ::gettid());
    CHECK(::fcntl(other[0], F_GETFD) >= 0);  // ours untouched
    for (int fd : {kept[0], kept[1], other[0], other[1]}) ::close(fd);
}

TEST_CASE("run_holding_only: paths resolve inside the root given, stats come back", "[run_holding_only]") {
    test::TempDir dir{"holding-only"};
    REQUIRE(::mkdir((dir.path() + "/etc").c_str(), 0755) == 0);
    REQUIRE(::symlink("/etc", (dir.path() + "/up").c_str()) == 0);  // "/" is the root given
    int root = ::open(dir.path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    REQUIRE(root >= 0);
    auto st = stat_in_root_apart(root, "up");
    REQUIRE(st.ok());
    struct stat inside {};
    REQUIRE(::stat((dir.path() + "/etc").c_str(), &inside) == 0);
    CHECK(st->at.st_ino == inside.st_ino);
    CHECK(st->root.st_dev == inside.st_dev);
    auto missing = stat_in_root_apart(root, "absent");
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().err == ENOENT);

    std::atomic<bool> stop{false};
    const std::string paths[] = {"etc", "up", "absent"};
    CHECK(look_up_apart(root, paths, stop).ok());
    std::atomic<pid_t> tid{0};
    CHECK(stat_fs_apart(root, tid).ok());
    CHECK(tid.load() > 0);
    CHECK(tid.load() != ::gettid());
    ::close(root);
}
