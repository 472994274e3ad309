// The supervisor's part in a migration (docs/migration.md):
//   - arriving: the program's process was launched parked (it already wears the home PID
//     and parent); the image streams from the deputy (image_transfer.h) and is rebuilt in
//     it as it arrives; the deputy is told it is ready and must answer ResumeOrder in
//     time — the commit point — before the process is let go. Any failure before that discards it here, and the
//     deputy resumes the process from the image somewhere else: never two, never none.
//   - leaving: on the deputy's CheckpointOrder, the program is saved, streaming into the
//     deputy's home file, and ended once the image is whole there; its output still in our pipes
//     and the input it has not read go to the deputy before CheckpointDone. Going home,
//     its memory is first pre-copied into the deputy while it runs (precopy.h).
#include "kern-ext/checkpoint/checkpoint.h"
#include "kern-ext/file_ops.h"
#include "kern-ext/files.h"
#include "kern-ext/process.h"
#include "kern-ext/unix_socket.h"
#include "libssi/fault_points.h"
#include "libssi/remote/session.h"
#include "libssi/wire/codec.h"
#include "ssi-remote/image_transfer.h"
#include "ssi-remote/postcopy.h"
#include "ssi-remote/precopy.h"
#include "ssi-remote/supervisor.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <zmq_addon.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace ssi::remote {
namespace {

// While the supervisor's thread is busy saving or rebuilding a large process (seconds),
// a thread of its own tells the deputy we are alive, on a connection of its own (a ZeroMQ
// socket belongs to one thread).
class KeepaliveThread {
public:
    KeepaliveThread(zmq::context_t& context, const SessionKeys& keys) {
        thread_ = std::thread([this, &context, keys] {
            try {
                zmq::socket_t socket = connect_to_deputy(context, keys);
                std::string bytes = wire::encode(wire::Envelope{0, wire::Keepalive{}});
                std::unique_lock lock(mutex_);
                while (!stop_) {
                    std::array<zmq::const_buffer, 2> frames = {zmq::buffer(&kControlKind, 1), zmq::buffer(bytes)};
                    (void)zmq::send_multipart(socket, frames, zmq::send_flags::dontwait);
                    stopping_.wait_for(lock, std::chrono::milliseconds(kKeepaliveMs), [this] { return stop_; });
                }
                socket.set(zmq::sockopt::linger, 0);
            } catch (const zmq::error_t&) {
            }
        });
    }
    // At once: the program waits for the thread that ends us (a restored program's
    // intercepted calls are served only after it).
    ~KeepaliveThread() {
        {
            std::lock_guard lock(mutex_);
            stop_ = true;
        }
        stopping_.notify_one();
        thread_.join();
    }

private:
    std::mutex mutex_;
    std::condition_variable stopping_;
    bool stop_ = false;
    std::thread thread_;
};

}  // namespace

// A fault point (libssi/fault_points.h): the node's agent and this supervisor die right
// here, as if the node had crashed.
void Supervisor::inject_fault(const char* point) const {
    if (runs_dir_.empty() || !take_fault_point(runs_dir_.substr(0, runs_dir_.rfind('/')), point)) return;
    std::fprintf(stderr, "ssi-remote: injected fault at %s: the node's agent and this supervisor die\n", point);
    ::kill(::getppid(), SIGKILL);
    ::raise(SIGKILL);
}

Result<void> Supervisor::restore_program(std::optional<ImageFetch> fetch) {
    // A long rebuild (a whole image arriving) needs its own keepalives; the head alone
    // is rebuilt in milliseconds, where the keepalives' link would only compete.
    std::optional<KeepaliveThread> alive;
    if (!postcopy_) alive.emplace(context_, keys_);
    // Streamed: the memory arrives while the process is rebuilt, straight into it. Or,
    // leaving home, after it resumed (postcopy.h): then only the image's head comes now.
    if (!fetch) fetch = TRY(ImageFetch::open(context_, keys_));
    ProcessImage image = TRY(load_image_streamed(*fetch, "the image at home"));
    inject_fault("migrate-transfer");
    RestoreOptions options;
    options.credentials = RestoreCredentials{spec_.uid, spec_.gid, {spec_.groups.begin(), spec_.groups.end()}};
    options.files = RestoreOptions::Files::reopen;
    options.keep_stdio = true;  // the relays to the deputy, set up by the launch
    options.before_resume = [this] { return wait_for_resume_order(); };
    // Past the commit point, the memory on its way (a piece of the rest came, so the
    // deputy heard Resumed first): the node dying now loses the process.
    if (postcopy_) postcopy_->after_first_piece = [this] { inject_fault("migrate-postcopy"); };
    if (postcopy_)
        options.lazy_memory = [this](LazyMemory memory) {
            return postcopy_->start(std::move(memory), program_->program_pid());
        };
    inject_fault("migrate-restore");
    TRY(restore_into(program_->program_pid(), image, options));
    send_control(wire::Resumed{});
    if (postcopy_) postcopy_->resumed();
    return ok();
}

