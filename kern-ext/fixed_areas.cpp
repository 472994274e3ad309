#include "kern-ext/fixed_areas.h"

#include "kern-ext/checkpoint/remote_memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace ssi {

namespace {
constexpr uint64_t kPage = 4096;
constexpr uint64_t kUserTop = 0x7ffffffff000ull;  // 47-bit user address space
}  // namespace

bool FixedAreas::map(PageRun area, uint32_t prot, bool huge) {
    if (sealed_ || area.end <= area.start || area.end > kUserTop || area.start < (1ull << 16) || (area.start | area.end) % kPage)
        return false;
    void* at = reinterpret_cast<void*>(area.start);
    void* got = ::mmap(at, area.size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (got == MAP_FAILED) return false;
    if (got != at) {  // a kernel without MAP_FIXED_NOREPLACE put it elsewhere
        ::munmap(got, area.size());
        return false;
    }
    if (huge) (void)::madvise(at, area.size(), MADV_HUGEPAGE);  // advice only
    areas_.push_back({area, prot & (PROT_READ | PROT_WRITE | PROT_EXEC)});
    return true;
}

Result<void> FixedAreas::write(uint64_t address, std::span<const char> data) {
    auto inside = std::find_if(areas_.begin(), areas_.end(), [&](const Area& a) {
        return address >= a.run.start && address < a.run.end && data.size() <= a.run.end - address;
    });
    if (inside == areas_.end() || sealed_)
        return make_error("pre-copy", "a write outside the areas held for it", EFAULT);
    // Not memcpy: the areas are fresh, and a page fault taken by a store costs ~14 us per
    // 4 KiB page on this VM (256 MiB in ~0.7 s), while the kernel copying into our own
    // pages (process_vm_writev, which faults them in without a trap each) takes ~75 ms.
    return write_remote(::getpid(), RemotePtr{address}, data);
}

void FixedAreas::release() {
    for (const Area& a : areas_) ::munmap(reinterpret_cast<void*>(a.run.start), a.run.size());
    areas_.clear();
    sealed_ = false;
}

void FixedAreas::seal() {
    for (const Area& a : areas_)
        if (a.prot != (PROT_READ | PROT_WRITE)) (void)::mprotect(reinterpret_cast<void*>(a.run.start), a.run.size(), int(a.prot));
    sealed_ = true;
}

}  // namespace ssi
