// Empty the child: park its vdso/vvar inside the restore region, unmap everything it
// inherited from us outside that region (but pre-copied mappings, which it holds filled),
// then move the vdso/vvar to where the image had them. The restored code calls the vdso
// (clock_gettime...) at the image's addresses, and the vdso reaches its data pages
// ([vvar], [vvar_vclock]) at fixed offsets, so all of them move together. Same kernel,
// same sizes: anything else is refused.
#include "kern-ext/checkpoint/steps.h"

#include <sys/mman.h>
#include <sys/syscall.h>

#include <algorithm>

namespace ssi::ckpt {

namespace {
constexpr uint64_t kUserTop = 0x7ffffffff000ull;  // 47-bit user address space
}

Result<void> clear_child_layout(RemoteSyscaller& sys, const RestoreRegion& region, const ProcessImage& image) {
    std::vector<MapsEntry> kernel;
    for (MapsEntry& e : TRY(read_maps(sys.pid())))
        if (e.is_kernel() && e.path != "[vsyscall]") kernel.push_back(std::move(e));
    if (kernel.size() != image.kernel_mappings.size())
        return make_error("restore vdso", "the image's vdso/vvar layout differs from this kernel's (another kernel?)");
    for (size_t i = 0; i < kernel.size(); ++i)
        if (kernel[i].path != image.kernel_mappings[i].name ||
            kernel[i].end - kernel[i].start != image.kernel_mappings[i].end - image.kernel_mappings[i].start)
            return make_error("restore vdso", kernel[i].path + " differs in size or order from the image's (another kernel?)");

    // Park: same relative layout, inside the region.
    uint64_t base = kernel.empty() ? 0 : kernel.front().start;
    for (const MapsEntry& k : kernel)
        TRY(sys.call("mremap (park vdso)", SYS_mremap, k.start, k.end - k.start, k.end - k.start,
                     MREMAP_MAYMOVE | MREMAP_FIXED, region.parking() + (k.start - base)));
    // Everything else goes, but the region and the pre-copied mappings (already filled).
    std::vector<PageRun> keep{{region.start, region.end()}};
    for (const MemoryMapping& m : image.mappings)
        if (m.precopied) keep.push_back({m.start, m.end});
    std::sort(keep.begin(), keep.end(), [](PageRun a, PageRun b) { return a.start < b.start; });
    uint64_t at = 0;
    for (const PageRun& k : keep) {
        if (k.start > at) TRY(sys.call("munmap", SYS_munmap, at, k.start - at));
        at = std::max(at, k.end);
    }
    if (at < kUserTop) TRY(sys.call("munmap", SYS_munmap, at, kUserTop - at));
    // To the image's places.
    for (size_t i = 0; i < kernel.size(); ++i) {
        const KernelMapping& to = image.kernel_mappings[i];
        TRY(sys.call("mremap (place vdso)", SYS_mremap, region.parking() + (kernel[i].start - base), to.end - to.start,
                     to.end - to.start, MREMAP_MAYMOVE | MREMAP_FIXED, to.start));
    }
    return ok();
}

}  // namespace ssi::ckpt
