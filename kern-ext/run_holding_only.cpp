#include "kern-ext/run_holding_only.h"

#include "kern-ext/clone3.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <vector>

namespace ssi {
namespace {

constexpr size_t kStackBytes = 64 << 10;

struct Job {
    const int* keep;  // ascending
    size_t kept;
    void (*run)(void*);
    void* arg;
};

void child_entry(void* p) {
    const Job& job = *static_cast<const Job*>(p);
    sigset_t all;
    sigfillset(&all);
    ::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, nullptr, sizeof(uint64_t));
    unsigned from = 0;
    for (size_t i = 0; i < job.kept; ++i) {
        auto fd = unsigned(job.keep[i]);
        if (fd > from) ::syscall(SYS_close_range, from, fd - 1, 0);
        from = fd + 1;
    }
    ::syscall(SYS_close_range, from, ~0u, 0);
    job.run(job.arg);
}

}  // namespace

Result<void> run_holding_only(std::span<const int> keep, void (*job)(void*), void* arg) {
    std::vector<int> kept(keep.begin(), keep.end());
    std::sort(kept.begin(), kept.end());
    kept.erase(std::unique(kept.begin(), kept.end()), kept.end());
    std::vector<std::byte> stack(kStackBytes);
    Job j{kept.data(), kept.size(), job, arg};
    // No exit signal: only our waitpid(__WALL) sees its end, not a SIGCHLD handler's.
    Cloned child = TRY(spawn_in_shared_memory({.exit_signal = 0}, child_entry, &j, stack));
    for (;;) {  // it has exited already: a vfork child of ours, done with our memory
        if (::waitpid(child.pid, nullptr, __WALL) >= 0) return ok();
        if (errno != EINTR) return sys_error("waitpid(__WALL)", "pid " + std::to_string(child.pid));
    }
}

namespace {

struct LookUp {
    int dir;
    const char* const* paths;
    size_t count;
    const std::atomic<bool>* stop;
};

void look_up_each(void* p) {
    const LookUp& l = *static_cast<const LookUp*>(p);
    struct stat st {};
    for (size_t i = 0; i < l.count && !l.stop->load(std::memory_order_relaxed); ++i)
        (void)::fstatat(l.dir, l.paths[i], &st, AT_SYMLINK_NOFOLLOW);
}

struct StatFs {
    int fd;
    std::atomic<pid_t>* tid;
    int err;
};

void stat_fs_once(void* p) {
    StatFs& s = *static_cast<StatFs*>(p);
    s.tid->store(pid_t(::syscall(SYS_gettid)));
    struct statfs st {};
    s.err = ::syscall(SYS_fstatfs, s.fd, &st) < 0 ? errno : 0;
}

struct InRoot {
    int root;
    const char* path;
    InRootStat out;
    const char* failed;  // the call that failed, or null
    int err;
};

void stat_in_root(void* p) {
    InRoot& r = *static_cast<InRoot*>(p);
    if (::fstatat(r.root, "", &r.out.root, AT_EMPTY_PATH) < 0) {
        r.failed = "fstatat", r.err = errno;
        return;
    }
    struct open_how how {};
    how.flags = O_PATH | O_CLOEXEC;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    long fd;
    while ((fd = ::syscall(SYS_openat2, r.root, r.path, &how, sizeof how)) < 0 && (errno == EINTR || errno == EAGAIN)) {
    }
    if (fd < 0) {
        r.failed = "openat2(RESOLVE_IN_ROOT)", r.err = errno;
        return;
    }
    if (::fstatat(int(fd), "", &r.out.at, AT_EMPTY_PATH) < 0) r.failed = "fstatat", r.err = errno;
    ::syscall(SYS_close, fd);
}

}  // namespace

Result<InRootStat> stat_in_root_apart(int root, const std::string& path) {
    InRoot r{root, path.c_str(), {}, nullptr, 0};
    const int keep[] = {root};
    TRY(run_holding_only(keep, stat_in_root, &r));
    if (r.failed) return make_error(r.failed, path, r.err);
    return r.out;
}

Result<void> look_up_apart(int dir, std::span<const std::string> paths, const std::atomic<bool>& stop) {
    std::vector<const char*> names;  // made here: the child may not allocate
    names.reserve(paths.size());
    for (const auto& p : paths) names.push_back(p.c_str());
    LookUp l{dir, names.data(), names.size(), &stop};
    const int keep[] = {dir};
    return run_holding_only(keep, look_up_each, &l);
}

Result<void> stat_fs_apart(int fd, std::atomic<pid_t>& tid) {
    StatFs s{fd, &tid, 0};
    const int keep[] = {fd};
    TRY(run_holding_only(keep, stat_fs_once, &s));
    if (s.err != 0) return make_error("fstatfs", "fd " + std::to_string(fd), s.err);
    return ok();
}

}  // namespace ssi
