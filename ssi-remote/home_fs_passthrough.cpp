// HomeFsOps: FUSE passthrough — opens of this node's whole copy of a home file are read
// by the kernel from the copy itself (home_fs.h says when).
//
// Each run mounts home afresh, so its page cache starts cold: without passthrough a start
// read libc and the loader from the copies again, READ by READ through this daemon (a
// megabyte's splice each, 3-4 ms of a start). With it the program's reads and mappings are
// the copy's, whose pages stay cached across runs. Every open still goes home first: the
// OPEN's reply names the version, and only an open of the copy's exact version passes
// through (file_cache.h).
//
// libfuse 3.14 predates passthrough: the INIT reply is amended on its way to the kernel
// (our writev), and such opens are answered with a reply built here.
#include "ssi-remote/home_fs_ops.h"

#include "kern-ext/fuse_passthrough.h"

#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

namespace ssi::remote {

namespace {

ssize_t read_request(int fd, void* buf, size_t len, void*) { return ::read(fd, buf, len); }

}  // namespace

// The session's first message is the INIT reply (the kernel sends nothing else before
// it is answered, and this daemon nothing of its own): it asks for passthrough.
ssize_t HomeFsOps::write_reply(int fd, iovec* iov, int count, void* userdata) {
    auto* self = static_cast<HomeFs*>(userdata);
    if (count == 2 && !self->init_replied_.exchange(true)) {
        std::vector<char> init_out(static_cast<char*>(iov[1].iov_base),
                                   static_cast<char*>(iov[1].iov_base) + iov[1].iov_len);
        if (ask_passthrough_in_init_reply(init_out)) {
            iovec amended[2] = {iov[0], {init_out.data(), init_out.size()}};
            return ::writev(fd, amended, 2);
        }
    }
    return ::writev(fd, iov, count);
}

void HomeFsOps::use_passthrough_io(HomeFs& self) {
    static const fuse_custom_io io = {write_reply, read_request, nullptr, nullptr};
    if (fuse_session_custom_io(self.session_, &io, fuse_session_fd(self.session_)) != 0) self.passthrough_ = false;
}

// Only for files the run's user cannot change: an inode open through a backing file cannot
// be opened another way until it is closed (the kernel fails that open with EIO), and a
// write through the mount would not reach the copy. Root can write anything; for root's
// runs that is the price of a program writing in place a library it has mapped.
// And only versions unchanged for a minute at their open (home's clock): a file changed in
// place while open through its copy could not be opened again until that open closes
// (the kernel would refuse the new version's backing file), and files being written now
// are the ones likely to be written again; libraries and modules are months old.
bool HomeFsOps::may_pass_through(const HomeFs& self, const OpenReply& r) {
    const int64_t settled_ns = int64_t(self.options_.passthrough_settled_s * 1e9);
    if (r.opened_at_ns - (r.attr.ctime_sec * 1'000'000'000 + r.attr.ctime_nsec) < settled_ns) return false;
    const uint32_t uid = self.options_.uid;
    if (uid == 0) return true;
    if (r.attr.uid == uid) return (r.attr.mode & 0222) == 0;
    return (r.attr.mode & 0022) == 0;
}

// How this open of `node` is served, recorded until its release: the backing id it reads
// through, or 0 for the page cache. `copy` is this node's copy of the version it opened
// (whole, or being filled), none if it may not pass through. An open of a version
// another open already passes through shares its backing (the kernel would refuse a
// second one, or a page-cache open, while the first is open); a new backing is taken
// only for a whole copy of a node with no open through the page cache.
int HomeFsOps::open_as(HomeFs& self, uint64_t node, uint64_t handle, const CachedFile* copy) {
    std::lock_guard lock(self.open_mu_);
    if (int id = copy != nullptr && self.passthrough_ ? backing_for(self, node, *copy) : 0) {
        self.open_handles_[handle] = {node, id};
        return id;
    }
    ++self.cached_opens_[node];
    self.open_handles_[handle] = {node, 0};
    return 0;
}

// Under open_mu_.
int HomeFsOps::backing_for(HomeFs& self, uint64_t node, const CachedFile& copy) {
    const std::string version = copy.version().name();
    if (auto known = self.backings_.find(node); known != self.backings_.end())
        for (HomeFs::Backing& b : known->second)
            if (b.version == version) return ++b.opens, b.id;
    if (!copy.whole() || self.cached_opens_.contains(node)) return 0;
    auto id = open_fuse_backing(fuse_session_fd(self.session_), copy.fd());
    if (!id) {
        if (self.passthrough_.exchange(false))
            std::fprintf(stderr, "ssi-remote: no passthrough, reads of copies go through the mount (%s)\n",
                         id.error().message().c_str());
        return 0;
    }
    self.backings_[node].push_back(HomeFs::Backing{*id, version, 1});
    return *id;
}

// The handle was released (or its open's reply never arrived).
void HomeFsOps::end_open(HomeFs& self, uint64_t handle) {
    std::lock_guard lock(self.open_mu_);
    auto it = self.open_handles_.find(handle);
    if (it == self.open_handles_.end()) return;
    const HomeFs::OpenHandle h = it->second;
    self.open_handles_.erase(it);
    if (h.backing == 0) {
        if (auto c = self.cached_opens_.find(h.node); c != self.cached_opens_.end() && --c->second == 0)
            self.cached_opens_.erase(c);
        return;
    }
    auto node = self.backings_.find(h.node);
    if (node == self.backings_.end()) return;
    std::vector<HomeFs::Backing>& backings = node->second;
    auto b = std::find_if(backings.begin(), backings.end(), [&](const auto& x) { return x.id == h.backing; });
    if (b == backings.end() || --b->opens > 0) return;
    (void)close_fuse_backing(fuse_session_fd(self.session_), b->id);  // the kernel keeps it while in use
    backings.erase(b);
    if (backings.empty()) self.backings_.erase(node);
}

// fuse_reply_open, with a backing file when `backing` is not 0.
int HomeFsOps::reply_open(fuse_req_t req, const fuse_file_info* fi, int backing) {
    if (backing == 0) return fuse_reply_open(req, fi);
    FuseOpenOut out;
    out.fh = fi->fh;
    out.open_flags = kFuseOpenPassthrough | (fi->noflush ? kFuseOpenNoflush : 0);  // nothing else is allowed
    out.backing_id = backing;
    iovec iov{&out, sizeof out};
    return fuse_reply_iov(req, &iov, 1);
}

}  // namespace ssi::remote
