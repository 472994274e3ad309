#include "kern-ext/file_ops.h"

#include <dirent.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>

namespace ssi {

Result<UniqueFd> open_at(int dirfd, const std::string& name, int flags, mode_t mode) {
    for (;;) {
        int fd = ::openat(dirfd, name.c_str(), flags | O_CLOEXEC, mode);
        if (fd >= 0) return UniqueFd(fd);
        if (errno == EINTR) continue;
        return sys_error("openat", name);
    }
}

std::string proc_fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

Result<UniqueFd> open_in_root(int root, const std::string& path, int flags) {
    struct open_how how {};
    how.flags = uint64_t(flags | O_CLOEXEC);
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    for (;;) {
        int fd = int(::syscall(SYS_openat2, root, path.c_str(), &how, sizeof how));
        if (fd >= 0) return UniqueFd(fd);
        if (errno == EINTR || errno == EAGAIN) continue;  // EAGAIN: a rename raced the walk
        return sys_error("openat2(RESOLVE_IN_ROOT)", path);
    }
}

Result<UniqueFd> reopen_fd(int fd, int flags) {
    // O_NOFOLLOW would refuse the /proc magic link itself; O_CREAT/O_EXCL make no sense here.
    return open_at(AT_FDCWD, proc_fd_path(fd), flags & ~(O_NOFOLLOW | O_CREAT | O_EXCL));
}

Result<size_t> pread_some(int fd, std::span<char> buffer, off_t offset) {
    for (;;) {
        ssize_t n = ::pread(fd, buffer.data(), buffer.size(), offset);
        if (n >= 0) return static_cast<size_t>(n);
        if (errno == EINTR) continue;
        return sys_error("pread", "fd " + std::to_string(fd));
    }
}

Result<size_t> pwrite_some(int fd, std::span<const char> data, off_t offset) {
    for (;;) {
        ssize_t n = ::pwrite(fd, data.data(), data.size(), offset);
        if (n >= 0) return static_cast<size_t>(n);
        if (errno == EINTR) continue;
        return sys_error("pwrite", "fd " + std::to_string(fd));
    }
}

Result<struct stat> stat_at(int dirfd, const std::string& name, int flags) {
    struct stat st {};
    if (::fstatat(dirfd, name.c_str(), &st, flags) < 0) return sys_error("fstatat", name);
    return st;
}

Result<struct statvfs> stat_fs(int fd) {
    struct statvfs st {};
    if (::fstatvfs(fd, &st) < 0) return sys_error("fstatvfs", "fd " + std::to_string(fd));
    return st;
}

Result<dev_t> cached_device_of(int fd) {
    struct statx st {};
    if (::statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, 0, &st) < 0) return sys_error("statx", "fd " + std::to_string(fd));
    return makedev(st.stx_dev_major, st.stx_dev_minor);
}

Result<void> mkdir_at(int dirfd, const std::string& name, mode_t mode) {
    if (::mkdirat(dirfd, name.c_str(), mode) < 0) return sys_error("mkdirat", name);
    return ok();
}

Result<void> mknod_at(int dirfd, const std::string& name, mode_t mode, dev_t dev) {
    if (::mknodat(dirfd, name.c_str(), mode, dev) < 0) return sys_error("mknodat", name);
    return ok();
}

Result<void> unlink_at(int dirfd, const std::string& name, int flags) {
    if (::unlinkat(dirfd, name.c_str(), flags) < 0) return sys_error("unlinkat", name);
    return ok();
}

Result<void> rename_at(int olddirfd, const std::string& oldname, int newdirfd,
                       const std::string& newname, unsigned flags) {
    if (::renameat2(olddirfd, oldname.c_str(), newdirfd, newname.c_str(), flags) < 0)
        return sys_error("renameat2", oldname + " -> " + newname);
    return ok();
}

Result<void> symlink_at(const std::string& target, int dirfd, const std::string& name) {
    if (::symlinkat(target.c_str(), dirfd, name.c_str()) < 0) return sys_error("symlinkat", name);
    return ok();
}

Result<std::string> readlink_at(int dirfd, const std::string& name) {
    std::string buf(256, '\0');
    for (;;) {
        ssize_t n = ::readlinkat(dirfd, name.c_str(), buf.data(), buf.size());
        if (n < 0) return sys_error("readlinkat", name);
        if (static_cast<size_t>(n) < buf.size()) {
            buf.resize(static_cast<size_t>(n));
            return buf;
        }
        buf.resize(buf.size() * 2);  // possibly truncated: try again bigger
    }
}

