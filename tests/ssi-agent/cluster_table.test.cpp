#include "ssi-agent/cluster_table.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

using namespace ssi;
using namespace ssi::agent;

namespace {

wire::ProcessRecord row(int32_t node, int32_t pid, std::string comm = "sleep") {
    wire::ProcessRecord r;
    r.gpid = int64_t(node) * 10'000'000 + pid;
    r.node = node;
    r.home = node;
    r.pid = pid;
    r.comm = std::move(comm);
    return r;
}

wire::TableDelta snapshot(uint64_t epoch, uint64_t seq, std::vector<wire::ProcessRecord> rows) {
    return wire::TableDelta{epoch, seq, true, std::move(rows), {}};
}

wire::TableDelta delta(uint64_t epoch, uint64_t seq, std::vector<wire::ProcessRecord> upserts,
                       std::vector<int64_t> removed = {}) {
    return wire::TableDelta{epoch, seq, false, std::move(upserts), std::move(removed)};
}

std::set<int64_t> gpids(const ClusterTable& t) {
    std::set<int64_t> out;
    for (const auto& r : t.all()) out.insert(r.gpid);
    return out;
}

}  // namespace

TEST_CASE("ClusterTable", "[cluster_table]") {
    using A = ClusterTable::Applied;
    ClusterTable t;
    REQUIRE(t.apply(2, snapshot(7, 10, {row(2, 100), row(2, 101)})) == A::Yes);
    REQUIRE(t.apply(3, snapshot(9, 1, {row(3, 300)})) == A::Yes);

    SECTION("snapshots fill each node's share") {
        CHECK(t.size() == 3);
        CHECK(gpids(t) == std::set<int64_t>{20'000'100, 20'000'101, 30'000'300});
        CHECK(t.in_sync(2, 7, 10));
        CHECK(t.in_sync(3, 9, 1));
    }

    SECTION("a full snapshot replaces the node's share, and only that node's") {
        REQUIRE(t.apply(2, snapshot(8, 1, {row(2, 102)})) == A::Yes);
        CHECK(gpids(t) == std::set<int64_t>{20'000'102, 30'000'300});
        CHECK(t.in_sync(2, 8, 1));
        CHECK_FALSE(t.in_sync(2, 7, 10));
        REQUIRE(t.apply(2, snapshot(8, 2, {})) == A::Yes);  // an empty snapshot empties it
        CHECK(gpids(t) == std::set<int64_t>{30'000'300});
    }

    SECTION("in-order deltas apply: upserts, updates and removals") {
        REQUIRE(t.apply(2, delta(7, 11, {row(2, 103)})) == A::Yes);
        REQUIRE(t.apply(2, delta(7, 12, {row(2, 100, "vim")}, {20'000'101})) == A::Yes);
        CHECK(gpids(t) == std::set<int64_t>{20'000'100, 20'000'103, 30'000'300});
        auto r = t.find(20'000'100);
        REQUIRE(r);
        CHECK(r->comm == "vim");
        CHECK(t.in_sync(2, 7, 12));
        CHECK_FALSE(t.in_sync(2, 7, 11));
        // Removing what is not there is harmless.
        REQUIRE(t.apply(2, delta(7, 13, {}, {20'000'999})) == A::Yes);
        CHECK(t.size() == 3);
    }

    SECTION("a gap, a repeat or a wrong epoch asks for a snapshot and changes nothing") {
        const auto before = gpids(t);
        CHECK(t.apply(2, delta(7, 12, {row(2, 200)}, {20'000'100})) == A::NeedSnapshot);  // 11 is missing
        CHECK(t.apply(2, delta(7, 10, {row(2, 201)}, {20'000'100})) == A::NeedSnapshot);  // already applied
        CHECK(t.apply(2, delta(7, 9, {row(2, 202)})) == A::NeedSnapshot);
        CHECK(t.apply(2, delta(8, 11, {row(2, 203)}, {20'000'101})) == A::NeedSnapshot);  // peer restarted
        CHECK(gpids(t) == before);
        CHECK(t.in_sync(2, 7, 10));
        CHECK_FALSE(t.find(20'000'200));
        // The next in-order delta still applies.
        CHECK(t.apply(2, delta(7, 11, {row(2, 204)})) == A::Yes);
        CHECK(t.find(20'000'204));
    }

    SECTION("a delta for a node without a snapshot asks for one") {
        CHECK(t.apply(4, delta(5, 1, {row(4, 400)})) == A::NeedSnapshot);
        CHECK(t.apply(4, delta(5, 6, {row(4, 400)})) == A::NeedSnapshot);
        CHECK_FALSE(t.find(40'000'400));
        CHECK(t.size() == 3);
        CHECK_FALSE(t.in_sync(4, 5, 6));
        CHECK(t.apply(4, snapshot(5, 6, {row(4, 400)})) == A::Yes);
        CHECK(t.in_sync(4, 5, 6));
    }

    SECTION("in_sync") {
        CHECK(t.in_sync(2, 7, 10));
        CHECK_FALSE(t.in_sync(2, 7, 11));  // the peer is ahead: we missed a delta
        CHECK_FALSE(t.in_sync(2, 6, 10));
        CHECK_FALSE(t.in_sync(5, 0, 0));   // never heard of
    }

    SECTION("drop(node) removes its rows, and only its") {
        t.drop(2);
        CHECK(gpids(t) == std::set<int64_t>{30'000'300});
        CHECK_FALSE(t.find(20'000'100));
        CHECK_FALSE(t.in_sync(2, 7, 10));
        CHECK(t.apply(2, delta(7, 11, {row(2, 105)})) == A::NeedSnapshot);  // back only by snapshot
        CHECK(t.size() == 1);
        t.drop(42);  // unknown: harmless
        CHECK(t.size() == 1);
    }

    SECTION("find(gpid) looks in every share, including rows of migrated processes") {
        auto r = t.find(30'000'300);
        REQUIRE(r);
        CHECK(r->node == 3);
        CHECK(r->pid == 300);
        CHECK_FALSE(t.find(30'000'301));
        CHECK_FALSE(t.find(0));
        // A process whose home is node 2 now running on node 3 is in node 3's share.
        wire::ProcessRecord moved = row(3, 555);
        moved.gpid = 20'000'555;
        moved.home = 2;
        REQUIRE(t.apply(3, delta(9, 2, {moved})) == A::Yes);
        auto m = t.find(20'000'555);
        REQUIRE(m);
        CHECK(m->node == 3);
        CHECK(m->home == 2);
    }
}
