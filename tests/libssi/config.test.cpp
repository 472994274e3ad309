#include "libssi/config.h"

#include "kern-ext/files.h"
#include "libssi/keys.h"

#include <catch2/catch.hpp>

#include <stdlib.h>
#include <unistd.h>

using namespace ssi;

namespace {

std::string new_public_key() {
    auto keys = generate_keypair();
    REQUIRE(keys.ok());
    return keys->public_key;
}

struct Keys {
    std::string k1 = new_public_key(), k2 = new_public_key(), k3 = new_public_key();
};

// A three-node config; `extra_top` goes before the first [[node]], `node3` replaces node 3's
// body so a test can break one entry.
std::string config_text(const Keys& k, const std::string& extra_top = "", std::string node3 = "") {
    if (node3.empty())
        node3 = "id = 3\naddress = \"127.0.1.3\"\nport = 7300\npublic_key = \"" + k.k3 + "\"\n";
    return "node_id = 1\n"
           "secret_key_file = \"/etc/ssi/node1.secret\"\n" +
           extra_top +
           "\n[[node]]\n"
           "id = 1\n"
           "address = \"127.0.1.1\"\n"
           "public_key = \"" + k.k1 + "\"\n"
           "\n[[node]]\n"
           "id = 2\n"
           "address = \"127.0.1.2\"\n"
           "port = 7200\n"
           "public_key = \"" + k.k2 + "\"\n"
           "\n[[node]]\n" + node3;
}

// Requires `text` to be refused and returns the message.
std::string refused(const std::string& text, std::optional<int32_t> node = std::nullopt) {
    auto r = parse_config(text, "cluster.toml", node);
    INFO(text);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().err == EINVAL);
    CHECK_THAT(r.error().message(), Catch::Contains("cluster.toml"));
    return r.error().message();
}

std::string temp_dir() {
    char tmpl[] = "/tmp/ssi-config-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    return tmpl;
}

}  // namespace

