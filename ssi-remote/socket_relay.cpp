#include "ssi-remote/socket_relay.h"

#include "kern-ext/files.h"
#include "kern-ext/socket_ops.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace ssi::remote {
namespace {

SocketBytes to_bytes(std::string_view s) { return SocketBytes(s.begin(), s.end()); }
int err_of(const Error& e) { return e.err ? e.err : EIO; }

std::string int_bytes(int value) { return std::string(reinterpret_cast<const char*>(&value), sizeof value); }

}  // namespace

SocketRelay::Relayed* SocketRelay::find_sock(uint64_t id) {
    auto it = socks_.find(id);
    return it == socks_.end() ? nullptr : &it->second;
}

std::optional<uint64_t> SocketRelay::find(ino_t inode) const {
    for (const auto& [id, r] : socks_)
        if (r.inode == inode) return id;
    return std::nullopt;
}

uint64_t SocketRelay::call(const SocketMessage& message, DoneBytes done) {
    uint64_t c = next_call_++;
    SocketMessage m = message;
    std::visit(
        [&](auto& body) {
            if constexpr (requires { body.call; }) body.call = c;
        },
        m);
    calls_[c] = std::move(done);
    send_(m);
    return c;
}

size_t SocketRelay::buffered_bytes() const {
    size_t n = 0;
    for (const auto& [id, r] : socks_) n += r.to_program.size();
    return n;
}

void SocketRelay::open(int family, int type, int protocol, DoneOpen done) {
    uint64_t id = next_sock_;
    next_sock_ += 2;
    bool nonblocking = type & SOCK_NONBLOCK;
    int base_type = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    call(SockOpen{0, id, family, base_type, protocol}, [this, id, nonblocking, done](int err, std::string) {
        if (err) return done(err, {});
        auto made = [&]() -> Result<Opened> {
            auto [ours, theirs] = TRY(make_stream_pair());
            TRY(set_blocking_mode(ours.get(), true));
            if (nonblocking) TRY(set_blocking_mode(theirs.get(), true));
            Relayed& r = socks_[id];
            r.inode = TRY(fd_inode(theirs.get()));
            r.end = std::move(ours);
            return Opened{id, std::move(theirs)};
        }();
        if (!made) {
            socks_.erase(id);
            send_(SockClose{id});
            return done(err_of(made.error()), {});
        }
        done(0, std::move(*made));
    });
}

void SocketRelay::connect(uint64_t id, std::string addr, bool nonblocking, Done done) {
    Relayed* r = find_sock(id);
    if (!r) return done(EBADF);
    if (r->state == State::connecting) return done(EALREADY);
    if (r->state == State::connected || r->state == State::listening) return done(EISCONN);  // as Linux says
    r->state = State::connecting;
    call(SockConnect{0, id, to_bytes(addr)}, [this, id, nonblocking, done](int err, std::string) {
        Relayed* r = find_sock(id);
        if (!r) return;
        r->state = err ? (nonblocking ? State::failed : State::fresh) : State::connected;
        // A blocking connect returns its error; a non-blocking one leaves it for SO_ERROR,
        // and its end reads as ended (a program that does not look still stops).
        r->connect_error = nonblocking ? err : 0;
        if (err && nonblocking) (void)shutdown_socket(r->end.get(), SHUT_WR);
        for (auto& waiter : std::exchange(r->on_connected, {})) waiter();
        if (!nonblocking) done(err);
    });
    if (nonblocking) done(EINPROGRESS);
}

void SocketRelay::bind(uint64_t id, std::string addr, mode_t umask, Done done) {
    if (!find_sock(id)) return done(EBADF);
    call(SockBind{0, id, to_bytes(addr), uint32_t(umask)}, [done](int err, std::string) { done(err); });
}

void SocketRelay::listen(uint64_t id, int backlog, Done done) {
    if (!find_sock(id)) return done(EBADF);
    call(SockListen{0, id, backlog}, [this, id, done](int err, std::string) {
        if (Relayed* r = find_sock(id); r && !err) r->state = State::listening;
        done(err);
    });
}

void SocketRelay::name(uint64_t id, bool peer, DoneBytes done) {
    if (!find_sock(id)) return done(EBADF, {});
    call(SockName{0, id, peer}, std::move(done));
}

