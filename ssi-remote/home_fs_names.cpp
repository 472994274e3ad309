// HomeFsOps: names (lookups, primed names, creating, removing, renaming, links) and
// attributes.
#include "ssi-remote/home_fs_ops.h"

#include "kern-ext/file_ops.h"
#include "kern-ext/run_holding_only.h"
#include "ssi-remote/start_names.h"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <unordered_map>

namespace ssi::remote {

void HomeFsOps::lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
    HomeFs& self = fs(req);
    std::optional<EntryReply> primed = take_primed(self, parent, name);
    auto r = primed ? Result<EntryReply>(*primed) : call<EntryReply>(self, LookupRequest{parent, name});
    if (r) {
        // A node new to this mount has no cached pages: what the lookup saw is the
        // baseline of its first open, whose attributes then need no invalidation.
        std::lock_guard lock(self.mu_);
        self.stamps_.try_emplace(r->node, stamp_of(r->attr));
    }
    if (r && self.options_.start_names) self.options_.start_names->looked_up(parent, name, r->node);
    reply_entry_result(req, std::move(r));
    if (!primed) forget_unused_primes(self);
}

// On a thread of its own, while the program is launched: its first LOOKUPs may come
// before the reply (they go home then, and the primes they missed are forgotten).
void HomeFsOps::prime(HomeFs& self) {
    auto r = call<PrimeReply>(self, PrimeRequest{self.options_.start_names->last()});
    std::vector<std::string> paths;  // of the names home primed, in the record's order
    if (r) {
        std::unordered_map<uint64_t, std::string> path_of{{kRootNode, ""}};
        for (const auto& n : r->names) {
            auto parent = path_of.find(n.parent);
            if (parent == path_of.end()) continue;
            std::string path = parent->second.empty() ? n.name : parent->second + "/" + n.name;
            path_of.try_emplace(n.entry.node, path);
            paths.push_back(std::move(path));
        }
    }
    {
        std::lock_guard lock(self.mu_);
        self.priming_ = false;
        for (auto& n : r ? r->names : std::vector<PrimedName>{}) {
            self.stamps_.try_emplace(n.entry.node, stamp_of(n.entry.attr));
            if (n.has_link) self.primed_links_.emplace(n.entry.node, std::move(n.link));
            if (n.searchable) self.primed_searchable_.insert(n.entry.node);
            self.primed_.emplace(std::make_pair(n.parent, std::move(n.name)), n.entry);
        }
        if (r && r->root_searchable) self.primed_searchable_.insert(kRootNode);
        self.primed_until_ = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    }
    self.primed_cv_.notify_all();
    walk_primed(self, paths);
}

// The kernel's lookups of the primed names, made now while the program is launched: each
// is answered here from its prime, and the kernel keeps the name (entry_timeout) for the
// program's own walks. Otherwise its exec and its loader walked them one request at a
// time, ~45 µs each across this machine's two CPUs, after the launch. The walk follows no
// link: each READLINK stays the program's, answered from its prime. Whatever the program
// has already reached, the kernel does not ask again. Made by a child holding no
// /dev/fuse (run_holding_only.h): a thread of ours whose lookup a worker had read would
// hold the mount forever were we killed before the reply.
void HomeFsOps::walk_primed(HomeFs& self, const std::vector<std::string>& paths) {
    auto root = open_at(AT_FDCWD, self.mountpoint_, O_PATH | O_DIRECTORY);
    if (!root || !look_up_apart(root->get(), paths, self.stopping_)) return;
    self.primes_walked_ = true;
}

void HomeFsOps::wait_for_prime(HomeFs& self, std::unique_lock<std::mutex>& lock) {
    // Bounded: a prime that never comes back must not hold a lookup longer than it would
    // have waited for home itself.
    self.primed_cv_.wait_for(lock, std::chrono::seconds(5), [&] { return !self.priming_; });
}

std::optional<EntryReply> HomeFsOps::take_primed(HomeFs& self, uint64_t parent, const char* name) {
    std::unique_lock lock(self.mu_);
    wait_for_prime(self, lock);
    auto it = self.primed_.find(std::make_pair(parent, std::string(name)));
    if (it == self.primed_.end()) return std::nullopt;
    EntryReply entry = it->second;
    self.primed_.erase(it);
    return entry;
}

