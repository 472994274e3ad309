// Rebuild every mapping at its address: an anonymous private mapping (file-backed ones
// too, as copies of their saved contents, in this first version), filled through
// process_vm_writev, then given its saved protection. Pages that are all zero are not
// written: a fresh anonymous page already is, and not touching it saves a page fault.
// Large areas get MADV_HUGEPAGE, and each large run of pages is populated in the child by
// MADV_POPULATE_WRITE before it is written: faulting pages one by one through
// process_vm_writev ran at ~0.6 GB/s here (110 ms for 64 MiB), populating huge pages
// first brought it to ~3 GB/s (20 ms). The price: the VM_HUGEPAGE flag on those areas of
// the restored process.
#include "kern-ext/checkpoint/steps.h"

#include <sys/mman.h>
#include <sys/syscall.h>

#include <cstring>

namespace ssi::ckpt {

namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kHugeAdviceMin = 4ull << 20;
constexpr int kMadvPopulateWrite = 23;  // Linux 5.14; older kernels just skip it

bool zero_page(const char* p) {
    const uint64_t* w = reinterpret_cast<const uint64_t*>(p);
    uint64_t acc = 0;
    for (size_t i = 0; i < kPage / 8; ++i) acc |= w[i];
    return acc == 0;
}

// Writes the runs of non-zero pages of `m` into the child.
Result<void> write_contents(RemoteSyscaller& sys, const MemoryMapping& m) {
    const pid_t pid = sys.pid();
    const char* data = m.contents.data();
    uint64_t n = m.size();
    uint64_t at = 0;
    while (at < n) {
        while (at < n && zero_page(data + at)) at += kPage;
        uint64_t run = at;
        while (run < n && !zero_page(data + run)) run += kPage;
        if (run - at >= kHugeAdviceMin) (void)sys.raw(SYS_madvise, m.start + at, run - at, kMadvPopulateWrite);
        if (run > at) TRY(write_remote(pid, RemotePtr{m.start + at}, {data + at, run - at}));
        at = run;
    }
    return ok();
}

}  // namespace

Result<void> map_image_memory(RemoteSyscaller& sys, const ProcessImage& image) {
    for (const MemoryMapping& m : image.mappings) {
        int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | (m.grows_down ? MAP_GROWSDOWN : 0);
        uint32_t first_prot = m.readable() ? PROT_READ | PROT_WRITE : m.prot;
        uint64_t at = TRY(sys.call("mmap", SYS_mmap, m.start, m.size(), first_prot, uint64_t(flags), uint64_t(-1), 0));
        if (at != m.start) return make_error("mmap", "mapping landed at the wrong address", EFAULT);
        if (!m.readable()) continue;
        if (m.size() >= kHugeAdviceMin) (void)sys.raw(SYS_madvise, m.start, m.size(), MADV_HUGEPAGE);
        TRY(write_contents(sys, m));
        if (m.prot != (PROT_READ | PROT_WRITE)) TRY(sys.call("mprotect", SYS_mprotect, m.start, m.size(), m.prot));
    }
    return ok();
}

}  // namespace ssi::ckpt
