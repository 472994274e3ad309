// Global PIDs: home node id * 10,000,000 + the PID on the home node. 30004711 is PID 4711
// whose home is node 3; "3:4711" is accepted wherever a gpid is.
#pragma once

#include "kern-ext/result.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace ssi {

inline constexpr int64_t kGpidFactor = 10'000'000;
inline constexpr int32_t kMaxNodeId = 9999;

struct Gpid {
    int32_t node = 0;
    int32_t pid = 0;

    int64_t value() const { return int64_t(node) * kGpidFactor + pid; }
    std::string str() const { return std::to_string(value()); }

    static Gpid from_value(int64_t v) { return Gpid{int32_t(v / kGpidFactor), int32_t(v % kGpidFactor)}; }
    // "30004711" or "3:4711"; anything else is an error naming the text.
    static Result<Gpid> parse(std::string_view text);

    friend bool operator==(const Gpid&, const Gpid&) = default;
};

}  // namespace ssi
