// DirectoryWatch: the kernel's news of changed names. Directories are watched with inotify
// for entries created, removed or moved in them; the mount table (this process's mount
// namespace) by its poll event, since a mount over a name changes where it leads without
// touching any directory. Both are queued by the kernel before the changing call returns,
// so a caller that has taken the news knows of every change completed before it did.
#pragma once

#include "kern-ext/detached_close.h"
#include "kern-ext/result.h"
#include "kern-ext/unique_fd.h"

#include <vector>

namespace ssi {

struct DirectoryNews {
    std::vector<int> changed;  // watches whose directory had an entry created, removed or moved
    std::vector<int> ended;    // watches the kernel ended (directory removed, filesystem unmounted)
    bool lost = false;         // the queue overflowed or the mount table changed: trust nothing
};

class DirectoryWatch {
public:
    // inotify instances are few per user (128 by default) and shared by all their
    // programs: one is taken only if `headroom` more could still be made after it (tried
    // and given back at once), else this fails with EMFILE.
    static Result<DirectoryWatch> create(int headroom);

    // Watches the directory behind `dir_fd` (an O_PATH descriptor will do); the returned
    // watch number comes back in DirectoryNews. Fails with EACCES for a directory the
    // caller may not read, ENOSPC past the user's watch limit. Watching one directory
    // twice gives the same number.
    Result<int> watch(int dir_fd);
    void unwatch(int watch);
    // What happened since the last call; no wait (one poll when nothing did).
    Result<DirectoryNews> take_news();

private:
    DirectoryWatch(SlowCloseFd inotify, UniqueFd mounts) : inotify_(std::move(inotify)), mounts_(std::move(mounts)) {}
    // Its last close waits for a grace period (detached_close.h): never on our way out.
    SlowCloseFd inotify_;
    UniqueFd mounts_;
};

// Whether every change to the filesystem of `fd` passes through this kernel, so that a
// DirectoryWatch sees it: local disk and memory filesystems, not network or FUSE ones.
Result<bool> changes_seen_here(int fd);

}  // namespace ssi
