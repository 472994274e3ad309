// ssi-nodes: every node of the cluster, as this node's agent sees it.
//   ssi-nodes [--json] [--no-headers]
#include "libssi/agent_client.h"
#include "libssi/tool_main.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>

namespace {

std::string human_kb(uint64_t kb) {
    if (kb >= (1u << 20)) return fmt::format("{:.1f}G", double(kb) / (1 << 20));
    if (kb >= 1024) return fmt::format("{:.1f}M", double(kb) / 1024);
    return fmt::format("{}K", kb);
}

std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') out += '\\', out += char(c);
        else if (c < 0x20) out += fmt::format("\\u{:04x}", c);
        else out += char(c);
    }
    return out + "\"";
}

ssi::Result<int> run(int argc, char** argv) {
    CLI::App app{"ssi-nodes: the nodes of the cluster and their state"};
    bool json = false, no_headers = false;
    app.add_flag("--json", json, "one JSON object per node, in a JSON array");
    app.add_flag("--no-headers", no_headers, "omit the header line");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    ssi::AgentClient agent = TRY(ssi::AgentClient::connect());
    ssi::wire::Message reply = TRY(agent.call(ssi::wire::NodesRequest{}));
    auto* nodes = std::get_if<ssi::wire::NodesReply>(&reply);
    if (!nodes) return ssi::make_error("the local ssi-agent sent an unexpected reply");

    std::string out;
    if (json) {
        out += "[";
        for (size_t i = 0; i < nodes->nodes.size(); ++i) {
            const auto& n = nodes->nodes[i];
            const auto& s = n.status;
            out += fmt::format(
                "{}\n  {{\"node\":{},\"state\":{},\"self\":{},\"address\":{},\"hostname\":{},\"cpus\":{},"
                "\"load1\":{:.2f},\"load5\":{:.2f},\"load15\":{:.2f},\"mem_total_kb\":{},\"mem_free_kb\":{},"
                "\"processes\":{},\"last_heard_ms\":{}}}",
                i ? "," : "", s.id, json_string(n.state), n.self ? "true" : "false", json_string(s.address),
                json_string(s.hostname), s.cpus, s.load1, s.load5, s.load15, s.mem_total_kb, s.mem_free_kb,
                s.processes, n.last_heard_ms);
        }
        out += "\n]\n";
    } else {
        if (!no_headers)
            out += fmt::format("{:>4} {:<7} {:<15} {:<12} {:>4} {:>6} {:>6} {:>6} {:>8} {:>6} {:>8}\n", "NODE", "STATE",
                               "ADDRESS", "HOST", "CPUS", "LOAD1", "LOAD5", "LOAD15", "MEMFREE", "PROCS", "HEARD");
        for (const auto& n : nodes->nodes) {
            const auto& s = n.status;
            bool known = n.self || n.last_heard_ms >= 0;
            std::string heard = n.self ? "self" : n.last_heard_ms < 0 ? "never" : fmt::format("{}ms", n.last_heard_ms);
            std::string id = fmt::format("{}{}", s.id, n.self ? "*" : "");
            if (known)
                out += fmt::format("{:>4} {:<7} {:<15} {:<12} {:>4} {:>6.2f} {:>6.2f} {:>6.2f} {:>8} {:>6} {:>8}\n", id,
                                   n.state, s.address, s.hostname, s.cpus, s.load1, s.load5, s.load15,
                                   human_kb(s.mem_free_kb), s.processes, heard);
            else
                out += fmt::format("{:>4} {:<7} {:<15} {:<12} {:>4} {:>6} {:>6} {:>6} {:>8} {:>6} {:>8}\n", id, n.state,
                                   s.address, "-", "-", "-", "-", "-", "-", "-", heard);
        }
    }
    std::fputs(out.c_str(), stdout);
    return 0;
}

}  // namespace

int main(int argc, char** argv) { return ssi::run_tool("ssi-nodes", argc, argv, run); }
