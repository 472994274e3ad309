#include "ssi-agent/membership.h"

#include <catch2/catch.hpp>

#include <tuple>
#include <vector>

using namespace ssi;
using namespace ssi::agent;

namespace {

ClusterConfig three_nodes(int32_t self) {
    ClusterConfig c;
    c.self_id = self;
    c.suspect_after_ms = 1000;
    c.down_after_ms = 2000;
    for (int32_t id : {3, 1, 2})  // out of order on purpose
        c.nodes.push_back(NodeConfig{id, "127.0.1." + std::to_string(id), kDefaultPort, std::string(40, '0')});
    return c;
}

wire::NodeStatus status_of(int32_t id, uint32_t processes = 0) {
    wire::NodeStatus s;
    s.id = id;
    s.address = "127.0.1." + std::to_string(id);
    s.hostname = "node" + std::to_string(id);
    s.processes = processes;
    return s;
}

using Changes = std::vector<std::tuple<int32_t, NodeState, NodeState>>;

}  // namespace

TEST_CASE("Membership", "[membership]") {
    Changes changes;
    Membership m(three_nodes(1), [&](int32_t node, NodeState before, NodeState after) {
        changes.emplace_back(node, before, after);
    });

    SECTION("peers are every other node; a node never heard from is down") {
        CHECK(m.peers() == std::vector<int32_t>{2, 3});
        CHECK_FALSE(m.is_member(1));  // ourselves
        CHECK(m.is_member(2));
        CHECK(m.state(2) == NodeState::Down);
        CHECK(m.state(3) == NodeState::Down);
        m.tick(0);
        m.tick(1'000'000);
        CHECK(m.state(2) == NodeState::Down);
        CHECK(m.down_nodes() == std::vector<int32_t>{2, 3});
        CHECK(changes.empty());
    }

    SECTION("up, suspect, down and up again, with one change callback each") {
        m.heard_from(2, status_of(2), 10'000);
        CHECK(m.state(2) == NodeState::Up);
        CHECK(changes == Changes{{2, NodeState::Down, NodeState::Up}});
        m.heard_from(2, status_of(2), 10'100);  // still up: no new change
        m.tick(10'100);
        CHECK(changes.size() == 1);
        CHECK(m.down_nodes() == std::vector<int32_t>{3});

        m.tick(10'100 + 999);
        CHECK(m.state(2) == NodeState::Up);
        m.tick(10'100 + 1000);  // silent for suspect_after_ms
        CHECK(m.state(2) == NodeState::Suspect);
        CHECK(changes.back() == std::tuple{2, NodeState::Up, NodeState::Suspect});
        m.tick(10'100 + 1999);
        CHECK(m.state(2) == NodeState::Suspect);
        CHECK(changes.size() == 2);
        m.tick(10'100 + 2000);  // silent for down_after_ms
        CHECK(m.state(2) == NodeState::Down);
        CHECK(changes.back() == std::tuple{2, NodeState::Suspect, NodeState::Down});
        m.tick(10'100 + 5000);
        CHECK(changes.size() == 3);

        m.heard_from(2, status_of(2), 20'000);
        CHECK(m.state(2) == NodeState::Up);
        CHECK(changes.back() == std::tuple{2, NodeState::Down, NodeState::Up});
        CHECK(changes.size() == 4);
        CHECK(m.state(3) == NodeState::Down);  // the other peer was never involved
    }

    SECTION("a long silence between ticks goes straight to down") {
        m.heard_from(3, status_of(3), 0);
        m.tick(2500);
        CHECK(m.state(3) == NodeState::Down);
        CHECK(changes == Changes{{3, NodeState::Down, NodeState::Up}, {3, NodeState::Up, NodeState::Down}});
    }

    SECTION("a suspect node heard from again is up") {
        m.heard_from(3, status_of(3), 0);
        m.tick(1500);
        REQUIRE(m.state(3) == NodeState::Suspect);
        m.heard_from(3, status_of(3), 1600);
        CHECK(m.state(3) == NodeState::Up);
        CHECK(changes.back() == std::tuple{3, NodeState::Suspect, NodeState::Up});
        m.tick(1600 + 999);
        CHECK(m.state(3) == NodeState::Up);
    }

    SECTION("unknown nodes and ourselves are ignored") {
        m.heard_from(9, status_of(9), 100);
        m.heard_from(1, status_of(1), 100);
        m.heard_from(0, status_of(0), 100);
        CHECK(changes.empty());
        CHECK(m.state(9) == NodeState::Down);
        CHECK_FALSE(m.is_member(9));
        auto v = m.view(status_of(1), 200);
        CHECK(v.size() == 3);
        for (const auto& n : v) CHECK(n.status.id != 9);
    }

    SECTION("view: every node sorted by id, self flagged, last heard in ms") {
        m.heard_from(3, status_of(3, 77), 5'000);
        m.tick(6'200);  // suspect
        auto v = m.view(status_of(1, 12), 6'250);
        REQUIRE(v.size() == 3);
        CHECK(v[0].status.id == 1);
        CHECK(v[0].self);
        CHECK(v[0].state == "up");
        CHECK(v[0].last_heard_ms == 0);
        CHECK(v[0].status.processes == 12);
        CHECK(v[1].status.id == 2);
        CHECK_FALSE(v[1].self);
        CHECK(v[1].state == "down");
        CHECK(v[1].last_heard_ms == -1);  // never heard
        CHECK(v[1].status.address == "127.0.1.2");  // from the config until heard
        CHECK(v[2].status.id == 3);
        CHECK(v[2].state == "suspect");
        CHECK(v[2].last_heard_ms == 1'250);
        CHECK(v[2].status.processes == 77);  // the status it last sent
        CHECK(v[2].status.hostname == "node3");
    }

    SECTION("view of a node in the middle of the id range") {
        Membership mid(three_nodes(2), [](int32_t, NodeState, NodeState) {});
        auto v = mid.view(status_of(2), 0);
        REQUIRE(v.size() == 3);
        CHECK(v[0].status.id == 1);
        CHECK(v[1].status.id == 2);
        CHECK(v[1].self);
        CHECK(v[2].status.id == 3);
        CHECK(std::count_if(v.begin(), v.end(), [](const auto& n) { return n.self; }) == 1);
    }

    SECTION("state names") {
        CHECK(std::string(to_string(NodeState::Up)) == "up");
        CHECK(std::string(to_string(NodeState::Suspect)) == "suspect");
        CHECK(std::string(to_string(NodeState::Down)) == "down");
    }
}
