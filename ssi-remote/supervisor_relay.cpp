// Supervisor: the run's traffic with its deputy while the program runs — its output and
// input under their windows, the deputy's control messages and signals, the program's
// stops, keepalives and the silence limit (relay()).
#include "ssi-remote/supervisor.h"

#include "kern-ext/files.h"
#include "kern-ext/terminal.h"
#include "libssi/remote/session.h"
#include "libssi/wire/codec.h"

#include <signal.h>

#include <zmq_addon.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>

namespace ssi::remote {
namespace {

using clock = std::chrono::steady_clock;

int ms_since(clock::time_point t) {
    return int(std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - t).count());
}

}  // namespace

// One read of the program's output `stream`, sent on to the deputy as it came (a
// kOutputKind message); false at its end. A big piece is handed to ZeroMQ without a copy.
bool Supervisor::relay_output(int fd, char stream) {
    auto* buf = static_cast<char*>(std::malloc(kOutputChunkBytes));
    if (!buf) return true;  // try again on the next round
    auto n = read_some(fd, std::span<char>(buf, kOutputChunkBytes));
    if (!n || *n == 0) {
        std::free(buf);
        return false;
    }
    output_sent_ += *n;
    zmq::message_t data;
    if (*n < kOutputChunkBytes / 16) {
        data.rebuild(buf, *n);
        std::free(buf);
    } else {
        data.rebuild(buf, *n, [](void* bytes, void*) { std::free(bytes); }, nullptr);
    }
    try {
        control_.send(zmq::buffer(&kOutputKind, 1), zmq::send_flags::sndmore);
        control_.send(zmq::buffer(&stream, 1), zmq::send_flags::sndmore);
        control_.send(data, zmq::send_flags::none);
    } catch (const zmq::error_t&) {
    }
    return true;
}

void Supervisor::on_control() {
    for (;;) {
        std::string payload;
        if (!held_control_.empty()) {
            payload = std::move(held_control_.front());
            held_control_.erase(held_control_.begin());
        } else {
            std::vector<zmq::message_t> frames;
            if (!zmq::recv_multipart(control_, std::back_inserter(frames), zmq::recv_flags::dontwait)) return;
            if (frames.size() != 2 || frames[0].size() != 1 || *frames[0].data<char>() != kControlKind) continue;
            payload = frames[1].to_string();
        }
        auto envelope = wire::decode(payload);
        if (!envelope) continue;
        if (auto* order = std::get_if<wire::CheckpointOrder>(&envelope->body)) {
            checkpoint_order_ = *order;  // relay() acts on it
            continue;
        }
        if (auto* taken = std::get_if<wire::OutputTaken>(&envelope->body)) {
            output_taken_ = std::min(taken->total, output_sent_);
            continue;
        }
        if (auto* in = std::get_if<wire::StdinData>(&envelope->body)) {
            // A terminal has no end of input to pass on (the home one hung up: SIGHUP follows).
            if (in->bytes.empty()) stdin_eof_ = !pty_;
            else stdin_pending_.append(in->bytes), stdin_received_ += in->bytes.size();
        } else if (auto* sig = std::get_if<wire::ForwardSignal>(&envelope->body)) {
            on_signal(sig->signal);
        } else if (auto* child = std::get_if<wire::ChildSignal>(&envelope->body)) {
            // As for the program (on_signal): without a terminal, the kernel here would
            // discard the job stop signals (the group is orphaned); stop the child outright.
            int s = child->signal;
            if (!pty_ && (s == SIGTSTP || s == SIGTTIN || s == SIGTTOU)) s = SIGSTOP;
            if (children_) children_->signal(child->pid, s);
        } else if (auto* fg = std::get_if<wire::TerminalForeground>(&envelope->body)) {
            background_ = !fg->foreground;
            if (!background_) stopped_for_input_ = false;
        } else if (auto* size = std::get_if<wire::WindowSize>(&envelope->body)) {
            // The kernel sends SIGWINCH to the pty's foreground process group.
            if (pty_) (void)set_terminal_size(pty_.get(), {size->rows, size->cols});
        }
    }
}

