// The channel between a remote program's supervisor (ssi-remote, on the target) and its
// deputy (ssi-run, at home): one ZeroMQ ROUTER at the deputy, CURVE with keys made for
// this run only. Every message is two frames, [kind][payload]: kind "C" a control message
// (wire::SessionHello, StdinData, ForwardSignal, ProgramExited, Keepalive, WindowSize,
// the migration messages), kind "I" a piece of a migration's image (image_stream.h),
// kind "S" the program's TCP sockets (socket_protocol.h, on a connection of the
// supervisor's socket service).
// The program's output is the exception, three frames [kOutputKind][stream][bytes]: its
// bytes go from the pipe into a ZeroMQ message and from there into the deputy's write()
// without being copied or encoded on the way (it is the bulk path).
// The file system requests and replies (libssi/remote/fs_protocol.h) do not use it: they
// travel on sealed links of their own, with keys derived from this run's (sealed_link.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace ssi::remote {

inline constexpr char kControlKind = 'C';
inline constexpr char kOutputKind = 'O';
// The stream byte of an output message.
inline constexpr char kOutputTerminal = '0';  // the program's pty, for the home terminal
inline constexpr char kOutputStdout = '1';
inline constexpr char kOutputStderr = '2';

// Each side sends a Keepalive this often and gives the other up after kSilenceLimitMs.
inline constexpr int kKeepaliveMs = 500;
inline constexpr int kSilenceLimitMs = 5000;
// After the connection to the deputy drops, how long it has to come back.
inline constexpr int kReconnectGraceMs = 1000;
// How long the deputy waits for the supervisor's first word.
inline constexpr int kHelloTimeoutMs = 15000;
// How long, after the program's end, its sockets may take to send their last bytes home.
inline constexpr int kSocketFlushMs = 5000;
// Input travels in pieces of at most this much.
inline constexpr size_t kChunkBytes = 256 * 1024;
// Output is read in pieces of at most this much, from pipes this big: bulk output moves in
// few, large messages, and the program and the supervisor do not take turns on a full pipe.
inline constexpr size_t kOutputChunkBytes = 1024 * 1024;
// Output read from the program but not yet written out at home (wire::OutputTaken), at
// most; the deputy reports each kOutputChunkBytes it wrote, so it never waits on itself.
inline constexpr size_t kOutputWindowBytes = 4 * kOutputChunkBytes;

// ssi-run's own failures (cannot start, lost the target) exit with this status, as ssh
// does, so they are told apart from the program's.
inline constexpr int kDeputyFailureStatus = 255;

// ---- migration (docs/migration.md) ---------------------------------------------------
// Where a deputy takes orders from its home agent: an abstract Unix socket named after
// the node, its PID namespace (abstract names are per network namespace, which several
// nodes of one machine — several clusters — may share, while their PIDs repeat) and the
// deputy's PID. The deputy only obeys root; the agent checks the listener is the
// deputy's PID (SO_PEERCRED), so nobody can stand in for either.
inline std::string deputy_order_socket(int32_t node, uint64_t pid_namespace, int32_t pid) {
    return "ssi-deputy-" + std::to_string(node) + "-" + std::to_string(pid_namespace) + "-" + std::to_string(pid);
}
// How long a supervisor holds a restored program for the deputy's ResumeOrder before it
// discards it; the deputy gives the restore this long to report RestoreReady.
inline constexpr int kResumeWaitMs = 5000;
inline constexpr int kRestoreTimeoutMs = 120000;

}  // namespace ssi::remote
