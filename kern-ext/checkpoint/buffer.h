// Buffer: a large, uninitialised, move-only block of memory for a mapping's contents.
// Backed by an anonymous mmap with MADV_HUGEPAGE, because a fresh 4 KiB page fault costs
// ~10 us here while transparent huge pages fault in at ~17 GB/s: a 64 MiB image read into
// a std::vector would spend most of its time zeroing and faulting.
#pragma once

#include "kern-ext/result.h"

#include <cstddef>
#include <utility>

namespace ssi {

class Buffer {
public:
    Buffer() = default;
    static Result<Buffer> create(size_t size);
    Buffer(Buffer&& o) noexcept : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
    Buffer& operator=(Buffer&& o) noexcept {
        if (this != &o) {
            release();
            data_ = std::exchange(o.data_, nullptr);
            size_ = std::exchange(o.size_, 0);
        }
        return *this;
    }
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    ~Buffer() { release(); }

    char* data() { return data_; }
    const char* data() const { return data_; }
    size_t size() const { return size_; }

private:
    Buffer(char* data, size_t size) : data_(data), size_(size) {}
    void release();
    char* data_ = nullptr;
    size_t size_ = 0;
};

}  // namespace ssi
