#include "libssi/wire/framing.h"

#include <cerrno>

namespace ssi::wire {

std::string frame(const std::string& payload) {
    uint32_t n = uint32_t(payload.size());
    std::string out;
    out.reserve(4 + payload.size());
    out.push_back(char(n >> 24));
    out.push_back(char(n >> 16));
    out.push_back(char(n >> 8));
    out.push_back(char(n));
    out += payload;
    return out;
}

Result<std::optional<std::string>> FrameReader::next() {
    if (buffer_.size() < 4) return std::optional<std::string>();
    auto b = reinterpret_cast<const unsigned char*>(buffer_.data());
    size_t n = (size_t(b[0]) << 24) | (size_t(b[1]) << 16) | (size_t(b[2]) << 8) | size_t(b[3]);
    if (n > max_)
        return make_error("frame", "message of " + std::to_string(n) + " bytes exceeds the limit", EMSGSIZE);
    if (buffer_.size() < 4 + n) return std::optional<std::string>();
    std::string msg = buffer_.substr(4, n);
    buffer_.erase(0, 4 + n);
    return std::optional<std::string>(std::move(msg));
}

}  // namespace ssi::wire
