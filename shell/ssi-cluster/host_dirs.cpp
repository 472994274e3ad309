#include "shell/ssi-cluster/host_dirs.h"

#include "kern-ext/files.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>

namespace ssi::cluster {
namespace {

namespace fs = std::filesystem;

std::string made_run_dir_marker() { return std::string(kStateRoot) + "/.made-run-ssi"; }

}  // namespace

Result<void> prepare_host_dirs() {
    TRY(make_dirs(kStateRoot, 0755));
    if (!stat_path(kNodeRunDir)) {
        TRY(make_dirs(kNodeRunDir, 0755));
        TRY(write_file_atomic(made_run_dir_marker(), "ssi-cluster created /run/ssi\n", 0644));
    }
    return ok();
}

void tidy_host_dirs() {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(kStateRoot, ec))
        if (entry.path().filename().string()[0] != '.') return;  // another cluster is up
    if (stat_path(made_run_dir_marker())) {
        fs::remove(kNodeRunDir, ec);  // only if empty: a host agent may have moved in
        fs::remove(made_run_dir_marker(), ec);
    }
    fs::remove(kStateRoot, ec);
}

std::vector<ProcessId> recorded_inits(const StatePaths& paths) {
    std::vector<ProcessId> out;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(paths.dir, ec)) {
        if (auto id = read_init_record(entry.path().string() + "/init.pid")) out.push_back(*id);
    }
    return out;
}

Result<void> claim_state_dir(const std::string& name, const StatePaths& paths) {
    TRY(prepare_host_dirs());
    for (int attempt = 0; attempt < 2; ++attempt) {
        std::error_code ec;
        if (fs::create_directory(paths.dir, ec)) return ok();
        if (ec) return make_error("mkdir", paths.dir, ec.value());
        for (const auto& id : recorded_inits(paths))
            if (is_running(id))
                return make_error("cluster '" + name + "' is already up (ssi-cluster down --name " + name + " first)",
                                  {}, 0);
        std::fprintf(stderr, "ssi-cluster: removing the state of a cluster '%s' whose nodes are gone\n", name.c_str());
        TRY(remove_tree(paths.dir));
    }
    return make_error("cannot claim " + paths.dir, {}, EEXIST);
}

}  // namespace ssi::cluster
