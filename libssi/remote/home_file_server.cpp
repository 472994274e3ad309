#include "libssi/remote/home_file_server.h"
#include "libssi/remote/home_node.h"

#include "kern-ext/file_ops.h"
#include "kern-ext/files.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstdlib>

namespace ssi::remote {

namespace {

constexpr int kPathFlags = O_PATH | O_NOFOLLOW;
constexpr int kSelf = AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW;

Result<void> check_name(const std::string& name) {
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos)
        return make_error("check name", name, EINVAL);
    return ok();
}

int errno_of(const Error& e) { return e.err != 0 ? e.err : EIO; }

uint64_t mix_dev(dev_t dev) {
    uint64_t x = static_cast<uint64_t>(dev) * 0x9E3779B97F4A7C15ull;
    return x ^ (x >> 29);
}

// How much of a listing one reply carries: what the kernel's buffer takes, within bounds.
size_t listing_room(uint32_t max_bytes) { return std::min<uint32_t>(std::max<uint32_t>(max_bytes, 4096), 1 << 16); }

// A listing's entries from `offset` on, about `room` bytes of them; it seeks only when the
// kernel asks for another place than where the last reply stopped (`next`). The caller
// holds the handle's dir_mu.
Result<std::vector<DirEntry>> read_dir_from(int fd, int64_t& next, int64_t offset, size_t room) {
    if (offset != next) {
        TRY(seek_dir(fd, offset));
        next = offset;
    }
    return read_dir_entries(fd, room);
}

// Whether nothing follows `next` in the listing. A read past the end costs a getdents64
// here; entries found instead are put back (the kernel reads them next).
bool listing_ends_at(int fd, int64_t next) {
    auto more = read_dir_entries(fd, 4096);
    if (more && more->empty()) return true;
    (void)seek_dir(fd, next);
    return false;
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
    // Without one every name is checked at every use. A quarter of the user's inotify
    // instances is left to their other programs (and other runs).
    int instances = 128;
    if (auto limit = read_file("/proc/sys/fs/inotify/max_user_instances")) instances = std::atoi(limit->c_str());
    if (auto watch = DirectoryWatch::create(std::max(instances / 4, 1))) s->watch_.emplace(std::move(watch).value());
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
// LOOKUP will find what is there now.
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
        PrimedName primed{parent->second, std::move(name), *entry, false, {}};
        if (want_link && S_ISLNK(entry->attr.mode))
            if (auto link = op(ReadlinkRequest{entry->node})) primed.has_link = true, primed.link = std::move(link->target);
        resolved[path] = entry->node;
        out.names.push_back(std::move(primed));
    }
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

// ---- open files ------------------------------------------------------------------------

Result<OpenReply> HomeFileServer::op(const OpenRequest& r) {
    TRY(check_names(r.node));
    auto n = TRY(node(r.node));
    auto h = std::make_shared<Handle>();
    h->fd = TRY(reopen_fd(n->fd.get(), r.flags & ~O_NOCTTY));
    h->node = n;
    struct stat st = TRY(stat_at(h->fd.get(), "", kSelf));
    OpenReply reply{0, attr_of(st)};
    reply.dev = st.st_dev;
    reply.opened_at_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::system_clock::now().time_since_epoch()).count();
    // A small file read whole now saves the target its first READ round trip.
    if ((r.flags & O_ACCMODE) == O_RDONLY && S_ISREG(st.st_mode) && st.st_size <= kOpenHeadBytes) {
        const size_t size = static_cast<size_t>(st.st_size);
        reply.whole.resize(size + 1);  // one more: a file that grew meanwhile is not whole
        size_t done = 0;
        bool failed = false;
        while (done < reply.whole.size()) {
            auto n = pread_some(h->fd.get(), std::span(reply.whole).subspan(done), off_t(done));
            if (!n) failed = true;
            if (!n || *n == 0) break;
            done += *n;
        }
        reply.has_whole = !failed && done <= size;  // else its READs ask as usual
        reply.whole.resize(reply.has_whole ? done : 0);
    }
    reply.handle = add_handle(std::move(h));
    return reply;
}

