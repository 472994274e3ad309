// HomeFsOps: attributes of files read through this node's copy (FUSE passthrough).
//
// Every read of a backing file makes the kernel forget the FUSE inode's atime
// (fuse_passthrough_read_iter), so the loader's fstat(2) of each library, right after it
// read the ELF header, was a GETATTR home — for what the library's OPEN had said a moment
// before (home's atime does not move: home did not read it). Those stats are answered here
// from the OPEN's attributes, for what is left of attr_timeout: the kernel itself would
// have trusted them that long had the read not dropped the atime.
//
// What can change a file through this mount forgets them all, before its request goes
// home and again once it is answered; an open records only if none did meanwhile (the
// generation it saw before going home), so an older reply never lands after a newer
// change. A change made at home is seen as the kernel's cache would see it: within
// attr_timeout, at the next open.
#include "ssi-remote/home_fs_ops.h"

#include <fcntl.h>

namespace ssi::remote {

bool HomeFsOps::may_change_attributes(const FsRequest& request) {
    if (const auto* open = std::get_if<OpenRequest>(&request))
        return (open->flags & O_ACCMODE) != O_RDONLY || (open->flags & O_TRUNC);
    return !std::holds_alternative<LookupRequest>(request) && !std::holds_alternative<ForgetRequest>(request) &&
           !std::holds_alternative<GetattrRequest>(request) && !std::holds_alternative<ReadlinkRequest>(request) &&
           !std::holds_alternative<ReadRequest>(request) && !std::holds_alternative<FlushRequest>(request) &&
           !std::holds_alternative<ReleaseRequest>(request) && !std::holds_alternative<OpendirRequest>(request) &&
           !std::holds_alternative<ReaddirRequest>(request) && !std::holds_alternative<ReaddirplusRequest>(request) &&
           !std::holds_alternative<ReleasedirRequest>(request) && !std::holds_alternative<StatfsRequest>(request) &&
           !std::holds_alternative<AccessRequest>(request) && !std::holds_alternative<GetlkRequest>(request) &&
           !std::holds_alternative<PrimeRequest>(request);
}

uint64_t HomeFsOps::read_attrs_generation(HomeFs& self) {
    std::lock_guard lock(self.read_attrs_mu_);
    return self.read_attrs_generation_;
}

void HomeFsOps::forget_read_attrs(HomeFs& self) {
    std::lock_guard lock(self.read_attrs_mu_);
    ++self.read_attrs_generation_;
    self.read_attrs_.clear();
}

void HomeFsOps::forget_read_attrs_of(HomeFs& self, uint64_t node) {
    std::lock_guard lock(self.read_attrs_mu_);
    self.read_attrs_.erase(node);
}

void HomeFsOps::keep_read_attrs(HomeFs& self, uint64_t node, const Attr& attr, uint64_t generation) {
    const auto until = HomeFs::Clock::now() + std::chrono::duration_cast<HomeFs::Clock::duration>(
                                                  std::chrono::duration<double>(self.options_.attr_timeout));
    std::lock_guard lock(self.read_attrs_mu_);
    if (generation == self.read_attrs_generation_) self.read_attrs_[node] = {attr, until};
}

std::optional<std::pair<Attr, double>> HomeFsOps::kept_read_attrs(HomeFs& self, uint64_t node) {
    std::lock_guard lock(self.read_attrs_mu_);
    auto it = self.read_attrs_.find(node);
    if (it == self.read_attrs_.end()) return std::nullopt;
    const double left = std::chrono::duration<double>(it->second.until - HomeFs::Clock::now()).count();
    if (left <= 0) {
        self.read_attrs_.erase(it);
        return std::nullopt;
    }
    return std::make_pair(it->second.attr, left);
}

}  // namespace ssi::remote
