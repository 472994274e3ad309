// How a LaunchSpec reaches a reaper forked before its run was known
// (RemoteProcess::prepare): as bytes, through a SOCK_SEQPACKET socket pair, with the
// program's stdio attached as descriptors. Both ends are the same binary, one process
// apart, so the layout has no version.
#pragma once

#include "kern-ext/remote_launch.h"
#include "kern-ext/result.h"
#include "kern-ext/syscall_filter.h"

#include <optional>
#include <string>
#include <string_view>

namespace ssi {

// The spec without its stdio descriptors (the decoded spec has -1 there).
std::string encode_launch_spec(const LaunchSpec& spec);
Result<LaunchSpec> decode_launch_spec(std::string_view bytes);

// A header with the stdio descriptors the spec has and the encoded spec's start in one
// message (a usual spec is one wake-up of the reaper), the rest in messages small enough
// for any socket buffer. Blocks until the other end has taken them all.
Result<void> send_launch_spec(int socket, const LaunchSpec& spec);
// The spec with its stdio, now descriptors of ours; nullopt when the other end closed
// the socket without sending one.
Result<std::optional<LaunchSpec>> receive_launch_spec(int socket);

// A spec with syscall_rules is followed on the same socket by their compiled filter: the
// launcher compiles it while the reaper builds the program's world, and the program takes
// it just before it installs it. A launcher that closes the socket instead sends none.
Result<void> send_syscall_filter(int socket, const SyscallFilter& filter);
Result<SyscallFilter> receive_syscall_filter(int socket);

}  // namespace ssi
