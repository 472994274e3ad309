#include "libssi/remote/fs_protocol.h"

#include <array>
#include <cerrno>
#include <cstring>

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

// Messages are packed straight into the string they travel as (an sbuffer would be copied
// into one afterwards).
struct StringSink {
    std::string& out;
    void write(const char* data, size_t size) { out.append(data, size); }
};
using Packer = msgpack::packer<StringSink>;

template <class Variant>
void pack_header_and_body(Packer& pk, const Variant& v) {
    pk.pack(static_cast<uint32_t>(v.index() + 1));
    std::visit([&](const auto& body) { pk.pack(body); }, v);
}

// For decoders that read bin payloads where they lie in the message instead of copying them.
bool reference_bins(msgpack::type::object_type type, size_t, void*) { return type == msgpack::type::BIN; }

template <class T, class Variant, size_t I = 0>
constexpr uint32_t wire_type_of() {  // the reply type number a body of type T travels as
    if constexpr (std::is_same_v<T, std::variant_alternative_t<I, Variant>>) return I + 1;
    else return wire_type_of<T, Variant, I + 1>();
}

// Unpacks `bytes` as an array of `fields` whose first is our version; calls f(fields ptr).
template <class F>
auto unpack_checked(std::span<const char> bytes, uint32_t fields, F&& f,
                    msgpack::unpack_reference_func reference = nullptr) -> decltype(f(nullptr)) {
    if (bytes.size() > kMaxFsMessageBytes)
        return make_error("decode", "message of " + std::to_string(bytes.size()) + " bytes is too large", EMSGSIZE);
    try {
        size_t offset = 0;
        msgpack::object_handle handle =
            msgpack::unpack(bytes.data(), bytes.size(), offset, reference, nullptr, kLimits);
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
    std::string out;
    StringSink sink{out};
    Packer pk(sink);
    pk.pack_array(3);
    pk.pack(kFsProtocolVersion);
    pack_header_and_body(pk, request);
    return out;
}

std::string encode_write_request(uint64_t handle, int64_t offset, std::span<const char> data) {
    std::string out;
    out.reserve(data.size() + 32);
    StringSink sink{out};
    Packer pk(sink);
    pk.pack_array(3);
    pk.pack(kFsProtocolVersion);
    pk.pack(wire_type_of<WriteRequest, FsRequest>());
    pk.pack_array(3);  // WriteRequest's fields, in MSGPACK_DEFINE_ARRAY's order
    pk.pack(handle);
    pk.pack(offset);
    pk.pack_bin(static_cast<uint32_t>(data.size()));
    pk.pack_bin_body(data.data(), static_cast<uint32_t>(data.size()));
    return out;
}

std::string encode_reply(const FsReply& reply) {
    std::string out;
    StringSink sink{out};
    Packer pk(sink);
    pk.pack_array(4);
    pk.pack(kFsProtocolVersion);
    pk.pack(static_cast<uint32_t>(reply.body.index() + 1));
    pk.pack(reply.err);
    std::visit([&](const auto& body) { pk.pack(body); }, reply.body);
    return out;
}

Result<FsRequest> decode_request(std::span<const char> bytes) {
    // A WRITE's data is copied once, from the bytes into the request (not through a zone).
    return unpack_checked(
        bytes, 3, [](const msgpack::object* a) -> Result<FsRequest> { return convert_typed<FsRequest>(a[1], a[2]); },
        reference_bins);
}

Result<int32_t> reply_errno(const msgpack::object& field) {
    if (field.type == msgpack::type::POSITIVE_INTEGER && field.via.u64 > 4095)
        return make_error("decode", "errno out of range", EPROTO);
    if (field.via.i64 < 0) return make_error("decode", "negative errno", EPROTO);
    return static_cast<int32_t>(field.via.i64);
}

Result<FsReply> decode_reply(std::span<const char> bytes) {
    return unpack_checked(bytes, 4, [](const msgpack::object* a) -> Result<FsReply> {
        FsReplyBody body = TRY(convert_typed<FsReplyBody>(a[1], a[3]));
        return FsReply{TRY(reply_errno(a[2])), std::move(body)};
    });
}

// A message's first bytes, packed where they will be copied from.
struct SmallSink {
    std::array<char, 32> bytes;
    size_t size = 0;
    void write(const char* data, size_t n) {
        if (size + n > bytes.size()) throw std::length_error("SmallSink");
        std::memcpy(bytes.data() + size, data, n);
        size += n;
    }
};

void encode_data_reply(std::string& out, size_t max, const std::function<Result<size_t>(std::span<char>)>& fill) {
    SmallSink head;
    msgpack::packer<SmallSink> pk(head);
    pk.pack_array(4);
    pk.pack(kFsProtocolVersion);
    pk.pack(wire_type_of<DataReply, FsReplyBody>());
    pk.pack(int32_t(0));
    pk.pack_array(1);
    // The data's bin header is always bin 32 (decoders take any width), so its length can
    // be written after the read, and the read goes straight to where it travels from.
    // `out` is not cleared first: its old bytes are overwritten, not zero-filled again.
    const size_t at = head.size + 5;
    out.resize(at + max);
    std::memcpy(out.data(), head.bytes.data(), head.size);
    auto n = fill(std::span(out).subspan(at, max));
    if (!n || *n > max) {
        out = encode_error_reply(!n && n.error().err != 0 ? n.error().err : EIO);
        return;
    }
    const auto size = static_cast<uint32_t>(*n);
    const unsigned char bin32[5] = {0xc6, uint8_t(size >> 24), uint8_t(size >> 16), uint8_t(size >> 8), uint8_t(size)};
    std::memcpy(out.data() + head.size, bin32, sizeof bin32);
    out.resize(at + size);
}

Result<DataReplyView> decode_data_reply(std::span<const char> bytes) {
    return unpack_checked(
        bytes, 4,
        [](const msgpack::object* a) -> Result<DataReplyView> {
            const int32_t err = TRY(reply_errno(a[2]));
            if (err != 0) return DataReplyView{err, {}};
            const msgpack::object& body = a[3];
            if (a[1].via.u64 != wire_type_of<DataReply, FsReplyBody>() || body.type != msgpack::type::ARRAY ||
                body.via.array.size != 1 || body.via.array.ptr[0].type != msgpack::type::BIN)
                return make_error("decode", "not a data reply", EPROTO);
            const msgpack::object_bin& bin = body.via.array.ptr[0].via.bin;
            return DataReplyView{0, std::span<const char>(bin.ptr, bin.size)};
        },
        reference_bins);
}

}  // namespace ssi::remote
