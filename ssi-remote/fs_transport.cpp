#include "ssi-remote/fs_transport.h"

#include "libssi/wire/messages.h"

#include <algorithm>

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

std::string endpoint_address(const std::string& endpoint) {
    std::string rest = endpoint.substr(std::min(endpoint.find("://"), endpoint.size() - 3) + 3);
    return rest.substr(0, rest.rfind(':'));
}

FsTransport::FsTransport(SessionKeys keys)
    : keys_(std::move(keys)), seal_keys_(client_seal_keys(keys_.client_public, keys_.client_secret, keys_.server_public)) {}

Result<std::shared_ptr<SealedClient>> FsTransport::take_link() {
    const SealKeys& keys = TRY(seal_keys_);  // (a malformed session key: every call says so)
    {
        std::lock_guard lock(mu_);
        if (abandoned_) return make_error("the deputy", "has ended the run", ECONNRESET);
        if (!idle_.empty()) {
            auto link = std::move(idle_.back());
            idle_.pop_back();
            return link;
        }
    }
    std::shared_ptr<SealedClient> link =
        TRY(SealedClient::connect(endpoint_address(keys_.endpoint), keys_.files_port, keys, kFsReplyTimeoutMs));
    std::lock_guard lock(mu_);
    if (abandoned_) return make_error("the deputy", "has ended the run", ECONNRESET);
    live_.push_back(link);
    ++links_;
    return link;
}

size_t FsTransport::links() const {
    std::lock_guard lock(mu_);
    return links_;
}

void FsTransport::give_back(std::shared_ptr<SealedClient> link) {
    std::lock_guard lock(mu_);
    idle_.push_back(std::move(link));
}

// A link that failed is closed, not given back: a late reply must not answer the next request.
void FsTransport::drop_link(const std::shared_ptr<SealedClient>& link) {
    std::lock_guard lock(mu_);
    std::erase(live_, link);
}

void FsTransport::abandon() {
    std::lock_guard lock(mu_);
    abandoned_ = true;
    for (auto& link : live_) link->shut_down();  // wakes a call blocked on its reply
}

Result<zmq::message_t> FsTransport::call(const std::string& request) {
    auto link = take_link();
    if (!link) return make_error("file request to the deputy", link.error().message(), EIO);
    auto reply = (*link)->call(request);
    if (!reply) {
        drop_link(*link);
        return make_error("the home node's file server did not answer", reply.error().message(), EIO);
    }
    give_back(std::move(*link));
    return reply;
}

}  // namespace ssi::remote
