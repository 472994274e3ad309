// The deputy's part in a migration (docs/migration.md). The home agent orders a move on
// the deputy's order socket; the deputy runs it with the supervisors, because it is the
// one that holds the program's home (PID, parent, files) and talks to wherever it runs:
//
//   checkpointing  CheckpointOrder → the old supervisor saves the program into a home
//                  file and ends it; CheckpointDone brings its last output and unread input
//   restoring      a RunRequest with restore_image → the new node's supervisor rebuilds it
//                  in a parked process wearing our PID; RestoreReady when it is whole
//   committing     ResumeOrder: the commit point; Resumed: it runs there. Done.
//
// Leaving home, there is no checkpointing: the agent saved the image's head as it made
// the process exec us, and the memory stays in our child, its holder. The target rebuilds
// the program from the head alone and resumes it at once; its memory follows, read from
// the holder as the target asks for it (post-copy), and the move is done, the holder
// ended, when the target says it has it all.
//
// Home as the target, or a failure before the commit point: the deputy parks (one
// thread, blocked, every signal held) and the home agent rebuilds the process in it, from
// the same image: it continues exactly once, at home, in its own PID.
#include "kern-ext/file_ops.h"
#include "kern-ext/files.h"
#include "kern-ext/input_pushback.h"
#include "kern-ext/pidfd.h"
#include "kern-ext/process.h"
#include "kern-ext/unix_socket.h"
#include "libssi/agent_client.h"
#include "libssi/remote/session.h"
#include "libssi/wire/codec.h"
#include "shell/ssi-run/deputy.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>

