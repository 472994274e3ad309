#include "kern-ext/directory_watch.h"

#include "kern-ext/file_ops.h"

#include <linux/magic.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

namespace ssi {

Result<DirectoryWatch> DirectoryWatch::create(int headroom) {
    int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) return sys_error("inotify_init1");
    SlowCloseFd inotify{UniqueFd(fd)};
    // The spare instances' last closes would wait too, whenever another process's marks
    // are being reaped (the run before ours).
    std::vector<UniqueFd> spare;
    for (int i = 0; i < headroom; ++i) {
        int probe = ::inotify_init1(IN_CLOEXEC);
        if (probe < 0) {
            Error e = sys_error("inotify_init1", "spare instance " + std::to_string(i + 1) + " of " +
                                                     std::to_string(headroom));
            close_detached(std::move(spare));
            return e;
        }
        spare.emplace_back(probe);
    }
    close_detached(std::move(spare));
    // Its poll reports POLLPRI once per change of this mount namespace's table.
    int mounts = ::open("/proc/self/mounts", O_RDONLY | O_CLOEXEC);
    if (mounts < 0) return sys_error("open", "/proc/self/mounts");
    return DirectoryWatch(std::move(inotify), UniqueFd(mounts));
}

Result<int> DirectoryWatch::watch(int dir_fd) {
    // inotify takes a path; the descriptor's /proc link leads to the very directory.
    std::string path = proc_fd_path(dir_fd);
    int wd = ::inotify_add_watch(inotify_.get(), path.c_str(),
                                 IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ONLYDIR);
    if (wd < 0) return sys_error("inotify_add_watch", path);
    return wd;
}

void DirectoryWatch::unwatch(int watch) { (void)::inotify_rm_watch(inotify_.get(), watch); }

Result<DirectoryNews> DirectoryWatch::take_news() {
    DirectoryNews news;
    pollfd fds[2] = {{inotify_.get(), POLLIN, 0}, {mounts_.get(), POLLPRI, 0}};
    for (;;) {
        if (::poll(fds, 2, 0) >= 0) break;
        if (errno != EINTR) return sys_error("poll", "inotify and mount table");
    }
    if (fds[1].revents & (POLLPRI | POLLERR)) news.lost = true;
    if (!(fds[0].revents & POLLIN)) return news;
    alignas(inotify_event) char buffer[16384];
    for (;;) {
        ssize_t n = ::read(inotify_.get(), buffer, sizeof buffer);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return news;
            return sys_error("read", "inotify");
        }
        for (ssize_t at = 0; at < n;) {
            auto* e = reinterpret_cast<const inotify_event*>(buffer + at);
            if (e->mask & IN_Q_OVERFLOW) news.lost = true;
            else if (e->mask & IN_IGNORED) news.ended.push_back(e->wd);
            else news.changed.push_back(e->wd);
            at += ssize_t(sizeof(inotify_event) + e->len);
        }
    }
}

Result<bool> changes_seen_here(int fd) {
    struct statfs s {};
    if (::fstatfs(fd, &s) < 0) return sys_error("fstatfs", "fd " + std::to_string(fd));
    switch (static_cast<unsigned long>(s.f_type)) {
        case EXT4_SUPER_MAGIC:  // ext2, ext3 and ext4 alike
        case TMPFS_MAGIC:
        case RAMFS_MAGIC:
        case XFS_SUPER_MAGIC:
        case BTRFS_SUPER_MAGIC:
        case F2FS_SUPER_MAGIC:
        case OVERLAYFS_SUPER_MAGIC:
            return true;
        default:
            return false;
    }
}

}  // namespace ssi
