#include "ssi-agent/peer_mesh.h"

#include "libssi/wire/messages.h"
#include "libssi/zap.h"
#include "libssi/zmq_calls.h"

#include <spdlog/spdlog.h>

#include <charconv>
#include <cstring>

namespace ssi::agent {
namespace {

// ZeroMQ's ZMQ_FD is edge-triggered: each drain below takes messages until has_input()
// says none is left, or one that arrived meanwhile would sit unnoticed.

void common_options(zmq::socket_t& s) {
    s.set(zmq::sockopt::linger, 0);
    s.set(zmq::sockopt::maxmsgsize, int64_t(wire::kMaxMessageBytes));
    s.set(zmq::sockopt::sndhwm, 10000);
    s.set(zmq::sockopt::rcvhwm, 10000);
}

}  // namespace

PeerMesh::PeerMesh(EventLoop& loop, Receive receive) : loop_(loop), receive_(std::move(receive)) {}

PeerMesh::~PeerMesh() {
    watches_.clear();  // stop polling before the sockets close
}

Result<std::unique_ptr<PeerMesh>> PeerMesh::create(EventLoop& loop, const ClusterConfig& config,
                                                   const std::string& secret_key, Receive receive) {
    std::unique_ptr<PeerMesh> mesh(new PeerMesh(loop, std::move(receive)));
    try {
        TRY(mesh->start(config, secret_key));
    } catch (const zmq::error_t& e) {
        return Error{"zmq", e.num(), e.what()};
    }
    return mesh;
}

Result<void> PeerMesh::start(const ClusterConfig& config, const std::string& secret_key) {
    const NodeConfig& self = config.self();
    char public_key[41];
    if (zmq_curve_public(public_key, secret_key.c_str()) != 0) return make_error("zmq_curve_public", "", EINVAL);
    if (self.public_key != public_key)
        return make_error("keys", "the secret key does not belong to node " + std::to_string(self.id) +
                                      " (its public key differs from the config's)", EINVAL);
    for (const auto& n : config.nodes) node_by_key_[z85_to_raw(n.public_key)] = n.id;

    // The ZAP handler must exist before any CURVE handshake can reach the router.
    zap_ = zmq::socket_t(context_, zmq::socket_type::rep);
    zap_.set(zmq::sockopt::linger, 0);
    zap_.bind(kZapEndpoint);

    router_ = zmq::socket_t(context_, zmq::socket_type::router);
    common_options(router_);
    router_.set(zmq::sockopt::curve_server, true);
    router_.set(zmq::sockopt::curve_secretkey, secret_key);
    router_.set(zmq::sockopt::zap_domain, "ssi");
    router_.set(zmq::sockopt::router_mandatory, true);
    try {
        router_.bind(self.endpoint());
    } catch (const zmq::error_t& e) {
        return Error{"bind", e.num(), self.endpoint()};
    }

    for (const auto& n : config.nodes) {
        if (n.id == self.id) continue;
        zmq::socket_t dealer(context_, zmq::socket_type::dealer);
        common_options(dealer);
        dealer.set(zmq::sockopt::immediate, true);  // don't queue for a peer that isn't there
        dealer.set(zmq::sockopt::reconnect_ivl, 100);
        dealer.set(zmq::sockopt::reconnect_ivl_max, 1000);
        dealer.set(zmq::sockopt::curve_serverkey, n.public_key);
        dealer.set(zmq::sockopt::curve_publickey, std::string(public_key));
        dealer.set(zmq::sockopt::curve_secretkey, secret_key);
        // Each link's ups and drops go to the log: a reply lost to a reconnection shows
        // only as a timeout at the asker.
        std::string monitor_endpoint = "inproc://ssi-peer-link-" + std::to_string(n.id);
        if (zmq_socket_monitor(dealer.handle(), monitor_endpoint.c_str(),
                               ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED) != 0)
            return sys_error("zmq_socket_monitor", "the link to node " + std::to_string(n.id));
        zmq::socket_t monitor(context_, zmq::socket_type::pair);
        monitor.set(zmq::sockopt::linger, 0);
        monitor.connect(monitor_endpoint);
        link_monitors_.emplace(n.id, std::move(monitor));
        dealer.connect(n.endpoint());
        dealers_.emplace(n.id, std::move(dealer));
    }

    drain_soon_ = std::make_unique<Deferred>(loop_, [this] { drain_all(); });
    watches_.push_back(std::make_unique<FdWatch>(loop_, zap_.get(zmq::sockopt::fd), [this] { serve_zap(); }));
    watches_.push_back(std::make_unique<FdWatch>(loop_, router_.get(zmq::sockopt::fd), [this] { drain_router(); }));
    for (auto& [id, socket] : dealers_) {
        int32_t node = id;
        zmq::socket_t* s = &socket;
        watches_.push_back(
            std::make_unique<FdWatch>(loop_, s->get(zmq::sockopt::fd), [this, node, s] { drain_dealer(node, *s); }));
    }
    for (auto& [id, socket] : link_monitors_) {
        int32_t node = id;
        zmq::socket_t* s = &socket;
        watches_.push_back(
            std::make_unique<FdWatch>(loop_, s->get(zmq::sockopt::fd), [this, node, s] { drain_link_events(node, *s); }));
    }
    // Belt and braces against a lost edge: look at every socket a few times a second.
    drain_timer_ = std::make_unique<Timer>(loop_, [this] { drain_all(); });
    drain_timer_->start(250, 250);
    spdlog::info("peers: listening on {} (CURVE), {} peer(s)", self.endpoint(), dealers_.size());
    return ok();
}

void PeerMesh::serve_zap() {
    size_t refused = serve_zap_requests(zap_, [this](const std::string& key) -> std::optional<std::string> {
        auto it = node_by_key_.find(key);
        if (it == node_by_key_.end()) return std::nullopt;
        return std::to_string(it->second);
    });
    if (refused) {
        rejected_handshakes_ += refused;
        spdlog::warn("peers: refused a CURVE handshake: key not in the cluster config ({} so far)", rejected_handshakes_);
    }
}

void PeerMesh::drain_router() {
    while (has_input(router_)) {
        std::vector<zmq::message_t> frames = receive_queued(router_);
        if (frames.empty()) break;
        if (frames.size() != 2) {
            spdlog::warn("peers: dropped a message of {} frames", frames.size());
            continue;
        }
        const char* user = frames[1].gets("User-Id");
        int32_t node = 0;
        if (!user || std::from_chars(user, user + std::strlen(user), node).ec != std::errc()) {
            spdlog::warn("peers: dropped a message without an authenticated sender");
            continue;
        }
        receive_(PeerInbound{node, frames[0].to_string(), frames[1].to_string()});
    }
}

void PeerMesh::drain_dealer(int32_t node, zmq::socket_t& socket) {
    while (has_input(socket)) {
        std::vector<zmq::message_t> frames = receive_queued(socket);
        if (frames.empty()) break;
        if (frames.size() != 1) continue;  // a reply is one frame; anything else is dropped
        receive_(PeerInbound{node, {}, frames[0].to_string()});
    }
}

// A monitor event is two frames: 2 bytes of event, 4 of value, then the endpoint.
void PeerMesh::drain_link_events(int32_t node, zmq::socket_t& monitor) {
    while (has_input(monitor)) {
        std::vector<zmq::message_t> frames = receive_queued(monitor);
        if (frames.empty()) break;
        if (frames[0].size() < sizeof(uint16_t)) continue;
        uint16_t event = 0;
        std::memcpy(&event, frames[0].data(), sizeof event);
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) spdlog::info("peers: the link to node {} is up", node);
        if (event == ZMQ_EVENT_DISCONNECTED) spdlog::info("peers: the link to node {} dropped", node);
    }
}