Result<void> link_at(int olddirfd, const std::string& oldname, int newdirfd,
                     const std::string& newname, int flags) {
    if (::linkat(olddirfd, oldname.c_str(), newdirfd, newname.c_str(), flags) < 0)
        return sys_error("linkat", oldname + " -> " + newname);
    return ok();
}

Result<void> chmod_fd_path(int fd, mode_t mode) {
    std::string path = proc_fd_path(fd);
    if (::chmod(path.c_str(), mode) < 0) return sys_error("chmod", path);
    return ok();
}

Result<void> truncate_fd_path(int fd, off_t size) {
    std::string path = proc_fd_path(fd);
    for (;;) {
        if (::truncate(path.c_str(), size) == 0) return ok();
        if (errno == EINTR) continue;
        return sys_error("truncate", path);
    }
}

Result<void> truncate_fd(int fd, off_t size) {
    for (;;) {
        if (::ftruncate(fd, size) == 0) return ok();
        if (errno == EINTR) continue;
        return sys_error("ftruncate", "fd " + std::to_string(fd));
    }
}

Result<void> chown_at(int dirfd, const std::string& name, uid_t uid, gid_t gid, int flags) {
    if (::fchownat(dirfd, name.c_str(), uid, gid, flags) < 0) return sys_error("fchownat", name);
    return ok();
}

Result<void> utimens_at(int dirfd, const std::string& name, const struct timespec times[2], int flags) {
    if (::utimensat(dirfd, name.c_str(), times, flags) < 0) return sys_error("utimensat", name);
    return ok();
}

Result<void> access_fd(int fd, int mode) {
    // faccessat2 takes the descriptor itself: no walk through /proc/self/fd (2 µs here).
    if (::faccessat(fd, "", mode, AT_EMPTY_PATH) < 0) return sys_error("faccessat2", "fd " + std::to_string(fd));
    return ok();
}

Result<void> sync_fd(int fd, bool datasync) {
    int r = datasync ? ::fdatasync(fd) : ::fsync(fd);
    if (r < 0) return sys_error(datasync ? "fdatasync" : "fsync", "fd " + std::to_string(fd));
    return ok();
}

Result<void> allocate(int fd, int mode, off_t offset, off_t length) {
    if (::fallocate(fd, mode, offset, length) < 0) return sys_error("fallocate", "fd " + std::to_string(fd));
    return ok();
}

Result<void> ofd_setlk(int fd, const struct flock& lock) {
    struct flock l = lock;
    l.l_pid = 0;  // required for OFD locks
    if (::fcntl(fd, F_OFD_SETLK, &l) < 0) return sys_error("fcntl(F_OFD_SETLK)", "fd " + std::to_string(fd));
    return ok();
}

Result<struct flock> ofd_getlk(int fd, struct flock lock) {
    lock.l_pid = 0;
    if (::fcntl(fd, F_OFD_GETLK, &lock) < 0) return sys_error("fcntl(F_OFD_GETLK)", "fd " + std::to_string(fd));
    return lock;
}

Result<void> flock_fd(int fd, int operation) {
    for (;;) {
        if (::flock(fd, operation) == 0) return ok();
        if (errno == EINTR) continue;
        return sys_error("flock", "fd " + std::to_string(fd));
    }
}

Result<void> seek_dir(int fd, int64_t offset) {
    if (::lseek(fd, static_cast<off_t>(offset), SEEK_SET) < 0) return sys_error("lseek", "directory fd " + std::to_string(fd));
    return ok();
}

Result<std::vector<DirEntry>> read_dir_entries(int fd, size_t buffer_bytes) {
    // struct linux_dirent64 as getdents64(2) lays it out.
    struct Dirent64 {
        uint64_t d_ino;
        int64_t d_off;
        unsigned short d_reclen;
        unsigned char d_type;
        char d_name[];
    };
    std::vector<char> buf(buffer_bytes < 4096 ? 4096 : buffer_bytes);
    long n = ::syscall(SYS_getdents64, fd, buf.data(), buf.size());
    if (n < 0) return sys_error("getdents64", "fd " + std::to_string(fd));
    std::vector<DirEntry> out;
    for (long pos = 0; pos < n;) {
        auto* d = reinterpret_cast<const Dirent64*>(buf.data() + pos);
        out.push_back(DirEntry{d->d_ino, d->d_type, d->d_off, std::string(d->d_name)});
        pos += d->d_reclen;
    }
    return out;
}

}  // namespace ssi
