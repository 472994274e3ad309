// A sealed link: one TCP connection between a supervisor and its deputy that carries
// requests and replies without ZeroMQ, sealed with keys derived from the run's CURVE
// session keys. Why: a ZeroMQ round trip passes through an I/O thread at each end — four
// thread wake-ups on top of the two the callers make, ~10 µs each on this machine's vCPUs
// — and the home file requests are the hottest round trip of a run (docs/remote-exec.md,
// "Files"). Over a sealed link, the FUSE thread writes to the socket and the deputy's loop
// reads it directly.
//
// Keys: the two directional keys come from libsodium's crypto_kx (X25519 and BLAKE2b) over
// the session keys the CURVE link already uses — the deputy's server key pair and the
// supervisor's client key pair, made by the deputy for this run and given to the
// supervisor over the agents' CURVE links — so no key travels and nothing is sent to agree
// on one.
//
// Sealing: each direction of each connection has a key of its own, BLAKE2b(direction's key,
// the sender's 24 random header bytes), and seals its messages with AES-256-GCM, the nonce
// being the message's number — so messages are authenticated and ordered, and none
// replays or reorders within a direction. AES-GCM and not ChaCha20-Poly1305 for speed:
// the file reads' bulk passes here, and libgcrypt's AES-GCM (VAES, PCLMUL) seals 4 GB/s on
// this machine's cores where libsodium's ChaCha20-Poly1305 did 1.3 (docs/benchmarks.md).
//
// Handshake: the deputy sends its header (24 random bytes) as soon as it accepts;
// the supervisor answers with its own header and, as its first sealed message, the
// deputy's header — proof that it holds the key, bound to this connection, so a recorded
// connection cannot be replayed. Then: [u32 little-endian length][sealed message] each way.
#pragma once

#include "kern-ext/result.h"

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

struct gcry_cipher_handle;  // libgcrypt's, behind gcry_cipher_hd_t

namespace ssi::remote {

inline constexpr size_t kSealHeaderBytes = 24;
inline constexpr size_t kSealOverhead = 16;  // the GCM tag
inline constexpr size_t kSealLengthBytes = 4;

using SealKey = std::array<unsigned char, 32>;
struct SealKeys {
    SealKey receive, send;
};
// The supervisor's keys (keys are Z85, as ZeroMQ takes them); EINVAL for a malformed key.
Result<SealKeys> client_seal_keys(const std::string& client_public, const std::string& client_secret,
                                  const std::string& server_public);
// The deputy's: its `receive` is the supervisor's `send`, and the other way round.
Result<SealKeys> server_seal_keys(const std::string& server_public, const std::string& server_secret,
                                  const std::string& client_public);

// [length][sealed message] of a message of `size` bytes.
constexpr size_t sealed_frame_size(size_t size) { return kSealLengthBytes + size + kSealOverhead; }

// One direction's cipher: AES-256-GCM under a connection's key, nonces counted.
class SealCipher {
public:
    // ENOMEM, or the libgcrypt error, when no AES-256-GCM context can be made.
    static Result<SealCipher> make(const SealKey& key, std::span<const unsigned char, kSealHeaderBytes> header);

    // `out` gets size + kSealOverhead bytes.
    Result<void> seal(const char* in, size_t size, char* out);
    // `out` gets sealed - kSealOverhead bytes (garbage when it fails); EBADMSG when the tag
    // does not match.
    Result<void> open(std::span<const char> sealed, char* out);
    // The same, opened where it lies: the message is the first sealed - kSealOverhead bytes.
    Result<void> open_in_place(std::span<char> sealed);

private:
    Result<void> open_into(std::span<const char> sealed, char* out);
    struct Close {
        void operator()(gcry_cipher_handle* handle) const;
    };
    using Handle = std::unique_ptr<gcry_cipher_handle, Close>;
    explicit SealCipher(Handle handle) : handle_(std::move(handle)) {}
    Handle handle_;
    uint64_t next_ = 0;  // the next message's number: its nonce
};

// One direction's sending end.
class Sealer {
public:
    // Draws a fresh header; a failure to make the cipher is reported by seal().
    explicit Sealer(const SealKey& key);
    const std::array<unsigned char, kSealHeaderBytes>& header() const { return header_; }
    // Appends [length][sealed `message`] to `out`.
    Result<void> seal(std::string_view message, std::string& out);
    // Writes [length][sealed `message`] to `frame`, sealed_frame_size(message.size()) bytes.
    Result<void> seal_into(std::string_view message, char* frame);

private:
    std::array<unsigned char, kSealHeaderBytes> header_;
    Result<SealCipher> cipher_;
};

// One direction's receiving end.
class Opener {
public:
    Result<void> start(const SealKey& key, std::span<const unsigned char> header);
    // Opens one sealed message (without its length) into `out` (size: sealed - kSealOverhead).
    // EBADMSG when it was not sealed by the other end, altered, replayed or out of order.
    Result<void> open(std::span<const char> sealed, char* out);
    // The same, opened where it lies: the message is the first sealed - kSealOverhead bytes
    // (a megabyte read is not copied once more).
    Result<void> open_in_place(std::span<char> sealed);

private:
    std::optional<SealCipher> cipher_;
};

// Sets libgcrypt up and seals once, so that a process's first link does not pay for it
// (the library's setup and the first touch of its AES-GCM code, ~0.5 ms here): for a
// moment when the process would wait anyway. Failures are left for the first link to tell.
void prepare_sealing();

// The length prefix of a sealed message.
uint32_t sealed_length(std::span<const char, kSealLengthBytes> prefix);

}  // namespace ssi::remote
