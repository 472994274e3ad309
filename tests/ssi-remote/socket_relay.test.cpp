// ssi-remote/socket_relay and libssi/remote/socket_server together: the supervisor's relay
// and the deputy's socket server, wired back to back through encoded messages (as over the
// session link), carry real TCP connections on loopback: both directions with checksums,
// end of stream each way, refusals, listening and accepting, and the window that keeps
// both sides bounded while a reader does not read.
#include "ssi-remote/socket_relay.h"

#include "kern-ext/files.h"
#include "kern-ext/socket_ops.h"
#include "libssi/remote/socket_server.h"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <deque>
#include <random>

using namespace ssi;
using namespace ssi::remote;

namespace {

UniqueFd try_accept(int listener, std::string& peer) {
    auto fd = accept_socket(listener, peer);
    return fd ? std::move(*fd) : UniqueFd();
}

struct Harness {
    std::deque<std::string> to_server, to_relay;
    SocketServer server{[this](const SocketMessage& m) { to_relay.push_back(encode_socket_message(m)); }};
    SocketRelay relay{[this](const SocketMessage& m) { to_server.push_back(encode_socket_message(m)); }};
    size_t most_buffered = 0;

    void deliver() {
        while (!to_server.empty() || !to_relay.empty()) {
            while (!to_server.empty()) {
                std::string m = std::move(to_server.front());
                to_server.pop_front();
                server.handle(std::span<const char>(m.data(), m.size()));
            }
            while (!to_relay.empty()) {
                std::string m = std::move(to_relay.front());
                to_relay.pop_front();
                relay.handle(std::span<const char>(m.data(), m.size()));
            }
        }
    }

    // One round of the two loops; the revents of `extra` (the test's own descriptors).
    std::vector<short> pump(int timeout_ms, std::vector<pollfd> extra = {}) {
        deliver();
        auto sw = server.watches();
        auto rw = relay.watches();
        std::vector<pollfd> fds;
        for (auto& w : sw) fds.push_back({w.fd, w.events, 0});
        for (auto& w : rw) fds.push_back({w.fd, w.events, 0});
        for (auto& e : extra) fds.push_back(e);
        REQUIRE(::poll(fds.data(), fds.size(), timeout_ms) >= 0);
        for (size_t i = 0; i < sw.size(); ++i)
            if (fds[i].revents) server.on_ready(sw[i].sock, fds[i].revents);
        for (size_t i = 0; i < rw.size(); ++i)
            if (fds[sw.size() + i].revents) relay.on_ready(rw[i].sock, fds[sw.size() + i].revents);
        deliver();
        most_buffered = std::max({most_buffered, server.buffered_bytes(), relay.buffered_bytes()});
        std::vector<short> out;
        for (size_t i = sw.size() + rw.size(); i < fds.size(); ++i) out.push_back(fds[i].revents);
        return out;
    }

    template <class Pred>
    void until(Pred done, int limit_ms = 5000) {
        auto start = std::chrono::steady_clock::now();
        while (!done()) {
            REQUIRE(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(limit_ms));
            pump(10);
        }
    }

    SocketRelay::Opened open(int family = AF_INET) {
        int err = -1;
        SocketRelay::Opened opened;
        relay.open(family, SOCK_STREAM, 0, [&](int e, SocketRelay::Opened o) { err = e, opened = std::move(o); });
        until([&] { return err != -1; });
        REQUIRE(err == 0);
        return opened;
    }

    int connect(uint64_t sock, const std::string& addr) {
        int err = -1;
        relay.connect(sock, addr, false, [&](int e) { err = e; });
        until([&] { return err != -1; });
        return err;
    }
};

std::string loopback(uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return std::string(reinterpret_cast<const char*>(&a), sizeof a);
}

std::string unix_name(const std::string& path) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    path.copy(a.sun_path, sizeof a.sun_path - 1);
    return std::string(reinterpret_cast<const char*>(&a), offsetof(sockaddr_un, sun_path) + path.size() + 1);
}

uint16_t port_of(const std::string& addr) { return ntohs(reinterpret_cast<const sockaddr_in*>(addr.data())->sin_port); }

