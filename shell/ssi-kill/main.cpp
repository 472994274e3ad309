// ssi-kill: kill(1) for the whole cluster.
//   ssi-kill [-s SIG | -SIG | -n NUM] GPID...     ssi-kill -l [SIG]
// Exit status as procps kill: 0 when every signal was delivered, 1 otherwise.
#include "libssi/agent_client.h"
#include "libssi/gpid.h"
#include "libssi/signals.h"
#include "libssi/tool_main.h"

#include <signal.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr const char* kUsage =
    "usage: ssi-kill [-s SIGNAL | -SIGNAL | -n NUMBER] GPID...\n"
    "       ssi-kill -l [SIGNAL]\n"
    "GPID is a global PID (30004711) or NODE:PID (3:4711).\n";

ssi::Error usage_error(const std::string& what) { return ssi::make_error(what + "\n" + kUsage); }

ssi::Result<int> list_signals(const std::vector<std::string>& args) {
    if (args.empty()) {
        std::string line;
        for (int s : ssi::all_signals()) {
            line += ssi::signal_name(s);
            line += s == ssi::all_signals().back() ? "\n" : " ";
        }
        std::fputs(line.c_str(), stdout);
        return 0;
    }
    for (const auto& a : args) {
        // A number prints its name, a name its number (as kill -l does); an exit status
        // of 128+N names signal N.
        bool numeric = !a.empty() && std::isdigit(static_cast<unsigned char>(a[0]));
        if (numeric) {
            int n = std::atoi(a.c_str());
            int s = TRY(ssi::parse_signal(std::to_string(n > 128 ? n - 128 : n)));
            std::printf("%s\n", ssi::signal_name(s).c_str());
        } else {
            std::printf("%d\n", TRY(ssi::parse_signal(a)));
        }
    }
    return 0;
}

ssi::Result<int> run(int argc, char** argv) {
    int signal = SIGTERM;
    std::vector<std::string> targets;
    bool list = false, options_done = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (options_done || a.empty() || a[0] != '-' || a == "-") {
            targets.push_back(a);
            continue;
        }
        if (a == "--") {
            options_done = true;
        } else if (a == "-h" || a == "--help") {
            std::fputs(kUsage, stdout);
            return 0;
        } else if (a == "-l" || a == "--list" || a == "-L" || a == "--table") {
            list = true;
        } else if (a == "-s" || a == "--signal" || a == "-n") {
            if (i + 1 >= argc) return usage_error("option " + a + " needs a signal");
            signal = TRY(ssi::parse_signal(argv[++i]));
        } else if (a.rfind("--signal=", 0) == 0) {
            signal = TRY(ssi::parse_signal(a.substr(9)));
        } else {
            signal = TRY(ssi::parse_signal(a.substr(1)));  // -9, -KILL, -SIGKILL
        }
    }
    if (list) return list_signals(targets);
    if (targets.empty()) return usage_error("no process given");

    std::vector<ssi::Gpid> gpids;
    for (const auto& t : targets) gpids.push_back(TRY(ssi::Gpid::parse(t)));
    ssi::AgentClient agent = TRY(ssi::AgentClient::connect());
    int status = 0;
    for (size_t i = 0; i < gpids.size(); ++i) {
        auto reply = agent.call(ssi::wire::KillRequest{gpids[i].value(), signal, 0});
        if (!reply) return reply.error();
        auto* k = std::get_if<ssi::wire::KillReply>(&*reply);
        if (!k) return ssi::make_error("the local ssi-agent sent an unexpected reply");
        if (k->err != 0) {
            std::string why = k->message.empty() ? std::strerror(k->err) : k->message;
            std::fprintf(stderr, "ssi-kill: %s: %s\n", targets[i].c_str(), why.c_str());
            status = 1;
        }
    }
    return status;
}

}  // namespace

int main(int argc, char** argv) { return ssi::run_tool("ssi-kill", argc, argv, run); }
