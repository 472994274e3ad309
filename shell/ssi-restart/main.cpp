// ssi-restart: resume a process from an image made by ssi-checkpoint (docs/checkpoint.md).
//   ssi-restart FILE [-n NODE] [--detach]
// The local agent rebuilds the process with our credentials and our stdin, stdout and
// stderr (its other files are closed). We wait for it and exit with its status, as if
// we had run it; --detach prints its gpid and returns at once. The file is opened here,
// with our own rights: the agent reads the open file it takes from us.
#include "kern-ext/files.h"
#include "kern-ext/process.h"
#include "libssi/agent_client.h"
#include "libssi/gpid.h"
#include "libssi/tool_main.h"

#include <fcntl.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

constexpr const char* kUsage =
    "usage: ssi-restart FILE [-n NODE] [--detach]\n"
    "Resumes the process saved in FILE on this node, with your identity and this\n"
    "command's stdin, stdout and stderr, and exits with its exit status; --detach\n"
    "prints its gpid instead of waiting.\n";

constexpr int kRestoreTimeoutMs = 10 * 60 * 1000;

ssi::Error usage_error(const std::string& what) { return ssi::make_error(what + "\n" + kUsage); }

ssi::Result<int> run(int argc, char** argv) {
    std::string path;
    int32_t node = 0;
    bool detach = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "-h" || a == "--help") {
            std::fputs(kUsage, stdout);
            return 0;
        } else if (a == "-n" || a == "--node") {
            if (i + 1 >= argc) return usage_error("option " + a + " needs a node");
            char* end = nullptr;
            long n = std::strtol(argv[++i], &end, 10);
            if (*end != '\0' || n <= 0 || n > ssi::kMaxNodeId) return usage_error(std::string("bad node ") + argv[i]);
            node = int32_t(n);
        } else if (a == "--detach" || a == "-d") {
            detach = true;
        } else if (!a.empty() && a[0] == '-') {
            return usage_error("unknown option " + a);
        } else if (path.empty()) {
            path = a;
        } else {
            return usage_error("one image at a time");
        }
    }
    if (path.empty()) return usage_error("no image file given");
    if (path[0] != '/') path = TRY(ssi::current_dir()) + "/" + path;
    ssi::UniqueFd file = TRY(ssi::open_file(path, O_RDONLY | O_CLOEXEC));

    ssi::AgentClient agent = TRY(ssi::AgentClient::connect());
    if (node != 0) {
        ssi::wire::Message nodes = TRY(agent.call(ssi::wire::NodesRequest{}));
        auto* view = std::get_if<ssi::wire::NodesReply>(&nodes);
        if (view && view->self != node) {
            // Another node: this very command runs there through ssi-run, which keeps
            // this terminal, reads the image from here and brings the exit status back.
            file.reset();
            std::string self = TRY(ssi::self_executable());
            std::string ssi_run = self.substr(0, self.rfind('/')) + "/ssi-run";
            std::vector<std::string> args = {ssi_run, "-n", std::to_string(node), "--", self, path};
            if (detach) args.push_back("--detach");
            return ssi::exec_file(ssi_run, args);
        }
    }
    auto reply = agent.call(ssi::wire::RestartRequest{node, file.get(), path, detach}, kRestoreTimeoutMs);
    if (!reply) return reply.error();
    auto* started = std::get_if<ssi::wire::RestartReply>(&*reply);
    if (!started) return ssi::make_error("the local ssi-agent sent an unexpected reply");
    file.reset();
    ssi::Gpid gpid = ssi::Gpid::from_value(started->gpid);
    if (gpid.pid != started->image_pid)
        std::fprintf(stderr, "ssi-restart: PID %d is taken on node %d: the process runs as PID %d (gpid %s)\n",
                     started->image_pid, gpid.node, gpid.pid, gpid.str().c_str());
    if (detach) {
        std::printf("%s\n", gpid.str().c_str());
        return 0;
    }
    auto ended = agent.call(ssi::wire::RestartWaitRequest{started->gpid}, INT_MAX);
    if (!ended) return ended.error();
    auto* exited = std::get_if<ssi::wire::ProgramExited>(&*ended);
    if (!exited) return ssi::make_error("the local ssi-agent sent an unexpected reply");
    return exited->exit_code;
}

}  // namespace

int main(int argc, char** argv) { return ssi::run_tool("ssi-restart", argc, argv, run); }
