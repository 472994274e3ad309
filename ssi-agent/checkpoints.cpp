#include "ssi-agent/checkpoints.h"

#include "kern-ext/checkpoint/checkpoint.h"
#include "kern-ext/file_ops.h"
#include "kern-ext/pidfd.h"
#include "kern-ext/proc_status.h"
#include "libssi/gpid.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

namespace ssi::agent {
namespace {

// A refusal in words; the words are the whole message (no strerror appended).
Error refused(int err, const std::string& why) {
    (void)err;
    return Error{why, 0, {}};
}

wire::ErrorReply error_reply(const Error& e) {
    return wire::ErrorReply{e.err != 0 ? e.err : EIO, e.message()};
}

// The process that sent the request, held by a pidfd. SO_PEERCRED names the process that
// connected; its uid is checked again through the pidfd's PID, so a recycled PID now
// owned by someone else is never taken for the caller.
Result<Pidfd> open_caller(const PeerCredentials& caller) {
    auto pidfd = Pidfd::open(caller.pid);
    if (!pidfd) return refused(ESRCH, "the calling process is gone");
    ProcessUids uids = TRY(read_process_uids(caller.pid));
    if (uids.real != caller.uid && uids.effective != caller.uid)
        return refused(EPERM, "the calling process changed identity");
    return std::move(*pidfd);
}

// One of the caller's open files, as the caller opened it: a regular file.
Result<UniqueFd> take_caller_file(const Pidfd& caller, int fd, int want_access) {
    auto file = caller.get_fd(fd);
    if (!file) return refused(EBADF, "the image file's descriptor " + std::to_string(fd) + " is not open in the caller");
    struct stat st = TRY(stat_at(file->get(), "", AT_EMPTY_PATH));
    if (!S_ISREG(st.st_mode)) return refused(EINVAL, "the image file is not a regular file");
    int flags = ::fcntl(file->get(), F_GETFL);
    int access = flags & O_ACCMODE;
    if (flags < 0 || (access != want_access && access != O_RDWR))
        return refused(EBADF, want_access == O_WRONLY ? "the image file is not open for writing"
                                                      : "the image file is not open for reading");
    return std::move(*file);
}

}  // namespace

// ---- ssi-checkpoint ------------------------------------------------------------------

struct Checkpoints::CheckpointJob {
    pid_t pid = 0;
    Gpid target;
    uid_t uid = 0;
    UniqueFd out;
    CheckpointOptions::After after = CheckpointOptions::resume;
    std::optional<Result<wire::CheckpointReply>> result;
};

void Checkpoints::handle(const LocalRequest& request, const wire::CheckpointRequest& checkpoint_request) {
    auto job = prepare(request.caller, checkpoint_request);
    if (!job) return request.respond.send(error_reply(job.error()));
    std::shared_ptr<CheckpointJob> j = *job;
    Responder respond = request.respond;
    run_in_pool(
        loop_,
        [j] {
            // The image is written while the process is still stopped: with --kill it dies
            // only once its image is safe, and a failed write leaves it running, untouched.
            CheckpointOptions options;
            options.after = j->after;
            options.stream_memory = true;  // from the process to the file, no copy in between
            options.while_frozen = [&](const ProcessImage& image) {
                return save_image_to(image, j->out.get(), "the image file");
            };
            auto done = ssi::checkpoint(j->pid, options);
            if (!done) {
                j->result = done.error();
                return;
            }
            auto st = stat_at(j->out.get(), "", AT_EMPTY_PATH);
            uint64_t size = st ? uint64_t(st->st_size) : 0;
            spdlog::info("checkpoint: {} saved ({} bytes) for uid {}{}", j->target.str(), size, j->uid,
                         j->after == CheckpointOptions::kill ? ", killed" : "");
            j->result = wire::CheckpointReply{size};
        },
        [j, respond] {
            if (!*j->result) return respond.send(error_reply(j->result->error()));
            respond.send(**j->result);
        });
}

Result<std::shared_ptr<Checkpoints::CheckpointJob>> Checkpoints::prepare(const PeerCredentials& caller,
                                                                        const wire::CheckpointRequest& request) {
    Gpid target = Gpid::from_value(request.gpid);
    // Another home's process runs here (ssi-run, a migration): saved by its PID here.
    pid_t pid = target.pid;
    if (target.node != config_.self_id) {
        auto here = runs_.program_wearing(target.node, target.pid);
        if (!here)
            return refused(ESRCH, "No such process on node " + std::to_string(config_.self_id));
        pid = *here;
    } else {
        if (auto node = runs_.deputy_target(pid))
            return refused(EXDEV, "process " + target.str() + " runs on node " + std::to_string(*node) +
                                      " (here is its deputy): ssi-checkpoint goes where it runs");
        Visibility seen = runs_.visibility();
        if (seen.worn.count(pid) || seen.hidden.count(pid))
            return refused(ENOTSUP, "process " + target.str() + " is part of a remote run here: name it by its home gpid");
    }
    if (pid <= 1 || pid == ::getpid() || pid == caller.pid)
        return refused(EPERM, "process " + target.str() + " cannot be checkpointed (the node's init, its agent, or the caller)");

    // kill(2)'s rule, checked on the process the pidfd holds.
    auto pidfd = Pidfd::open(pid);
    if (!pidfd) return refused(ESRCH, "No such process");
    auto uids = read_process_uids(pid);
    if (!uids) return refused(ESRCH, "No such process");
    if (!may_signal(caller.uid, *uids)) return refused(EPERM, "Operation not permitted");
    if (!may_inspect(caller.uid, *uids))
        return refused(EPERM, "process " + target.str() + " runs with another user's ids (set-uid?): only root may save it");

    Pidfd caller_pidfd = TRY(open_caller(caller));
    auto job = std::make_shared<CheckpointJob>();
    job->out = TRY(take_caller_file(caller_pidfd, request.fd, O_WRONLY));
    job->pid = pid;
    job->target = target;
    job->uid = caller.uid;
    job->after = request.kill ? CheckpointOptions::kill : CheckpointOptions::resume;
    return job;
}

// ---- ssi-restart ---------------------------------------------------------------------

struct Checkpoints::RestartJob {
    UniqueFd file;
    std::string name;
    std::vector<UniqueFd> stdio;
    RestoreOptions options;
    uid_t uid = 0;
    bool detach = false;
    std::optional<Result<pid_t>> pid;
    pid_t image_pid = 0;
};

void Checkpoints::handle(const LocalRequest& request, const wire::RestartRequest& restart_request) {
    auto job = prepare(request.caller, restart_request);
    if (!job) return request.respond.send(error_reply(job.error()));
    std::shared_ptr<RestartJob> j = *job;
    Responder respond = request.respond;
    run_in_pool(
        loop_,
        [j] {
            // Loaded and restored on one thread: the restored child's tracer is the thread
            // that forked it. The memory is read from the file as it is written into the
            // child (no copy of the image in between).
            FdImageSource source(j->file.get());
            auto image = load_image_streamed(source, j->name);
            if (image) {
                j->image_pid = image->pid;
                j->options.pid = image->pid;
                j->pid = ssi::restore(*image, j->options);
            } else {
                j->pid = image.error();
            }
            j->file.reset();
        },
        [this, j, respond] {
            j->stdio.clear();
            if (!*j->pid) return respond.send(error_reply(j->pid->error()));
            pid_t pid = **j->pid;
            restored_[pid] = Restored{j->uid, j->detach, std::nullopt, {}};
            Gpid gpid{config_.self_id, pid};
            spdlog::info("restart: {} restored as {} (pid {}{}) for uid {}", j->image_pid, gpid.str(), pid,
                         pid == j->image_pid ? ", the same" : ", a new one", j->uid);
            respond.send(wire::RestartReply{gpid.value(), j->image_pid});
            reap();  // it may have ended before it was in restored_
        });
}

Result<std::shared_ptr<Checkpoints::RestartJob>> Checkpoints::prepare(const PeerCredentials& caller,
                                                                     const wire::RestartRequest& request) {
    if (request.node != 0 && request.node != config_.self_id)
        return refused(ENOTSUP, "restart on node " + std::to_string(request.node) +
                                    " from node " + std::to_string(config_.self_id) +
                                    " is not supported yet: run ssi-restart on node " + std::to_string(request.node));
    Pidfd caller_pidfd = TRY(open_caller(caller));
    auto job = std::make_shared<RestartJob>();
    job->file = TRY(take_caller_file(caller_pidfd, request.fd, O_RDONLY));
    job->name = request.name.empty() ? "the image file" : request.name;
    // The caller's stdin, stdout and stderr, where it has them; every other file closed.
    for (int fd = 0; fd <= 2; ++fd) {
        auto got = caller_pidfd.get_fd(fd);
        if (!got) continue;
        job->options.fds.emplace_back(fd, got->get());
        job->stdio.push_back(std::move(*got));
    }
    ProcessIdentity who = TRY(read_process_identity(caller.pid));
    job->options.credentials = RestoreCredentials{caller.uid, caller.gid, who.groups};
    job->uid = caller.uid;
    job->detach = request.detach;
    return job;
}

void Checkpoints::handle(const LocalRequest& request, const wire::RestartWaitRequest& wait) {
    Gpid target = Gpid::from_value(wait.gpid);
    auto it = target.node == config_.self_id ? restored_.find(target.pid) : restored_.end();
    if (it == restored_.end() || it->second.detached)
        return request.respond.send(wire::ErrorReply{ECHILD, "process " + target.str() + " was not restarted here"});
    if (request.caller.uid != 0 && request.caller.uid != it->second.owner)
        return request.respond.send(wire::ErrorReply{EPERM, "Operation not permitted"});
    if (!it->second.ended) return it->second.waiting.push_back(request.respond);
    const ExitStatus s = *it->second.ended;
    restored_.erase(it);
    request.respond.send(wire::ProgramExited{s.shell_status(), s.signaled ? s.signal : 0, false, {}});
}

void Checkpoints::reap() {
    for (auto it = restored_.begin(); it != restored_.end();) {
        if (it->second.ended) {
            ++it;
            continue;
        }
        auto r = try_wait_process(it->first);
        if (!r || !*r) {
            ++it;
            continue;
        }
        const ExitStatus s = **r;
        spdlog::info("restart: restored process {} ended, {}", it->first, s.describe());
        if (it->second.waiting.empty() && !it->second.detached) {
            it->second.ended = s;  // its ssi-restart has not asked yet
            ++it;
            continue;
        }
        for (const Responder& waiter : it->second.waiting)
            waiter.send(wire::ProgramExited{s.shell_status(), s.signaled ? s.signal : 0, false, {}});
        it = restored_.erase(it);
    }
}

}  // namespace ssi::agent
