#include "kern-ext/launch_root.h"

#include "kern-ext/file_ops.h"
#include "kern-ext/namespaces.h"
#include "kern-ext/process.h"
#include "kern-ext/unique_fd.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>

namespace ssi {
namespace {

std::string fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

Result<UniqueFd> open_directory(const std::string& path) {
    int fd = ::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return sys_error("open", path);
    return UniqueFd(fd);
}

// The mount wrappers name "/proc/self/fd/N"; say which path that was.
Error naming(Error e, const std::string& what) {
    e.context = what;
    return e;
}

// `path` as if `root` were "/", symlinks included.
Result<UniqueFd> open_in_root(const std::string& root, const std::string& path) {
    UniqueFd dir = TRY(open_directory(root.empty() ? "/" : root));
    auto fd = ssi::open_in_root(dir.get(), path.empty() ? "/" : path, O_PATH);
    if (!fd) return naming(fd.error(), root + path);
    return fd;
}

Result<void> pivot_root_onto(const std::string& root) {
    if (::syscall(SYS_pivot_root, root.c_str(), root.c_str()) < 0) return sys_error("pivot_root", root);
    return ok();
}

Result<void> change_root_here() {
    if (::chroot(".") < 0) return sys_error("chroot", ".");
    return ok();
}

// pivot_root(root, root) stacks the old root on the new one and moves a working directory
// that was the old root to the new one; detaching what is stacked there leaves only the new
// tree reachable. No chdir into the new root: on a FUSE root that asks its daemon (an
// ACCESS round trip home) and two of them were on every start. A caller whose own root is
// not a mount point (itself chroot'ed) cannot pivot: chroot is the fallback.
Result<void> switch_root(const std::string& root) {
    TRY(change_dir("/"));
    auto pivoted = pivot_root_onto(root);
    if (pivoted) return unmount(".", MNT_DETACH);
    if (pivoted.error().err != EINVAL) return pivoted.error();
    TRY(change_dir(root));
    TRY(change_root_here());
    return change_dir("/");
}

}  // namespace

Result<RootAhead> enter_root_ahead(const std::string& root, const RootBinds& binds, const RootBinds& optional) {
    TRY(make_mounts_private("/"));
    // pivot_root wants the new root to be a mount point.
    if (!root.empty()) TRY(bind_mount(root, root));

    std::vector<std::string> proc_targets{"/proc"};
    for (const auto& [host, target] : binds) {
        if (host == "/proc") {
            if (std::find(proc_targets.begin(), proc_targets.end(), target) == proc_targets.end())
                proc_targets.push_back(target);
            continue;
        }
        UniqueFd at = TRY(open_in_root(root, target));
        if (auto r = bind_mount(host, fd_path(at.get())); !r) return naming(r.error(), host + " -> " + root + target);
    }
    for (const auto& target : proc_targets) {
        UniqueFd at = TRY(open_in_root(root, target));
        if (auto r = mount_proc(fd_path(at.get())); !r) return naming(r.error(), root + target);
    }
    // The sources are this node's paths, out of reach once pivoted: their directories
    // are copied now.
    RootAhead later;
    later.root_ = root;
    for (const auto& [host, target] : optional) {
        auto slash = host.rfind('/');
        std::string directory = slash == std::string::npos ? "." : slash == 0 ? "/" : host.substr(0, slash);
        auto copy = clone_mount(directory);
        if (!copy && copy.error().err == ENOENT) continue;
        if (!copy) return copy.error();
        later.binds_.push_back({std::move(*copy), host.substr(slash == std::string::npos ? 0 : slash + 1), target});
    }
    return later;
}

Result<void> RootAhead::switch_into() {
    if (!root_.empty()) TRY(switch_root(root_));
    return ok();
}

std::vector<int> RootAhead::fds() const {
    std::vector<int> out;
    for (const auto& b : binds_) out.push_back(b.directory.get());
    return out;
}

Result<void> RootAhead::attach() {
    for (auto& [directory, name, target] : binds_) {
        auto source = clone_mount(name, directory.get());
        if (!source && source.error().err == ENOENT) continue;
        if (!source) return source.error();
        auto at = open_in_root("/", target);
        if (!at && at.error().err == ENOENT) continue;
        if (!at) return at.error();
        if (auto r = attach_mount(source->get(), at->get()); !r) return naming(r.error(), target);
    }
    return ok();
}

Result<void> enter_root(const std::string& root, const RootBinds& binds, const RootBinds& optional) {
    RootAhead ahead = TRY(enter_root_ahead(root, binds, optional));
    TRY(ahead.switch_into());
    TRY(ahead.attach());
    ahead.drop();
    return ok();
}

}  // namespace ssi
