// A LaunchSpec as bytes, for a reaper forked before its run was known
// (RemoteProcess::prepare): the spec reaches it through a socket. Both ends are the same
// binary, one process apart, so the layout has no version. The stdio descriptors are
// not in it: they travel as descriptors, and the decoded spec has -1 there.
#pragma once

#include "kern-ext/remote_launch.h"
#include "kern-ext/result.h"

#include <string>
#include <string_view>

namespace ssi {

std::string encode_launch_spec(const LaunchSpec& spec);
Result<LaunchSpec> decode_launch_spec(std::string_view bytes);

}  // namespace ssi
