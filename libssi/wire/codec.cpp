#include "libssi/wire/codec.h"

#include <cerrno>
#include <utility>

namespace ssi::wire {
namespace {

constexpr const char* kTypeNames[] = {"Heartbeat", "TableDelta",      "SnapshotRequest",
                                      "KillRequest", "KillReply",     "PsRequest",
                                      "PsReply",     "ClusterPsRequest", "ClusterPsReply",
                                      "NodesRequest", "NodesReply",   "ErrorReply",
                                      "RunRequest",  "RunReply",      "SessionHello",
                                      "StdinData",   "OutputData",    "ForwardSignal",
                                      "ProgramExited", "Keepalive",   "WindowSize",
                                      "CheckpointRequest", "CheckpointReply", "RestartRequest",
                                      "RestartReply", "RestartWaitRequest", "MigrateRequest",
                                      "MigrateReply", "MoveOrder", "DeputyParked", "CheckpointOrder",
                                      "CheckpointDone", "RestoreReady", "ResumeOrder", "Resumed",
                                      "TerminalForeground", "ChildReserve", "ChildReserved", "ChildEnded",
                                      "ChildSignal", "StdinTaken", "OutputTaken", "LastWordReceived",
                                      "HomeSignal"};
static_assert(std::size(kTypeNames) == std::variant_size_v<Message>);

// Bounds on what a decoder will build, so a few hostile bytes cannot ask for gigabytes.
const msgpack::unpack_limit kLimits(/*array=*/1'000'000, /*map=*/1024, /*str=*/kMaxMessageBytes,
                                    /*bin=*/kMaxMessageBytes, /*ext=*/0, /*depth=*/16);

// How many fields T has on the wire: what a default T packs to.
template <class T>
uint32_t field_count() {
    static const uint32_t count = [] {
        msgpack::sbuffer b;
        msgpack::pack(b, T{});
        return msgpack::unpack(b.data(), b.size()).get().via.array.size;
    }();
    return count;
}

template <size_t I = 0>
Result<Message> convert_body(size_t type, const msgpack::object& body) {
    if constexpr (I == std::variant_size_v<Message>) {
        return make_error("decode", "unknown message type " + std::to_string(type + 1), EPROTO);
    } else {
        if (type != I) return convert_body<I + 1>(type, body);
        using T = std::variant_alternative_t<I, Message>;
        // Exactly the fields this version defines: msgpack would quietly default missing
        // ones (a KillRequest without its uid would read as root's).
        if (body.type != msgpack::type::ARRAY || body.via.array.size != field_count<T>())
            return make_error("decode", std::string(kTypeNames[I]) + " with the wrong number of fields", EPROTO);
        T value;
        body.convert(value);  // throws msgpack::type_error on a shape mismatch
        return Message{std::in_place_index<I>, std::move(value)};
    }
}

}  // namespace

const char* type_name(const Message& m) { return kTypeNames[m.index()]; }

std::string encode(const Envelope& envelope) {
    msgpack::sbuffer buffer;
    msgpack::packer<msgpack::sbuffer> pk(buffer);
    pk.pack_array(4);
    pk.pack(kProtocolVersion);
    pk.pack(static_cast<uint32_t>(envelope.body.index() + 1));
    pk.pack(envelope.request_id);
    std::visit([&](const auto& body) { pk.pack(body); }, envelope.body);
    return std::string(buffer.data(), buffer.size());
}

Result<Envelope> decode(std::span<const char> bytes) {
    if (bytes.size() > kMaxMessageBytes)
        return make_error("decode", "message of " + std::to_string(bytes.size()) + " bytes is too large", EMSGSIZE);
    try {
        size_t offset = 0;
        msgpack::object_handle handle =
            msgpack::unpack(bytes.data(), bytes.size(), offset, nullptr, nullptr, kLimits);
        if (offset != bytes.size()) return make_error("decode", "trailing bytes after message", EPROTO);
        const msgpack::object& root = handle.get();
        if (root.type != msgpack::type::ARRAY || root.via.array.size != 4)
            return make_error("decode", "not an ssi envelope", EPROTO);
        const msgpack::object* f = root.via.array.ptr;
        if (f[0].type != msgpack::type::POSITIVE_INTEGER || f[1].type != msgpack::type::POSITIVE_INTEGER ||
            f[2].type != msgpack::type::POSITIVE_INTEGER)
            return make_error("decode", "not an ssi envelope", EPROTO);
        uint64_t version = f[0].via.u64;
        if (version != kProtocolVersion)
            return make_error("decode",
                              "protocol version " + std::to_string(version) + ", expected " +
                                  std::to_string(kProtocolVersion),
                              EPROTO);
        uint64_t type = f[1].via.u64;
        if (type == 0 || type > std::variant_size_v<Message>)
            return make_error("decode", "unknown message type " + std::to_string(type), EPROTO);
        Message body = TRY(convert_body(type - 1, f[3]));
        return Envelope{f[2].via.u64, std::move(body)};
    } catch (const msgpack::insufficient_bytes&) {
        return make_error("decode", "truncated message", EPROTO);
    } catch (const std::bad_alloc&) {
        return make_error("decode", "message too large to decode", EMSGSIZE);
    } catch (const std::exception& e) {
        return make_error("decode", std::string("malformed message: ") + e.what(), EPROTO);
    }
}

}  // namespace ssi::wire
