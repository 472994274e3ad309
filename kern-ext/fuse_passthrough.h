// FUSE passthrough (Linux 6.9+): a FUSE daemon names a file of its own as the backing of
// an open, and the kernel then reads and maps that file directly — no READ through the
// daemon, and the backing file's page cache, which outlives any one mount. Debian 12's
// headers and libfuse 3.14 predate it, so its few kernel-facing pieces are defined here.
#pragma once

#include "kern-ext/result.h"

#include <cstdint>
#include <span>

namespace ssi {

// An open reply's flags (FOPEN_*) a passthrough open may have: send no FLUSH at close,
// and read through the backing file named by backing_id (the kernel fails the open with
// EIO if it has others, FOPEN_KEEP_CACHE among them).
inline constexpr uint32_t kFuseOpenNoflush = 1u << 5;
inline constexpr uint32_t kFuseOpenPassthrough = 1u << 7;

// The body of an OPEN reply with passthrough (struct fuse_open_out since protocol 7.40;
// backing_id was padding before).
struct FuseOpenOut {
    uint64_t fh = 0;
    uint32_t open_flags = 0;
    int32_t backing_id = 0;
};
static_assert(sizeof(FuseOpenOut) == 16);

// Asks for passthrough in the daemon's INIT reply (struct fuse_init_out, as sent): the
// extended flags and the stack depth a backing file may have below the mount. A kernel
// without it ignores both. False if `init_out` is not a whole fuse_init_out.
bool ask_passthrough_in_init_reply(std::span<char> init_out);

// Registers `file_fd` with the FUSE connection of `fuse_device_fd` (/dev/fuse) as a
// backing file; its id goes in open replies until closed. Needs CAP_SYS_ADMIN, and fails
// with EPERM if the connection's init did not agree to passthrough.
Result<int> open_fuse_backing(int fuse_device_fd, int file_fd);
Result<void> close_fuse_backing(int fuse_device_fd, int backing_id);

}  // namespace ssi
