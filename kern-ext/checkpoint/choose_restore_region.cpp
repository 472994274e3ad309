// Where a restore's own pages go: an address range free in the process being rebuilt
// (the caller, for the child restore() forks; the target of restore_into) and in the
// image, so that it survives clearing that process's layout and does not collide with
// any mapping being rebuilt. It holds the `syscall; int3` gadget, a
// scratch page for system call arguments, and a parking place for the child's vdso.
#include "kern-ext/checkpoint/steps.h"

#include <algorithm>
#include <utility>

namespace ssi::ckpt {

Result<RestoreRegion> choose_restore_region(pid_t whose, const ProcessImage& image) {
    std::vector<std::pair<uint64_t, uint64_t>> used;
    uint64_t kernel_low = ~0ull, kernel_high = 0;
    for (const MapsEntry& e : TRY(read_maps(whose))) {
        used.emplace_back(e.start, e.end);
        if (e.is_kernel() && e.path != "[vsyscall]") {
            kernel_low = std::min(kernel_low, e.start);
            kernel_high = std::max(kernel_high, e.end);
        }
    }
    for (const auto& m : image.mappings) used.emplace_back(m.start, m.end);
    for (const auto& k : image.kernel_mappings) used.emplace_back(k.start, k.end);
    std::sort(used.begin(), used.end());

    const uint64_t page = 4096, guard = page;
    uint64_t size = 2 * page + (kernel_high > kernel_low ? kernel_high - kernel_low : 0);
    uint64_t candidate = 1ull << 20;  // above anything mmap_min_addr forbids
    for (const auto& [start, end] : used) {
        if (candidate + size + guard <= start) break;
        candidate = std::max(candidate, end + guard);
    }
    if (candidate + size > 0x7ffffffff000ull) return make_error("choose restore region", "no free address range", ENOMEM);
    return RestoreRegion{candidate, size};
}

}  // namespace ssi::ckpt
