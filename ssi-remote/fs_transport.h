// FsTransport: how the FUSE threads reach the deputy's file server: sealed links
// (libssi/remote/sealed_link.h) — TCP connections sealed with this run's session keys, on
// which the FUSE thread itself writes its request and reads the reply, with no ZeroMQ I/O
// thread between (a forwarded call's round trip is mostly thread wake-ups). A request
// takes an idle link (one request at a time on each; a mutex hands them over) or, when all
// are busy, connects one more: requests still go in parallel. A link costs a loopback
// connect and 24 bytes each way — no key exchange: both ends derived the keys from the
// session's — so links are made as requests need them, from the first one on.
#pragma once

#include "kern-ext/result.h"
#include "libssi/remote/sealed_client.h"

#include <zmq.hpp>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace ssi::remote {

struct SessionKeys {
    std::string endpoint;       // the deputy's
    std::string server_public;  // the deputy's key
    std::string client_public;  // ours, for this run
    std::string client_secret;
    uint16_t files_port = 0;    // the deputy's sealed links, at the endpoint's address
};

// Connects a DEALER to the deputy with the session's keys.
zmq::socket_t connect_to_deputy(zmq::context_t& context, const SessionKeys& keys);
// The address part of a "tcp://ADDRESS:PORT" endpoint.
std::string endpoint_address(const std::string& endpoint);

class FsTransport {
public:
    explicit FsTransport(SessionKeys keys);
    // One request, one reply; an EIO-worthy Error when the deputy does not answer in time.
    Result<zmq::message_t> call(const std::string& request);
    // The deputy has been told the program ended, and exits: a request still waiting for
    // it (the start's prime, the last releases) would wait out the reply timeout, and hold
    // the supervisor's end that long. Those fail now, and every later one at once.
    void abandon();
    // Links connected so far (tests).
    size_t links() const;

private:
    Result<std::shared_ptr<SealedClient>> take_link();
    void give_back(std::shared_ptr<SealedClient> link);
    void drop_link(const std::shared_ptr<SealedClient>& link);

    SessionKeys keys_;
    Result<SealKeys> seal_keys_;
    mutable std::mutex mu_;
    std::vector<std::shared_ptr<SealedClient>> idle_;
    std::vector<std::shared_ptr<SealedClient>> live_;  // idle or carrying a request: abandon() ends them
    size_t links_ = 0;  // connected so far
    bool abandoned_ = false;
};

}  // namespace ssi::remote
