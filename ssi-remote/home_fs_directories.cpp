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

void HomeFsOps::readdir(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
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
void HomeFsOps::readdirplus(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
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

void HomeFsOps::releasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
    reply_empty(req, call<EmptyReply>(fs(req), ReleasedirRequest{fi->fh}));
}

void HomeFsOps::fsyncdir(fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info* fi) {
    reply_empty(req, call<EmptyReply>(fs(req), FsyncRequest{fi->fh, datasync != 0}));
}

}  // namespace ssi::remote
