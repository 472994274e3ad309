// FsTransport: how the FUSE threads reach the deputy's file server: ZeroMQ DEALERs
// connected with this run's CURVE keys. A request takes an idle link (a socket is not
// thread-safe, so one request at a time on each; a mutex hands them over) or, when all are
// busy, connects one more: requests still go in parallel, but each link's CURVE handshake
// (1-5 ms here) is paid once per run, not once per FUSE thread, and the first one is
// started with the transport, while the mount and the launch go on. Until that first link
// has answered, requests wait for it rather than connect more: at a start they come in
// twos and threes (the primed names, the launch's lookups), and a second handshake next to
// the first only made both later.
#pragma once

#include "kern-ext/result.h"

#include <zmq.hpp>

#include <condition_variable>
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
};

// Connects a DEALER to the deputy with the session's keys.
zmq::socket_t connect_to_deputy(zmq::context_t& context, const SessionKeys& keys);

class FsTransport {
public:
    // Connects the first link now. The context is the transport's alone (see abandon()).
    FsTransport(zmq::context_t& context, SessionKeys keys);
    // One request, one reply (in the message it came in, not copied out of it); an
    // EIO-worthy Error when the deputy does not answer in time.
    Result<zmq::message_t> call(const std::string& request);
    // The deputy has been told the program ended, and exits: a request still waiting for
    // it (the start's prime, the last releases) would wait out the reply timeout, and hold
    // the supervisor's end that long. Those fail now, and every later one at once: the
    // context is shut down, which wakes its blocked sockets.
    void abandon();
    // Links connected so far (tests).
    size_t links() const;

private:
    std::unique_ptr<zmq::socket_t> take_link();
    void give_back(std::unique_ptr<zmq::socket_t> link, bool answered);
    void drop_link();

    zmq::context_t& context_;
    SessionKeys keys_;
    mutable std::mutex mu_;
    std::condition_variable cv_;  // a link given back or dropped
    std::vector<std::unique_ptr<zmq::socket_t>> idle_;
    size_t links_ = 0;  // connected so far
    size_t live_ = 0;   // connected and not dropped: idle or carrying a request
    bool answered_ = false;
};

}  // namespace ssi::remote
