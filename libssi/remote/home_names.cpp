// The names the target's kernel caches. Its FUSE mount trusts a looked-up name for
// HomeFsOptions::entry_timeout instead of asking home at every path walk; what keeps that
// honest is here: every request that acts through such a name (open, a lookup under it,
// create, unlink, rename, stat or access that reaches home ...) first checks, with local
// fstatat calls, that each name the target knows the node by — and each of its ancestors'
// — still leads to the same inode at home. A stale name is forgotten and the request fails
// with ESTALE, on which the target's kernel walks the path again with fresh lookups
// (LOOKUP_REVAL, as it does for NFS). So an open never acts on a name that changed at home
// before it, and a fresh path walk costs no round trips for the names it already knows.
#include "libssi/remote/home_file_server.h"
#include "libssi/remote/home_node.h"

#include "kern-ext/file_ops.h"

#include <fcntl.h>

#include <algorithm>

namespace ssi::remote {
namespace {

// Deeper than any path the kernel walks (PATH_MAX / 2): a cycle guard, never reached.
constexpr int kMaxDepth = 2048;

}  // namespace

void HomeFileServer::record_name(Node& n, uint64_t parent, std::string_view name) {
    std::lock_guard lock(mu_);
    auto known = std::find_if(n.names.begin(), n.names.end(),
                              [&](const auto& e) { return e.first == parent && e.second == name; });
    if (known == n.names.end()) n.names.emplace_back(parent, std::string(name));
}

std::shared_ptr<HomeFileServer::Node> HomeFileServer::node_named(uint64_t parent, const std::string& name) const {
    auto p = node(parent);
    if (!p) return nullptr;
    auto st = stat_at((*p)->fd.get(), name, AT_SYMLINK_NOFOLLOW);
    if (!st) return nullptr;
    std::lock_guard lock(mu_);
    auto it = node_by_inode_.find({st->st_dev, st->st_ino});
    return it == node_by_inode_.end() ? nullptr : nodes_.at(it->second);
}

void HomeFileServer::forget_name(const std::shared_ptr<Node>& n, uint64_t parent, const std::string& name) {
    if (!n) return;
    std::lock_guard lock(mu_);
    std::erase_if(n->names, [&](const auto& e) { return e.first == parent && e.second == name; });
}

Result<void> HomeFileServer::check_names(uint64_t id, int depth) {
    if (id == kRootNode) return ok();
    if (depth > kMaxDepth) return make_error("check names", "too deep", ELOOP);
    auto n = TRY(node(id));
    std::vector<std::pair<uint64_t, std::string>> names;
    {
        std::lock_guard lock(mu_);
        names = n->names;
    }
    bool stale = false;
    for (const auto& [parent, name] : names) {
        auto p = node(parent);
        auto st = p ? stat_at((*p)->fd.get(), name, AT_SYMLINK_NOFOLLOW) : Result<struct stat>(p.error());
        if (!st || st->st_dev != n->dev || st->st_ino != n->ino) {
            forget_name(n, parent, name);
            stale = true;
        } else if (!check_names(parent, depth + 1)) {
            stale = true;  // the name in its directory holds; the directory's own did not
        }
    }
    if (stale) return make_error("check names", "node " + std::to_string(id) + " was renamed or removed at home", ESTALE);
    return ok();
}

}  // namespace ssi::remote
