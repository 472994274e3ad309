// libFuzzer target for everything a peer or a local tool can make us decode: wire::decode
// on the raw bytes, and FrameReader on the same bytes as a stream. Properties, beyond "no
// crash, no sanitizer report":
//   - whatever decodes re-encodes into bytes that decode again, and re-encoding that gives
//     the very same bytes (encode is a fixed point after one round);
//   - FrameReader hands back exactly what frame() wrapped, however the stream is cut.
#include "libssi/wire/codec.h"
#include "libssi/wire/framing.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>

namespace {

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "wire_decode_fuzzer: %s\n", what);
    std::abort();
}

void check_round_trip(std::span<const char> bytes) {
    auto first = ssi::wire::decode(bytes);
    if (!first) return;
    std::string once = ssi::wire::encode(*first);
    auto second = ssi::wire::decode(once);
    if (!second) fail("a decoded message re-encodes into bytes that do not decode");
    if (second->request_id != first->request_id || second->body.index() != first->body.index())
        fail("a re-encoded message decodes to a different header");
    if (ssi::wire::encode(*second) != once) fail("encode(decode(encode(m))) != encode(m)");
    (void)ssi::wire::type_name(second->body);
}

// The input as a byte stream cut in two at a place the input chooses.
void check_stream(std::span<const char> bytes) {
    constexpr size_t kLimit = 1 << 16;
    ssi::wire::FrameReader reader(kLimit);
    size_t cut = bytes.empty() ? 0 : static_cast<unsigned char>(bytes[0]) % (bytes.size() + 1);
    for (auto part : {bytes.first(cut), bytes.subspan(cut)}) {
        reader.feed(part);
        for (;;) {
            auto next = reader.next();
            if (!next) return;  // a frame over the limit: the caller closes the stream
            if (!*next) break;
            if ((*next)->size() > kLimit) fail("FrameReader returned a message over its limit");
            check_round_trip(**next);
        }
    }
}

void check_framing(std::span<const char> bytes) {
    std::string payload(bytes.data(), bytes.size());
    std::string framed = ssi::wire::frame(payload);
    ssi::wire::FrameReader reader(payload.size());
    size_t cut = framed.size() / 2;
    reader.feed(std::span<const char>(framed).first(cut));
    auto early = reader.next();
    if (!early || *early) fail("FrameReader returned a message from half a frame");
    reader.feed(std::span<const char>(framed).subspan(cut));
    auto whole = reader.next();
    if (!whole || !*whole || **whole != payload) fail("frame() then FrameReader did not give the payload back");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::span<const char> bytes(reinterpret_cast<const char*>(data), size);
    check_round_trip(bytes);
    check_stream(bytes);
    check_framing(bytes);
    return 0;
}
