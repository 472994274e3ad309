// ssi-migrate: move a running process to another node, or back home (docs/migration.md).
//   ssi-migrate GPID NODE|home|auto
// The process keeps its gpid, its PID and parent at home, its open files, its signals;
// its home node drives the move, whichever node this runs on. Exit 0 once it runs on the
// target; 1 when it did not move (it goes on where it was, or at home: the message says).
#include "kern-ext/files.h"
#include "libssi/agent_client.h"
#include "libssi/config.h"
#include "libssi/gpid.h"
#include "libssi/proc_table.h"
#include "libssi/progress.h"
#include "libssi/tool_main.h"

#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>

#include <charconv>
#include <optional>
#include <cstdio>
#include <string>
#include <vector>

namespace {

constexpr const char* kUsage =
    "usage: ssi-migrate [-q] GPID NODE|home|auto\n"
    "Moves the running process GPID (N:PID or its number) to node NODE, back to its home\n"
    "node, or to the least loaded other node. It keeps its gpid, PID, parent and files.\n";

constexpr int kMigrateTimeoutMs = 30 * 60 * 1000;

// Bad arguments: said with the usage, exit 2 (as the shell's tools do).
// How far the image is written, when we run on the process's home node: the home agent
// keeps it at <run dir>/images/GPID.img (and the marks beside it), and the process's
// resident size from the table is the expectation.
struct ImageWatch {
    std::string path;
    uint64_t expected = 0;
};

ImageWatch watch_image(const ssi::Gpid& gpid) {
    ImageWatch w;
    const char* env = std::getenv("SSI_TABLE");
    auto reader = ssi::ProcTableReader::open(env && *env ? env : ssi::kDefaultTableName);
    if (!reader) return w;
    auto table = reader->read();
    if (!table || table->local_node != gpid.node) return w;
    for (const auto& r : table->processes)
        if (r.gpid == gpid.value()) w.expected = r.rss_kb * 1024;
    std::string sock = ssi::socket_path_from_env();
    w.path = sock.substr(0, sock.rfind('/')) + "/images/" + gpid.str() + ".img";
    return w;
}

// The image as it goes: sent from home (.sent, as long as what left), from a node
// (.part), whole; plus, coming home, what was pre-copied into the deputy (.precopy).
uint64_t image_bytes(const std::string& path) {
    uint64_t most = 0;
    for (const std::string& p : {path + ".sent", path + ".part", path})
        if (auto st = ssi::stat_path(p)) most = std::max(most, uint64_t(st->st_size));
    if (auto st = ssi::stat_path(path + ".precopy")) most += uint64_t(st->st_size);
    return most;
}

int usage_error(const std::string& what) {
    std::fprintf(stderr, "ssi-migrate: %s\n%s", what.c_str(), kUsage);
    return 2;
}

std::optional<int32_t> parse_target(const std::string& s) {
    if (s == "home") return ssi::wire::kMigrateHome;
    if (s == "auto") return ssi::wire::kMigrateAuto;
    int32_t node = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), node);
    if (ec != std::errc() || end != s.data() + s.size() || node < 1 || node > 9999) return std::nullopt;
    return node;
}

ssi::Result<int> run(int argc, char** argv) {
    std::vector<std::string> args;
    bool quiet = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "-h" || a == "--help") {
            std::fputs(kUsage, stdout);
            return 0;
        }
        if (a == "-q" || a == "--quiet") quiet = true;
        else if (a.size() > 1 && a[0] == '-') return usage_error("unknown option " + a);
        else args.push_back(a);
    }
    if (args.size() != 2) return usage_error(args.size() < 2 ? "a process and a node are needed" : "one process at a time");
    auto parsed = ssi::Gpid::parse(args[0]);
    if (!parsed) return usage_error(parsed.error().message());
    const ssi::Gpid gpid = *parsed;
    auto where = parse_target(args[1]);
    if (!where) return usage_error(args[1] + ": not a node id (1..9999), home or auto");
    const int32_t target = *where;

    ssi::AgentClient agent = TRY(ssi::AgentClient::connect());
    ImageWatch image = quiet ? ImageWatch{} : watch_image(gpid);
    ssi::WatchedProgress bar("ssi-migrate: " + gpid.str() + " to " + args[1], image.expected,
                             [&] { return image.path.empty() ? 0 : image_bytes(image.path); });
    auto reply = agent.call(ssi::wire::MigrateRequest{gpid.value(), target, 0}, kMigrateTimeoutMs);
    bar.finish();
    if (!reply) return ssi::make_error(args[0] + ": " + reply.error().message());
    auto* moved = std::get_if<ssi::wire::MigrateReply>(&*reply);
    if (!moved) return ssi::make_error("the local ssi-agent sent an unexpected reply");
    if (!quiet) {
        std::string ahead;
        if (moved->precopy_bytes != 0)
            ahead = fmt::format("; {:.1f} MiB of it while it ran", double(moved->precopy_bytes) / (1 << 20));
        std::fprintf(stderr, "ssi-migrate: %s runs on node %d (%.1f MiB moved, stopped %u ms, %u ms in all%s)\n",
                     gpid.str().c_str(), moved->node, double(moved->image_bytes) / (1 << 20), moved->frozen_ms,
                     moved->total_ms, ahead.c_str());
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) { return ssi::run_tool("ssi-migrate", argc, argv, run); }
