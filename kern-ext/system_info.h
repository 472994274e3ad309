// This machine's vital signs, for heartbeats and ssi-nodes.
#pragma once

#include "kern-ext/result.h"

#include <cstdint>
#include <string>

namespace ssi {

struct SystemInfo {
    std::string hostname;
    uint32_t cpus = 0;
    double load1 = 0, load5 = 0, load15 = 0;
    uint64_t mem_total_kb = 0;
    uint64_t mem_available_kb = 0;
};

Result<SystemInfo> read_system_info();

}  // namespace ssi
