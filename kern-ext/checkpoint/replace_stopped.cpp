// CheckpointOptions::replace: the saved, still-stopped process execs another program
// instead of going on, keeping its PID, parent, open files and cwd. Left behind by a
// migration, it becomes the deputy that stands for the process at its old home.
// Every fd is made to survive the exec (FD_CLOEXEC cleared; the image has the real
// flags), argv and envp go to an injected scratch mapping, and execve is injected at the
// borrowed rip. PTRACE_O_TRACEEXEC shows a success as an exec event stop; a failed
// execve comes back to the gadget's int3 with -errno, and then the close-on-exec flags,
// the scratch mapping, the code bytes, the signal mask and the registers are put back.
//
// Signals: every one is blocked before the exec, so that none sent from the dump on is
// delivered to the old program (which is gone) or kills the new one before it can take
// them (a default action): they wait pending, and exec keeps them. Those pending at the
// dump are in the image, delivered where it resumes: one instance of each is taken off
// the new program's queues, so it starts with exactly the ones that came later.
#include "kern-ext/checkpoint/borrowed_rip.h"
#include "kern-ext/checkpoint/memory_holder.h"
#include "kern-ext/checkpoint/steps.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <cstring>
#include <optional>

namespace ssi::ckpt {

namespace {

constexpr uint64_t kPage = 4096;

// argv and envp as execve reads them, to be written at `base`: the two NULL-terminated
// pointer arrays, then the strings (argv[0], the program's path, first).
std::string exec_block(uint64_t base, const std::vector<std::string>& argv, const std::vector<std::string>& env) {
    const size_t arrays = (argv.size() + 1 + env.size() + 1) * 8;
    std::string pointers, strings;
    auto add = [&](const std::string& s) {
        uint64_t at = base + arrays + strings.size();
        pointers.append(reinterpret_cast<const char*>(&at), 8);
        strings.append(s.c_str(), s.size() + 1);
    };
    for (const std::string& a : argv) add(a);
    pointers.append(8, '\0');
    for (const std::string& e : env) add(e);
    pointers.append(8, '\0');
    return pointers + strings;
}

// Runs the prepared execve: ok once the exec event stop shows the new program loaded.
Result<void> inject_execve(SeizedTask& task, RemoteSyscaller& sys, uint64_t base, const CheckpointOptions& options) {
    const pid_t pid = task.pid();
    const uint64_t path = base + (options.replace_argv.size() + 1 + options.replace_env.size() + 1) * 8;
    const uint64_t envp = base + (options.replace_argv.size() + 1) * 8;
    TRY(ptrace_set_regs(pid, sys.prepare(SYS_execve, path, base, envp, 0, 0, 0)));
    TRY(ptrace_cont(pid));
    TraceeStop stop = TRY(wait_tracee(pid));
    if (stop.kind == TraceeStop::event_stop && stop.event == PTRACE_EVENT_EXEC) return ok();
    if (stop.kind == TraceeStop::exited || stop.kind == TraceeStop::killed) {
        task.release();
        return make_error("execve", options.replace_argv[0] + ": pid " + std::to_string(pid) + " " + stop.describe(), ESRCH);
    }
    Registers after = TRY(ptrace_get_regs(pid));
    if (stop.kind != TraceeStop::signal_stop || stop.signal != SIGTRAP || after.rip != sys.gadget().addr + 3)
        return make_error("execve", options.replace_argv[0] + ": pid " + std::to_string(pid) + " " + stop.describe());
    return Error{"execve", int(-int64_t(after.rax)), options.replace_argv[0] + ", injected into pid " + std::to_string(pid)};
}

// At the exec event stop, in the new program: takes one instance of each signal the
// image holds off its queues (rt_sigtimedwait with a zero timeout, at the borrowed entry
// point). A standard signal sent again since the dump was merged with its pending
// instance, as the kernel merges them: the image delivers it.
Result<void> drop_image_pending(pid_t pid, const ProcessImage& image) {
    if (image.pending.empty()) return ok();
    // The exec event stop is inside execve, whose return value would then overwrite an
    // injected call's number: on to its syscall-exit stop first, where registers are final.
    TRY(ptrace_set_options(pid, PTRACE_O_TRACEEXEC | PTRACE_O_TRACESYSGOOD));
    TRY(ptrace_syscall(pid));
    if (TraceeStop stop = TRY(wait_tracee(pid)); stop.kind != TraceeStop::syscall_stop)
        return make_error("execve", "pid " + std::to_string(pid) + " after its exec: " + stop.describe());
    BorrowedRip borrowed = TRY(BorrowedRip::create(pid, TRY(ptrace_get_regs(pid))));
    RemoteSyscaller sys = borrowed.syscaller();
    const uint64_t page =
        TRY(sys.call("mmap", SYS_mmap, 0, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, uint64_t(-1), 0));
    Result<void> dropped = [&]() -> Result<void> {
        const struct timespec zero {};
        TRY(write_remote(pid, RemotePtr{page + 8}, {reinterpret_cast<const char*>(&zero), sizeof zero}));
        for (const PendingSignal& p : image.pending) {
            int sig = 0;
            std::memcpy(&sig, p.info.data(), sizeof sig);  // si_signo comes first
            if (sig < 1 || sig > 64) continue;
            const uint64_t set = 1ull << (sig - 1);
            TRY(write_remote(pid, RemotePtr{page}, {reinterpret_cast<const char*>(&set), sizeof set}));
            (void)sys.call("rt_sigtimedwait", SYS_rt_sigtimedwait, page, 0, page + 8, 8);  // EAGAIN: not there
        }
        return ok();
    }();
    (void)sys.call("munmap", SYS_munmap, page, kPage);
    TRY(borrowed.give_back());
    TRY(ptrace_set_sigmask(pid, ~uint64_t(0)));  // each injected call's int3 unblocked SIGTRAP
    return dropped;
}

}  // namespace

Result<void> check_replace_options(const CheckpointOptions& options) {
    if (options.hold_memory && (options.after != CheckpointOptions::replace || !options.stream_memory))
        return make_error("checkpoint", "holding the memory goes with replace and streamed memory", EINVAL);
    if (options.after != CheckpointOptions::replace) return ok();
    if (options.replace_argv.empty() || options.replace_argv[0].empty() || options.replace_argv[0][0] != '/')
        return make_error("checkpoint", "replace needs argv with the program's absolute path first", EINVAL);
    return ok();
}

Result<pid_t> replace_stopped(SeizedTask& task, const ProcessImage& image, const CheckpointOptions& options) {
    TRY(check_replace_options(options));
    const pid_t pid = task.pid();
    TRY(ptrace_set_options(pid, PTRACE_O_TRACEEXEC));
    const Registers regs = TRY(ptrace_get_regs(pid));  // live ones: the image's are prepared for a restart
    const uint64_t mask = TRY(ptrace_get_sigmask(pid));
    TRY(ptrace_set_sigmask(pid, ~uint64_t(0)));  // the kernel leaves SIGKILL and SIGSTOP out
    BorrowedRip borrowed = TRY(BorrowedRip::create(pid, regs));
    RemoteSyscaller sys = borrowed.syscaller();

    const uint64_t size = (exec_block(0, options.replace_argv, options.replace_env).size() + kPage - 1) & ~(kPage - 1);
    const uint64_t base = TRY(sys.call("mmap", SYS_mmap, 0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                                       uint64_t(-1), 0));
    std::vector<int> inheritable;  // fds whose FD_CLOEXEC we cleared
    std::optional<MemoryHolder> holder;  // killed if the exec does not happen
    Result<void> replaced = [&]() -> Result<void> {
        TRY(write_remote(pid, RemotePtr{base}, exec_block(base, options.replace_argv, options.replace_env)));
        for (const OpenFile& f : image.files) {
            if (!f.cloexec) continue;
            TRY(sys.call("fcntl(F_SETFD, 0)", SYS_fcntl, uint64_t(f.fd), F_SETFD, 0));
            inheritable.push_back(f.fd);
        }
        if (options.hold_memory) holder.emplace(TRY(MemoryHolder::create(task, sys, PTRACE_O_TRACEEXEC)));
        return inject_execve(task, sys, base, options);
    }();
    if (replaced) {
        // The process's new memory is its own; the old one is gone, or the holder's: there
        // the borrowed code bytes go back, so that it reads as the image says.
        borrowed.forget();  // the guard in checkpoint() detaches
        pid_t held = 0;
        if (holder) {
            TRY(holder->park(regs.rip, borrowed.original()));
            held = holder->release();
        }
        // The exec cannot be undone, and the image must not be lost over this: should it
        // fail, the new program sees the image's pending signals too.
        (void)drop_image_pending(pid, image);
        return held;
    }
    if (task.pid() == 0) {  // died in the exec
        borrowed.forget();
        return replaced.error();
    }
    // Not replaced: everything as it was, then it goes on.
    if (holder) holder->discard(sys);
    for (int fd : inheritable) (void)sys.call("fcntl(F_SETFD, FD_CLOEXEC)", SYS_fcntl, uint64_t(fd), F_SETFD, FD_CLOEXEC);
    (void)sys.call("munmap", SYS_munmap, base, size);
    (void)borrowed.give_back();
    (void)ptrace_set_sigmask(pid, mask);
    (void)ptrace_set_options(pid, 0);
    return replaced.error();
}

}  // namespace ssi::ckpt
