#include "shell/ssi-cluster/binaries.h"

#include "kern-ext/process.h"
#include "shell/ssi-cluster/cluster_state.h"

#include <unistd.h>

#include <cstdlib>
#include <vector>

namespace ssi::cluster {
namespace {

bool is_executable(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }


}  // namespace

Result<std::string> self_path() { return self_executable(); }

Result<std::string> self_dir() {
    std::string self = TRY(self_executable());
    return self.substr(0, self.rfind('/'));
}

Result<std::string> find_agent_binary() {
    std::vector<std::string> candidates;
    if (const char* bin = std::getenv("SSI_BIN"); bin && *bin) candidates.push_back(std::string(bin) + "/ssi-agent");
    std::string dir = TRY(self_dir());
    candidates.push_back(dir + "/ssi-agent");
    candidates.push_back(dir + "/../sbin/ssi-agent");
    for (const auto& c : candidates) {
        if (is_executable(c)) return c;
    }
    std::string tried;
    for (const auto& c : candidates) tried += (tried.empty() ? "" : ", ") + c;
    return make_error("cannot find ssi-agent (tried " + tried + "; set SSI_BIN to its directory)", {}, ENOENT);
}

std::string path_with(const std::string& path, const std::string& dir) {
    size_t start = 0;
    while (start <= path.size()) {
        size_t end = path.find(':', start);
        if (end == std::string::npos) end = path.size();
        if (path.compare(start, end - start, dir) == 0 && end - start == dir.size()) return path;
        start = end + 1;
    }
    return path.empty() ? dir : dir + ":" + path;
}

}  // namespace ssi::cluster
