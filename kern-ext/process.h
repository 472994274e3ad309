// Process control: creating, replacing, waiting for and re-parenting processes, their
// stdio, working directory, identity and signal dispositions. Each call is wrapped once;
// errno is read on the line after the call, so the message names the call that failed.
#pragma once

#include "kern-ext/result.h"
#include "kern-ext/unique_fd.h"

#include <signal.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ssi {

// ---- creating and replacing ----------------------------------------------------------

// A NULL-terminated char* array over `strings`, for exec-family calls (the strings must
// outlive it).
std::vector<char*> c_string_array(const std::vector<std::string>& strings);

// Where execvp(3) would find `name` along `path` (a PATH value): `name` itself when it
// contains a '/'; else the first executable regular file DIR/name. ENOENT when there is
// none, EACCES when only non-executable ones were found (a shell's 127 and 126).
Result<std::string> find_program(const std::string& name, const std::string& path);

// fork(2): the child's pid in the parent, 0 in the child.
Result<pid_t> fork_process();

// posix_spawn(3) of an explicit file. Unlike fork_process() and exec_file(), the child
// shares the caller's memory until its exec: a big, threaded caller (the agent) neither
// copies its page tables nor takes copy-on-write faults after, and no lazy symbol binding
// runs in the child. A failed exec is this call's error, with its errno.
struct SpawnOptions {
    int stdin_fd = -1;          // made the child's stdin when set
    bool new_session = false;   // setsid(2) in the child
};
Result<pid_t> spawn_process(const std::string& path, const std::vector<std::string>& argv,
                            const SpawnOptions& options = {});

// execvp(3): searches PATH when argv[0] has no '/'. Returns only on failure.
Error exec_path(const std::vector<std::string>& argv);
// execv(2) of an explicit file. Returns only on failure.
Error exec_file(const std::string& path, const std::vector<std::string>& argv);

// A shell's exit status for a command that could not be executed: 127 when it does not
// exist, 126 when it exists but cannot be run.
inline int exec_failure_status(int err) { return err == ENOENT || err == ENOTDIR ? 127 : 126; }

// _exit(2): leaves a forked child without running the parent's atexit handlers or
// flushing its stdio buffers twice.
[[noreturn]] void exit_child(int status);

// Ends this process at once with `status`: its C stdio flushed, but no destructors or
// atexit handlers run. For a process whose last duty is done and whose teardown would
// only delay the one waiting for its status.
[[noreturn]] void exit_now(int status);

// ---- waiting ---------------------------------------------------------------------------

struct ExitStatus {
    bool signaled = false;
    int code = 0;    // exit code when !signaled
    int signal = 0;  // terminating signal when signaled

    // What a shell reports: the exit code, or 128 + signal.
    int shell_status() const { return signaled ? 128 + signal : code; }
    // "exit status 3", "killed by signal 9 (Killed)"
    std::string describe() const;
};

ExitStatus decode_wait_status(int status);

// waitpid(pid, 0); retries EINTR.
Result<ExitStatus> wait_process(pid_t pid);
struct Reaped {
    enum Kind { child, none_exited, no_children } kind = no_children;
    pid_t pid = 0;  // when kind == child
    ExitStatus status;
};
// A child whose exit signal is 0 (a memory's holder, checkpoint/memory_holder.h) killed
// and reaped: SIGKILL, then waitpid(pid, __WALL), which plain waits never match.
Result<void> end_clone_child(pid_t pid);
// waitpid(pid, WNOHANG): its status if it has ended (and it is reaped), else nothing.
Result<std::optional<ExitStatus>> try_wait_process(pid_t pid);
// waitpid(-1, WNOHANG): one exited child, if any. Takes any child's status: a caller
// that has children it does not know of (the agent) waits by PID instead.
Result<Reaped> reap_one();

// ---- session, stdio, cwd ---------------------------------------------------------------

// setsid(2): a new session without a controlling terminal.
Result<pid_t> new_session();
// getpgid(2): the process group of `pid`, as numbered in the caller's PID namespace.
Result<pid_t> process_group_of(pid_t pid);
// dup2(2): makes `target` a copy of `fd` (not close-on-exec).
Result<void> duplicate_fd(int fd, int target);
// Points stdin at `stdin_path` (read-only) and stdout and stderr at `output_path`
// (appended, created 0640).
Result<void> redirect_stdio(const std::string& stdin_path, const std::string& output_path);
// pipe2(O_CLOEXEC): {read end, write end}.
Result<std::pair<UniqueFd, UniqueFd>> make_pipe();

Result<std::string> current_dir();
Result<void> change_dir(const std::string& path);
// readlink(/proc/self/exe): the absolute path of the running program.
Result<std::string> self_executable();

// ---- identity --------------------------------------------------------------------------

// setgroups(2), setgid(2), setuid(2), in the order that leaves no privilege behind.
Result<void> set_identity(uid_t uid, gid_t gid, const std::vector<gid_t>& groups);

// ---- signals ---------------------------------------------------------------------------

sigset_t signal_set(std::initializer_list<int> signals);
// sigprocmask(2); returns the previous mask.
Result<sigset_t> set_signal_mask(int how, const sigset_t& set);
// Bulk transfers allocate and free megabyte buffers in a loop; glibc would map and unmap
// each one, and every fresh 4 KiB page costs a fault (~10 us here). Keep such blocks on the
// heap and up to `keep_bytes` of freed memory, so the next buffer reuses warm pages.
void keep_freed_heap_memory(size_t keep_bytes);
// One malloc arena for all threads. glibc gives each new thread that allocates an arena of
// its own: a 64 MiB reservation, its first pages faulted in, unmapped again at exit. For a
// process that starts a dozen threads and lives for one short run, that was ~3 ms of CPU
// per run here (docs/benchmarks.md); the threads' small allocations go through their
// per-thread caches anyway.
void use_one_heap_arena();

// Sizes the descriptor table for `slots` descriptors (within the hard RLIMIT_NOFILE), for a
// process about to start threads and later hold many descriptors. The table starts with
// 64 slots and doubles as higher numbers are taken; in a process with a second thread each
// doubling waits for an RCU grace period (expand_fdtable's synchronize_rcu), 7-15 ms here,
// and a deputy crossing 64, 128, ... 1024 for a listing of 1000 names stalled five times.
// Taken once before the threads, a high number costs 8 bytes a slot and no wait. A lower
// soft limit is raised for that moment and restored; the table keeps its size.
Result<void> reserve_descriptor_table(unsigned slots);

// signalfd(2), close-on-exec, blocking reads. Block `set` with set_signal_mask first.
Result<UniqueFd> open_signalfd(const sigset_t& set);
// sigaction(2) with SA_SIGINFO | SA_RESTART.
Result<void> set_signal_handler(int signal, void (*handler)(int, siginfo_t*, void*));
// sigaction(2) back to SIG_DFL.
Result<void> reset_signal_handler(int signal);
// prctl(PR_SET_PDEATHSIG): `signal` is sent to the caller when its parent dies.
Result<void> set_parent_death_signal(int signal);

// kill(-1, signal) from inside a PID namespace's init: every process of the namespace
// but the caller.
Result<void> signal_all_others(int signal);

}  // namespace ssi
