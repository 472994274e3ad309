#include "ssi-agent/migrations.h"

#include "kern-ext/checkpoint/checkpoint.h"
#include "kern-ext/file_ops.h"
#include "kern-ext/files.h"
#include "kern-ext/namespaces.h"
#include "kern-ext/pidfd.h"
#include "kern-ext/proc_status.h"
#include "kern-ext/proc_tree.h"
#include "kern-ext/process.h"
#include "kern-ext/unix_socket.h"
#include "libssi/agent_client.h"
#include "libssi/fault_points.h"
#include "libssi/remote/session.h"

#include <spdlog/spdlog.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <sstream>
#include <thread>

namespace ssi::agent {
namespace {

using clock = std::chrono::steady_clock;

// A refusal in words; the words are the whole message.
Error refused(std::string why) { return Error{std::move(why), 0, {}}; }

uint32_t ms_since(clock::time_point t) {
    return uint32_t(std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - t).count());
}

// How long a deputy has to take its order socket after exec, and a move to finish.
constexpr int kDeputyStartMs = 10000;
constexpr int kMoveTimeoutMs = 30 * 60 * 1000;

// The deputy's order socket, once it listens; the listener must be the process itself.
Result<UniqueFd> reach_deputy(int32_t node, pid_t pid) {
    auto deadline = clock::now() + std::chrono::milliseconds(kDeputyStartMs);
    for (;;) {
        if (std::optional<UniqueFd> fd = TRY(connect_deputy(node, pid))) return std::move(*fd);
        if (clock::now() > deadline) return refused("the deputy of process " + std::to_string(pid) + " does not answer");
        std::this_thread::sleep_for(std::chrono::milliseconds(1));  // it listens ~3 ms after its exec
    }
}

}  // namespace

Result<std::optional<UniqueFd>> connect_deputy(int32_t node, pid_t pid) {
    const std::string name = remote::deputy_order_socket(node, TRY(namespace_id(::getpid(), "pid")), pid);
    auto fd = connect_abstract(name);
    if (!fd) return std::optional<UniqueFd>();
    PeerCredentials peer = TRY(peer_credentials(fd->get()));
    if (peer.pid != pid) return refused("@" + name + " is not held by process " + std::to_string(pid));
    return std::optional<UniqueFd>(std::move(*fd));
}

bool listening_deputy(int32_t node, pid_t pid) {
    auto fd = connect_deputy(node, pid);
    return fd && fd->has_value();
}

struct Migrations::Job {
    Gpid gpid;
    int32_t self = 0;
    int32_t from = 0;    // where it runs now
    int32_t target = 0;  // where it goes (self: home)
    bool has_deputy = false;
    bool fell_back = false;  // the move failed before its commit point: it continues at home
    pid_t holder = 0;        // leaving home: the child of the deputy that keeps the memory
    ProcessIdentity owner;
    std::string image_path, deputy_program, socket_path;
    std::vector<int> signals;  // held for it by a deputy left parked (rebuild_parked)
    std::optional<Result<wire::MigrateReply>> result;
};

