// Deputy: what ssi-run becomes while its program runs elsewhere. It keeps the program's
// home identity (this process's PID, parent, stdio, cwd), serves the program's file
// system requests on the home files, relays stdin/stdout/stderr, forwards the signals it
// receives, and finally exits as the program did. On a terminal (its stdin is one) the
// program gets a pty over there; the deputy's terminal is raw meanwhile and only relays.
#pragma once

#include "kern-ext/result.h"
#include "kern-ext/terminal.h"
#include "kern-ext/unique_fd.h"
#include "libssi/remote/home_file_server.h"
#include "libssi/wire/messages.h"

#include <zmq.hpp>

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
    // Listens on `address` (this node's cluster address), on a port of the kernel's choice.
    static Result<std::unique_ptr<Deputy>> create(const std::string& address);

    // The request for the agent: everything but identity (the agent adds it).
    wire::RunRequest request(const RunOptions& options) const;
    // Serves until the program ends; returns the shell status to exit with, after
    // dying of the program's signal if it died of one.
    Result<int> serve(int32_t node);

private:
    Deputy() = default;
    void on_router();
    void on_control(const std::string& routing_id, const std::string& payload);
    void on_stdin();
    void on_signals();
    void deliver_signal(int sig);
    void stop_like_program();
    void take_terminal();
    void send_control(const wire::Message& message);

    zmq::context_t context_{1};
    zmq::socket_t zap_;
    zmq::socket_t router_;
    std::string endpoint_;
    std::string server_public_, client_public_, client_secret_;
    std::unique_ptr<remote::HomeFileServer> files_;
    UniqueFd signals_;
    mode_t umask_ = 022;
    std::string control_id_;  // the supervisor's control connection, once it said hello
    std::vector<int> early_signals_;
    bool stdin_open_ = true;
    std::optional<wire::ProgramExited> exited_;
    std::chrono::steady_clock::time_point last_heard_;
    int32_t node_ = 0;
    // Terminal mode: stdin is a terminal, raw while we are its foreground job.
    bool tty_ = false;
    int tty_out_ = -1;  // where the program's terminal output goes: our stdout, stderr or stdin
    std::optional<RawMode> raw_;
};

}  // namespace ssi::run
