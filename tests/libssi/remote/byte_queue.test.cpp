// libssi/remote/byte_queue: bytes come out in order, however they are taken, and the space
// taken is given back.
#include "libssi/remote/byte_queue.h"

#include <catch2/catch.hpp>

#include <random>

using namespace ssi::remote;

TEST_CASE("ByteQueue: what goes in comes out in order, in any pieces", "[remote][sockets]") {
    ByteQueue q;
    CHECK(q.empty());
    std::mt19937 rng(3);
    std::string in, out;
    for (int round = 0; round < 2000; ++round) {
        std::string piece(rng() % 5000, '\0');
        for (auto& c : piece) c = char(rng());
        q.append(piece);
        in += piece;
        size_t take = std::min<size_t>(rng() % 6000, q.size());
        out.append(q.front().substr(0, take));
        q.consume(take);
        CHECK(q.size() == in.size() - out.size());
    }
    out.append(q.front());
    q.consume(q.size());
    CHECK(q.empty());
    CHECK(q.front().empty());
    CHECK(out == in);
}
