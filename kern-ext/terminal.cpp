#include "kern-ext/terminal.h"

#include <sys/ioctl.h>
#include <unistd.h>

namespace ssi {

bool is_terminal(int fd) { return ::isatty(fd) == 1; }

std::optional<size_t> terminal_columns(int fd) {
    winsize ws{};
    if (::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return size_t(ws.ws_col);
    return std::nullopt;
}

}  // namespace ssi
