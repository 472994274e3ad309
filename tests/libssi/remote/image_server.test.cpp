// libssi/remote/image_server and image_stream.h: the deputy's end of a migration's image
// channel, on real files: chunks come back at their offsets (short, then empty, at the
// end), an image sent in pieces appears under its name only when committed, and bad or
// out-of-turn requests get an error reply, never a crash; a pre-copy lands in areas of
// the server's own memory, only where nothing of its own is.
#include "libssi/remote/image_server.h"

#include "kern-ext/files.h"
#include "libssi/remote/image_stream.h"
#include "tests/support/temp_dir.h"

#include <catch2/catch.hpp>

#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <random>
#include <sstream>

using namespace ssi;
using namespace ssi::remote;

namespace {

std::string random_bytes(size_t n) {
    std::mt19937 gen(42);
    std::string s(n, '\0');
    for (char& c : s) c = char(gen());
    return s;
}

ImageOp reply_of(const std::string& payload) {
    auto op = decode_image_op(payload);
    REQUIRE(op);
    return *op;
}

}  // namespace

TEST_CASE("image stream ops survive encode and decode; malformed payloads do not", "[image_stream]") {
    auto g = decode_image_op(encode_image_op('G', 1ull << 40, 12345));
    REQUIRE(g);
    CHECK(g->op == 'G');
    CHECK(g->offset == 1ull << 40);
    CHECK(g->length == 12345);
    const std::string put = encode_image_op('P', 7, 0, std::string("a\0b", 3));  // the op views it
    auto p = decode_image_op(put);
    REQUIRE(p);
    CHECK(p->data == std::string_view("a\0b", 3));
    CHECK(decode_image_op(encode_image_op('C', 0)));
    const std::string no = encode_image_error("no");
    CHECK(decode_image_op(no)->data == "no");
    CHECK_FALSE(decode_image_op(""));
    CHECK_FALSE(decode_image_op("G123"));            // too short for an offset and length
    CHECK_FALSE(decode_image_op("Cx"));              // commit takes nothing
    CHECK_FALSE(decode_image_op(std::string("Q") + std::string(8, '\0')));  // no such op
    CHECK_FALSE(decode_image_op(std::string("Z") + std::string(8, '\0')));  // the end takes nothing
    auto l = decode_image_op(encode_image_op('L', 0x7f0000001000, 65536));
    REQUIRE(l);
    CHECK(l->op == 'L');
    CHECK(l->offset == 0x7f0000001000);
    CHECK(l->length == 65536);
}

