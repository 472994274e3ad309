#include "kern-ext/checkpoint/remote_memory.h"

#include <sys/uio.h>
#include <unistd.h>

#include <cstring>
#include <string>

namespace ssi {

namespace {

std::string where(pid_t pid, RemotePtr at, size_t len) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "pid %d, %#llx+%zu", int(pid), (unsigned long long)at.addr, len);
    return buf;
}

// One process_vm_readv; returns bytes read (0 when the first page is unreadable).
Result<size_t> read_once(pid_t pid, RemotePtr from, std::span<char> out) {
    iovec local{out.data(), out.size()};
    iovec remote{reinterpret_cast<void*>(from.addr), out.size()};
    ssize_t n = ::process_vm_readv(pid, &local, 1, &remote, 1, 0);
    if (n < 0) {
        if (errno == EFAULT) return size_t(0);
        return sys_error("process_vm_readv", where(pid, from, out.size()));
    }
    return size_t(n);
}

}  // namespace

Result<void> read_remote(pid_t pid, RemotePtr from, std::span<char> out) {
    size_t done = 0;
    while (done < out.size()) {
        size_t n = TRY(read_once(pid, from + done, out.subspan(done)));
        if (n == 0) return make_error("process_vm_readv", where(pid, from + done, out.size() - done), EFAULT);
        done += n;
    }
    return ok();
}

Result<size_t> read_remote_with_holes(pid_t pid, RemotePtr from, std::span<char> out) {
    const size_t page = size_t(::sysconf(_SC_PAGESIZE));
    size_t done = 0, missing = 0;
    while (done < out.size()) {
        size_t n = TRY(read_once(pid, from + done, out.subspan(done)));
        if (n == 0) {  // this page is unreadable: leave it zero and go on with the next
            size_t skip = std::min(page - (from.addr + done) % page, out.size() - done);
            std::memset(out.data() + done, 0, skip);
            missing += skip;
            n = skip;
        }
        done += n;
    }
    return missing;
}

Result<void> write_remote(pid_t pid, RemotePtr to, std::span<const char> data) {
    size_t done = 0;
    while (done < data.size()) {
        iovec local{const_cast<char*>(data.data()) + done, data.size() - done};
        iovec remote{reinterpret_cast<void*>(to.addr + done), data.size() - done};
        ssize_t n = ::process_vm_writev(pid, &local, 1, &remote, 1, 0);
        if (n < 0) return sys_error("process_vm_writev", where(pid, to + done, data.size() - done));
        if (n == 0) return make_error("process_vm_writev", where(pid, to + done, data.size() - done), EFAULT);
        done += size_t(n);
    }
    return ok();
}

}  // namespace ssi
