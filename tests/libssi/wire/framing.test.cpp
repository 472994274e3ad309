#include "libssi/wire/framing.h"

#include "libssi/wire/codec.h"

#include <catch2/catch.hpp>

#include <cerrno>

using namespace ssi;
using namespace ssi::wire;

namespace {

// Every whole message the reader can hand out now; fails the test on an error.
std::vector<std::string> drain(FrameReader& reader) {
    std::vector<std::string> out;
    for (;;) {
        auto next = reader.next();
        REQUIRE(next.ok());
        if (!*next) return out;
        out.push_back(std::move(**next));
    }
}

void feed(FrameReader& reader, std::string_view bytes) { reader.feed(std::span<const char>(bytes.data(), bytes.size())); }

}  // namespace

TEST_CASE("wire framing", "[wire]") {
    const std::vector<std::string> payloads = {encode(KillRequest{30'004'711, 15, 1000}, 7), "", std::string(300, 'z'),
                                               encode(ErrorReply{5, std::string("with\0nul", 8)})};
    std::string stream;
    for (const auto& p : payloads) stream += frame(p);

    SECTION("a frame is a 4-byte big-endian length and the payload") {
        std::string f = frame(std::string(0x0102, 'a'));
        REQUIRE(f.size() == 4 + 0x0102);
        CHECK(f.substr(0, 4) == std::string("\x00\x00\x01\x02", 4));
        CHECK(frame("").size() == 4);
    }

    SECTION("whole frames fed at once come out in order") {
        FrameReader reader(1 << 20);
        feed(reader, stream);
        CHECK(drain(reader) == payloads);
        CHECK(drain(reader).empty());
    }

    SECTION("frames split at every byte boundary reassemble") {
        for (size_t cut = 0; cut <= stream.size(); ++cut) {
            INFO("cut at " << cut);
            FrameReader reader(1 << 20);
            feed(reader, std::string_view(stream).substr(0, cut));
            auto got = drain(reader);
            feed(reader, std::string_view(stream).substr(cut));
            auto rest = drain(reader);
            got.insert(got.end(), rest.begin(), rest.end());
            REQUIRE(got == payloads);
        }
    }

    SECTION("frames fed one byte at a time reassemble") {
        FrameReader reader(1 << 20);
        std::vector<std::string> got;
        for (char c : stream) {
            feed(reader, std::string_view(&c, 1));
            auto some = drain(reader);
            got.insert(got.end(), some.begin(), some.end());
        }
        CHECK(got == payloads);
        // Each payload is still a decodable message.
        CHECK(decode(std::span<const char>(got[0])).ok());
    }

    SECTION("a frame announcing more than the limit is an error") {
        FrameReader reader(100);
        feed(reader, frame(std::string(100, 'a')));  // exactly the limit: fine
        auto first = reader.next();
        REQUIRE(first.ok());
        REQUIRE(*first);
        CHECK((*first)->size() == 100);

        feed(reader, std::string("\x00\x00\x00\x65", 4));  // 101, before any payload arrives
        auto next = reader.next();
        REQUIRE_FALSE(next.ok());
        CHECK(next.error().err == EMSGSIZE);
        CHECK_THAT(next.error().message(), Catch::Contains("101"));

        FrameReader huge(kMaxMessageBytes);
        feed(huge, std::string("\xff\xff\xff\xff", 4));
        CHECK_FALSE(huge.next().ok());
    }

    SECTION("an incomplete length or payload waits for more") {
        FrameReader reader(1 << 20);
        feed(reader, std::string("\x00\x00", 2));
        auto r = reader.next();
        REQUIRE(r.ok());
        CHECK_FALSE(*r);
        feed(reader, std::string("\x00\x03" "ab", 4));
        r = reader.next();
        REQUIRE(r.ok());
        CHECK_FALSE(*r);
        feed(reader, "c");
        r = reader.next();
        REQUIRE(r.ok());
        REQUIRE(*r);
        CHECK(**r == "abc");
    }
}
