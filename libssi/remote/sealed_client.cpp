#include "libssi/remote/sealed_client.h"

#include "kern-ext/files.h"
#include "kern-ext/inet_socket.h"
#include "kern-ext/socket_ops.h"
#include "libssi/wire/messages.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <memory>

namespace ssi::remote {
namespace {

// A deputy that does not take a connection and send its header in this long is gone (or
// its machine is): better EIO now than the kernel's two minutes of SYN retries.
constexpr int kConnectTimeoutMs = 5000;

}  // namespace

Result<std::unique_ptr<SealedClient>> SealedClient::connect(const std::string& address, uint16_t port,
                                                            const SealKeys& keys, int reply_timeout_ms) {
    UniqueFd fd = TRY(connect_tcp(address, port, kConnectTimeoutMs));
    TRY(set_receive_timeout(fd.get(), std::min(reply_timeout_ms, kConnectTimeoutMs)));
    std::unique_ptr<SealedClient> c(new SealedClient(std::move(fd), keys));
    // The deputy's header, then ours and the proof: its header, sealed.
    std::array<unsigned char, kSealHeaderBytes> theirs;
    TRY(c->read_exactly(reinterpret_cast<char*>(theirs.data()), theirs.size()));
    TRY(c->opener_.start(keys.receive, theirs));
    const auto& ours = c->sealer_.header();
    c->out_.assign(reinterpret_cast<const char*>(ours.data()), ours.size());
    TRY(c->sealer_.seal(std::string_view(reinterpret_cast<const char*>(theirs.data()), theirs.size()), c->out_));
    TRY(write_all(c->fd_.get(), c->out_));
    TRY(set_receive_timeout(c->fd_.get(), reply_timeout_ms));
    return c;
}

Result<void> SealedClient::read_exactly(char* into, size_t size) {
    while (size) {
        auto n = read_some(fd_.get(), std::span<char>(into, size));
        if (!n) return n.error().err == EAGAIN ? make_error("read", "the deputy's reply", ETIMEDOUT) : n.error();
        if (*n == 0) return make_error("read", "the deputy closed the link", ECONNRESET);
        into += *n;
        size -= *n;
    }
    return ok();
}

Result<zmq::message_t> SealedClient::call(std::string_view request) {
    out_.clear();
    TRY(sealer_.seal(request, out_));
    TRY(write_all(fd_.get(), out_));
    char prefix[kSealLengthBytes];
    TRY(read_exactly(prefix, sizeof prefix));
    uint32_t length = sealed_length(std::span<const char, kSealLengthBytes>(prefix, kSealLengthBytes));
    if (length < kSealOverhead || length - kSealOverhead > wire::kMaxMessageBytes)
        return make_error("seal", "a reply of impossible length", EPROTO);
    // Read into the reply's own buffer and opened there: the reply is its first bytes.
    std::unique_ptr<char, decltype(&std::free)> bytes(static_cast<char*>(std::malloc(length)), &std::free);
    if (!bytes) return make_error("malloc", "a reply", ENOMEM);
    TRY(read_exactly(bytes.get(), length));
    TRY(opener_.open_in_place(std::span<char>(bytes.get(), length)));
    return zmq::message_t(bytes.release(), length - kSealOverhead, [](void* data, void*) { std::free(data); });
}

void SealedClient::shut_down() { (void)shutdown_socket(fd_.get(), SHUT_RDWR); }

}  // namespace ssi::remote
