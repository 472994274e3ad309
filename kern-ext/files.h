// Whole-file reads and writes, and the few file metadata calls the tools need.
#pragma once

#include "kern-ext/result.h"
#include "kern-ext/unique_fd.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <span>
#include <string>

namespace ssi {

Result<UniqueFd> open_file(const std::string& path, int flags, mode_t mode = 0);
Result<std::string> read_file(const std::string& path);
// Writes to a temporary file beside `path` and renames it over, so readers never see half.
Result<void> write_file_atomic(const std::string& path, std::string_view data, mode_t mode);
Result<struct stat> stat_path(const std::string& path);
// Whether fd is open on the null device (character device 1:3, whatever name it was opened by).
bool is_null_device(int fd);
Result<void> make_dirs(const std::string& path, mode_t mode);
Result<void> change_mode(const std::string& path, mode_t mode);
Result<void> change_owner(const std::string& path, uid_t uid, gid_t gid);
Result<void> change_fd_owner(int fd, uid_t uid, gid_t gid);
Result<void> remove_tree(const std::string& path);
// The kernel's readahead window for the filesystem on `device` (its
// /sys/class/bdi/MAJOR:MINOR/read_ahead_kb; root only). A FUSE mount starts at 128 KiB,
// whatever its init asked for, which cuts sequential reads into 128 KiB requests.
Result<void> set_readahead_kb(dev_t device, unsigned kb);

// Loops over short writes; retries EINTR.
Result<void> write_all(int fd, std::span<const char> data);
// One read(); 0 means end of file.
Result<size_t> read_some(int fd, std::span<char> buffer);
// Whether a read() of fd would not block now (poll with no wait): data, an end or an error.
bool readable_now(int fd);

// An eventfd (non-blocking, close-on-exec) that one thread pokes and another polls.
Result<UniqueFd> make_wakeup_fd();
void poke_wakeup_fd(int fd);
// Clears it: the next poll waits for the next poke.
void clear_wakeup_fd(int fd);

}  // namespace ssi

namespace ssi {

Result<void> set_nonblocking(int fd);
// fcntl(F_SETPIPE_SZ): room for `bytes` in the pipe (rounded up by the kernel; an
// unprivileged caller is capped at /proc/sys/fs/pipe-max-size).
Result<void> set_pipe_capacity(int fd, int bytes);
// fcntl(F_DUPFD_CLOEXEC): a second descriptor of the same open file.
Result<UniqueFd> duplicate_fd_cloexec(int fd);
// One write(); 0 when a non-blocking fd is full.
Result<size_t> write_some(int fd, std::span<const char> data);

}  // namespace ssi
