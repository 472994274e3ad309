// ssi-cluster down: stops every node of a cluster and removes its state. Each node's
// mounts live only in its own mount namespace and vanish with it; nothing remains.
// A cluster that is not up is not an error (exit 0), so `down` can always be run.
#include "kern-ext/files.h"
#include "shell/ssi-cluster/cluster_state.h"
#include "shell/ssi-cluster/commands.h"
#include "shell/ssi-cluster/host_dirs.h"
#include "shell/ssi-cluster/node_launch.h"

#include <cstdio>

namespace ssi::cluster {

Result<int> cmd_down(const std::string& name) {
    StatePaths paths = state_paths(name);
    if (!stat_path(paths.dir)) {
        std::fprintf(stderr, "ssi-cluster: no cluster named '%s' is up (nothing to do)\n", name.c_str());
        return 0;
    }
    // From the recorded inits rather than cluster.toml: a half-started cluster has inits too.
    TRY(stop_inits(recorded_inits(paths), std::chrono::seconds(3)));
    TRY(remove_tree(paths.dir));
    tidy_host_dirs();
    std::printf("cluster '%s' is down\n", name.c_str());
    return 0;
}

}  // namespace ssi::cluster
