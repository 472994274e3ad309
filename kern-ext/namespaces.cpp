#include "kern-ext/namespaces.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>

namespace ssi {

Result<void> unshare_namespaces(int flags) {
    if (::unshare(flags) < 0) return sys_error("unshare", "flags " + std::to_string(flags));
    return ok();
}

Result<void> enter_namespaces(const Pidfd& target, int flags) {
    if (::setns(target.fd(), flags) < 0) return sys_error("setns", "pid " + std::to_string(target.pid()));
    return ok();
}

Result<void> make_mounts_private(const std::string& path) {
    if (::mount(nullptr, path.c_str(), nullptr, MS_REC | MS_PRIVATE, nullptr) < 0)
        return sys_error("mount(MS_REC|MS_PRIVATE)", path);
    return ok();
}

Result<void> mount_tmpfs(const std::string& target, const std::string& options) {
    if (::mount("tmpfs", target.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) < 0)
        return sys_error("mount(tmpfs)", target);
    return ok();
}

Result<void> bind_mount(const std::string& source, const std::string& target) {
    if (::mount(source.c_str(), target.c_str(), nullptr, MS_BIND | MS_REC, nullptr) < 0)
        return sys_error("mount(MS_BIND|MS_REC)", source + " -> " + target);
    return ok();
}

Result<void> mount_proc(const std::string& target) {
    if (::mount("proc", target.c_str(), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) < 0)
        return sys_error("mount(proc)", target);
    return ok();
}

Result<void> unmount(const std::string& target, int flags) {
    if (::umount2(target.c_str(), flags) < 0) return sys_error("umount2", target);
    return ok();
}

Result<UniqueFd> clone_mount(const std::string& path, int dir) {
    int fd = ::open_tree(dir, path.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    if (fd < 0) return sys_error("open_tree(OPEN_TREE_CLONE)", path);
    return UniqueFd(fd);
}

Result<void> attach_mount(int tree, int target) {
    if (::move_mount(tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        return sys_error("move_mount", "onto fd " + std::to_string(target));
    return ok();
}

Result<void> set_hostname(const std::string& name) {
    if (::sethostname(name.c_str(), name.size()) < 0) return sys_error("sethostname", name);
    return ok();
}

Result<std::string> get_hostname() {
    char buf[HOST_NAME_MAX + 1] = {};
    if (::gethostname(buf, sizeof(buf) - 1) < 0) return sys_error("gethostname");
    return std::string(buf);
}

Result<ino_t> namespace_id(pid_t pid, const std::string& kind) {
    std::string path = "/proc/" + std::to_string(pid) + "/ns/" + kind;
    struct stat st {};
    if (::stat(path.c_str(), &st) < 0) return sys_error("stat", path);
    return st.st_ino;
}

}  // namespace ssi
