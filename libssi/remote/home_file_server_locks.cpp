// HomeFileServer: record locks (fcntl) and flock(2) locks, taken at home on the owner's
// own open file description, so they conflict with local programs' as they would there.
#include "libssi/remote/home_file_server.h"
#include "libssi/remote/home_node.h"

#include "kern-ext/file_ops.h"

#include <fcntl.h>
#include <sys/file.h>

namespace ssi::remote {

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
