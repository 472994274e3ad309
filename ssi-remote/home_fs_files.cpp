// HomeFsOps: open files — opens, small files whole, copies, reads, writes, releases.
#include "ssi-remote/home_fs_ops.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace ssi::remote {

void HomeFsOps::open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    HomeFs& self = fs(req);
    if ((fi->flags & O_ACCMODE) != O_RDONLY) forget_locals_of(self, ino);  // it may write (or O_TRUNC)
    const uint64_t changes_before = changes_of(self, ino);
    const uint64_t attrs_generation = read_attrs_generation(self);
    const bool read_only = (fi->flags & O_ACCMODE) == O_RDONLY;
    auto r = call<OpenReply>(self, OpenRequest{ino, fi->flags, read_only && has_copy_of_seen(self, ino)});
    if (!r) return reply_error(req, r.error());
    HomeFs::Stamp now = stamp_of(r->attr);
    bool unchanged;
    bool store = false;
    int backing = 0;  // read through this node's copy in the kernel (home_fs_passthrough.cpp)
    std::shared_ptr<const std::vector<char>> whole;
    if (r->has_whole) whole = std::make_shared<const std::vector<char>>(std::move(r->whole));
    std::shared_ptr<CachedFile> copy = whole ? nullptr : copy_for(self, *r, fi->flags);
    {
        std::lock_guard content(self.content_mu_);
        HomeFs::Content& c = self.contents_[ino];
        // Nothing changed through this mount since this open went home: what it read
        // there is the file the kernel has now (see Content).
        const bool quiet = c.changes == changes_before && c.writers == 0;
        std::lock_guard lock(self.mu_);
        auto it = self.stamps_.find(ino);
        unchanged = it != self.stamps_.end() && it->second == now;
        self.stamps_[ino] = now;
        fi->noflush = read_only && !self.locked_nodes_.contains(ino);
        if (fi->noflush) self.unflushed_[r->handle];
        // Keep cached pages only of a file nobody changed since our last open and that
        // this open will not change either (its writes would change mtime anyway).
        backing = open_as(self, ino, r->handle, copy && quiet && may_pass_through(self, *r) ? copy.get() : nullptr);
        fi->keep_cache = unchanged && read_only && backing == 0;  // a passthrough open may not keep them
        if (!fi->keep_cache) ++c.changes;  // the kernel drops the pages at this reply
        if (!read_only) ++c.writers, self.writer_handles_[r->handle] = ino;
        // READs answered here, from the bytes read at the open or this node's copy:
        // until the file is released or written through this mount.
        if (whole && quiet) self.locals_[r->handle] = {ino, whole, nullptr};
        else if (copy && quiet && backing == 0) self.locals_[r->handle] = {ino, nullptr, std::move(copy)};
        // And into the page cache at once when the kernel keeps it: the program's reads
        // then cost no READ through this daemon.
        store = whole && quiet && fi->keep_cache && !whole->empty();
    }
    if (backing != 0) keep_read_attrs(self, ino, r->attr, attrs_generation);
    fi->direct_io = 0;
    fi->fh = r->handle;
    if (store) store_pages(self, ino, changes_before, *whole);
    // Changed at home: the kernel's size and times are stale too. Invalidating only the
    // attributes (offset < 0) takes no lock the opener holds, so it is safe from here;
    // the pages go when the open completes without keep_cache.
    if (!unchanged) fuse_lowlevel_notify_inval_inode(self.session_, ino, -1, 0);
    if (reply_open(req, fi, backing) == -ENOENT) {  // interrupted: the kernel will not release it
        end_open(self, r->handle);
        (void)take_local(self, r->handle);
        (void)take_unflushed(self, r->handle);
        end_writer(self, r->handle);
        (void)call<EmptyReply>(self, ReleaseRequest{{r->handle}});
    }
    if (whole) keep_whole(self, *r, *whole);
}

uint64_t HomeFsOps::changes_of(HomeFs& self, uint64_t node) {
    std::lock_guard content(self.content_mu_);
    auto it = self.contents_.find(node);
    return it == self.contents_.end() ? 0 : it->second.changes;
}

