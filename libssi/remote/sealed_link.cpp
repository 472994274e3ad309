#include "libssi/remote/sealed_link.h"

#include <gcrypt.h>
#include <sodium/core.h>
#include <sodium/crypto_generichash.h>
#include <sodium/crypto_kx.h>
#include <sodium/randombytes.h>
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

namespace {

// libgcrypt, set up once per process: without its secure memory (keys live in ordinary
// memory here, as libsodium's and ZeroMQ's do) — setting up that mlock()ed pool cost ~1 ms
// of page faults per start on this VM.
Result<void> gcrypt_ready() {
    static const bool ready = [] {
        gcry_control(GCRYCTL_DISABLE_SECMEM, 0);
        if (!gcry_check_version(GCRYPT_VERSION)) return false;
        gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
        return true;
    }();
    if (!ready) return make_error("gcry_check_version", GCRYPT_VERSION, ENOSYS);
    return ok();
}

Error gcrypt_error(const char* call, gcry_error_t e) {
    int err = gcry_err_code_to_errno(gcry_err_code(e));
    return make_error(call, gcry_strerror(e), err ? err : EIO);
}

std::array<unsigned char, kSealHeaderBytes> fresh_header() {
    std::array<unsigned char, kSealHeaderBytes> header;
    randombytes_buf(header.data(), header.size());
    return header;
}

// The GCM nonce of message number n: n little-endian, then zeros.
std::array<unsigned char, 12> nonce_of(uint64_t n) {
    std::array<unsigned char, 12> nonce{};
    for (size_t i = 0; i < 8; ++i) nonce[i] = (unsigned char)(n >> (8 * i));
    return nonce;
}

}  // namespace

void SealCipher::Close::operator()(gcry_cipher_handle* handle) const { gcry_cipher_close(handle); }

Result<SealCipher> SealCipher::make(const SealKey& key, std::span<const unsigned char, kSealHeaderBytes> header) {
    TRY(ready());
    TRY(gcrypt_ready());
    SealKey connection_key;
    crypto_generichash(connection_key.data(), connection_key.size(), header.data(), header.size(), key.data(), key.size());
    gcry_cipher_hd_t opened = nullptr;
    gcry_error_t e = gcry_cipher_open(&opened, GCRY_CIPHER_AES256, GCRY_CIPHER_MODE_GCM, 0);
    Handle handle(opened);
    if (!e) e = gcry_cipher_setkey(opened, connection_key.data(), connection_key.size());
    sodium_memzero(connection_key.data(), connection_key.size());
    if (e) return gcrypt_error("gcry_cipher_open", e);
    return SealCipher(std::move(handle));
}

Result<void> SealCipher::seal(const char* in, size_t size, char* out) {
    auto nonce = nonce_of(next_++);
    auto* to = reinterpret_cast<unsigned char*>(out);
    gcry_error_t e = gcry_cipher_setiv(handle_.get(), nonce.data(), nonce.size());
    if (!e) e = gcry_cipher_final(handle_.get());
    if (!e) e = gcry_cipher_encrypt(handle_.get(), to, size, in, size);
    if (!e) e = gcry_cipher_gettag(handle_.get(), to + size, kSealOverhead);
    if (e) return gcrypt_error("gcry_cipher_encrypt", e);
    return ok();
}

Result<void> SealCipher::open(std::span<const char> sealed, char* out) { return open_into(sealed, out); }

Result<void> SealCipher::open_in_place(std::span<char> sealed) { return open_into(sealed, nullptr); }

// Into `out`, or in place when it is null (libgcrypt's in-place form: no input buffer).
Result<void> SealCipher::open_into(std::span<const char> sealed, char* out) {
    if (sealed.size() < kSealOverhead) return make_error("seal", "a message shorter than its tag", EBADMSG);
    size_t size = sealed.size() - kSealOverhead;
    auto nonce = nonce_of(next_);
    gcry_error_t e = gcry_cipher_setiv(handle_.get(), nonce.data(), nonce.size());
    if (!e) e = gcry_cipher_final(handle_.get());
    if (!e) {
        e = out ? gcry_cipher_decrypt(handle_.get(), out, size, sealed.data(), size)
                : gcry_cipher_decrypt(handle_.get(), const_cast<char*>(sealed.data()), size, nullptr, 0);
    }
    if (!e) e = gcry_cipher_checktag(handle_.get(), sealed.data() + size, kSealOverhead);
    if (e) return make_error("seal", "a message that does not open", EBADMSG);
    ++next_;  // only now: a message that failed does not move the count
    return ok();
}

Sealer::Sealer(const SealKey& key) : header_(fresh_header()), cipher_(SealCipher::make(key, header_)) {}

Result<void> Sealer::seal_into(std::string_view message, char* frame) {
    if (!cipher_) return cipher_.error();
    uint32_t length = uint32_t(message.size() + kSealOverhead);
    for (size_t i = 0; i < kSealLengthBytes; ++i) frame[i] = char(length >> (8 * i));
    return cipher_->seal(message.data(), message.size(), frame + kSealLengthBytes);
}

Result<void> Sealer::seal(std::string_view message, std::string& out) {
    size_t at = out.size();
    out.resize(at + sealed_frame_size(message.size()));
    auto sealed = seal_into(message, out.data() + at);
    if (!sealed) out.resize(at);
    return sealed;
}

Result<void> Opener::start(const SealKey& key, std::span<const unsigned char> header) {
    if (header.size() != kSealHeaderBytes) return make_error("seal", "bad header", EPROTO);
    cipher_.emplace(TRY(SealCipher::make(key, header.first<kSealHeaderBytes>())));
    return ok();
}

Result<void> Opener::open(std::span<const char> sealed, char* out) {
    if (!cipher_) return make_error("seal", "a message before the header", EBADMSG);
    return cipher_->open(sealed, out);
}

Result<void> Opener::open_in_place(std::span<char> sealed) {
    if (!cipher_) return make_error("seal", "a message before the header", EBADMSG);
    return cipher_->open_in_place(sealed);
}

void prepare_sealing() {
    SealKey key{};
    std::array<unsigned char, kSealHeaderBytes> header{};
    auto cipher = SealCipher::make(key, header);
    char in[16] = {}, out[sizeof in + kSealOverhead];
    if (cipher) (void)cipher->seal(in, sizeof in, out);
}

uint32_t sealed_length(std::span<const char, kSealLengthBytes> prefix) {
    uint32_t n = 0;
    for (size_t i = 0; i < kSealLengthBytes; ++i) n |= uint32_t(uint8_t(prefix[i])) << (8 * i);
    return n;
}

}  // namespace ssi::remote
