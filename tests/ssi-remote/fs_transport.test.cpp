// ssi-remote/fs_transport: FUSE threads' requests over real sealed links to a server
// standing for the deputy: a request finding its link busy connects another and is
// answered beside the first; abandon() ends requests still waiting for their replies.
#include "ssi-remote/fs_transport.h"

#include "kern-ext/files.h"
#include "kern-ext/inet_socket.h"
#include "libssi/keys.h"

#include <catch2/catch.hpp>

#include <poll.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

using namespace ssi;
using namespace ssi::remote;
using namespace std::chrono_literals;

namespace {

// The deputy's part: the sealed link's server end, a thread per connection, echoing each
// request — except those starting with "hold", answered only once release() is called.
class Home {
public:
    Home() {
        listener_ = listen_tcp("127.0.0.1", 0, 8).value();
        keys_ = {"tcp://127.0.0.1:1", server_.public_key, client_.public_key, client_.secret_key,
                 bound_port(listener_.get()).value()};
        thread_ = std::thread([this] { accept_links(); });
    }
    ~Home() {
        stop_ = true;
        release();
        thread_.join();
        for (auto& t : links_) t.join();
    }
    const SessionKeys& keys() const { return keys_; }
    void release() { released_ = true; }
    int received() const { return received_; }

private:
    void accept_links() {
        while (!stop_) {
            pollfd p{listener_.get(), POLLIN, 0};
            if (::poll(&p, 1, 10) <= 0) continue;
            auto fd = accept_tcp(listener_.get());
            if (fd) links_.emplace_back([this, fd = std::make_shared<UniqueFd>(std::move(*fd))] { serve(fd->get()); });
        }
    }
    static bool read_exactly(int fd, char* into, size_t size) {
        while (size) {
            pollfd p{fd, POLLIN, 0};
            ::poll(&p, 1, 100);
            auto n = read_some(fd, std::span<char>(into, size));
            if (!n && n.error().err == EAGAIN) continue;
            if (!n || *n == 0) return false;
            into += *n, size -= *n;
        }
        return true;
    }
    bool read_message(int fd, Opener& opener, std::string& out) {
        char prefix[kSealLengthBytes];
        if (!read_exactly(fd, prefix, sizeof prefix)) return false;
        std::string sealed(sealed_length(std::span<const char, kSealLengthBytes>(prefix, kSealLengthBytes)), '\0');
        if (!read_exactly(fd, sealed.data(), sealed.size())) return false;
        out.resize(sealed.size() - kSealOverhead);
        return opener.open(sealed, out.data()).ok();
    }
    void serve(int fd) {
        SealKeys keys = *server_seal_keys(server_.public_key, server_.secret_key, client_.public_key);
        Sealer sealer(keys.send);
        Opener opener;
        std::string bytes(reinterpret_cast<const char*>(sealer.header().data()), kSealHeaderBytes), message;
        char header[kSealHeaderBytes];
        if (!write_all(fd, bytes) || !read_exactly(fd, header, sizeof header)) return;
        if (!opener.start(keys.receive, std::span(reinterpret_cast<const unsigned char*>(header), sizeof header))) return;
        if (!read_message(fd, opener, message)) return;  // the proof
        while (!stop_ && read_message(fd, opener, message)) {
            ++received_;
            while (message.rfind("hold", 0) == 0 && !released_) std::this_thread::sleep_for(1ms);
            bytes.clear();
            if (!sealer.seal(message, bytes)) return;
            if (!write_all(fd, bytes)) return;
        }
    }

    KeyPair server_ = *generate_keypair(), client_ = *generate_keypair();
    UniqueFd listener_;
    SessionKeys keys_;
    std::atomic<bool> stop_{false}, released_{false};
    std::atomic<int> received_{0};
    std::thread thread_;
    std::vector<std::thread> links_;
};

template <class Pred>
bool within(std::chrono::milliseconds limit, Pred done) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() > end) return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

}  // namespace

TEST_CASE("fs_transport: a request finding its link busy is answered on another", "[fs_transport]") {
    Home home;
    FsTransport transport(home.keys());
    auto first = transport.call("first");
    REQUIRE(first.ok());
    CHECK(first->to_string() == "first");
    CHECK(transport.links() == 1);
    auto held = std::async(std::launch::async, [&] { return transport.call("hold"); });
    REQUIRE(within(5s, [&] { return home.received() == 2; }));
    auto beside = transport.call("beside the held one");
    REQUIRE(beside.ok());
    CHECK(beside->to_string() == "beside the held one");
    CHECK(transport.links() == 2);
    home.release();
    auto answer = held.get();
    REQUIRE(answer.ok());
    CHECK(answer->to_string() == "hold");
    CHECK(transport.call("again").ok());
    CHECK(transport.links() == 2);  // both idle again: no third
}

TEST_CASE("fs_transport: abandon ends the requests waiting for replies, and later ones", "[fs_transport]") {
    Home home;
    FsTransport transport(home.keys());
    REQUIRE(transport.call("first").ok());  // answered: the two below each take a link
    std::vector<std::future<Result<zmq::message_t>>> waiting;
    for (int i = 0; i < 2; ++i) waiting.push_back(std::async(std::launch::async, [&] { return transport.call("hold"); }));
    REQUIRE(within(5s, [&] { return home.received() == 3; }));
    transport.abandon();
    for (auto& w : waiting) {
        REQUIRE(w.wait_for(5s) == std::future_status::ready);
        CHECK_FALSE(w.get().ok());
    }
    CHECK_FALSE(transport.call("after").ok());
}
