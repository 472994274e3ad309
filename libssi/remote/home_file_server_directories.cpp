// HomeFileServer: directory listings — opened, read a page at a time with their entries
// looked up (READDIRPLUS), their last page marked, released.
#include "libssi/remote/home_file_server.h"
#include "libssi/remote/home_node.h"

#include "kern-ext/file_ops.h"

#include <algorithm>

namespace ssi::remote {

namespace {

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

}  // namespace ssi::remote