void SocketRelay::set_option(uint64_t id, int level, int name, std::string value, Done done) {
    if (!find_sock(id)) return done(EBADF);
    call(SockSetOpt{0, id, level, name, to_bytes(value)}, [done](int err, std::string) { done(err); });
}

void SocketRelay::get_option(uint64_t id, int level, int name, uint32_t size, DoneBytes done) {
    Relayed* r = find_sock(id);
    if (!r) return done(EBADF, {});
    if (level == SOL_SOCKET && name == SO_ERROR) {
        // The outcome of a non-blocking connect: wait for it if it is not known yet.
        auto answer = [this, id, done] {
            Relayed* r = find_sock(id);
            done(0, int_bytes(r ? std::exchange(r->connect_error, 0) : 0));
        };
        if (r->state == State::connecting) r->on_connected.push_back(answer);
        else answer();
        return;
    }
    call(SockGetOpt{0, id, level, name, size}, std::move(done));
}

void SocketRelay::accept(uint64_t id, UniqueFd program_listener, bool nonblocking, DoneAccept done,
                         std::function<bool()> wanted) {
    Relayed* l = find_sock(id);
    if (!l || l->state != State::listening) return done(EINVAL, {});
    if (l->ready.empty() && nonblocking) return done(EAGAIN, {});
    l->waiting.push_back({std::move(program_listener), std::move(done), std::move(wanted)});
    serve_accepts(id, *l);
}

void SocketRelay::prune_waiters() {
    for (auto& [id, r] : socks_)
        std::erase_if(r.waiting, [](const Relayed::Waiter& w) { return w.wanted && !w.wanted(); });
}

void SocketRelay::serve_accepts(uint64_t id, Relayed& l) {
    while (!l.ready.empty() && !l.waiting.empty()) {
        Relayed::Waiter w = std::move(l.waiting.front());
        l.waiting.pop_front();
        if (w.wanted && !w.wanted()) continue;  // its call has gone (a signal, its end)
        Accepted a = std::move(l.ready.front());
        l.ready.pop_front();
        char byte;
        (void)receive_some(w.program_listener.get(), std::span<char>(&byte, 1));  // one less waiting
        size_t before = l.ready.size();
        w.done(0, std::move(a));
        // Taken, unless the caller could not hand it over and gave it back.
        if (l.ready.size() == before) send_(SockTaken{id});
    }
}

void SocketRelay::give_back(uint64_t listener, Accepted accepted) {
    Relayed* l = find_sock(listener);
    if (!l) return;  // the listener is gone; so is the connection (its end closes)
    (void)send_some(l->end.get(), std::string_view("a", 1));
    l->ready.push_front(std::move(accepted));
}

void SocketRelay::on_accepted(const SockAccepted& m) {
    Relayed* l = find_sock(m.listener);
    auto made = [&]() -> Result<std::pair<UniqueFd, UniqueFd>> {
        auto pair = TRY(make_stream_pair());
        TRY(set_blocking_mode(pair.first.get(), true));
        return pair;
    }();
    if (!l || l->state != State::listening || !made) {
        send_(SockClose{m.sock});
        return;
    }
    auto& [ours, theirs] = *made;
    Relayed& c = socks_[m.sock];
    c.inode = fd_inode(theirs.get()).value_or(0);
    c.end = std::move(ours);
    c.state = State::connected;
    // The program's listener reads as readable while connections wait: a byte each.
    (void)send_some(l->end.get(), std::string_view("a", 1));
    l->ready.push_back(Accepted{m.sock, std::move(theirs), std::string(m.peer.begin(), m.peer.end())});
    serve_accepts(m.listener, *l);
}

void SocketRelay::handle(std::span<const char> payload) {
    auto message = decode_socket_message(payload);
    if (message) handle(*message);
}

