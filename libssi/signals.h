// Signal names and numbers, as kill(1) spells them: "TERM", "SIGTERM", "term", "15",
// "RTMIN+3".
#pragma once

#include "kern-ext/result.h"

#include <string>
#include <string_view>
#include <vector>

namespace ssi {

Result<int> parse_signal(std::string_view text);
// "TERM", "RTMIN+3"; the number as text when it has no name.
std::string signal_name(int signal);
// Every signal 1..SIGRTMAX in order.
std::vector<int> all_signals();

}  // namespace ssi
