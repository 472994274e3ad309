#include "kern-ext/checkpoint/chunk_pair.h"

#include <mutex>
#include <vector>

namespace ssi {
namespace {

constexpr size_t kKeptPairs = 2;

std::mutex kept_lock;
std::vector<std::array<Buffer, 2>>& kept() {
    static std::vector<std::array<Buffer, 2>> pairs;
    return pairs;
}

}  // namespace

Result<ChunkPair> ChunkPair::take() {
    ChunkPair pair;
    {
        std::lock_guard lock(kept_lock);
        if (!kept().empty()) {
            pair.chunks_ = std::move(kept().back());
            kept().pop_back();
            return pair;
        }
    }
    for (Buffer& b : pair.chunks_) b = TRY(Buffer::create(kBytes));
    return pair;
}

ChunkPair::~ChunkPair() {
    if (chunks_[0].size() != kBytes || chunks_[1].size() != kBytes) return;  // moved from
    std::lock_guard lock(kept_lock);
    if (kept().size() < kKeptPairs) kept().push_back(std::move(chunks_));
}

}  // namespace ssi
