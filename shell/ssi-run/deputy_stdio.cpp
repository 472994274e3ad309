// Deputy: the program's stdio at home — its input read under a window and given back when
// it did not take it, its output written where it would have gone, our terminal in raw
// mode while we are its foreground job, and stopping with the program.
#include "shell/ssi-run/deputy.h"

#include "kern-ext/files.h"
#include "kern-ext/input_pushback.h"
#include "kern-ext/pidfd.h"
#include "kern-ext/terminal.h"
#include "libssi/remote/session.h"

#include <signal.h>
#include <unistd.h>

namespace ssi::run {

// Input we read that the program never did — still in its pipe, not yet written there, or
// on its way — goes back where the next reader of our stdin finds it: a file's offset
// moves back, a terminal gets it again (typed ahead of a prompt). From a pipe nothing can
// go back for others: that is gone, as with ssh (which reads ahead without a window).
void Deputy::give_back_input(const wire::ProgramExited& exited) {
    if (exited.input_received > stdin_sent_) return;  // not ours to trust
    const uint64_t on_the_way = stdin_sent_ - exited.input_received;
    std::string_view window = stdin_in_flight_.front();
    if (on_the_way > window.size()) return;
    std::string back = exited.unread_input;
    back += window.substr(window.size() - on_the_way);
    if (!back.empty()) (void)push_back_input(STDIN_FILENO, back, PushBack::in_place);
}

// The program's output (a kOutputKind message), written where the program would have, by
// the output thread. What a supervisor that has left sends last is written, not counted.
void Deputy::write_output(char stream, zmq::message_t bytes, bool from_current) {
    int fd = stream == remote::kOutputStderr ? STDERR_FILENO : STDOUT_FILENO;
    if (stream == remote::kOutputTerminal && tty_out_ >= 0) fd = tty_out_;
    if (!output_) output_ = std::make_unique<OutputWriter>();
    output_->write(fd, std::move(bytes), from_current);
}

// The supervisor reads the program's output at most kOutputWindowBytes ahead of what we
// wrote out. A reader gone is the SIGPIPE our own write would have raised: the program's.
void Deputy::on_output_news() {
    OutputWriter::News news = output_->take_news();
    if (news.reader_gone) take_signal(SIGPIPE);
    if (news.written - output_reported_ < remote::kOutputChunkBytes) return;
    output_reported_ = news.written;
    send_control(wire::OutputTaken{news.written});
}

// What a pipe holds now, up to a chunk (a writer's pipe gives 64 KiB a read): one message.
void Deputy::on_stdin() {
    char buf[remote::kChunkBytes];
    size_t got = 0;
    bool ended = false;
    do {
        auto n = read_some(STDIN_FILENO, std::span<char>(buf + got, sizeof buf - got));
        if (!n || *n == 0) {
            ended = true;
            break;
        }
        got += *n;
    } while (got < sizeof buf && readable_now(STDIN_FILENO));
    if (got > 0) {
        stdin_sent_ += got;
        stdin_in_flight_.append(std::span<const char>(buf, got));
        send_control(wire::StdinData{std::string(buf, got)});
    }
    if (ended) {
        stdin_open_ = false;
        send_control(wire::StdinData{});
    }
}

// The program stopped over there, so its deputy stops here and the shell sees the job
// stopped, with the terminal as it left it; `fg` continues the deputy, whose SIGCONT then
// travels to the program like any other signal.
void Deputy::stop_like_program() {
    if (raw_) (void)raw_->restore();
    (void)send_signal(::getpid(), SIGSTOP);
}

// Raw mode, but only as the terminal's foreground job: a background one leaves the
// terminal to the shell (and does not read it; see serve()).
void Deputy::take_terminal() {
    if (!tty_ || !in_foreground(STDIN_FILENO)) return;
    if (raw_) {
        (void)raw_->resume();
        return;
    }
    if (auto mode = RawMode::enter(STDIN_FILENO)) raw_.emplace(std::move(*mode));
}

}  // namespace ssi::run
