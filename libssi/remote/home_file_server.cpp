#include "libssi/remote/home_file_server.h"
#include "libssi/remote/home_node.h"

#include "kern-ext/file_ops.h"
#include "kern-ext/files.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

namespace ssi::remote {

namespace {

int errno_of(const Error& e) { return e.err != 0 ? e.err : EIO; }

uint64_t mix_dev(dev_t dev) {
    uint64_t x = static_cast<uint64_t>(dev) * 0x9E3779B97F4A7C15ull;
    return x ^ (x >> 29);
}

}  // namespace

Result<std::unique_ptr<HomeFileServer>> HomeFileServer::create(const std::string& root) {
    UniqueFd fd = TRY(open_at(AT_FDCWD, root, O_PATH | O_DIRECTORY));
    struct stat st = TRY(stat_at(fd.get(), "", kSelf));
    std::unique_ptr<HomeFileServer> s(new HomeFileServer());
    s->root_dev_ = st.st_dev;
    auto node = std::make_shared<Node>();
    node->fd = std::move(fd);
    node->dev = st.st_dev;
    node->ino = st.st_ino;
    node->lookups = 1;
    s->node_by_inode_[{st.st_dev, st.st_ino}] = kRootNode;
    s->nodes_[kRootNode] = std::move(node);
    // Without one every name is checked at every use. Some of the user's inotify instances
    // are left to their other programs: a sixteenth, up to 8. Not more: each run's probes
    // and instance are counted until their last close, a grace period after the run
    // (detached_close.h), and a loop of runs has two or three runs' worth of them pending.
    int instances = 128;
    if (auto limit = read_file("/proc/sys/fs/inotify/max_user_instances")) instances = std::atoi(limit->c_str());
    if (auto watch = DirectoryWatch::create(std::clamp(instances / 16, 1, 8))) s->watch_.emplace(std::move(watch).value());
    return s;
}

size_t HomeFileServer::node_count() const {
    std::lock_guard lock(mu_);
    return nodes_.size();
}

size_t HomeFileServer::handle_count() const {
    std::lock_guard lock(mu_);
    return handles_.size();
}

void HomeFileServer::handle(std::string_view request_bytes, std::string& reply) {
    try {
        auto request = decode_request(std::span<const char>(request_bytes.data(), request_bytes.size()));
        if (!request) {
            reply = encode_error_reply(errno_of(request.error()));
        } else if (auto* read = std::get_if<ReadRequest>(&*request)) {
            encode_data_reply(reply, std::min(read->size, kMaxIo),
                              [&](std::span<char> buffer) { return read_into(*read, buffer); });
        } else {
            reply = encode_reply(execute(*request));
        }
    } catch (...) {  // bad_alloc while building a reply: the peer gets an error, we go on
        reply = encode_error_reply(ENOMEM);
    }
}

std::string HomeFileServer::handle(std::string_view request_bytes) {
    std::string reply;
    handle(request_bytes, reply);
    return reply;
}

FsReply HomeFileServer::execute(const FsRequest& request) {
    return std::visit(
        [this](const auto& r) -> FsReply {
            auto result = op(r);
            if (!result) return FsReply{errno_of(result.error()), EmptyReply{}};
            return FsReply{0, std::move(result).value()};
        },
        request);
}

// ---- tables ----------------------------------------------------------------------------

Result<std::shared_ptr<HomeFileServer::Node>> HomeFileServer::node(uint64_t id) const {
    std::lock_guard lock(mu_);
    auto it = nodes_.find(id);
    if (it == nodes_.end()) return make_error("find node", std::to_string(id), ESTALE);
    return it->second;
}

Result<std::shared_ptr<HomeFileServer::Handle>> HomeFileServer::open_handle(uint64_t id) const {
    std::lock_guard lock(mu_);
    auto it = handles_.find(id);
    if (it == handles_.end()) return make_error("find handle", std::to_string(id), EBADF);
    return it->second;
}

Attr HomeFileServer::attr_of(const struct stat& st) const {
    Attr a;
    // The target sees one device; inode numbers from other home filesystems are mixed with
    // their device so that (st_dev, st_ino) stays unique for tar, find and du.
    a.ino = st.st_dev == root_dev_ ? st.st_ino : (st.st_ino ^ (mix_dev(st.st_dev) << 40));
    a.mode = st.st_mode;
    a.nlink = st.st_nlink;
    a.uid = st.st_uid;
    a.gid = st.st_gid;
    a.rdev = st.st_rdev;
    a.size = st.st_size;
    a.blksize = st.st_blksize;
    a.blocks = st.st_blocks;
    a.atime_sec = st.st_atim.tv_sec;
    a.atime_nsec = st.st_atim.tv_nsec;
    a.mtime_sec = st.st_mtim.tv_sec;
    a.mtime_nsec = st.st_mtim.tv_nsec;
    a.ctime_sec = st.st_ctim.tv_sec;
    a.ctime_nsec = st.st_ctim.tv_nsec;
    a.dev = st.st_dev;
    return a;
}

Result<EntryReply> HomeFileServer::enter(UniqueFd path_fd, uint64_t parent, std::string_view name) {
    struct stat st = TRY(stat_at(path_fd.get(), "", kSelf));
    std::shared_ptr<Node> n;
    uint64_t id = 0;
    {
        std::lock_guard lock(mu_);
        auto key = std::make_pair(st.st_dev, st.st_ino);
        if (auto it = node_by_inode_.find(key); it != node_by_inode_.end()) {
            id = it->second;
            n = nodes_.at(id);
            n->lookups++;
        } else {
            n = std::make_shared<Node>();
            n->fd = std::move(path_fd);
            n->dev = st.st_dev;
            n->ino = st.st_ino;
            n->lookups = 1;
            id = next_node_++;
            nodes_[id] = n;
            node_by_inode_[key] = id;
        }
    }
    record_name(*n, parent, name);
    return EntryReply{id, attr_of(st)};
}

uint64_t HomeFileServer::add_handle(std::shared_ptr<Handle> h) {
    std::lock_guard lock(mu_);
    uint64_t id = next_handle_++;
    handles_[id] = std::move(h);
    return id;
}

std::shared_ptr<HomeFileServer::Handle> HomeFileServer::remove_handle(uint64_t id) {
    std::lock_guard lock(mu_);
    auto it = handles_.find(id);
    if (it == handles_.end()) return nullptr;
    auto h = std::move(it->second);
    handles_.erase(it);
    return h;
}

// The lock owner's own open file description of n (the caller holds n.lock_mu). Opened
// read-write when the user may, so one description serves read and write locks alike.
Result<int> HomeFileServer::owner_fd(Node& n, const Handle* via, uint64_t owner) {
    if (auto it = n.owners.find(owner); it != n.owners.end()) return it->second.get();
    int source = via ? via->fd.get() : n.fd.get();
    auto fd = reopen_fd(source, O_RDWR);
    if (!fd) fd = reopen_fd(source, O_RDONLY);
    if (!fd) fd = reopen_fd(source, O_WRONLY);
    if (!fd) return fd.error();
    int raw = fd->get();
    n.owners[owner] = std::move(fd).value();
    return raw;
}

// ---- names -----------------------------------------------------------------------------

Result<EntryReply> HomeFileServer::op(const LookupRequest& r) {
    TRY(check_name(r.name));
    TRY(check_names(r.parent));
    auto parent = TRY(node(r.parent));
    return enter(TRY(open_at(parent->fd.get(), r.name, kPathFlags)), r.parent, r.name);
}

// A start's names in one round trip: each looked up as its LOOKUP would be (its name
// recorded and checked, one lookup counted, which the target forgets as usual), from the
// node its parent path resolved to. A name gone since is left out: the program's own
// LOOKUP will find what is there now. A directory says whether we may search it, as its
// ACCESS would.
Result<PrimeReply> HomeFileServer::op(const PrimeRequest& r) {
    PrimeReply out;
    std::map<std::string, uint64_t, std::less<>> resolved{{"", kRootNode}};
    for (const auto& [path, want_link] : std::span(r.names).first(std::min(r.names.size(), kMaxPrimedNames))) {
        size_t slash = path.rfind('/');
        std::string_view parent_path = slash == std::string::npos ? std::string_view() : std::string_view(path).substr(0, slash);
        std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
        auto parent = resolved.find(parent_path);
        if (parent == resolved.end()) continue;
        auto entry = op(LookupRequest{parent->second, name});
        if (!entry) continue;
        PrimedName primed{parent->second, std::move(name), *entry, false, {}, false};
        if (want_link && S_ISLNK(entry->attr.mode))
            if (auto link = op(ReadlinkRequest{entry->node})) primed.has_link = true, primed.link = std::move(link->target);
        if (S_ISDIR(entry->attr.mode))
            if (auto n = node(entry->node)) primed.searchable = access_fd((*n)->fd.get(), X_OK).ok();
        resolved[path] = entry->node;
        out.names.push_back(std::move(primed));
    }
    if (auto root = node(kRootNode)) out.root_searchable = access_fd((*root)->fd.get(), X_OK).ok();
    return out;
}

Result<EmptyReply> HomeFileServer::op(const ForgetRequest& r) {
    std::lock_guard lock(mu_);
    for (const auto& [id, count] : r.nodes) {
        if (id == kRootNode) continue;
        auto it = nodes_.find(id);
        if (it == nodes_.end()) continue;
        Node& n = *it->second;
        n.lookups -= std::min(n.lookups, count);
        if (n.lookups == 0) {
            if (n.watch >= 0) watch_->unwatch(n.watch), watched_.erase(n.watch);
            node_by_inode_.erase({n.dev, n.ino});
            nodes_.erase(it);
        }
    }
    return EmptyReply{};
}

Result<EntryReply> HomeFileServer::op(const MknodRequest& r) {
    TRY(check_name(r.name));
    TRY(check_names(r.parent));
    auto parent = TRY(node(r.parent));
    TRY(mknod_at(parent->fd.get(), r.name, r.mode, r.rdev));
    return enter(TRY(open_at(parent->fd.get(), r.name, kPathFlags)), r.parent, r.name);
}

Result<EntryReply> HomeFileServer::op(const MkdirRequest& r) {
    TRY(check_name(r.name));
    TRY(check_names(r.parent));
    auto parent = TRY(node(r.parent));
    TRY(mkdir_at(parent->fd.get(), r.name, r.mode));
    return enter(TRY(open_at(parent->fd.get(), r.name, kPathFlags)), r.parent, r.name);
}

Result<EmptyReply> HomeFileServer::op(const UnlinkRequest& r) {
    TRY(check_name(r.name));
    TRY(check_names(r.parent));
    auto parent = TRY(node(r.parent));
    auto victim = node_named(r.parent, r.name);
    TRY(unlink_at(parent->fd.get(), r.name, 0));
    forget_name(victim, r.parent, r.name);
    return EmptyReply{};
}

Result<EmptyReply> HomeFileServer::op(const RmdirRequest& r) {
    TRY(check_name(r.name));
    TRY(check_names(r.parent));
    auto parent = TRY(node(r.parent));
    auto victim = node_named(r.parent, r.name);
    TRY(unlink_at(parent->fd.get(), r.name, AT_REMOVEDIR));
    forget_name(victim, r.parent, r.name);
    return EmptyReply{};
}

Result<EntryReply> HomeFileServer::op(const SymlinkRequest& r) {
    TRY(check_name(r.name));
    TRY(check_names(r.parent));
    auto parent = TRY(node(r.parent));
    TRY(symlink_at(r.target, parent->fd.get(), r.name));
    return enter(TRY(open_at(parent->fd.get(), r.name, kPathFlags)), r.parent, r.name);
}

Result<EmptyReply> HomeFileServer::op(const RenameRequest& r) {
    TRY(check_name(r.name));
    TRY(check_name(r.new_name));
    TRY(check_names(r.parent));
    TRY(check_names(r.new_parent));
    auto parent = TRY(node(r.parent));
    auto new_parent = TRY(node(r.new_parent));
    auto moved = node_named(r.parent, r.name), replaced = node_named(r.new_parent, r.new_name);
    TRY(rename_at(parent->fd.get(), r.name, new_parent->fd.get(), r.new_name, r.flags));
    if (replaced && replaced != moved) {
        forget_name(replaced, r.new_parent, r.new_name);
        if (r.flags & RENAME_EXCHANGE) record_name(*replaced, r.parent, r.name);
    }
    if (moved) {
        forget_name(moved, r.parent, r.name);
        record_name(*moved, r.new_parent, r.new_name);
    }
    return EmptyReply{};
}

Result<EntryReply> HomeFileServer::op(const LinkRequest& r) {
    TRY(check_name(r.new_name));
    TRY(check_names(r.node));
    TRY(check_names(r.new_parent));
    auto n = TRY(node(r.node));
    auto new_parent = TRY(node(r.new_parent));
    // linkat(AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH; the /proc link does not.
    TRY(link_at(AT_FDCWD, proc_fd_path(n->fd.get()), new_parent->fd.get(), r.new_name, AT_SYMLINK_FOLLOW));
    return enter(TRY(open_at(new_parent->fd.get(), r.new_name, kPathFlags)), r.new_parent, r.new_name);
}

// ---- attributes ------------------------------------------------------------------------

Result<AttrReply> HomeFileServer::op(const GetattrRequest& r) {
    if (r.handle != 0) {
        if (auto h = open_handle(r.handle)) return AttrReply{attr_of(TRY(stat_at((*h)->fd.get(), "", kSelf)))};
    }
    TRY(check_names(r.node));
    auto n = TRY(node(r.node));
    return AttrReply{attr_of(TRY(stat_at(n->fd.get(), "", kSelf)))};
}

Result<AttrReply> HomeFileServer::op(const SetattrRequest& r) {
    if (r.handle == 0) TRY(check_names(r.node));
    auto n = TRY(node(r.node));
    std::shared_ptr<Handle> h;
    if (r.handle != 0) h = TRY(open_handle(r.handle));
    int fd = n->fd.get();
    if (r.fields & kSetMode) TRY(chmod_fd_path(fd, r.mode & 07777));
    if (r.fields & (kSetUid | kSetGid)) {
        uid_t uid = (r.fields & kSetUid) ? r.uid : static_cast<uid_t>(-1);
        gid_t gid = (r.fields & kSetGid) ? r.gid : static_cast<gid_t>(-1);
        TRY(chown_at(fd, "", uid, gid, kSelf));
    }
    if (r.fields & kSetSize) {
        if (h) TRY(truncate_fd(h->fd.get(), r.size));
        else TRY(truncate_fd_path(fd, r.size));
    }
    if (r.fields & (kSetAtime | kSetMtime | kSetAtimeNow | kSetMtimeNow)) {
        struct timespec ts[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
        if (r.fields & kSetAtimeNow) ts[0].tv_nsec = UTIME_NOW;
        else if (r.fields & kSetAtime) ts[0] = {r.atime_sec, r.atime_nsec};
        if (r.fields & kSetMtimeNow) ts[1].tv_nsec = UTIME_NOW;
        else if (r.fields & kSetMtime) ts[1] = {r.mtime_sec, r.mtime_nsec};
        TRY(utimens_at(fd, "", ts, kSelf));
    }
    return AttrReply{attr_of(TRY(stat_at(h ? h->fd.get() : fd, "", kSelf)))};
}

Result<ReadlinkReply> HomeFileServer::op(const ReadlinkRequest& r) {
    TRY(check_names(r.node));
    auto n = TRY(node(r.node));
    return ReadlinkReply{TRY(readlink_at(n->fd.get(), ""))};
}

Result<StatfsReply> HomeFileServer::op(const StatfsRequest& r) {
    auto n = TRY(node(r.node));
    struct statvfs s = TRY(stat_fs(n->fd.get()));
    return StatfsReply{s.f_bsize, s.f_frsize, s.f_blocks, s.f_bfree, s.f_bavail, s.f_files,
                       s.f_ffree, s.f_favail, s.f_fsid, s.f_flag, s.f_namemax};
}

Result<EmptyReply> HomeFileServer::op(const AccessRequest& r) {
    TRY(check_names(r.node));
    auto n = TRY(node(r.node));
    TRY(access_fd(n->fd.get(), r.mask));
    return EmptyReply{};
}

}  // namespace ssi::remote
