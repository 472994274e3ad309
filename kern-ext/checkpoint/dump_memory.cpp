// Memory: every mapping of /proc/PID/maps with its position and protection, and the
// contents of every readable one through process_vm_readv. The kernel's own mappings
// ([vdso], [vvar], ...) are recorded by position only: a restore moves the running
// kernel's there. Pages that cannot be read (a file mapping past its file's end) are
// saved as zeros.
#include "kern-ext/checkpoint/steps.h"

#include <sys/mman.h>

namespace ssi::ckpt {

Result<void> dump_memory(pid_t pid, ProcessImage& image) {
    for (const MapsEntry& e : TRY(read_maps(pid))) {
        if (e.is_kernel()) {
            if (e.path != "[vsyscall]") image.kernel_mappings.push_back({e.path, e.start, e.end});
            continue;
        }
        MemoryMapping m;
        m.start = e.start;
        m.end = e.end;
        m.prot = (e.perms[0] == 'r' ? PROT_READ : 0) | (e.perms[1] == 'w' ? PROT_WRITE : 0) |
                 (e.perms[2] == 'x' ? PROT_EXEC : 0);
        m.shared = e.perms[3] == 's';
        m.grows_down = e.path == "[stack]";
        m.offset = e.offset;
        m.path = e.path;
        if (m.readable()) {
            m.contents = TRY(Buffer::create(m.size()));
            TRY(read_remote_with_holes(pid, RemotePtr{m.start}, {m.contents.data(), m.contents.size()}));
        }
        image.mappings.push_back(std::move(m));
    }
    return ok();
}

}  // namespace ssi::ckpt
