#include "libssi/remote/socket_server.h"

#include "kern-ext/files.h"
#include "kern-ext/socket_ops.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <cerrno>

namespace ssi::remote {
namespace {

SocketBytes to_bytes(std::string_view s) { return SocketBytes(s.begin(), s.end()); }
std::span<const char> span_of(const SocketBytes& b) { return {b.data(), b.size()}; }
int err_of(const Error& e) { return e.err ? e.err : EIO; }

}  // namespace

bool SocketServer::acceptable_address(const Sock& s, const SocketBytes& addr) {
    if (s.family != AF_UNIX) return true;  // the kernel judges the rest
    // A Unix socket's name comes absolute: a relative one would resolve against our
    // directory, not the program's, and an abstract one is a name on the target.
    constexpr size_t kPathAt = offsetof(sockaddr_un, sun_path);
    if (addr.size() <= kPathAt || addr.size() > sizeof(sockaddr_un)) return false;
    sa_family_t family;
    std::memcpy(&family, addr.data(), sizeof family);
    return family == AF_UNIX && addr[kPathAt] == '/';
}

SocketServer::Sock* SocketServer::find(uint64_t id) {
    auto it = socks_.find(id);
    return it == socks_.end() ? nullptr : &it->second;
}

void SocketServer::reply(uint64_t call, int err, std::string data) { send_(SockReply{call, err, to_bytes(data)}); }

void SocketServer::handle(std::span<const char> payload) {
    auto message = decode_socket_message(payload);
    if (message) handle(*message);
}

void SocketServer::handle(const SocketMessage& message) {
    std::visit(
        [&](const auto& m) {
            using T = std::decay_t<decltype(m)>;
            if constexpr (std::is_same_v<T, SockOpen>) {
                open(m);
            } else if constexpr (std::is_same_v<T, SockConnect>) {
                connect(m);
            } else if constexpr (std::is_same_v<T, SockBind>) {
                Sock* s = find(m.sock);
                if (!s) return reply(m.call, EBADF);
                if (!acceptable_address(*s, m.addr)) return reply(m.call, EINVAL);
                auto r = bind_socket(s->fd.get(), span_of(m.addr));
                // Our umask is 0 (the target applies the program's to its files); the
                // socket file is made here, so the program's is applied here. Nobody can
                // connect before the listen, so the moment in between is harmless.
                if (r && s->family == AF_UNIX) r = change_mode(m.addr.data() + offsetof(sockaddr_un, sun_path), 0777 & ~m.umask);
                reply(m.call, r ? 0 : err_of(r.error()));
            } else if constexpr (std::is_same_v<T, SockListen>) {
                Sock* s = find(m.sock);
                if (!s) return reply(m.call, EBADF);
                auto r = listen_socket(s->fd.get(), m.backlog);
                if (r) s->state = State::listening;
                reply(m.call, r ? 0 : err_of(r.error()));
            } else if constexpr (std::is_same_v<T, SockName>) {
                Sock* s = find(m.sock);
                if (!s) return reply(m.call, EBADF);
                auto r = m.peer ? peer_name(s->fd.get()) : socket_name(s->fd.get());
                if (!r) return reply(m.call, err_of(r.error()));
                reply(m.call, 0, *r);
            } else if constexpr (std::is_same_v<T, SockSetOpt>) {
                Sock* s = find(m.sock);
                if (!s) return reply(m.call, EBADF);
                auto r = set_socket_option(s->fd.get(), m.level, m.name, span_of(m.value));
                reply(m.call, r ? 0 : err_of(r.error()));
            } else if constexpr (std::is_same_v<T, SockGetOpt>) {
                Sock* s = find(m.sock);
                if (!s) return reply(m.call, EBADF);
                auto r = get_socket_option(s->fd.get(), m.level, m.name, std::min<size_t>(m.size, 1024));
                if (!r) return reply(m.call, err_of(r.error()));
                reply(m.call, 0, *r);
            } else if constexpr (std::is_same_v<T, SockData>) {
                data(m);
            } else if constexpr (std::is_same_v<T, SockAck>) {
                if (Sock* s = find(m.sock)) s->unacked -= std::min(s->unacked, m.bytes);
            } else if constexpr (std::is_same_v<T, SockEof>) {
                Sock* s = find(m.sock);
                if (!s) return;
                s->out_eof = true;
                write_to_network(m.sock, *s);
            } else if constexpr (std::is_same_v<T, SockClose>) {
                Sock* s = find(m.sock);
                if (!s) return;
                s->closing = true;
                s->out_eof = true;
                write_to_network(m.sock, *s);  // closes it once what it holds is sent
            } else if constexpr (std::is_same_v<T, SockTaken>) {
                if (Sock* s = find(m.listener); s && s->unclaimed > 0) --s->unclaimed;
            } else if constexpr (std::is_same_v<T, SockDone>) {
                // The program is gone: only what it sent before it closed is still owed.
                done_ = true;
                std::erase_if(socks_, [](const auto& entry) { return !entry.second.closing || entry.second.out.empty(); });
            }
            // SockReply and SockAccepted are ours to send, never to take.
        },
        message);
}

void SocketServer::open(const SockOpen& m) {
    if (m.sock % 2 == 0 || socks_.count(m.sock)) return reply(m.call, EBADF);
    if (socks_.size() >= kMaxSockets) return reply(m.call, EMFILE);
    // Only streams are carried: TCP, and Unix sockets named in the home filesystem; the
    // supervisor lets anything else stay on the target.
    if ((m.family != AF_INET && m.family != AF_INET6 && m.family != AF_UNIX) || m.type != SOCK_STREAM)
        return reply(m.call, EAFNOSUPPORT);
    auto fd = open_socket(m.family, SOCK_STREAM | SOCK_NONBLOCK, m.protocol);
    if (!fd) return reply(m.call, err_of(fd.error()));
    Sock& s = socks_[m.sock];
    s.fd = std::move(*fd);
    s.family = m.family;
    reply(m.call, 0);
}

void SocketServer::connect(const SockConnect& m) {
    Sock* s = find(m.sock);
    if (!s) return reply(m.call, EBADF);
    if (s->state == State::connecting) return reply(m.call, EALREADY);
    if (!acceptable_address(*s, m.addr)) return reply(m.call, EINVAL);
    auto r = connect_socket(s->fd.get(), span_of(m.addr));
    if (r) {
        s->state = State::connected;
        return reply(m.call, 0);
    }
    if (r.error().err != EINPROGRESS) return reply(m.call, err_of(r.error()));
    s->state = State::connecting;  // on_ready answers once it is decided
    s->connect_call = m.call;
}

void SocketServer::data(const SockData& m) {
    Sock* s = find(m.sock);
    if (!s || s->out_eof) return;
    // A supervisor that ignores the window is cut off rather than let us grow.
    if (s->out.size() + m.bytes.size() > kSocketWindow) {
        send_(SockEof{m.sock, ENOBUFS});
        s->out.clear();
        s->out_eof = s->in_eof = true;
        (void)shutdown_socket(s->fd.get(), SHUT_RDWR);
        return;
    }
    s->out.append(m.bytes);
    write_to_network(m.sock, *s);
}

std::vector<SocketWatch> SocketServer::watches() const {
    std::vector<SocketWatch> out;
    for (const auto& [id, s] : socks_) {
        short events = 0;
        switch (s.state) {
            case State::fresh: break;
            case State::connecting: events = POLLOUT; break;
            case State::listening: events = s.unclaimed < kAcceptAhead ? POLLIN : 0; break;
            case State::connected:
                if (!s.in_eof && !s.closing && s.unacked < kSocketWindow) events |= POLLIN;
                if (!s.out.empty()) events |= POLLOUT;
                break;
        }
        if (events) out.push_back({s.fd.get(), events, id});
    }
    return out;
}

size_t SocketServer::buffered_bytes() const {
    size_t n = 0;
    for (const auto& [id, s] : socks_) n += s.out.size();
    return n;
}

void SocketServer::on_ready(uint64_t id, short revents) {
    Sock* s = find(id);
    if (!s) return;
    switch (s->state) {
        case State::fresh: return;
        case State::connecting: {
            int err = socket_error(s->fd.get()).value_or(EIO);
            s->state = err ? State::fresh : State::connected;
            reply(std::exchange(s->connect_call, 0), err);
            return;
        }
        case State::listening: accept_connections(id, *s); return;
        case State::connected:
            if (revents & POLLOUT) write_to_network(id, *s);
            // Socks may have lost this one (a flushed close).
            if ((s = find(id)) && (revents & (POLLIN | POLLHUP | POLLERR))) read_from_network(id, *s);
            return;
    }
}

void SocketServer::read_from_network(uint64_t id, Sock& s) {
    if (s.in_eof || s.closing) return;
    while (s.unacked < kSocketWindow) {
        size_t room = std::min<size_t>(kSocketChunkBytes, kSocketWindow - s.unacked);
        SocketBytes chunk(room);  // read straight into the message (freed heap is kept: no page faults)
        auto n = receive_some(s.fd.get(), std::span<char>(chunk.data(), room));
        if (!n && n.error().err == EAGAIN) return;
        if (!n || *n == 0) {
            s.in_eof = true;
            send_(SockEof{id, n ? 0 : err_of(n.error())});
            return;
        }
        s.unacked += *n;
        chunk.resize(*n);
        send_(SockData{id, std::move(chunk)});
    }
}

void SocketServer::write_to_network(uint64_t id, Sock& s) {
    size_t sent = 0;
    while (!s.out.empty()) {
        auto n = send_some(s.fd.get(), s.out.front());
        if (!n) {
            // The connection is gone (reset, or the peer closed): nothing more can go.
            sent += s.out.size();
            s.out.clear();
            break;
        }
        if (*n == 0) break;  // full: POLLOUT tells us when to go on
        s.out.consume(*n);
        sent += *n;
    }
    if (sent) send_(SockAck{id, sent});
    if (!s.out.empty()) return;
    if (s.out_eof && !s.shut_down && s.state == State::connected) {
        s.shut_down = true;
        (void)shutdown_socket(s.fd.get(), SHUT_WR);
    }
    if (s.closing) socks_.erase(id);
}

void SocketServer::accept_connections(uint64_t id, Sock& s) {
    while (s.unclaimed < kAcceptAhead && socks_.size() < kMaxSockets) {
        std::string peer;
        auto fd = accept_socket(s.fd.get(), peer);
        if (!fd) return;  // EAGAIN, or an error the next accept will tell
        uint64_t sock = next_accepted_;
        next_accepted_ += 2;
        Sock& c = socks_[sock];
        c.fd = std::move(*fd);
        c.state = State::connected;
        ++s.unclaimed;
        send_(SockAccepted{id, sock, to_bytes(peer)});
    }
}

}  // namespace ssi::remote