namespace ssi::run {
namespace {

using clock = std::chrono::steady_clock;

uint32_t ms_between(clock::time_point from, clock::time_point to) {
    return uint32_t(std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count());
}

}  // namespace

void Deputy::on_order_listener() {
    auto connection = accept_connection(order_listener_.get());
    if (!connection) return;
    // Only root (the home agent) gives orders, and one at a time.
    auto peer = peer_credentials(connection->get());
    if (!peer || peer->uid != 0 || order_connection_) return;
    order_connection_ = std::move(*connection);
    order_reader_ = wire::FrameReader(wire::kMaxMessageBytes);
}

void Deputy::on_order_connection() {
    char buf[4096];
    auto n = read_some(order_connection_.get(), std::span<char>(buf, sizeof buf));
    if (!n || *n == 0) {
        order_connection_.reset();  // the agent went away; a move under way goes on
        return;
    }
    order_reader_.feed(std::span<const char>(buf, *n));
    for (;;) {
        auto frame = order_reader_.next();
        if (!frame || !*frame) {
            if (!frame) order_connection_.reset();
            return;
        }
        auto envelope = wire::decode(**frame);
        if (!envelope) continue;
        order_id_ = envelope->request_id;
        if (auto* order = std::get_if<wire::MoveOrder>(&envelope->body)) on_move_order(*order);
        else reply_order(wire::ErrorReply{EPROTO, "a deputy takes only MoveOrder"});
    }
}

void Deputy::reply_order(const wire::Message& message) {
    if (!order_connection_) return;
    (void)write_all(order_connection_.get(), wire::frame(wire::encode(wire::Envelope{order_id_, message})));
}

void Deputy::on_move_order(const wire::MoveOrder& order) {
    if (move_ != Move::none) return reply_order(wire::ErrorReply{EBUSY, "the process is already moving"});
    if (postcopy_)
        return reply_order(wire::ErrorReply{EBUSY, "the process's memory is still coming to node " + std::to_string(node_)});
    if (node_ != 0 && order.target == node_)
        return reply_order(wire::ErrorReply{EEXIST, "the process already runs on node " + std::to_string(node_)});
    if (order.image_path.empty()) return reply_order(wire::ErrorReply{EINVAL, "no image path"});
    // A held memory is the program's as it left home: once it ran elsewhere, that is past.
    if (order.memory_holder != 0 && node_ != 0)
        return reply_order(wire::ErrorReply{EINVAL, "the memory held at home is from a move that is over"});
    order_ = order;
    move_started_ = clock::now();
    image_path_ = order.image_path;
    images_.serve(image_path_);
    if (node_ == 0) {
        // Adopted: the home agent saved the process's image before we were exec'd; its
        // memory stays in our child, the holder, and is sent from there as it is asked for.
        memory_holder_ = order.memory_holder;
        if (memory_holder_ != 0) {
            auto served = images_.serve_held(image_path_, memory_holder_);
            if (!served) park("its image: " + served.error().message());
            image_bytes_ = *served;
        } else {
            auto st = stat_path(image_path_);
            image_bytes_ = st ? uint64_t(st->st_size) : 0;
        }
        return move_to_target();
    }
    move_ = Move::checkpointing;
    last_heard_ = clock::now();
    precopy_bytes_ = 0, frozen_ms_ = 0;
    // Coming home, the process is rebuilt in us: its memory can come ahead, into ours.
    send_control(wire::CheckpointOrder{image_path_, order.target == self_node_});
}

void Deputy::on_checkpoint_done(const wire::CheckpointDone& done) {
    if (move_ != Move::checkpointing) return;
    if (!done.error.empty()) {
        // Refused or failed before anything changed: the program runs on where it was.
        move_ = Move::none;
        images_.serve("");
        order_.reset();
        return reply_order(wire::ErrorReply{EAGAIN, done.error});
    }
    image_bytes_ = done.bytes;
    precopy_bytes_ = done.precopy_bytes, frozen_ms_ = done.frozen_ms;
    checkpoint_done_at_ = clock::now();
    unread_input_ = done.unread_input + unread_input_;
    send_control(wire::LastWordReceived{});  // that supervisor may leave now
    control_id_.clear();
    move_to_target();
}

void Deputy::move_to_target() {
    const int32_t target = order_->target;
    if (target == self_node_) park("");
    RunOptions options;
    options.node = target;
    options.argv = {"(migrating)"};
    wire::RunRequest request = this->request(options);
    request.restore_image = image_path_;
    request.lazy_memory = memory_holder_ != 0;
    request.terminal.enabled = request.terminal.enabled && tty_;
    auto started = [&]() -> Result<void> {
        AgentClient agent = TRY(AgentClient::connect());
        wire::Message reply = TRY(agent.call(request, 10000));
        if (!std::holds_alternative<wire::RunReply>(reply)) return make_error("the local ssi-agent sent an unexpected reply");
        return ok();
    }();
    if (!started) park("node " + std::to_string(target) + ": " + started.error().message());
    node_ = target;
    move_ = Move::restoring;
    last_heard_ = clock::now();
}

void Deputy::on_session_hello(const std::string& routing_id) {
    control_id_ = routing_id;
    said_foreground_.reset();  // a new supervisor knows nothing yet
    // What the program had not read where it was comes first, then the end of input.
    stdin_sent_ = unread_input_.size(), stdin_taken_ = 0;
    stdin_in_flight_.clear();
    stdin_in_flight_.append(unread_input_);
    output_reported_ = 0;
    if (output_) output_->new_session();
    if (!unread_input_.empty()) send_control(wire::StdinData{std::exchange(unread_input_, {})});
    if (!stdin_open_) send_control(wire::StdinData{});
    if (move_ == Move::none) deliver_early_signals();  // a move delivers them once resumed
}

void Deputy::deliver_early_signals() {
    for (int sig : std::exchange(early_signals_, {})) deliver_signal(sig);
}

void Deputy::on_restore_ready() {
    if (move_ != Move::restoring) return;  // too late: we have moved on; it will discard it
    move_ = Move::committing;
    committed_at_ = clock::now();
    send_control(wire::ResumeOrder{});
}

void Deputy::on_resumed() {
    if (move_ != Move::committing) return;
    auto now = clock::now();
    move_ = Move::none;
    take_terminal();
    deliver_early_signals();  // those that came during the move
    if (memory_holder_ != 0) {
        // It runs there; its memory is on its way from the holder (post-copy), or has
        // all come already.
        postcopy_ = true;
        resumed_at_ = now;
        if (images_.postcopy_done()) on_postcopy_done();
        return;
    }
    images_.serve("");
    (void)unlink_at(AT_FDCWD, image_path_, 0);
    reply_order(wire::MigrateReply{node_, image_bytes_, ms_between(move_started_, now), ms_between(move_started_, now)});
    order_.reset();
}

// The target has all the memory (or the program ended before): the move is over.
void Deputy::on_postcopy_done() {
    if (postcopy_)
        end_postcopy(wire::MigrateReply{node_, image_bytes_, ms_between(move_started_, resumed_at_),
                                        ms_between(move_started_, clock::now())});
}

// The target was lost while the memory was on its way: so is the process, as any
// program on a lost node.
void Deputy::on_postcopy_lost() {
    if (postcopy_)
        end_postcopy(wire::ErrorReply{EIO, "node " + std::to_string(node_) +
                                               " was lost while the process's memory was still on its way there: "
                                               "the process is lost"});
}

// Either way nothing of the move stays at home, and its asker learns how it ended.
void Deputy::end_postcopy(const wire::Message& answer) {
    postcopy_ = false;
    images_.serve("");
    end_memory_holder();
    reply_order(answer);
    order_.reset();
}

// The program runs on its target: the memory it left at home is nobody's now.
void Deputy::end_memory_holder() {
    if (memory_holder_ == 0) return;
    if (auto ended = end_clone_child(std::exchange(memory_holder_, 0)); !ended)
        std::fprintf(stderr, "ssi-run: %s\n", ended.error().message().c_str());
    (void)unlink_at(AT_FDCWD, image_path_ + ".head", 0);
}

// The deputy has heard nothing for the silence limit during a move.
bool Deputy::move_silence_expired() {
    int limit = remote::kSilenceLimitMs;
    // After ResumeOrder the program may be running there: wait until its supervisor, not
    // hearing us either, has surely ended it before the image is resumed here.
    if (move_ == Move::committing) limit += remote::kSilenceLimitMs + 1000;
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - last_heard_).count() > limit;
}

