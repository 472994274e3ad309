// libssi/remote/sealed_link, sealed_server, sealed_client: the deputy's and supervisor's
// ends of a sealed link over real TCP on loopback. Keys derived at both ends agree without
// a message; requests of every size come back whole; a peer without the session's key, one
// that sends garbage, or one replaying a recorded connection is closed while the server
// keeps serving the others; a message altered, replayed or reordered does not open.
#include "libssi/remote/sealed_client.h"
#include "libssi/remote/sealed_server.h"

#include "kern-ext/files.h"
#include "kern-ext/inet_socket.h"
#include "libssi/keys.h"
#include "libssi/wire/messages.h"

#include <catch2/catch.hpp>

#include <poll.h>

#include <atomic>
#include <random>
#include <thread>

using namespace ssi;
using namespace ssi::remote;

namespace {

struct Session {
    KeyPair server = *generate_keypair(), client = *generate_keypair();
    SealKeys server_keys() const { return *server_seal_keys(server.public_key, server.secret_key, client.public_key); }
    SealKeys client_keys() const { return *client_seal_keys(client.public_key, client.secret_key, server.public_key); }
};

// A SealedServer that upper-cases each request, served by a thread of its own.
class Home {
public:
    explicit Home(const SealKeys& keys) {
        server_ = SealedServer::listen("127.0.0.1", keys, wire::kMaxMessageBytes, [](std::string_view in, std::string& out) {
                      out.assign(in);
                      for (auto& c : out) c = char(std::toupper(static_cast<unsigned char>(c)));
                  }).value();
        thread_ = std::thread([this] {
            while (!stop_) {
                auto watches = server_->watches();
                std::vector<pollfd> fds;
                for (auto& w : watches) fds.push_back({w.fd, w.events, 0});
                ::poll(fds.data(), fds.size(), 10);
                for (size_t i = 0; i < fds.size(); ++i)
                    if (fds[i].revents) server_->on_ready(fds[i].fd, fds[i].revents);
                links_ = server_->links();
            }
        });
    }
    ~Home() {
        stop_ = true;
        thread_.join();
    }
    uint16_t port() const { return server_->port(); }
    size_t links() const { return links_; }

private:
    std::unique_ptr<SealedServer> server_;
    std::atomic<bool> stop_{false};
    std::atomic<size_t> links_{0};
    std::thread thread_;
};

std::string text_of(const zmq::message_t& m) { return std::string(m.data<char>(), m.size()); }

bool closed_by_peer(int fd) {
    char c;
    (void)set_receive_timeout(fd, 5000);
    for (;;) {
        auto n = read_some(fd, std::span<char>(&c, 1));
        if (!n) return n.error().err == ECONNRESET;
        if (*n == 0) return true;
    }
}

}  // namespace

TEST_CASE("sealed link: both ends derive the same keys, one per direction", "[remote][sealed]") {
    Session s;
    SealKeys server = s.server_keys(), client = s.client_keys();
    CHECK(server.receive == client.send);
    CHECK(server.send == client.receive);
    CHECK(server.send != server.receive);
    CHECK(client_seal_keys("short", s.client.secret_key, s.server.public_key).error().err == EINVAL);
}

TEST_CASE("sealed link: messages altered, replayed or reordered do not open", "[remote][sealed]") {
    Session s;
    SealKeys keys = s.client_keys();
    Sealer sealer(keys.send);
    std::string first, second;
    REQUIRE(sealer.seal("one", first));
    REQUIRE(sealer.seal("two", second));
    auto body = [](const std::string& framed) { return std::span<const char>(framed.data() + kSealLengthBytes, framed.size() - kSealLengthBytes); };
    char out[16];

    Opener in_order;
    REQUIRE(in_order.start(keys.send, sealer.header()));
    REQUIRE(in_order.open(body(first), out));
    CHECK(std::string(out, 3) == "one");
    CHECK(in_order.open(body(first), out).error().err == EBADMSG);  // replayed
    REQUIRE(in_order.open(body(second), out));
    CHECK(std::string(out, 3) == "two");

    Opener in_place;  // the same, opened where the message lies
    REQUIRE(in_place.start(keys.send, sealer.header()));
    std::string copy = first.substr(kSealLengthBytes);
    REQUIRE(in_place.open_in_place(std::span<char>(copy.data(), copy.size())));
    CHECK(copy.substr(0, 3) == "one");
    std::string flipped_copy = second.substr(kSealLengthBytes);
    flipped_copy[1] ^= 1;
    CHECK(in_place.open_in_place(std::span<char>(flipped_copy.data(), flipped_copy.size())).error().err == EBADMSG);

    Opener reordered;
    REQUIRE(reordered.start(keys.send, sealer.header()));
    CHECK_FALSE(reordered.open(body(second), out).ok());

    Opener altered;
    REQUIRE(altered.start(keys.send, sealer.header()));
    std::string flipped = first;
    flipped.back() ^= 1;
    CHECK_FALSE(altered.open(body(flipped), out).ok());

    Opener wrong_key;
    REQUIRE(wrong_key.start(keys.receive, sealer.header()));
    CHECK_FALSE(wrong_key.open(body(first), out).ok());

    // Each connection seals under a key of its own: the first message of another
    // connection, same run key, does not open here (nor would a recorded one).
    Sealer other(keys.send);
    CHECK(other.header() != sealer.header());
    std::string others_first;
    REQUIRE(other.seal("one", others_first));
    CHECK(others_first != first);
    Opener other_connection;
    REQUIRE(other_connection.start(keys.send, sealer.header()));
    CHECK(other_connection.open(body(others_first), out).error().err == EBADMSG);
}

