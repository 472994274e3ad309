#include "kern-ext/files.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/sysmacros.h>
#include <ftw.h>
#include <unistd.h>

namespace ssi {

Result<UniqueFd> open_file(const std::string& path, int flags, mode_t mode) {
    int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
    if (fd < 0) return sys_error("open", path);
    return UniqueFd(fd);
}

Result<std::string> read_file(const std::string& path) {
    UniqueFd fd = TRY(open_file(path, O_RDONLY));
    std::string out;
    char buf[65536];
    for (;;) {
        size_t n = TRY(read_some(fd.get(), buf));
        if (n == 0) break;
        out.append(buf, n);
    }
    return out;
}

Result<void> write_file_atomic(const std::string& path, std::string_view data, mode_t mode) {
    std::string tmp = path + ".tmp." + std::to_string(::getpid());
    {
        UniqueFd fd = TRY(open_file(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode));
        if (::fchmod(fd.get(), mode) < 0) {
            Error e = sys_error("fchmod", tmp);
            ::unlink(tmp.c_str());
            return e;
        }
        if (auto r = write_all(fd.get(), data); !r) {
            ::unlink(tmp.c_str());
            return r.error();
        }
    }
    if (::rename(tmp.c_str(), path.c_str()) < 0) {
        Error e = sys_error("rename", tmp + " -> " + path);
        ::unlink(tmp.c_str());
        return e;
    }
    return ok();
}

Result<struct stat> stat_path(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) < 0) return sys_error("stat", path);
    return st;
}

bool is_null_device(int fd) {
    struct stat st {};
    return ::fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3);
}

Result<void> set_readahead_kb(dev_t device, unsigned kb) {
    std::string knob = "/sys/class/bdi/" + std::to_string(major(device)) + ":" + std::to_string(minor(device)) +
                       "/read_ahead_kb";
    UniqueFd fd = TRY(open_file(knob, O_WRONLY | O_CLOEXEC));
    return write_all(fd.get(), std::to_string(kb));
}

Result<void> make_dirs(const std::string& path, mode_t mode) {
    if (path.empty()) return ok();
    for (size_t pos = 1;; ++pos) {
        pos = path.find('/', pos);
        std::string prefix = path.substr(0, pos);
        if (::mkdir(prefix.c_str(), mode) < 0 && errno != EEXIST) return sys_error("mkdir", prefix);
        if (pos == std::string::npos) break;
    }
    return ok();
}

Result<void> remove_tree(const std::string& path) {
    auto remove_one = [](const char* p, const struct stat*, int, struct FTW*) { return ::remove(p); };
    if (::nftw(path.c_str(), remove_one, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
        return sys_error("remove", path);
    return ok();
}

Result<void> write_all(int fd, std::span<const char> data) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return sys_error("write", "fd " + std::to_string(fd));
        }
        data = data.subspan(size_t(n));
    }
    return ok();
}

Result<size_t> read_some(int fd, std::span<char> buffer) {
    for (;;) {
        ssize_t n = ::read(fd, buffer.data(), buffer.size());
        if (n >= 0) return size_t(n);
        if (errno == EINTR) continue;
        return sys_error("read", "fd " + std::to_string(fd));
    }
}

bool readable_now(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 0) == 1 && p.revents != 0;
}

Result<UniqueFd> make_wakeup_fd() {
    int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0) return sys_error("eventfd");
    return UniqueFd(fd);
}

void poke_wakeup_fd(int fd) {
    uint64_t one = 1;
    (void)!::write(fd, &one, sizeof one);
}

void clear_wakeup_fd(int fd) {
    uint64_t count = 0;
    (void)!::read(fd, &count, sizeof count);
}

}  // namespace ssi

namespace ssi {

Result<void> set_nonblocking(int fd) {
    int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0) return sys_error("fcntl(F_GETFL)", "fd " + std::to_string(fd));
    if (::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return sys_error("fcntl(F_SETFL)", "fd " + std::to_string(fd));
    return ok();
}

Result<void> set_pipe_capacity(int fd, int bytes) {
    if (::fcntl(fd, F_SETPIPE_SZ, bytes) < 0) return sys_error("fcntl(F_SETPIPE_SZ)", "fd " + std::to_string(fd));
    return ok();
}

Result<void> change_mode(const std::string& path, mode_t mode) {
    if (::chmod(path.c_str(), mode) < 0) return sys_error("chmod", path);
    return ok();
}

Result<void> change_owner(const std::string& path, uid_t uid, gid_t gid) {
    if (::chown(path.c_str(), uid, gid) < 0) return sys_error("chown", path);
    return ok();
}

Result<void> change_fd_owner(int fd, uid_t uid, gid_t gid) {
    if (::fchown(fd, uid, gid) < 0) return sys_error("fchown", "fd " + std::to_string(fd));
    return ok();
}

Result<UniqueFd> duplicate_fd_cloexec(int fd) {
    UniqueFd copy(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
    if (!copy) return sys_error("fcntl(F_DUPFD_CLOEXEC)", "fd " + std::to_string(fd));
    return copy;
}

Result<size_t> write_some(int fd, std::span<const char> data) {
    for (;;) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n >= 0) return size_t(n);
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return size_t(0);
        return sys_error("write", "fd " + std::to_string(fd));
    }
}

}  // namespace ssi