void Deputy::on_move_failed(const std::string& why) {
    if (move_ == Move::checkpointing) {
        // The supervisor went away while saving. A whole image (saved under its final name
        // only when complete) means the program is gone there and continues from it.
        if (auto st = stat_path(image_path_)) {
            image_bytes_ = uint64_t(st->st_size);
            control_id_.clear();
            return move_to_target();
        }
        move_ = Move::none;
        images_.serve("");  // and what it pre-copied into us goes
        reply_order(wire::ErrorReply{EIO, why + " while it saved the process"});
        return;
    }
    park(why.empty() ? "the restore on node " + std::to_string(node_) + " failed" : why);
}

// Hands the process back to the home agent: everything of ours closed but the order
// connection, one thread left, the terminal as the program left it, every signal held.
// The signals sent to it during the move go with the answer: the agent delivers them
// once the process is itself again (the rebuild drops whatever is pending in us).
void Deputy::park(const std::string& why) {
    if (output_) output_->finish();  // its last output out, and one thread left to rebuild
    raw_.reset();
    sigset_t all;
    sigfillset(&all);
    (void)set_signal_mask(SIG_BLOCK, all);
    std::vector<int32_t> signals(early_signals_.begin(), early_signals_.end());
    files_.reset();
    signals_.reset();
    order_listener_.reset();
    try {
        router_.close();
        zap_.close();
        context_.close();  // joins ZeroMQ's threads
    } catch (const zmq::error_t&) {
    }
    // Input we read that the program had not: where its next read at home finds it first.
    if (!unread_input_.empty())
        if (auto back = push_back_input(STDIN_FILENO, unread_input_, PushBack::or_feeder); !back)
            std::fprintf(stderr, "ssi-run: %zu bytes of input the program had not read are lost: %s\n",
                         unread_input_.size(), back.error().message().c_str());
    images_.keep_precopy();  // the rebuild in us keeps what the image says was pre-copied
    // Beside the image too: an agent that starts after ours died rebuilds us from there.
    if (!signals.empty()) {
        std::string list;
        for (int32_t sig : signals) list += std::to_string(sig) + "\n";
        (void)write_file_atomic(image_path_ + ".signals", list, 0600);
    }
    const uint32_t frozen = frozen_ms_ + ms_between(checkpoint_done_at_, clock::now());
    reply_order(wire::DeputyParked{image_path_, image_bytes_, why, std::move(signals), precopy_bytes_, frozen});
    for (;;) ::pause();
}

}  // namespace ssi::run
