#include "ssi-remote/fs_transport.h"

#include "libssi/remote/session.h"
#include "libssi/wire/messages.h"

#include <zmq_addon.hpp>

#include <array>
#include <memory>
#include <vector>

namespace ssi::remote {
namespace {

// Long enough for a slow disk at home; short enough that a vanished deputy turns into
// EIO rather than a hang (the supervisor's silence limit ends the program meanwhile).
constexpr int kFsReplyTimeoutMs = 30000;

}  // namespace

zmq::socket_t connect_to_deputy(zmq::context_t& context, const SessionKeys& keys) {
    zmq::socket_t s(context, zmq::socket_type::dealer);
    s.set(zmq::sockopt::linger, 0);
    s.set(zmq::sockopt::curve_serverkey, keys.server_public);
    s.set(zmq::sockopt::curve_publickey, keys.client_public);
    s.set(zmq::sockopt::curve_secretkey, keys.client_secret);
    s.set(zmq::sockopt::maxmsgsize, int64_t(wire::kMaxMessageBytes));
    s.set(zmq::sockopt::sndhwm, 0);
    s.set(zmq::sockopt::rcvhwm, 0);
    s.connect(keys.endpoint);
    return s;
}

FsTransport::FsTransport(zmq::context_t& context, SessionKeys keys) : context_(context), keys_(std::move(keys)) {
    try {
        give_back(take_link(), false);
    } catch (const zmq::error_t&) {
        // The first call will try again, and say what failed.
    }
}

std::unique_ptr<zmq::socket_t> FsTransport::take_link() {
    {
        std::unique_lock lock(mu_);
        // Until a link has answered once, another would only start a handshake of its own
        // next to the first one's, on the same CPUs: wait for the first to be free instead.
        cv_.wait(lock, [&] { return !idle_.empty() || answered_ || live_ == 0; });
        if (!idle_.empty()) {
            auto link = std::move(idle_.back());
            idle_.pop_back();
            return link;
        }
        ++live_;
    }
    try {
        auto link = std::make_unique<zmq::socket_t>(connect_to_deputy(context_, keys_));
        link->set(zmq::sockopt::rcvtimeo, kFsReplyTimeoutMs);
        std::lock_guard lock(mu_);
        ++links_;
        return link;
    } catch (...) {
        drop_link();
        throw;
    }
}

size_t FsTransport::links() const {
    std::lock_guard lock(mu_);
    return links_;
}

void FsTransport::give_back(std::unique_ptr<zmq::socket_t> link, bool answered) {
    {
        std::lock_guard lock(mu_);
        idle_.push_back(std::move(link));
        answered_ = answered_ || answered;
    }
    cv_.notify_one();
}

// A link that failed is closed, not given back: a waiter connects another.
void FsTransport::drop_link() {
    {
        std::lock_guard lock(mu_);
        --live_;
    }
    cv_.notify_one();
}

void FsTransport::abandon() { context_.shutdown(); }

Result<zmq::message_t> FsTransport::call(const std::string& request) {
    std::unique_ptr<zmq::socket_t> link;
    try {
        link = take_link();
        std::array<zmq::const_buffer, 2> out = {zmq::buffer(&kFsKind, 1), zmq::buffer(request)};
        zmq::send_multipart(*link, out);
        std::vector<zmq::message_t> in;
        // Without its reply the link is dropped: a late reply must not answer the next request.
        if (!zmq::recv_multipart(*link, std::back_inserter(in))) {
            link.reset();
            drop_link();
            return make_error("the home node's file server did not answer", {}, EIO);
        }
        give_back(std::move(link), true);
        if (in.size() != 2) return make_error("malformed reply from the home file server", {}, EIO);
        return std::move(in[1]);
    } catch (const zmq::error_t& e) {
        if (link) {  // (a failed connect was dropped by take_link)
            link.reset();
            drop_link();
        }
        return Error{"zmq", e.num(), "file request to the deputy"};
    }
}

}  // namespace ssi::remote