// A listener "somewhere at home" for the program to reach.
UniqueFd home_listener() {
    UniqueFd l = open_socket(AF_INET, SOCK_STREAM, 0).value();
    REQUIRE(bind_socket(l.get(), loopback(0)));
    REQUIRE(listen_socket(l.get(), 8));
    return l;
}

std::string random_bytes(size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::string s(n, '\0');
    for (auto& c : s) c = char(rng());
    return s;
}

// Moves `out` into `fd` and reads `fd` into `in` without blocking; shuts `fd` for writing
// once `out` is all sent. Returns true once `fd` has read its end of stream.
bool exchange(int fd, std::string_view& out, bool& shut, std::string& in, bool& eof) {
    if (!out.empty()) {
        auto n = send_some(fd, out.substr(0, 65536));
        REQUIRE(n.ok());
        out.remove_prefix(*n);
    }
    if (out.empty() && !shut) shut = shutdown_socket(fd, SHUT_WR).ok();
    char buf[65536];
    while (!eof) {
        auto n = receive_some(fd, std::span<char>(buf, sizeof buf));
        if (!n) break;  // EAGAIN
        if (*n == 0) eof = true;
        in.append(buf, *n);
    }
    return eof;
}

}  // namespace

TEST_CASE("socket relay: a connection made at home carries bytes both ways, and its end", "[remote][sockets]") {
    Harness h;
    UniqueFd listener = home_listener();
    std::string addr = socket_name(listener.get()).value();
    auto opened = h.open();
    CHECK(h.relay.find(fd_inode(opened.end.get()).value()) == opened.sock);
    REQUIRE(h.connect(opened.sock, addr) == 0);
    std::string peer_addr;
    UniqueFd peer;
    h.until([&] { return bool(peer = try_accept(listener.get(), peer_addr)); });
    // The home socket's name is the peer's peer.
    std::string name;
    h.relay.name(opened.sock, false, [&](int err, std::string a) { REQUIRE(err == 0); name = a; });
    h.until([&] { return !name.empty(); });
    CHECK(port_of(name) == port_of(peer_addr));

    REQUIRE(set_blocking_mode(opened.end.get(), true));
    const std::string up = random_bytes(6 << 20, 1), down = random_bytes(5 << 20, 2);
    std::string_view up_left = up, down_left = down;
    std::string got_up, got_down;
    bool up_shut = false, down_shut = false, up_eof = false, down_eof = false;
    auto start = std::chrono::steady_clock::now();
    while (!(up_eof && down_eof)) {
        REQUIRE(std::chrono::steady_clock::now() - start < std::chrono::seconds(20));
        h.pump(5, {{opened.end.get(), POLLIN | POLLOUT, 0}, {peer.get(), POLLIN | POLLOUT, 0}});
        exchange(opened.end.get(), up_left, up_shut, got_down, down_eof);
        exchange(peer.get(), down_left, down_shut, got_up, up_eof);
    }
    CHECK(got_up == up);
    CHECK(got_down == down);
    CHECK(h.most_buffered <= kSocketWindow);
    // The program closes: the home socket goes too.
    opened.end.reset();
    h.until([&] { return h.server.socket_count() == 0 && h.relay.socket_count() == 0; });
}

TEST_CASE("socket relay: a fast sender is slowed, not buffered without bound", "[remote][sockets]") {
    Harness h;
    UniqueFd listener = home_listener();
    auto opened = h.open();
    REQUIRE(h.connect(opened.sock, socket_name(listener.get()).value()) == 0);
    std::string ignored;
    UniqueFd peer;
    h.until([&] { return bool(peer = try_accept(listener.get(), ignored)); });
    REQUIRE(set_blocking_mode(opened.end.get(), true));
    // The peer reads nothing while the program writes as fast as it can.
    const std::string block(1 << 20, 'x');
    size_t written = 0;
    for (int round = 0; round < 200; ++round) {
        h.pump(2);
        written += send_some(opened.end.get(), block).value();
    }
    CHECK(written < 64u << 20);  // it stalled: socket buffers and one window, no more
    CHECK(h.server.buffered_bytes() <= kSocketWindow);
    CHECK(h.relay.buffered_bytes() <= kSocketWindow);
    // Once the peer reads, everything arrives.
    opened.end.reset();
    size_t read = 0;
    bool eof = false;
    char buf[65536];
    h.until([&] {
        h.pump(1, {{peer.get(), POLLIN, 0}});
        while (auto n = receive_some(peer.get(), std::span<char>(buf, sizeof buf))) {
            if (*n == 0) eof = true;
            read += *n;
            if (*n == 0) break;
        }
        return eof;
    }, 20000);
    CHECK(read == written);
}

