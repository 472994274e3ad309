// Kernel features ssi relies on, probed by really using them (the CRIU kerndat way):
// a feature that a header promises but the running kernel refuses shows up as missing.
#pragma once

#include <string>
#include <vector>

namespace ssi {

struct FeatureProbe {
    std::string name;
    bool available = false;
    std::string detail;  // why not, when not
};

std::vector<FeatureProbe> probe_kernel_features();

}  // namespace ssi
