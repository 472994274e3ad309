// The channel between a remote program's supervisor (ssi-remote, on the target) and its
// deputy (ssi-run, at home): one ZeroMQ ROUTER at the deputy, CURVE with keys made for
// this run only. Every message is two frames, [kind][payload]: kind "F" carries a file
// system request or reply (libssi/remote/fs_protocol.h), kind "C" a control message
// (wire::SessionHello, StdinData, OutputData, ForwardSignal, ProgramExited, Keepalive,
// WindowSize).
#pragma once

#include <cstddef>
#include <cstdint>

namespace ssi::remote {

inline constexpr char kFsKind = 'F';
inline constexpr char kControlKind = 'C';

// Each side sends a Keepalive this often and gives the other up after kSilenceLimitMs.
inline constexpr int kKeepaliveMs = 500;
inline constexpr int kSilenceLimitMs = 5000;
// After the connection to the deputy drops, how long it has to come back.
inline constexpr int kReconnectGraceMs = 1000;
// How long the deputy waits for the supervisor's first word.
inline constexpr int kHelloTimeoutMs = 15000;
// Output and input travel in pieces of at most this much.
inline constexpr size_t kChunkBytes = 256 * 1024;

// ssi-run's own failures (cannot start, lost the target) exit with this status, as ssh
// does, so they are told apart from the program's.
inline constexpr int kDeputyFailureStatus = 255;

}  // namespace ssi::remote
