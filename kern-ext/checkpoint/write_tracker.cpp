// WriteTracker (write_tracker.h). The userfaultfd must be the process's own: the syscall
// registers the caller's memory, so it is injected (at the borrowed rip, as checkpoint's
// dump_injected_state does), taken with pidfd_getfd and closed in the process again.
// UFFD_USER_MODE_ONLY lets an unprivileged process open one whatever
// vm.unprivileged_userfaultfd says; asynchronous protection serves no faults, so it
// changes nothing here (a write from the kernel, read(2) into a protected page, lifts the
// protection the same way).
#include "kern-ext/checkpoint/write_tracker.h"

#include "kern-ext/checkpoint/borrowed_rip.h"
#include "kern-ext/checkpoint/steps.h"
#include "kern-ext/file_ops.h"
#include "kern-ext/pidfd.h"

#include <fcntl.h>
#include <linux/types.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

#include <algorithm>
#include <cerrno>

// Linux 6.7's ABI, newer than Debian 12's headers.
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef PAGEMAP_SCAN
struct page_region {
    __u64 start, end, categories;
};
struct pm_scan_arg {
    __u64 size, flags, start, end, walk_end, vec, vec_len, max_pages;
    __u64 category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#define PAGE_IS_WRITTEN (1 << 1)
#define PM_SCAN_WP_MATCHING (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)
#endif

namespace ssi {

namespace {

Result<void> uffd_ioctl(int fd, unsigned long request, void* arg, const char* name) {
    if (::ioctl(fd, request, arg) != 0) return Error{name, errno, {}};
    return ok();
}

// The process's own userfaultfd, as a descriptor of ours.
Result<UniqueFd> take_userfaultfd(pid_t pid) {
    SeizedTask task = TRY(SeizedTask::seize_and_stop(pid));
    Registers regs = TRY(ptrace_get_regs(pid));
    ckpt::BorrowedRip borrowed = TRY(ckpt::BorrowedRip::create(pid, regs));
    RemoteSyscaller sys = borrowed.syscaller();
    const uint64_t theirs =
        TRY(sys.call("userfaultfd (in the process)", SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY));
    auto ours = [&]() -> Result<UniqueFd> { return TRY(Pidfd::open(pid)).get_fd(int(theirs)); }();
    TRY(sys.call("close (in the process)", SYS_close, theirs));
    TRY(borrowed.give_back());
    return ours;
}

}  // namespace

Result<WriteTracker> WriteTracker::start(pid_t pid, std::span<const PageRun> areas) {
    UniqueFd pagemap = TRY(open_at(AT_FDCWD, "/proc/" + std::to_string(pid) + "/pagemap", O_RDONLY | O_CLOEXEC));
    UniqueFd uffd = TRY(take_userfaultfd(pid));
    uffdio_api api{};
    api.api = UFFD_API;
    api.features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED;
    TRY(uffd_ioctl(uffd.get(), UFFDIO_API, &api, "UFFDIO_API (asynchronous write-protection, Linux 6.7)"));
    std::vector<PageRun> tracked;
    for (const PageRun& a : areas) {
        uffdio_register reg{};
        reg.range = {a.start, a.size()};
        reg.mode = UFFDIO_REGISTER_MODE_WP;
        if (auto registered = uffd_ioctl(uffd.get(), UFFDIO_REGISTER, &reg, "UFFDIO_REGISTER"); !registered) {
            // The process runs on: the area may be unmapped or changed since it was read
            // (EINVAL: no longer one mapping; ENOMEM: not mapped). Not followed, it comes
            // whole with the image.
            if (registered.error().err == EINVAL || registered.error().err == ENOMEM) continue;
            return registered.error();
        }
        uffdio_writeprotect wp{};
        wp.range = {a.start, a.size()};
        wp.mode = UFFDIO_WRITEPROTECT_MODE_WP;
        TRY(uffd_ioctl(uffd.get(), UFFDIO_WRITEPROTECT, &wp, "UFFDIO_WRITEPROTECT"));
        tracked.push_back(a);
    }
    return WriteTracker(pid, std::move(uffd), std::move(pagemap), std::move(tracked));
}

bool WriteTracker::tracks(PageRun area) const { return std::find(areas_.begin(), areas_.end(), area) != areas_.end(); }

void WriteTracker::forget(PageRun area) { std::erase(areas_, area); }

Result<std::vector<PageRun>> WriteTracker::take_written(PageRun area) {
    std::vector<PageRun> out;
    page_region found[512];
    for (uint64_t at = area.start; at < area.end;) {
        pm_scan_arg arg{};
        arg.size = sizeof arg;
        arg.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;
        arg.start = at;
        arg.end = area.end;
        arg.vec = reinterpret_cast<uint64_t>(found);
        arg.vec_len = std::size(found);
        arg.category_mask = PAGE_IS_WRITTEN;
        arg.return_mask = PAGE_IS_WRITTEN;
        long n = ::ioctl(pagemap_.get(), PAGEMAP_SCAN, &arg);
        if (n < 0) return Error{"PAGEMAP_SCAN", errno, "pid " + std::to_string(pid_)};
        for (long i = 0; i < n; ++i) {
            if (!out.empty() && out.back().end == found[i].start) out.back().end = found[i].end;
            else out.push_back({found[i].start, found[i].end});
        }
        // The walk stops early when the vector is full.
        if (arg.walk_end <= at) break;
        at = arg.walk_end;
    }
    return out;
}

Result<std::vector<PrivateArea>> private_readable_areas(pid_t pid) {
    std::vector<PrivateArea> out;
    for (const ckpt::MapsEntry& e : TRY(ckpt::read_maps(pid))) {
        if (e.is_kernel() || e.path == "[stack]" || e.perms.size() < 4) continue;
        if (e.perms[0] != 'r' || e.perms[3] != 'p') continue;
        out.push_back({{e.start, e.end}, e.prot()});
    }
    return out;
}

}  // namespace ssi
