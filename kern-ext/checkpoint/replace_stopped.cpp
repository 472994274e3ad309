// CheckpointOptions::replace: the saved, still-stopped process execs another program
// instead of going on, keeping its PID, parent, open files and cwd. Left behind by a
// migration, it becomes the deputy that stands for the process at its old home.
// Every fd is made to survive the exec (FD_CLOEXEC cleared; the image has the real
// flags), argv and envp go to an injected scratch mapping, and execve is injected at the
// borrowed rip. PTRACE_O_TRACEEXEC shows a success as an exec event stop; a failed
// execve comes back to the gadget's int3 with -errno, and then the close-on-exec flags,
// the scratch mapping, the code bytes and the registers are put back.
#include "kern-ext/checkpoint/borrowed_rip.h"
#include "kern-ext/checkpoint/steps.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <cstring>

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

}  // namespace

Result<void> check_replace_options(const CheckpointOptions& options) {
    if (options.after != CheckpointOptions::replace) return ok();
    if (options.replace_argv.empty() || options.replace_argv[0].empty() || options.replace_argv[0][0] != '/')
        return make_error("checkpoint", "replace needs argv with the program's absolute path first", EINVAL);
    return ok();
}

Result<void> replace_stopped(SeizedTask& task, const ProcessImage& image, const CheckpointOptions& options) {
    TRY(check_replace_options(options));
    const pid_t pid = task.pid();
    TRY(ptrace_set_options(pid, PTRACE_O_TRACEEXEC));
    const Registers regs = TRY(ptrace_get_regs(pid));  // live ones: the image's are prepared for a restart
    BorrowedRip borrowed = TRY(BorrowedRip::create(pid, regs));
    RemoteSyscaller sys = borrowed.syscaller();

    const uint64_t size = (exec_block(0, options.replace_argv, options.replace_env).size() + kPage - 1) & ~(kPage - 1);
    const uint64_t base = TRY(sys.call("mmap", SYS_mmap, 0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                                       uint64_t(-1), 0));
    std::vector<int> inheritable;  // fds whose FD_CLOEXEC we cleared
    Result<void> replaced = [&]() -> Result<void> {
        TRY(write_remote(pid, RemotePtr{base}, exec_block(base, options.replace_argv, options.replace_env)));
        for (const OpenFile& f : image.files) {
            if (!f.cloexec) continue;
            TRY(sys.call("fcntl(F_SETFD, 0)", SYS_fcntl, uint64_t(f.fd), F_SETFD, 0));
            inheritable.push_back(f.fd);
        }
        return inject_execve(task, sys, base, options);
    }();
    if (replaced) {
        borrowed.forget();  // the old memory is gone; the guard in checkpoint() detaches
        return ok();
    }
    if (task.pid() == 0) {  // died in the exec
        borrowed.forget();
        return replaced;
    }
    // Not replaced: everything as it was, then it goes on.
    for (int fd : inheritable) (void)sys.call("fcntl(F_SETFD, FD_CLOEXEC)", SYS_fcntl, uint64_t(fd), F_SETFD, FD_CLOEXEC);
    (void)sys.call("munmap", SYS_munmap, base, size);
    (void)borrowed.give_back();
    (void)ptrace_set_options(pid, 0);
    return replaced;
}

}  // namespace ssi::ckpt
