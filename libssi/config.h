// The cluster configuration (TOML, /etc/ssi/cluster.toml by default). The same file can
// serve every node: node_id says which entry is this node, or `ssi-agent --node K` does.
//
//   node_id = 1
//   secret_key_file = "/etc/ssi/node.secret"
//   [[node]]
//   id = 1
//   address = "127.0.1.1"
//   port = 7100
//   public_key = "<40 Z85 characters, from ssi-keygen>"
#pragma once

#include "kern-ext/result.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ssi {

inline constexpr const char* kDefaultConfigPath = "/etc/ssi/cluster.toml";
inline constexpr const char* kDefaultSocketPath = "/run/ssi/agent.sock";
inline constexpr const char* kDefaultTableName = "ssi-proctable";
inline constexpr uint16_t kDefaultPort = 7100;

struct NodeConfig {
    int32_t id = 0;
    std::string address;
    uint16_t port = kDefaultPort;
    std::string public_key;  // Z85, 40 characters

    std::string endpoint() const { return "tcp://" + address + ":" + std::to_string(port); }
};

struct ClusterConfig {
    int32_t self_id = 0;
    std::string secret_key_file;
    std::string socket_path = kDefaultSocketPath;
    std::string table_name = kDefaultTableName;  // shared-memory object holding the process table
    uint32_t heartbeat_ms = 250;
    uint32_t suspect_after_ms = 1000;
    uint32_t down_after_ms = 2000;
    uint32_t sample_ms = 200;  // how often the node's own processes are scanned
    std::vector<NodeConfig> nodes;

    const NodeConfig* find(int32_t id) const;
    const NodeConfig& self() const { return *find(self_id); }
};

// Errors name the file, and the line where toml++ knows it.
Result<ClusterConfig> parse_config(std::string_view text, const std::string& source,
                                   std::optional<int32_t> node_override = std::nullopt);
Result<ClusterConfig> load_config(const std::string& path,
                                  std::optional<int32_t> node_override = std::nullopt);
std::string render_config(const ClusterConfig& config);

// $SSI_CONFIG, or the default path.
std::string config_path_from_env();
// $SSI_SOCKET, or the default path.
std::string socket_path_from_env();

}  // namespace ssi
