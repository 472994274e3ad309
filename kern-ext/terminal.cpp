#include "kern-ext/terminal.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

namespace ssi {

bool is_terminal(int fd) { return ::isatty(fd) == 1; }

std::optional<size_t> terminal_columns(int fd) {
    winsize ws{};
    if (::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return size_t(ws.ws_col);
    return std::nullopt;
}

Result<termios> terminal_attributes(int fd) {
    termios t{};
    if (::tcgetattr(fd, &t) < 0) return sys_error("tcgetattr", "fd " + std::to_string(fd));
    return t;
}

Result<void> set_terminal_attributes(int fd, const termios& attributes) {
    for (;;) {
        if (::tcsetattr(fd, TCSADRAIN, &attributes) == 0) return ok();
        if (errno != EINTR) return sys_error("tcsetattr", "fd " + std::to_string(fd));
    }
}

Result<TerminalSize> terminal_size(int fd) {
    winsize ws{};
    if (::ioctl(fd, TIOCGWINSZ, &ws) < 0) return sys_error("ioctl(TIOCGWINSZ)", "fd " + std::to_string(fd));
    return TerminalSize{ws.ws_row, ws.ws_col};
}

Result<void> set_terminal_size(int fd, TerminalSize size) {
    winsize ws{};
    ws.ws_row = size.rows;
    ws.ws_col = size.cols;
    if (::ioctl(fd, TIOCSWINSZ, &ws) < 0) return sys_error("ioctl(TIOCSWINSZ)", "fd " + std::to_string(fd));
    return ok();
}

Result<void> take_controlling_terminal(int fd) {
    if (::getsid(0) != ::getpid() && ::setsid() < 0) return sys_error("setsid");
    if (::ioctl(fd, TIOCSCTTY, 0) < 0) return sys_error("ioctl(TIOCSCTTY)", "fd " + std::to_string(fd));
    return ok();
}

Result<void> lead_foreground_group(int tty) {
    if (::setpgid(0, 0) < 0) return sys_error("setpgid");
    if (::tcsetpgrp(tty, ::getpgrp()) < 0) return sys_error("tcsetpgrp", "fd " + std::to_string(tty));
    return ok();
}

bool in_foreground(int fd) {
    pid_t group = ::tcgetpgrp(fd);
    if (group < 0) return true;  // not our controlling terminal: no job of ours is behind
    return group == ::getpgrp();
}

Result<void> signal_foreground_group(int master, int signal) {
    if (::ioctl(master, TIOCSIG, signal) < 0) return sys_error("ioctl(TIOCSIG)", "signal " + std::to_string(signal));
    return ok();
}

Result<Pty> Pty::open() {
    UniqueFd master(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!master) return sys_error("posix_openpt");
    if (::grantpt(master.get()) < 0) return sys_error("grantpt");
    if (::unlockpt(master.get()) < 0) return sys_error("unlockpt");
    char path[128];
    if (int err = ::ptsname_r(master.get(), path, sizeof path); err != 0) return make_error("ptsname_r", {}, err);
    UniqueFd slave(::open(path, O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!slave) return sys_error("open", path);
    return Pty(std::move(master), std::move(slave), path);
}

Result<RawMode> RawMode::enter(int fd) {
    termios saved = TRY(terminal_attributes(fd));
    RawMode mode(fd, saved);
    TRY(mode.resume());
    return mode;
}

Result<void> RawMode::resume() {
    if (fd_ < 0 || raw_) return ok();
    termios raw = saved_;
    ::cfmakeraw(&raw);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    TRY(set_terminal_attributes(fd_, raw));
    raw_ = true;
    return ok();
}

Result<void> RawMode::restore() {
    if (fd_ < 0 || !raw_) return ok();
    raw_ = false;
    return set_terminal_attributes(fd_, saved_);
}

}  // namespace ssi
