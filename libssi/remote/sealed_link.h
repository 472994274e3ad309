// A sealed link: one TCP connection between a supervisor and its deputy that carries
// requests and replies without ZeroMQ, sealed with keys derived from the run's CURVE
// session keys. Why: a ZeroMQ round trip passes through an I/O thread at each end — four
// thread wake-ups on top of the two the callers make, ~10 µs each on this machine's vCPUs
// — and the home file requests are the hottest round trip of a run (docs/remote-exec.md,
// "Files"). Over a sealed link, the FUSE thread writes to the socket and the deputy's loop
// reads it directly.
//
// Crypto, all libsodium's: the two directional keys come from crypto_kx (X25519 and
// BLAKE2b) over the session keys the CURVE link already uses — the deputy's server key
// pair and the supervisor's client key pair, made by the deputy for this run and given to
// the supervisor over the agents' CURVE links — so no key travels and nothing is sent to
// agree on one. Each direction is a crypto_secretstream_xchacha20poly1305 stream:
// authenticated, ordered, no replays or reordering within it.
//
// Handshake: the deputy sends its stream's header (24 random bytes) as soon as it accepts;
// the supervisor answers with its own header and, as its first sealed message, the
// deputy's header — proof that it holds the key, bound to this connection, so a recorded
// connection cannot be replayed. Then: [u32 little-endian length][sealed message] each way.
#pragma once

#include "kern-ext/result.h"

#include <sodium/crypto_secretstream_xchacha20poly1305.h>

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace ssi::remote {

inline constexpr size_t kSealHeaderBytes = crypto_secretstream_xchacha20poly1305_HEADERBYTES;
inline constexpr size_t kSealOverhead = crypto_secretstream_xchacha20poly1305_ABYTES;
inline constexpr size_t kSealLengthBytes = 4;

using SealKey = std::array<unsigned char, crypto_secretstream_xchacha20poly1305_KEYBYTES>;
struct SealKeys {
    SealKey receive, send;
};
// The supervisor's keys (keys are Z85, as ZeroMQ takes them); EINVAL for a malformed key.
Result<SealKeys> client_seal_keys(const std::string& client_public, const std::string& client_secret,
                                  const std::string& server_public);
// The deputy's: its `receive` is the supervisor's `send`, and the other way round.
Result<SealKeys> server_seal_keys(const std::string& server_public, const std::string& server_secret,
                                  const std::string& client_public);

// One direction's sending end.
class Sealer {
public:
    explicit Sealer(const SealKey& key);
    const std::array<unsigned char, kSealHeaderBytes>& header() const { return header_; }
    // Appends [length][sealed `message`] to `out`.
    void seal(std::string_view message, std::string& out);

private:
    crypto_secretstream_xchacha20poly1305_state state_;
    std::array<unsigned char, kSealHeaderBytes> header_;
};

// One direction's receiving end.
class Opener {
public:
    // EPROTO for a header that does not fit the key (checked only by the first open()).
    Result<void> start(const SealKey& key, std::span<const unsigned char> header);
    // Opens one sealed message (without its length) into `out` (size: sealed - kSealOverhead).
    // EBADMSG when it was not sealed by the other end, altered, replayed or out of order.
    Result<void> open(std::span<const char> sealed, char* out);

private:
    crypto_secretstream_xchacha20poly1305_state state_;
    bool started_ = false;
};

// The length prefix of a sealed message.
uint32_t sealed_length(std::span<const char, kSealLengthBytes> prefix);

}  // namespace ssi::remote