TEST_CASE("ImageServer serves the image of the move in chunks, and takes one sent in pieces", "[image_stream]") {
    test::TempDir dir("image-server");
    const std::string image = dir / "1-42.img";
    const std::string contents = random_bytes(3 * kImageChunkBytes + 777);
    REQUIRE(write_file_atomic(image, contents, 0600));
    ImageServer server;

    SECTION("nothing is served outside a move") {
        CHECK(reply_of(server.handle(encode_image_op('G', 0, 100))).op == 'E');
    }
    SECTION("read back chunk by chunk: the same bytes; short, then empty, at the end") {
        server.serve(image);
        std::string got;
        for (uint64_t at = 0;; at += kImageChunkBytes) {
            std::string reply = server.handle(encode_image_op('G', at, uint32_t(kImageChunkBytes)));
            ImageOp op = reply_of(reply);
            REQUIRE(op.op == 'D');
            CHECK(op.offset == at);
            got.append(op.data);
            if (op.data.size() < kImageChunkBytes) break;
        }
        CHECK(got == contents);
        CHECK(reply_of(server.handle(encode_image_op('G', 10 * kImageChunkBytes, 10))).data.empty());
    }
    SECTION("sent in pieces: only the commit makes it the image") {
        const std::string sent = random_bytes(2 * kImageChunkBytes + 5);
        server.serve(dir / "1-43.img");
        CHECK(reply_of(server.handle(encode_image_op('P', 5, 0, "late"))).op == 'E');  // not from the start
        for (uint64_t at = 0; at < sent.size(); at += kImageChunkBytes) {
            std::string_view piece = std::string_view(sent).substr(at, kImageChunkBytes);
            ImageOp ack = reply_of(server.handle(encode_image_op('P', at, 0, piece)));
            REQUIRE(ack.op == 'K');
            CHECK(ack.offset == at);
        }
        CHECK_FALSE(stat_path(dir / "1-43.img"));  // not whole yet
        ImageOp done = reply_of(server.handle(encode_image_op('C', 0)));
        REQUIRE(done.op == 'K');
        CHECK(done.offset == sent.size());
        CHECK(read_file(dir / "1-43.img").value_or("") == sent);
        CHECK_FALSE(stat_path(dir / "1-43.img.part"));
    }
    SECTION("a move abandoned half-way leaves no part behind") {
        server.serve(dir / "1-44.img");
        REQUIRE(reply_of(server.handle(encode_image_op('P', 0, 0, "half"))).op == 'K');
        server.serve("");
        CHECK_FALSE(stat_path(dir / "1-44.img.part"));
        CHECK(reply_of(server.handle(encode_image_op('C', 0))).op == 'E');
    }
    SECTION("garbage gets an error reply") {
        server.serve(image);
        CHECK(reply_of(server.handle("\x01\x02")).op == 'E');
        CHECK(reply_of(server.handle(encode_image_op('C', 0))).op == 'E');  // nothing was sent
    }
}

