#include "libssi/remote/fs_protocol.h"

#include <cerrno>

namespace ssi::remote {
namespace {

constexpr const char* kRequestNames[] = {
    "LookupRequest",  "ForgetRequest",  "GetattrRequest", "SetattrRequest",    "ReadlinkRequest",
    "MknodRequest",   "MkdirRequest",   "UnlinkRequest",  "RmdirRequest",      "SymlinkRequest",
    "RenameRequest",  "LinkRequest",    "OpenRequest",    "CreateRequest",     "ReadRequest",
    "WriteRequest",   "FlushRequest",   "ReleaseRequest", "FsyncRequest",      "OpendirRequest",
    "ReaddirRequest", "ReleasedirRequest", "StatfsRequest", "AccessRequest",   "GetlkRequest",
    "SetlkRequest",   "FlockRequest",   "FallocateRequest", "ReaddirplusRequest",
    "PrimeRequest"};
static_assert(std::size(kRequestNames) == std::variant_size_v<FsRequest>);

// Bounds on what a decoder will build, so a few hostile bytes cannot ask for gigabytes.
const msgpack::unpack_limit kLimits(/*array=*/100'000, /*map=*/0, /*str=*/1 << 16,
                                    /*bin=*/kMaxIo, /*ext=*/0, /*depth=*/8);

template <class Variant, size_t I = 0>
Result<Variant> convert_as(size_t type, const msgpack::object& body) {
    if constexpr (I == std::variant_size_v<Variant>) {
        return make_error("decode", "unknown file operation type " + std::to_string(type + 1), EPROTO);
    } else {
        if (type != I) return convert_as<Variant, I + 1>(type, body);
        std::variant_alternative_t<I, Variant> value;
        body.convert(value);  // throws msgpack::type_error on a shape mismatch
        return Variant{std::in_place_index<I>, std::move(value)};
    }
}

template <class Variant>
void pack_header_and_body(msgpack::packer<msgpack::sbuffer>& pk, const Variant& v) {
    pk.pack(static_cast<uint32_t>(v.index() + 1));
    std::visit([&](const auto& body) { pk.pack(body); }, v);
}

// Unpacks `bytes` as an array of `fields` whose first is our version; calls f(fields ptr).
template <class F>
auto unpack_checked(std::span<const char> bytes, uint32_t fields, F&& f) -> decltype(f(nullptr)) {
    if (bytes.size() > kMaxFsMessageBytes)
        return make_error("decode", "message of " + std::to_string(bytes.size()) + " bytes is too large", EMSGSIZE);
    try {
        size_t offset = 0;
        msgpack::object_handle handle =
            msgpack::unpack(bytes.data(), bytes.size(), offset, nullptr, nullptr, kLimits);
        if (offset != bytes.size()) return make_error("decode", "trailing bytes after message", EPROTO);
        const msgpack::object& root = handle.get();
        if (root.type != msgpack::type::ARRAY || root.via.array.size != fields)
            return make_error("decode", "not an ssi file message", EPROTO);
        const msgpack::object* a = root.via.array.ptr;
        for (uint32_t i = 0; i + 1 < fields; ++i)
            if (a[i].type != msgpack::type::POSITIVE_INTEGER && a[i].type != msgpack::type::NEGATIVE_INTEGER)
                return make_error("decode", "not an ssi file message", EPROTO);
        if (a[0].type != msgpack::type::POSITIVE_INTEGER || a[0].via.u64 != kFsProtocolVersion)
            return make_error("decode", "file protocol version " + std::to_string(a[0].via.i64) + ", expected " +
                                            std::to_string(kFsProtocolVersion), EPROTO);
        return f(a);
    } catch (const msgpack::insufficient_bytes&) {
        return make_error("decode", "truncated message", EPROTO);
    } catch (const std::bad_alloc&) {
        return make_error("decode", "message too large to decode", EMSGSIZE);
    } catch (const std::exception& e) {
        return make_error("decode", std::string("malformed message: ") + e.what(), EPROTO);
    }
}

template <class Variant>
Result<Variant> convert_typed(const msgpack::object& type, const msgpack::object& body) {
    if (type.type != msgpack::type::POSITIVE_INTEGER || type.via.u64 == 0 ||
        type.via.u64 > std::variant_size_v<Variant>)
        return make_error("decode", "unknown message type", EPROTO);
    return convert_as<Variant>(type.via.u64 - 1, body);
}

}  // namespace

const char* request_name(const FsRequest& request) { return kRequestNames[request.index()]; }

std::string encode_request(const FsRequest& request) {
    msgpack::sbuffer buffer;
    msgpack::packer<msgpack::sbuffer> pk(buffer);
    pk.pack_array(3);
    pk.pack(kFsProtocolVersion);
    pack_header_and_body(pk, request);
    return std::string(buffer.data(), buffer.size());
}

std::string encode_reply(const FsReply& reply) {
    msgpack::sbuffer buffer;
    msgpack::packer<msgpack::sbuffer> pk(buffer);
    pk.pack_array(4);
    pk.pack(kFsProtocolVersion);
    pk.pack(static_cast<uint32_t>(reply.body.index() + 1));
    pk.pack(reply.err);
    std::visit([&](const auto& body) { pk.pack(body); }, reply.body);
    return std::string(buffer.data(), buffer.size());
}

Result<FsRequest> decode_request(std::span<const char> bytes) {
    return unpack_checked(bytes, 3, [](const msgpack::object* a) -> Result<FsRequest> {
        return convert_typed<FsRequest>(a[1], a[2]);
    });
}

Result<FsReply> decode_reply(std::span<const char> bytes) {
    return unpack_checked(bytes, 4, [](const msgpack::object* a) -> Result<FsReply> {
        FsReplyBody body = TRY(convert_typed<FsReplyBody>(a[1], a[3]));
        int64_t err = a[2].via.i64;
        if (a[2].type == msgpack::type::POSITIVE_INTEGER && a[2].via.u64 > 4095)
            return make_error("decode", "errno out of range", EPROTO);
        if (err < 0) return make_error("decode", "negative errno", EPROTO);
        return FsReply{static_cast<int32_t>(err), std::move(body)};
    });
}

}  // namespace ssi::remote
