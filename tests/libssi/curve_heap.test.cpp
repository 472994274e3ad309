// libssi/curve_heap: libzmq's CURVE handshakes take their keys' memory from the plain heap
// of this executable (not libsodium's guarded pages), and the link works as before.
#include "libssi/curve_heap.h"

#include <catch2/catch.hpp>
#include <sodium.h>
#include <zmq.hpp>

#include <cstdint>
#include <string>

TEST_CASE("curve_heap: a CURVE link's handshake allocates from the plain heap", "[curve_heap]") {
    char server_public[41], server_secret[41], client_public[41], client_secret[41];
    REQUIRE(zmq_curve_keypair(server_public, server_secret) == 0);
    REQUIRE(zmq_curve_keypair(client_public, client_secret) == 0);
    zmq::context_t context;
    zmq::socket_t server(context, zmq::socket_type::rep);
    server.set(zmq::sockopt::curve_server, true);
    server.set(zmq::sockopt::curve_secretkey, std::string(server_secret));
    server.set(zmq::sockopt::linger, 0);
    server.bind("tcp://127.0.0.1:*");
    const auto before = ssi::plain_curve_heap_blocks();
    zmq::socket_t client(context, zmq::socket_type::req);
    client.set(zmq::sockopt::curve_serverkey, std::string(server_public));
    client.set(zmq::sockopt::curve_publickey, std::string(client_public));
    client.set(zmq::sockopt::curve_secretkey, std::string(client_secret));
    client.set(zmq::sockopt::linger, 0);
    client.connect(server.get(zmq::sockopt::last_endpoint));
    REQUIRE(client.send(zmq::str_buffer("ping")));
    zmq::message_t message;
    REQUIRE(server.recv(message));
    CHECK(message.to_string() == "ping");
    REQUIRE(server.send(zmq::str_buffer("pong")));
    REQUIRE(client.recv(message));
    CHECK(message.to_string() == "pong");
    CHECK(ssi::plain_curve_heap_blocks() > before);  // libzmq came here, not to libsodium's

    // The same contract as libsodium's: an overflowing array is refused, a block is usable.
    CHECK(sodium_allocarray(SIZE_MAX / 2, 4) == nullptr);
    auto* block = static_cast<unsigned char*>(sodium_allocarray(8, 32));
    REQUIRE(block != nullptr);
    block[0] = 1, block[255] = 2;
    sodium_free(block);
    sodium_free(nullptr);
}