TEST_CASE("config", "[config]") {
    Keys k;

    SECTION("a valid config parses, with defaults for what it leaves out") {
        auto r = parse_config(config_text(k), "cluster.toml");
        REQUIRE(r.ok());
        const ClusterConfig& c = *r;
        CHECK(c.self_id == 1);
        CHECK(c.secret_key_file == "/etc/ssi/node1.secret");
        CHECK(c.socket_path == kDefaultSocketPath);
        CHECK(c.table_name == kDefaultTableName);
        CHECK(c.heartbeat_ms == 250);
        CHECK(c.suspect_after_ms == 1000);
        CHECK(c.down_after_ms == 2000);
        CHECK(c.sample_ms == 200);
        REQUIRE(c.nodes.size() == 3);
        CHECK(c.nodes[0].id == 1);
        CHECK(c.nodes[0].address == "127.0.1.1");
        CHECK(c.nodes[0].port == kDefaultPort);
        CHECK(c.nodes[0].public_key == k.k1);
        CHECK(c.nodes[1].port == 7200);
        CHECK(c.nodes[1].endpoint() == "tcp://127.0.1.2:7200");
        CHECK(c.nodes[2].public_key == k.k3);
        CHECK(c.self().id == 1);
        CHECK(c.find(2) == &c.nodes[1]);
        CHECK(c.find(4) == nullptr);
    }

    SECTION("every setting can be given") {
        std::string extra = "socket = \"/tmp/s.sock\"\ntable = \"t\"\nheartbeat_ms = 100\nsuspect_after_ms = 300\n"
                            "down_after_ms = 900\nsample_ms = 50\n";
        auto r = parse_config(config_text(k, extra), "cluster.toml");
        REQUIRE(r.ok());
        CHECK(r->socket_path == "/tmp/s.sock");
        CHECK(r->table_name == "t");
        CHECK(r->heartbeat_ms == 100);
        CHECK(r->suspect_after_ms == 300);
        CHECK(r->down_after_ms == 900);
        CHECK(r->sample_ms == 50);
    }

    SECTION("--node overrides node_id, and may stand in for it") {
        auto r = parse_config(config_text(k), "cluster.toml", 3);
        REQUIRE(r.ok());
        CHECK(r->self_id == 3);
        CHECK(r->self().address == "127.0.1.3");

        std::string text = config_text(k);
        text.erase(0, text.find('\n') + 1);  // no node_id line at all
        auto without = parse_config(text, "cluster.toml", 2);
        REQUIRE(without.ok());
        CHECK(without->self_id == 2);

        CHECK_THAT(refused(config_text(k), 7), Catch::Contains("this node (7) is not among"));
    }

    SECTION("render_config then parse_config gives the same config") {
        std::string extra = "socket = \"/run/x \\\"quoted\\\".sock\"\nheartbeat_ms = 120\nsuspect_after_ms = 700\n"
                            "down_after_ms = 1700\nsample_ms = 90\n";
        auto first = parse_config(config_text(k, extra), "cluster.toml", 2);
        REQUIRE(first.ok());
        std::string rendered = render_config(*first);
        auto second = parse_config(rendered, "rendered.toml");
        INFO(rendered);
        REQUIRE(second.ok());
        const ClusterConfig &a = *first, &b = *second;
        CHECK(b.self_id == 2);
        CHECK(b.secret_key_file == a.secret_key_file);
        CHECK(b.socket_path == "/run/x \"quoted\".sock");
        CHECK(b.table_name == a.table_name);
        CHECK(b.heartbeat_ms == a.heartbeat_ms);
        CHECK(b.suspect_after_ms == a.suspect_after_ms);
        CHECK(b.down_after_ms == a.down_after_ms);
        CHECK(b.sample_ms == a.sample_ms);
        REQUIRE(b.nodes.size() == a.nodes.size());
        for (size_t i = 0; i < a.nodes.size(); ++i) {
            CHECK(b.nodes[i].id == a.nodes[i].id);
            CHECK(b.nodes[i].address == a.nodes[i].address);
            CHECK(b.nodes[i].port == a.nodes[i].port);
            CHECK(b.nodes[i].public_key == a.nodes[i].public_key);
        }
        CHECK(render_config(b) == rendered);
    }

    SECTION("load_config reads a file and names it in errors") {
        std::string dir = temp_dir();
        std::string path = dir + "/cluster.toml";
        REQUIRE(write_file_atomic(path, config_text(k), 0644).ok());
        auto r = load_config(path, 2);
        REQUIRE(r.ok());
        CHECK(r->self_id == 2);
        REQUIRE(write_file_atomic(path, "node_id = 1\n", 0644).ok());
        auto bad = load_config(path);
        REQUIRE_FALSE(bad.ok());
        CHECK_THAT(bad.error().message(), Catch::Contains(path));
        auto missing = load_config(dir + "/nope.toml");
        REQUIRE_FALSE(missing.ok());
        CHECK_THAT(missing.error().message(), Catch::Contains("nope.toml"));
        REQUIRE(remove_tree(dir).ok());
    }

    SECTION("errors name the problem") {
        std::string no_node_id = config_text(k);
        no_node_id.erase(0, no_node_id.find('\n') + 1);
        CHECK_THAT(refused(no_node_id), Catch::Contains("missing 'node_id'"));

        std::string node_id_5 = config_text(k);
        node_id_5.replace(0, std::string("node_id = 1").size(), "node_id = 5");
        CHECK_THAT(refused(node_id_5), Catch::Contains("this node (5) is not among the [[node]] entries"));

        CHECK_THAT(refused(config_text(k, "", "id = 2\naddress = \"127.0.1.9\"\npublic_key = \"" + k.k3 + "\"\n")),
                   Catch::Contains("node 2 is listed twice"));
        // Same endpoint, once by the default port and once spelled out.
        CHECK_THAT(refused(config_text(k, "", "id = 3\naddress = \"127.0.1.1\"\nport = 7100\npublic_key = \"" + k.k3 + "\"\n")),
                   Catch::Contains("two nodes share the endpoint tcp://127.0.1.1:7100"));

        for (std::string bad_key : {std::string("short"), k.k3 + "x", std::string(40, '~'), std::string()}) {
            INFO(bad_key);
            CHECK_THAT(refused(config_text(k, "", "id = 3\naddress = \"127.0.1.3\"\npublic_key = \"" + bad_key + "\"\n")),
                       Catch::Contains("node 3: public_key is not a 40-character Z85 key"));
        }

        CHECK_THAT(refused(config_text(k, "", "id = 3\naddress = \"127.0.1.3\"\nport = 70000\npublic_key = \"" + k.k3 + "\"\n")),
                   Catch::Contains("'node.port' = 70000 is out of range 1..65535"));
        CHECK_THAT(refused(config_text(k, "", "id = 3\naddress = \"127.0.1.3\"\nport = 0\npublic_key = \"" + k.k3 + "\"\n")),
                   Catch::Contains("'node.port' = 0 is out of range"));
        CHECK_THAT(refused(config_text(k, "", "id = 0\naddress = \"127.0.1.3\"\npublic_key = \"" + k.k3 + "\"\n")),
                   Catch::Contains("'node.id' = 0 is out of range 1..9999"));
        CHECK_THAT(refused(config_text(k, "", "id = 3\naddress = \"\"\npublic_key = \"" + k.k3 + "\"\n")),
                   Catch::Contains("node 3: empty address"));
        CHECK_THAT(refused(config_text(k, "", "id = 3\npublic_key = \"" + k.k3 + "\"\n")),
                   Catch::Contains("missing 'node.address'"));
        CHECK_THAT(refused("node_id = 1\n"), Catch::Contains("no [[node]] entries"));
        CHECK_THAT(refused("node_id = 1\nnode = [1, 2]\n"), Catch::Contains("[[node]] entries must be tables"));
    }

    SECTION("values of the wrong type are refused, with the line") {
        std::string text = config_text(k);
        text.replace(0, std::string("node_id = 1").size(), "node_id = \"1\"");
        CHECK_THAT(refused(text), Catch::Contains("cluster.toml:1: 'node_id' must be an integer"));

        CHECK_THAT(refused(config_text(k, "heartbeat_ms = 2.5\n")),
                   Catch::Contains("cluster.toml:3: 'heartbeat_ms' must be an integer"));
        CHECK_THAT(refused(config_text(k, "socket = 5\n")), Catch::Contains("cluster.toml:3: 'socket' must be a string"));
        CHECK_THAT(refused(config_text(k, "", "id = \"3\"\naddress = \"127.0.1.3\"\npublic_key = \"" + k.k3 + "\"\n")),
                   Catch::Contains("'node.id' must be an integer"));
        CHECK_THAT(refused(config_text(k, "", "id = 3\naddress = 127\npublic_key = \"" + k.k3 + "\"\n")),
                   Catch::Contains("'node.address' must be a string"));
        CHECK_THAT(refused(config_text(k, "", "id = 3\naddress = \"127.0.1.3\"\nport = \"7300\"\npublic_key = \"" + k.k3 + "\"\n")),
                   Catch::Contains("'node.port' must be an integer"));
        CHECK_THAT(refused(config_text(k, "", "id = 3\naddress = \"127.0.1.3\"\npublic_key = 12\n")),
                   Catch::Contains("'node.public_key' must be a string"));
    }

    SECTION("a TOML syntax error names file:line") {
        std::string text = config_text(k, "heartbeat_ms = = 5\n");  // line 3
        CHECK_THAT(refused(text), Catch::Contains("cluster.toml:3"));
        CHECK_THAT(refused("node_id = 1\n\n\n\n[[node]\n"), Catch::Contains("cluster.toml:5"));
    }

    SECTION("down_after_ms must exceed suspect_after_ms") {
        CHECK_THAT(refused(config_text(k, "suspect_after_ms = 500\ndown_after_ms = 500\n")),
                   Catch::Contains("down_after_ms must be greater than suspect_after_ms"));
        CHECK_THAT(refused(config_text(k, "suspect_after_ms = 3000\n")),  // default down_after_ms is 2000
                   Catch::Contains("down_after_ms must be greater than suspect_after_ms"));
        CHECK(parse_config(config_text(k, "suspect_after_ms = 500\ndown_after_ms = 501\n"), "cluster.toml").ok());
    }

    SECTION("environment overrides of the default paths") {
        ::unsetenv("SSI_CONFIG");
        CHECK(config_path_from_env() == kDefaultConfigPath);
        ::setenv("SSI_CONFIG", "/tmp/other.toml", 1);
        CHECK(config_path_from_env() == "/tmp/other.toml");
        ::unsetenv("SSI_CONFIG");
        ::unsetenv("SSI_SOCKET");
        CHECK(socket_path_from_env() == kDefaultSocketPath);
        ::setenv("SSI_SOCKET", "/tmp/a.sock", 1);
        CHECK(socket_path_from_env() == "/tmp/a.sock");
        ::unsetenv("SSI_SOCKET");
    }
}
