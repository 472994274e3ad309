// Which pages a running process writes: the ground of a migration's pre-copy
// (docs/migration.md, "Pre-copy"). This kernel has no soft-dirty bits; userfaultfd's
// asynchronous write-protection (UFFD_FEATURE_WP_ASYNC, Linux 6.7) does the same job: a
// write to a protected page is not a fault anyone serves, the kernel just lifts the
// protection, and the PAGEMAP_SCAN ioctl on /proc/PID/pagemap lists the pages whose
// protection was lifted and protects them again in the same call.
//
//   WriteTracker tracker = TRY(WriteTracker::start(pid, areas));  // the process runs on
//   ... read the areas while it runs ...
//   std::vector<PageRun> again = TRY(tracker.take_written(area));  // written since
#pragma once

#include "kern-ext/checkpoint/page_run.h"
#include "kern-ext/result.h"
#include "kern-ext/unique_fd.h"

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <vector>

namespace ssi {

class WriteTracker {
public:
    // Stops `pid` a moment (seized), has it open a userfaultfd that we take and it closes,
    // registers `areas` (private mappings) for asynchronous write-protection,
    // protects them, and lets it go. The process sees nothing of this but the time. An
    // area the process unmapped or changed meanwhile (it runs on) is left out: areas()
    // says which are followed.
    static Result<WriteTracker> start(pid_t pid, std::span<const PageRun> areas);

    // The pages of `area` written since the last look (or the start), protected again in
    // the same call, in address order. Fails (EPERM) when `area` is not what the tracker
    // protects any more (unmapped and mapped again: new memory, never protected).
    Result<std::vector<PageRun>> take_written(PageRun area);

    const std::vector<PageRun>& areas() const { return areas_; }
    // `area` is one the tracker was started on, exactly.
    bool tracks(PageRun area) const;
    // Stop reporting `area` (its pages are to be sent whole).
    void forget(PageRun area);

private:
    WriteTracker(pid_t pid, UniqueFd uffd, UniqueFd pagemap, std::vector<PageRun> areas)
        : pid_(pid), uffd_(std::move(uffd)), pagemap_(std::move(pagemap)), areas_(std::move(areas)) {}
    pid_t pid_;
    UniqueFd uffd_;     // closing it ends the tracking: the kernel unregisters every area
    UniqueFd pagemap_;  // /proc/PID/pagemap, where PAGEMAP_SCAN asks
    std::vector<PageRun> areas_;
};

// The process's private readable mappings (not the stack, which grows, nor the kernel's
// own), with their protection: the candidates for pre-copy. Read-only and code mappings
// too: an image carries their contents like any other's, and asynchronous protection
// follows any kind of memory.
struct PrivateArea {
    PageRun run;
    uint32_t prot = 0;  // PROT_READ | PROT_WRITE | PROT_EXEC
};
Result<std::vector<PrivateArea>> private_readable_areas(pid_t pid);

}  // namespace ssi