// The deputy keeps a window of input in flight beyond what the program has taken (written
// into its stdin, or dropped with a closed stdin): tell it each chunk, and when caught up.
void Supervisor::report_input_taken() {
    const uint64_t taken = stdin_received_ - stdin_pending_.size();
    if (taken == stdin_reported_) return;
    if (taken - stdin_reported_ < kChunkBytes && !stdin_pending_.empty()) return;
    stdin_reported_ = taken;
    send_control(wire::StdinTaken{taken});
}

void Supervisor::on_signal(int s) {
    if (!program_) return;
    if (s == SIGCONT) stopped_for_input_ = false;  // `bg`: a read in the background stops it again
    if (pty_) {
        // The program leads the pty's foreground group in a session of its own: the stop
        // signals work as at home, and the stub tells us when it stops (on_program_change).
        // SIGCONT goes to the whole foreground group, which Ctrl-Z stopped as a whole.
        (void)program_->signal(s);
        if (s == SIGCONT) (void)signal_foreground_group(pty_.get(), SIGCONT);
        return;
    }
    // Without a terminal the program's process group has no parent in its session, so the
    // kernel discards the terminal stop signals; stop it outright instead.
    bool job_stop = s == SIGTSTP || s == SIGTTIN || s == SIGTTOU;
    if (job_stop) s = SIGSTOP;
    (void)program_->signal(s);
    // Tell the deputy to stop too (it must not stop before this signal left it).
    if (job_stop) send_control(wire::ForwardSignal{SIGSTOP});
}

// The deputy is a background job at home, and the program reads its terminal here: at
// home the kernel would stop the job with SIGTTIN; so does this one, through the pty (the
// program's pty here is not the home terminal, and here it is in front). Its stop then
// stops the deputy (on_program_change); `fg` at home brings both back.
void Supervisor::stop_background_reader() {
    auto reading = foreground_reads_terminal(pty_.get(), pty_slave_path_);
    if (!reading || !*reading) return;
    // To its process group, as the kernel does (TIOCSIG does not take SIGTTIN).
    auto group = terminal_foreground_group(pty_.get());
    if (group && send_signal(-*group, SIGTTIN)) stopped_for_input_ = true;
}

// The program stopped (Ctrl-Z on its terminal, or any stop signal): its deputy stops too,
// so the home shell shows the job stopped; `fg` there continues both.
void Supervisor::on_program_change() {
    auto change = program_->next_change();
    if (!change || *change == RemoteProcess::Change::ended) {
        watch_changes_ = false;
        return;
    }
    if (!pty_) return;  // without a terminal the stub reports the end only
    if (*change == RemoteProcess::Change::stopped) send_control(wire::ForwardSignal{SIGSTOP});
}

