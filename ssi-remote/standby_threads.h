// Standby threads: started while a spare supervisor waits for its run (main.cpp), and
// handed a job each when the run needs a thread. Creating one in the run cost 0.2-2.8 ms
// here (the clone, its stack, and above all the scheduler of two busy vCPUs), and a start
// made about ten, each on the path of what came after it: the mount's helpers, the FUSE
// workers, the system call dispatch, the children's and the sockets' threads.
//
// Without standby threads (tests, a supervisor that used them all) a job gets a thread
// of its own, made then, as std::thread would: the threads behave the same either way.
#pragma once

#include <cstddef>
#include <functional>
#include <thread>

namespace ssi::remote {

// Starts `count` more threads that each wait for one job. Call before the run, after
// the last fork that must not copy them.
void start_standby_threads(size_t count);

// Runs `job` on a waiting thread, or on a new one when none waits. The thread is the
// caller's to join, as if it had been made here.
std::thread start_thread(std::function<void()> job);

// How many wait now (for tests).
size_t standby_threads();

}  // namespace ssi::remote
