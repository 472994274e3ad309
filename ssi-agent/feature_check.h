// `ssi-agent --check`: says which kernel features this node has.
#pragma once

namespace ssi::agent {

// Prints one line per feature; true when all are there.
bool print_feature_check();

}  // namespace ssi::agent