// A truncate done at home, before the kernel drops the pages past the new end.
void HomeFsOps::count_change(HomeFs& self, uint64_t node) {
    std::lock_guard content(self.content_mu_);
    ++self.contents_[node].changes;
}

// A handle open for writing is closed.
void HomeFsOps::end_writer(HomeFs& self, uint64_t handle) {
    std::lock_guard content(self.content_mu_);
    auto it = self.writer_handles_.find(handle);
    if (it == self.writer_handles_.end()) return;
    if (auto c = self.contents_.find(it->second); c != self.contents_.end() && c->second.writers > 0)
        --c->second.writers;
    self.writer_handles_.erase(it);
}

// A failed store costs nothing but the READs it would have saved. Made without a lock
// (it can wait for a page a READ being served holds): a change counted meanwhile may
// have come before it in the kernel, so the pages are then dropped again — they are
// never dirty (writes go home at once), and home has what they held.
void HomeFsOps::store_pages(HomeFs& self, fuse_ino_t ino, uint64_t changes_before, const std::vector<char>& bytes) {
    fuse_bufvec buf = FUSE_BUFVEC_INIT(bytes.size());
    buf.buf[0].mem = const_cast<char*>(bytes.data());
    (void)fuse_lowlevel_notify_store(self.session_, ino, 0, &buf, fuse_buf_copy_flags{});
    bool overtaken;
    {
        std::lock_guard content(self.content_mu_);
        const HomeFs::Content& c = self.contents_[ino];
        overtaken = c.changes != changes_before || c.writers != 0;
    }
    if (overtaken) (void)fuse_lowlevel_notify_inval_inode(self.session_, ino, 0, 0);
}

// This node's copy of a regular file opened read-only, or an empty one to fill from
// its READs (file_cache.h).
std::shared_ptr<CachedFile> HomeFsOps::copy_for(HomeFs& self, const OpenReply& r, int flags) {
    if (!self.options_.cache || r.opened_at_ns == 0 || (flags & O_ACCMODE) != O_RDONLY || !S_ISREG(r.attr.mode))
        return nullptr;
    HomeFs::Stamp s = stamp_of(r.attr);
    s.dev = r.dev;
    return self.options_.cache->open_copy(version_of(self, s), r.opened_at_ns);
}

FileVersion HomeFsOps::version_of(const HomeFs& self, const HomeFs::Stamp& s) {
    constexpr int64_t kNs = 1'000'000'000;
    return FileVersion{self.options_.home, self.options_.uid, s.dev, s.ino, s.size,
                       s.mtime_sec * kNs + s.mtime_nsec, s.ctime_sec * kNs + s.ctime_nsec};
}

// Small files come whole with their open, unless this node has a copy of the version the
// kernel last saw (looked up, listed or opened): the settled ones that every run reads
// again — the loader's cache, an interpreter's modules — then cost an open that finds the
// copy, not their bytes copied into fresh pages at both ends (about 1 ms for the loader's
// 43 KB here). A version changed at home since then has no copy and is read from home.
bool HomeFsOps::has_copy_of_seen(HomeFs& self, uint64_t node) {
    if (!self.options_.cache) return false;
    HomeFs::Stamp seen;
    {
        std::lock_guard lock(self.mu_);
        auto it = self.stamps_.find(node);
        if (it == self.stamps_.end()) return false;
        seen = it->second;
    }
    if (seen.size <= int64_t(kOpenWholeBytes) || seen.size > int64_t(kOpenWholeMaxBytes)) return false;
    return self.options_.cache->has(version_of(self, seen));
}

// The bytes a small file came whole with become this node's copy of it (settled versions
// only, as any copy), for the next runs' opens. Smaller files than kOpenWholeBytes always
// come whole: no copy of theirs is asked for.
void HomeFsOps::keep_whole(HomeFs& self, const OpenReply& r, const std::vector<char>& bytes) {
    if (!self.options_.cache || r.opened_at_ns == 0 || !S_ISREG(r.attr.mode)) return;
    if (r.attr.size <= int64_t(kOpenWholeBytes)) return;
    HomeFs::Stamp s = stamp_of(r.attr);
    s.dev = r.dev;
    self.options_.cache->keep_whole(version_of(self, s), r.opened_at_ns, bytes);
}

