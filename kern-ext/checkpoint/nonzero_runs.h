// The runs of pages of a buffer that are not all zero. Memory about to be filled is zero
// already (fresh anonymous memory, a post-copy's missing pages): not writing those
// pages saves a page fault each and the memory itself.
#pragma once

#include "kern-ext/result.h"

#include <cstdint>

namespace ssi::ckpt {

inline bool zero_page(const char* p) {
    const uint64_t* w = reinterpret_cast<const uint64_t*>(p);
    uint64_t acc = 0;
    for (size_t i = 0; i < 4096 / 8; ++i) acc |= w[i];
    return acc == 0;
}

// write(offset, bytes) for each run of non-zero pages of data[0, n) (n a multiple of a page).
template <class Write>
Result<void> for_each_nonzero_run(const char* data, uint64_t n, Write write) {
    constexpr uint64_t kPage = 4096;
    uint64_t at = 0;
    while (at < n) {
        while (at < n && zero_page(data + at)) at += kPage;
        uint64_t run = at;
        while (run < n && !zero_page(data + run)) run += kPage;
        if (run > at) TRY(write(at, run - at));
        at = run;
    }
    return ok();
}

}  // namespace ssi::ckpt
