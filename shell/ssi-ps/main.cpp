// ssi-ps: the cluster's processes, from the node's shared-memory table, with no round trip.
#include "shell/ssi-ps/ps.h"

#include "kern-ext/files.h"
#include "kern-ext/terminal.h"
#include "libssi/agent_client.h"
#include "libssi/config.h"
#include "libssi/proc_table.h"
#include "libssi/tool_main.h"

#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

using namespace ssi;

struct Listing {
    std::vector<wire::ProcessRecord> rows;
    std::vector<std::string> warnings;  // nodes whose processes are missing
};

// The table the local agent keeps: one copy out of shared memory.
Result<Listing> read_table() {
    const char* env = std::getenv("SSI_TABLE");
    auto reader = TRY(ProcTableReader::open(env && *env ? env : kDefaultTableName));
    ProcTableSnapshot snap = TRY(reader.read());
    Listing l{std::move(snap.processes), {}};
    for (int32_t node : snap.down_nodes)
        l.warnings.push_back("node " + std::to_string(node) + " is down; its processes are not shown");
    return l;
}

// --fresh: the local agent asks every node now.
Result<Listing> ask_agents(uint32_t timeout_ms) {
    AgentClient client = TRY(AgentClient::connect());
    wire::Message reply = TRY(client.call(wire::ClusterPsRequest{timeout_ms}, int(timeout_ms) + 4000));
    auto* ps = std::get_if<wire::ClusterPsReply>(&reply);
    if (!ps) return make_error("unexpected reply from the local ssi-agent to a ps request");
    Listing l{std::move(ps->processes), {}};
    for (int32_t node : ps->unreachable)
        l.warnings.push_back("node " + std::to_string(node) + " did not answer; its processes are not shown");
    return l;
}

// Like ps: lines are cut at the terminal's width unless -w or output is not a terminal.
size_t line_width(bool wide) {
    if (wide || !is_terminal(STDOUT_FILENO)) return 0;
    if (const char* cols = std::getenv("COLUMNS")) {
        size_t n = 0;
        auto [end, ec] = std::from_chars(cols, cols + std::strlen(cols), n);
        if (ec == std::errc() && *end == '\0' && n > 0) return n;
    }
    return terminal_columns(STDOUT_FILENO).value_or(80);
}

Result<int> run(int argc, char** argv) {
    auto parsed = ps::parse_options(argc, argv);
    if (!parsed) {
        std::fprintf(stderr, "ssi-ps: %s\nTry 'ssi-ps --help' for more information.\n",
                     parsed.error().message().c_str());
        return 2;
    }
    const ps::Options& options = *parsed;
    if (options.help) {
        std::string text = ps::usage_text();
        TRY(write_all(STDOUT_FILENO, text));
        return 0;
    }
    Listing listing = options.fresh ? TRY(ask_agents(options.fresh_timeout_ms)) : TRY(read_table());
    for (const auto& w : listing.warnings) std::fprintf(stderr, "ssi-ps: %s\n", w.c_str());

    std::vector<const wire::ProcessRecord*> rows = ps::select_rows(listing.rows, options);
    ps::TimeContext tc = ps::TimeContext::current();
    std::string out = options.json ? ps::render_json(rows, tc)
                                   : ps::render_table(rows, options.columns, options.headers, tc, line_width(options.wide));
    TRY(write_all(STDOUT_FILENO, out));
    // procps: a selection that matched nothing exits 1 (after the header).
    return options.has_selection() && rows.empty() ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) { return ssi::run_tool("ssi-ps", argc, argv, run); }