void PeerMesh::drain_all() {
    serve_zap();
    drain_router();
    for (auto& [node, socket] : dealers_) drain_dealer(node, socket);
    for (auto& [node, socket] : link_monitors_) drain_link_events(node, socket);
}

bool PeerMesh::send(int32_t node, const std::string& payload) {
    auto it = dealers_.find(node);
    if (it == dealers_.end()) return false;
    bool sent = false;
    try {
        const zmq::const_buffer frames[] = {zmq::buffer(payload)};
        sent = send_frames(it->second, frames);
    } catch (const zmq::error_t&) {
        sent = false;
    }
    drain_soon_->soon();
    return sent;
}

bool PeerMesh::reply(const PeerInbound& to, const std::string& payload) {
    bool sent = false;
    std::string why = "its queue is full";
    try {
        const zmq::const_buffer frames[] = {zmq::buffer(to.routing_id), zmq::buffer(payload)};
        sent = send_frames(router_, frames);
    } catch (const zmq::error_t& e) {
        why = e.what();  // ROUTER_MANDATORY: the asker's link went since it asked
    }
    // Said, since the asker only times out ("node N did not answer").
    if (!sent) spdlog::warn("peers: a reply to node {} was lost: {}", to.from_node, why);
    drain_soon_->soon();
    return sent;
}

}  // namespace ssi::agent
