// Post-copy (lazy_memory.h): the mappings map_image_memory left empty are registered with
// a userfaultfd of the process's own (an injected call, taken with pidfd_getfd and closed
// in the process again), and handed to RestoreOptions::lazy_memory, which must be filling
// them before any later step touches them (rseq's registration writes into its area).
// Not UFFD_USER_MODE_ONLY: the kernel's own touches (read(2) into a buffer, a forwarded
// call's process_vm_readv) must wait for the page like the program's. That needs
// CAP_SYS_PTRACE, which the process still has here: credentials are dropped last.
#include "kern-ext/checkpoint/lazy_memory.h"
#include "kern-ext/checkpoint/steps.h"
#include "kern-ext/pidfd.h"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

namespace ssi::ckpt {

Result<void> register_lazy_memory(RemoteSyscaller& sys, const ProcessImage& image, const RestoreOptions& options) {
    if (!options.lazy_memory) return ok();
    std::vector<PageRun> areas;
    for (const MemoryMapping& m : image.mappings)
        if (m.readable() && !m.precopied) areas.push_back({m.start, m.end});
    const uint64_t theirs = TRY(sys.call("userfaultfd (in the process)", SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
    auto ours = [&]() -> Result<UniqueFd> { return TRY(Pidfd::open(sys.pid())).get_fd(int(theirs)); }();
    TRY(sys.call("close (in the process)", SYS_close, theirs));
    UniqueFd uffd = TRY(std::move(ours));
    uffdio_api api{};
    api.api = UFFD_API;
    if (::ioctl(uffd.get(), UFFDIO_API, &api) != 0) return Error{"UFFDIO_API", errno, {}};
    for (const PageRun& a : areas) {
        uffdio_register reg{};
        reg.range = {a.start, a.size()};
        reg.mode = UFFDIO_REGISTER_MODE_MISSING;
        if (::ioctl(uffd.get(), UFFDIO_REGISTER, &reg) != 0) return Error{"UFFDIO_REGISTER", errno, {}};
    }
    return options.lazy_memory(LazyMemory(std::move(uffd), std::move(areas)));
}

}  // namespace ssi::ckpt
