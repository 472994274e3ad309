// SealedClient: the supervisor's end of one sealed link (sealed_link.h) to its deputy's
// SealedServer. Blocking, one request at a time, for a thread that waits for its reply
// anyway (a FUSE thread): the request is written to the socket and the reply read from it
// by that thread itself, with no other thread in between.
#pragma once

#include "kern-ext/result.h"
#include "kern-ext/unique_fd.h"
#include "libssi/remote/sealed_link.h"

#include <zmq.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace ssi::remote {

class SealedClient {
public:
    // Connects and proves the key. A reply slower than reply_timeout_ms fails the call
    // with ETIMEDOUT (the link is then unusable: a late reply would answer the next request).
    static Result<std::unique_ptr<SealedClient>> connect(const std::string& address, uint16_t port, const SealKeys& keys,
                                                         int reply_timeout_ms);
    // One request and its reply, opened into a message of its own (no copy after).
    Result<zmq::message_t> call(std::string_view request);
    // Ends a call waiting in another thread, and every later one (the socket is shut down).
    void shut_down();

private:
    SealedClient(UniqueFd fd, const SealKeys& keys) : fd_(std::move(fd)), sealer_(keys.send) {}
    Result<void> read_exactly(char* into, size_t size);

    UniqueFd fd_;
    Sealer sealer_;
    Opener opener_;
    std::string out_;  // kept: no allocation per request
};

}  // namespace ssi::remote
