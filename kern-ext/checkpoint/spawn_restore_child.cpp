// The process that becomes the restored one: a fork of the caller that makes us its
// tracer, takes the open files it is given, maps the restore region with the gadget and
// stops itself. From then on the parent drives it by injected system calls. The child
// cannot return errors; it exits with a code naming the step that failed.
#include "kern-ext/checkpoint/steps.h"
#include "kern-ext/clone3.h"
#include "kern-ext/pidfd.h"
#include "kern-ext/process.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

namespace ssi::ckpt {

namespace {

constexpr int kTempFdBase = 1024;

enum ChildFailure { kTraceme = 101, kDupFd, kDup2, kMapRegion, kGadget };

const char* describe_failure(int code) {
    switch (code) {
        case kTraceme: return "PTRACE_TRACEME failed";
        case kDupFd: return "taking the given fds failed";
        case kDup2: return "placing the given fds failed";
        case kMapRegion: return "mapping the restore region failed (address taken?)";
        case kGadget: return "writing the gadget failed";
        default: return "unexpected exit";
    }
}

// Runs in the forked child: only async-signal-safe calls.
// `temps` is allocated by the parent: the child must not allocate.
[[noreturn]] void child_main(const RestoreRegion& region, const RestoreOptions& options, std::vector<int>& temps) {
    if (::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) < 0) ::_exit(kTraceme);
    // Move the given fds out of the way, close everything else, then put them in place.
    for (size_t i = 0; i < options.fds.size(); ++i)
        if ((temps[i] = ::fcntl(options.fds[i].second, F_DUPFD, kTempFdBase)) < 0) ::_exit(kDupFd);
    ::syscall(SYS_close_range, 0u, unsigned(kTempFdBase - 1), 0u);
    for (size_t i = 0; i < options.fds.size(); ++i)
        if (::dup2(temps[i], options.fds[i].first) < 0) ::_exit(kDup2);
    ::syscall(SYS_close_range, unsigned(kTempFdBase), ~0u, 0u);

    void* at = reinterpret_cast<void*>(region.start);
    if (::mmap(at, region.size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) != at)
        ::_exit(kMapRegion);
    if (::mprotect(at, 4096, PROT_READ | PROT_WRITE) < 0) ::_exit(kGadget);
    std::memcpy(at, kSyscallGadget.data(), kSyscallGadget.size());
    if (::mprotect(at, 4096, PROT_READ | PROT_EXEC) < 0) ::_exit(kGadget);
    if (::mprotect(reinterpret_cast<char*>(at) + 4096, 4096, PROT_READ | PROT_WRITE) < 0) ::_exit(kGadget);
    ::kill(::getpid(), SIGSTOP);
    ::_exit(kGadget + 1);  // only reached if the parent let go without rebuilding us
}

// The image's PID when it is free (clone3 with set_tid), else any. The clone3 child runs
// without glibc's fork handlers: child_main only makes raw system calls.
Result<pid_t> fork_child(pid_t wanted) {
    if (wanted > 0) {
        auto cloned = clone_process(CloneOptions{.set_tid = wanted});
        if (cloned) return cloned->pid;  // else (EEXIST: taken) a new PID
    }
    return fork_process();
}

}  // namespace

RestoreChild::~RestoreChild() {
    if (pid_ == 0) return;
    (void)send_signal(pid_, SIGKILL);
    (void)wait_process(pid_);
}

Result<RestoreChild> spawn_restore_child(const RestoreRegion& region, const RestoreOptions& options) {
    for (const auto& [target, source] : options.fds)
        if (target < 0 || target >= kTempFdBase)
            return make_error("restore", "fd " + std::to_string(target) + " out of range", EINVAL);
    std::vector<int> temps(options.fds.size());
    pid_t pid = TRY(fork_child(options.pid));
    if (pid == 0) child_main(region, options, temps);
    RestoreChild child(pid);
    TraceeStop stop = TRY(wait_tracee(pid));
    if (stop.kind == TraceeStop::exited) {
        child.commit();  // already reaped
        return make_error("restore child", std::string(describe_failure(stop.code)));
    }
    if (stop.kind != TraceeStop::signal_stop || stop.signal != SIGSTOP)
        return make_error("restore child", "pid " + std::to_string(pid) + " " + stop.describe());
    // If we die half-way, the half-built process dies with us.
    TRY(ptrace_set_options(pid, PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD));
    return child;
}

}  // namespace ssi::ckpt