TEST_CASE("sealed link: requests of every size come back whole, on several links", "[remote][sealed]") {
    Session s;
    Home home(s.server_keys());
    auto a = SealedClient::connect("127.0.0.1", home.port(), s.client_keys(), 5000).value();
    auto b = SealedClient::connect("127.0.0.1", home.port(), s.client_keys(), 5000).value();
    CHECK(text_of(a->call("hello").value()) == "HELLO");
    CHECK(text_of(b->call("").value()).empty());
    std::mt19937 rng(7);
    for (size_t size : {size_t(1), size_t(4095), size_t(256 * 1024 + 3), size_t(9 << 20)}) {
        std::string big(size, 'a');
        for (auto& c : big) c = char('a' + rng() % 26);
        std::string want = big;
        for (auto& c : want) c = char(std::toupper(static_cast<unsigned char>(c)));
        CHECK(text_of(a->call(big).value()) == want);
        CHECK(text_of(b->call("x").value()) == "X");
    }
}

TEST_CASE("sealed link: a peer without the key, garbage, a big message before the proof and a replayed connection are closed", "[remote][sealed]") {
    Session s;
    Home home(s.server_keys());
    auto good = SealedClient::connect("127.0.0.1", home.port(), s.client_keys(), 5000).value();

    // Another run's client key: its proof does not open, and its first call finds the link closed.
    Session other;
    SealKeys stranger = *client_seal_keys(other.client.public_key, other.client.secret_key, s.server.public_key);
    auto intruder = SealedClient::connect("127.0.0.1", home.port(), stranger, 5000);
    if (intruder) CHECK_FALSE((*intruder)->call("let me in").ok());

    // Bytes that are no handshake at all.
    UniqueFd garbage = connect_tcp("127.0.0.1", home.port()).value();
    REQUIRE(write_all(garbage.get(), std::string(4096, '\x7f')));
    CHECK(closed_by_peer(garbage.get()));

    // A header, then the length of a message far bigger than a proof: closed at the length,
    // before any of the message is held.
    UniqueFd big = connect_tcp("127.0.0.1", home.port()).value();
    std::string announce(kSealHeaderBytes, 'h');
    announce += std::string("\x00\x00\x10\x00", 4);  // 1 MiB
    REQUIRE(write_all(big.get(), announce));
    CHECK(closed_by_peer(big.get()));

    // A recorded connection played again: right key, but its proof echoes another
    // connection's header, not the one this connection was sent.
    UniqueFd replay = connect_tcp("127.0.0.1", home.port()).value();
    char fresh[kSealHeaderBytes];
    REQUIRE(read_some(replay.get(), std::span<char>(fresh, sizeof fresh)).value() == sizeof fresh);
    SealKeys keys = s.client_keys();
    Sealer recorded(keys.send);
    std::string bytes(reinterpret_cast<const char*>(recorded.header().data()), kSealHeaderBytes);
    REQUIRE(recorded.seal(std::string(kSealHeaderBytes, 'o'), bytes));  // the old connection's header
    REQUIRE(recorded.seal("unlink /tmp/precious", bytes));
    REQUIRE(write_all(replay.get(), bytes));
    CHECK(closed_by_peer(replay.get()));

    // Through all of it the good link is served, and it is the only one left.
    CHECK(text_of(good->call("still here").value()) == "STILL HERE");
    for (int i = 0; i < 500 && home.links() != 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    CHECK(home.links() == 1);
}

TEST_CASE("sealed link: a deputy that does not answer ends the connect in time", "[remote][sealed]") {
    Session s;
    // A listener that accepts but never answers (not even its header).
    UniqueFd silent = listen_tcp("127.0.0.1", 0, 4).value();
    uint16_t port = bound_port(silent.get()).value();
    auto slow = SealedClient::connect("127.0.0.1", port, s.client_keys(), 200);
    REQUIRE_FALSE(slow.ok());
    CHECK(slow.error().err == ETIMEDOUT);
}

TEST_CASE("sealed link: when the links are all taken, one without its proof gives way", "[remote][sealed]") {
    Session s;
    Home home(s.server_keys());
    std::vector<UniqueFd> silent;
    for (size_t i = 0; i < kMaxSealedLinks; ++i) silent.push_back(connect_tcp("127.0.0.1", home.port()).value());
    for (int i = 0; i < 500 && home.links() != kMaxSealedLinks; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    REQUIRE(home.links() == kMaxSealedLinks);
    auto good = SealedClient::connect("127.0.0.1", home.port(), s.client_keys(), 5000);
    REQUIRE(good.ok());
    CHECK(text_of((*good)->call("room").value()) == "ROOM");
}

TEST_CASE("sealed link: a connect nobody answers gives up in time", "[remote][sealed]") {
    // A listener that never accepts: once its queue is full, the kernel drops new SYNs and
    // a plain connect would retry for two minutes.
    UniqueFd full = listen_tcp("127.0.0.1", 0, 0).value();
    uint16_t port = bound_port(full.get()).value();
    std::vector<UniqueFd> queued;
    int timed_out = 0;
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 8 && !timed_out; ++i) {
        auto c = connect_tcp("127.0.0.1", port, 300);
        if (c) queued.push_back(std::move(*c));
        else if (c.error().err == ETIMEDOUT) ++timed_out;
    }
    CHECK(timed_out == 1);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
}
