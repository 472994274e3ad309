// FsTransport: how the FUSE threads reach the deputy's file server. Each thread gets a
// ZeroMQ DEALER of its own (sockets are not thread-safe; one per thread keeps requests
// in parallel without a lock), connected with this run's CURVE keys.
#pragma once

#include "kern-ext/result.h"

#include <zmq.hpp>

#include <string>

namespace ssi::remote {

struct SessionKeys {
    std::string endpoint;       // the deputy's
    std::string server_public;  // the deputy's key
    std::string client_public;  // ours, for this run
    std::string client_secret;
};

// Connects a DEALER to the deputy with the session's keys.
zmq::socket_t connect_to_deputy(zmq::context_t& context, const SessionKeys& keys);

class FsTransport {
public:
    FsTransport(zmq::context_t& context, SessionKeys keys) : context_(context), keys_(std::move(keys)) {}
    // One request, one reply; EIO-worthy Error when the deputy does not answer in time.
    Result<std::string> call(const std::string& request);

private:
    zmq::context_t& context_;
    SessionKeys keys_;
};

}  // namespace ssi::remote
