// PIDs inside a remote program's PID namespace (kern-ext/remote_launch.h): how its
// reaper (pid 1 there) waits for its children while serving "the next PID is N" requests
// from the launcher. The kernel's ns_last_pid acts on the PID namespace of the process
// that writes it, so only a process inside can set it; the reaper is inside and root.
#pragma once

#include "kern-ext/result.h"

#include <sys/types.h>

#include <functional>

namespace ssi {

// Writes /proc/sys/kernel/ns_last_pid = `last` for the caller's PID namespace: the next
// process or thread created there gets last + 1 if it is free (the next free one after it
// otherwise). Needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE over the namespace.
Result<void> set_last_pid(pid_t last);
// The same through an open /proc/sys/kernel/ns_last_pid (the namespace is the writer's at
// the time of the write, not the opener's): no path walk per call — inside a remote
// program's root, "/proc" is looked up in the home filesystem, a round trip home.
Result<void> set_last_pid(int ns_last_pid_fd, pid_t last);

// waitpid(-1) until `pid` is reaped, reaping whatever else ends meanwhile; returns its
// raw wait status. With `on_change`, `pid`'s stops and continues are passed to it as they
// happen. With `next_pid_requests` >= 0 (a SOCK_SEQPACKET socket; SIGCHLD must be
// blocked), requests arriving there are served meanwhile (request_next_pid's peer); the
// file is opened once, at the first request.
Result<int> reap_until(pid_t pid, const std::function<void(int)>& on_change = {}, int next_pid_requests = -1);

// The launcher's side: asks the process serving `socket` (in reap_until) to make `next`
// the namespace's next PID. ETIMEDOUT after timeout_ms without an answer.
Result<void> request_next_pid(int socket, pid_t next, int timeout_ms);

}  // namespace ssi