TEST_CASE("socket relay: refusals are the home kernel's", "[remote][sockets]") {
    Harness h;
    uint16_t closed_port = 0;
    {
        UniqueFd l = home_listener();
        closed_port = port_of(socket_name(l.get()).value());
    }
    auto blocking = h.open();
    CHECK(h.connect(blocking.sock, loopback(closed_port)) == ECONNREFUSED);

    // Non-blocking: EINPROGRESS now, the outcome in SO_ERROR.
    auto nb = h.open();
    int err = -1;
    h.relay.connect(nb.sock, loopback(closed_port), true, [&](int e) { err = e; });
    CHECK(err == EINPROGRESS);
    std::string so_error;
    h.relay.get_option(nb.sock, SOL_SOCKET, SO_ERROR, 4, [&](int e, std::string v) { REQUIRE(e == 0); so_error = v; });
    h.until([&] { return !so_error.empty(); });
    int value = 0;
    std::memcpy(&value, so_error.data(), sizeof value);
    CHECK(value == ECONNREFUSED);

    // A privileged or taken address is refused at bind, as at home.
    auto taken = h.open();
    UniqueFd busy = home_listener();
    int bind_err = -1;
    h.relay.bind(taken.sock, socket_name(busy.get()).value(), 022, [&](int e) { bind_err = e; });
    h.until([&] { return bind_err != -1; });
    CHECK(bind_err == EADDRINUSE);
}

TEST_CASE("socket relay: a port listened on at home accepts into the program", "[remote][sockets]") {
    Harness h;
    auto l = h.open();
    int err = -1;
    h.relay.set_option(l.sock, SOL_SOCKET, SO_REUSEADDR, std::string("\1\0\0\0", 4), [&](int e) { err = e; });
    h.until([&] { return err != -1; });
    CHECK(err == 0);
    err = -1;
    h.relay.bind(l.sock, loopback(0), 022, [&](int e) { err = e; });
    h.until([&] { return err != -1; });
    REQUIRE(err == 0);
    err = -1;
    h.relay.listen(l.sock, 16, [&](int e) { err = e; });
    h.until([&] { return err != -1; });
    REQUIRE(err == 0);
    std::string name;
    h.relay.name(l.sock, false, [&](int, std::string a) { name = a; });
    h.until([&] { return !name.empty(); });

    // Nothing to accept yet: a non-blocking accept says so, and the listener is not readable.
    auto copy = [&] { return duplicate_fd_cloexec(l.end.get()).value(); };
    int accept_err = -1;
    h.relay.accept(l.sock, copy(), true, [&](int e, SocketRelay::Accepted) { accept_err = e; });
    CHECK(accept_err == EAGAIN);
    CHECK(h.pump(0, {{l.end.get(), POLLIN, 0}})[0] == 0);

    // A client connects to the home port: the program's listener becomes readable.
    UniqueFd client = open_socket(AF_INET, SOCK_STREAM, 0).value();
    REQUIRE(connect_socket(client.get(), name));
    h.until([&] { return h.pump(10, {{l.end.get(), POLLIN, 0}})[0] & POLLIN; });
    SocketRelay::Accepted got;
    h.relay.accept(l.sock, copy(), true, [&](int e, SocketRelay::Accepted a) { REQUIRE(e == 0); got = std::move(a); });
    REQUIRE(got.end);
    CHECK(port_of(got.peer) == port_of(socket_name(client.get()).value()));
    CHECK(h.pump(0, {{l.end.get(), POLLIN, 0}})[0] == 0);  // drained again

    REQUIRE(write_all(client.get(), std::string_view("ping")));
    REQUIRE(shutdown_socket(client.get(), SHUT_WR));
    REQUIRE(set_blocking_mode(got.end.get(), true));
    std::string in;
    char buf[16];
    h.until([&] {
        h.pump(10, {{got.end.get(), POLLIN, 0}});
        auto n = receive_some(got.end.get(), std::span<char>(buf, sizeof buf));
        if (n && *n) in.append(buf, *n);
        return in.size() == 4;
    });
    CHECK(in == "ping");
    REQUIRE(write_all(got.end.get(), std::string_view("pong")));
    got.end.reset();
    std::string back;
    h.until([&] {
        h.pump(10, {{client.get(), POLLIN, 0}});
        auto n = receive_some(client.get(), std::span<char>(buf, sizeof buf));
        if (n) back.append(buf, *n);
        return n && *n == 0;
    });
    CHECK(back == "pong");

    // A blocking accept waits for the next connection.
    bool accepted = false;
    h.relay.accept(l.sock, copy(), false, [&](int e, SocketRelay::Accepted) { accepted = e == 0; });
    h.pump(20);
    CHECK_FALSE(accepted);
    UniqueFd client2 = open_socket(AF_INET, SOCK_STREAM, 0).value();
    REQUIRE(connect_socket(client2.get(), name));
    h.until([&] { return accepted; });
    // The program closes its listener: the port closes at home.
    l.end.reset();
    h.until([&] { return h.server.socket_count() == 0; });
    UniqueFd client3 = open_socket(AF_INET, SOCK_STREAM, 0).value();
    auto refused = connect_socket(client3.get(), name);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().err == ECONNREFUSED);
}

