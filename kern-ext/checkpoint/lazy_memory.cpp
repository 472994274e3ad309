// LazyMemory (lazy_memory.h): the filler's side of a post-copy, on the userfaultfd of the
// rebuilt process.
#include "kern-ext/checkpoint/lazy_memory.h"
#include "kern-ext/checkpoint/nonzero_runs.h"

#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ssi {

Result<std::optional<uint64_t>> LazyMemory::next_fault() {
    for (;;) {
        uffd_msg msg{};
        ssize_t n = ::read(uffd_.get(), &msg, sizeof msg);
        if (n < 0) {
            if (errno == EAGAIN) return std::optional<uint64_t>{};
            if (errno == EINTR) continue;
            return Error{"read (userfaultfd)", errno, {}};
        }
        if (size_t(n) != sizeof msg) return make_error("read (userfaultfd)", "a short message", EIO);
        if (msg.event == UFFD_EVENT_PAGEFAULT) return std::optional<uint64_t>{msg.arg.pagefault.address & ~(kPage - 1)};
        // No other events were asked for (UFFDIO_API with no features).
    }
}

// UFFDIO_COPY of [at, at + n): it stops at a page that is there already (EEXIST), which
// is skipped; a range no longer registered (unmapped since, ENOENT) is nobody's to fill.
Result<void> LazyMemory::copy(uint64_t at, const char* data, uint64_t n) {
    const uint64_t end = at + n;
    while (at < end) {
        uffdio_copy c{};
        c.dst = at;
        c.src = reinterpret_cast<uint64_t>(data);
        c.len = end - at;
        if (::ioctl(uffd_.get(), UFFDIO_COPY, &c) == 0) return ok();
        const int err = errno;
        const uint64_t done = c.copy > 0 ? uint64_t(c.copy) : 0;
        if (err == EEXIST || err == EAGAIN) {  // EAGAIN: the layout changed under it, again
            const uint64_t skip = done + (err == EEXIST ? kPage : 0);
            at += skip, data += skip;
            continue;
        }
        if (err == ENOENT) return ok();
        return Error{"UFFDIO_COPY", err, "at " + std::to_string(at)};
    }
    return ok();
}

Result<void> LazyMemory::fill(uint64_t at, std::span<const char> data) {
    return ckpt::for_each_nonzero_run(data.data(), data.size() & ~(kPage - 1), [&](uint64_t from, uint64_t len) {
        return copy(at + from, data.data() + from, len);
    });
}

Result<bool> LazyMemory::settle(uint64_t page) {
    uffdio_zeropage z{};
    z.range = {page, kPage};
    if (::ioctl(uffd_.get(), UFFDIO_ZEROPAGE, &z) == 0) return true;
    if (errno == EEXIST || errno == ENOENT) {
        // There already (or gone): the fill woke the waiter, or this does.
        uffdio_range r{page, kPage};
        (void)::ioctl(uffd_.get(), UFFDIO_WAKE, &r);
        return false;
    }
    return Error{"UFFDIO_ZEROPAGE", errno, {}};
}

}  // namespace ssi
