// Memory: every mapping of /proc/PID/maps with its position and protection, and the
// contents of every readable one through process_vm_readv (or, streaming, only where
// they are: the stopped process itself, read as the image is saved). The kernel's own mappings
// ([vdso], [vvar], ...) are recorded by position only: a restore moves the running
// kernel's there. Pages that cannot be read (a file mapping past its file's end) are
// saved as zeros. Which areas use transparent huge pages is kept, so that a restore
// gives them huge pages again, and only them. After a pre-copy, a mapping the tracker
// followed is saved as the runs of pages written since (write_tracker.h).
#include "kern-ext/checkpoint/steps.h"
#include "kern-ext/checkpoint/write_tracker.h"

#include <sys/mman.h>

#include <algorithm>

namespace ssi::ckpt {

Result<void> dump_memory(pid_t pid, ProcessImage& image, bool contents, WriteTracker* precopied,
                         const std::optional<std::vector<uint64_t>>& known_huge) {
    if (!contents) image.memory_from = pid;
    const std::vector<uint64_t> huge = known_huge ? *known_huge : TRY(read_huge_page_areas(pid));
    for (const MapsEntry& e : TRY(read_maps(pid))) {
        if (e.is_kernel()) {
            if (e.path != "[vsyscall]") image.kernel_mappings.push_back({e.path, e.start, e.end});
            continue;
        }
        MemoryMapping m;
        m.start = e.start;
        m.end = e.end;
        m.prot = e.prot();
        m.shared = e.perms[3] == 's';
        m.grows_down = e.path == "[stack]";
        m.huge_pages = std::find(huge.begin(), huge.end(), e.start) != huge.end();
        m.offset = e.offset;
        m.path = e.path;
        if (precopied && m.readable() && precopied->tracks({m.start, m.end})) {
            // Where the pre-copy went, only what was written since; an area that is not
            // the one tracked any more (mapped anew) is saved whole.
            if (auto runs = precopied->take_written({m.start, m.end})) {
                m.precopied = true;
                m.runs = std::move(*runs);
            } else {
                precopied->forget({m.start, m.end});
            }
        }
        if (m.readable() && contents) {
            m.contents = TRY(Buffer::create(m.saved_bytes()));
            uint64_t at = 0;
            for (PageRun r : m.precopied ? m.runs : std::vector<PageRun>{{m.start, m.end}}) {
                TRY(read_remote_with_holes(pid, RemotePtr{r.start}, {m.contents.data() + at, r.size()}));
                at += r.size();
            }
        }
        image.mappings.push_back(std::move(m));
    }
    return ok();
}

}  // namespace ssi::ckpt