Result<CreateReply> HomeFileServer::op(const CreateRequest& r) {
    TRY(check_name(r.name));
    TRY(check_names(r.parent));
    auto parent = TRY(node(r.parent));
    auto h = std::make_shared<Handle>();
    h->fd = TRY(open_at(parent->fd.get(), r.name, (r.flags | O_CREAT) & ~O_NOCTTY, r.mode));
    EntryReply entry = TRY(enter(TRY(reopen_fd(h->fd.get(), O_PATH)), r.parent, r.name));
    h->node = TRY(node(entry.node));
    return CreateReply{entry, add_handle(std::move(h))};
}

Result<DataReply> HomeFileServer::op(const ReadRequest& r) {
    DataReply reply;
    reply.data.resize(std::min(r.size, kMaxIo));
    reply.data.resize(TRY(read_into(r, reply.data)));
    return reply;
}

Result<size_t> HomeFileServer::read_into(const ReadRequest& r, std::span<char> buffer) {
    auto h = TRY(open_handle(r.handle));
    size_t done = 0;
    while (done < buffer.size()) {  // a short read means end of file to the target
        size_t n = TRY(pread_some(h->fd.get(), buffer.subspan(done), r.offset + done));
        if (n == 0) break;
        done += n;
    }
    return done;
}

Result<WriteReply> HomeFileServer::op(const WriteRequest& r) {
    auto h = TRY(open_handle(r.handle));
    size_t done = 0;
    while (done < r.data.size()) {
        auto n = pwrite_some(h->fd.get(), std::span(r.data).subspan(done), r.offset + done);
        if (!n) {
            if (done > 0) break;  // report what was written; the next write gets the error
            return n.error();
        }
        done += *n;
    }
    return WriteReply{static_cast<uint32_t>(done)};
}

Result<EmptyReply> HomeFileServer::op(const FlushRequest& r) {
    auto n = TRY(node(r.node));
    std::lock_guard lock(n->lock_mu);
    n->owners.erase(r.owner);  // closing the owner's description drops its locks
    return EmptyReply{};
}

Result<EmptyReply> HomeFileServer::op(const ReleaseRequest& r) {
    std::string unknown;
    for (uint64_t handle : r.handles)
        if (!remove_handle(handle)) unknown += (unknown.empty() ? "" : ",") + std::to_string(handle);
    if (!unknown.empty()) return make_error("release", unknown, EBADF);  // the others are closed
    return EmptyReply{};
}

Result<EmptyReply> HomeFileServer::op(const FsyncRequest& r) {
    auto h = TRY(open_handle(r.handle));
    TRY(sync_fd(h->fd.get(), r.datasync));
    return EmptyReply{};
}

Result<EmptyReply> HomeFileServer::op(const FallocateRequest& r) {
    auto h = TRY(open_handle(r.handle));
    TRY(allocate(h->fd.get(), r.mode, r.offset, r.length));
    return EmptyReply{};
}

// ---- directories -----------------------------------------------------------------------

Result<OpenReply> HomeFileServer::op(const OpendirRequest& r) {
    TRY(check_names(r.node));
    auto n = TRY(node(r.node));
    auto h = std::make_shared<Handle>();
    h->fd = TRY(open_at(n->fd.get(), ".", O_RDONLY | O_DIRECTORY));
    h->node = n;
    h->dir_node = r.node;
    Attr attr = attr_of(TRY(stat_at(h->fd.get(), "", kSelf)));
    return OpenReply{add_handle(std::move(h)), attr};
}

