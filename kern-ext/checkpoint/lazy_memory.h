// Post-copy (docs/migration.md, "Post-copy"): a process rebuilt before its memory has
// arrived. Its readable mappings are mapped, left empty and registered with a userfaultfd
// in missing mode: the first touch of a page — by the process, by the kernel on its
// behalf, or by process_vm_readv from outside — waits until the page is filled. Whoever
// restores with RestoreOptions::lazy_memory gets a LazyMemory and must fill every page
// from then on, from another thread (the restore's own steps touch the memory too).
//
//   restore options.lazy_memory = [&](LazyMemory m) { start a filler thread with m; };
//   filler: while (auto page = m.next_fault()) fetch around it, m.fill(...), m.settle(page);
//           in the background m.fill() the rest; then m.finish().
#pragma once

#include "kern-ext/checkpoint/page_run.h"
#include "kern-ext/result.h"
#include "kern-ext/unique_fd.h"

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace ssi {

class LazyMemory {
public:
    static constexpr uint64_t kPage = 4096;

    LazyMemory(UniqueFd uffd, std::vector<PageRun> areas) : uffd_(std::move(uffd)), areas_(std::move(areas)) {}

    // Readable when a thread waits for a page (poll it with POLLIN).
    int fd() const { return uffd_.get(); }
    // The registered mappings, in address order.
    const std::vector<PageRun>& areas() const { return areas_; }

    // The page a thread waits for, or nullopt when none waits now (never blocks).
    Result<std::optional<uint64_t>> next_fault();
    // [at, at + data.size()) filled with `data`, waking whoever waits there. All-zero pages
    // are left missing (zero_pages() says which; they read as zero once finish()ed);
    // pages already there are kept as they are, and so is a range the process unmapped
    // since. Fails with ESRCH once the process is gone.
    Result<void> fill(uint64_t at, std::span<const char> data);
    // After a fill for a thread waiting at `page`: if fill() left that page missing (it is
    // zero), it is mapped as the zero page; either way the waiter is woken. True when it
    // was zero.
    Result<bool> settle(uint64_t page);
    // Every page is there: the areas become ordinary memory again (closing the
    // userfaultfd unregisters them; a page still missing is then zero-filled).
    void finish() { uffd_.reset(); }
    bool finished() const { return !uffd_; }

private:
    Result<void> copy(uint64_t at, const char* data, uint64_t n);
    UniqueFd uffd_;
    std::vector<PageRun> areas_;
};

}  // namespace ssi
