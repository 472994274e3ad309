// libssi/zmq_link/pgm_deferred: a ZeroMQ context no longer starts OpenPGM; a PGM endpoint
// still does.
#include <catch2/catch.hpp>

#include <zmq.h>

#include <chrono>
#include <thread>

extern "C" bool pgm_supported(void);  // OpenPGM's own "started" (pgm/engine.h)

TEST_CASE("pgm_deferred: contexts and TCP sockets start no OpenPGM, an epgm endpoint does", "[zmq_link]") {
    void* ctx = zmq_ctx_new();
    REQUIRE(ctx != nullptr);
    void* tcp = zmq_socket(ctx, ZMQ_PUB);
    REQUIRE(zmq_bind(tcp, "tcp://127.0.0.1:*") == 0);
    CHECK_FALSE(pgm_supported());

    // libzmq resolves a PGM endpoint as the socket connects: OpenPGM starts then. (Whether
    // this machine can then send multicast on loopback does not matter here.)
    void* pgm = zmq_socket(ctx, ZMQ_PUB);
    (void)zmq_connect(pgm, "epgm://127.0.0.1;239.192.7.7:5555");
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!pgm_supported() && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    CHECK(pgm_supported());

    int zero = 0;
    zmq_setsockopt(pgm, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(tcp, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close(pgm);
    zmq_close(tcp);
    zmq_ctx_term(ctx);
    CHECK_FALSE(pgm_supported());  // the context's end stopped it
}
