// ssi-checkpoint: save a running process to an image file (docs/checkpoint.md).
//   ssi-checkpoint GPID -o FILE [--leave-running | --kill]
// The tool creates the file itself, with the caller's credentials and mode 0600, as a
// temporary file beside FILE that is renamed over FILE once the image is whole (a
// symlink planted at FILE is replaced, never followed); the agent, which does the
// checkpoint, writes into that open file (it takes the descriptor from us).
#include "kern-ext/file_ops.h"
#include "kern-ext/files.h"
#include "kern-ext/process.h"
#include "libssi/agent_client.h"
#include "libssi/config.h"
#include "libssi/gpid.h"
#include "libssi/proc_table.h"
#include "libssi/progress.h"
#include "libssi/tool_main.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

constexpr const char* kUsage =
    "usage: ssi-checkpoint GPID -o FILE [--leave-running | --kill]\n"
    "Saves the process GPID, wherever it runs, to FILE (here). By default it goes on\n"
    "running; --kill ends it once saved. ssi-restart FILE resumes it.\n";

constexpr int kCheckpointTimeoutMs = 10 * 60 * 1000;

ssi::Error usage_error(const std::string& what) { return ssi::make_error(what + "\n" + kUsage); }

// The file removed unless commit()ed.
struct TempFile {
    std::string path;
    ~TempFile() {
        if (!path.empty()) (void)ssi::unlink_at(AT_FDCWD, path, 0);
    }
};

// The node where the process runs now, from the table this node keeps (0: not listed).
int32_t where_it_runs(const ssi::Gpid& gpid, int32_t& self) {
    const char* env = std::getenv("SSI_TABLE");
    auto reader = ssi::ProcTableReader::open(env && *env ? env : ssi::kDefaultTableName);
    if (!reader) return 0;
    auto table = reader->read();
    if (!table) return 0;
    self = table->local_node;
    for (const auto& r : table->processes)
        if (r.gpid == gpid.value()) return r.node;
    return 0;
}

ssi::Result<int> run(int argc, char** argv) {
    std::string target, output;
    bool kill = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "-h" || a == "--help") {
            std::fputs(kUsage, stdout);
            return 0;
        } else if (a == "-o" || a == "--output") {
            if (i + 1 >= argc) return usage_error("option " + a + " needs a file");
            output = argv[++i];
        } else if (a.rfind("--output=", 0) == 0) {
            output = a.substr(9);
        } else if (a == "--kill") {
            kill = true;
        } else if (a == "--leave-running") {
            kill = false;
        } else if (!a.empty() && a[0] == '-') {
            return usage_error("unknown option " + a);
        } else if (target.empty()) {
            target = a;
        } else {
            return usage_error("one process at a time");
        }
    }
    if (target.empty()) return usage_error("no process given");
    if (output.empty()) return usage_error("no image file given (-o FILE)");
    ssi::Gpid gpid = TRY(ssi::Gpid::parse(target));
    if (output[0] != '/') output = TRY(ssi::current_dir()) + "/" + output;

    // The agent of the node where it runs saves it: this very command runs there through
    // ssi-run, which writes FILE here through this node's file view.
    int32_t self = 0;
    const int32_t node = where_it_runs(gpid, self);
    if (node != 0 && self != 0 && node != self) {
        std::string tool = TRY(ssi::self_executable());
        std::string ssi_run = tool.substr(0, tool.rfind('/')) + "/ssi-run";
        return ssi::exec_file(ssi_run, {ssi_run, "-n", std::to_string(node), "--", tool, gpid.str(), "-o", output,
                                        kill ? "--kill" : "--leave-running"});
    }

    TempFile temp{output + ".part." + std::to_string(::getpid())};
    ssi::UniqueFd file = TRY(ssi::open_file(temp.path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    ssi::AgentClient agent = TRY(ssi::AgentClient::connect());
    // The image grows in our own open file; the process's resident size is about its end.
    uint64_t expected = 0;
    if (auto statm = ssi::read_file("/proc/" + std::to_string(gpid.pid) + "/statm"))
        expected = std::strtoull(statm->c_str() + statm->find(' ') + 1, nullptr, 10) * 4096;
    ssi::WatchedProgress bar("ssi-checkpoint: saving " + target, expected, [&] {
        auto st = ssi::stat_at(file.get(), "", AT_EMPTY_PATH);
        return st ? uint64_t(st->st_size) : 0;
    });
    auto reply = agent.call(ssi::wire::CheckpointRequest{gpid.value(), file.get(), kill}, kCheckpointTimeoutMs);
    bar.finish();
    if (!reply) return ssi::make_error(target + ": " + reply.error().message());
    auto* done = std::get_if<ssi::wire::CheckpointReply>(&*reply);
    if (!done) return ssi::make_error("the local ssi-agent sent an unexpected reply");
    file.reset();
    TRY(ssi::rename_at(AT_FDCWD, temp.path, AT_FDCWD, output, 0));
    temp.path.clear();
    if (::isatty(STDERR_FILENO))
        std::fprintf(stderr, "ssi-checkpoint: %s saved to %s (%.1f MiB)%s\n", target.c_str(), output.c_str(),
                     double(done->bytes) / (1 << 20), kill ? ", process ended" : "");
    return 0;
}

}  // namespace

int main(int argc, char** argv) { return ssi::run_tool("ssi-checkpoint", argc, argv, run); }
