// ZAP (ZeroMQ's authentication protocol) for CURVE servers: libzmq asks the handler bound
// at inproc://zeromq.zap.01 about every client handshake. Without a handler, any client
// that knows the server's public key gets in; with this one, only the keys we list do,
// and each of their messages carries the User-Id we gave the key.
#pragma once

#include <zmq.hpp>

#include <functional>
#include <optional>
#include <string>

namespace ssi {

inline constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";

// The User-Id for a client's raw 32-byte public key, or nullopt to refuse it.
using ZapPolicy = std::function<std::optional<std::string>(const std::string& raw_public_key)>;

// Answers every pending ZAP request on `zap` (a REP socket bound at kZapEndpoint) without
// blocking. Returns how many handshakes were refused.
size_t serve_zap_requests(zmq::socket_t& zap, const ZapPolicy& policy);

// Z85 key -> the raw 32 bytes ZAP requests carry.
std::string z85_to_raw(const std::string& z85_key);

}  // namespace ssi
