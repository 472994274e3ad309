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
            {0, DirReply{{{1, 4, 10, "."}, {2, 8, 20, "file"}}}},
            {0, StatfsReply{4096, 4096, 1, 2, 3, 4, 5, 6, 7, 8, 255}},
            {0, LockReply{Lock{F_RDLCK, 1, 2, 0}}},
            {0, DirplusReply{{{{1, 4, 10, "."}, 0, {}}, {{2, 8, 20, "file"}, 44, sample_attr()}}}},
            {0, PrimeReply{{{1, "usr", EntryReply{45, sample_attr()}, false, ""},
                            {1, "lib64", EntryReply{46, sample_attr()}, true, "usr/lib64"}}}},
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
