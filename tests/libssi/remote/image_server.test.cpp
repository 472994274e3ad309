// libssi/remote/image_server and image_stream.h: the deputy's end of a migration's image
// channel, on real files: chunks come back at their offsets (short, then empty, at the
// end), an image sent in pieces appears under its name only when committed, and bad or
// out-of-turn requests get an error reply, never a crash.
#include "libssi/remote/image_server.h"

#include "kern-ext/files.h"
#include "libssi/remote/image_stream.h"

#include <catch2/catch.hpp>

#include <stdlib.h>
#include <unistd.h>

#include <random>

using namespace ssi;
using namespace ssi::remote;

namespace {

struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/ssi-image-server.XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() { (void)::system(("rm -rf " + path).c_str()); }
};

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
    CHECK_FALSE(decode_image_op(std::string("Z") + std::string(8, '\0')));
}

TEST_CASE("ImageServer serves the image of the move in chunks, and takes one sent in pieces", "[image_stream]") {
    TempDir dir;
    const std::string image = dir.path + "/1-42.img";
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
        server.serve(dir.path + "/1-43.img");
        CHECK(reply_of(server.handle(encode_image_op('P', 5, 0, "late"))).op == 'E');  // not from the start
        for (uint64_t at = 0; at < sent.size(); at += kImageChunkBytes) {
            std::string_view piece = std::string_view(sent).substr(at, kImageChunkBytes);
            ImageOp ack = reply_of(server.handle(encode_image_op('P', at, 0, piece)));
            REQUIRE(ack.op == 'K');
            CHECK(ack.offset == at);
        }
        CHECK_FALSE(stat_path(dir.path + "/1-43.img"));  // not whole yet
        ImageOp done = reply_of(server.handle(encode_image_op('C', 0)));
        REQUIRE(done.op == 'K');
        CHECK(done.offset == sent.size());
        CHECK(read_file(dir.path + "/1-43.img").value_or("") == sent);
        CHECK_FALSE(stat_path(dir.path + "/1-43.img.part"));
    }
    SECTION("a move abandoned half-way leaves no part behind") {
        server.serve(dir.path + "/1-44.img");
        REQUIRE(reply_of(server.handle(encode_image_op('P', 0, 0, "half"))).op == 'K');
        server.serve("");
        CHECK_FALSE(stat_path(dir.path + "/1-44.img.part"));
        CHECK(reply_of(server.handle(encode_image_op('C', 0))).op == 'E');
    }
    SECTION("garbage gets an error reply") {
        server.serve(image);
        CHECK(reply_of(server.handle("\x01\x02")).op == 'E');
        CHECK(reply_of(server.handle(encode_image_op('C', 0))).op == 'E');  // nothing was sent
    }
}
