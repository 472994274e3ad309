// Resource limits, by injected prlimit64 in the restored process while it still has the
// restorer's capabilities (before restore_credentials): the image may hold hard limits
// above what the child inherited, which only CAP_SYS_RESOURCE may raise. When the
// process is rebuilt for someone else (RestoreOptions::credentials), no limit is raised
// above the child's inherited hard limit: an image, which its owner may have crafted,
// must not buy them limits they could not set themselves.
#include "kern-ext/checkpoint/steps.h"

#include <sys/resource.h>
#include <sys/syscall.h>

#include <algorithm>

namespace ssi::ckpt {

Result<void> restore_rlimits(RemoteSyscaller& sys, const RestoreRegion& region, const ProcessImage& image,
                             const RestoreOptions& options) {
    const pid_t pid = sys.pid();
    for (int r = 0; r < int(image.attributes.rlimits.size()); ++r) {
        ResourceLimit want = image.attributes.rlimits[size_t(r)];
        // Read from outside when we may (each injected call costs ~60 us of a freeze):
        // prlimit on another user's process needs CAP_SYS_RESOURCE, which the restorer
        // may lack (restore_into a user's own process); else asked from inside.
        rlimit now{};
        if (::prlimit(pid, __rlimit_resource(r), nullptr, &now) != 0) {
            TRY(sys.call("prlimit64", SYS_prlimit64, 0, uint64_t(r), 0, region.scratch().addr));
            TRY(read_remote(pid, region.scratch(), {reinterpret_cast<char*>(&now), sizeof now}));
        }
        if (options.credentials) {
            want.hard = std::min<uint64_t>(want.hard, now.rlim_max);
            want.soft = std::min(want.soft, want.hard);
        }
        if (want.soft == now.rlim_cur && want.hard == now.rlim_max) continue;
        rlimit l{want.soft, want.hard};
        TRY(write_remote(pid, region.scratch(), {reinterpret_cast<const char*>(&l), sizeof l}));
        auto set = sys.call("prlimit64", SYS_prlimit64, 0, uint64_t(r), region.scratch().addr, 0);
        if (!set) {
            Error e = set.error();
            e.context += ", resource " + std::to_string(r) + " = " + std::to_string(want.soft) + "/" + std::to_string(want.hard);
            return e;
        }
    }
    return ok();
}

}  // namespace ssi::ckpt
