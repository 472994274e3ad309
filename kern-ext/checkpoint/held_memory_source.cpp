// The memory section of an image taken with hold_memory, made from its holder as it is
// read: the readable mappings' contents (their written runs when pre-copied) in table
// order, then the section's checksum — the bytes save_image_to would have written into a
// file, so that a restore streams them straight from the holder (memory_holder.h).
#include "kern-ext/checkpoint/checkpoint.h"
#include "kern-ext/checkpoint/image_checksum.h"
#include "kern-ext/checkpoint/image_memory_stream.h"
#include "kern-ext/checkpoint/remote_memory.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace ssi {
namespace {

constexpr size_t kChunkBytes = 1 << 20;

class HeldMemorySource final : public ImageSource {
public:
    HeldMemorySource(pid_t holder, const ProcessImage& image) : holder_(holder) {
        for (const MemoryMapping& m : image.mappings)
            for (const PageRun& r : m.saved_runs()) runs_.push_back(r);
        if (!runs_.empty()) at_ = runs_.front().start;
    }

    Result<size_t> read_some(std::span<char> out) override {
        if (used_ == buffer_.size()) TRY(fill());
        const size_t n = std::min(out.size(), buffer_.size() - used_);
        std::memcpy(out.data(), buffer_.data() + used_, n);
        used_ += n;
        return n;
    }

private:
    // The next chunk of the runs (whole pages, so the checksum is fed in words), or the
    // checksum once they are all read; nothing after that.
    Result<void> fill() {
        used_ = 0;
        if (next_ == runs_.size()) {
            buffer_.clear();
            if (!summed_) {
                const uint64_t sum = sum_.value();
                buffer_.assign(reinterpret_cast<const char*>(&sum), reinterpret_cast<const char*>(&sum) + sizeof sum);
                summed_ = true;
            }
            return ok();
        }
        const PageRun& r = runs_[next_];
        const size_t n = size_t(std::min<uint64_t>(r.end - at_, kChunkBytes));
        buffer_.resize(n);
        TRY(read_remote_with_holes(holder_, RemotePtr{at_}, buffer_));
        sum_.add(buffer_.data(), n);
        at_ += n;
        if (at_ == r.end && ++next_ < runs_.size()) at_ = runs_[next_].start;
        return ok();
    }

    pid_t holder_;
    std::vector<PageRun> runs_;
    size_t next_ = 0;
    uint64_t at_ = 0;
    std::vector<char> buffer_;
    size_t used_ = 0;
    ckpt::Checksum sum_;
    bool summed_ = false;
};

}  // namespace

Result<std::unique_ptr<ImageSource>> stream_from_holder(ProcessImage& image) {
    if (image.memory_from == 0) return make_error("restore", "the image's memory is not held by a process", EINVAL);
    auto source = std::make_unique<HeldMemorySource>(image.memory_from, image);
    image.memory_stream = std::make_unique<ImageMemoryStream>(
        *source, "the memory held by pid " + std::to_string(image.memory_from), image.saved_memory_bytes());
    return std::unique_ptr<ImageSource>(std::move(source));
}

}  // namespace ssi
