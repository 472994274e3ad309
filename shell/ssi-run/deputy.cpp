#include "shell/ssi-run/deputy.h"

#include "kern-ext/files.h"
#include "kern-ext/namespaces.h"
#include "kern-ext/pidfd.h"
#include "kern-ext/process.h"
#include "kern-ext/process_state.h"
#include "kern-ext/program_setup.h"
#include "kern-ext/unix_socket.h"
#include "libssi/keys.h"
#include "libssi/remote/image_stream.h"
#include "libssi/remote/session.h"
#include "libssi/wire/codec.h"
#include "libssi/zap.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <zmq_addon.hpp>

#include <cstdio>
#include <cstring>

extern char** environ;

namespace ssi::run {
namespace {

using clock = std::chrono::steady_clock;

// Everything a terminal or a user can send, which the program should get instead of us:
// every signal but SIGKILL and SIGSTOP (the home agent gives those to the program first),
// real-time ones included, and `kill -SEGV` too (a fault of our own is still ours: the
// kernel unblocks what it forces). sigfillset leaves out the two glibc keeps below
// SIGRTMIN. Blocked, they wait for our signalfd; SIGCHLD is read there too, for our own
// children (the stand-ins), and never forwarded.
sigset_t forwarded_signals() {
    sigset_t set;
    sigfillset(&set);
    sigdelset(&set, SIGKILL);
    sigdelset(&set, SIGSTOP);
    return set;
}

// Input read ahead of what the program took: four chunks keep a fast reader fed.
constexpr uint64_t kStdinWindowBytes = 4 * remote::kChunkBytes;

int ms_since(clock::time_point t) {
    return int(std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - t).count());
}

}  // namespace

Result<std::unique_ptr<Deputy>> Deputy::create(const std::string& address, int32_t self_node,
                                               zmq::context_t context) {
    std::unique_ptr<Deputy> d(new Deputy(std::move(context)));
    d->self_node_ = self_node;
    // The program gets the limits we were given. We take all the descriptors we may: the
    // home file server holds one per name the target knows (a listing of thousands).
    d->rlimits_ = current_rlimits();
    for (auto& [resource, limit] : d->rlimits_)
        if (resource == RLIMIT_NOFILE && limit.rlim_cur < limit.rlim_max)
            (void)set_resource_limit(RLIMIT_NOFILE, rlimit{limit.rlim_max, limit.rlim_max});
    uint64_t pid_namespace = TRY(namespace_id(::getpid(), "pid"));
    d->order_listener_ = TRY(listen_abstract(remote::deputy_order_socket(self_node, pid_namespace, ::getpid()), 4));
    KeyPair server = TRY(generate_keypair());
    KeyPair client = TRY(generate_keypair());
    d->server_public_ = server.public_key;
    d->client_public_ = client.public_key;
    d->client_secret_ = client.secret_key;
    auto seal_keys = TRY(remote::server_seal_keys(server.public_key, server.secret_key, client.public_key));
    d->file_links_ = TRY(remote::SealedServer::listen(
        address, seal_keys, wire::kMaxMessageBytes,
        [raw = d.get()](std::string_view request, std::string& reply) { raw->files_->handle(request, reply); }));
    d->sockets_ = std::make_unique<remote::SocketServer>([raw = d.get()](const remote::SocketMessage& m) { raw->send_socket(m); });
    // The target's kernel applies the program's umask; ours would apply it twice.
    d->umask_ = exchange_umask(0);
    try {
        d->zap_ = zmq::socket_t(d->context_, zmq::socket_type::rep);
        d->zap_.bind(kZapEndpoint);
        d->router_ = zmq::socket_t(d->context_, zmq::socket_type::router);
        d->router_.set(zmq::sockopt::linger, 1000);
        d->router_.set(zmq::sockopt::curve_server, true);
        d->router_.set(zmq::sockopt::curve_secretkey, server.secret_key);
        d->router_.set(zmq::sockopt::zap_domain, "ssi-run");
        d->router_.set(zmq::sockopt::maxmsgsize, int64_t(wire::kMaxMessageBytes));
        d->router_.set(zmq::sockopt::sndhwm, 0);
        d->router_.set(zmq::sockopt::rcvhwm, 0);
        d->router_.bind("tcp://" + address + ":*");
        d->endpoint_ = d->router_.get(zmq::sockopt::last_endpoint);
    } catch (const zmq::error_t& e) {
        return Error{"zmq", e.num(), e.what()};
    }
    d->children_ = TRY(ChildDeputies::create());
    const sigset_t set = forwarded_signals();
    TRY(set_signal_mask(SIG_BLOCK, set));
    d->signals_ = TRY(open_signalfd(set));
    // The first of our stdio that is the terminal: the pty's output is shown there.
    d->tty_ = is_terminal(STDIN_FILENO);
    for (int fd : {STDOUT_FILENO, STDERR_FILENO, STDIN_FILENO})
        if (d->tty_ && d->tty_out_ < 0 && is_terminal(fd)) d->tty_out_ = fd;
    for (int fd : {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO})
        if (is_null_device(fd)) d->null_stdio_ |= uint8_t(1u << fd);
    if (d->null_stdio_ & 1) d->stdin_open_ = false;  // its end is the program's own, over there
    return d;
}