// The commit point: RestoreReady out, ResumeOrder back within kResumeWaitMs. Anything
// else the deputy sends meanwhile (input, signals) is kept for relay().
Result<void> Supervisor::wait_for_resume_order() {
    inject_fault("migrate-resume");
    send_control(wire::RestoreReady{});
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kResumeWaitMs);
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return make_error("migration", "the deputy did not order the resume in time", ETIMEDOUT);
        zmq::pollitem_t item{control_.handle(), 0, ZMQ_POLLIN, 0};
        try {
            zmq::poll(&item, 1, left);
        } catch (const zmq::error_t& e) {
            if (e.num() != EINTR) return Error{"zmq_poll", e.num(), {}};
        }
        std::vector<zmq::message_t> frames;
        while (zmq::recv_multipart(control_, std::back_inserter(frames), zmq::recv_flags::dontwait)) {
            if (frames.size() == 2 && frames[0].size() == 1 && *frames[0].data<char>() == kControlKind) {
                auto envelope = wire::decode(std::span<const char>(frames[1].data<char>(), frames[1].size()));
                if (envelope && std::holds_alternative<wire::ResumeOrder>(envelope->body)) return ok();
                held_control_.push_back(frames[1].to_string());
            }
            frames.clear();
        }
    }
}

// What the program wrote that we have not relayed yet, sent now; what it did not read,
// returned. Once it was stopped for good (checkpoint's kill: SIGKILL queued while it was
// stopped) it writes nothing more, and it has no children: what it wrote is in the pipes
// already, though their write ends close only when the kernel has freed its memory. (A
// terminal's is read once the program is gone: move_away.)
std::string Supervisor::drain_program_output() {
    for (auto [fd, stream] : {std::pair{stdout_.get(), kOutputStdout}, std::pair{stderr_.get(), kOutputStderr},
                              std::pair{pty_.get(), kOutputTerminal}}) {
        if (fd < 0) continue;
        while (wait_readable(fd, fd == pty_.get() ? 1000 : 0).value_or(false) && relay_output(fd, stream)) {
        }
    }
    return take_unread_input();
}

void Supervisor::move_away(const wire::CheckpointOrder& order) {
    const std::string pid = std::to_string(program_->program_pid());
    if (auto children = read_file("/proc/" + pid + "/task/" + pid + "/children");
        children && children->find_first_not_of(" \n") != std::string::npos) {
        send_control(wire::CheckpointDone{0, "the process has children here: moving a process tree is not supported yet", {}});
        return;
    }
    KeepaliveThread alive(context_, keys_);
    // Its memory all here first, if it came after it (postcopy.h): the image is read from it.
    if (postcopy_) postcopy_->wait();
    // What the checkpoint would refuse is refused before anything is sent.
    if (auto refused = checkpointable(program_->program_pid(), true); !refused) {
        send_control(wire::CheckpointDone{0, "cannot migrate: " + why_not(refused.error()), {}});
        return;
    }
    // Home is the target: its memory goes ahead while it runs (precopy.h).
    Precopied precopied;
    if (order.precopy) {
        auto sent = precopy_to_deputy(context_, keys_, program_->program_pid());
        if (!sent) {
            send_control(wire::CheckpointDone{0, "cannot migrate: the pre-copy failed: " + sent.error().message(), {}});
            return;
        }
        precopied = std::move(*sent);
        std::fprintf(stderr, "ssi-remote: pre-copied %.1f MiB home in %u ms, %d rounds after the first\n",
                     double(precopied.bytes) / (1 << 20), precopied.ms, precopied.rounds);
    }
    CheckpointOptions options;
    options.after = CheckpointOptions::kill;
    options.migrating = true;
    options.stream_memory = true;
    options.precopied = precopied.tracker ? &*precopied.tracker : nullptr;
    if (precopied.tracker) options.huge_page_areas = std::move(precopied.huge_page_areas);
    uint64_t bytes = 0;
    options.while_frozen = [&](const ProcessImage& image) -> Result<void> {
        // Read from the stopped process as it goes; on the pre-copy's link, if one was made.
        bytes = TRY(send_image(context_, keys_, image, precopied.link ? &precopied.link : nullptr));
        return ok();
    };
    const auto frozen_from = std::chrono::steady_clock::now();
    auto saved = checkpoint(program_->program_pid(), options);
    if (!saved) {
        send_control(wire::CheckpointDone{0, "cannot migrate: " + why_not(saved.error()), {}});
        return;
    }
    // Killed once its image was whole: its last output goes, then the news; the deputy
    // need not wait for the kernel to free its memory here. A terminal's output passes
    // through the kernel's own queue (flushed by a worker, a moment later): there we wait
    // for the end, after which the master reads everything and then EOF.
    if (pty_) (void)program_->wait();
    std::string unread = drain_program_output();
    moved_away_ = true;
    const auto frozen = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - frozen_from);
    send_control(wire::CheckpointDone{bytes, {}, std::move(unread), precopied.bytes, uint32_t(frozen.count())});
    (void)program_->wait();  // its namespace ends
}

}  // namespace ssi::remote
