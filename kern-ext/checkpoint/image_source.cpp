#include "kern-ext/checkpoint/image_memory_stream.h"
#include "kern-ext/checkpoint/image_source.h"
#include "kern-ext/files.h"

namespace ssi {

Result<size_t> FdImageSource::read_some(std::span<char> out) { return ssi::read_some(fd_, out); }

Result<void> FdImageSink::write(std::span<const char> data) { return write_all(fd_, data); }

Result<void> read_image_exact(ImageSource& in, std::span<char> out, const std::string& name) {
    size_t done = 0;
    while (done < out.size()) {
        size_t got = TRY(in.read_some(out.subspan(done)));
        if (got == 0) return make_error("load checkpoint image", name + ": file ends early (truncated)", EBADMSG);
        done += got;
    }
    return ok();
}

Result<void> ImageMemoryStream::read(std::span<char> out) {
    if (out.size() > left_)
        return make_error("load checkpoint image", name_ + ": the memory section is shorter than its mappings", EBADMSG);
    TRY(read_image_exact(in_, out, name_));
    sum_.add(out.data(), out.size());
    left_ -= out.size();
    if (left_ != 0) return ok();
    uint64_t expected = 0;
    TRY(read_image_exact(in_, {reinterpret_cast<char*>(&expected), sizeof expected}, name_));
    if (sum_.value() != expected)
        return make_error("load checkpoint image", name_ + ": checksum mismatch in section memory (the file is damaged)",
                          EBADMSG);
    return ok();
}

}  // namespace ssi
