// IPv4 TCP sockets, for the little the tools need of them directly (ZeroMQ owns the rest).
#pragma once

#include "kern-ext/result.h"
#include "kern-ext/unique_fd.h"

#include <cstdint>
#include <string>

namespace ssi {

// True when address:port can be bound now (nobody listens there).
Result<bool> tcp_port_free(const std::string& address, uint16_t port);
// A non-blocking listener on address:port (0: the kernel's choice; see bound_port).
Result<UniqueFd> listen_tcp(const std::string& address, uint16_t port, int backlog);
Result<uint16_t> bound_port(int fd);
// A blocking connection to address:port with TCP_NODELAY (requests and replies are whole
// messages: Nagle would hold a small one back for the last one's acknowledgement).
// ETIMEDOUT after timeout_ms, not the kernel's two minutes of SYN retries to a host gone.
Result<UniqueFd> connect_tcp(const std::string& address, uint16_t port, int timeout_ms = 5000);
// A non-blocking accepted connection with TCP_NODELAY; EAGAIN when none waits.
Result<UniqueFd> accept_tcp(int listener);
// SO_RCVTIMEO: a blocking read fails with EAGAIN after `ms`.
Result<void> set_receive_timeout(int fd, int ms);

}  // namespace ssi