namespace {

// A range of our address space that nothing holds: mapped to find it, then let go.
PageRun free_range(size_t bytes) {
    void* p = ::mmap(nullptr, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(p != MAP_FAILED);
    ::munmap(p, bytes);
    return {uint64_t(p), uint64_t(p) + bytes};
}

std::string areas_request(const std::vector<PrecopyArea>& areas) {
    std::string list(reinterpret_cast<const char*>(areas.data()), areas.size() * sizeof(PrecopyArea));
    return encode_image_op('A', areas.size(), 0, list);
}

// The perms /proc/self/maps shows at `address` ("rw-p"), or "" when nothing is mapped there.
std::string perms_at(uint64_t address) {
    auto maps = read_file("/proc/self/maps");
    REQUIRE(maps.ok());
    std::istringstream lines(*maps);
    std::string line;
    while (std::getline(lines, line)) {
        uint64_t start = 0, end = 0;
        char perms[8] = {};
        if (std::sscanf(line.c_str(), "%" SCNx64 "-%" SCNx64 " %7s", &start, &end, perms) == 3 && start <= address &&
            address < end)
            return perms;
    }
    return "";
}

// Whether the area at `address` asked for transparent huge pages (smaps VmFlags "hg").
bool asked_huge(uint64_t address) {
    auto smaps = read_file("/proc/self/smaps");
    REQUIRE(smaps.ok());
    std::istringstream lines(*smaps);
    std::string line;
    bool inside = false;
    while (std::getline(lines, line)) {
        uint64_t start = 0, end = 0;
        if (std::sscanf(line.c_str(), "%" SCNx64 "-%" SCNx64 " ", &start, &end) == 2 && line.find(':') > line.find(' '))
            inside = start <= address && address < end;
        else if (inside && line.rfind("VmFlags:", 0) == 0)
            return (line + " ").find(" hg ") != std::string::npos;
    }
    return false;
}

}  // namespace

TEST_CASE("ImageServer holds a pre-copy in areas of its own memory, at the program's addresses", "[image_stream]") {
    test::TempDir dir("image-server");
    ImageServer server;
    server.serve(dir / "img");
    const PageRun both = free_range((1 << 20) + (64 << 10) + 4096);  // with a gap, or they would merge
    const PageRun data{both.start, both.start + (1 << 20)}, code{data.end + 4096, both.end};
    const uint64_t taken = uint64_t(&dir);  // our stack: something of ours is there
    const std::vector<PrecopyArea> areas = {{data.start, data.end, PROT_READ | PROT_WRITE, 1},  // huge pages there
                                            {code.start, code.end, PROT_READ | PROT_EXEC, 0},
                                            {taken & ~4095ull, (taken & ~4095ull) + 4096, PROT_READ | PROT_WRITE, 0}};
    ImageOp mapped = reply_of(server.handle(areas_request(areas)));
    REQUIRE(mapped.op == 'M');
    REQUIRE(mapped.offset == 3);
    CHECK(mapped.data == std::string_view("\1\1\0", 3));  // not over our own stack
    CHECK(asked_huge(data.start));
    CHECK_FALSE(asked_huge(code.start));

    const std::string bytes = random_bytes(8192);
    CHECK(reply_of(server.handle(encode_image_op('W', data.start + 4096, 0, bytes))).op == 'K');
    CHECK(std::string_view(reinterpret_cast<const char*>(data.start + 4096), bytes.size()) == bytes);
    CHECK(reply_of(server.handle(encode_image_op('W', code.start, 0, "hi"))).op == 'K');
    // ssi-migrate's bar sees it advance: IMAGE.precopy is as long as what came.
    auto progress = stat_path(dir / "img.precopy");
    REQUIRE(progress.ok());
    CHECK(progress->st_size == off_t(bytes.size() + 2));
    // Not in an area, or running past one's end: refused, nothing written.
    CHECK(reply_of(server.handle(encode_image_op('W', taken, 0, "x"))).op == 'E');
    CHECK(reply_of(server.handle(encode_image_op('W', data.end - 1, 0, "xy"))).op == 'E');
    CHECK_FALSE(decode_image_op(encode_image_op('A', 2, 0, std::string(sizeof(PrecopyArea), '\0'))));  // count and size disagree

    // Done: each area gets the program's protection, and takes no more writes.
    CHECK(perms_at(code.start) == "rw-p");
    CHECK(reply_of(server.handle(encode_image_op('F', 0))).op == 'K');
    CHECK(perms_at(code.start) == "r-xp");
    CHECK(perms_at(data.start) == "rw-p");
    CHECK(reply_of(server.handle(encode_image_op('W', data.start, 0, "x"))).op == 'E');

    // The move is over (a new one, or none): the areas go.
    server.serve("");
    CHECK_FALSE(stat_path(dir / "img.precopy").ok());
    CHECK(perms_at(data.start).empty());
    CHECK(perms_at(code.start).empty());
}

TEST_CASE("ImageServer takes no pre-copy when no move is under way", "[image_stream]") {
    ImageServer server;
    const PageRun data = free_range(1 << 20);
    CHECK(reply_of(server.handle(areas_request({{data.start, data.end, PROT_READ | PROT_WRITE, 0}}))).op == 'E');
    CHECK(perms_at(data.start).empty());
}

TEST_CASE("ImageServer serves a post-copy only for a move from home, whose memory is held", "[image_stream]") {
    test::TempDir dir("image-server");
    const std::string image = dir / "1-42.img";
    REQUIRE(write_file_atomic(image, random_bytes(1000), 0600));
    ImageServer server;
    server.serve(image);  // a move between nodes: an image file, no head, no holder
    const auto head = reply_of(server.handle(encode_image_op('H', 0, 4096)));
    CHECK(head.op == 'E');
    CHECK(head.data == "no image head: not a move from home");
    const auto page = reply_of(server.handle(encode_image_op('L', 0x400000, 4096)));
    CHECK(page.op == 'E');
    CHECK(page.data == "no memory is held for this move");
    CHECK(reply_of(server.handle(encode_image_op('Z', 0))).op == 'E');
    CHECK_FALSE(server.postcopy_done());
    // The file itself is served no longer than it is, whatever was asked.
    const auto whole = reply_of(server.handle(encode_image_op('G', 0, uint32_t(kImageChunkBytes))));
    CHECK(whole.op == 'D');
    CHECK(whole.data.size() == 1000);
}
