#include "libssi/gpid.h"

#include <cerrno>
#include <charconv>

namespace ssi {
namespace {

bool parse_int(std::string_view s, int64_t& out) {
    if (s.empty()) return false;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && end == s.data() + s.size();
}

Error bad(std::string_view text, const char* why) {
    return make_error(std::string(text) + ": not a gpid (" + why + ")");
}

}  // namespace

Result<Gpid> Gpid::parse(std::string_view text) {
    int64_t node = 0, pid = 0;
    if (auto colon = text.find(':'); colon != std::string_view::npos) {
        if (!parse_int(text.substr(0, colon), node) || !parse_int(text.substr(colon + 1), pid))
            return bad(text, "expected NODE:PID");
    } else {
        int64_t v = 0;
        if (!parse_int(text, v) || v <= 0) return bad(text, "expected a number or NODE:PID");
        // A PID alone names no node; which one it means depends on where it is typed (a
        // remote program's PIDs are its home's), so it is refused rather than guessed.
        if (v < kGpidFactor) return bad(text, "a PID alone names no node: write NODE:PID");
        node = v / kGpidFactor;
        pid = v % kGpidFactor;
    }
    if (node < 1 || node > kMaxNodeId) return bad(text, "node must be 1..9999");
    if (pid < 1 || pid >= kGpidFactor) return bad(text, "pid must be 1..9999999");
    return Gpid{int32_t(node), int32_t(pid)};
}

}  // namespace ssi
