// HomeFsOps: the names in the root that the program's root mounts over — this node's
// /dev and /sys, a fresh /proc (kern-ext/launch_root.h). The program never sees what is
// under them, so their LOOKUPs are answered here with a directory of our own, at once,
// even before the run is served: a spare's reaper binds them, mounts /proc and pivots
// into the root while it waits for its run. Asked at home, its first name waited for the
// run and then for the prime, and the whole root was built after it (~1 ms of a start).
//
// The node is ours and always the same: a dentry the kernel finds changed is invalidated,
// and a mount point invalidated loses its mounts (d_invalidate detaches them). So a
// LOOKUP always answers it, a listing of the root shows these names without a node (the
// kernel links nothing for them, and home's count is given back), and no request about
// the node reaches home: its FORGETs end here. Any other request on it can only come
// once the mount over it is gone (the program, as root, unmounted it); home knows no such
// node and refuses it.
#include "ssi-remote/home_fs_ops.h"

#include <algorithm>
#include <cerrno>
#include <ctime>

namespace ssi::remote {
namespace {

// Never changes, so the kernel need not ask again.
constexpr double kMountedOverTimeout = 24 * 3600;

struct stat mounted_over_attr(uint64_t node) {
    struct stat st {};
    st.st_ino = node;
    st.st_mode = S_IFDIR | 0555;
    st.st_nlink = 2;
    st.st_blksize = 4096;
    return st;
}

}  // namespace

std::optional<uint64_t> HomeFsOps::mounted_over_node(const HomeFs& self, uint64_t parent, const char* name) {
    if (parent != kRootNode) return std::nullopt;
    auto it = std::find(self.mounted_over_.begin(), self.mounted_over_.end(), name);
    if (it == self.mounted_over_.end()) return std::nullopt;
    return kFirstMountedOverNode + uint64_t(it - self.mounted_over_.begin());
}

void HomeFsOps::lookup_entry(fuse_req_t req, fuse_ino_t parent, const char* name) {
    HomeFs& self = fs(req);
    if (is_mounted_over_node(parent)) return (void)fuse_reply_err(req, ENOENT);  // nothing under it is home's
    if (auto node = mounted_over_node(self, parent, name)) {
        fuse_entry_param p {};
        p.ino = *node;
        p.attr = mounted_over_attr(*node);
        p.attr_timeout = kMountedOverTimeout;
        p.entry_timeout = kMountedOverTimeout;
        return (void)fuse_reply_entry(req, &p);
    }
    wait_served(self);
    lookup(req, parent, name);
}

void HomeFsOps::getattr_entry(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    if (is_mounted_over_node(ino)) {
        struct stat st = mounted_over_attr(ino);
        return (void)fuse_reply_attr(req, &st, kMountedOverTimeout);
    }
    wait_served(fs(req));
    getattr(req, ino, fi);
}

void HomeFsOps::forget_entry(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
    if (is_mounted_over_node(ino)) return fuse_reply_none(req);
    wait_served(fs(req));
    forget(req, ino, nlookup);
}

void HomeFsOps::forget_multi_entry(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
    auto home_end = std::remove_if(forgets, forgets + count, [](const fuse_forget_data& f) { return is_mounted_over_node(f.ino); });
    if (home_end == forgets) return fuse_reply_none(req);
    wait_served(fs(req));
    forget_multi(req, size_t(home_end - forgets), forgets);
}

}  // namespace ssi::remote