// The images live in a directory every user may write (sticky, like /tmp), and the agent
// is root: it never follows a link there, creates only new files, and reads back only a
// regular file that belongs to the process's owner — not an image someone slipped in.
// Leaving home, only the image's head is written (kilobytes, while the process is still
// stopped): its memory stays in the holder (memory_holder.h), read from there as sent.
Result<void> Migrations::save_owned_head(const ProcessImage& image, const Job& job) {
    const std::string head = job.image_path + ".head", tmp = head + ".tmp";
    (void)unlink_at(AT_FDCWD, tmp, 0);
    UniqueFd fd = TRY(open_file(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    FdImageSink sink(fd.get());
    auto saved = [&]() -> Result<void> {
        TRY(change_fd_owner(fd.get(), job.owner.uid, job.owner.gid));
        TRY(save_image_head_to(image, sink));
        return rename_at(AT_FDCWD, tmp, AT_FDCWD, head, 0);
    }();
    if (!saved) (void)unlink_at(AT_FDCWD, tmp, 0);  // no half head left behind
    return saved;
}

Result<UniqueFd> Migrations::open_owned(const Job& job, const std::string& path) {
    UniqueFd fd = TRY(open_file(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    struct stat st = TRY(stat_at(fd.get(), "", AT_EMPTY_PATH));
    if (!S_ISREG(st.st_mode) || st.st_uid != job.owner.uid)
        return refused(path + " is not the image the move left (not a regular file of uid " +
                       std::to_string(job.owner.uid) + ")");
    return fd;
}

Result<ProcessImage> Migrations::load_owned_image(const Job& job, UniqueFd& fd, std::optional<FdImageSource>& source) {
    fd = TRY(open_owned(job, job.image_path));
    source.emplace(fd.get());
    return load_image_streamed(*source, job.image_path);
}

// Streamed: the memory is read from the file as it is written into the process (or is
// there already, pre-copied into the deputy), or, leaving home, from its holder, which
// then ends (it is the deputy's child: reaped from inside, before the program runs).
Result<void> Migrations::rebuild_in_deputy(const Job& job) {
    UniqueFd image_fd;
    std::optional<FdImageSource> file;
    std::unique_ptr<ImageSource> held;
    RestoreOptions options;
    options.credentials = RestoreCredentials{job.owner.uid, job.owner.gid, job.owner.groups};
    options.files = RestoreOptions::Files::in_place;
    options.keep_stdio = true;  // its originals, which the deputy relayed
    options.end_holder = job.holder != 0;
    ProcessImage image;
    if (job.holder) {
        const std::string head = job.image_path + ".head";
        image_fd = TRY(open_owned(job, head));
        image = TRY(load_held_image(image_fd.get(), head, job.holder, held));
    } else {
        image = TRY(load_owned_image(job, image_fd, file));
    }
    TRY(restore_into(job.gpid.pid, image, options));
    for (const char* left : {"", ".head", ".sent", ".precopy", ".signals"})  // progress marks, held signals
        (void)unlink_at(AT_FDCWD, job.image_path + left, 0);
    return ok();
}

// A fault point (libssi/fault_points.h): the agent dies right here.
void Migrations::inject_fault(const Job& job, const char* point) {
    if (!take_fault_point(job.socket_path.substr(0, job.socket_path.rfind('/')), point)) return;
    spdlog::warn("migrate: injected fault at {}: the agent dies", point);
    ::raise(SIGKILL);
}

// The signals a parked deputy held for its process (IMAGE.signals, which it wrote as it
// parked, in case no agent heard its answer); only a regular file of the owner's.
std::vector<int> held_signals(const std::string& image_path, uid_t owner) {
    std::vector<int> out;
    auto fd = open_file(image_path + ".signals", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (!fd) return out;
    auto st = stat_at(fd->get(), "", AT_EMPTY_PATH);
    if (!st || !S_ISREG(st->st_mode) || st->st_uid != owner) return out;
    char text[1024];  // at most 64 numbers
    auto n = read_some(fd->get(), std::span<char>(text, sizeof text));
    if (!n) return out;
    std::istringstream numbers(std::string(text, *n));
    for (int sig; numbers >> sig;)
        if (sig > 0 && sig <= 64) out.push_back(sig);
    return out;
}

bool is_deputy(pid_t pid, const std::string& deputy_program) {
    auto exe = stat_path("/proc/" + std::to_string(pid) + "/exe");  // the program it runs, followed
    auto wanted = stat_path(deputy_program);
    return exe && wanted && exe->st_dev == wanted->st_dev && exe->st_ino == wanted->st_ino;
}

// Asleep in pause(), one thread: a parked deputy (whose agent died before rebuilding the
// process in it: an agent restart), or a memory's holder.
bool asleep_in_pause(pid_t pid) {
    const std::string proc = "/proc/" + std::to_string(pid);
    auto syscall = read_file(proc + "/syscall");
    auto status = read_file(proc + "/status");
    return syscall && syscall->rfind("34 ", 0) == 0 && status && status->find("\nThreads:\t1\n") != std::string::npos;
}

// The children of a process's main thread (all of a single-threaded one's); none if it is gone.
std::vector<pid_t> children_of(pid_t pid) { return read_thread_children(pid).value_or(std::vector<pid_t>{}); }

// The child that holds the memory of a process leaving home (a process that moves has no
// other child: prepare() refuses it), 0 if none.
pid_t memory_holder_of(pid_t pid) {
    auto kids = children_of(pid);
    if (kids.size() != 1) return 0;  // more than one: not a move's
    return asleep_in_pause(kids[0]) ? kids[0] : 0;
}

std::string deputy_program_path() {
    if (const char* p = std::getenv("SSI_RUN_BIN"); p && *p) return p;
    auto self = self_executable();
    std::string dir = self ? self->substr(0, self->rfind('/')) : ".";
    if (stat_path(dir + "/ssi-run")) return dir + "/ssi-run";
    return dir + "/../bin/ssi-run";
}


Migrations::Migrations(EventLoop& loop, const ClusterConfig& config, RemoteRuns& runs, PickNode pick,
                       NodeProblem problem)
    : loop_(loop), config_(config), runs_(runs), pick_(std::move(pick)), problem_(std::move(problem)) {
    const std::string& sock = config.socket_path;
    images_dir_ = sock.substr(0, sock.rfind('/')) + "/images";
}

void Migrations::rebuild_parked() {
    auto dir = open_file(images_dir_, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (!dir) return;
    std::vector<std::string> names;
    for (;;) {
        auto entries = read_dir_entries(dir->get(), 1 << 16);
        if (!entries || entries->empty()) break;
        for (const DirEntry& e : *entries)
            if (e.name.ends_with(".img") || e.name.ends_with(".img.head")) names.push_back(e.name);
    }
    for (const std::string& name : names) {
        const bool head = name.ends_with(".head");
        const std::string image = head ? name.substr(0, name.size() - 5) : name;
        uint64_t value = 0;
        auto [end, ec] = std::from_chars(image.data(), image.data() + image.size() - 4, value);
        if (ec != std::errc() || end != image.data() + image.size() - 4) continue;
        auto job = std::make_shared<Job>();
        job->gpid = Gpid::from_value(value);
        job->self = job->target = config_.self_id;
        job->image_path = images_dir_ + "/" + image;
        job->deputy_program = deputy_program_path();
        job->socket_path = config_.socket_path;
        // A move of ours under way has its own answer coming, or is being rebuilt.
        if (job->gpid.node != config_.self_id || moving_.count(job->gpid.pid)) continue;
        if (!is_deputy(job->gpid.pid, job->deputy_program)) continue;
        // Leaving home, the memory is in the deputy's child; without it there is nothing
        // to rebuild from.
        if (head && !(job->holder = memory_holder_of(job->gpid.pid))) continue;
        const bool parked = asleep_in_pause(job->gpid.pid);
        // A deputy that left home and was never ordered (its agent died after the exec) is
        // ordered home; one whose move goes on answers that it is busy, and is left to it.
        if (!parked && !head) continue;
        auto owner = read_process_identity(job->gpid.pid);
        if (!owner) continue;
        job->owner = *owner;
        job->has_deputy = true;
        moving_.insert(job->gpid.pid);
        if (parked) spdlog::info("migrate: {} was left parked by a move: rebuilding it", job->gpid.str());
        run_in_pool(
            loop_,
            [job, parked] {
                if (!parked) return run(*job);
                job->signals = held_signals(job->image_path, job->owner.uid);
                auto rebuilt = rebuild_in_deputy(*job);
                job->result = rebuilt ? Result<wire::MigrateReply>(wire::MigrateReply{}) : rebuilt.error();
            },
            [this, job, parked] {
                moving_.erase(job->gpid.pid);
                if (!*job->result) {
                    // Ordered home, a deputy whose move goes on says it is busy: left to it.
                    if (!parked) return spdlog::debug("migrate: {}: {}", job->gpid.str(), job->result->error().message());
                    return spdlog::warn("migrate: {}: could not rebuild it: {}", job->gpid.str(),
                                        job->result->error().message());
                }
                runs_.remove_deputy(job->gpid.pid);
                // What it was sent during the move, which the deputy held for it.
                for (int sig : job->signals) (void)send_signal(job->gpid.pid, sig);
                spdlog::info("migrate: {} runs at home again", job->gpid.str());
            });
    }
}

// Any child, not only one asleep in pause(): the holder is born stopped and is parked
// only after the exec, and a scan in between listed it as a second copy of the process
// (prepare() refuses a process with children, so every child of a moving one is the
// move's).
void Migrations::hide_holders(Visibility& visibility) const {
    for (pid_t pid : moving_)
        for (pid_t child : children_of(pid)) visibility.hidden.insert(child);
}

Result<std::shared_ptr<Migrations::Job>> Migrations::prepare(const wire::MigrateRequest& request, uid_t caller_uid) {
    auto job = std::make_shared<Job>();
    job->gpid = Gpid::from_value(request.gpid);
    job->self = config_.self_id;
    const pid_t pid = job->gpid.pid;
    if (pid <= 1 || pid == ::getpid())
        return refused("process " + job->gpid.str() + " cannot migrate (the node's init or its agent)");
    if (moving_.count(pid)) return refused("process " + job->gpid.str() + " is already migrating");
    Visibility seen = runs_.visibility();
    auto away = runs_.deputy_target(pid);  // deputies are hidden too, but they are the process
    if (!away && (seen.hidden.count(pid) || seen.worn.count(pid)))
        return refused("process " + job->gpid.str() + " belongs to a remote run here: migrate it by its home gpid");
    auto uids = read_process_uids(pid);
    if (!uids) return refused("No such process");
    if (!may_signal(caller_uid, *uids)) return refused("Operation not permitted");
    if (!may_inspect(caller_uid, *uids))
        return refused("process " + job->gpid.str() + " runs with another user's ids (set-uid?): only root may move it");
    job->owner = TRY(read_process_identity(pid));
    if (!children_of(pid).empty())
        return refused("process " + job->gpid.str() + " has children: moving a process tree is not supported yet");

    job->has_deputy = away.has_value();
    job->from = away.value_or(config_.self_id);
    job->target = request.target == wire::kMigrateHome ? config_.self_id
                  : request.target == wire::kMigrateAuto ? pick_(job->from)
                                                         : request.target;
    if (job->target == 0) return refused("no other node is up");
    if (job->target == job->from)
        return refused("process " + job->gpid.str() + " already runs on node " + std::to_string(job->from));
    if (job->target != config_.self_id)
        if (auto problem = problem_(job->target)) return refused(*problem);

    TRY(make_dirs(images_dir_, 01733));
    TRY(change_mode(images_dir_, 01733));
    // One migration per process at a time: the name is its gpid (ssi-migrate watches it grow).
    job->image_path = images_dir_ + "/" + job->gpid.str() + ".img";
    (void)unlink_at(AT_FDCWD, job->image_path, 0);
    job->deputy_program = deputy_program_path();
    job->socket_path = config_.socket_path;
    return job;
}

void Migrations::start(const wire::MigrateRequest& request, uid_t caller_uid, Done done) {
    auto prepared = prepare(request, caller_uid);
    if (!prepared) return done(wire::ErrorReply{EINVAL, prepared.error().message()});
    std::shared_ptr<Job> job = *prepared;
    moving_.insert(job->gpid.pid);
    spdlog::info("migrate: {} from node {} to node {}", job->gpid.str(), job->from, job->target);
    run_in_pool(
        loop_, [job] { run(*job); },
        [this, job, done] {
            moving_.erase(job->gpid.pid);
            const Result<wire::MigrateReply>& r = *job->result;
            if (!r) {
                spdlog::warn("migrate: {}: {}", job->gpid.str(), r.error().message());
                // A move that fell back home leaves no deputy behind.
                if (job->fell_back) runs_.remove_deputy(job->gpid.pid);
                return done(wire::ErrorReply{r.error().err ? r.error().err : EIO, r.error().message()});
            }
            if (r->node == config_.self_id) runs_.remove_deputy(job->gpid.pid);
            else runs_.add_deputy(job->gpid.pid, r->node);
            spdlog::info("migrate: {} runs on node {} ({} bytes, frozen {} ms, {} ms in all)", job->gpid.str(), r->node,
                         r->image_bytes, r->frozen_ms, r->total_ms);
            done(*r);
        });
}

// On a pool thread, start to end.
void Migrations::run(Job& job) {
    const pid_t pid = job.gpid.pid;
    const auto started = clock::now();
    uint32_t frozen_here = 0;
    job.result = [&]() -> Result<wire::MigrateReply> {
        if (!job.has_deputy) {
            // Saved while stopped; then, still stopped, it execs its deputy.
            CheckpointOptions options;
            options.after = CheckpointOptions::replace;
            options.migrating = true;
            options.stream_memory = true;  // from the process to the file, no copy in between
            options.replace_argv = {job.deputy_program, "--adopt"};
            options.replace_env = {"SSI_SOCKET=" + job.socket_path, "PATH=/usr/local/bin:/usr/bin:/bin"};
            // Its memory outlives the exec in a holder, the deputy's child: the deputy sends
            // it from there, nothing is written out first.
            options.hold_memory = true;
            options.while_frozen = [&](const ProcessImage& image) { return save_owned_head(image, job); };
            // Which areas have huge pages is read while it still runs: smaps walks every
            // page table (~5 ms at 256 MiB here), and the answer is only advice for the target.
            if (auto huge = huge_page_areas(pid)) options.huge_page_areas = std::move(*huge);
            const auto stopped = clock::now();
            auto saved = checkpoint(pid, options);
            if (!saved) {
                (void)unlink_at(AT_FDCWD, job.image_path + ".head", 0);
                return refused("cannot migrate: " + why_not(saved.error()));
            }
            job.holder = saved->memory_from;
            frozen_here = ms_since(stopped);
            spdlog::info("migrate: {} saved and its deputy in place in {} ms", job.gpid.str(), frozen_here);
            inject_fault(job, "migrate-leave-exec");
        }
        AgentClient deputy = AgentClient::over(TRY(reach_deputy(job.self, pid)), "the deputy of " + job.gpid.str());
        wire::Message reply = TRY(deputy.call(wire::MoveOrder{job.target, job.image_path, job.holder}, kMoveTimeoutMs));
        if (auto* moved = std::get_if<wire::MigrateReply>(&reply)) {
            wire::MigrateReply r = *moved;
            r.frozen_ms += frozen_here;
            r.total_ms = ms_since(started);
            return r;
        }
        const auto parked_at = clock::now();
        auto* parked = std::get_if<wire::DeputyParked>(&reply);
        if (!parked) return refused("the deputy of " + job.gpid.str() + " sent an unexpected reply");
        // The deputy handed the process back: rebuild it in the deputy, from the image.
        inject_fault(job, "migrate-home-rebuild");
        TRY(rebuild_in_deputy(job));
        for (int32_t sig : parked->signals) (void)send_signal(pid, sig);  // sent to it during the move
        job.fell_back = !parked->why.empty();
        if (job.fell_back)
            return refused("could not move " + job.gpid.str() + " to node " + std::to_string(job.target) + " (" +
                           parked->why + "); it continues at home");
        // Stopped where it was (its supervisor and deputy counted) and while rebuilt here;
        // pre-copied, it ran on while its memory came ahead.
        const uint32_t frozen = parked->frozen_ms + ms_since(parked_at);
        return wire::MigrateReply{job.self, parked->image_bytes + parked->precopy_bytes, frozen, ms_since(started),
                                  parked->precopy_bytes};
    }();
}

}  // namespace ssi::agent
