#include "ssi-agent/feature_check.h"

#include "kern-ext/features.h"

#include <cstdio>

namespace ssi::agent {

bool print_feature_check() {
    bool all = true;
    for (const auto& f : probe_kernel_features()) {
        std::printf("%-34s %s%s%s\n", f.name.c_str(), f.available ? "yes" : "MISSING", f.available ? "" : ": ",
                    f.detail.c_str());
        all = all && f.available;
    }
    return all;
}

}  // namespace ssi::agent
