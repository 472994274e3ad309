// Where a thread of this process is waiting, as the kernel tells /proc: for a daemon to
// say why its own loop stopped turning (a read of another process's /proc file stuck
// behind that process's locks, a blocked write) without a debugger at hand.
#pragma once

#include <sys/types.h>

#include <string>

namespace ssi {

// The calling thread's id (gettid(2)), for another thread to look at it later.
pid_t current_thread_id();

// One line: the system call the thread is in (/proc/self/task/TID/syscall), the kernel
// function it sleeps in (wchan) and its kernel stack's function names (root only), each
// left out when the kernel does not say.
std::string describe_thread_wait(pid_t tid);

}  // namespace ssi