wire::RunRequest Deputy::request(const RunOptions& options) const {
    wire::RunRequest r;
    r.target = options.node;
    r.argv = options.argv;
    for (char** e = environ; *e; ++e) r.env.emplace_back(*e);
    r.cwd = current_dir().value_or("/");
    r.umask = umask_;
    for (auto& [resource, limit] : rlimits_)
        r.rlimits.push_back({resource, {uint64_t(limit.rlim_cur), uint64_t(limit.rlim_max)}});
    r.deputy_endpoint = endpoint_;
    r.deputy_files_port = file_links_->port();
    r.deputy_public_key = server_public_;
    r.session_secret_key = client_secret_;
    r.hostname = host_name().value_or("");
    r.null_stdio = null_stdio_;
    if (tty_) {
        wire::TerminalSpec& t = r.terminal;
        t.enabled = true;
        t.stdout_tty = is_terminal(STDOUT_FILENO);
        t.stderr_tty = is_terminal(STDERR_FILENO);
        // The terminal as the program would find it at home: cooked, before our raw mode
        // (which is on when a migrating program moves on).
        auto attributes = raw_ ? Result<termios>(raw_->saved()) : terminal_attributes(STDIN_FILENO);
        if (attributes) {
            t.iflag = attributes->c_iflag;
            t.oflag = attributes->c_oflag;
            t.cflag = attributes->c_cflag;
            t.lflag = attributes->c_lflag;
            t.cc.assign(reinterpret_cast<const char*>(attributes->c_cc), NCCS);
            t.ispeed = uint32_t(cfgetispeed(&*attributes));
            t.ospeed = uint32_t(cfgetospeed(&*attributes));
        }
        if (auto size = terminal_size(STDIN_FILENO)) t.rows = size->rows, t.cols = size->cols;
    }
    return r;
}

void Deputy::send_control(const wire::Message& message) {
    if (control_id_.empty()) return;
    std::string bytes = wire::encode(wire::Envelope{0, message});
    std::array<zmq::const_buffer, 3> frames = {zmq::buffer(control_id_), zmq::buffer(&remote::kControlKind, 1),
                                               zmq::buffer(bytes)};
    try {
        zmq::send_multipart(router_, frames);
    } catch (const zmq::error_t&) {
        // The supervisor is gone; the silence limit will say so.
    }
}

void Deputy::reply_to(const std::string& routing_id, uint64_t request_id, const wire::Message& message) {
    std::string bytes = wire::encode(wire::Envelope{request_id, message});
    std::array<zmq::const_buffer, 3> frames = {zmq::buffer(routing_id), zmq::buffer(&remote::kControlKind, 1),
                                               zmq::buffer(bytes)};
    try {
        zmq::send_multipart(router_, frames);
    } catch (const zmq::error_t&) {
    }
}

// Signals sent at home to the stand-ins of the program's children, for the children.
void Deputy::on_child_signals() {
    for (auto [pid, sig] : children_->take_signals()) send_control(wire::ChildSignal{pid, sig});
}

