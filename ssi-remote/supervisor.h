// Supervisor: ssi-remote's whole job, for one program started by `ssi-run` at its home.
// It mounts the home files (HomeFs, served by the deputy), launches the program wearing
// its home identity (kern-ext/remote_launch.h), relays its stdin/stdout/stderr and signals
// to and from the deputy, and tells the deputy how it ended. When the deputy's stdin is a
// terminal, the program gets a pty here instead of pipes, and its stops are mirrored home.
#pragma once

#include "kern-ext/remote_launch.h"
#include "kern-ext/result.h"
#include "kern-ext/unique_fd.h"
#include "libssi/remote/byte_queue.h"
#include "libssi/wire/messages.h"
#include "ssi-remote/children.h"
#include "ssi-remote/fs_transport.h"
#include "ssi-remote/home_fs.h"
#include "ssi-remote/image_transfer.h"
#include "ssi-remote/postcopy.h"
#include "ssi-remote/socket_service.h"
#include "ssi-remote/syscall_dispatch.h"

#include <zmq.hpp>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ssi::remote {

// What a spare supervisor makes while it waits for its run (main.cpp), so that the run
// does not wait for it. Each part is optional: what is missing is made by the run.
struct SpareStart {
    // The program's reaper, forked in the mount namespace of our own once the home files
    // are mounted there; it enters them as its root at once (RemoteProcess::prepare), its
    // lookups waiting for the run to serve the mount.
    std::optional<ReadyReaper> reaper;
    // Those files' mount, made but not served: the run connects it to its deputy.
    std::string mountpoint;
    std::unique_ptr<HomeFs> fs;
    // This node's copies of home files (file_cache.h).
    std::shared_ptr<FileCache> cache;

    SpareStart() = default;
    // Leaves `other` empty: its destructor must not unmount what moved.
    SpareStart(SpareStart&& other) noexcept
        : reaper(std::exchange(other.reaper, std::nullopt)), mountpoint(std::exchange(other.mountpoint, {})),
          fs(std::move(other.fs)), cache(std::move(other.cache)) {}
    SpareStart& operator=(SpareStart&&) = delete;
    ~SpareStart();  // an unused spare's mount goes with it
};

class Supervisor {
public:
    // runs_dir: where to tell the agent our program's PIDs (see ssi-agent/remote_runs.h).
    // `context` outlives us; a spare supervisor makes it (and its threads) before the spec.
    Supervisor(zmq::context_t& context, wire::RunRequest spec, int32_t self_node,
               std::string runs_dir, SpareStart spare);
    ~Supervisor();

    // All of SpareStart: a mount namespace of our own, the mount, the reaper and the file
    // cache. Single-threaded: before any thread is started (the mount's loop starts last).
    // Whatever fails is said on stderr and left to the run.
    static SpareStart prepare_spare(const std::string& runs_dir);
    // The program's root: the home files' mount with this node's /dev and /sys, and the
    // agent's socket where home has one.
    static ReaperRoot root_of(const std::string& mountpoint, const std::string& runs_dir);
    // The names in the root that root_of()'s mounts cover, answered by the mount itself
    // (home_fs_mounted_over.cpp).
    static std::vector<std::string> mounted_over(const ReaperRoot& root);

    // Runs the program to its end; the deputy learns the outcome either way.
    void run();

private:
    // Bytes of home files this node keeps copies of, for all runs here (file_cache.h).
    static constexpr uint64_t kFileCacheBytes = 256ull << 20;

    HomeFsOptions file_view_options();
    Result<void> serve_files();
    Result<void> start_program();
    void relay();
    void send_control(const wire::Message& message);
    bool relay_output(int fd, char stream);
    void report_input_taken();
    std::string take_unread_input();
    void on_control();
    void on_signal(int signal);
    void on_program_change();
    void stop_background_reader();
    void finish(const wire::ProgramExited& how);
    // True if the deputy's connection dropped since last asked (control_monitor_).
    bool take_control_drops();
    void await_last_word_received();
    void end_program();
    // Migration (migration.cpp).
    // From `fetch` if it was opened ahead (a move from home: the head alone).
    Result<void> restore_program(std::optional<ImageFetch> fetch);
    Result<void> wait_for_resume_order();
    void move_away(const wire::CheckpointOrder& order);
    std::string drain_program_output();
    void inject_fault(const char* point) const;
    // Sockets are home's (supervisor_sockets.cpp): the relay and its system call handlers.
    Result<void> start_sockets();

    wire::RunRequest spec_;
    int32_t self_node_;
    std::string runs_dir_;
    SessionKeys keys_;
    zmq::context_t& context_;
    std::shared_ptr<FsTransport> files_;  // the home files' requests' way to the deputy
    zmq::socket_t control_;
    zmq::socket_t control_monitor_;  // the control link's drops (ZMQ_EVENT_DISCONNECTED)
    bool deputy_dropped_ = false;    // it dropped, and nothing came since
    std::string mountpoint_;
    std::optional<ReadyReaper> reaper_;  // until the launch
    std::unique_ptr<HomeFs> fs_;         // a spare's is mounted before the run, served at its start
    std::shared_ptr<FileCache> cache_;   // a spare's, until the mount takes it
    // The program's intercepted calls; its children's home PIDs. Declared before program_,
    // and stopped before it goes (end_program): they use it from their threads.
    SyscallDispatch dispatch_;
    std::unique_ptr<Children> children_;
    std::unique_ptr<SocketService> sockets_;  // the program's TCP sockets, relayed home
    std::optional<RemoteProcess> program_;
    // A program that left home resumed before its memory came (postcopy.h); declared
    // after program_: it stops before the program goes.
    std::unique_ptr<PostCopy> postcopy_;
    UniqueFd stdin_, stdout_, stderr_;  // pipes to the program, or -1 where the pty is
    UniqueFd pty_;                      // the pty master, when the program has a terminal
    bool watch_changes_ = false;        // the stub reports the program's stops
    std::string pty_slave_path_;
    bool background_ = false;           // the deputy is not its terminal's foreground job
    bool stopped_for_input_ = false;    // SIGTTIN sent, until the deputy is in front again
    ByteQueue stdin_pending_;  // for the program's stdin or terminal
    bool stdin_eof_ = false;
    // Input flow (wire::StdinTaken): what this session received, what the deputy was told.
    uint64_t stdin_received_ = 0, stdin_reported_ = 0;
    // Output flow (wire::OutputTaken): what was sent, what the deputy has written out.
    uint64_t output_sent_ = 0, output_taken_ = 0;
    // Migration: our copy of the program's stdin read end (what it left unread moves on
    // with it), control messages that came while a restore waited for its ResumeOrder,
    // and whether the program moved away (then nobody reports its "death").
    UniqueFd stdin_reader_;
    std::vector<std::string> held_control_;
    std::optional<wire::CheckpointOrder> checkpoint_order_;
    bool moved_away_ = false;
};

}  // namespace ssi::remote
