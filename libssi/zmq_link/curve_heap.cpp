#include "libssi/curve_heap.h"

#include <sodium.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace {

// Each block starts with its size, so that sodium_free can wipe it; 16 bytes keep the
// caller's part aligned as malloc's is.
constexpr size_t kHeader = 16;
std::atomic<unsigned long> blocks{0};

void* allocate(size_t bytes) {
    if (bytes > SIZE_MAX - kHeader) return nullptr;
    auto* block = static_cast<unsigned char*>(std::malloc(bytes + kHeader));
    if (!block) return nullptr;
    std::memcpy(block, &bytes, sizeof bytes);
    blocks.fetch_add(1, std::memory_order_relaxed);
    return block + kHeader;
}

}  // namespace

// The linker sends every call to these from outside libsodium here (--wrap, set by
// CMakeLists.txt beside this file): libzmq's and ours.
extern "C" {

void* __wrap_sodium_malloc(size_t size) { return allocate(size); }

void* __wrap_sodium_allocarray(size_t count, size_t size) {
    if (count > 0 && size > SIZE_MAX / count) return nullptr;
    return allocate(count * size);
}

void __wrap_sodium_free(void* ptr) {
    if (!ptr) return;
    auto* block = static_cast<unsigned char*>(ptr) - kHeader;
    size_t bytes;
    std::memcpy(&bytes, block, sizeof bytes);
    sodium_memzero(ptr, bytes);
    std::free(block);
}

}  // extern "C"

unsigned long ssi::plain_curve_heap_blocks() { return blocks.load(std::memory_order_relaxed); }
