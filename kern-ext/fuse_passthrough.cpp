#include "kern-ext/fuse_passthrough.h"

#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace ssi {

namespace {

// From <linux/fuse.h> of Linux 6.9+.
struct FuseBackingMap {
    int32_t fd = 0;
    uint32_t flags = 0;
    uint64_t padding = 0;
};
constexpr unsigned kFuseDevIocMagic = 229;
constexpr unsigned long kBackingOpen = _IOW(kFuseDevIocMagic, 1, FuseBackingMap);
constexpr unsigned long kBackingClose = _IOW(kFuseDevIocMagic, 2, uint32_t);

// struct fuse_init_out: flags at 12, flags2 at 32, max_stack_depth at 36; 64 bytes.
constexpr size_t kInitOutSize = 64, kFlagsAt = 12, kFlags2At = 32, kMaxStackDepthAt = 36;
constexpr uint32_t kInitExt = 1u << 30;           // FUSE_INIT_EXT: flags2 is meant
constexpr uint32_t kPassthroughFlag2 = 1u << 5;   // FUSE_PASSTHROUGH (bit 37) in flags2
// FILESYSTEM_MAX_STACK_DEPTH: the backing file may itself be on a stacked filesystem
// (an overlay) — but nothing can then be stacked on the mount, which nothing does.
constexpr uint32_t kMaxStackDepth = 2;

void or_u32(std::span<char> bytes, size_t at, uint32_t bits) {
    uint32_t v;
    std::memcpy(&v, bytes.data() + at, sizeof v);
    v |= bits;
    std::memcpy(bytes.data() + at, &v, sizeof v);
}

}  // namespace

bool ask_passthrough_in_init_reply(std::span<char> init_out) {
    if (init_out.size() < kInitOutSize) return false;
    or_u32(init_out, kFlagsAt, kInitExt);
    or_u32(init_out, kFlags2At, kPassthroughFlag2);
    std::memcpy(init_out.data() + kMaxStackDepthAt, &kMaxStackDepth, sizeof kMaxStackDepth);
    return true;
}

Result<int> open_fuse_backing(int fuse_device_fd, int file_fd) {
    FuseBackingMap map;
    map.fd = file_fd;
    int id = ::ioctl(fuse_device_fd, kBackingOpen, &map);
    if (id < 0) return sys_error("ioctl(FUSE_DEV_IOC_BACKING_OPEN)", "fd " + std::to_string(file_fd));
    return id;
}

Result<void> close_fuse_backing(int fuse_device_fd, int backing_id) {
    uint32_t id = uint32_t(backing_id);
    if (::ioctl(fuse_device_fd, kBackingClose, &id) < 0)
        return sys_error("ioctl(FUSE_DEV_IOC_BACKING_CLOSE)", "id " + std::to_string(backing_id));
    return ok();
}

}  // namespace ssi
