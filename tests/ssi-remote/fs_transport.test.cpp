// ssi-remote/fs_transport: FUSE threads' requests to a real CURVE ROUTER standing for the
// deputy: a request finding its link busy connects another and is answered beside the
// first, once a link has answered (before, it waits for the first link); abandon() ends
// requests still waiting for their replies.
#include "ssi-remote/fs_transport.h"

#include "libssi/keys.h"

#include <catch2/catch.hpp>

#include <zmq_addon.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

using namespace ssi;
using namespace ssi::remote;
using namespace std::chrono_literals;

namespace {

// The deputy's part: a CURVE ROUTER on its own thread that echoes each request — except
// those starting with "hold", answered only once release() is called.
class Home {
public:
    Home() {
        KeyPair server = *generate_keypair(), client = *generate_keypair();
        router_.set(zmq::sockopt::linger, 0);
        router_.set(zmq::sockopt::curve_server, true);
        router_.set(zmq::sockopt::curve_secretkey, server.secret_key);
        router_.bind("tcp://127.0.0.1:*");
        keys_ = {router_.get(zmq::sockopt::last_endpoint), server.public_key, client.public_key, client.secret_key};
        thread_ = std::thread([this] { serve(); });
    }
    ~Home() {
        stop_ = true;
        thread_.join();
    }
    const SessionKeys& keys() const { return keys_; }
    void release() { released_ = true; }
    int received() const { return received_; }

private:
    void serve() {
        std::vector<std::vector<zmq::message_t>> held;
        while (!stop_) {
            std::vector<zmq::message_t> frames;
            if (zmq::recv_multipart(router_, std::back_inserter(frames), zmq::recv_flags::dontwait)) {
                ++received_;
                if (frames.back().to_string().rfind("hold", 0) == 0) held.push_back(std::move(frames));
                else zmq::send_multipart(router_, frames);
            } else {
                std::this_thread::sleep_for(1ms);
            }
            if (released_) {
                for (auto& h : held) zmq::send_multipart(router_, h);
                held.clear();
            }
        }
    }

    zmq::context_t context_{1};
    zmq::socket_t router_{context_, zmq::socket_type::router};
    SessionKeys keys_;
    std::atomic<bool> stop_{false}, released_{false};
    std::atomic<int> received_{0};
    std::thread thread_;
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
    zmq::context_t context{1};
    FsTransport transport(context, home.keys());
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

TEST_CASE("fs_transport: until a link has answered, a request waits for it rather than connect another",
          "[fs_transport]") {
    Home home;
    zmq::context_t context{1};
    FsTransport transport(context, home.keys());
    auto held = std::async(std::launch::async, [&] { return transport.call("hold"); });
    REQUIRE(within(5s, [&] { return home.received() == 1; }));
    auto queued = std::async(std::launch::async, [&] { return transport.call("queued"); });
    CHECK(queued.wait_for(100ms) == std::future_status::timeout);
    CHECK(home.received() == 1);
    CHECK(transport.links() == 1);
    home.release();
    REQUIRE(held.get().ok());
    auto answer = queued.get();
    REQUIRE(answer.ok());
    CHECK(answer->to_string() == "queued");
    CHECK(transport.links() == 1);
}

TEST_CASE("fs_transport: abandon ends the requests waiting for replies, and later ones", "[fs_transport]") {
    Home home;
    zmq::context_t context{1};
    FsTransport transport(context, home.keys());
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