void Deputy::on_router() {
    for (;;) {
        std::vector<zmq::message_t> frames;
        if (!zmq::recv_multipart(router_, std::back_inserter(frames), zmq::recv_flags::dontwait)) return;
        if (frames.size() < 3 || frames[1].size() != 1) continue;  // not ours: ignore
        last_heard_ = clock::now();
        char kind = *frames[1].data<char>();
        if (kind == remote::kOutputKind) {
            if (frames.size() == 4 && frames[2].size() == 1)
                write_output(*frames[2].data<char>(), std::move(frames[3]),
                             frames[0].to_string_view() == control_id_);
        } else if (frames.size() != 3) {
            continue;
        } else if (kind == remote::kImageKind) {
            const std::string& reply = images_.handle(std::string_view(frames[2].data<char>(), frames[2].size()));
            std::array<zmq::const_buffer, 3> out = {zmq::buffer(frames[0].data(), frames[0].size()),
                                                    zmq::buffer(&remote::kImageKind, 1), zmq::buffer(reply)};
            zmq::send_multipart(router_, out);
            if (images_.postcopy_done()) on_postcopy_done();
        } else if (kind == remote::kControlKind) {
            on_control(frames[0].to_string(), frames[2].to_string());
        } else if (kind == remote::kSocketKind) {
            on_socket_frame(frames[0], frames[2]);
        }
    }
}

void Deputy::on_file_links(const std::vector<remote::SealedServer::Watch>& watches, const zmq::pollitem_t* items) {
    for (size_t i = 0; i < watches.size(); ++i) {
        short r = items[i].revents;
        // zmq_poll reports a hang-up or an error of a plain descriptor as ZMQ_POLLERR.
        if (r) file_links_->on_ready(watches[i].fd, short(((r & ZMQ_POLLIN) ? POLLIN : 0) | ((r & ZMQ_POLLOUT) ? POLLOUT : 0) |
                                                          ((r & ZMQ_POLLERR) ? (POLLHUP | POLLERR) : 0)));
    }
    if (file_links_->requests() != file_requests_) {
        file_requests_ = file_links_->requests();
        last_heard_ = clock::now();
    }
}

void Deputy::on_control(const std::string& routing_id, const std::string& payload) {
    auto envelope = wire::decode(payload);
    if (!envelope) return;
    std::visit(
        [&](auto& msg) {
            using T = std::decay_t<decltype(msg)>;
            if constexpr (std::is_same_v<T, wire::SessionHello>) {
                on_session_hello(routing_id);
            } else if constexpr (std::is_same_v<T, wire::CheckpointDone>) {
                on_checkpoint_done(msg);
            } else if constexpr (std::is_same_v<T, wire::RestoreReady>) {
                on_restore_ready();
            } else if constexpr (std::is_same_v<T, wire::Resumed>) {
                on_resumed();
            } else if constexpr (std::is_same_v<T, wire::ForwardSignal>) {
                // Job control: the program has stopped over there, so its deputy stops here
                // and the shell sees the job stopped; `fg` continues the deputy, and its
                // SIGCONT travels to the program like any other signal.
                if (msg.signal == SIGSTOP) stop_like_program();
            } else if constexpr (std::is_same_v<T, wire::ChildReserve>) {
                // The program forks: a stand-in here holds the child's home PID.
                auto pid = children_->reserve();
                reply_to(routing_id, envelope->request_id,
                         pid ? wire::ChildReserved{*pid, ""} : wire::ChildReserved{0, pid.error().message()});
                children_->refill();  // the next one's, while the program runs
            } else if constexpr (std::is_same_v<T, wire::StdinTaken>) {
                if (routing_id == control_id_ && msg.total <= stdin_sent_ && msg.total > stdin_taken_) {
                    stdin_in_flight_.consume(msg.total - stdin_taken_);
                    stdin_taken_ = msg.total;
                }
            } else if constexpr (std::is_same_v<T, wire::ChildEnded>) {
                children_->ended(msg.pid, msg.wait_status);
            } else if constexpr (std::is_same_v<T, wire::HomeSignal>) {
                // The program's kill(2) of a home process or process group, tgkill(2) of
                // a home thread or sigqueue(3) of a home process, sent as the user (never
                // its own group or everyone: those its own kernel serves).
                int err = EINVAL;
                if (msg.pid > 0 || (msg.pid < -1 && msg.tid == 0 && !msg.queued)) {
                    auto sent = msg.tid > 0 ? send_thread_signal(msg.pid, msg.tid, msg.signal)
                                : msg.queued ? queue_signal(msg.pid, msg.signal, msg.value)
                                             : send_signal(msg.pid, msg.signal);
                    err = sent ? 0 : sent.error().err;
                }
                reply_to(routing_id, envelope->request_id, wire::KillReply{err, {}});
            } else if constexpr (std::is_same_v<T, wire::ProgramExited>) {
                // Its sender may leave now (wire::LastWordReceived says why it waits).
                reply_to(routing_id, envelope->request_id, wire::LastWordReceived{});
                // Before the commit point, an end is a failed restore: the image is whole.
                if (move_ == Move::restoring || move_ == Move::committing) on_move_failed(msg.error);
                else exited_ = msg;
            }
        },
        envelope->body);
}

