// ByteQueue: bytes waiting for a descriptor that takes them a piece at a time. Taking from
// the front moves nothing (a string erased from its front would move the rest each time:
// quadratic for a window of megabytes written in socket-buffer pieces); the taken space is
// reclaimed when the queue empties or is more than half taken.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace ssi::remote {

class ByteQueue {
public:
    size_t size() const { return data_.size() - head_; }
    bool empty() const { return size() == 0; }
    std::string_view front() const { return std::string_view(data_).substr(head_); }
    void append(std::span<const char> bytes) {
        if (head_ > data_.size() / 2) {
            data_.erase(0, head_);
            head_ = 0;
        }
        data_.append(bytes.data(), bytes.size());
    }
    void consume(size_t n) {
        head_ += n;
        if (head_ >= data_.size()) clear();
    }
    void clear() {
        data_.clear();
        head_ = 0;
    }

private:
    std::string data_;
    size_t head_ = 0;
};

}  // namespace ssi::remote
