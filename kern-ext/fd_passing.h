// Messages with a descriptor attached, over a pair of connected SOCK_SEQPACKET sockets:
// how a process in another PID namespace hands out a pidfd (a PID number would mean
// nothing outside; a pidfd means the same process everywhere).
#pragma once

#include "kern-ext/result.h"
#include "kern-ext/unique_fd.h"

#include <span>
#include <utility>
#include <vector>

namespace ssi {

// socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC): message boundaries kept.
Result<std::pair<UniqueFd, UniqueFd>> make_message_pair();

// One message, with `fd` attached (SCM_RIGHTS) unless it is -1. Retries EINTR.
Result<void> send_message(int socket, std::span<const char> data, int fd = -1);
// The same with several descriptors (at most kMaxPassedFds), in the order given.
inline constexpr size_t kMaxPassedFds = 8;
Result<void> send_message(int socket, std::span<const char> data, std::span<const int> fds);

struct ReceivedMessage {
    size_t size = 0;  // 0: the other end is closed
    UniqueFd fd;      // attached descriptor, if any (close-on-exec)
};
// One message into `buffer` (a longer one is cut: MSG_TRUNC is not an error here, the
// caller checks size). Retries EINTR.
Result<ReceivedMessage> receive_message(int socket, std::span<char> buffer);

struct ReceivedFds {
    size_t size = 0;            // 0: the other end is closed
    std::vector<UniqueFd> fds;  // in the order sent (close-on-exec)
};
// One message and every descriptor attached to it (up to kMaxPassedFds).
Result<ReceivedFds> receive_message_fds(int socket, std::span<char> buffer);

}  // namespace ssi
