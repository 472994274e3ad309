// The memory section of an image loaded streamed (load_image_streamed): the readable
// mappings' contents, in table order, read from the image's source as the restore writes
// them into the process, so a restore overlaps with the image's arrival and holds no
// whole copy of it. The checksum that follows the section is checked when its last byte
// has been read: a damaged section is noticed then, not before the restore starts.
#pragma once

#include "kern-ext/checkpoint/image_checksum.h"
#include "kern-ext/checkpoint/image_source.h"
#include "kern-ext/result.h"

#include <cstdint>
#include <span>
#include <string>

namespace ssi {

class ImageMemoryStream {
public:
    ImageMemoryStream(ImageSource& in, std::string name, uint64_t length)
        : in_(in), name_(std::move(name)), left_(length) {}
    // The section's next out.size() bytes; reading past its end is an error.
    Result<void> read(std::span<char> out);
    uint64_t left() const { return left_; }

private:
    ImageSource& in_;
    std::string name_;
    uint64_t left_;
    ckpt::Checksum sum_;
};

}  // namespace ssi
