// The typed messages agents exchange with each other (over ZeroMQ) and with local tools
// (over the agent's Unix socket). One struct per message; wire/codec.h is the one place
// that turns them into bytes and back. Adding a field: append it, bump kProtocolVersion.
#pragma once

#include <msgpack.hpp>

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace ssi::wire {

inline constexpr uint32_t kProtocolVersion = 13;

// Biggest message anyone may send; bigger ones are refused before decoding.
inline constexpr size_t kMaxMessageBytes = 64u << 20;

// One process as `ps` would show it, wherever it runs.
struct ProcessRecord {
    int64_t gpid = 0;        // home node id * 10'000'000 + home pid
    int32_t node = 0;        // node it runs on now
    int32_t home = 0;        // its home node
    int32_t pid = 0;         // its PID on the home node
    int32_t ppid = 0;        // parent's PID on the home node
    uint32_t uid = 0;        // real uid
    std::string user;        // user name on its node (uid as text when unknown)
    std::string state;       // ps STAT letter(s): R, S, D, Z, T, t, I ...
    uint32_t pcpu_x10 = 0;   // %CPU * 10, as ps computes it (cpu time / elapsed)
    uint64_t rss_kb = 0;
    uint64_t vsz_kb = 0;
    int64_t start_time = 0;  // seconds since the epoch
    uint64_t cpu_ms = 0;     // user + system CPU time
    std::string tty;         // controlling terminal name, "?" when none
    std::string comm;        // executable name (ps -o comm)
    std::string cmd;         // full command line (ps -o args); [comm] for kernel threads
    MSGPACK_DEFINE_ARRAY(gpid, node, home, pid, ppid, uid, user, state, pcpu_x10, rss_kb, vsz_kb,
                         start_time, cpu_ms, tty, comm, cmd)
};

// What a node says about itself in every heartbeat, and what ssi-nodes shows.
struct NodeStatus {
    int32_t id = 0;
    std::string address;
    std::string hostname;
    uint32_t cpus = 0;
    double load1 = 0, load5 = 0, load15 = 0;
    uint64_t mem_total_kb = 0;
    uint64_t mem_free_kb = 0;   // MemAvailable
    uint32_t processes = 0;
    int64_t started_at = 0;     // agent start, seconds since the epoch
    MSGPACK_DEFINE_ARRAY(id, address, hostname, cpus, load1, load5, load15, mem_total_kb,
                         mem_free_kb, processes, started_at)
};

// ---- agent <-> agent ----------------------------------------------------------------

// Sent to every peer every heartbeat interval. (epoch, seq) names the sender's current
// process-table share so a peer that missed a delta notices and asks for a snapshot.
struct Heartbeat {
    NodeStatus status;
    uint64_t table_epoch = 0;
    uint64_t table_seq = 0;
    MSGPACK_DEFINE_ARRAY(status, table_epoch, table_seq)
};

// Changes to the sender's share of the process table since seq - 1. `full` replaces the
// receiver's whole copy of the sender's share (a snapshot).
struct TableDelta {
    uint64_t epoch = 0;
    uint64_t seq = 0;
    bool full = false;
    std::vector<ProcessRecord> upserts;
    std::vector<int64_t> removed;  // gpids
    MSGPACK_DEFINE_ARRAY(epoch, seq, full, upserts, removed)
};

struct SnapshotRequest {
    MSGPACK_DEFINE_ARRAY()
};

// Deliver `signal` to gpid on behalf of caller_uid (authenticated by the node that sends
// this; the receiving node checks kill(2)'s permission rule itself).
struct KillRequest {
    int64_t gpid = 0;
    int32_t signal = 0;
    uint32_t caller_uid = 0;
    MSGPACK_DEFINE_ARRAY(gpid, signal, caller_uid)
};

struct KillReply {
    int32_t err = 0;  // 0, or errno as kill(2) would set it
    std::string message;
    MSGPACK_DEFINE_ARRAY(err, message)
};

// The node's own processes, read now (ssi-ps --fresh).
struct PsRequest {
    MSGPACK_DEFINE_ARRAY()
};

struct PsReply {
    int32_t node = 0;
    std::vector<ProcessRecord> processes;
    MSGPACK_DEFINE_ARRAY(node, processes)
};

// ---- tool <-> local agent -------------------------------------------------------------

// Tool asks its agent for the whole cluster's processes, asked of every node now.
struct ClusterPsRequest {
    uint32_t timeout_ms = 1000;
    MSGPACK_DEFINE_ARRAY(timeout_ms)
};

struct ClusterPsReply {
    std::vector<ProcessRecord> processes;
    std::vector<int32_t> unreachable;  // nodes that did not answer in time
    MSGPACK_DEFINE_ARRAY(processes, unreachable)
};

struct NodesRequest {
    MSGPACK_DEFINE_ARRAY()
};

struct NodeView {
    NodeStatus status;
    std::string state;          // "up", "suspect", "down"
    int64_t last_heard_ms = -1; // ms since its last heartbeat; -1 never heard
    bool self = false;
    MSGPACK_DEFINE_ARRAY(status, state, last_heard_ms, self)
};

struct NodesReply {
    int32_t self = 0;
    std::vector<NodeView> nodes;
    MSGPACK_DEFINE_ARRAY(self, nodes)
};

// Any request that could not be served: the reason, in words and errno.
struct ErrorReply {
    int32_t err = 0;
    std::string message;
    MSGPACK_DEFINE_ARRAY(err, message)
};

// ---- remote execution (ssi-run) ------------------------------------------------------
// The deputy (ssi-run at home) asks its agent to start a program on another node; the
// agent fills in who is asking from SO_PEERCRED and passes it to the target's agent, which
// starts an ssi-remote supervisor. The supervisor then talks to the deputy directly over
// ZeroMQ with keys only these three parties ever saw (docs/remote-exec.md).

// The home terminal a remote program runs on, when ssi-run's stdin is one: the program
// gets a pseudo-terminal on the target with these attributes and this size.
struct TerminalSpec {
    bool enabled = false;     // stdin is a terminal: the program gets a pty as stdin
    bool stdout_tty = false;  // stdout is that terminal too: the pty, not a pipe
    bool stderr_tty = false;  // stderr likewise
    uint32_t iflag = 0, oflag = 0, cflag = 0, lflag = 0;  // termios at home, before raw mode
    std::string cc;           // termios c_cc, NCCS bytes
    uint32_t ispeed = 0, ospeed = 0;
    uint16_t rows = 0, cols = 0;
    MSGPACK_DEFINE_ARRAY(enabled, stdout_tty, stderr_tty, iflag, oflag, cflag, lflag, cc, ispeed, ospeed, rows, cols)
};

struct RunRequest {
    int32_t target = 0;             // node; 0 = the least loaded
    std::vector<std::string> argv;  // argv[0] is the program, resolved at home
    std::vector<std::string> env;
    std::string cwd;
    uint32_t umask = 022;
    std::vector<std::pair<int32_t, std::pair<uint64_t, uint64_t>>> rlimits;  // resource -> (cur, max)
    std::string deputy_endpoint;    // tcp://home-address:port the deputy listens on
    std::string deputy_public_key;  // the deputy's CURVE server key (Z85)
    std::string session_secret_key; // the supervisor's CURVE client secret (Z85), made by the deputy
    std::string hostname;           // home's hostname (uname -n stays home's)
    // Filled in by the home agent from SO_PEERCRED and /proc; ignored from the tool.
    int32_t home = 0;
    int32_t pid = 0;                // the deputy's PID: the program wears it
    int32_t ppid = 0;               // the deputy's parent
    uint32_t uid = 0, gid = 0;
    std::vector<uint32_t> groups;
    TerminalSpec terminal;          // from the tool
    std::string program;            // argv[0] found in PATH at home (absolute); "" = argv[0]
    // A migration: instead of exec'ing argv, rebuild the process saved in this image (a
    // home path, read through the home file view) and resume it when the deputy says so.
    std::string restore_image;
    // With restore_image, a move from home: the memory is held at home and comes after the
    // resume, as the program needs it and then the rest (docs/migration.md, "Post-copy").
    bool lazy_memory = false;
    // From the tool: bit N set when its descriptor N (0..2) is the null device. The program
    // gets the target's /dev/null there instead of a pipe to the deputy, so what it writes
    // to it is dropped where it runs, and reading it ends at once (protocol 12).
    uint8_t null_stdio = 0;
    // The port, at deputy_endpoint's address, of the deputy's sealed link for the home
    // files (libssi/remote/sealed_link.h; protocol 13).
    uint32_t deputy_files_port = 0;
    MSGPACK_DEFINE_ARRAY(target, argv, env, cwd, umask, rlimits, deputy_endpoint, deputy_public_key,
                         session_secret_key, hostname, home, pid, ppid, uid, gid, groups, terminal, program,
                         restore_image, lazy_memory, null_stdio, deputy_files_port)
};

struct RunReply {
    int32_t node = 0;  // where it runs
    MSGPACK_DEFINE_ARRAY(node)
};

// Supervisor <-> deputy. Output and input are raw bytes; signals travel by number.
struct SessionHello {
    int32_t node = 0;
    MSGPACK_DEFINE_ARRAY(node)
};

struct StdinData {
    std::string bytes;  // empty = end of input
    MSGPACK_DEFINE_ARRAY(bytes)
};

// Supervisor -> deputy: how many bytes of input (StdinData since its SessionHello) it has
// written into the program's stdin. The deputy keeps at most a window of input beyond
// it in flight, so a slow reader holds no unbounded backlog over there, and a move finds
// little input that the program had not read.
struct StdinTaken {
    uint64_t total = 0;
    MSGPACK_DEFINE_ARRAY(total)
};

// Deputy -> supervisor, the same for output: how many bytes of the program's output
// (since its SessionHello) it has written out at home. The supervisor reads the program's
// output at most a window ahead of it, so a slow consumer at home holds the program back
// (as a full pipe would) instead of filling both processes' memory.
struct OutputTaken {
    uint64_t total = 0;
    MSGPACK_DEFINE_ARRAY(total)
};

// Retired: output now travels as raw kOutputKind frames (libssi/remote/session.h), which
// spare it two copies and an encoding. Kept so the message numbers of protocol 4 stay put.
struct OutputData {
    int32_t fd = 1;  // 1 or 2; 0 = the program's terminal (its pty), for the home terminal
    std::string bytes;
    MSGPACK_DEFINE_ARRAY(fd, bytes)
};

struct ForwardSignal {
    int32_t signal = 0;
    MSGPACK_DEFINE_ARRAY(signal)
};

// The program ended (exit code, or the signal that killed it), or never started
// (exit_code 126/127 and `error` says why).
struct ProgramExited {
    int32_t exit_code = -1;
    int32_t signal = 0;
    bool core_dumped = false;
    std::string error;
    // The input of this session the supervisor received, and what of it the program left
    // unread: the deputy gives back what it had read for nothing (kern-ext/input_pushback.h).
    uint64_t input_received = 0;
    std::string unread_input;
    MSGPACK_DEFINE_ARRAY(exit_code, signal, core_dumped, error, input_received, unread_input)
};

struct Keepalive {
    MSGPACK_DEFINE_ARRAY()
};

// Deputy -> supervisor: the supervisor's last word has arrived (its ProgramExited, or the
// CheckpointDone of a move away). Until then the supervisor keeps its link open and reads
// what comes: closing a TCP connection with input unread resets it, and a reset throws
// away what the closer had sent but not yet delivered — that last word itself, queued
// behind a window of output the deputy was still taking.
struct LastWordReceived {
    MSGPACK_DEFINE_ARRAY()
};

// Supervisor -> deputy: the program called kill(pid, signal) for a PID that is not one of
// its run's (a home process: its parent, a job of the home shell), or for a process
// group (pid < -1) none of its run's processes leads. The deputy sends it at home, as the
// user, and answers KillReply with kill(2)'s errno.
// tgkill(2) names a thread too (`tid`); rt_sigqueueinfo(2) sends a value (`queued`).
struct HomeSignal {
    int32_t pid = 0;
    int32_t signal = 0;
    int32_t tid = 0;      // > 0: tgkill(pid, tid, signal)
    bool queued = false;  // sigqueue(pid, signal, value)
    int64_t value = 0;
    MSGPACK_DEFINE_ARRAY(pid, signal, tid, queued, value)
};

// Deputy -> supervisor: the home terminal's new size (SIGWINCH at home), for the program's pty.
struct WindowSize {
    uint16_t rows = 0, cols = 0;
    MSGPACK_DEFINE_ARRAY(rows, cols)
};

// Deputy -> supervisor: whether the deputy is its terminal's foreground job at home. In
// the background, a program reading its pty over there is stopped with SIGTTIN, as the
// home kernel would stop it.
struct TerminalForeground {
    bool foreground = true;
    MSGPACK_DEFINE_ARRAY(foreground)
};

// ---- a remote program's children (docs/remote-exec.md, "Children") ------------------
// Supervisor -> deputy, a request: a process of the program forks; reserve a home PID for
// the child (the deputy forks a child deputy that holds it). `parent` is the forking
// process's PID (its home PID). Answered by ChildReserved.
struct ChildReserve {
    int32_t parent = 0;
    MSGPACK_DEFINE_ARRAY(parent)
};
// Deputy -> supervisor: the reserved PID, or 0 and why not.
struct ChildReserved {
    int32_t pid = 0;
    std::string error;
    MSGPACK_DEFINE_ARRAY(pid, error)
};
// Supervisor -> deputy: the child wearing `pid` ended with this raw wait status (or its
// reservation went unused: status 0); its child deputy exits the same way.
struct ChildEnded {
    int32_t pid = 0;
    int32_t wait_status = 0;
    MSGPACK_DEFINE_ARRAY(pid, wait_status)
};
// Deputy -> supervisor: a signal sent at home to the child deputy `pid`, for the child.
struct ChildSignal {
    int32_t pid = 0;
    int32_t signal = 0;
    MSGPACK_DEFINE_ARRAY(pid, signal)
};

// ---- checkpoint/restart (ssi-checkpoint, ssi-restart; docs/checkpoint.md) -----------
// Files travel as descriptors, not paths: the tool opens them with its own credentials
// and names the descriptor; the agent takes that very open file from the caller
// (pidfd_getfd on the SO_PEERCRED pid), so it never opens a path on a user's behalf.

// Checkpoint gpid (a process of this node) into the caller's open file `fd`.
struct CheckpointRequest {
    int64_t gpid = 0;
    int32_t fd = -1;    // the caller's descriptor of the image file, open for writing
    bool kill = false;  // kill the process once saved (else it goes on running)
    MSGPACK_DEFINE_ARRAY(gpid, fd, kill)
};

struct CheckpointReply {
    uint64_t bytes = 0;  // image size
    MSGPACK_DEFINE_ARRAY(bytes)
};

// Restore the image in the caller's open file `fd` on `node` (0: this one), with the
// caller's stdin, stdout and stderr and the caller's credentials.
struct RestartRequest {
    int32_t node = 0;
    int32_t fd = -1;
    std::string name;     // the file's path, for messages only
    bool detach = false;  // nobody will wait for it
    MSGPACK_DEFINE_ARRAY(node, fd, name, detach)
};

struct RestartReply {
    int64_t gpid = 0;       // the restored process
    int32_t image_pid = 0;  // the PID it had when checkpointed (kept when it was free)
    MSGPACK_DEFINE_ARRAY(gpid, image_pid)
};

// Wait for a process this agent restarted for the caller; answered by ProgramExited.
struct RestartWaitRequest {
    int64_t gpid = 0;
    MSGPACK_DEFINE_ARRAY(gpid)
};

// ---- migration (ssi-migrate; docs/migration.md) ----------------------------------------
// The tool asks its agent, which passes the request to the process's home agent; that
// one decides (kill(2)'s rule) and either turns a plain process into its deputy or orders
// the existing deputy, which moves its program with its supervisors.

inline constexpr int32_t kMigrateHome = -1;  // MigrateRequest::target: back to its home node
inline constexpr int32_t kMigrateAuto = 0;   // the least loaded other node

struct MigrateRequest {
    int64_t gpid = 0;
    int32_t target = kMigrateAuto;  // a node id, kMigrateHome or kMigrateAuto
    uint32_t caller_uid = 0;        // between agents only: who asked (from SO_PEERCRED)
    MSGPACK_DEFINE_ARRAY(gpid, target, caller_uid)
};

struct MigrateReply {
    int32_t node = 0;          // where the process runs now
    uint64_t image_bytes = 0;  // how much state moved
    uint32_t frozen_ms = 0;    // how long the process was stopped
    uint32_t total_ms = 0;
    uint64_t precopy_bytes = 0;  // of image_bytes, sent while it still ran (docs/migration.md, "Pre-copy")
    MSGPACK_DEFINE_ARRAY(node, image_bytes, frozen_ms, total_ms, precopy_bytes)
};

// Home agent -> deputy (on the deputy's order socket): move the program to `target`
// (the home node itself: bring it back into the deputy), using `image_path` at home for
// its image. Answered by MigrateReply, DeputyParked or ErrorReply (nothing moved).
// Leaving home, the image's memory stays in `memory_holder`, the deputy's child
// (kern-ext/checkpoint/memory_holder.h): the image is IMAGE.head, then that memory.
struct MoveOrder {
    int32_t target = 0;
    std::string image_path;
    int32_t memory_holder = 0;
    MSGPACK_DEFINE_ARRAY(target, image_path, memory_holder)
};

// Deputy -> home agent: the image is whole at `image_path`, no copy runs anywhere, and the
// deputy is parked (one thread, blocked, every signal held): rebuild the process in it.
struct DeputyParked {
    std::string image_path;
    uint64_t image_bytes = 0;
    std::string why;  // empty when home was the target; else why the move fell back home
    std::vector<int32_t> signals;  // sent to the process during the move: deliver them once it is rebuilt
    // Pre-copied into the deputy while the process still ran (CheckpointOrder::precopy),
    // and how long it has been stopped so far (its supervisor's part and the deputy's).
    uint64_t precopy_bytes = 0;
    uint32_t frozen_ms = 0;
    MSGPACK_DEFINE_ARRAY(image_path, image_bytes, why, signals, precopy_bytes, frozen_ms)
};

// Deputy -> supervisor: save the program into `image_path` (a home path, through the
// home file view) and end it there once the image is whole. Answered by CheckpointDone;
// on success the supervisor leaves without a ProgramExited.
struct CheckpointOrder {
    std::string image_path;
    // The deputy is the target (a move home): first send it the program's memory while
    // the program runs, then only what it wrote since (docs/migration.md, "Pre-copy").
    bool precopy = false;
    MSGPACK_DEFINE_ARRAY(image_path, precopy)
};

struct CheckpointDone {
    uint64_t bytes = 0;
    std::string error;  // not empty: nothing happened, the program runs on
    // Input the deputy had sent that the program had not read yet: it goes to the next
    // place the program runs, first.
    std::string unread_input;
    // What the pre-copy sent, and how long the program was stopped here.
    uint64_t precopy_bytes = 0;
    uint32_t frozen_ms = 0;
    MSGPACK_DEFINE_ARRAY(bytes, error, unread_input, precopy_bytes, frozen_ms)
};

// Supervisor -> deputy: the restored program is whole and held stopped. The deputy
// answers ResumeOrder (the commit point of a migration); the supervisor then lets it go
// and says Resumed. Without the order in time, the supervisor discards it.
struct RestoreReady {
    MSGPACK_DEFINE_ARRAY()
};
struct ResumeOrder {
    MSGPACK_DEFINE_ARRAY()
};
struct Resumed {
    MSGPACK_DEFINE_ARRAY()
};

// Every message, by its wire type number (the variant index + 1; never reorder).
using Message = std::variant<Heartbeat, TableDelta, SnapshotRequest, KillRequest, KillReply,
                             PsRequest, PsReply, ClusterPsRequest, ClusterPsReply, NodesRequest,
                             NodesReply, ErrorReply, RunRequest, RunReply, SessionHello, StdinData,
                             OutputData, ForwardSignal, ProgramExited, Keepalive, WindowSize,
                             CheckpointRequest, CheckpointReply, RestartRequest, RestartReply,
                             RestartWaitRequest, MigrateRequest, MigrateReply, MoveOrder, DeputyParked,
                             CheckpointOrder, CheckpointDone, RestoreReady, ResumeOrder, Resumed,
                             TerminalForeground, ChildReserve, ChildReserved, ChildEnded, ChildSignal,
                             StdinTaken, OutputTaken, LastWordReceived, HomeSignal>;

struct Envelope {
    uint64_t request_id = 0;  // ties a reply to its request; 0 for one-way messages
    Message body;
};

}  // namespace ssi::wire
