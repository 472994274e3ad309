// Sockets of any family, for the socket relay of remote execution (the deputy holds the
// program's real TCP sockets at home; the supervisor hands the program one end of a Unix
// stream pair). Addresses travel as raw sockaddr bytes: the caller does not need to know
// the family. Every call keeps errno in its Error, since the program is told that errno.
#pragma once

#include "kern-ext/result.h"
#include "kern-ext/unique_fd.h"

#include <sys/types.h>

#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace ssi {

// socket(2), always close-on-exec; `type` may carry SOCK_NONBLOCK.
Result<UniqueFd> open_socket(int family, int type, int protocol);
// socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC): both ends blocking.
Result<std::pair<UniqueFd, UniqueFd>> make_stream_pair();
// connect(2); on a non-blocking socket the Error's err is EINPROGRESS while under way.
Result<void> connect_socket(int fd, std::span<const char> addr);
Result<void> bind_socket(int fd, std::span<const char> addr);
Result<void> listen_socket(int fd, int backlog);
// accept4(2) with SOCK_CLOEXEC | SOCK_NONBLOCK; the peer's address into `peer`.
Result<UniqueFd> accept_socket(int fd, std::string& peer);
// getsockname(2) / getpeername(2): the address's bytes.
Result<std::string> socket_name(int fd);
Result<std::string> peer_name(int fd);
Result<void> set_socket_option(int fd, int level, int name, std::span<const char> value);
// getsockopt(2) with room for `size` bytes; the value as long as the kernel says.
Result<std::string> get_socket_option(int fd, int level, int name, size_t size);
// SO_ERROR: the pending error (0 if none), which reading clears.
Result<int> socket_error(int fd);
Result<void> shutdown_socket(int fd, int how);
// recv(2) with MSG_DONTWAIT: bytes read, 0 at end of stream; Error err EAGAIN when none.
Result<size_t> receive_some(int fd, std::span<char> buffer);
// send(2) with MSG_DONTWAIT | MSG_NOSIGNAL (a closed peer is EPIPE, never SIGPIPE):
// bytes sent, 0 when the socket is full.
Result<size_t> send_some(int fd, std::string_view data);
// The inode of what fd is (a socket's: its number in /proc/PID/fd's "socket:[N]").
Result<ino_t> fd_inode(int fd);
// O_NONBLOCK of the open file.
Result<bool> is_nonblocking(int fd);
Result<void> set_blocking_mode(int fd, bool nonblocking);

}  // namespace ssi
