// The memory section of an image taken with hold_memory, made from its holder as it is
// read: the readable mappings' contents (their written runs when pre-copied) in table
// order, then the section's checksum — the bytes save_image_to would have written into a
// file, so that a restore streams them straight from the holder (memory_holder.h). And
// the whole image of a move from home: the head file the agent wrote, then that section.
#include "kern-ext/checkpoint/checkpoint.h"
#include "kern-ext/checkpoint/image_checksum.h"
#include "kern-ext/checkpoint/image_memory_stream.h"
#include "kern-ext/checkpoint/remote_memory.h"
#include "kern-ext/file_ops.h"

#include <fcntl.h>
#include <sys/stat.h>

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

// A head file from its start, by pread (the caller's offset untouched), counting.
class HeadFileSource final : public ImageSource {
public:
    explicit HeadFileSource(int fd, uint64_t size) : fd_(fd), size_(size) {}
    Result<size_t> read_some(std::span<char> out) override {
        if (at_ == size_) return size_t(0);
        out = out.first(size_t(std::min<uint64_t>(out.size(), size_ - at_)));
        const size_t n = TRY(pread_some(fd_, out, off_t(at_)));
        if (n == 0) return make_error("read image head", "the file shrank while read", EIO);
        at_ += n;
        return n;
    }
    uint64_t at() const { return at_; }

private:
    int fd_;
    uint64_t size_;
    uint64_t at_ = 0;
};

// The head's bytes, then the memory section's.
class HeldImageSource final : public ImageSource {
public:
    HeldImageSource(int head_fd, uint64_t head_size, std::unique_ptr<ImageSource> memory)
        : head_(head_fd, head_size), memory_(std::move(memory)) {}
    Result<size_t> read_some(std::span<char> out) override {
        const size_t n = TRY(head_.read_some(out));
        return n != 0 ? n : memory_->read_some(out);
    }

private:
    HeadFileSource head_;
    std::unique_ptr<ImageSource> memory_;
};

// What a head file says, with its memory at `holder`; `head_size` is the file's length,
// which must end exactly where the memory section's contents begin.
Result<ProcessImage> read_head(int head_fd, const std::string& name, pid_t holder, uint64_t& head_size) {
    const struct stat st = TRY(stat_at(head_fd, "", AT_EMPTY_PATH));
    HeadFileSource head(head_fd, uint64_t(st.st_size));
    ProcessImage image = TRY(load_image_streamed(head, name));
    image.memory_stream.reset();  // its memory is the holder's, not the file's
    if (head.at() != uint64_t(st.st_size))
        return make_error("load checkpoint image", name + ": not an image's head (bytes follow the memory section's header)",
                          EBADMSG);
    if (holder <= 0) return make_error("load checkpoint image", name + ": no holder of its memory", EINVAL);
    image.memory_from = holder;
    head_size = head.at();
    return image;
}

}  // namespace

Result<HeldImageStream> stream_held_image(int head_fd, const std::string& name, pid_t holder) {
    uint64_t head_size = 0;
    const ProcessImage image = TRY(read_head(head_fd, name, holder, head_size));
    HeldImageStream out;
    out.size = head_size + memory_section_bytes(image);
    out.bytes = std::make_unique<HeldImageSource>(head_fd, head_size, TRY(memory_section_from_holder(image)));
    return out;
}

Result<ProcessImage> load_held_image(int head_fd, const std::string& name, pid_t holder,
                                     std::unique_ptr<ImageSource>& source) {
    uint64_t head_size = 0;
    ProcessImage image = TRY(read_head(head_fd, name, holder, head_size));
    source = TRY(stream_from_holder(image));
    return image;
}

Result<std::unique_ptr<ImageSource>> memory_section_from_holder(const ProcessImage& image) {
    if (image.memory_from == 0) return make_error("restore", "the image's memory is not held by a process", EINVAL);
    return std::unique_ptr<ImageSource>(std::make_unique<HeldMemorySource>(image.memory_from, image));
}

uint64_t memory_section_bytes(const ProcessImage& image) { return image.saved_memory_bytes() + sizeof(uint64_t); }

Result<std::unique_ptr<ImageSource>> stream_from_holder(ProcessImage& image) {
    std::unique_ptr<ImageSource> source = TRY(memory_section_from_holder(image));
    image.memory_stream = std::make_unique<ImageMemoryStream>(
        *source, "the memory held by pid " + std::to_string(image.memory_from), image.saved_memory_bytes());
    return source;
}

}  // namespace ssi
