// Terminals: the few questions the tools ask, and what a remote program's terminal needs —
// a pseudo-terminal pair (Pty), its attributes and window size, a controlling terminal
// and its foreground process group, and raw mode at home (RawMode, restored on exit).
#pragma once

#include "kern-ext/result.h"
#include "kern-ext/unique_fd.h"

#include <sys/types.h>
#include <termios.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace ssi {

bool is_terminal(int fd);
// Columns of the terminal on fd, if it is one and knows its size.
std::optional<size_t> terminal_columns(int fd);

struct TerminalSize {
    uint16_t rows = 0, cols = 0;
};

// tcgetattr(3) / tcsetattr(3, TCSADRAIN).
Result<termios> terminal_attributes(int fd);
Result<void> set_terminal_attributes(int fd, const termios& attributes);
// ioctl(TIOCGWINSZ) / ioctl(TIOCSWINSZ). Setting it on a pty master makes the kernel send
// SIGWINCH to the slave's foreground process group.
Result<TerminalSize> terminal_size(int fd);
Result<void> set_terminal_size(int fd, TerminalSize size);

// setsid(2) unless the caller already leads a session, then ioctl(TIOCSCTTY): `fd` (a
// terminal no other session has) becomes the session's controlling terminal.
Result<void> take_controlling_terminal(int fd);
// setpgid(0, 0) and tcsetpgrp(3): the caller leads a new process group of its session, the
// foreground one on `tty` (its controlling terminal). Block SIGTTOU first: the caller is
// still in the background when it asks.
Result<void> lead_foreground_group(int tty);
// Whether the caller's process group is the foreground one on `fd` (tcgetpgrp(3)); true
// too when fd is a terminal but not our controlling one (no job control applies to us).
bool in_foreground(int fd);
// ioctl(TIOCSIG) on a pty master: `signal` to the slave's foreground process group. The
// kernel takes only SIGINT, SIGQUIT and SIGTSTP this way.
Result<void> signal_foreground_group(int master, int signal);
// tcgetpgrp on a pty master: the slave's foreground process group, in our PID namespace.
Result<pid_t> terminal_foreground_group(int master);

// Whether a process of the terminal's foreground process group is blocked reading it
// (read/readv/pread on one of its descriptors of `slave_path`, as /proc/PID/syscall shows):
// the read the kernel would stop with SIGTTIN in a background job. `master` is the pty's.
Result<bool> foreground_reads_terminal(int master, const std::string& slave_path);

// A pseudo-terminal pair: posix_openpt (close-on-exec, not our controlling terminal),
// grantpt, unlockpt, ptsname, and the slave opened likewise.
class Pty {
public:
    static Result<Pty> open();

    int master() const { return master_.get(); }
    int slave() const { return slave_.get(); }
    const std::string& slave_path() const { return slave_path_; }
    // Gives the master away (for the caller to keep); the slave stays with the Pty.
    UniqueFd take_master() { return std::move(master_); }
    // Once the program has its copies: the master then sees EIO when the last one closes.
    void close_slave() { slave_.reset(); }

private:
    Pty(UniqueFd master, UniqueFd slave, std::string path)
        : master_(std::move(master)), slave_(std::move(slave)), slave_path_(std::move(path)) {}
    UniqueFd master_, slave_;
    std::string slave_path_;
};

// The terminal on `fd` in raw mode (cfmakeraw: no echo, no line editing, no signals from
// keys, no output processing) for as long as this lives; the attributes it had are
// restored by the destructor, or earlier by restore() (before stopping, say) and taken
// raw again by resume().
class RawMode {
public:
    static Result<RawMode> enter(int fd);

    RawMode(RawMode&& other) noexcept
        : fd_(std::exchange(other.fd_, -1)), saved_(other.saved_), raw_(std::exchange(other.raw_, false)) {}
    RawMode& operator=(RawMode&&) = delete;
    RawMode(const RawMode&) = delete;
    RawMode& operator=(const RawMode&) = delete;
    ~RawMode() { (void)restore(); }

    Result<void> restore();
    Result<void> resume();
    bool raw() const { return raw_; }
    // The attributes before raw mode: what the terminal is to whoever uses it cooked.
    const termios& saved() const { return saved_; }

private:
    RawMode(int fd, const termios& saved) : fd_(fd), saved_(saved) {}
    int fd_ = -1;
    termios saved_{};
    bool raw_ = false;
};

}  // namespace ssi
