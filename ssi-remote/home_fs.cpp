#define FUSE_USE_VERSION 312
#include "ssi-remote/home_fs.h"

#include "ssi-remote/file_cache.h"
#include "ssi-remote/start_names.h"

#include "kern-ext/file_ops.h"
#include "kern-ext/files.h"
#include "libssi/remote/fs_protocol.h"

#include <fuse_lowlevel.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

namespace ssi::remote {

// The fuse_lowlevel_ops callbacks: each builds one request, makes one round trip (a
// blocking lock: several) and replies to the kernel.
struct HomeFsOps {
    static HomeFs& fs(fuse_req_t req) { return *static_cast<HomeFs*>(fuse_req_userdata(req)); }

    // One round trip. Home's errno comes back as the Error's err; a transport or decoding
    // failure becomes EIO, so no program retries on an errno home never sent.
    static std::span<const char> bytes_of(const zmq::message_t& m) { return {m.data<char>(), m.size()}; }

    template <class Reply>
    static Result<Reply> call(HomeFs& self, const FsRequest& request) {
        return call<Reply>(self, encode_request(request), request_name(request));
    }

    template <class Reply>
    static Result<Reply> call(HomeFs& self, const std::string& request, const char* name) {
        self.round_trips_++;
        auto message = self.transport_(request);
        if (!message) return make_error(name, message.error().message(), EIO);
        auto reply = decode_reply(bytes_of(*message));
        if (!reply) return make_error(name, reply.error().message(), EIO);
        if (reply->err != 0) return make_error(name, {}, reply->err);
        if (auto* r = std::get_if<Reply>(&reply->body)) return std::move(*r);
        return make_error(name, "unexpected reply type", EIO);
    }

    static void reply_error(fuse_req_t req, const Error& e) { fuse_reply_err(req, e.err != 0 ? e.err : EIO); }

    static struct stat to_stat(const Attr& a) {
        struct stat st {};
        st.st_ino = a.ino;
        st.st_mode = a.mode;
        st.st_nlink = a.nlink;
        st.st_uid = a.uid;
        st.st_gid = a.gid;
        st.st_rdev = a.rdev;
        st.st_size = a.size;
        st.st_blksize = a.blksize;
        st.st_blocks = a.blocks;
        st.st_atim = {a.atime_sec, a.atime_nsec};
        st.st_mtim = {a.mtime_sec, a.mtime_nsec};
        st.st_ctim = {a.ctime_sec, a.ctime_nsec};
        return st;
    }

    static HomeFs::Stamp stamp_of(const Attr& a) {
        return HomeFs::Stamp{a.ino, a.size, a.mtime_sec, a.mtime_nsec, a.ctime_sec, a.ctime_nsec};
    }

    static void reply_entry(fuse_req_t req, const EntryReply& e) {
        HomeFs& self = fs(req);
        fuse_entry_param p {};
        p.ino = e.node;
        p.generation = 0;  // home never reuses a node id
        p.attr = to_stat(e.attr);
        p.attr_timeout = self.options_.attr_timeout;
        p.entry_timeout = self.options_.entry_timeout;
        fuse_reply_entry(req, &p);
    }

    static void reply_entry_result(fuse_req_t req, Result<EntryReply> r) {
        if (!r) return reply_error(req, r.error());
        reply_entry(req, *r);
    }

    static void reply_empty(fuse_req_t req, const Result<EmptyReply>& r) {
        fuse_reply_err(req, r ? 0 : (r.error().err != 0 ? r.error().err : EIO));
    }

    // ---- setup ----

