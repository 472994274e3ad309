// HomeFsOps: directory listings, with their entries looked up (READDIRPLUS).
#include "ssi-remote/home_fs_ops.h"

#include <cerrno>

namespace ssi::remote {

void HomeFsOps::opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    HomeFs& self = fs(req);
    auto r = call<OpenReply>(self, OpendirRequest{ino});
    if (!r) return reply_error(req, r.error());
    fi->fh = r->handle;
    if (fuse_reply_open(req, fi) == -ENOENT) (void)call<EmptyReply>(self, ReleasedirRequest{r->handle});
}

// The kernel reads a listing until a read comes back empty: that last read is answered
// here when home said the listing ended where it starts (DirReply::end).
bool HomeFsOps::listing_ended(HomeFs& self, uint64_t handle, off_t off) {
    std::lock_guard lock(self.mu_);
    auto it = self.listing_ends_.find(handle);
    return it != self.listing_ends_.end() && it->second == off;
}

void HomeFsOps::note_listing_end(HomeFs& self, uint64_t handle, off_t at) {
    std::lock_guard lock(self.mu_);
    self.listing_ends_[handle] = at;
}

void HomeFsOps::readdir(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
    if (listing_ended(fs(req), fi->fh, off)) return (void)fuse_reply_buf(req, nullptr, 0);
    auto r = call<DirReply>(fs(req), ReaddirRequest{fi->fh, off, static_cast<uint32_t>(size)});
    if (!r) return reply_error(req, r.error());
    std::vector<char> buf(size);
    size_t used = 0;
    off_t next = off;
    bool all = true;
    for (const auto& e : r->entries) {
        struct stat st {};
        st.st_ino = e.ino;
        st.st_mode = e.type << 12;
        size_t n = fuse_add_direntry(req, buf.data() + used, size - used, e.name.c_str(), &st, e.next);
        if (n > size - used) {  // the next readdir starts from here (home seeks back)
            all = false;
            break;
        }
        used += n;
        next = e.next;
    }
    if (r->end && all) note_listing_end(fs(req), fi->fh, next);
    fuse_reply_buf(req, buf.data(), used);
}

// Each entry with its node, so the names need no LOOKUP of their own. An entry the
// buffer cannot take has its lookup at home given back.
void HomeFsOps::readdirplus(fuse_req_t req, fuse_ino_t dir, size_t size, off_t off, fuse_file_info* fi) {
    HomeFs& self = fs(req);
    if (listing_ended(self, fi->fh, off)) return (void)fuse_reply_buf(req, nullptr, 0);
    auto r = call<DirplusReply>(self, ReaddirplusRequest{fi->fh, off, static_cast<uint32_t>(size)});
    if (!r) return reply_error(req, r.error());
    std::vector<char> buf(size);
    size_t used = 0;
    std::vector<std::pair<uint64_t, uint64_t>> not_taken;
    bool full = false;  // once one entry does not fit, none after it is taken
    off_t next = off;
    for (auto& e : r->entries) {
        // A name the root mounts over is ours (home_fs_mounted_over.cpp): listed unlinked.
        if (e.node && mounted_over_node(self, dir, e.entry.name.c_str())) {
            not_taken.emplace_back(e.node, 1);
            e.node = 0;
        }
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
                next = e.entry.next;
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
    if (r->end && !full) note_listing_end(self, fi->fh, next);
    fuse_reply_buf(req, buf.data(), used);
}

void HomeFsOps::releasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
    {
        std::lock_guard lock(fs(req).mu_);
        fs(req).listing_ends_.erase(fi->fh);
    }
    reply_empty(req, call<EmptyReply>(fs(req), ReleasedirRequest{fi->fh}));
}

void HomeFsOps::fsyncdir(fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info* fi) {
    reply_empty(req, call<EmptyReply>(fs(req), FsyncRequest{fi->fh, datasync != 0}));
}

}  // namespace ssi::remote
