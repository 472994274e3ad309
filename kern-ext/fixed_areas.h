// FixedAreas: memory of our own at addresses another process chose. A deputy receiving
// its program's pre-copy (docs/migration.md, "Pre-copy") holds the program's areas at
// the program's addresses, so that when the program is rebuilt in the deputy, that
// memory is already in place, filled, and its pages faulted in while the program still
// ran elsewhere. Unmapped on destruction or release(); kept by keep() (a parked deputy
// hands them to the rebuild, which keeps what the image says was pre-copied).
#pragma once

#include "kern-ext/checkpoint/page_run.h"
#include "kern-ext/result.h"

#include <span>
#include <vector>

namespace ssi {

class FixedAreas {
public:
    FixedAreas() = default;
    FixedAreas(const FixedAreas&) = delete;
    FixedAreas& operator=(const FixedAreas&) = delete;
    ~FixedAreas() { release(); }

    // Maps `area` readable and writable, private and anonymous, only where nothing of
    // ours is (MAP_FIXED_NOREPLACE): false when something is, or the range is not a
    // page-aligned user range. `prot` is the protection seal() gives it. `huge`: asks for
    // transparent huge pages there (the process it is for had them: it keeps them, and
    // they fault in far faster).
    bool map(PageRun area, uint32_t prot, bool huge);
    // Copies `data` to `address`, which must lie inside one mapped area.
    Result<void> write(uint64_t address, std::span<const char> data);
    void release();
    // Each area gets its own protection, while the program still runs elsewhere: the
    // rebuild then changes none that still matches (each change there is a call injected
    // into a stopped process). No write is taken after.
    void seal();
    // The areas stay when we are gone (a parked deputy hands them to the rebuild).
    void keep() { areas_.clear(); }

private:
    struct Area {
        PageRun run;
        uint32_t prot;
    };
    std::vector<Area> areas_;
    bool sealed_ = false;
};

}  // namespace ssi