void SocketRelay::handle(const SocketMessage& message) {
    std::visit(
        [&](const auto& m) {
            using T = std::decay_t<decltype(m)>;
            if constexpr (std::is_same_v<T, SockReply>) {
                auto it = calls_.find(m.call);
                if (it == calls_.end()) return;
                DoneBytes done = std::move(it->second);
                calls_.erase(it);
                done(m.err, std::string(m.data.begin(), m.data.end()));
            } else if constexpr (std::is_same_v<T, SockAccepted>) {
                on_accepted(m);
            } else if constexpr (std::is_same_v<T, SockData>) {
                Relayed* r = find_sock(m.sock);
                if (!r || r->home_eof) return;
                if (r->to_program.size() + m.bytes.size() > kSocketWindow) {  // home ignored the window
                    r->home_eof = true, r->home_error = ENOBUFS;
                    r->to_program.clear();
                } else {
                    r->to_program.append(m.bytes);
                }
                write_to_program(m.sock, *r);
            } else if constexpr (std::is_same_v<T, SockAck>) {
                if (Relayed* r = find_sock(m.sock)) r->unacked -= std::min(r->unacked, m.bytes);
            } else if constexpr (std::is_same_v<T, SockEof>) {
                Relayed* r = find_sock(m.sock);
                if (!r) return;
                r->home_eof = true;
                r->home_error = m.err;
                write_to_program(m.sock, *r);
            }
            // The rest are ours to send.
        },
        message);
}

std::vector<SocketWatch> SocketRelay::watches() const {
    std::vector<SocketWatch> out;
    for (const auto& [id, r] : socks_) {
        short events = 0;
        if (r.state == State::connected) {
            if (!r.program_eof && r.unacked < kSocketWindow) events |= POLLIN;
            if (!r.to_program.empty()) events |= POLLOUT;
        }
        // With no events, still watched for the program's close (POLLHUP), unless it has
        // hung up already and only waits for room to read the rest.
        if (events || !r.hung_up) out.push_back({r.end.get(), events, id});
    }
    return out;
}

void SocketRelay::on_ready(uint64_t id, short revents) {
    Relayed* r = find_sock(id);
    if (!r) return;
    if (revents & POLLHUP) r->hung_up = true;
    if (r->state == State::connected) {
        if (revents & POLLOUT) write_to_program(id, *r);
        if (revents & (POLLIN | POLLHUP | POLLERR)) read_from_program(id, *r);
        // Closed (or shut down both ways): gone once what it sent is read.
        if ((revents & POLLHUP) && r->program_eof) close(id);
        return;
    }
    if (revents & POLLHUP) close(id);  // the program closed a socket that never connected, or a listener
}

void SocketRelay::read_from_program(uint64_t id, Relayed& r) {
    while (!r.program_eof && r.unacked < kSocketWindow) {
        size_t room = std::min<size_t>(kSocketChunkBytes, kSocketWindow - r.unacked);
        SocketBytes chunk(room);  // read straight into the message (freed heap is kept: no page faults)
        auto n = receive_some(r.end.get(), std::span<char>(chunk.data(), room));
        if (!n && n.error().err == EAGAIN) return;
        if (!n || *n == 0) {
            r.program_eof = true;
            send_(SockEof{id, 0});
            return;
        }
        r.unacked += *n;
        chunk.resize(*n);
        send_(SockData{id, std::move(chunk)});
    }
}

void SocketRelay::write_to_program(uint64_t id, Relayed& r) {
    size_t sent = 0;
    while (!r.to_program.empty()) {
        auto n = send_some(r.end.get(), r.to_program.front());
        if (!n) {  // the program closed it: nobody will read this
            sent += r.to_program.size();
            r.to_program.clear();
            break;
        }
        if (*n == 0) break;
        r.to_program.consume(*n);
        sent += *n;
    }
    if (sent) send_(SockAck{id, sent});
    if (r.to_program.empty() && r.home_eof && !r.shut_down) {
        r.shut_down = true;
        (void)shutdown_socket(r.end.get(), SHUT_WR);
    }
}

void SocketRelay::close(uint64_t id) {
    auto it = socks_.find(id);
    if (it == socks_.end()) return;
    Relayed r = std::move(it->second);
    socks_.erase(it);
    send_(SockClose{id});
    for (auto& w : r.waiting) w.done(EBADF, {});
    // Connections the program never took end with the listener (their ends close here).
    for (auto& a : r.ready) {
        if (Relayed* c = find_sock(a.sock)) c->inode = 0;
        a.end.reset();
    }
}

}  // namespace ssi::remote