void Supervisor::relay() {
    auto last_heard = clock::now();
    auto last_keepalive = clock::now();
    bool out_open = bool(stdout_), err_open = bool(stderr_), pty_open = bool(pty_);
    // A dropped connection to the deputy (its process died: the kernel closed its socket)
    // shortens the wait: if it does not speak again within kReconnectGraceMs, it is gone.
    int silence_limit = kSilenceLimitMs;
    bool ended = false;
    for (;;) {
        std::vector<zmq::pollitem_t> items = {{control_.handle(), 0, ZMQ_POLLIN, 0},
                                              {nullptr, program_->pidfd(), ZMQ_POLLIN, 0},
                                              {control_monitor_.handle(), 0, ZMQ_POLLIN, 0}};
        size_t out_at = 0, err_at = 0, in_at = 0, pty_at = 0, change_at = 0;
        // Output is read at most a window ahead of what the deputy wrote out; once the
        // program has ended, what is left in its pipes is drained regardless.
        const bool output_room = ended || output_sent_ - output_taken_ < kOutputWindowBytes;
        if (out_open && output_room) out_at = items.size(), items.push_back({nullptr, stdout_.get(), ZMQ_POLLIN, 0});
        if (err_open && output_room) err_at = items.size(), items.push_back({nullptr, stderr_.get(), ZMQ_POLLIN, 0});
        if (stdin_ && !stdin_pending_.empty()) in_at = items.size(), items.push_back({nullptr, stdin_.get(), ZMQ_POLLOUT, 0});
        if (pty_open) {
            short events = (output_room ? ZMQ_POLLIN : 0) | (stdin_pending_.empty() ? 0 : ZMQ_POLLOUT);
            pty_at = items.size(), items.push_back({nullptr, pty_.get(), events, 0});
        }
        if (watch_changes_) change_at = items.size(), items.push_back({nullptr, program_->changes_fd(), ZMQ_POLLIN, 0});
        try {
            // In the background at home, look often for a read of the terminal to stop.
            zmq::poll(items.data(), items.size(), std::chrono::milliseconds(background_ ? 100 : kKeepaliveMs));
        } catch (const zmq::error_t&) {
        }
        if (items[0].revents & ZMQ_POLLIN) {
            last_heard = clock::now();
            silence_limit = kSilenceLimitMs;
            deputy_dropped_ = false;
            on_control();
        }
        if ((items[2].revents & ZMQ_POLLIN) && take_control_drops())
            silence_limit = std::min(silence_limit, ms_since(last_heard) + kReconnectGraceMs);

        for (auto [at, fd, open, stream] : {std::tuple{out_at, stdout_.get(), &out_open, kOutputStdout},
                                            std::tuple{err_at, stderr_.get(), &err_open, kOutputStderr}}) {
            if (at && (items[at].revents & (ZMQ_POLLIN | ZMQ_POLLERR))) *open = relay_output(fd, stream);
        }
        if (in_at && (items[in_at].revents & (ZMQ_POLLOUT | ZMQ_POLLERR))) {
            auto n = write_some(stdin_.get(), stdin_pending_.front());
            if (!n) stdin_.reset(), stdin_pending_.clear();  // the program closed its stdin
            else stdin_pending_.consume(*n);
        }
        if (stdin_ && stdin_eof_ && stdin_pending_.empty()) stdin_.reset();
        if (pty_at && (items[pty_at].revents & (ZMQ_POLLIN | ZMQ_POLLERR))) {
            // EIO once no process has the slave open any more: the terminal's output is over.
            if (!relay_output(pty_.get(), kOutputTerminal)) pty_open = false, stdin_pending_.clear();
        }
        if (pty_open && !stdin_pending_.empty() && (items[pty_at].revents & ZMQ_POLLOUT)) {
            auto n = write_some(pty_.get(), stdin_pending_.front());
            if (!n) stdin_pending_.clear();
            else stdin_pending_.consume(*n);
        }
        // Input for a stdin the program has closed goes nowhere, as the pipe's would.
        if (!stdin_ && !pty_open) stdin_pending_.clear();
        report_input_taken();
        if (change_at && (items[change_at].revents & ZMQ_POLLIN)) on_program_change();
        if (pty_open && background_ && !stopped_for_input_) stop_background_reader();
        if (checkpoint_order_) {
            move_away(*std::exchange(checkpoint_order_, std::nullopt));
            if (moved_away_) return;
        }
        // The program has ended once its stub said so (or its namespace is gone), and its
        // output is drained: what it left running dies with the namespace, closing its
        // copies of the pipes.
        ended = ended || (items[1].revents & ZMQ_POLLIN) != 0 || program_->reported_exit();
        if (ended && !out_open && !err_open && !pty_open) return;
        if (ended) {
            // Drain what is left without waiting on the deputy.
            continue;
        }
        if (ms_since(last_keepalive) >= kKeepaliveMs) {
            send_control(wire::Keepalive{});
            last_keepalive = clock::now();
        }
        if (ms_since(last_heard) > silence_limit) {
            std::fprintf(stderr, "ssi-remote: lost the deputy at %s; ending the program\n", keys_.endpoint.c_str());
            end_program();
            return;
        }
    }
}

// Input the program did not read: what is left in its stdin pipe, then what we had not
// written into it yet. Only once the program is gone (its end, or a move).
std::string Supervisor::take_unread_input() {
    char buf[kChunkBytes];
    std::string unread;
    if (stdin_reader_ && set_nonblocking(stdin_reader_.get())) {
        for (;;) {
            auto n = read_some(stdin_reader_.get(), std::span<char>(buf, sizeof buf));
            if (!n || *n == 0) break;
            unread.append(buf, *n);
        }
    }
    unread += stdin_pending_.front();
    stdin_pending_.clear();
    return unread;
}

}  // namespace ssi::remote
