// Another process's memory. Its addresses are RemotePtr, never host pointers, and they
// are read and written only here (process_vm_readv/writev), so a tracee's address cannot
// be dereferenced in ours by accident.
#pragma once

#include "kern-ext/result.h"

#include <sys/types.h>

#include <cstdint>
#include <span>

namespace ssi {

struct RemotePtr {
    uint64_t addr = 0;
    RemotePtr operator+(uint64_t n) const { return RemotePtr{addr + n}; }
    friend bool operator==(RemotePtr, RemotePtr) = default;
};

// process_vm_readv until `out` is full; a short read (an unreadable page) is an error.
Result<void> read_remote(pid_t pid, RemotePtr from, std::span<char> out);
// Like read_remote, but pages that cannot be read (a file mapping beyond its file's end)
// are left zero; returns how many bytes could not be read.
Result<size_t> read_remote_with_holes(pid_t pid, RemotePtr from, std::span<char> out);
// process_vm_writev until all of `data` is written.
Result<void> write_remote(pid_t pid, RemotePtr to, std::span<const char> data);

}  // namespace ssi
