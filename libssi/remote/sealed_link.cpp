#include "libssi/remote/sealed_link.h"

#include <sodium/core.h>
#include <sodium/crypto_kx.h>
#include <sodium/utils.h>
#include <zmq.h>

#include <cerrno>
#include <cstring>

namespace ssi::remote {
namespace {

using RawKey = std::array<unsigned char, 32>;
static_assert(crypto_kx_PUBLICKEYBYTES == 32 && crypto_kx_SECRETKEYBYTES == 32 &&
              crypto_kx_SESSIONKEYBYTES == std::tuple_size_v<SealKey>);

Result<RawKey> raw(const std::string& z85) {
    RawKey k;
    if (z85.size() != 40 || !zmq_z85_decode(k.data(), z85.c_str())) return make_error("seal keys", "not a Z85 key", EINVAL);
    return k;
}

Result<void> ready() {
    if (::sodium_init() < 0) return make_error("sodium_init", {}, EIO);
    return ok();
}

}  // namespace

Result<SealKeys> client_seal_keys(const std::string& client_public, const std::string& client_secret,
                                  const std::string& server_public) {
    TRY(ready());
    RawKey pk = TRY(raw(client_public)), sk = TRY(raw(client_secret)), server = TRY(raw(server_public));
    SealKeys keys;
    if (crypto_kx_client_session_keys(keys.receive.data(), keys.send.data(), pk.data(), sk.data(), server.data()) != 0)
        return make_error("crypto_kx_client_session_keys", "the deputy's key", EINVAL);
    sodium_memzero(sk.data(), sk.size());
    return keys;
}

Result<SealKeys> server_seal_keys(const std::string& server_public, const std::string& server_secret,
                                  const std::string& client_public) {
    TRY(ready());
    RawKey pk = TRY(raw(server_public)), sk = TRY(raw(server_secret)), client = TRY(raw(client_public));
    SealKeys keys;
    if (crypto_kx_server_session_keys(keys.receive.data(), keys.send.data(), pk.data(), sk.data(), client.data()) != 0)
        return make_error("crypto_kx_server_session_keys", "the supervisor's key", EINVAL);
    sodium_memzero(sk.data(), sk.size());
    return keys;
}

Sealer::Sealer(const SealKey& key) { crypto_secretstream_xchacha20poly1305_init_push(&state_, header_.data(), key.data()); }

void Sealer::seal(std::string_view message, std::string& out) {
    size_t at = out.size();
    uint32_t length = uint32_t(message.size() + kSealOverhead);
    out.resize(at + kSealLengthBytes + length);
    for (size_t i = 0; i < kSealLengthBytes; ++i) out[at + i] = char(length >> (8 * i));
    crypto_secretstream_xchacha20poly1305_push(&state_, reinterpret_cast<unsigned char*>(out.data() + at + kSealLengthBytes),
                                               nullptr, reinterpret_cast<const unsigned char*>(message.data()),
                                               message.size(), nullptr, 0, 0);
}

Result<void> Opener::start(const SealKey& key, std::span<const unsigned char> header) {
    if (header.size() != kSealHeaderBytes ||
        crypto_secretstream_xchacha20poly1305_init_pull(&state_, header.data(), key.data()) != 0)
        return make_error("seal", "bad stream header", EPROTO);
    started_ = true;
    return ok();
}

Result<void> Opener::open(std::span<const char> sealed, char* out) {
    unsigned char tag = 0;
    if (!started_ || sealed.size() < kSealOverhead ||
        crypto_secretstream_xchacha20poly1305_pull(&state_, reinterpret_cast<unsigned char*>(out), nullptr, &tag,
                                                   reinterpret_cast<const unsigned char*>(sealed.data()), sealed.size(),
                                                   nullptr, 0) != 0 ||
        tag != 0)
        return make_error("seal", "a message that does not open", EBADMSG);
    return ok();
}

uint32_t sealed_length(std::span<const char, kSealLengthBytes> prefix) {
    uint32_t n = 0;
    for (size_t i = 0; i < kSealLengthBytes; ++i) n |= uint32_t(uint8_t(prefix[i])) << (8 * i);
    return n;
}

}  // namespace ssi::remote
