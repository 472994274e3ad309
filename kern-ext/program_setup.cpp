#include "kern-ext/program_setup.h"

#include "kern-ext/process.h"
#include "kern-ext/unique_fd.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>

namespace ssi {
namespace {

Result<int> duplicate_above(int fd, int lowest) {
    int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, lowest);
    if (copy < 0) return sys_error("fcntl(F_DUPFD_CLOEXEC)", "fd " + std::to_string(fd));
    return copy;
}

// As a shell's `< /dev/null` and `> /dev/null` open it.
Result<int> open_null_as(int stdio_fd) {
    int fd = ::open("/dev/null", (stdio_fd == 0 ? O_RDONLY : O_WRONLY) | O_CLOEXEC);
    if (fd < 0) return sys_error("open", "/dev/null");
    return fd;
}

Result<void> close_range_flags(unsigned first, unsigned last, unsigned flags) {
    if (::close_range(first, last, flags) < 0)
        return sys_error("close_range", std::to_string(first) + ".." + std::to_string(last));
    return ok();
}

std::string env_value(const std::vector<std::string>& env, const std::string& name) {
    for (const auto& e : env)
        if (e.size() > name.size() && e.compare(0, name.size(), name) == 0 && e[name.size()] == '=')
            return e.substr(name.size() + 1);
    return {};
}

bool has_name(const std::vector<std::string>& env, const std::string& name) {
    for (const auto& e : env)
        if (e.compare(0, name.size() + 1, name + "=") == 0) return true;
    return false;
}

// One execve; ENOEXEC retried through /bin/sh. Returns errno.
int try_exec(const std::string& path, const std::vector<std::string>& argv, char* const* envp) {
    auto args = c_string_array(argv);
    ::execve(path.c_str(), args.data(), envp);
    int err = errno;
    if (err != ENOEXEC) return err;
    std::vector<std::string> sh{"/bin/sh", path};
    sh.insert(sh.end(), argv.begin() + (argv.empty() ? 0 : 1), argv.end());
    auto sh_args = c_string_array(sh);
    ::execve("/bin/sh", sh_args.data(), envp);
    return ENOEXEC;
}

}  // namespace

Result<void> fill_closed_stdio() {
    for (int fd = 0; fd <= 2; ++fd) {
        if (::fcntl(fd, F_GETFD) >= 0) continue;
        if (errno != EBADF) return sys_error("fcntl", "F_GETFD of " + std::to_string(fd));
        int got = ::open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);  // the lowest free number: fd
        if (got < 0) return sys_error("open", "/dev/null");
        if (got != fd) {
            ::close(got);
            return make_error("fill_closed_stdio", "/dev/null opened as " + std::to_string(got), EBADF);
        }
    }
    return ok();
}

Result<int> move_above_stdio(int fd) {
    if (fd < 0 || fd > 2) return fd;
    return duplicate_above(fd, 3);
}

Result<void> install_stdio(int in, int out, int err) {
    int sources[3] = {in, out, err};
    // Copies above 2 first: installing 0 must not close the descriptor that becomes 1.
    int copies[3];
    for (int i = 0; i < 3; ++i) {
        if (sources[i] >= 0) {
            copies[i] = TRY(duplicate_above(sources[i], 3));
        } else {
            UniqueFd null(TRY(open_null_as(i)));
            copies[i] = TRY(duplicate_above(null.get(), 3));
        }
    }
    for (int i = 0; i < 3; ++i) {
        TRY(duplicate_fd(copies[i], i));
        ::close(copies[i]);
    }
    return ok();
}

Result<void> close_fds_except(std::vector<int> keep) {
    std::sort(keep.begin(), keep.end());
    unsigned next = 0;
    for (int fd : keep) {
        if (fd < 0 || unsigned(fd) < next) continue;
        if (unsigned(fd) > next) TRY(close_range_flags(next, unsigned(fd) - 1, 0));
        next = unsigned(fd) + 1;
    }
    return close_range_flags(next, ~0U, 0);
}

Result<void> close_on_exec_from(int first) { return close_range_flags(unsigned(first), ~0U, CLOSE_RANGE_CLOEXEC); }

Result<void> reset_signal_handlers() {
    for (int s = 1; s < NSIG; ++s) {
        if (s == SIGKILL || s == SIGSTOP) continue;
        // glibc reserves two real-time signals for itself and refuses them (EINVAL).
        if (auto r = reset_signal_handler(s); !r && r.error().err != EINVAL) return r.error();
    }
    return ok();
}

Result<void> reset_signals() {
    sigset_t all;
    sigfillset(&all);
    TRY(set_signal_mask(SIG_UNBLOCK, all));
    return reset_signal_handlers();
}

Result<void> set_resource_limit(int resource, const rlimit& limit) {
    if (::setrlimit(__rlimit_resource(resource), &limit) < 0)
        return sys_error("setrlimit", "resource " + std::to_string(resource));
    return ok();
}

mode_t set_umask(mode_t mask) { return ::umask(mask); }

Error exec_program(const std::string& program, const std::vector<std::string>& argv,
                   const std::vector<std::string>& env) {
    if (program.empty()) return make_error("execve", "empty program name", ENOENT);
    auto envp = c_string_array(env);
    if (program.find('/') != std::string::npos) return make_error("execve", program, try_exec(program, argv, envp.data()));

    std::string path = has_name(env, "PATH") ? env_value(env, "PATH") : "/bin:/usr/bin";
    bool denied = false;
    std::string denied_path;
    size_t start = 0;
    for (;;) {
        size_t colon = path.find(':', start);
        std::string dir = path.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
        std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + program;
        int err = try_exec(candidate, argv, envp.data());
        switch (err) {
        case EACCES:
            if (!denied) denied_path = candidate;
            denied = true;
            break;
        case ENOENT: case ENOTDIR: case ESTALE: case ENODEV: case ETIMEDOUT:
            break;
        default:  // found but unusable (ELOOP, E2BIG, ENOMEM ...): stop, as execvp does
            return make_error("execve", candidate, err);
        }
        if (colon == std::string::npos) break;
        start = colon + 1;
    }
    if (denied) return make_error("execve", denied_path, EACCES);
    return make_error("execve", program, ENOENT);
}

}  // namespace ssi
