// The two 4 MiB chunks a streamed save or restore moves memory through (one filled while
// the other is emptied), kept for the next save or restore in this process: a fresh chunk
// must be faulted in (up to ~10 ms each on this VM, when its memory comes back from the
// host: map_image_memory.cpp), a kept one is resident already. At most two pairs are
// kept (16 MiB); more may be in use at once.
#pragma once

#include "kern-ext/checkpoint/buffer.h"
#include "kern-ext/result.h"

#include <array>
#include <cstddef>

namespace ssi {

class ChunkPair {
public:
    static constexpr size_t kBytes = 4u << 20;
    // A kept pair if there is one, else a new one.
    static Result<ChunkPair> take();
    ChunkPair(ChunkPair&&) noexcept = default;
    ChunkPair& operator=(ChunkPair&&) noexcept = default;
    ~ChunkPair();  // kept for the next one, or freed

    Buffer& operator[](size_t i) { return chunks_[i]; }

private:
    ChunkPair() = default;
    std::array<Buffer, 2> chunks_;
};

}  // namespace ssi
