// File operations on descriptors, one thin wrapper per system call, for code that works
// relative to directory fds (the home file server). Each failure names the call, errno and
// the object; errno is read on the line after the call. EINTR is retried where harmless.
#pragma once

#include "kern-ext/result.h"
#include "kern-ext/unique_fd.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include <span>
#include <string>
#include <vector>

namespace ssi {

// openat(2); O_CLOEXEC is always added.
Result<UniqueFd> open_at(int dirfd, const std::string& name, int flags, mode_t mode = 0);
// openat2(2) with RESOLVE_IN_ROOT: `path` as if `root` (a directory fd) were "/", ".."
// and symlinks included, magic links refused. O_CLOEXEC is always added.
Result<UniqueFd> open_in_root(int root, const std::string& path, int flags);
// Opens the object an O_PATH (or any) fd refers to anew, through /proc/self/fd, with the
// kernel's normal permission checks: how an O_PATH handle becomes a readable file.
Result<UniqueFd> reopen_fd(int fd, int flags);
// The path that names fd's object through /proc ("/proc/self/fd/7").
std::string proc_fd_path(int fd);

Result<size_t> pread_some(int fd, std::span<char> buffer, off_t offset);
Result<size_t> pwrite_some(int fd, std::span<const char> data, off_t offset);

// fstatat(2). With name "" and AT_EMPTY_PATH it stats fd itself (works for O_PATH fds).
Result<struct stat> stat_at(int dirfd, const std::string& name, int flags);
Result<struct statvfs> stat_fs(int fd);
// The device of the filesystem fd is on, from what the kernel has cached (statx with
// AT_STATX_DONT_SYNC): on a FUSE mount, no request to its daemon.
Result<dev_t> cached_device_of(int fd);

Result<void> mkdir_at(int dirfd, const std::string& name, mode_t mode);
Result<void> mknod_at(int dirfd, const std::string& name, mode_t mode, dev_t dev);
Result<void> unlink_at(int dirfd, const std::string& name, int flags);
Result<void> rename_at(int olddirfd, const std::string& oldname, int newdirfd,
                       const std::string& newname, unsigned flags);
Result<void> symlink_at(const std::string& target, int dirfd, const std::string& name);
// readlinkat(2) of fd itself when name is "" (fd from O_PATH|O_NOFOLLOW on a symlink).
Result<std::string> readlink_at(int dirfd, const std::string& name);
Result<void> link_at(int olddirfd, const std::string& oldname, int newdirfd,
                     const std::string& newname, int flags);

// chmod/truncate of what fd refers to (through /proc/self/fd, so O_PATH fds work).
Result<void> chmod_fd_path(int fd, mode_t mode);
Result<void> truncate_fd_path(int fd, off_t size);
Result<void> truncate_fd(int fd, off_t size);
Result<void> chown_at(int dirfd, const std::string& name, uid_t uid, gid_t gid, int flags);
Result<void> utimens_at(int dirfd, const std::string& name, const struct timespec times[2], int flags);
// access(2) check of what fd refers to, with the caller's real ids.
Result<void> access_fd(int fd, int mode);

Result<void> sync_fd(int fd, bool datasync);
Result<void> allocate(int fd, int mode, off_t offset, off_t length);

// Open-file-description locks (F_OFD_SETLK never waits; F_OFD_GETLK fills in the conflict).
Result<void> ofd_setlk(int fd, const struct flock& lock);
Result<struct flock> ofd_getlk(int fd, struct flock lock);
// flock(2); `operation` may include LOCK_NB.
Result<void> flock_fd(int fd, int operation);

struct DirEntry {
    uint64_t ino = 0;
    uint8_t type = 0;   // DT_*
    int64_t next = 0;   // offset to seek to for the entry after this one
    std::string name;
};
// Repositions a directory fd (a getdents64 cookie from DirEntry::next, or 0).
Result<void> seek_dir(int fd, int64_t offset);
// One getdents64(2) call into a buffer of `buffer_bytes`; empty means end of directory.
Result<std::vector<DirEntry>> read_dir_entries(int fd, size_t buffer_bytes);

}  // namespace ssi
