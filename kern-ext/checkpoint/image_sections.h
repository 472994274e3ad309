// The image file's sections: each part of a ProcessImage to bytes and back (little-endian,
// fixed-width fields, length-prefixed strings). image_file.cpp frames and checksums them.
#pragma once

#include "kern-ext/checkpoint/process_image.h"
#include "kern-ext/result.h"

#include <string>
#include <string_view>

namespace ssi::ckpt {

std::string encode_task(const ProcessImage& im);
Result<void> decode_task(std::string_view in, ProcessImage& im);
std::string encode_signals(const ProcessImage& im);
Result<void> decode_signals(std::string_view in, ProcessImage& im);
std::string encode_mm(const ProcessImage& im);
Result<void> decode_mm(std::string_view in, ProcessImage& im);
std::string encode_mappings(const ProcessImage& im);
Result<void> decode_mappings(std::string_view in, ProcessImage& im);
std::string encode_files(const ProcessImage& im);
Result<void> decode_files(std::string_view in, ProcessImage& im);
std::string encode_attributes(const ProcessImage& im);
Result<void> decode_attributes(std::string_view in, ProcessImage& im);

}  // namespace ssi::ckpt
