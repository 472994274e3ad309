#include "kern-ext/input_pushback.h"

#include "kern-ext/process.h"
#include "kern-ext/unique_fd.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace ssi {
namespace {

// In the feeder (a forked child): system calls only, no allocation.
bool write_whole(int fd, const char* p, size_t n) {
    while (n > 0) {
        ssize_t w = ::write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w, n -= size_t(w);
    }
    return true;
}

[[noreturn]] void feed(int in, int out, std::string_view first) {
    // The original may be non-blocking (it is shared with whoever else holds it).
    if (!write_whole(out, first.data(), first.size())) ::_exit(0);
    static char buf[64 * 1024];
    for (;;) {
        ssize_t n = ::read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) {
            pollfd p{in, POLLIN, 0};
            (void)::poll(&p, 1, -1);
            continue;
        }
        if (n <= 0 || !write_whole(out, buf, size_t(n))) ::_exit(0);
    }
}

Result<PushedBack> start_feeder(int fd, std::string_view bytes) {
    auto [read_end, write_end] = TRY(make_pipe());
    const pid_t child = TRY(fork_process());
    if (child == 0) {
        // Detached (a grandchild): the reader's wait() never sees it.
        if (::fork() != 0) ::_exit(0);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::signal(SIGPIPE, SIG_DFL);
        ::prctl(PR_SET_NAME, "ssi-stdin-feed");
        // Only the two ends it works with: holding the reader's other files would keep
        // their other ends from seeing an end.
        if (::dup2(fd, 0) < 0 || ::dup2(write_end.get(), 1) < 0) ::_exit(1);
        ::syscall(SYS_close_range, 2u, ~0u, 0u);
        feed(0, 1, bytes);
    }
    const ExitStatus status = TRY(wait_process(child));
    if (status.signaled || status.code != 0) return make_error("fork", "the input feeder did not start", ECHILD);
    write_end.reset();
    TRY(duplicate_fd(read_end.get(), fd));
    return PushedBack::feeder;
}

}  // namespace

Result<PushedBack> push_back_input(int fd, std::string_view bytes, PushBack how) {
    struct stat st {};
    if (::fstat(fd, &st) < 0) return sys_error("fstat", "fd " + std::to_string(fd));
    if (bytes.empty()) return PushedBack::seek;
    if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) {
        if (::lseek(fd, -off_t(bytes.size()), SEEK_CUR) < 0)
            return sys_error("lseek", "back " + std::to_string(bytes.size()) + " bytes on fd " + std::to_string(fd));
        return PushedBack::seek;
    }
    if (::isatty(fd) == 1) {
        for (char c : bytes)
            if (::ioctl(fd, TIOCSTI, &c) < 0) return sys_error("ioctl(TIOCSTI)", "fd " + std::to_string(fd));
        return PushedBack::terminal;
    }
    if (how == PushBack::in_place)
        return make_error("push back input", "fd " + std::to_string(fd) + " is neither a file nor a terminal", ESPIPE);
    return start_feeder(fd, bytes);
}

}  // namespace ssi