Result<DirReply> HomeFileServer::op(const ReaddirRequest& r) {
    auto h = TRY(open_handle(r.handle));
    std::lock_guard lock(h->dir_mu);
    auto entries = TRY(read_dir_from(h->fd.get(), h->dir_next, r.offset, listing_room(r.max_bytes)));
    DirReply reply;
    reply.entries.reserve(entries.size());
    for (auto& e : entries) {
        h->dir_next = e.next;
        reply.entries.push_back(DirEntryWire{e.ino, e.type, e.next, std::move(e.name)});
    }
    reply.end = entries.empty() || listing_ends_at(h->fd.get(), h->dir_next);
    return reply;
}

Result<DirplusReply> HomeFileServer::op(const ReaddirplusRequest& r) {
    auto h = TRY(open_handle(r.handle));
    std::lock_guard lock(h->dir_mu);
    // The kernel's buffer holds what fits of it: no lookup is made for an entry it would
    // not take (a plain entry is smaller, so reading `room` bytes of them is enough).
    const size_t room = listing_room(r.max_bytes);
    auto entries = TRY(read_dir_from(h->fd.get(), h->dir_next, r.offset, room));
    DirplusReply reply;
    size_t used = 0;
    for (auto& e : entries) {
        used += direntplus_size(e.name.size());
        if (used > room) break;
        DirplusEntryWire w{DirEntryWire{e.ino, e.type, e.next, e.name}, 0, {}};
        // "." and ".." never: the kernel does not count lookups of them.
        if (e.name != "." && e.name != ".." && h->plus_nodes < kMaxPlusNodes)
            if (auto path = open_at(h->fd.get(), e.name, kPathFlags))
                if (auto entry = enter(std::move(*path), h->dir_node, e.name)) {
                    w.node = entry->node;
                    w.attr = entry->attr;
                    ++h->plus_nodes;
                }
        h->dir_next = e.next;
        reply.entries.push_back(std::move(w));
    }
    if (reply.entries.size() < entries.size()) TRY(seek_dir(h->fd.get(), h->dir_next));  // the rest next time
    else reply.end = entries.empty() || listing_ends_at(h->fd.get(), h->dir_next);
    return reply;
}

Result<EmptyReply> HomeFileServer::op(const ReleasedirRequest& r) {
    if (!remove_handle(r.handle)) return make_error("releasedir", std::to_string(r.handle), EBADF);
    return EmptyReply{};
}

// ---- locks -----------------------------------------------------------------------------

namespace {
struct flock to_flock(const Lock& l) {
    struct flock f {};
    f.l_type = static_cast<short>(l.type);
    f.l_whence = SEEK_SET;
    f.l_start = l.start;
    f.l_len = l.len;
    return f;
}
}  // namespace

Result<LockReply> HomeFileServer::op(const GetlkRequest& r) {
    auto n = TRY(node(r.node));
    std::shared_ptr<Handle> h;
    if (r.handle != 0) h = TRY(open_handle(r.handle));
    std::lock_guard lock(n->lock_mu);
    int fd = TRY(owner_fd(*n, h.get(), r.owner));
    struct flock f = TRY(ofd_getlk(fd, to_flock(r.lock)));
    // An OFD lock has no pid (-1); a lock of a process at home has its pid, meaningless here.
    return LockReply{Lock{f.l_type, f.l_start, f.l_len, 0}};
}

Result<EmptyReply> HomeFileServer::op(const SetlkRequest& r) {
    auto n = TRY(node(r.node));
    std::shared_ptr<Handle> h;
    if (r.handle != 0) h = TRY(open_handle(r.handle));
    std::lock_guard lock(n->lock_mu);
    if (r.lock.type == F_UNLCK && !n->owners.contains(r.owner)) return EmptyReply{};
    int fd = TRY(owner_fd(*n, h.get(), r.owner));
    TRY(ofd_setlk(fd, to_flock(r.lock)));
    return EmptyReply{};
}

Result<EmptyReply> HomeFileServer::op(const FlockRequest& r) {
    auto h = TRY(open_handle(r.handle));
    TRY(flock_fd(h->fd.get(), (r.op & (LOCK_SH | LOCK_EX | LOCK_UN)) | LOCK_NB));
    return EmptyReply{};
}

}  // namespace ssi::remote
