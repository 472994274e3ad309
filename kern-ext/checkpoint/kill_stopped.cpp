// CheckpointOptions::kill: end the process while it is still stopped, so it never runs
// a single instruction past its image. When we are its tracer but not its parent, we
// collect the tracer's death notice so that its parent gets the usual one.
#include "kern-ext/checkpoint/steps.h"
#include "kern-ext/pidfd.h"

#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <thread>

namespace ssi::ckpt {

namespace {
pid_t parent_of(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), {});
    size_t close = text.rfind(')');
    if (close == std::string::npos) return 0;
    char state = 0;
    int ppid = 0;
    std::sscanf(text.c_str() + close + 1, " %c %d", &state, &ppid);
    return ppid;
}
}  // namespace

Result<void> kill_traced(pid_t pid) {
    bool we_are_parent = parent_of(pid) == ::getpid();
    TRY(send_signal(pid, SIGKILL));
    // With SIGKILL queued it never runs another instruction of its own: that is all the
    // caller needs. Its death notice comes once the kernel has freed its memory (~10 ms
    // for 256 MiB here, which a migration's freeze would wait for), so another thread of
    // ours collects it (a tracer's thread group may wait for any of its tracees).
    if (!we_are_parent) std::thread([pid] { (void)wait_tracee(pid); }).detach();
    return ok();
}

Result<void> kill_stopped(SeizedTask& task) {
    TRY(kill_traced(task.pid()));
    task.release();  // nothing left to detach from
    return ok();
}

}  // namespace ssi::ckpt
