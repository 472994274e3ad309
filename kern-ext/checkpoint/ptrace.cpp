#include "kern-ext/checkpoint/ptrace.h"

#include <elf.h>  // NT_X86_XSTATE
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <cstring>

namespace ssi {

namespace {

std::string of(pid_t pid) { return "pid " + std::to_string(pid); }

Result<void> request(const char* name, enum __ptrace_request req, pid_t pid, void* addr, void* data) {
    if (::ptrace(req, pid, addr, data) < 0) return sys_error(name, of(pid));
    return ok();
}

void* as_data(unsigned long v) { return reinterpret_cast<void*>(v); }

}  // namespace

Result<void> ptrace_seize(pid_t pid, unsigned long options) {
    return request("ptrace(PTRACE_SEIZE)", PTRACE_SEIZE, pid, nullptr, as_data(options));
}
Result<void> ptrace_interrupt(pid_t pid) {
    return request("ptrace(PTRACE_INTERRUPT)", PTRACE_INTERRUPT, pid, nullptr, nullptr);
}
Result<void> ptrace_traceme() {
    if (::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) < 0) return sys_error("ptrace(PTRACE_TRACEME)");
    return ok();
}
Result<void> ptrace_set_options(pid_t pid, unsigned long options) {
    return request("ptrace(PTRACE_SETOPTIONS)", PTRACE_SETOPTIONS, pid, nullptr, as_data(options));
}
Result<void> ptrace_detach(pid_t pid, int signal) {
    return request("ptrace(PTRACE_DETACH)", PTRACE_DETACH, pid, nullptr, as_data(unsigned(signal)));
}
Result<void> ptrace_cont(pid_t pid, int signal) {
    return request("ptrace(PTRACE_CONT)", PTRACE_CONT, pid, nullptr, as_data(unsigned(signal)));
}
Result<void> ptrace_syscall(pid_t pid, int signal) {
    return request("ptrace(PTRACE_SYSCALL)", PTRACE_SYSCALL, pid, nullptr, as_data(unsigned(signal)));
}

Result<Registers> ptrace_get_regs(pid_t pid) {
    Registers regs{};
    TRY(request("ptrace(PTRACE_GETREGS)", PTRACE_GETREGS, pid, nullptr, &regs));
    return regs;
}
Result<void> ptrace_set_regs(pid_t pid, const Registers& regs) {
    return request("ptrace(PTRACE_SETREGS)", PTRACE_SETREGS, pid, nullptr, const_cast<Registers*>(&regs));
}

Result<std::string> ptrace_get_xstate(pid_t pid) {
    std::string area(64 * 1024, '\0');  // larger than any XSAVE area; the kernel says how much it used
    iovec iov{area.data(), area.size()};
    TRY(request("ptrace(PTRACE_GETREGSET, NT_X86_XSTATE)", PTRACE_GETREGSET, pid, as_data(NT_X86_XSTATE), &iov));
    area.resize(iov.iov_len);
    return area;
}
Result<void> ptrace_set_xstate(pid_t pid, const std::string& xstate) {
    std::string copy = xstate;
    iovec iov{copy.data(), copy.size()};
    return request("ptrace(PTRACE_SETREGSET, NT_X86_XSTATE)", PTRACE_SETREGSET, pid, as_data(NT_X86_XSTATE), &iov);
}

Result<uint64_t> ptrace_get_sigmask(pid_t pid) {
    uint64_t mask = 0;
    TRY(request("ptrace(PTRACE_GETSIGMASK)", PTRACE_GETSIGMASK, pid, as_data(sizeof mask), &mask));
    return mask;
}
Result<void> ptrace_set_sigmask(pid_t pid, uint64_t mask) {
    return request("ptrace(PTRACE_SETSIGMASK)", PTRACE_SETSIGMASK, pid, as_data(sizeof mask), &mask);
}

Result<__ptrace_rseq_configuration> ptrace_get_rseq(pid_t pid) {
    __ptrace_rseq_configuration conf{};
    auto req = static_cast<enum __ptrace_request>(PTRACE_GET_RSEQ_CONFIGURATION);
    TRY(request("ptrace(PTRACE_GET_RSEQ_CONFIGURATION)", req, pid, as_data(sizeof conf), &conf));
    return conf;
}