HomeFs::Local HomeFsOps::local_of(HomeFs& self, uint64_t handle) {
    std::lock_guard lock(self.mu_);
    auto it = self.locals_.find(handle);
    return it == self.locals_.end() ? HomeFs::Local{} : it->second;
}

HomeFs::Local HomeFsOps::take_local(HomeFs& self, uint64_t handle) {
    std::lock_guard lock(self.mu_);
    auto it = self.locals_.find(handle);
    if (it == self.locals_.end()) return {};
    HomeFs::Local local = std::move(it->second);
    self.locals_.erase(it);
    return local;
}

// Written through this mount: what its read-only opens read from here is old now (a
// copy being filled is not kept either).
void HomeFsOps::forget_locals_of(HomeFs& self, uint64_t node) {
    std::lock_guard lock(self.mu_);
    std::erase_if(self.locals_, [&](const auto& l) { return l.second.node == node; });
}

void HomeFsOps::create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
    HomeFs& self = fs(req);
    auto r = call<CreateReply>(self, CreateRequest{parent, name, mode, fi->flags});
    if (!r) return reply_error(req, r.error());
    {
        std::lock_guard content(self.content_mu_);
        HomeFs::Content& c = self.contents_[r->entry.node];
        ++c.changes;
        if ((fi->flags & O_ACCMODE) != O_RDONLY) ++c.writers, self.writer_handles_[r->handle] = r->entry.node;
        std::lock_guard lock(self.mu_);
        self.stamps_.erase(r->entry.node);
    }
    forget_locals_of(self, r->entry.node);
    fi->fh = r->handle;
    fi->keep_cache = 0;
    fi->direct_io = 0;
    fuse_entry_param p {};
    p.ino = r->entry.node;
    p.attr = to_stat(r->entry.attr);
    p.attr_timeout = self.options_.attr_timeout;
    p.entry_timeout = self.options_.entry_timeout;
    (void)open_as(self, r->entry.node, r->handle, nullptr);
    if (fuse_reply_create(req, &p, fi) == -ENOENT) {  // interrupted: the kernel will not release it
        end_open(self, r->handle);
        end_writer(self, r->handle);
        (void)call<EmptyReply>(self, ReleaseRequest{{r->handle}});
    }
}

void HomeFsOps::read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
    HomeFs::Local local = local_of(fs(req), fi->fh);
    if (const auto& whole = local.bytes) {
        fs(req).local_reads_++;
        size_t from = std::min(whole->size(), size_t(std::max<off_t>(off, 0)));
        fuse_reply_buf(req, whole->data() + from, std::min(size, whole->size() - from));
        return;
    }
    size = std::min<size_t>(size, kMaxIo);
    if (local.copy && local.copy->whole()) {
        // Spliced from the copy into the reply: no buffer here to fault in and fill (a
        // fresh megabyte per FUSE thread and run, most of a start's reading of libc).
        fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
        buf.buf[0].flags = fuse_buf_flags(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
        buf.buf[0].fd = local.copy->fd();
        buf.buf[0].pos = std::max<off_t>(off, 0);
        fs(req).local_reads_++;
        (void)fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);  // answers a failed read with its errno
        return;
    }
    // Decoded in place: the data goes to the kernel from the message it came in.
    auto message = round_trip(fs(req), encode_request(ReadRequest{fi->fh, off, static_cast<uint32_t>(size)}));
    auto r = message ? decode_data_reply(bytes_of(*message)) : Result<DataReplyView>(message.error());
    if (!r || r->err != 0) {
        fuse_reply_err(req, r ? r->err : EIO);
        return;
    }
    if (local.copy && off >= 0) local.copy->add(uint64_t(off), r->data);
    fuse_reply_buf(req, r->data.data(), r->data.size());
}

