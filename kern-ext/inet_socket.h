// IPv4 TCP sockets, for the little the tools need of them directly (ZeroMQ owns the rest).
#pragma once

#include "kern-ext/result.h"

#include <cstdint>
#include <string>

namespace ssi {

// True when address:port can be bound now (nobody listens there).
Result<bool> tcp_port_free(const std::string& address, uint16_t port);

}  // namespace ssi
