// The subcommands of ssi-cluster, one file each (cmd_*.cpp). main.cpp parses the command
// line into these options and calls one of them.
#pragma once

#include "kern-ext/result.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ssi::cluster {

struct UpOptions {
    std::string name;
    int nodes = 3;
    std::optional<uint16_t> base_port;
    int timeout_s = 15;
};

struct ExecOptions {
    std::string name;
    int node = 0;
    std::string user;  // empty: stay who we are
    std::vector<std::string> command;
};

struct AgentOptions {
    std::string name;
    int node = 0;
    std::string signal = "TERM";  // stop-agent only
    int timeout_s = 15;
};

Result<int> cmd_up(const UpOptions& options);
Result<int> cmd_exec(const ExecOptions& options);
Result<int> cmd_status(const std::string& name);
Result<int> cmd_stop_agent(const AgentOptions& options);
Result<int> cmd_start_agent(const AgentOptions& options);
Result<int> cmd_down(const std::string& name);

}  // namespace ssi::cluster