std::optional<std::string> HomeFsOps::take_primed_link(HomeFs& self, uint64_t node) {
    std::unique_lock lock(self.mu_);
    wait_for_prime(self, lock);
    auto it = self.primed_links_.find(node);
    if (it == self.primed_links_.end()) return std::nullopt;
    std::string target = std::move(it->second);
    self.primed_links_.erase(it);
    return target;
}

bool HomeFsOps::take_primed_search(HomeFs& self, uint64_t node) {
    std::unique_lock lock(self.mu_);
    wait_for_prime(self, lock);
    return self.primed_searchable_.erase(node) > 0;
}

// Once the start is over, what it did not use holds nodes at home for nothing: each
// prime counted a lookup there that the kernel will never forget.
void HomeFsOps::forget_unused_primes(HomeFs& self) {
    std::map<uint64_t, uint64_t> counts;
    {
        std::lock_guard lock(self.mu_);
        if (self.primed_.empty() || std::chrono::steady_clock::now() < self.primed_until_) return;
        for (const auto& [name, entry] : self.primed_) counts[entry.node]++;
        self.primed_.clear();
        self.primed_links_.clear();
        self.primed_searchable_.clear();
    }
    (void)call<EmptyReply>(self, ForgetRequest{{counts.begin(), counts.end()}});
}

void HomeFsOps::drop(HomeFs& self, const std::vector<std::pair<uint64_t, uint64_t>>& nodes) {
    {
        std::lock_guard lock(self.mu_);
        for (const auto& n : nodes) {  // the kernel forgets an inode only when done with it
            forget_read_attrs_of(self, n.first);
            self.stamps_.erase(n.first);
            self.locked_nodes_.erase(n.first);
        }
    }
    {
        std::lock_guard content(self.content_mu_);
        for (const auto& n : nodes)
            if (auto c = self.contents_.find(n.first); c != self.contents_.end() && c->second.writers == 0)
                self.contents_.erase(c);
    }
    (void)call<EmptyReply>(self, ForgetRequest{nodes});  // nothing to tell the kernel if it fails
}

void HomeFsOps::forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
    drop(fs(req), {{ino, nlookup}});
    fuse_reply_none(req);
}

void HomeFsOps::forget_multi(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
    std::vector<std::pair<uint64_t, uint64_t>> nodes;
    nodes.reserve(count);
    for (size_t i = 0; i < count; ++i) nodes.emplace_back(forgets[i].ino, forgets[i].nlookup);
    drop(fs(req), nodes);
    fuse_reply_none(req);
}

void HomeFsOps::mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
    reply_entry_result(req, call<EntryReply>(fs(req), MknodRequest{parent, name, mode, rdev}));
}

void HomeFsOps::mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
    reply_entry_result(req, call<EntryReply>(fs(req), MkdirRequest{parent, name, mode}));
}

void HomeFsOps::symlink(fuse_req_t req, const char* target, fuse_ino_t parent, const char* name) {
    reply_entry_result(req, call<EntryReply>(fs(req), SymlinkRequest{target, parent, name}));
}

void HomeFsOps::link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t new_parent, const char* new_name) {
    reply_entry_result(req, call<EntryReply>(fs(req), LinkRequest{ino, new_parent, new_name}));
}

void HomeFsOps::unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
    reply_empty(req, call<EmptyReply>(fs(req), UnlinkRequest{parent, name}));
}

void HomeFsOps::rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
    reply_empty(req, call<EmptyReply>(fs(req), RmdirRequest{parent, name}));
}

void HomeFsOps::rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t new_parent,
                   const char* new_name, unsigned int flags) {
    reply_empty(req, call<EmptyReply>(fs(req), RenameRequest{parent, name, new_parent, new_name, flags}));
}

