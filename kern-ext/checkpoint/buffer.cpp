#include "kern-ext/checkpoint/buffer.h"

#include <sys/mman.h>

#include <string>

namespace ssi {

Result<Buffer> Buffer::create(size_t size) {
    if (size == 0) return Buffer();
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return sys_error("mmap", std::to_string(size) + " bytes for a buffer");
    // Advice only: without transparent huge pages the buffer is just slower to fill.
    // Populated up front, in huge pages where possible: one kernel call instead of a
    // page fault per 4 KiB while a process is frozen and we copy its memory in.
    if (size >= (2u << 20)) {
        (void)::madvise(p, size, MADV_HUGEPAGE);
        (void)::madvise(p, size, 23 /* MADV_POPULATE_WRITE, Linux 5.14 */);
    }
    // A restore forks a child that unmaps all it inherited: no need to copy our images.
    (void)::madvise(p, size, MADV_DONTFORK);
    return Buffer(static_cast<char*>(p), size);
}

void Buffer::release() {
    if (data_ != nullptr) ::munmap(data_, size_);
    data_ = nullptr;
    size_ = 0;
}

}  // namespace ssi