TEST_CASE("socket relay: a Unix socket named by an absolute path is home's", "[remote][sockets]") {
    char dir_template[] = "/tmp/ssi-unix-relay-XXXXXX";
    REQUIRE(::mkdtemp(dir_template));
    std::string dir = dir_template;
    UniqueFd server = open_socket(AF_UNIX, SOCK_STREAM, 0).value();
    REQUIRE(bind_socket(server.get(), unix_name(dir + "/s")));
    REQUIRE(listen_socket(server.get(), 4));
    Harness h;

    // Relative and abstract names would mean other things here than to the program.
    auto relative = h.open(AF_UNIX);
    CHECK(h.connect(relative.sock, unix_name("s")) == EINVAL);
    std::string abstract = unix_name("@x");
    abstract[offsetof(sockaddr_un, sun_path)] = '\0';
    CHECK(h.connect(relative.sock, abstract) == EINVAL);
    CHECK(h.connect(relative.sock, unix_name(dir + "/none")) == ENOENT);

    auto c = h.open(AF_UNIX);
    REQUIRE(h.connect(c.sock, unix_name(dir + "/s")) == 0);
    std::string peer;
    UniqueFd accepted = try_accept(server.get(), peer);
    REQUIRE(accepted);
    REQUIRE(write_all(c.end.get(), std::string_view("ping")));
    char buf[8];
    std::string in;
    h.until([&] {
        h.pump(10);
        auto n = receive_some(accepted.get(), std::span<char>(buf, sizeof buf));
        if (n) in.append(buf, *n);
        return in.size() == 4;
    });
    CHECK(in == "ping");
    std::string name;
    h.relay.name(c.sock, true, [&](int, std::string a) { name = a; });
    h.until([&] { return !name.empty(); });
    CHECK(name == unix_name(dir + "/s"));

    // A bind makes the socket file with the program's umask (the deputy's own is 0).
    ::umask(0);
    auto l = h.open(AF_UNIX);
    int err = -1;
    h.relay.bind(l.sock, unix_name(dir + "/l"), 027, [&](int e) { err = e; });
    h.until([&] { return err != -1; });
    ::umask(022);
    REQUIRE(err == 0);
    auto st = stat_path(dir + "/l").value();
    CHECK(S_ISSOCK(st.st_mode));
    CHECK((st.st_mode & 0777) == 0750);
    REQUIRE(remove_tree(dir));
}