void HomeFsOps::write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off, fuse_file_info* fi) {
    forget_locals_of(fs(req), ino);
    size = std::min<size_t>(size, kMaxIo);
    forget_read_attrs(fs(req));
    auto r = call<WriteReply>(fs(req), encode_write_request(fi->fh, off, std::span(buf, size)), "WriteRequest");
    forget_read_attrs(fs(req));
    if (!r) return reply_error(req, r.error());
    fuse_reply_write(req, r->size);
}

// Each close(2): drops the closer's POSIX locks at home. Only nodes that were ever
// locked through this mount can have any, so other closes cost no round trip.
void HomeFsOps::flush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    HomeFs& self = fs(req);
    if (!ever_locked(self, ino)) {
        fuse_reply_err(req, 0);
        return;
    }
    reply_empty(req, call<EmptyReply>(self, FlushRequest{ino, fi->fh, fi->lock_owner}));
}

bool HomeFsOps::ever_locked(HomeFs& self, uint64_t node) {
    std::lock_guard lock(self.mu_);
    return self.locked_nodes_.contains(node);
}

std::vector<uint64_t> HomeFsOps::take_unflushed(HomeFs& self, uint64_t handle) {
    std::lock_guard lock(self.mu_);
    auto it = self.unflushed_.find(handle);
    if (it == self.unflushed_.end()) return {};
    std::vector<uint64_t> owners = std::move(it->second);
    self.unflushed_.erase(it);
    return owners;
}

void HomeFsOps::release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    HomeFs& self = fs(req);
    HomeFs::Local local = take_local(self, fi->fh);
    end_open(self, fi->fh);
    if ((fi->flags & O_ACCMODE) != O_RDONLY) end_writer(self, fi->fh);
    // Locks taken through an open the kernel did not FLUSH at close: its close drops them.
    for (uint64_t owner : take_unflushed(self, fi->fh))
        (void)call<EmptyReply>(self, FlushRequest{ino, fi->fh, owner});
    if ((fi->flags & O_ACCMODE) == O_RDONLY && !fi->flock_release && !ever_locked(self, ino)) {
        bool wake;  // only to start the batch's delay, or to end it full: a thread
                    // switch per close costs more than the rest of a release here
        {
            std::lock_guard lock(self.release_mu_);
            self.deferred_releases_.push_back(fi->fh);
            wake = self.deferred_releases_.size() == 1 || self.deferred_releases_.size() == kReleaseBatch;
        }
        if (wake) self.release_cv_.notify_one();
        fuse_reply_err(req, 0);
    } else {
        reply_empty(req, call<EmptyReply>(self, ReleaseRequest{{fi->fh}}));
    }
    // After the reply: nobody waits for a copy to be kept.
    if (local.copy) self.options_.cache->release(*local.copy);
}

void HomeFsOps::flush_releases(HomeFs& self) {
    std::unique_lock lock(self.release_mu_);
    for (;;) {
        self.release_cv_.wait(lock, [&] { return self.release_stop_ || !self.deferred_releases_.empty(); });
        if (self.deferred_releases_.empty()) return;  // stopping, nothing left
        self.release_cv_.wait_for(lock, kReleaseDelay, [&] {
            return self.release_stop_ || self.deferred_releases_.size() >= kReleaseBatch;
        });
        std::vector<uint64_t> batch = std::exchange(self.deferred_releases_, {});
        lock.unlock();
        (void)call<EmptyReply>(self, ReleaseRequest{std::move(batch)});
        lock.lock();
    }
}

void HomeFsOps::fsync(fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info* fi) {
    reply_empty(req, call<EmptyReply>(fs(req), FsyncRequest{fi->fh, datasync != 0}));
}

void HomeFsOps::fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length, fuse_file_info* fi) {
    forget_locals_of(fs(req), ino);
    reply_empty(req, call<EmptyReply>(fs(req), FallocateRequest{fi->fh, mode, offset, length}));
}

}  // namespace ssi::remote
