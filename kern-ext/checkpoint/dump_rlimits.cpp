// Resource limits, read by the process itself: injected prlimit64(0, r, NULL, scratch)
// (run from dump_injected_state). From outside, prlimit(pid) on another user's process
// needs CAP_SYS_RESOURCE, which root may lack (containers drop it; found on our test
// host); a process may always read its own limits.
#include "kern-ext/checkpoint/steps.h"

#include <sys/resource.h>
#include <sys/syscall.h>

namespace ssi::ckpt {

Result<void> dump_rlimits(RemoteSyscaller& sys, RemotePtr scratch, ProcessImage& image) {
    for (int r = 0; r < int(image.attributes.rlimits.size()); ++r) {
        TRY(sys.call("prlimit64", SYS_prlimit64, 0, uint64_t(r), 0, scratch.addr));
        rlimit l{};
        TRY(read_remote(sys.pid(), scratch, {reinterpret_cast<char*>(&l), sizeof l}));
        image.attributes.rlimits[size_t(r)] = ResourceLimit{l.rlim_cur, l.rlim_max};
    }
    return ok();
}

}  // namespace ssi::ckpt
