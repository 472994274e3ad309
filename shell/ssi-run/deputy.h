// Deputy: what ssi-run becomes while its program runs elsewhere. It keeps the program's
// home identity (this process's PID, parent, stdio, cwd), serves the program's file
// system requests on the home files, relays stdin/stdout/stderr, forwards the signals it
// receives, and finally exits as the program did. On a terminal (its stdin is one) the
// program gets a pty over there; the deputy's terminal is raw meanwhile and only relays.
#pragma once

#include "kern-ext/result.h"
#include "kern-ext/terminal.h"
#include "kern-ext/unique_fd.h"
#include "libssi/remote/byte_queue.h"
#include "libssi/remote/home_file_server.h"
#include "libssi/remote/image_server.h"
#include "libssi/remote/sealed_server.h"
#include "libssi/remote/socket_server.h"
#include "libssi/wire/framing.h"
#include "libssi/wire/messages.h"
#include "shell/ssi-run/child_deputies.h"
#include "shell/ssi-run/output_writer.h"

#include <zmq.hpp>

#include <sys/resource.h>

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ssi::run {

struct RunOptions {
    int32_t node = 0;  // 0 = --auto
    std::vector<std::string> argv;
};

class Deputy {
public:
    // Listens on `address` (this node's cluster address), on a port of the kernel's choice,
    // and for its home agent's orders (migrations) on deputy_order_socket(self_node, pid).
    // `context`: its threads may be started ahead (started_context), while the caller waits.
    static Result<std::unique_ptr<Deputy>> create(const std::string& address, int32_t self_node,
                                                  zmq::context_t context);

    // The request for the agent: everything but identity (the agent adds it).
    wire::RunRequest request(const RunOptions& options) const;
    // The home file server, which nothing needs before serve() (the file links are
    // served there): made while the agents start the run, ~0.2 ms off the start. Done
    // by serve() if not before.
    Result<void> prepare_files();
    // Serves until the program ends; returns the shell status to exit with, after
    // dying of the program's signal if it died of one. `node` 0: no program runs yet, its
    // image waits for the home agent's MoveOrder (ssi-run --adopt, a migration from home).
    Result<int> serve(int32_t node);

private:
    explicit Deputy(zmq::context_t context) : context_(std::move(context)) {}
    // Migration (deputy_moves.cpp): the home agent's orders, the moves they start.
    enum class Move { none, checkpointing, restoring, committing };
    void on_order_listener();
    void on_order_connection();
    void on_move_order(const wire::MoveOrder& order);
    void on_checkpoint_done(const wire::CheckpointDone& done);
    void on_session_hello(const std::string& routing_id);
    void on_restore_ready();
    void on_resumed();
    void on_postcopy_done();
    void on_postcopy_lost();
    void end_postcopy(const wire::Message& answer);
    void end_memory_holder();
    void on_move_failed(const std::string& why);
    void deliver_early_signals();
    bool move_silence_expired();
    void move_to_target();
    void reply_order(const wire::Message& message);
    [[noreturn]] void park(const std::string& why);
    void on_router();
    void on_control(const std::string& routing_id, const std::string& payload);
    void write_output(char stream, zmq::message_t bytes, bool from_current);
    void on_output_news();
    void take_signal(int sig);
    void on_stdin();
    void give_back_input(const wire::ProgramExited& exited);
    void on_signals();
    void deliver_signal(int sig);
    void stop_like_program();
    void take_terminal();
    void send_control(const wire::Message& message);
    // The program's sockets, held here (deputy_sockets.cpp).
    void on_socket_frame(const zmq::message_t& routing_id, const zmq::message_t& payload);
    void send_socket(const remote::SocketMessage& message);
    std::vector<remote::SocketWatch> add_socket_watches(std::vector<zmq::pollitem_t>& items) const;
    void on_socket_events(const std::vector<remote::SocketWatch>& watches, const zmq::pollitem_t* items);
    void finish_sockets();
    void reply_to(const std::string& routing_id, uint64_t request_id, const wire::Message& message);
    void on_child_signals();
    void on_file_links(const std::vector<remote::SealedServer::Watch>& watches, const zmq::pollitem_t* items);

    zmq::context_t context_;
    zmq::socket_t zap_;
    zmq::socket_t router_;
    std::string endpoint_;
    std::string server_public_, client_public_, client_secret_;
    std::unique_ptr<remote::HomeFileServer> files_;
    // The home file requests' own links, outside ZeroMQ (libssi/remote/sealed_link.h says why).
    std::unique_ptr<remote::SealedServer> file_links_;
    uint64_t file_requests_ = 0;  // served so far: news from the supervisor
    remote::ImageServer images_;  // a migration's image, to and from the supervisors
    std::unique_ptr<remote::SocketServer> sockets_;
    std::string sockets_id_;  // the supervisor's connection for sockets
    UniqueFd signals_;
    std::optional<ChildDeputies> children_;  // stand-ins for the program's children
    mode_t umask_ = 022;
    std::vector<std::pair<int, rlimit>> rlimits_;  // as given to us, for the program
    std::string control_id_;  // the supervisor's control connection, once it said hello
    std::vector<int> early_signals_;
    bool stdin_open_ = true;
    // Our descriptors 0..2 that are the null device: the program gets the target's there
    // (RunRequest::null_stdio), and nothing of them travels.
    uint8_t null_stdio_ = 0;
    // Input sent to the current supervisor, and what it says the program took (StdinTaken).
    uint64_t stdin_sent_ = 0, stdin_taken_ = 0;
    // What we sent beyond stdin_taken_: some of it may still be on its way at the
    // program's end, read here for nothing, and given back (give_back_input).
    remote::ByteQueue stdin_in_flight_;
    // The program's output, written out on a thread of its own; what the current
    // supervisor was told of it (OutputTaken).
    std::unique_ptr<OutputWriter> output_;
    uint64_t output_reported_ = 0;
    std::optional<wire::ProgramExited> exited_;
    std::chrono::steady_clock::time_point last_heard_;
    int32_t node_ = 0;
    // Terminal mode: stdin is a terminal, raw while we are its foreground job.
    bool tty_ = false;
    int tty_out_ = -1;  // where the program's terminal output goes: our stdout, stderr or stdin
    std::optional<RawMode> raw_;
    std::optional<bool> said_foreground_;  // what the supervisor knows of our place at the terminal
    // Migration state.
    int32_t self_node_ = 0;
    UniqueFd order_listener_, order_connection_;
    wire::FrameReader order_reader_{wire::kMaxMessageBytes};
    uint64_t order_id_ = 0;
    std::optional<wire::MoveOrder> order_;
    Move move_ = Move::none;
    std::string image_path_;
    uint64_t image_bytes_ = 0;
    pid_t memory_holder_ = 0;  // leaving home: our child, holding the program's memory
    // Leaving home, the program resumed on its target before its memory came
    // (docs/migration.md, "Post-copy"): the move is over when the target has it all.
    bool postcopy_ = false;
    std::chrono::steady_clock::time_point resumed_at_;
    uint64_t precopy_bytes_ = 0;  // sent into our own memory while the program still ran (a move home)
    uint32_t frozen_ms_ = 0;      // the program stopped at the supervisor's, until CheckpointDone
    std::chrono::steady_clock::time_point checkpoint_done_at_;
    std::string unread_input_;  // for the program's next place, first
    std::chrono::steady_clock::time_point move_started_, committed_at_;
    std::string cwd_;
};

}  // namespace ssi::run
