// ssi-cluster: a whole ssi cluster on one machine. Each node is a PID, mount and UTS
// namespace running a real ssi-agent on its own loopback address, so the agent, the
// config and the tools are the ones deployed on real machines (docs/deploy.md).
//
//   ssi-cluster up [-n N] [--name NAME] [--base-port P]
//   ssi-cluster exec K [--user USER] -- CMD [ARGS...]
//   ssi-cluster status | down [--name NAME]
//   ssi-cluster stop-agent K [--signal SIG] | start-agent K
//
// Bad arguments exit 2; failures exit 1 with one message; exec exits with CMD's status.
#include "libssi/tool_main.h"
#include "shell/ssi-cluster/cluster_state.h"
#include "shell/ssi-cluster/commands.h"
#include "shell/ssi-cluster/node_init.h"

#include <CLI/CLI.hpp>

namespace ssi::cluster {
namespace {

CLI::Option* add_name(CLI::App* cmd, std::string& name) {
    return cmd->add_option("--name", name, "cluster name (default $SSI_CLUSTER or \"default\")")
        ->check([](const std::string& n) {
            return is_valid_cluster_name(n) ? std::string() : "names use letters, digits, '.', '_', '-'";
        });
}

CLI::Option* add_node(CLI::App* cmd, int& node) {
    return cmd->add_option("node", node, "node number K")->required()->check(CLI::Range(1, kMaxNodes));
}

Result<int> run(int argc, char** argv) {
    CLI::App app{"ssi-cluster: run an ssi cluster of N nodes on this machine"};
    app.require_subcommand(1);
    std::string name = default_cluster_name();

    UpOptions up;
    auto* up_cmd = app.add_subcommand("up", "start N nodes, each running ssi-agent");
    up_cmd->add_option("-n,--nodes", up.nodes, "number of nodes (1..64, default 3)")->check(CLI::Range(1, kMaxNodes));
    add_name(up_cmd, name);
    up_cmd->add_option("--base-port", up.base_port, "port of node 1; node K uses base + K - 1 (default: first free from 7100)")
        ->check(CLI::Range(1, 65535));
    up_cmd->add_option("--timeout", up.timeout_s, "seconds to wait for every agent to see every node (default 15)")
        ->check(CLI::Range(1, 600));

    ExecOptions ex;
    auto* exec_cmd = app.add_subcommand("exec", "run a command logged into node K: exec K [--user USER] -- CMD [ARGS...]");
    add_node(exec_cmd, ex.node);
    add_name(exec_cmd, name);
    exec_cmd->add_option("--user", ex.user, "run as this user");
    exec_cmd->prefix_command();  // everything after K (or after --) is the command, options included

    auto* status_cmd = app.add_subcommand("status", "one line per node: address, init and agent pids, agent state");
    add_name(status_cmd, name);

    AgentOptions agent;
    auto* stop_cmd = app.add_subcommand("stop-agent", "stop node K's agent; the node keeps running");
    add_node(stop_cmd, agent.node);
    add_name(stop_cmd, name);
    stop_cmd->add_option("--signal", agent.signal, "signal to send (default TERM)");
    auto* start_cmd = app.add_subcommand("start-agent", "start node K's agent again and wait until it answers and sees the answering nodes up");
    add_node(start_cmd, agent.node);
    add_name(start_cmd, name);

    auto* down_cmd = app.add_subcommand("down", "stop every node and remove the cluster's state");
    add_name(down_cmd, name);

    NodeInitOptions init;
    auto* init_cmd = app.add_subcommand("__node-init", "")->group("");  // pid 1 of a node; not for users
    init_cmd->add_option("--state-dir", init.state_dir)->required();
    init_cmd->add_option("--node", init.node)->required();
    init_cmd->add_option("--agent", init.agent)->required();

    // "exec K -- CMD ARGS": the command is split off here; CLI11 would parse what follows
    // "--" as positionals of its own. Without "--", prefix_command() collects it.
    std::vector<std::string> after_dashes;
    bool dashes = false;
    for (int i = 1; i < argc; ++i) {
        if (std::string(argv[i]) != "--") continue;
        after_dashes.assign(argv + i + 1, argv + argc);
        argc = i;
        dashes = true;
        break;
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    if (dashes && !*exec_cmd) {
        std::fprintf(stderr, "ssi-cluster: unexpected arguments after --\nRun with --help for more information.\n");
        return 2;
    }
    if (*exec_cmd) {
        ex.command = dashes ? after_dashes : exec_cmd->remaining();
        if (dashes && !exec_cmd->remaining().empty()) {
            std::fprintf(stderr, "ssi-cluster exec: unexpected arguments before --\n");
            return 2;
        }
        if (ex.command.empty()) {
            std::fprintf(stderr, "ssi-cluster exec: no command given (exec K -- CMD [ARGS...])\n");
            return 2;
        }
    }
    up.name = ex.name = agent.name = name;

    if (*up_cmd) return cmd_up(up);
    if (*exec_cmd) return cmd_exec(ex);
    if (*status_cmd) return cmd_status(name);
    if (*stop_cmd) return cmd_stop_agent(agent);
    if (*start_cmd) return cmd_start_agent(agent);
    if (*down_cmd) return cmd_down(name);
    return run_node_init(init);
}

}  // namespace
}  // namespace ssi::cluster

int main(int argc, char** argv) { return ssi::run_tool("ssi-cluster", argc, argv, ssi::cluster::run); }
