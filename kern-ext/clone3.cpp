#include "kern-ext/clone3.h"

#include "kern-ext/files.h"
#include "kern-ext/namespaces.h"
#include "kern-ext/process.h"

#include <fcntl.h>
#include <sched.h>
#include <linux/sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>

#define SSI_STRINGIFY_(x) #x
#define SSI_STRINGIFY(x) SSI_STRINGIFY_(x)

// ssi_clone3_on_stack (clone3.h): a child starting on a stack of its own is what the
// system call's C wrapper cannot survive (it would return through the new stack).
#if defined(__x86_64__)
asm(R"(
    .text
    .globl ssi_clone3_on_stack
    .hidden ssi_clone3_on_stack
    .type ssi_clone3_on_stack, @function
ssi_clone3_on_stack:
    .cfi_startproc
    movq %rdx, %r8          # fn and arg where the system call leaves them alone
    movq %rcx, %r9
    movl $)" SSI_STRINGIFY(__NR_clone3) R"(, %eax
    syscall
    testq %rax, %rax
    jz 1f
    ret
1:  .cfi_undefined rip      # the child: nothing to unwind into
    xorl %ebp, %ebp
    movq %r9, %rdi
    callq *%r8
    movl $)" SSI_STRINGIFY(__NR_exit) R"(, %eax
    movl $127, %edi
    syscall
    hlt
    .cfi_endproc
    .size ssi_clone3_on_stack, .-ssi_clone3_on_stack
)");
#endif

namespace ssi {
namespace {

struct CloneCall {
    struct clone_args args {};
    int pidfd = -1;
    pid_t tid = 0;
};

void fill_clone_args(CloneCall& call, const CloneOptions& options) {
    call.tid = options.set_tid;
    call.args.flags = options.flags | (options.want_pidfd ? CLONE_PIDFD : 0);
    call.args.pidfd = options.want_pidfd ? uint64_t(uintptr_t(&call.pidfd)) : 0;
    call.args.exit_signal = uint64_t(options.exit_signal);
    if (call.tid != 0) {
        call.args.set_tid = uint64_t(uintptr_t(&call.tid));
        call.args.set_tid_size = 1;
    }
}

Result<Cloned> clone_result(long rc, const CloneCall& call, const CloneOptions& options) {
    if (rc < 0) return sys_error("clone3", call.tid != 0 ? "set_tid " + std::to_string(call.tid) : std::string{});
    Cloned out;
    out.pid = pid_t(rc);
    if (rc > 0 && options.want_pidfd) out.pidfd.reset(call.pidfd);
    return out;
}

}  // namespace

Result<Cloned> clone_process(const CloneOptions& options) {
    CloneCall call;
    fill_clone_args(call, options);
    long rc = ::syscall(SYS_clone3, &call.args, sizeof(call.args));
    return clone_result(rc, call, options);
}

Result<Cloned> spawn_in_shared_memory(const CloneOptions& options, void (*child)(void*), void* arg,
                                      std::span<std::byte> stack) {
#if defined(__x86_64__)
    CloneCall call;
    fill_clone_args(call, options);
    call.args.flags |= CLONE_VM | CLONE_VFORK;
    // The ABI's alignment for a call, from the top down.
    auto top = reinterpret_cast<uintptr_t>(stack.data() + stack.size()) & ~uintptr_t(15);
    call.args.stack = uint64_t(reinterpret_cast<uintptr_t>(stack.data()));
    call.args.stack_size = uint64_t(top - reinterpret_cast<uintptr_t>(stack.data()));
    long rc = ssi_clone3_on_stack(&call.args, sizeof(call.args), child, arg);
    if (rc < 0) errno = int(-rc);
    return clone_result(rc, call, options);
#else
    (void)stack;
    Cloned cloned = TRY(clone_process(options));
    if (cloned.pid == 0) {
        child(arg);
        exit_child(127);
    }
    return cloned;
#endif
}

namespace {

Result<void> set_namespace(int fd, int type, const std::string& what) {
    if (::setns(fd, type) < 0) return sys_error("setns", what);
    return ok();
}

}  // namespace

Result<pid_t> fork_in_new_pid_namespace() {
    const std::string own_path = "/proc/thread-self/ns/pid";
    UniqueFd own = TRY(open_file(own_path, O_RDONLY | O_CLOEXEC));
    TRY(unshare_namespaces(CLONE_NEWPID));
    auto child = fork_process();
    if (child && *child == 0) return pid_t(0);
    // Back to forking into our own namespace, whether or not the fork worked.
    auto restored = set_namespace(own.get(), CLONE_NEWPID, own_path);
    if (!child) return child.error();
    if (!restored) {
        ::kill(*child, SIGKILL);
        (void)wait_process(*child);
        return restored.error();
    }
    return *child;
}

}  // namespace ssi
