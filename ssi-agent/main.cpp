// ssi-agent: the per-node daemon. Start-up errors (bad config, missing keys, address in
// use) are fatal and said plainly; after start-up nothing a peer or a caller does can
// make it exit.
#include "kern-ext/process.h"
#include "libssi/config.h"
#include "ssi-agent/agent.h"
#include "ssi-agent/event_loop.h"
#include "ssi-agent/feature_check.h"

#include <CLI/CLI.hpp>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <optional>

int main(int argc, char** argv) {
    CLI::App app{"ssi-agent: the per-node daemon of an ssi cluster"};
    std::string config_path = ssi::config_path_from_env();
    std::optional<int32_t> node;
    std::string log_level = "info";
    bool check = false;
    app.add_option("-c,--config", config_path, "cluster configuration (TOML)")->capture_default_str();
    app.add_option("--node", node, "this node's id (overrides node_id in the config)")->check(CLI::Range(1, 9999));
    app.add_option("--log-level", log_level, "trace, debug, info, warn, error")->capture_default_str();
    app.add_flag("--check", check, "probe the kernel features ssi uses, print what is missing, and exit");
    CLI11_PARSE(app, argc, argv);

    spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e [%l] %v");
    spdlog::set_level(spdlog::level::from_str(log_level));
    if (check) return ssi::agent::print_feature_check() ? 0 : 1;

    ::signal(SIGPIPE, SIG_IGN);
    // Before libuv's and ZeroMQ's threads: pidfds, peers and callers add up on a busy node
    // (kern-ext/process.h says why now).
    (void)ssi::reserve_descriptor_table(4096);
    // Checkpoints, restarts and migrations each hold a thread of libuv's pool for their
    // whole run (ptrace wants one tracer thread); its default 4 would queue the fifth.
    ::setenv("UV_THREADPOOL_SIZE", "32", 0);
    auto config = ssi::load_config(config_path, node);
    if (!config) {
        std::fprintf(stderr, "ssi-agent: %s\n", config.error().message().c_str());
        return 1;
    }
    ssi::agent::EventLoop loop;
    auto agent = ssi::agent::Agent::create(loop, std::move(*config));
    if (!agent) {
        std::fprintf(stderr, "ssi-agent: %s\n", agent.error().message().c_str());
        return 1;
    }
    (*agent)->run();
    return 0;
}
