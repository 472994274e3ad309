// The inside half of kern-ext/remote_launch: the processes that run in the program's new
// PID namespace (its reaper, the stub that wears the home parent's PID, the program until
// its exec), and what they report to the launcher. Private to remote_launch.cpp and
// launch_inside.cpp; the launcher's side is RemoteProcess (remote_launch.h).
#pragma once

#include "kern-ext/result.h"

#include <limits.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <string>

namespace ssi {
struct ReaperRoot;  // remote_launch.h
}

namespace ssi::launch_inside {

// What the processes inside tell the launcher. Fixed size and under PIPE_BUF, so one
// write() is one report, never interleaved.
enum class ReportKind : int32_t { failed = 1, started = 2, exited = 3, stopped = 4, continued = 5, listener = 6 };
struct Report {
    ReportKind kind{};
    int32_t err = 0;
    int32_t wait_status = 0;  // exited: the program's raw wait status
    char call[64] = {};
    char context[512] = {};
};
static_assert(sizeof(Report) <= PIPE_BUF);

inline std::span<const char> bytes_of(const Report& r) { return {reinterpret_cast<const char*>(&r), sizeof r}; }
inline std::span<char> bytes_of(Report& r) { return {reinterpret_cast<char*>(&r), sizeof r}; }

inline Report failure_report(const Error& e) {
    Report r;
    r.kind = ReportKind::failed;
    r.err = e.err;
    std::strncpy(r.call, e.call.c_str(), sizeof r.call - 1);
    std::strncpy(r.context, e.context.c_str(), sizeof r.context - 1);
    return r;
}

inline Error error_of(const Report& r) {
    return Error{std::string(r.call, strnlen(r.call, sizeof r.call)), r.err,
                 std::string(r.context, strnlen(r.context, sizeof r.context))};
}

// The descriptors the processes inside report through.
struct Channels {
    int exec_report;  // pipe, close-on-exec: one failure Report, or EOF once the program exec'd
    int control;      // socket: Report{started} with the program's pidfd, then Report{exited};
                      // and from the program Report{listener} with its seccomp listener
    int next_pid;     // socket: the launcher's next-PID requests, served by the reaper
    int filter = -1;  // socket: the program's compiled system call filter, when it has rules
    int root_ready = -1;  // pipe: EOF once the reaper has finished the root (its optional binds)
};

// Exit status of the reaper or stub when they fail; the Report says why.
inline constexpr int kLaunchFailed = 125;

// A reaper forked ahead (RemoteProcess::prepare): waits for its spec on spec_socket, then
// builds the program's world, starts the stub and lives as long as it does. With `root`,
// it enters that root first: its spec's root then is that one.
[[noreturn]] void await_spec(Channels ch, int spec_socket, int launcher_pidfd, const ReaperRoot* root = nullptr);

}  // namespace ssi::launch_inside
