#include "libssi/remote/socket_protocol.h"

#include <cerrno>

namespace ssi::remote {
namespace {

constexpr const char* kNames[] = {"SockOpen",   "SockConnect", "SockBind", "SockListen", "SockName",
                                  "SockSetOpt", "SockGetOpt",  "SockData", "SockAck",    "SockEof",
                                  "SockClose",  "SockTaken",   "SockReply", "SockAccepted", "SockDone"};
static_assert(std::size(kNames) == std::variant_size_v<SocketMessage>);

// Bounds on what the decoder builds, so a few hostile bytes cannot ask for gigabytes.
const msgpack::unpack_limit kLimits(/*array=*/64, /*map=*/0, /*str=*/0, /*bin=*/kSocketChunkBytes,
                                    /*ext=*/0, /*depth=*/4);

// How many fields a message type packs (its array's length), found once by packing one.
template <class T>
uint32_t field_count() {
    static const uint32_t count = [] {
        msgpack::sbuffer buffer;
        msgpack::pack(buffer, T{});
        return msgpack::unpack(buffer.data(), buffer.size()).get().via.array.size;
    }();
    return count;
}

template <size_t I = 0>
Result<SocketMessage> convert_as(uint64_t type, const msgpack::object& body) {
    if constexpr (I == std::variant_size_v<SocketMessage>) {
        return make_error("decode", "unknown socket message type " + std::to_string(type), EPROTO);
    } else {
        if (type != I + 1) return convert_as<I + 1>(type, body);
        using T = std::variant_alternative_t<I, SocketMessage>;
        // Exactly the fields the type defines (msgpack would default missing ones).
        if (body.type != msgpack::type::ARRAY || body.via.array.size != field_count<T>())
            return make_error("decode", std::string(kNames[I]) + " with the wrong fields", EPROTO);
        T value;
        body.convert(value);  // throws msgpack::type_error on a shape mismatch
        return SocketMessage{std::in_place_index<I>, std::move(value)};
    }
}

}  // namespace

const char* socket_message_name(const SocketMessage& message) { return kNames[message.index()]; }

namespace {

// Packs straight into the string that is sent, sized once: a data chunk is copied once here.
struct StringWriter {
    std::string& out;
    void write(const char* data, size_t size) { out.append(data, size); }
};

}  // namespace

std::string encode_socket_message(const SocketMessage& message) {
    std::string out;
    const auto* data = std::get_if<SockData>(&message);
    out.reserve(64 + (data ? data->bytes.size() : 0));
    StringWriter writer{out};
    msgpack::packer<StringWriter> pk(writer);
    pk.pack_array(3);
    pk.pack(kSocketProtocolVersion);
    pk.pack(static_cast<uint32_t>(message.index() + 1));
    std::visit([&](const auto& body) { pk.pack(body); }, message);
    return out;
}

Result<SocketMessage> decode_socket_message(std::span<const char> bytes) {
    if (bytes.size() > kMaxSocketMessageBytes)
        return make_error("decode", "socket message of " + std::to_string(bytes.size()) + " bytes is too large", EMSGSIZE);
    try {
        size_t offset = 0;
        // Bytes are referenced in `bytes`, not copied first: they are copied once, into the
        // message, before this returns.
        auto reference = [](msgpack::type::object_type, size_t, void*) { return true; };
        msgpack::object_handle handle = msgpack::unpack(bytes.data(), bytes.size(), offset, reference, nullptr, kLimits);
        if (offset != bytes.size()) return make_error("decode", "trailing bytes after socket message", EPROTO);
        const msgpack::object& root = handle.get();
        if (root.type != msgpack::type::ARRAY || root.via.array.size != 3)
            return make_error("decode", "not an ssi socket message", EPROTO);
        const msgpack::object* a = root.via.array.ptr;
        if (a[0].type != msgpack::type::POSITIVE_INTEGER || a[0].via.u64 != kSocketProtocolVersion)
            return make_error("decode", "socket protocol version mismatch, expected " + std::to_string(kSocketProtocolVersion), EPROTO);
        if (a[1].type != msgpack::type::POSITIVE_INTEGER) return make_error("decode", "not an ssi socket message", EPROTO);
        return convert_as(a[1].via.u64, a[2]);
    } catch (const msgpack::insufficient_bytes&) {
        return make_error("decode", "truncated socket message", EPROTO);
    } catch (const std::bad_alloc&) {
        return make_error("decode", "socket message too large to decode", EMSGSIZE);
    } catch (const std::exception& e) {
        return make_error("decode", std::string("malformed socket message: ") + e.what(), EPROTO);
    }
}

}  // namespace ssi::remote
