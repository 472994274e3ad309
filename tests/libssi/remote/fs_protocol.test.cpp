// libssi/remote/fs_protocol: every request and reply survives encode/decode, and bytes that
// are not a valid message decode to an Error, never an exception.
#include "libssi/remote/fs_protocol.h"

#include <catch2/catch.hpp>

#include <fcntl.h>

#include <cerrno>
#include <random>

using namespace ssi;
using namespace ssi::remote;

namespace {

Attr sample_attr() {
    return Attr{1ull << 40, 0100644, 3, 1000, 1001, 0, 5'000'000'000, 4096, 9'765'632,
                -1, 999'999'999, 1'700'000'000, 5, 1'700'000'001, 6};
}

std::vector<FsRequest> sample_requests() {
    Lock l{F_WRLCK, 10, 0, 0};
    return {LookupRequest{1, "name \xc3\xa9"}, ForgetRequest{{{2, 3}, {4, 1}}}, GetattrRequest{5, 6},
            SetattrRequest{7, 8, kSetMode | kSetSize | kSetMtimeNow, 0640, 1, 2, 1ll << 33, 1, 2, 3, 4},
            ReadlinkRequest{9}, MknodRequest{1, "fifo", 010644, 0}, MkdirRequest{1, "d", 0755},
            UnlinkRequest{1, "u"}, RmdirRequest{1, "r"}, SymlinkRequest{"../t", 1, "s"},
            RenameRequest{1, "a", 2, "b", 1}, LinkRequest{3, 1, "l"}, OpenRequest{3, O_RDWR | O_APPEND},
            CreateRequest{1, "c", 0600, O_WRONLY | O_EXCL}, ReadRequest{4, 1ll << 35, 131072},
            WriteRequest{4, 7, Bytes{'a', '\0', 'b'}}, FlushRequest{3, 4, 0xdeadbeefcafeull},
            ReleaseRequest{{4, 9}}, FsyncRequest{4, true}, OpendirRequest{1}, ReaddirRequest{5, 77, 4096},
            ReleasedirRequest{5}, StatfsRequest{1}, AccessRequest{1, 7}, GetlkRequest{3, 4, 5, l},
            SetlkRequest{3, 4, 5, l}, FlockRequest{4, 2}, FallocateRequest{4, 1, 2, 3},
            ReaddirplusRequest{5, 78, 8192}, PrimeRequest{{{"usr", false}, {"lib64", true}}}};
}

std::vector<FsReply> sample_replies() {
    return {{0, EmptyReply{}},
            {0, EntryReply{42, sample_attr()}},
            {0, AttrReply{sample_attr()}},
            {0, ReadlinkReply{"/a/b"}},
            {0, OpenReply{7, sample_attr()}},
            {0, OpenReply{7, sample_attr(), true, Bytes{'s', 'm', 'a', 'l', 'l'}}},
            {0, CreateReply{EntryReply{43, sample_attr()}, 8}},
            {0, DataReply{Bytes(100'000, '\x7f')}},
            {0, WriteReply{4096}},
            {0, DirReply{{{1, 4, 10, "."}, {2, 8, 20, "file"}}, true}},
            {0, StatfsReply{4096, 4096, 1, 2, 3, 4, 5, 6, 7, 8, 255}},
            {0, LockReply{Lock{F_RDLCK, 1, 2, 0}}},
            {0, DirplusReply{{{{1, 4, 10, "."}, 0, {}}, {{2, 8, 20, "file"}, 44, sample_attr()}}, true}},
            {0, PrimeReply{{{1, "usr", EntryReply{45, sample_attr()}, false, "", true},
                            {1, "lib64", EntryReply{46, sample_attr()}, true, "usr/lib64", false}},
                           true}},
            {ENOENT, EmptyReply{}}};
}

}  // namespace

TEST_CASE("fs_protocol: every request and reply round-trips", "[remote][fs_protocol]") {
    for (const auto& request : sample_requests()) {
        INFO(request_name(request));
        auto decoded = decode_request(encode_request(request));
        REQUIRE(decoded.ok());
        CHECK(decoded->index() == request.index());
        CHECK(encode_request(*decoded) == encode_request(request));
    }
    for (const auto& reply : sample_replies()) {
        auto decoded = decode_reply(encode_reply(reply));
        REQUIRE(decoded.ok());
        CHECK(decoded->err == reply.err);
        CHECK(decoded->body.index() == reply.body.index());
        CHECK(encode_reply(*decoded) == encode_reply(reply));
    }
}

TEST_CASE("fs_protocol: bad bytes decode to errors", "[remote][fs_protocol]") {
    std::string good = encode_request(WriteRequest{1, 2, Bytes(1000, 'x')});
    SECTION("every truncation") {
        for (size_t n = 0; n < good.size(); ++n) CHECK_FALSE(decode_request(std::string_view(good).substr(0, n)).ok());
    }
    SECTION("trailing bytes, a reply as a request, another version") {
        CHECK_FALSE(decode_request(good + "x").ok());
        CHECK_FALSE(decode_request(encode_reply({0, WriteReply{1}})).ok());
        std::string other = good;
        other[1] = char(kFsProtocolVersion + 1);  // [version, ...] -> the next version
        auto r = decode_request(other);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().err == EPROTO);
    }
    SECTION("random bytes and random flips never throw") {
        std::mt19937 rng(7);
        for (int i = 0; i < 20000; ++i) {
            std::string b = good;
            for (int k = 0; k < 3; ++k) b[rng() % b.size()] = static_cast<char>(rng());
            CHECK_NOTHROW((void)decode_request(b));
            CHECK_NOTHROW((void)decode_reply(b));
        }
    }
}

TEST_CASE("fs_protocol: a READ's reply built and read in place", "[remote][fs_protocol]") {
    std::string data(300'000, '\0');
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7 + i / 251);
    auto fill_with = [](std::string_view what) {
        return [what](std::span<char> buffer) -> Result<size_t> {
            size_t n = std::min(buffer.size(), what.size());
            std::copy_n(what.data(), n, buffer.data());
            return n;
        };
    };
    SECTION("what encode_data_reply makes, decode_reply reads as the same DataReply") {
        std::string out;
        encode_data_reply(out, kMaxIo, fill_with(data));
        auto decoded = decode_reply(out);
        REQUIRE(decoded.ok());
        REQUIRE(decoded->err == 0);
        auto* body = std::get_if<DataReply>(&decoded->body);
        REQUIRE(body != nullptr);
        CHECK(std::string(body->data.begin(), body->data.end()) == data);
    }
    SECTION("decode_data_reply reads both encoders, pointing into the bytes") {
        std::string generic = encode_reply({0, DataReply{Bytes(data.begin(), data.end())}});
        std::string in_place;
        encode_data_reply(in_place, kMaxIo, fill_with(data));
        for (const std::string* bytes : {&generic, &in_place}) {
            auto view = decode_data_reply(*bytes);
            REQUIRE(view.ok());
            CHECK(view->err == 0);
            CHECK(std::string_view(view->data.data(), view->data.size()) == data);
            CHECK(view->data.data() >= bytes->data());  // not a copy
            CHECK(view->data.data() + view->data.size() <= bytes->data() + bytes->size());
        }
    }
    SECTION("a buffer reused for a shorter read holds only the shorter reply") {
        std::string out;
        encode_data_reply(out, kMaxIo, fill_with(data));
        encode_data_reply(out, 10, fill_with("0123456789abc"));
        auto view = decode_data_reply(out);
        REQUIRE(view.ok());
        CHECK(std::string_view(view->data.data(), view->data.size()) == "0123456789");
        encode_data_reply(out, kMaxIo, fill_with(""));  // end of file
        REQUIRE(decode_data_reply(out).ok());
        CHECK(decode_data_reply(out)->data.empty());
    }
    SECTION("a failed read is an error reply with its errno") {
        std::string out;
        encode_data_reply(out, kMaxIo, [](std::span<char>) -> Result<size_t> { return make_error("pread", {}, EISDIR); });
        auto decoded = decode_reply(out);
        REQUIRE(decoded.ok());
        CHECK(decoded->err == EISDIR);
        auto view = decode_data_reply(out);
        REQUIRE(view.ok());
        CHECK(view->err == EISDIR);
        CHECK(view->data.empty());
    }
    SECTION("other replies and bad bytes are errors, never exceptions") {
        CHECK_FALSE(decode_data_reply(encode_reply({0, WriteReply{1}})).ok());
        CHECK_FALSE(decode_data_reply(encode_request(ReadRequest{1, 2, 3})).ok());
        std::string good;
        encode_data_reply(good, 1000, fill_with(data));
        for (size_t n = 0; n < good.size(); n += 7) CHECK_FALSE(decode_data_reply(std::string_view(good).substr(0, n)).ok());
        std::mt19937 rng(11);
        for (int i = 0; i < 20000; ++i) {
            std::string b = good;
            for (int k = 0; k < 3; ++k) b[rng() % b.size()] = static_cast<char>(rng());
            CHECK_NOTHROW((void)decode_data_reply(b));
        }
    }
}

TEST_CASE("fs_protocol: a WRITE encoded from the kernel's buffer is the WriteRequest's bytes", "[remote][fs_protocol]") {
    for (size_t size : {size_t(0), size_t(3), size_t(200), size_t(70'000), size_t(kMaxIo)}) {
        std::string data(size, '\0');
        for (size_t i = 0; i < size; ++i) data[i] = static_cast<char>(i % 253);
        std::string bytes = encode_write_request(9, 1ll << 40, data);
        CHECK(bytes == encode_request(WriteRequest{9, 1ll << 40, Bytes(data.begin(), data.end())}));
        auto decoded = decode_request(bytes);
        REQUIRE(decoded.ok());
        auto* w = std::get_if<WriteRequest>(&*decoded);
        REQUIRE(w != nullptr);
        CHECK(std::string(w->data.begin(), w->data.end()) == data);
    }
}
