// Creating processes in ways fork() alone cannot express: clone3(2) with a chosen PID in
// the caller's PID namespace for children (set_tid) and a pidfd from the same call, and a
// fork into a fresh PID namespace.
//
// clone_process's child is created by a raw system call, so glibc's fork handlers do not run: call
// this only from a single-threaded process (another thread may hold the malloc lock),
// and in the child avoid pthread calls (glibc's cached thread id is the parent's).
#pragma once

#include "kern-ext/result.h"
#include "kern-ext/unique_fd.h"

#include <signal.h>
#include <sys/types.h>

#include <cstddef>
#include <span>

#if defined(__x86_64__)
struct clone_args;
// The raw clone3 under spawn_in_shared_memory, for callers that may not allocate or touch
// errno (a child in shared memory making another): the child runs fn(arg) on the stack
// `args` names and exits when it returns. The child's PID, or -errno.
extern "C" long ssi_clone3_on_stack(struct clone_args* args, size_t size, void (*fn)(void*), void* arg);
#endif

namespace ssi {

struct CloneOptions {
    pid_t set_tid = 0;     // the PID to take in the innermost PID namespace; 0 = any
    bool want_pidfd = false;
    unsigned long long flags = 0;  // extra CLONE_* flags
    int exit_signal = SIGCHLD;     // 0: none, and only waitpid(__WALL or __WCLONE) sees its end
};

struct Cloned {
    pid_t pid = 0;   // 0 in the child
    UniqueFd pidfd;  // in the parent, when asked for
};

// Taking a chosen PID needs CAP_SYS_ADMIN over the owning user namespace of the PID
// namespace; a PID in use gives EEXIST.
Result<Cloned> clone_process(const CloneOptions& options);

// A child that runs `child(arg)` on `stack`, in the caller's memory, while the caller waits
// until it has exec'd or exited (CLONE_VM | CLONE_VFORK, as posix_spawn(3) makes its
// children): no copy of the caller's page tables is made for it, and none is torn down at
// its exec. Here, where every page a new address space touches costs a fault of ~10 µs,
// that is most of a small child's start. `child` must end in an exec or _exit; what it
// allocates stays allocated in the caller, and it must not touch what the caller's
// frames hold. Same rules as clone_process otherwise.
Result<Cloned> spawn_in_shared_memory(const CloneOptions& options, void (*child)(void*), void* arg,
                                      std::span<std::byte> stack);

// fork(2) (glibc's, so safe in a multi-threaded caller) of a child that is PID 1 of a new
// PID namespace. The calling thread's namespace for children is switched for the one
// fork and switched back (unshare, then setns to /proc/thread-self/ns/pid); other
// threads are not affected. Returns 0 in the child, its PID (in the caller's namespace)
// in the parent. Needs CAP_SYS_ADMIN.
Result<pid_t> fork_in_new_pid_namespace();

}  // namespace ssi
