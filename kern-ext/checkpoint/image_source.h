// Where an image is read from and written to, as a stream: an open file or pipe
// (FdImageSource, FdImageSink), or whatever a caller moves it with (ssi-remote reads its
// image channel's replies straight into a restore, and a save straight into its
// requests, with no pipe or file in between).
#pragma once

#include "kern-ext/result.h"

#include <span>
#include <string>

namespace ssi {

class ImageSource {
public:
    virtual ~ImageSource() = default;
    // Up to out.size() bytes (at least one unless the image ended); 0 at its end.
    virtual Result<size_t> read_some(std::span<char> out) = 0;
};

class FdImageSource final : public ImageSource {
public:
    explicit FdImageSource(int fd) : fd_(fd) {}
    Result<size_t> read_some(std::span<char> out) override;

private:
    int fd_;
};

class ImageSink {
public:
    virtual ~ImageSink() = default;
    // All of `data`, or an error.
    virtual Result<void> write(std::span<const char> data) = 0;
};

class FdImageSink final : public ImageSink {
public:
    explicit FdImageSink(int fd) : fd_(fd) {}
    Result<void> write(std::span<const char> data) override;

private:
    int fd_;
};

// Exactly out.size() bytes, or an error naming `name` as truncated.
Result<void> read_image_exact(ImageSource& in, std::span<char> out, const std::string& name);

}  // namespace ssi
