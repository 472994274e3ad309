// HomeFsOps: POSIX and flock locks, taken at home; a blocking one is retried from here.
#include "ssi-remote/home_fs_ops.h"

#include <fcntl.h>
#include <sys/file.h>

#include <cerrno>

namespace ssi::remote {

void HomeFsOps::getlk(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, struct flock* lock) {
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

void HomeFsOps::setlk(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, struct flock* lock, int sleep) {
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

void HomeFsOps::flock(fuse_req_t req, fuse_ino_t, fuse_file_info* fi, int op) {
    HomeFs& self = fs(req);
    FlockRequest request{fi->fh, op & ~LOCK_NB};
    auto r = wait_for_lock(req, (op & LOCK_NB) == 0, [&] { return call<EmptyReply>(self, request); });
    if (!r && r.error().err == EACCES) {
        fuse_reply_err(req, EWOULDBLOCK);
        return;
    }
    reply_empty(req, r);
}

}  // namespace ssi::remote
