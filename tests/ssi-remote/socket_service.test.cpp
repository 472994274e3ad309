// ssi-remote/socket_service: the relay on its own thread, reaching a socket server through a
// real ZeroMQ DEALER/ROUTER pair ('S' frames, as between supervisor and deputy), carries a
// connection made "at home" both ways; calls posted from another thread complete there;
// at the program's end, home hears SockDone only after its sockets are closed.
#include "ssi-remote/socket_service.h"

#include "kern-ext/files.h"
#include "kern-ext/socket_ops.h"
#include "libssi/remote/socket_server.h"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <zmq_addon.hpp>

#include <chrono>
#include <future>

using namespace ssi;
using namespace ssi::remote;

namespace {

UniqueFd try_accept(int listener, std::string& peer) {
    auto fd = accept_socket(listener, peer);
    return fd ? std::move(*fd) : UniqueFd();
}

// The deputy's part: a ROUTER and a SocketServer, run by the test's thread.
struct Home {
    zmq::context_t context{1};
    zmq::socket_t router{context, zmq::socket_type::router};
    std::string peer_id;
    SocketServer server{[this](const SocketMessage& m) {
        std::string bytes = encode_socket_message(m);
        std::array<zmq::const_buffer, 3> frames = {zmq::buffer(peer_id), zmq::buffer(&kSocketKind, 1), zmq::buffer(bytes)};
        zmq::send_multipart(router, frames);
    }};

    Home() {
        router.set(zmq::sockopt::linger, 0);
        router.bind("inproc://socket-service-test");
    }

    void turn(int timeout_ms) {
        std::vector<zmq::pollitem_t> items = {{router.handle(), 0, ZMQ_POLLIN, 0}};
        auto watches = server.watches();
        for (auto& w : watches)
            items.push_back({nullptr, w.fd, short(((w.events & POLLIN) ? ZMQ_POLLIN : 0) | ((w.events & POLLOUT) ? ZMQ_POLLOUT : 0)), 0});
        zmq::poll(items.data(), items.size(), std::chrono::milliseconds(timeout_ms));
        for (;;) {
            std::vector<zmq::message_t> frames;
            if (!zmq::recv_multipart(router, std::back_inserter(frames), zmq::recv_flags::dontwait)) break;
            REQUIRE(frames.size() == 3);
            REQUIRE(*frames[1].data<char>() == kSocketKind);
            peer_id = frames[0].to_string();
            server.handle(std::span<const char>(frames[2].data<char>(), frames[2].size()));
        }
        for (size_t i = 0; i < watches.size(); ++i) {
            short r = items[1 + i].revents;
            if (r) server.on_ready(watches[i].sock, short(((r & ZMQ_POLLIN) ? POLLIN : 0) | ((r & ZMQ_POLLOUT) ? POLLOUT : 0) |
                                                        ((r & ZMQ_POLLERR) ? POLLHUP : 0)));
        }
    }

    template <class Pred>
    void until(Pred done) {
        auto start = std::chrono::steady_clock::now();
        while (!done()) {
            REQUIRE(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
            turn(10);
        }
    }
};

}  // namespace

TEST_CASE("socket service: calls posted from another thread reach home and back", "[remote][sockets]") {
    Home home;
    auto service = SocketService::start([&home] {
        zmq::socket_t dealer(home.context, zmq::socket_type::dealer);
        dealer.set(zmq::sockopt::linger, 0);
        dealer.connect("inproc://socket-service-test");
        return dealer;
    });
    REQUIRE(service.ok());

    UniqueFd listener = open_socket(AF_INET, SOCK_STREAM, 0).value();
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind_socket(listener.get(), std::string_view(reinterpret_cast<const char*>(&a), sizeof a)));
    REQUIRE(listen_socket(listener.get(), 4));
    std::string addr = socket_name(listener.get()).value();

    // What a seccomp handler does: post, and let the service answer.
    std::promise<std::pair<int, UniqueFd>> result;
    (*service)->post([&](SocketRelay& relay) {
        relay.open(AF_INET, SOCK_STREAM, 0, [&](int err, SocketRelay::Opened opened) {
            if (err) return result.set_value({err, UniqueFd()});
            auto end = std::make_shared<UniqueFd>(std::move(opened.end));
            relay.connect(opened.sock, addr, false, [&result, end](int e) { result.set_value({e, std::move(*end)}); });
        });
    });
    auto future = result.get_future();
    home.until([&] { return future.wait_for(std::chrono::seconds(0)) == std::future_status::ready; });
    auto [err, end] = future.get();
    REQUIRE(err == 0);

    std::string ignored;
    UniqueFd peer;
    home.until([&] { return bool(peer = try_accept(listener.get(), ignored)); });
    REQUIRE(write_all(end.get(), std::string_view("request")));
    REQUIRE(shutdown_socket(end.get(), SHUT_WR));
    std::string got;
    bool eof = false;
    char buf[64];
    home.until([&] {
        while (auto n = receive_some(peer.get(), std::span<char>(buf, sizeof buf))) {
            if (*n == 0) eof = true;
            got.append(buf, *n);
            if (*n == 0) break;
        }
        return eof;
    });
    CHECK(got == "request");
    REQUIRE(write_all(peer.get(), std::string_view("answer")));
    peer.reset();
    REQUIRE(set_blocking_mode(end.get(), true));
    std::string back;
    home.until([&] {
        auto n = receive_some(end.get(), std::span<char>(buf, sizeof buf));
        if (n) back.append(buf, *n);
        return n && *n == 0;
    });
    CHECK(back == "answer");
    // The program ends: finish() waits for its sockets to close, then tells home it is done.
    end.reset();
    auto finished = std::async(std::launch::async, [&] { return (*service)->finish(5000); });
    home.until([&] { return home.server.finished(); });
    CHECK(finished.get());
    CHECK(home.server.socket_count() == 0);
}

// Most programs never make a socket: their service never links to home, and its end
// owes home no SockDone (the deputy waits for one only after a socket frame).
TEST_CASE("socket service: a program without sockets never links to home", "[remote][sockets]") {
    int connects = 0;
    zmq::context_t context{1};
    {
        auto service = SocketService::start([&] {
            ++connects;
            zmq::socket_t dealer(context, zmq::socket_type::dealer);
            dealer.set(zmq::sockopt::linger, 0);
            dealer.connect("inproc://socket-service-unused");
            return dealer;
        });
        REQUIRE(service.ok());
        bool ran = false;
        (*service)->post([&](SocketRelay& relay) { ran = relay.socket_count() == 0; });
        CHECK((*service)->finish(5000));
        CHECK(ran);
    }
    CHECK(connects == 0);
}
