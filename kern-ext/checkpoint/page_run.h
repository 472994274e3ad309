// PageRun: a page-aligned range [start, end) of a process's address space.
#pragma once

#include <cstdint>

namespace ssi {

struct PageRun {
    uint64_t start = 0;
    uint64_t end = 0;
    uint64_t size() const { return end - start; }
    friend bool operator==(const PageRun&, const PageRun&) = default;
};

}  // namespace ssi