    static void init(void*, fuse_conn_info* conn) {
        conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;  // write-through: writes are at home on return
        conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;  // the page cache is checked at open instead
        // Listings come with their entries looked up: every page of a listing, not only
        // its first (READDIRPLUS_AUTO would make the rest plain READDIRs, whose names then
        // cost a LOOKUP each at their first use — a round trip per file of `cat dir/*`).
        if (conn->capable & FUSE_CAP_READDIRPLUS) {
            conn->want |= FUSE_CAP_READDIRPLUS;
            conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
        }
        if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC) conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
        if (conn->capable & FUSE_CAP_SPLICE_WRITE) conn->want |= FUSE_CAP_SPLICE_WRITE;  // reads of copies
        // Not FUSE_CAP_CACHE_SYMLINKS: through a cached name the kernel would follow a link
        // replaced at home without a READLINK, the request where home checks the name.
        // Big requests: one round trip moves up to kMaxIo (libfuse derives the kernel's
        // max_pages from max_write), and readahead keeps sequential reads streaming.
        conn->max_write = kMaxIo;
        conn->max_readahead = kMaxIo;
    }

    // ---- names ----

    static void lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
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

    // ---- primed names (start_names.h) ----

    // On a thread of its own, while the program is launched: its first LOOKUPs may come
    // before the reply (they go home then, and the primes they missed are forgotten).
    static void prime(HomeFs& self) {
        auto r = call<PrimeReply>(self, PrimeRequest{self.options_.start_names->last()});
        if (!r) return;
        std::lock_guard lock(self.mu_);
        for (auto& n : r->names) {
            self.stamps_.try_emplace(n.entry.node, stamp_of(n.entry.attr));
            if (n.has_link) self.primed_links_.emplace(n.entry.node, std::move(n.link));
            self.primed_.emplace(std::make_pair(n.parent, std::move(n.name)), n.entry);
        }
        self.primed_until_ = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    }

    static std::optional<EntryReply> take_primed(HomeFs& self, uint64_t parent, const char* name) {
        std::lock_guard lock(self.mu_);
        auto it = self.primed_.find(std::make_pair(parent, std::string(name)));
        if (it == self.primed_.end()) return std::nullopt;
        EntryReply entry = it->second;
        self.primed_.erase(it);
        return entry;
    }

    static std::optional<std::string> take_primed_link(HomeFs& self, uint64_t node) {
        std::lock_guard lock(self.mu_);
        auto it = self.primed_links_.find(node);
        if (it == self.primed_links_.end()) return std::nullopt;
        std::string target = std::move(it->second);
        self.primed_links_.erase(it);
        return target;
    }

    // Once the start is over, what it did not use holds nodes at home for nothing: each
    // prime counted a lookup there that the kernel will never forget.
    static void forget_unused_primes(HomeFs& self) {
        std::map<uint64_t, uint64_t> counts;
        {
            std::lock_guard lock(self.mu_);
            if (self.primed_.empty() || std::chrono::steady_clock::now() < self.primed_until_) return;
            for (const auto& [name, entry] : self.primed_) counts[entry.node]++;
            self.primed_.clear();
            self.primed_links_.clear();
        }
        (void)call<EmptyReply>(self, ForgetRequest{{counts.begin(), counts.end()}});
    }

    static void drop(HomeFs& self, const std::vector<std::pair<uint64_t, uint64_t>>& nodes) {
        {
            std::lock_guard lock(self.mu_);
            for (const auto& n : nodes) {  // the kernel forgets an inode only when done with it
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

    static void forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
        drop(fs(req), {{ino, nlookup}});
        fuse_reply_none(req);
    }

    static void forget_multi(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
        std::vector<std::pair<uint64_t, uint64_t>> nodes;
        nodes.reserve(count);
        for (size_t i = 0; i < count; ++i) nodes.emplace_back(forgets[i].ino, forgets[i].nlookup);
        drop(fs(req), nodes);
        fuse_reply_none(req);
    }

    static void mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
        reply_entry_result(req, call<EntryReply>(fs(req), MknodRequest{parent, name, mode, rdev}));
    }

    static void mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
        reply_entry_result(req, call<EntryReply>(fs(req), MkdirRequest{parent, name, mode}));
    }

    static void symlink(fuse_req_t req, const char* target, fuse_ino_t parent, const char* name) {
        reply_entry_result(req, call<EntryReply>(fs(req), SymlinkRequest{target, parent, name}));
    }

