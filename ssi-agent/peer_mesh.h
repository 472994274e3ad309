// PeerMesh: this agent's ZeroMQ links to every other node, encrypted and authenticated
// with CURVE. Each agent binds one ROUTER (peers' requests and heartbeats arrive there)
// and connects one DEALER to every peer (our requests go out there, their replies come
// back on it). A ZAP handler admits only clients whose public key the cluster config
// lists, and stamps each of their messages with that node's id, so every inbound message
// carries an authenticated sender.
#pragma once

#include "kern-ext/result.h"
#include "libssi/config.h"
#include "ssi-agent/event_loop.h"

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include <functional>
#include <map>
#include <memory>
#include <string>

namespace ssi::agent {

struct PeerInbound {
    int32_t from_node = 0;   // authenticated sender
    std::string routing_id;  // non-empty: arrived on our ROUTER, reply() goes back this way
    std::string payload;
};

class PeerMesh {
public:
    using Receive = std::function<void(PeerInbound&&)>;

    static Result<std::unique_ptr<PeerMesh>> create(EventLoop& loop, const ClusterConfig& config,
                                                    const std::string& secret_key, Receive receive);
    ~PeerMesh();

    // Queue `payload` for `node`. False when the node is not connected or its queue is
    // full: the caller decides whether that matters (heartbeats don't care).
    bool send(int32_t node, const std::string& payload);
    bool reply(const PeerInbound& to, const std::string& payload);

    // Counters for logs and tests.
    uint64_t rejected_handshakes() const { return rejected_handshakes_; }

private:
    PeerMesh(EventLoop& loop, Receive receive);
    Result<void> start(const ClusterConfig& config, const std::string& secret_key);
    void serve_zap();
    void drain_router();
    void drain_dealer(int32_t node, zmq::socket_t& socket);
    void drain_link_events(int32_t node, zmq::socket_t& monitor);
    void drain_all();

    EventLoop& loop_;
    Receive receive_;
    zmq::context_t context_{1};
    zmq::socket_t zap_;
    zmq::socket_t router_;
    std::map<int32_t, zmq::socket_t> dealers_;
    std::map<int32_t, zmq::socket_t> link_monitors_;  // each dealer's ups and drops
    std::map<std::string, int32_t> node_by_key_;  // raw 32-byte public key -> node id
    std::vector<std::unique_ptr<FdWatch>> watches_;
    std::unique_ptr<Deferred> drain_soon_;
    std::unique_ptr<Timer> drain_timer_;
    uint64_t rejected_handshakes_ = 0;
};

}  // namespace ssi::agent
