#include "kern-ext/terminal.h"

#include "kern-ext/files.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>

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

Result<pid_t> terminal_foreground_group(int master) {
    pid_t group = ::tcgetpgrp(master);
    if (group < 0) return sys_error("tcgetpgrp", "pty master");
    return group;
}

Result<bool> foreground_reads_terminal(int master, const std::string& slave_path) {
    const pid_t group = TRY(terminal_foreground_group(master));
    UniqueFd proc(::open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!proc) return sys_error("open", "/proc");
    DIR* dir = ::fdopendir(proc.release());
    if (!dir) return sys_error("fdopendir", "/proc");
    bool reading = false;
    while (dirent* e = ::readdir(dir)) {
        if (!std::isdigit(static_cast<unsigned char>(e->d_name[0]))) continue;
        const std::string base = std::string("/proc/") + e->d_name;
        auto stat = read_file(base + "/stat");
        if (!stat) continue;  // gone meanwhile
        // "pid (comm) state ppid pgrp ...": comm may hold spaces, so count from its ')'.
        auto close = stat->rfind(')');
        char state = 0;
        int ppid = 0, pgrp = 0;
        if (close == std::string::npos || std::sscanf(stat->c_str() + close + 1, " %c %d %d", &state, &ppid, &pgrp) != 3 ||
            pgrp != group)
            continue;
        auto syscall = read_file(base + "/syscall");
        long nr = -1;
        unsigned long fd = 0;
        if (!syscall || std::sscanf(syscall->c_str(), "%ld 0x%lx", &nr, &fd) != 2) continue;
        if (nr != SYS_read && nr != SYS_readv && nr != SYS_pread64) continue;
        char target[256];
        ssize_t n = ::readlink((base + "/fd/" + std::to_string(fd)).c_str(), target, sizeof target - 1);
        if (n > 0 && slave_path == std::string(target, size_t(n))) {
            reading = true;
            break;
        }
    }
    ::closedir(dir);
    return reading;
}

}  // namespace ssi
