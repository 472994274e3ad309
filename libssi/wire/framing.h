// Length-prefixed framing for the agent's Unix socket: a 4-byte big-endian length, then
// one encoded message. (ZeroMQ frames messages itself; this is only for stream sockets.)
#pragma once

#include "kern-ext/result.h"

#include <optional>
#include <span>
#include <string>

namespace ssi::wire {

std::string frame(const std::string& payload);

// Accumulates stream bytes and hands out whole messages.
class FrameReader {
public:
    explicit FrameReader(size_t max_message) : max_(max_message) {}
    void feed(std::span<const char> bytes) { buffer_.append(bytes.data(), bytes.size()); }
    // The next whole message, nullopt if more bytes are needed, or an Error for a frame
    // that announces more than max_message bytes.
    Result<std::optional<std::string>> next();

private:
    std::string buffer_;
    size_t max_;
};

}  // namespace ssi::wire