void HomeFsOps::readlink(fuse_req_t req, fuse_ino_t ino) {
    HomeFs& self = fs(req);
    std::optional<std::string> primed = take_primed_link(self, ino);
    auto r = primed ? Result<ReadlinkReply>(ReadlinkReply{*primed}) : call<ReadlinkReply>(self, ReadlinkRequest{ino});
    if (!r) return reply_error(req, r.error());
    if (self.options_.start_names) self.options_.start_names->read_link(ino);
    fuse_reply_readlink(req, r->target.c_str());
}

void HomeFsOps::reply_attr(fuse_req_t req, const Result<AttrReply>& r) {
    if (!r) return reply_error(req, r.error());
    struct stat st = to_stat(r->attr);
    fuse_reply_attr(req, &st, fs(req).options_.attr_timeout);
}

void HomeFsOps::getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    if (auto kept = kept_read_attrs(fs(req), ino)) {  // a read of its copy dropped only the atime
        struct stat st = to_stat(kept->first);
        fuse_reply_attr(req, &st, kept->second);
        return;
    }
    reply_attr(req, call<AttrReply>(fs(req), GetattrRequest{ino, fi ? fi->fh : 0}));
}

void HomeFsOps::setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi) {
    if (to_set & FUSE_SET_ATTR_SIZE) forget_locals_of(fs(req), ino);
    SetattrRequest r;
    r.node = ino;
    r.handle = fi ? fi->fh : 0;
    if (to_set & FUSE_SET_ATTR_MODE) r.fields |= kSetMode, r.mode = attr->st_mode;
    if (to_set & FUSE_SET_ATTR_UID) r.fields |= kSetUid, r.uid = attr->st_uid;
    if (to_set & FUSE_SET_ATTR_GID) r.fields |= kSetGid, r.gid = attr->st_gid;
    if (to_set & FUSE_SET_ATTR_SIZE) r.fields |= kSetSize, r.size = attr->st_size;
    if (to_set & FUSE_SET_ATTR_ATIME_NOW) r.fields |= kSetAtimeNow;
    else if (to_set & FUSE_SET_ATTR_ATIME)
        r.fields |= kSetAtime, r.atime_sec = attr->st_atim.tv_sec, r.atime_nsec = attr->st_atim.tv_nsec;
    if (to_set & FUSE_SET_ATTR_MTIME_NOW) r.fields |= kSetMtimeNow;
    else if (to_set & FUSE_SET_ATTR_MTIME)
        r.fields |= kSetMtime, r.mtime_sec = attr->st_mtim.tv_sec, r.mtime_nsec = attr->st_mtim.tv_nsec;
    auto done = call<AttrReply>(fs(req), r);
    if (done && (to_set & FUSE_SET_ATTR_SIZE)) count_change(fs(req), ino);
    reply_attr(req, done);
}

void HomeFsOps::access(fuse_req_t req, fuse_ino_t ino, int mask) {
    // The program's chdir into its cwd, a primed directory or the root: home said at the prime.
    if (mask == X_OK && take_primed_search(fs(req), ino)) return (void)fuse_reply_err(req, 0);
    reply_empty(req, call<EmptyReply>(fs(req), AccessRequest{ino, mask}));
}

void HomeFsOps::statfs(fuse_req_t req, fuse_ino_t ino) {
    if (fuse_req_ctx(req)->pid == fs(req).init_probe_tid_) {  // our own wait for the init
        struct statvfs s {};
        s.f_bsize = s.f_frsize = 4096;
        s.f_namemax = 255;
        fuse_reply_statfs(req, &s);
        return;
    }
    wait_served(fs(req));
    auto r = call<StatfsReply>(fs(req), StatfsRequest{ino});
    if (!r) return reply_error(req, r.error());
    struct statvfs s {};
    s.f_bsize = r->bsize;
    s.f_frsize = r->frsize;
    s.f_blocks = r->blocks;
    s.f_bfree = r->bfree;
    s.f_bavail = r->bavail;
    s.f_files = r->files;
    s.f_ffree = r->ffree;
    s.f_favail = r->favail;
    s.f_fsid = r->fsid;
    s.f_flag = r->flag;
    s.f_namemax = r->namemax;
    fuse_reply_statfs(req, &s);
}

}  // namespace ssi::remote
