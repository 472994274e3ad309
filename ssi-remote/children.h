// Children: the processes a remote program creates get home PIDs of their own. Every
// fork/vfork/clone (not threads) of the program and its descendants is intercepted
// (seccomp, SyscallDispatch); before the kernel runs it, the deputy reserves a PID at home
// by forking a *child deputy* that wears it (ChildReserve), and the program's namespace
// is told to hand out that PID next (RemoteProcess::set_next_pid). The child then runs
// here wearing its home PID; it is listed under its home gpid, signals sent at home to its
// child deputy are relayed to it (ChildSignal), and its end ends the child deputy the same
// way (ChildEnded). Process creations are served one at a time, since the next PID is the
// namespace's, not the caller's. See docs/remote-exec.md, "Children".
#pragma once

#include "kern-ext/pidfd.h"
#include "kern-ext/remote_launch.h"
#include "kern-ext/syscall_listener.h"
#include "kern-ext/unique_fd.h"
#include "libssi/wire/messages.h"
#include "ssi-remote/fs_transport.h"
#include "ssi-remote/syscall_dispatch.h"

#include <zmq.hpp>

#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace ssi::remote {

class Children {
public:
    // runs_file: where the agent learns our PIDs (ssi-agent/remote_runs.h); "" = nowhere.
    Children(zmq::context_t& context, SessionKeys keys, std::string runs_file);
    ~Children() { stop(); }
    Children(const Children&) = delete;
    Children& operator=(const Children&) = delete;

    // The rules (process creation notifies; clone3 fails with ENOSYS, so that glibc falls
    // back to clone, whose flags a filter can see; kill notifies) and their handler.
    void add_rules(SyscallDispatch& dispatch, pid_t home_pid);
    // After the launch, before the dispatch starts: the program whose namespace the
    // children live in, its home PID, and the first line of the runs file ("reaper stub
    // program").
    void start(RemoteProcess& program, pid_t home_pid, std::string runs_header);
    // Ends the worker; the children still running are the namespace's to kill.
    void stop();

    // Before the worker runs: each process creation first waits for `ready` (a post-copy:
    // a fork copies the parent's page tables, where missing memory would read as zero).
    void hold_creations_until(std::function<void()> ready) { ready_ = std::move(ready); }

    // From the deputy: a signal sent at home to child `home_pid` (any thread).
    void signal(pid_t home_pid, int sig);

private:
    struct Child {
        Pidfd pidfd;       // here
        pid_t home_ppid;   // its parent's home PID
    };
    void work();
    void create(const SyscallNotification& n);
    // kill(2), tgkill(2), sigqueue or pidfd_send_signal(2) of a PID that is none of this
    // run's goes home (wire::HomeSignal).
    void kill(const SyscallNotification& n);
    bool leads_group_here(pid_t home_pid);
    void ended(pid_t home_pid);
    std::optional<pid_t> reserve(pid_t parent);
    std::optional<wire::Message> call_deputy(const wire::Message& request);
    void send_ended(pid_t home_pid, int wait_status);
    zmq::socket_t* deputy();  // connected at first use
    std::optional<pid_t> wait_for_new_child(pid_t tid, const std::vector<pid_t>& before);
    void write_runs_file();

    zmq::context_t& context_;
    SessionKeys keys_;
    std::string runs_file_;
    std::string runs_header_;
    RemoteProcess* program_ = nullptr;
    pid_t home_pid_ = 0;  // the program's
    std::function<void()> ready_;
    const SyscallListener* listener_ = nullptr;
    std::unique_ptr<zmq::socket_t> deputy_;  // the worker's own DEALER
    uint64_t next_request_ = 1;
    bool runs_changed_ = false;  // the runs file is behind children_

    std::mutex mutex_;  // guards what follows
    std::deque<SyscallNotification> queue_;
    std::map<pid_t, Child> children_;  // by home PID
    bool stopping_ = false;
    UniqueFd wake_;  // eventfd: queue_ or stopping_ changed
    std::thread worker_;
};

}  // namespace ssi::remote