void Deputy::on_signals() {
    signalfd_siginfo info;
    auto n = read_some(signals_.get(), std::span<char>(reinterpret_cast<char*>(&info), sizeof info));
    if (!n || *n != sizeof info) return;
    take_signal(int(info.ssi_signo));
}

void Deputy::take_signal(int sig) {
    if (sig == SIGCHLD) {
        // A stand-in killed here (kill -9 bypasses it): its child over there goes too.
        for (pid_t pid : children_->reap()) send_control(wire::ChildSignal{pid, SIGKILL});
        return;
    }
    // No program to take it now (not started, or moving: until the commit point it is
    // not known where it will run): it waits.
    if (control_id_.empty() || move_ != Move::none) {
        early_signals_.push_back(sig);
        if (sig == SIGCONT) take_terminal();
        return;
    }
    deliver_signal(sig);
}

void Deputy::deliver_signal(int sig) {
    if (tty_ && sig == SIGWINCH) {
        // The program's pty takes our size; its kernel sends the SIGWINCH.
        if (auto size = terminal_size(STDIN_FILENO)) send_control(wire::WindowSize{size->rows, size->cols});
        return;
    }
    // Continued (`fg` or `bg` at home): the terminal is ours again if we are in front.
    if (sig == SIGCONT) take_terminal();
    send_control(wire::ForwardSignal{sig});
}

Result<void> Deputy::prepare_files() {
    if (!files_) files_ = TRY(remote::HomeFileServer::create("/"));
    return ok();
}

