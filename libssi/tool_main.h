// The shared main of every user command: run the command's body, and turn an Error into
// one line on stderr ("ssi-kill: 30004711: No such process") and a non-zero exit.
#pragma once

#include "kern-ext/result.h"

#include <functional>

namespace ssi {

int run_tool(const char* name, int argc, char** argv, const std::function<Result<int>(int, char**)>& body);

}  // namespace ssi
