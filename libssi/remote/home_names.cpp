// The names the target's kernel caches. Its FUSE mount trusts a looked-up name for
// HomeFsOptions::entry_timeout instead of asking home at every path walk; what keeps that
// honest is here: every request that acts through such a name (open, a lookup under it,
// create, unlink, rename, stat or access that reaches home ...) first checks that each name
// the target knows the node by — and each of its ancestors' — still leads to the same inode
// at home. A stale name is forgotten and the request fails with ESTALE, on which the
// target's kernel walks the path again with fresh lookups (LOOKUP_REVAL, as it does for
// NFS). So an open never acts on a name that changed at home before it, and a fresh path
// walk costs no round trips for the names it already knows.
//
// The check itself is an fstatat per name, but only for names whose directory has had news
// since the name was last found to hold: the directories are watched (DirectoryWatch,
// inotify and the mount table), and the news is taken at the start of every check, so a
// change completed at home before the request was sent is always seen. A quiet path of any
// depth then costs one poll instead of one fstatat per component (9 µs for six here).
// Directories that cannot be watched — unreadable, on a network or FUSE filesystem, past
// the watch limit — have their names checked at every use, as all were before.
#include "libssi/remote/home_file_server.h"
#include "libssi/remote/home_node.h"

#include "kern-ext/file_ops.h"

#include <fcntl.h>

#include <algorithm>

namespace ssi::remote {
namespace {

// Deeper than any path the kernel walks (PATH_MAX / 2): a cycle guard, never reached.
constexpr int kMaxDepth = 2048;
// inotify watches are counted per user (fs.inotify.max_user_watches); past this many, a
// run's further directories have their names checked at every use.
constexpr size_t kMaxWatchedDirectories = 1024;

}  // namespace

void HomeFileServer::record_name(Node& n, uint64_t parent, std::string_view name) {
    std::lock_guard lock(mu_);
    auto known = std::find_if(n.names.begin(), n.names.end(),
                              [&](const auto& e) { return e.is(parent, name); });
    if (known == n.names.end()) n.names.push_back({parent, std::string(name)});
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
    std::erase_if(n->names, [&](const auto& e) { return e.is(parent, name); });
}

uint64_t HomeFileServer::name_checks() const {
    std::lock_guard lock(mu_);
    return name_checks_;
}

// News of the watched directories: each changed one's names will be checked again.
void HomeFileServer::take_name_news() {
    std::lock_guard lock(mu_);
    if (!watch_) return;
    auto news = watch_->take_news();
    if (!news || news->lost) {
        for (auto& [number, dir] : watched_) nodes_.at(dir)->changes++;
        if (!news) return;
    }
    for (int number : news->changed)
        if (auto it = watched_.find(number); it != watched_.end()) nodes_.at(it->second)->changes++;
    for (int number : news->ended) {
        auto it = watched_.find(number);
        if (it == watched_.end()) continue;
        Node& dir = *nodes_.at(it->second);
        dir.watch = -1;
        dir.unwatchable = true;
        watched_.erase(it);
    }
}

// Whether `dir` is watched, starting now if it can be (the caller holds mu_). Names found to
// hold before their directory was watched are not trusted: their checked_at is older.
bool HomeFileServer::watched(Node& dir) {
    if (dir.watch >= 0) return true;
    if (dir.unwatchable || !watch_ || watched_.size() >= kMaxWatchedDirectories) return false;
    dir.unwatchable = true;
    if (auto local = changes_seen_here(dir.fd.get()); !local || !*local) return false;
    auto number = watch_->watch(dir.fd.get());
    if (!number) return false;
    dir.unwatchable = false;
    dir.watch = *number;
    dir.changes++;
    watched_[*number] = node_by_inode_.at({dir.dev, dir.ino});
    return true;
}

Result<void> HomeFileServer::check_names(uint64_t id, int depth) {
    if (depth == 0) take_name_news();
    if (id == kRootNode) return ok();
    if (depth > kMaxDepth) return make_error("check names", "too deep", ELOOP);
    auto n = TRY(node(id));
    // Each name with its parent's news count as of now (before any fstatat below).
    struct Check {
        uint64_t parent;
        std::string name;
        std::shared_ptr<Node> dir;
        uint64_t changes;
        bool trusted;
    };
    std::vector<Check> checks;
    {
        std::lock_guard lock(mu_);
        for (const auto& known : n->names) {
            auto it = nodes_.find(known.parent);
            std::shared_ptr<Node> dir = it == nodes_.end() ? nullptr : it->second;
            bool trusted = dir && watched(*dir) && known.checked_at == dir->changes;
            checks.push_back({known.parent, known.name, dir, dir ? dir->changes : 0, trusted});
        }
    }
    bool stale = false;
    for (const auto& c : checks) {
        if (!c.trusted) {
            auto st = c.dir ? stat_at(c.dir->fd.get(), c.name, AT_SYMLINK_NOFOLLOW)
                            : Result<struct stat>(make_error("find node", {}, ESTALE));
            std::lock_guard lock(mu_);
            name_checks_++;
            if (!st || st->st_dev != n->dev || st->st_ino != n->ino) {
                std::erase_if(n->names, [&](const auto& e) { return e.is(c.parent, c.name); });
                stale = true;
                continue;
            }
            for (auto& known : n->names)
                if (known.is(c.parent, c.name)) known.checked_at = c.changes;
        }
        if (!check_names(c.parent, depth + 1)) stale = true;  // the name holds; its directory's did not
    }
    if (stale) return make_error("check names", "node " + std::to_string(id) + " was renamed or removed at home", ESTALE);
    return ok();
}

}  // namespace ssi::remote