    static void link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t new_parent, const char* new_name) {
        reply_entry_result(req, call<EntryReply>(fs(req), LinkRequest{ino, new_parent, new_name}));
    }

    static void unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
        reply_empty(req, call<EmptyReply>(fs(req), UnlinkRequest{parent, name}));
    }

    static void rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
        reply_empty(req, call<EmptyReply>(fs(req), RmdirRequest{parent, name}));
    }

    static void rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t new_parent,
                       const char* new_name, unsigned int flags) {
        reply_empty(req, call<EmptyReply>(fs(req), RenameRequest{parent, name, new_parent, new_name, flags}));
    }

    static void readlink(fuse_req_t req, fuse_ino_t ino) {
        HomeFs& self = fs(req);
        std::optional<std::string> primed = take_primed_link(self, ino);
        auto r = primed ? Result<ReadlinkReply>(ReadlinkReply{*primed}) : call<ReadlinkReply>(self, ReadlinkRequest{ino});
        if (!r) return reply_error(req, r.error());
        if (self.options_.start_names) self.options_.start_names->read_link(ino);
        fuse_reply_readlink(req, r->target.c_str());
    }

    // ---- attributes ----

    static void reply_attr(fuse_req_t req, const Result<AttrReply>& r) {
        if (!r) return reply_error(req, r.error());
        struct stat st = to_stat(r->attr);
        fuse_reply_attr(req, &st, fs(req).options_.attr_timeout);
    }

    static void getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
        reply_attr(req, call<AttrReply>(fs(req), GetattrRequest{ino, fi ? fi->fh : 0}));
    }

    static void setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi) {
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

    static void access(fuse_req_t req, fuse_ino_t ino, int mask) {
        reply_empty(req, call<EmptyReply>(fs(req), AccessRequest{ino, mask}));
    }

    static void statfs(fuse_req_t req, fuse_ino_t ino) {
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

    // ---- files ----

    static void open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
        HomeFs& self = fs(req);
        if ((fi->flags & O_ACCMODE) != O_RDONLY) forget_locals_of(self, ino);  // it may write (or O_TRUNC)
        const uint64_t changes_before = changes_of(self, ino);
        auto r = call<OpenReply>(self, OpenRequest{ino, fi->flags});
        if (!r) return reply_error(req, r.error());
        HomeFs::Stamp now = stamp_of(r->attr);
        const bool read_only = (fi->flags & O_ACCMODE) == O_RDONLY;
        bool unchanged;
        bool store = false;
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
            fi->keep_cache = unchanged && read_only;
            if (!fi->keep_cache) ++c.changes;  // the kernel drops the pages at this reply
            if (!read_only) ++c.writers, self.writer_handles_[r->handle] = ino;
            // READs answered here, from the bytes read at the open or this node's copy:
            // until the file is released or written through this mount.
            if (whole && quiet) self.locals_[r->handle] = {ino, whole, nullptr};
            else if (copy && quiet) self.locals_[r->handle] = {ino, nullptr, std::move(copy)};
            // And into the page cache at once when the kernel keeps it: the program's reads
            // then cost no READ through this daemon.
            store = whole && quiet && fi->keep_cache && !whole->empty();
        }
        fi->direct_io = 0;
        fi->fh = r->handle;
        if (store) store_pages(self, ino, changes_before, *whole);
        // Changed at home: the kernel's size and times are stale too. Invalidating only the
        // attributes (offset < 0) takes no lock the opener holds, so it is safe from here;
        // the pages go when the open completes without keep_cache.
        if (!unchanged) fuse_lowlevel_notify_inval_inode(self.session_, ino, -1, 0);
        if (fuse_reply_open(req, fi) == -ENOENT) {  // interrupted: the kernel will not release it
            (void)take_local(self, r->handle);
            (void)take_unflushed(self, r->handle);
            end_writer(self, r->handle);
            (void)call<EmptyReply>(self, ReleaseRequest{{r->handle}});
        }
    }

    static uint64_t changes_of(HomeFs& self, uint64_t node) {
        std::lock_guard content(self.content_mu_);
        auto it = self.contents_.find(node);
        return it == self.contents_.end() ? 0 : it->second.changes;
    }

    // A truncate done at home, before the kernel drops the pages past the new end.
    static void count_change(HomeFs& self, uint64_t node) {
        std::lock_guard content(self.content_mu_);
        ++self.contents_[node].changes;
    }

    // A handle open for writing is closed.
    static void end_writer(HomeFs& self, uint64_t handle) {
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
    static void store_pages(HomeFs& self, fuse_ino_t ino, uint64_t changes_before, const std::vector<char>& bytes) {
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
    static std::shared_ptr<CachedFile> copy_for(HomeFs& self, const OpenReply& r, int flags) {
        if (!self.options_.cache || r.opened_at_ns == 0 || (flags & O_ACCMODE) != O_RDONLY || !S_ISREG(r.attr.mode))
            return nullptr;
        constexpr int64_t kNs = 1'000'000'000;
        FileVersion version{self.options_.home, self.options_.uid, r.dev, r.attr.ino, r.attr.size,
                            r.attr.mtime_sec * kNs + r.attr.mtime_nsec, r.attr.ctime_sec * kNs + r.attr.ctime_nsec};
        return self.options_.cache->open_copy(version, r.opened_at_ns);
    }

    static HomeFs::Local local_of(HomeFs& self, uint64_t handle) {
        std::lock_guard lock(self.mu_);
        auto it = self.locals_.find(handle);
        return it == self.locals_.end() ? HomeFs::Local{} : it->second;
    }

    static HomeFs::Local take_local(HomeFs& self, uint64_t handle) {
        std::lock_guard lock(self.mu_);
        auto it = self.locals_.find(handle);
        if (it == self.locals_.end()) return {};
        HomeFs::Local local = std::move(it->second);
        self.locals_.erase(it);
        return local;
    }

    // Written through this mount: what its read-only opens read from here is old now (a
    // copy being filled is not kept either).
    static void forget_locals_of(HomeFs& self, uint64_t node) {
        std::lock_guard lock(self.mu_);
        std::erase_if(self.locals_, [&](const auto& l) { return l.second.node == node; });
    }

    static void create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
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
        if (fuse_reply_create(req, &p, fi) == -ENOENT) {  // interrupted: the kernel will not release it
            end_writer(self, r->handle);
            (void)call<EmptyReply>(self, ReleaseRequest{{r->handle}});
        }
    }

    static void read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
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
        fs(req).round_trips_++;
        auto message = fs(req).transport_(encode_request(ReadRequest{fi->fh, off, static_cast<uint32_t>(size)}));
        auto r = message ? decode_data_reply(bytes_of(*message)) : Result<DataReplyView>(message.error());
        if (!r || r->err != 0) {
            fuse_reply_err(req, r ? r->err : EIO);
            return;
        }
        if (local.copy && off >= 0) local.copy->add(uint64_t(off), r->data);
        fuse_reply_buf(req, r->data.data(), r->data.size());
    }

    static void write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off, fuse_file_info* fi) {
        forget_locals_of(fs(req), ino);
        size = std::min<size_t>(size, kMaxIo);
        auto r = call<WriteReply>(fs(req), encode_write_request(fi->fh, off, std::span(buf, size)), "WriteRequest");
        if (!r) return reply_error(req, r.error());
        fuse_reply_write(req, r->size);
    }

    // Each close(2): drops the closer's POSIX locks at home. Only nodes that were ever
    // locked through this mount can have any, so other closes cost no round trip.
    static void flush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
        HomeFs& self = fs(req);
        if (!ever_locked(self, ino)) {
            fuse_reply_err(req, 0);
            return;
        }
        reply_empty(req, call<EmptyReply>(self, FlushRequest{ino, fi->fh, fi->lock_owner}));
    }

    static bool ever_locked(HomeFs& self, uint64_t node) {
        std::lock_guard lock(self.mu_);
        return self.locked_nodes_.contains(node);
    }

    static std::vector<uint64_t> take_unflushed(HomeFs& self, uint64_t handle) {
        std::lock_guard lock(self.mu_);
        auto it = self.unflushed_.find(handle);
        if (it == self.unflushed_.end()) return {};
        std::vector<uint64_t> owners = std::move(it->second);
        self.unflushed_.erase(it);
        return owners;
    }

    static void release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
        HomeFs& self = fs(req);
        HomeFs::Local local = take_local(self, fi->fh);
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

    // The deferred releases' thread: a batch goes when kReleaseBatch are waiting or
    // kReleaseDelay after the first; what is left goes at unmount.
    static constexpr size_t kReleaseBatch = 256;
    static constexpr auto kReleaseDelay = std::chrono::milliseconds(5);

    static void flush_releases(HomeFs& self) {
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

    static void fsync(fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info* fi) {
        reply_empty(req, call<EmptyReply>(fs(req), FsyncRequest{fi->fh, datasync != 0}));
    }

    static void fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length, fuse_file_info* fi) {
        forget_locals_of(fs(req), ino);
        reply_empty(req, call<EmptyReply>(fs(req), FallocateRequest{fi->fh, mode, offset, length}));
    }

    // ---- directories ----

    static void opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
        HomeFs& self = fs(req);
        auto r = call<OpenReply>(self, OpendirRequest{ino});
        if (!r) return reply_error(req, r.error());
        fi->fh = r->handle;
        if (fuse_reply_open(req, fi) == -ENOENT) (void)call<EmptyReply>(self, ReleasedirRequest{r->handle});
    }

    static void readdir(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
        auto r = call<DirReply>(fs(req), ReaddirRequest{fi->fh, off, static_cast<uint32_t>(size)});
        if (!r) return reply_error(req, r.error());
        std::vector<char> buf(size);
        size_t used = 0;
        for (const auto& e : r->entries) {
            struct stat st {};
            st.st_ino = e.ino;
            st.st_mode = e.type << 12;
            size_t n = fuse_add_direntry(req, buf.data() + used, size - used, e.name.c_str(), &st, e.next);
            if (n > size - used) break;  // the next readdir starts from here (home seeks back)
            used += n;
        }
        fuse_reply_buf(req, buf.data(), used);
    }

    // Each entry with its node, so the names need no LOOKUP of their own. An entry the
    // buffer cannot take has its lookup at home given back.
    static void readdirplus(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
        HomeFs& self = fs(req);
        auto r = call<DirplusReply>(self, ReaddirplusRequest{fi->fh, off, static_cast<uint32_t>(size)});
        if (!r) return reply_error(req, r.error());
        std::vector<char> buf(size);
        size_t used = 0;
        std::vector<std::pair<uint64_t, uint64_t>> not_taken;
        bool full = false;  // once one entry does not fit, none after it is taken
        for (const auto& e : r->entries) {
            fuse_entry_param p {};
            p.ino = e.node;
            if (e.node) {
                p.attr = to_stat(e.attr);
                p.attr_timeout = self.options_.attr_timeout;
                p.entry_timeout = self.options_.entry_timeout;
            } else {
                p.attr.st_ino = e.entry.ino;
                p.attr.st_mode = e.entry.type << 12;
            }
            if (!full) {  // fuse_add_direntry_plus writes nothing when the entry does not fit
                size_t n = fuse_add_direntry_plus(req, buf.data() + used, size - used, e.entry.name.c_str(), &p,
                                                  e.entry.next);
                full = n > size - used;
                if (!full) {
                    used += n;
                    if (e.node) {
                        std::lock_guard lock(self.mu_);
                        self.stamps_.try_emplace(e.node, stamp_of(e.attr));
                    }
                    continue;
                }
            }
            if (e.node) not_taken.emplace_back(e.node, 1);
        }
        if (!not_taken.empty()) (void)call<EmptyReply>(self, ForgetRequest{not_taken});
        fuse_reply_buf(req, buf.data(), used);
    }

    static void releasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
        reply_empty(req, call<EmptyReply>(fs(req), ReleasedirRequest{fi->fh}));
    }

    static void fsyncdir(fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info* fi) {
        reply_empty(req, call<EmptyReply>(fs(req), FsyncRequest{fi->fh, datasync != 0}));
    }

    // ---- locks ----

    static void getlk(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, struct flock* lock) {
        Lock l{lock->l_type, lock->l_start, lock->l_len, 0};
        auto r = call<LockReply>(fs(req), GetlkRequest{ino, fi->fh, fi->lock_owner, l});
        if (!r) return reply_error(req, r.error());
        struct flock out {};
        out.l_type = static_cast<short>(r->lock.type);
        out.l_whence = SEEK_SET;
        out.l_start = r->lock.start;
        out.l_len = r->lock.len;
        out.l_pid = r->lock.pid;
        fuse_reply_lock(req, &out);
    }

    // Retries a request that found the lock taken until it is granted, the waiter is
    // interrupted by a signal (EINTR, as the kernel would), or the mount goes away.
    template <class MakeCall>
    static Result<EmptyReply> wait_for_lock(fuse_req_t req, bool wait, MakeCall&& attempt) {
        auto delay = std::chrono::microseconds(500);
        for (;;) {
            auto r = attempt();
            bool busy = !r && (r.error().err == EAGAIN || r.error().err == EACCES);
            if (!busy || !wait) return r;
            if (fuse_req_interrupted(req) || fs(req).stopping_) return make_error("lock wait", {}, EINTR);
            std::this_thread::sleep_for(delay);
            delay = std::min(delay * 2, std::chrono::microseconds(50'000));
        }
    }

    static void setlk(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, struct flock* lock, int sleep) {
        HomeFs& self = fs(req);
        if (lock->l_type != F_UNLCK) {  // before asking: a close racing the grant must flush
            std::lock_guard guard(self.mu_);
            self.locked_nodes_.insert(ino);
            if (auto it = self.unflushed_.find(fi->fh); it != self.unflushed_.end())
                if (std::ranges::find(it->second, fi->lock_owner) == it->second.end())
                    it->second.push_back(fi->lock_owner);
        }
        Lock l{lock->l_type, lock->l_start, lock->l_len, 0};
        SetlkRequest request{ino, fi->fh, fi->lock_owner, l};
        auto r = wait_for_lock(req, sleep != 0, [&] { return call<EmptyReply>(self, request); });
        reply_empty(req, r);
    }

    static void flock(fuse_req_t req, fuse_ino_t, fuse_file_info* fi, int op) {
        HomeFs& self = fs(req);
        FlockRequest request{fi->fh, op & ~LOCK_NB};
        auto r = wait_for_lock(req, (op & LOCK_NB) == 0, [&] { return call<EmptyReply>(self, request); });
        if (!r && r.error().err == EACCES) {
            fuse_reply_err(req, EWOULDBLOCK);
            return;
        }
        reply_empty(req, r);
    }

    static fuse_lowlevel_ops table() {
        fuse_lowlevel_ops o {};
        o.init = init;
        o.lookup = lookup;
        o.forget = forget;
        o.forget_multi = forget_multi;
        o.getattr = getattr;
        o.setattr = setattr;
        o.readlink = readlink;
        o.mknod = mknod;
        o.mkdir = mkdir;
        o.unlink = unlink;
        o.rmdir = rmdir;
        o.symlink = symlink;
        o.rename = rename;
        o.link = link;
        o.open = open;
        o.read = read;
        o.write = write;
        o.flush = flush;
        o.release = release;
        o.fsync = fsync;
        o.opendir = opendir;
        o.readdir = readdir;
        o.readdirplus = readdirplus;
        o.releasedir = releasedir;
        o.fsyncdir = fsyncdir;
        o.statfs = statfs;
        o.access = access;
        o.create = create;
        o.getlk = getlk;
        o.setlk = setlk;
        o.flock = flock;
        o.fallocate = fallocate;
        return o;
    }
};

Result<std::unique_ptr<HomeFs>> HomeFs::mount(const std::string& mountpoint, Transport transport,
                                              HomeFsOptions options) {
    std::unique_ptr<HomeFs> self(new HomeFs());
    self->transport_ = std::move(transport);
    self->options_ = options;
    self->mountpoint_ = mountpoint;

    // No default_permissions: home decides. allow_other: the program is not the mounter.
    std::vector<std::string> argv_text = {"ssi-remote", "-o", "allow_other,fsname=ssi-home,subtype=ssi"};
    if (options.debug) argv_text.push_back("-d");
    std::vector<char*> argv;
    for (auto& a : argv_text) argv.push_back(a.data());
    fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
    static const fuse_lowlevel_ops ops = HomeFsOps::table();
    self->session_ = fuse_session_new(&args, &ops, sizeof(ops), self.get());
    fuse_opt_free_args(&args);
    if (self->session_ == nullptr) return make_error("fuse_session_new", mountpoint);
    if (fuse_session_mount(self->session_, mountpoint.c_str()) != 0) {
        fuse_session_destroy(self->session_);
        self->session_ = nullptr;
        return make_error("fuse_session_mount", mountpoint, EIO);
    }
    if (options.start_names && !options.start_names->last().empty())
        self->prime_ = std::thread([s = self.get()] { HomeFsOps::prime(*s); });
    self->release_flusher_ = std::thread([s = self.get()] { HomeFsOps::flush_releases(*s); });
    self->loop_ = std::thread([s = self.get()] {
        fuse_loop_config* config = fuse_loop_cfg_create();
        fuse_loop_cfg_set_max_threads(config, s->options_.max_threads);
        fuse_loop_cfg_set_clone_fd(config, 0);
        fuse_session_loop_mt(s->session_, config);
        fuse_loop_cfg_destroy(config);
    });
    // Once the kernel has our init, widen its readahead: a sequential reader then keeps
    // several kMaxIo reads in flight instead of one 128 KiB read at a time. A statfs waits
    // for the init (and caches nothing) but costs a round trip home, which the program's
    // start need not wait for: on a thread of its own.
    if (options.readahead_kb) {
        self->widen_readahead_ = std::thread([s = self.get()] {
            auto root = open_at(AT_FDCWD, s->mountpoint_, O_PATH | O_DIRECTORY);
            if (!root || !stat_fs(root->get())) return;  // no home: nothing will be read anyway
            if (auto widened = set_readahead_kb(s->mountpoint_, s->options_.readahead_kb); !widened)
                std::fprintf(stderr, "ssi-remote: %s (sequential reads stay slower)\n", widened.error().message().c_str());
            // What this walk to the root cached of it is not the program's to see.
            std::lock_guard lock(s->session_mu_);
            if (!s->stopping_) fuse_lowlevel_notify_inval_inode(s->session_, FUSE_ROOT_ID, -1, 0);
        });
    }
    return self;
}

void HomeFs::unmount() {
    if (session_ == nullptr) return;
    stopping_ = true;
    fuse_session_exit(session_);
    fuse_session_unmount(session_);  // lazy: the loop ends when the last user lets go
    if (loop_.joinable()) loop_.join();
    {
        std::lock_guard lock(release_mu_);
        release_stop_ = true;
    }
    release_cv_.notify_one();
    if (release_flusher_.joinable()) release_flusher_.join();  // the last batch is home
    {
        std::lock_guard lock(session_mu_);
        fuse_session_destroy(session_);  // fails a statfs still waiting in widen_readahead_
        session_ = nullptr;
    }
    if (widen_readahead_.joinable()) widen_readahead_.join();
    if (prime_.joinable()) prime_.join();
    if (options_.start_names)
        if (auto saved = options_.start_names->save(); !saved)
            std::fprintf(stderr, "ssi-remote: start names not kept (%s)\n", saved.error().message().c_str());
}

size_t HomeFs::primed_names() {
    std::lock_guard lock(mu_);
    return primed_.size();
}

HomeFs::~HomeFs() { unmount(); }

}  // namespace ssi::remote
