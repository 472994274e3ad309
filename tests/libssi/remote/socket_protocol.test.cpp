// libssi/remote/socket_protocol: every message survives encode/decode, and bytes that are
// not a valid message decode to an Error, never an exception.
#include "libssi/remote/socket_protocol.h"

#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <random>

using namespace ssi;
using namespace ssi::remote;

namespace {

std::vector<SocketMessage> samples() {
    SocketBytes addr(16, '\x01');
    return {SockOpen{1, 3, AF_INET6, SOCK_STREAM, 0},
            SockConnect{2, 3, addr},
            SockBind{3, 5, addr, 027},
            SockListen{4, 5, 128},
            SockName{5, 5, true},
            SockSetOpt{6, 3, IPPROTO_TCP, TCP_NODELAY, SocketBytes{1, 0, 0, 0}},
            SockGetOpt{7, 3, SOL_SOCKET, SO_ERROR, 4},
            SockData{3, SocketBytes(kSocketChunkBytes, '\0')},
            SockAck{3, 1ull << 40},
            SockEof{3, ECONNRESET},
            SockClose{3},
            SockTaken{5},
            SockReply{7, ECONNREFUSED, SocketBytes{'a', 'b'}},
            SockAccepted{5, 2, addr},
            SockDone{}};
}

}  // namespace

TEST_CASE("socket_protocol: every message round-trips", "[remote][socket_protocol]") {
    auto all = samples();
    REQUIRE(all.size() == std::variant_size_v<SocketMessage>);
    for (size_t i = 0; i < all.size(); ++i) {
        INFO(socket_message_name(all[i]));
        CHECK(all[i].index() == i);  // every type is in the samples
        std::string bytes = encode_socket_message(all[i]);
        auto decoded = decode_socket_message(bytes);
        REQUIRE(decoded.ok());
        CHECK(decoded->index() == all[i].index());
        CHECK(encode_socket_message(*decoded) == bytes);
    }
    auto data = decode_socket_message(encode_socket_message(SockData{9, SocketBytes{'x', '\0', 'y'}}));
    REQUIRE(data.ok());
    CHECK(std::get<SockData>(*data).sock == 9);
    CHECK(std::get<SockData>(*data).bytes == SocketBytes{'x', '\0', 'y'});
}

TEST_CASE("socket_protocol: bad bytes are an error, never an exception", "[remote][socket_protocol]") {
    CHECK_FALSE(decode_socket_message(std::string()).ok());
    CHECK_FALSE(decode_socket_message(std::string("\x93\x02\x01\x90", 4)).ok());  // another version
    CHECK_FALSE(decode_socket_message(std::string("\x93\x01\x63\x90", 4)).ok());  // unknown type 99
    // A body of the wrong shape.
    CHECK_FALSE(decode_socket_message(std::string("\x93\x01\x01\x91\x01", 5)).ok());
    // Too big: more than a chunk of data.
    std::string big = encode_socket_message(SockData{1, SocketBytes(kSocketChunkBytes + 8192, 'z')});
    auto too_big = decode_socket_message(big);
    REQUIRE_FALSE(too_big.ok());
    CHECK(too_big.error().err == EMSGSIZE);
    // Every truncation and random corruption of a valid message.
    std::string good = encode_socket_message(SockConnect{2, 3, SocketBytes(28, '\x05')});
    for (size_t n = 0; n < good.size(); ++n) CHECK_FALSE(decode_socket_message(good.substr(0, n)).ok());
    std::mt19937 rng(7);
    for (int i = 0; i < 2000; ++i) {
        std::string bad = good;
        bad[rng() % bad.size()] = char(rng());
        (void)decode_socket_message(bad);  // must not throw or crash
    }
}
