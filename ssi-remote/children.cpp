#include "ssi-remote/children.h"

#include "ssi-remote/standby_threads.h"
#include "kern-ext/files.h"
#include "kern-ext/process.h"
#include "kern-ext/proc_tree.h"
#include "libssi/remote/session.h"
#include "libssi/wire/codec.h"

#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <zmq_addon.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

namespace ssi::remote {
namespace {

using clock = std::chrono::steady_clock;

// How long a fork waits for the deputy's reservation before it goes on with a namespace
// PID instead (the home node unreachable must not stop the program).
constexpr int kReserveTimeoutMs = 2000;
// How long a continued clone has to show its child; past that, it failed (or was
// interrupted and will come again) and the reservation is given back.
constexpr int kCloneTimeoutMs = 2000;

}  // namespace

Children::Children(zmq::context_t& context, SessionKeys keys, std::string runs_file)
    : context_(context), keys_(std::move(keys)), runs_file_(std::move(runs_file)) {}

void Children::add_rules(SyscallDispatch& dispatch, pid_t home_pid) {
    auto queue = [this](const SyscallNotification& n, const SyscallListener& listener) {
        std::lock_guard lock(mutex_);
        listener_ = &listener;
        queue_.push_back(n);
        uint64_t one = 1;
        if (wake_) (void)!::write(wake_.get(), &one, sizeof one);
    };
    // Threads share their process's PID: only new processes are ours.
    dispatch.add(SyscallRule::notify(SYS_clone, SyscallRule::MaskedEqual{0, CLONE_THREAD, 0}), queue);
    dispatch.add(SyscallRule::notify(SYS_fork), queue);
    dispatch.add(SyscallRule::notify(SYS_vfork), queue);
    // Signals the program sends: to a home PID they go home (kill() below). A thread's or a
    // queued signal to the program itself is the kernel's alone, unseen: raise() and abort()
    // are tgkill()s of its own (a notification each would cost ~25 us), and so are the
    // pending signals a restore queues again. Its children's own pass by here.
    dispatch.add(SyscallRule::notify(SYS_kill), queue);
    for (long nr : {SYS_tgkill, SYS_rt_sigqueueinfo})
        dispatch.add(SyscallRule::notify(int(nr), SyscallRule::differs_from(0, uint64_t(home_pid))), queue);
    // A pidfd the program can hold of a home process: its parent's, whose PID the stub wears.
    dispatch.add(SyscallRule::notify(SYS_pidfd_send_signal), queue);
    // clone3's flags live in memory, out of a filter's sight; glibc falls back to clone.
    dispatch.add(SyscallRule::fail(SYS_clone3, ENOSYS));
}

void Children::start(RemoteProcess& program, pid_t home_pid, std::string runs_header) {
    program_ = &program;
    home_pid_ = home_pid;
    runs_header_ = std::move(runs_header);
    wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    worker_ = start_thread([this] { work(); });
}

void Children::stop() {
    if (!worker_.joinable()) return;
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    uint64_t one = 1;
    (void)!::write(wake_.get(), &one, sizeof one);
    worker_.join();
    // The deputy lets the children's deputies go when the program ends; whatever is
    // queued gets the kernel's ENOSYS when the listener closes.
}

void Children::signal(pid_t home_pid, int sig) {
    std::lock_guard lock(mutex_);
    auto it = children_.find(home_pid);
    if (it != children_.end()) (void)it->second.pidfd.send_signal(sig);
}

// The worker's link to the deputy, made at the first child: most programs never fork,
// and a CURVE handshake per run is start-up time they would pay for nothing.
zmq::socket_t* Children::deputy() {
    if (!deputy_) {
        try {
            deputy_ = std::make_unique<zmq::socket_t>(connect_to_deputy(context_, keys_));
        } catch (const zmq::error_t& e) {
            std::fprintf(stderr, "ssi-remote: children: cannot reach the deputy: %s\n", e.what());
        }
    }
    return deputy_.get();
}

void Children::work() {
    for (;;) {
        std::vector<pollfd> fds = {{wake_.get(), POLLIN, 0}};
        std::vector<pid_t> watched;
        {
            std::lock_guard lock(mutex_);
            for (const auto& [home, child] : children_) {
                fds.push_back({child.pidfd.fd(), POLLIN, 0});
                watched.push_back(home);
            }
        }
        if (::poll(fds.data(), fds.size(), -1) < 0) continue;
        uint64_t count;
        (void)!::read(wake_.get(), &count, sizeof count);
        for (size_t i = 1; i < fds.size(); ++i)
            if (fds[i].revents) ended(watched[i - 1]);
        for (;;) {
            SyscallNotification n;
            {
                std::lock_guard lock(mutex_);
                if (stopping_) return;
                if (queue_.empty()) break;
                n = queue_.front();
                queue_.pop_front();
            }
            if (n.nr == SYS_kill || n.nr == SYS_tgkill || n.nr == SYS_rt_sigqueueinfo ||
                n.nr == SYS_pidfd_send_signal) {
                kill(n);
                continue;
            }
            if (ready_) ready_();
            create(n);
        }
        // The table learns of new and ended children when no process creation waits.
        if (runs_changed_) write_runs_file(), runs_changed_ = false;
    }
}

// One process creation, start to end: reserve at home, set the namespace's next PID,
// let the kernel run the call, and find the child it made.
void Children::create(const SyscallNotification& n) {
    const SyscallListener& listener = *listener_;
    auto parent = read_namespace_pids(n.pid);
    auto parent_process = parent ? read_namespace_pids(parent->tgid) : parent;
    if (!parent_process) {
        (void)listener.continue_call(n.id);  // the caller is gone, or not ours to follow
        return;
    }
    pid_t home_ppid = parent_process->innermost();
    auto pid = reserve(home_ppid);
    if (!pid) {
        (void)listener.continue_call(n.id);  // a namespace PID rather than a failed fork
        return;
    }
    auto before = read_thread_children(n.pid).value_or(std::vector<pid_t>{});
    // A caller interrupted by a signal meanwhile will call again: a new notification.
    if (!listener.is_valid(n.id) || !program_->set_next_pid(*pid)) {
        (void)listener.continue_call(n.id);
        send_ended(*pid, 0);
        return;
    }
    if (!listener.continue_call(n.id)) {
        send_ended(*pid, 0);
        return;
    }
    auto child = wait_for_new_child(n.pid, before);
    auto identity = child ? read_namespace_pids(*child) : Result<NamespacePids>(make_error("no child", {}, ESRCH));
    auto pidfd = child ? Pidfd::open(*child) : Result<Pidfd>(make_error("no child", {}, ESRCH));
    if (!identity || identity->innermost() != *pid || !pidfd) {
        // Failed, or another creation (a thread) took the PID first: the child, if any,
        // keeps a namespace PID and shows as this node's process.
        send_ended(*pid, 0);
        return;
    }
    {
        std::lock_guard lock(mutex_);
        children_.emplace(*pid, Child{std::move(*pidfd), home_ppid});
    }
    runs_changed_ = true;
}

// The child ended: its status goes home (its child deputy exits the same way).
void Children::ended(pid_t home_pid) {
    std::optional<Child> child;
    {
        std::lock_guard lock(mutex_);
        auto it = children_.find(home_pid);
        if (it == children_.end()) return;
        child.emplace(std::move(it->second));
        children_.erase(it);
    }
    // A zombie still shows its status; once its parent reaped it, the pidfd does (6.15).
    std::optional<int> status;
    for (int tries = 0; tries < 100 && !status; ++tries) {
        status = zombie_wait_status(child->pidfd.pid());
        if (!status) status = child->pidfd.exit_status();
        if (!status) std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    send_ended(home_pid, status.value_or(0));
    runs_changed_ = true;
}

// The kernel shows the child to us once it exists: poll the caller's children for a new one.
std::optional<pid_t> Children::wait_for_new_child(pid_t tid, const std::vector<pid_t>& before) {
    auto deadline = clock::now() + std::chrono::milliseconds(kCloneTimeoutMs);
    auto pause = std::chrono::microseconds(10);
    while (clock::now() < deadline) {
        auto now = read_thread_children(tid);
        if (!now) return std::nullopt;  // the caller is gone
        for (pid_t c : *now)
            if (std::find(before.begin(), before.end(), c) == before.end()) return c;
        {
            // The same caller asking again: its clone failed or was interrupted.
            std::lock_guard lock(mutex_);
            for (const auto& q : queue_)
                if (q.pid == tid) return std::nullopt;
        }
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, std::chrono::microseconds(1000));
    }
    return std::nullopt;
}

// The PIDs of this run — the program's and its children's, all home PIDs — are the same
// in its namespace: the kernel serves those, the groups they lead there, the caller's own
// group (0) and "everyone" (-1), as it would at home for the run's own processes. Any other
// PID names a home process (the program's parent, a job of the home shell), and any
// other group a home job — such as the deputy's, which a job-control shell made the
// program's PID: sent there, it reaches the program through the deputy and its children
// through their stand-ins, as the whole job at home.
//
// tgkill(2) names a thread of a process, the same way; rt_sigqueueinfo(2) (sigqueue) a
// process, with a value read from the caller's siginfo; pidfd_send_signal(2) the process
// its pidfd refers to, which in the namespace can be a home process only as the stub
// wearing the home parent's PID (a pidfd_open of any other home PID finds nothing).
void Children::kill(const SyscallNotification& n) {
    const SyscallListener& listener = *listener_;
    pid_t pid = pid_t(int32_t(n.args[0]));
    int signal = int(int32_t(n.args[1]));
    RemoteAddr info_addr = n.nr == SYS_rt_sigqueueinfo ? n.arg_addr(2) : RemoteAddr{};
    if (n.nr == SYS_pidfd_send_signal) {
        auto target = innermost_pid_of_pidfd(n.pid, int(int32_t(n.args[0])));
        // Not a pidfd, an ended process, or flags (a thread or a group): the kernel's.
        if (!target || n.args[3] != 0) return (void)listener.continue_call(n.id);
        pid = *target;
        info_addr = n.arg_addr(2);
    }
    wire::HomeSignal home{pid, signal};
    if (n.nr == SYS_tgkill) home.tid = pid_t(int32_t(n.args[1])), home.signal = int(int32_t(n.args[2]));
    bool ours = pid == 0 || pid == -1 || pid == home_pid_ || (n.nr != SYS_kill && pid < 0);
    if (pid > 0 && !ours) {
        std::lock_guard lock(mutex_);
        ours = children_.contains(pid);
    }
    if (pid < -1 && n.nr == SYS_kill) ours = leads_group_here(-pid);  // (group 1, the reaper's: kill(0)'s)
    if (ours || !deputy()) {
        (void)listener.continue_call(n.id);
        return;
    }
    if (info_addr.value != 0) {
        // Only a queued signal's siginfo may name another process (the kernel refuses the
        // rest with EPERM); its value is the union after si_signo, si_errno, si_code, and
        // si_pid, si_uid.
        siginfo_t info{};
        auto got = listener.read_memory(n, info_addr, std::span<char>(reinterpret_cast<char*>(&info), sizeof info));
        if (!got || *got != sizeof info) return (void)listener.fail(n.id, EFAULT);
        if (info.si_code >= 0) return (void)listener.fail(n.id, EPERM);
        home.queued = true;
        home.value = int64_t(reinterpret_cast<intptr_t>(info.si_value.sival_ptr));
    }
    auto reply = call_deputy(home);
    auto* answer = reply ? std::get_if<wire::KillReply>(&*reply) : nullptr;
    const int err = answer ? answer->err : EIO;
    (void)(err == 0 ? listener.reply(n.id, 0) : listener.fail(n.id, err));
}

// Whether the run's process `home_pid` leads a process group in its namespace (getpgid
// from out here numbers both in our namespace).
bool Children::leads_group_here(pid_t home_pid) {
    pid_t here = 0;
    if (home_pid == home_pid_) {
        here = program_->program_pid();
    } else {
        std::lock_guard lock(mutex_);
        auto it = children_.find(home_pid);
        if (it == children_.end()) return false;
        here = it->second.pidfd.pid();
    }
    auto group = process_group_of(here);
    return group && *group == here;
}

std::optional<pid_t> Children::reserve(pid_t parent) {
    auto reply = call_deputy(wire::ChildReserve{parent});
    auto* reserved = reply ? std::get_if<wire::ChildReserved>(&*reply) : nullptr;
    if (!reserved || reserved->pid <= 1) return std::nullopt;
    return reserved->pid;
}

// One request on the worker's link and its reply, within kReserveTimeoutMs.
std::optional<wire::Message> Children::call_deputy(const wire::Message& request) {
    if (!deputy()) return std::nullopt;
    uint64_t id = next_request_++;
    std::string bytes = wire::encode(wire::Envelope{id, request});
    try {
        std::array<zmq::const_buffer, 2> out = {zmq::buffer(&kControlKind, 1), zmq::buffer(bytes)};
        zmq::send_multipart(*deputy_, out);
        auto deadline = clock::now() + std::chrono::milliseconds(kReserveTimeoutMs);
        for (;;) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
            if (left.count() <= 0) return std::nullopt;
            zmq::pollitem_t item{deputy_->handle(), 0, ZMQ_POLLIN, 0};
            zmq::poll(&item, 1, left);
            std::vector<zmq::message_t> in;
            if (!zmq::recv_multipart(*deputy_, std::back_inserter(in), zmq::recv_flags::dontwait)) continue;
            if (in.size() != 2) continue;
            auto envelope = wire::decode(in[1].to_string());
            if (!envelope) continue;
            if (envelope->request_id == id) return std::move(envelope->body);
            // A late answer to a request we gave up on: a stand-in it made is not needed.
            if (auto* late = std::get_if<wire::ChildReserved>(&envelope->body); late && late->pid > 1)
                send_ended(late->pid, 0);
        }
    } catch (const zmq::error_t&) {
        return std::nullopt;
    }
}

void Children::send_ended(pid_t home_pid, int wait_status) {
    if (!deputy()) return;
    std::string bytes = wire::encode(wire::Envelope{0, wire::ChildEnded{home_pid, wait_status}});
    std::array<zmq::const_buffer, 2> out = {zmq::buffer(&kControlKind, 1), zmq::buffer(bytes)};
    try {
        zmq::send_multipart(*deputy_, out);
    } catch (const zmq::error_t&) {
    }
}

// "reaper stub program", then one line per child: "child <pid here> <home pid> <home ppid>".
void Children::write_runs_file() {
    if (runs_file_.empty()) return;
    std::string text = runs_header_;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [home, child] : children_)
            text += "child " + std::to_string(child.pidfd.pid()) + " " + std::to_string(home) + " " +
                    std::to_string(child.home_ppid) + "\n";
    }
    (void)write_file_atomic(runs_file_, text, 0644);
}

}  // namespace ssi::remote
