// Unix stream sockets: how local tools reach their agent, and how the agent learns who
// is calling (SO_PEERCRED, set by the kernel, so a caller cannot lie about its uid).
#pragma once

#include "kern-ext/result.h"
#include "kern-ext/unique_fd.h"

#include <sys/types.h>

#include <string>

namespace ssi {

struct PeerCredentials {
    pid_t pid = 0;
    uid_t uid = 0;
    gid_t gid = 0;
};

// Replaces a stale socket file; `mode` is applied to the socket file.
Result<UniqueFd> listen_unix(const std::string& path, int backlog, mode_t mode);
Result<UniqueFd> connect_unix(const std::string& path);
// Sockets in the abstract namespace (no file; per network namespace): the listener is
// non-blocking, connections and accepted sockets block.
Result<UniqueFd> listen_abstract(const std::string& name, int backlog);
Result<UniqueFd> connect_abstract(const std::string& name);
Result<UniqueFd> accept_connection(int listener);
Result<PeerCredentials> peer_credentials(int fd);
// Waits until fd is readable (true) or timeout_ms passes (false).
Result<bool> wait_readable(int fd, int timeout_ms);

}  // namespace ssi
