#include "kern-ext/thread_signals.h"

#include "kern-ext/files.h"

#include <cstdint>
#include <cstdlib>
#include <string>

namespace ssi {
namespace {

// The hex mask after "\nNAME:\t".
uint64_t mask_of(const std::string& status, const char* name) {
    auto at = status.find(std::string("\n") + name + ":");
    if (at == std::string::npos) return 0;
    return std::strtoull(status.c_str() + at + 2 + std::char_traits<char>::length(name), nullptr, 16);
}

}  // namespace

Result<bool> deliverable_signal_pending(pid_t tid) {
    std::string status = TRY(read_file("/proc/" + std::to_string(tid) + "/status"));
    uint64_t pending = mask_of(status, "SigPnd") | mask_of(status, "ShdPnd");
    return (pending & ~mask_of(status, "SigBlk") & ~mask_of(status, "SigIgn")) != 0;
}

}  // namespace ssi
