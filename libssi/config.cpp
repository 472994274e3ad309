#include "libssi/config.h"

#include "libssi/keys.h"

#include <toml++/toml.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

namespace ssi {
namespace {

Error config_error(const std::string& source, const std::string& what, const toml::source_region* where = nullptr) {
    std::string ctx = source;
    if (where && where->begin.line) ctx += ":" + std::to_string(where->begin.line);
    return make_error("config", ctx + ": " + what, EINVAL);
}

template <class T>
Result<T> get_int(const toml::node_view<const toml::node>& v, const std::string& source, const std::string& key,
                  int64_t lo, int64_t hi, std::optional<T> fallback = std::nullopt) {
    if (!v) {
        if (fallback) return *fallback;
        return config_error(source, "missing '" + key + "'");
    }
    auto i = v.value<int64_t>();
    if (!v.is_integer() || !i) return config_error(source, "'" + key + "' must be an integer", &v.node()->source());
    if (*i < lo || *i > hi)
        return config_error(source,
                            "'" + key + "' = " + std::to_string(*i) + " is out of range " + std::to_string(lo) +
                                ".." + std::to_string(hi),
                            &v.node()->source());
    return static_cast<T>(*i);
}

Result<std::string> get_string(const toml::node_view<const toml::node>& v, const std::string& source,
                               const std::string& key, std::optional<std::string> fallback = std::nullopt) {
    if (!v) {
        if (fallback) return *fallback;
        return config_error(source, "missing '" + key + "'");
    }
    if (!v.is_string()) return config_error(source, "'" + key + "' must be a string", &v.node()->source());
    return std::string(*v.value<std::string>());
}

}  // namespace

const NodeConfig* ClusterConfig::find(int32_t id) const {
    for (const auto& n : nodes)
        if (n.id == id) return &n;
    return nullptr;
}

Result<ClusterConfig> parse_config(std::string_view text, const std::string& source,
                                   std::optional<int32_t> node_override) {
    toml::table root;
    try {
        root = toml::parse(text, source);
    } catch (const toml::parse_error& e) {
        return config_error(source, std::string(e.description()), &e.source());
    }
    const toml::node_view<const toml::node> r{static_cast<const toml::node&>(root)};
    ClusterConfig c;
    if (node_override) {
        c.self_id = *node_override;
    } else {
        c.self_id = TRY(get_int<int32_t>(r["node_id"], source, "node_id", 1, 9999));
    }
    c.secret_key_file = TRY(get_string(r["secret_key_file"], source, "secret_key_file", std::string()));
    c.socket_path = TRY(get_string(r["socket"], source, "socket", std::string(kDefaultSocketPath)));
    c.table_name = TRY(get_string(r["table"], source, "table", std::string(kDefaultTableName)));
    c.heartbeat_ms = TRY(get_int<uint32_t>(r["heartbeat_ms"], source, "heartbeat_ms", 10, 60'000, c.heartbeat_ms));
    c.suspect_after_ms =
        TRY(get_int<uint32_t>(r["suspect_after_ms"], source, "suspect_after_ms", 10, 600'000, c.suspect_after_ms));
    c.down_after_ms = TRY(get_int<uint32_t>(r["down_after_ms"], source, "down_after_ms", 10, 600'000, c.down_after_ms));
    c.sample_ms = TRY(get_int<uint32_t>(r["sample_ms"], source, "sample_ms", 10, 60'000, c.sample_ms));
    if (c.down_after_ms <= c.suspect_after_ms)
        return config_error(source, "down_after_ms must be greater than suspect_after_ms");

    const toml::array* nodes = root["node"].as_array();
    if (!nodes || nodes->empty()) return config_error(source, "no [[node]] entries");
    std::set<int32_t> ids;
    std::set<std::string> endpoints;
    for (const toml::node& entry : *nodes) {
        const toml::table* t = entry.as_table();
        if (!t) return config_error(source, "[[node]] entries must be tables", &entry.source());
        const toml::node_view<const toml::node> n{entry};
        NodeConfig nc;
        nc.id = TRY(get_int<int32_t>(n["id"], source, "node.id", 1, 9999));
        nc.address = TRY(get_string(n["address"], source, "node.address"));
        nc.port = TRY(get_int<uint16_t>(n["port"], source, "node.port", 1, 65535, kDefaultPort));
        nc.public_key = TRY(get_string(n["public_key"], source, "node.public_key"));
        if (nc.address.empty()) return config_error(source, "node " + std::to_string(nc.id) + ": empty address", &entry.source());
        if (!is_valid_z85_key(nc.public_key))
            return config_error(source, "node " + std::to_string(nc.id) + ": public_key is not a 40-character Z85 key",
                                &entry.source());
        if (!ids.insert(nc.id).second)
            return config_error(source, "node " + std::to_string(nc.id) + " is listed twice", &entry.source());
        if (!endpoints.insert(nc.endpoint()).second)
            return config_error(source, "two nodes share the endpoint " + nc.endpoint(), &entry.source());
        c.nodes.push_back(std::move(nc));
    }
    if (!c.find(c.self_id))
        return config_error(source, "this node (" + std::to_string(c.self_id) + ") is not among the [[node]] entries");
    return c;
}

Result<ClusterConfig> load_config(const std::string& path, std::optional<int32_t> node_override) {
    std::ifstream in(path);
    if (!in) return sys_error("open", path);
    std::stringstream ss;
    ss << in.rdbuf();
    return parse_config(ss.str(), path, node_override);
}

std::string render_config(const ClusterConfig& c) {
    std::ostringstream o;
    o << "# ssi cluster configuration\n";
    o << "node_id = " << c.self_id << "\n";
    o << "secret_key_file = " << toml::value<std::string>(c.secret_key_file) << "\n";
    o << "socket = " << toml::value<std::string>(c.socket_path) << "\n";
    o << "table = " << toml::value<std::string>(c.table_name) << "\n";
    o << "heartbeat_ms = " << c.heartbeat_ms << "\n";
    o << "suspect_after_ms = " << c.suspect_after_ms << "\n";
    o << "down_after_ms = " << c.down_after_ms << "\n";
    o << "sample_ms = " << c.sample_ms << "\n";
    for (const auto& n : c.nodes) {
        o << "\n[[node]]\n";
        o << "id = " << n.id << "\n";
        o << "address = " << toml::value<std::string>(n.address) << "\n";
        o << "port = " << n.port << "\n";
        o << "public_key = " << toml::value<std::string>(n.public_key) << "\n";
    }
    return o.str();
}

}  // namespace ssi