Result<int> Deputy::serve(int32_t node) {
    TRY(prepare_files());
    node_ = node;
    cwd_ = current_dir().value_or("/");
    auto started = clock::now();
    auto last_keepalive = clock::now();
    last_heard_ = clock::now();
    take_terminal();
    const std::string supervisor_key = z85_to_raw(client_public_);  // the only client ZAP admits
    std::vector<zmq::pollitem_t> items;  // kept: one allocation, not one per request
    while (!exited_) {
        items.assign({
            {zap_.handle(), 0, ZMQ_POLLIN, 0},
            {router_.handle(), 0, ZMQ_POLLIN, 0},
            {nullptr, signals_.get(), ZMQ_POLLIN, 0},
            {nullptr, order_listener_.get(), ZMQ_POLLIN, 0},
            {nullptr, children_->signals_fd(), ZMQ_POLLIN, 0},
        });
        size_t order_at = 0, stdin_at = 0, output_at = 0;
        if (output_) output_at = items.size(), items.push_back({nullptr, output_->news_fd(), ZMQ_POLLIN, 0});
        if (order_connection_) order_at = items.size(), items.push_back({nullptr, order_connection_.get(), ZMQ_POLLIN, 0});
        // Input is read only once someone is there to take it, and not while the program moves.
        // At most kStdinWindowBytes ahead of the program: a slow reader leaves the rest in
        // our stdin, not in memory over there, and a move has little unread input to carry.
        bool watch_stdin = stdin_open_ && !control_id_.empty() && move_ == Move::none &&
                           stdin_sent_ - stdin_taken_ < kStdinWindowBytes && (!tty_ || in_foreground(STDIN_FILENO));
        if (watch_stdin) stdin_at = items.size(), items.push_back({nullptr, STDIN_FILENO, ZMQ_POLLIN, 0});
        size_t file_links_at = items.size();
        auto file_watches = file_links_->watches();
        for (const auto& w : file_watches) items.push_back({nullptr, w.fd, short(w.events == POLLOUT ? ZMQ_POLLOUT : ZMQ_POLLIN), 0});
        size_t sockets_at = items.size();
        auto socket_watches = add_socket_watches(items);
        try {
            zmq::poll(items.data(), items.size(), std::chrono::milliseconds(remote::kKeepaliveMs));
        } catch (const zmq::error_t& e) {
            if (e.num() != EINTR) return Error{"zmq_poll", e.num(), {}};
        }
        // zmq_poll looked at both sockets' events last: what it did not report is not there.
        if (items[0].revents & ZMQ_POLLIN)
            serve_zap_requests(zap_, [&](const std::string& key) -> std::optional<std::string> {
                if (key == supervisor_key) return std::string("supervisor");
                return std::nullopt;
            });
        if (items[1].revents & ZMQ_POLLIN) on_router();
        if (items[2].revents & ZMQ_POLLIN) on_signals();
        if (items[3].revents & ZMQ_POLLIN) on_order_listener();
        if (items[4].revents & ZMQ_POLLIN) on_child_signals();
        if (order_at && (items[order_at].revents & (ZMQ_POLLIN | ZMQ_POLLERR))) on_order_connection();
        if (stdin_at && (items[stdin_at].revents & (ZMQ_POLLIN | ZMQ_POLLERR))) on_stdin();
        if (output_at && (items[output_at].revents & ZMQ_POLLIN)) on_output_news();
        on_file_links(file_watches, items.data() + file_links_at);
        on_socket_events(socket_watches, items.data() + sockets_at);
        if (exited_) break;
        if (move_ != Move::none) {
            if (move_silence_expired()) on_move_failed("lost contact with node " + std::to_string(node_));
            if (!control_id_.empty() && ms_since(last_keepalive) >= remote::kKeepaliveMs) {
                send_control(wire::Keepalive{});
                last_keepalive = clock::now();
            }
            continue;
        }
        if (node_ == 0) continue;  // adopted: the program is an image until the agent's order
        if (control_id_.empty()) {
            if (ms_since(started) > remote::kHelloTimeoutMs)
                return make_error("node " + std::to_string(node_) + " never started the program");
            continue;
        }
        if (ms_since(last_keepalive) >= remote::kKeepaliveMs) {
            send_control(wire::Keepalive{});
            last_keepalive = clock::now();
        }
        if (tty_) {
            // A background job reading the terminal must stop there as it would here.
            bool front = in_foreground(STDIN_FILENO);
            if (said_foreground_ != front) send_control(wire::TerminalForeground{front}), said_foreground_ = front;
        }
        if (ms_since(last_heard_) > remote::kSilenceLimitMs) {
            on_postcopy_lost();
            return make_error("lost contact with node " + std::to_string(node_) + "; the program's fate is unknown");
        }
    }
    on_postcopy_done();  // the program ended before all its memory came: the move is over
    if (output_) output_->finish();  // all of it out before our status is
    finish_sockets();
    // The terminal as we found it, before any message or death by signal.
    raw_.reset();
    give_back_input(*exited_);  // a terminal's, once it is cooked again
    // The children went with the program's namespace; so do their stand-ins.
    children_->end_all();
    const wire::ProgramExited& e = *exited_;
    if (!e.error.empty()) std::fprintf(stderr, "ssi-run: %s\n", e.error.c_str());
    if (e.signal > 0) {
        std::fflush(stdout);
        die_of_signal(e.signal);
        return 128 + e.signal;
    }
    return e.exit_code;
}

}  // namespace ssi::run
