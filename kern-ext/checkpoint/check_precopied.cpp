// An image with pre-copied mappings carries only the pages written since the pre-copy:
// the rest is in the process it was pre-copied into, which alone can be rebuilt from it.
// Checked before anything is touched: each such mapping is there, anonymous and private,
// over its whole range (adjacent areas may have merged, so several entries may cover one
// mapping, or one entry several; the deputy gave each the program's protection).
#include "kern-ext/checkpoint/steps.h"

namespace ssi::ckpt {

namespace {

bool covered(const std::vector<MapsEntry>& maps, const MemoryMapping& m) {
    uint64_t at = m.start;
    for (const MapsEntry& e : maps) {
        if (e.end <= at || e.start > at) continue;
        if (e.perms.size() < 4 || e.perms[3] != 'p' || !e.path.empty()) return false;
        at = e.end;
        if (at >= m.end) return true;
    }
    return false;
}

}  // namespace

uint32_t current_protection(const std::vector<MapsEntry>& maps, PageRun run) {
    uint32_t prot = ~0u;
    for (const MapsEntry& e : maps) {
        if (e.end <= run.start || e.start >= run.end) continue;
        if (prot != ~0u && prot != e.prot()) return ~0u;
        prot = e.prot();
    }
    return prot;
}

Result<void> check_precopied(pid_t target, const ProcessImage& image) {
    bool any = false;
    for (const MemoryMapping& m : image.mappings) any = any || m.precopied;
    if (!any) return ok();
    if (target == 0)
        return make_error("restore", "the image's memory was pre-copied into the process it was sent to: "
                                     "only that process can be rebuilt from it", ENOTSUP);
    const std::vector<MapsEntry> maps = TRY(read_maps(target));
    for (const MemoryMapping& m : image.mappings)
        if (m.precopied && !covered(maps, m))
            return make_error("restore", "pid " + std::to_string(target) + " lacks the pre-copied memory the image needs", EINVAL);
    return ok();
}

}  // namespace ssi::ckpt
