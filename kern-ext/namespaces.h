// Namespaces and mounts: how one machine becomes several nodes. A node is a PID, mount
// and UTS namespace with private tmpfs mounts over the directories an agent owns; these
// are the calls that build one and that let a process step into it.
#pragma once

#include "kern-ext/pidfd.h"
#include "kern-ext/result.h"
#include "kern-ext/unique_fd.h"

#include <fcntl.h>
#include <sys/types.h>

#include <string>

namespace ssi {

// unshare(2). With CLONE_NEWPID only the caller's next child enters the new namespace.
Result<void> unshare_namespaces(int flags);

// setns(2) with a pidfd: joins every namespace of `target` named in `flags` at once
// (CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS ...). A new mount namespace resets the
// caller's root and working directory to the namespace's; CLONE_NEWPID applies to the
// caller's children. The caller must be single-threaded to join a mount namespace.
Result<void> enter_namespaces(const Pidfd& target, int flags);

// mount(NULL, path, NULL, MS_REC | MS_PRIVATE): mounts made below `path` from now on are
// not propagated to (and not received from) other mount namespaces.
Result<void> make_mounts_private(const std::string& path = "/");

// A fresh tmpfs over `target`; `options` as mount(8) takes them ("mode=1777,size=64m").
Result<void> mount_tmpfs(const std::string& target, const std::string& options);
// A procfs over `target` showing the caller's PID namespace.
Result<void> mount_proc(const std::string& target);
// A recursive bind mount (MS_BIND | MS_REC).
Result<void> bind_mount(const std::string& source, const std::string& target);
// umount2(2).
Result<void> unmount(const std::string& target, int flags = 0);
// A detached copy of what is mounted at `path` (open_tree OPEN_TREE_CLONE, recursive as
// bind_mount is: a file or a directory), kept by the descriptor until attached. `path` is
// relative to `dir`, which may itself be such a copy (one of a directory taken before a
// pivot_root, whose files are copied from it after: the mounts the caller left behind
// cannot be copied from any more).
Result<UniqueFd> clone_mount(const std::string& path, int dir = AT_FDCWD);
// Attaches a clone_mount() onto `target`, an O_PATH descriptor (move_mount).
Result<void> attach_mount(int tree, int target);

Result<void> set_hostname(const std::string& name);
Result<std::string> get_hostname();

// The identity of one of a process's namespaces ("pid", "mnt", "uts"): the inode number
// of /proc/PID/ns/KIND. Two processes share the namespace iff the numbers are equal.
Result<ino_t> namespace_id(pid_t pid, const std::string& kind);

}  // namespace ssi
