// The image file's checksum (image_file.cpp): FNV-1a over 8-byte words (zero-padded
// tail) with an xor-shift after each multiply, one pass at memory speed; every step is a
// bijection, so a changed word always changes it. Fed in pieces, it must be fed in
// multiples of 8 bytes but for the last piece (the memory section's mappings are whole
// pages).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace ssi::ckpt {

class Checksum {
public:
    void add(const char* p, size_t n) {
        size_t whole = n & ~size_t(7);
        for (size_t i = 0; i < whole; i += 8) {
            uint64_t w;
            std::memcpy(&w, p + i, 8);
            mix(w);
        }
        if (whole < n) {
            uint64_t w = 0;
            std::memcpy(&w, p + whole, n - whole);
            mix(w);
        }
    }
    uint64_t value() const { return h_; }

private:
    void mix(uint64_t w) {
        h_ ^= w;
        h_ *= 0x100000001b3ull;
        h_ ^= h_ >> 32;
    }
    uint64_t h_ = 0xcbf29ce484222325ull;
};

inline uint64_t checksum(std::string_view data) {
    Checksum c;
    c.add(data.data(), data.size());
    return c.value();
}

}  // namespace ssi::ckpt
