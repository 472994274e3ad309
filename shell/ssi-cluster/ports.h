// Choosing the nodes' TCP ports. Node K listens on 127.0.1.K at base + K - 1: distinct
// ports are not needed (the addresses differ), but they make `ss -tln` readable and let
// the same layout work on one address if ever needed.
#pragma once

#include "kern-ext/result.h"

#include <cstdint>
#include <string>

namespace ssi::cluster {

inline constexpr uint16_t kFirstBasePort = 7100;

inline uint16_t node_port(uint16_t base, int k) { return uint16_t(base + k - 1); }

// The first base port from kFirstBasePort up where all n nodes' ports are free.
Result<uint16_t> pick_base_port(int n);
// Checks a given base port; the error names the first busy endpoint.
Result<void> check_base_port(uint16_t base, int n);

}  // namespace ssi::cluster