Result<std::vector<siginfo_t>> ptrace_peek_siginfo(pid_t pid, bool shared) {
    std::vector<siginfo_t> out;
    for (;;) {
        __ptrace_peeksiginfo_args args{uint64_t(out.size()), shared ? uint32_t(PTRACE_PEEKSIGINFO_SHARED) : 0u, 16};
        siginfo_t batch[16];
        long n = ::ptrace(PTRACE_PEEKSIGINFO, pid, &args, batch);
        if (n < 0) return sys_error("ptrace(PTRACE_PEEKSIGINFO)", of(pid));
        if (n == 0) return out;
        out.insert(out.end(), batch, batch + n);
    }
}

Result<uint64_t> ptrace_peek_word(pid_t pid, uint64_t addr) {
    errno = 0;
    long word = ::ptrace(PTRACE_PEEKDATA, pid, as_data(addr), nullptr);
    if (word == -1 && errno != 0) return sys_error("ptrace(PTRACE_PEEKDATA)", of(pid));
    return uint64_t(word);
}
Result<uint64_t> ptrace_get_event_msg(pid_t pid) {
    unsigned long msg = 0;
    TRY(request("ptrace(PTRACE_GETEVENTMSG)", PTRACE_GETEVENTMSG, pid, nullptr, &msg));
    return uint64_t(msg);
}
Result<void> ptrace_poke_word(pid_t pid, uint64_t addr, uint64_t word) {
    return request("ptrace(PTRACE_POKEDATA)", PTRACE_POKEDATA, pid, as_data(addr), as_data(word));
}

std::string TraceeStop::describe() const {
    switch (kind) {
        case exited: return "exited with status " + std::to_string(code);
        case killed: return std::string("killed by signal ") + ::sigabbrev_np(signal);
        case signal_stop: return std::string("stopped by signal SIG") + (::sigabbrev_np(signal) ?: "?");
        case event_stop: return "ptrace event stop " + std::to_string(event);
        case syscall_stop: return "system call stop";
    }
    return "?";
}

Result<TraceeStop> wait_tracee(pid_t pid) {
    int status = 0;
    for (;;) {
        if (::waitpid(pid, &status, __WALL) >= 0) break;
        if (errno == EINTR) continue;
        return sys_error("waitpid", of(pid));
    }
    TraceeStop stop;
    if (WIFEXITED(status)) {
        stop.kind = TraceeStop::exited;
        stop.code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        stop.kind = TraceeStop::killed;
        stop.signal = WTERMSIG(status);
    } else if (WSTOPSIG(status) == (SIGTRAP | 0x80)) {
        stop.kind = TraceeStop::syscall_stop;
        stop.signal = SIGTRAP;
    } else if (status >> 16 != 0) {
        stop.kind = TraceeStop::event_stop;
        stop.signal = WSTOPSIG(status);
        stop.event = status >> 16;
    } else {
        stop.kind = TraceeStop::signal_stop;
        stop.signal = WSTOPSIG(status);
    }
    return stop;
}

Result<SeizedTask> SeizedTask::seize_and_stop(pid_t pid) {
    // No PTRACE_O_EXITKILL: if we die mid-checkpoint, the process must live on.
    TRY(ptrace_seize(pid, 0));
    SeizedTask task(pid);
    TRY(ptrace_interrupt(pid));
    for (;;) {
        TraceeStop stop = TRY(wait_tracee(pid));
        if (stop.kind == TraceeStop::exited || stop.kind == TraceeStop::killed) {
            task.release();
            return make_error("stop process", of(pid) + " " + stop.describe(), ESRCH);
        }
        if (stop.kind == TraceeStop::event_stop) return task;  // PTRACE_EVENT_STOP: ours, or a group stop
        // A signal arrived before our interrupt: deliver it as if untraced, keep waiting.
        TRY(ptrace_cont(pid, stop.kind == TraceeStop::signal_stop ? stop.signal : 0));
    }
}

SeizedTask::~SeizedTask() {
    if (pid_ != 0) (void)ptrace_detach(pid_);
}

}  // namespace ssi
