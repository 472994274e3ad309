// ssi-run: runs a program on another node as if it ran here.
//   ssi-run [-n NODE | --auto] [--] PROGRAM [ARGS...]
// This process stays home as the program's deputy: the program wears its PID, uses its
// stdin/stdout/stderr, its cwd and the home files, gets the signals sent to it, and ssi-run
// exits with the program's status (or dies of its signal). ssi-run's own failures exit 255.
#include "kern-ext/process.h"
#include "kern-ext/program_setup.h"
#include "libssi/agent_client.h"
#include "libssi/remote/sealed_link.h"
#include "libssi/remote/session.h"
#include "libssi/tool_main.h"
#include "libssi/zmq_calls.h"
#include "shell/ssi-run/deputy.h"

#include <signal.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>

namespace {

constexpr const char* kUsage = "usage: ssi-run [-n NODE | --auto] [--] PROGRAM [ARGS...]\n";

ssi::Result<ssi::run::RunOptions> parse(int argc, char** argv) {
    ssi::run::RunOptions o;
    int i = 1;
    for (; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--") {
            ++i;
            break;
        }
        if (a.empty() || a[0] != '-') break;
        if (a == "--auto") {
            o.node = 0;
        } else if (a == "-n" || a == "--node") {
            if (i + 1 >= argc) return ssi::make_error(std::string("option ") + a + " needs a node\n" + kUsage);
            std::string v = argv[++i];
            auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), o.node);
            if (ec != std::errc() || end != v.data() + v.size() || o.node < 1 || o.node > 9999)
                return ssi::make_error(v + ": not a node id (1..9999)\n" + kUsage);
        } else if (a == "-h" || a == "--help") {
            std::fputs(kUsage, stdout);
            std::exit(0);
        } else {
            return ssi::make_error("unknown option " + a + "\n" + kUsage);
        }
    }
    for (; i < argc; ++i) o.argv.emplace_back(argv[i]);
    if (o.argv.empty()) return ssi::make_error(std::string("no program given\n") + kUsage);
    return o;
}

// This node's cluster address and id, for the deputy's sockets; `meanwhile` runs while
// the agent answers.
ssi::Result<std::pair<std::string, int32_t>> self_node(ssi::AgentClient& agent,
                                                       const std::function<void()>& meanwhile = {}) {
    ssi::wire::Message nodes = TRY(agent.call(ssi::wire::NodesRequest{}, 5000, meanwhile));
    auto* view = std::get_if<ssi::wire::NodesReply>(&nodes);
    if (!view) return ssi::make_error("the local ssi-agent sent an unexpected reply");
    for (const auto& n : view->nodes)
        if (n.self) return std::pair{n.status.address, view->self};
    return ssi::make_error("the local ssi-agent does not know its own address");
}

// `ssi-run --adopt`: what a process migrating away from home becomes. The home agent
// saved it and exec'd us in its place (same PID, parent, open files, cwd); we wait for
// its MoveOrder, then serve as its deputy. We start with every signal blocked, and
// pending exactly those sent to the process since its image was taken (the image's own
// were taken off: kern-ext/checkpoint/replace_stopped.cpp): they stay pending for our
// signalfd, which holds them for the process until it runs again. Every disposition goes
// back to default (exec kept the ignored ones) so that we hear them all and forward them.
//
// If the agent is gone before we can take its order (it died as it made us), we park as
// a move that fell back does — one thread, every signal held, in pause() — and the agent,
// once restarted, rebuilds the process in us from the image beside us.
ssi::Result<int> adopt() {
    sigset_t all;
    sigfillset(&all);
    TRY(ssi::set_signal_mask(SIG_SETMASK, all));
    TRY(ssi::reset_signal_handlers());
    auto deputy = [&]() -> ssi::Result<std::unique_ptr<ssi::run::Deputy>> {
        ssi::AgentClient agent = TRY(ssi::AgentClient::connect());
        auto [address, node] = TRY(self_node(agent));
        return ssi::run::Deputy::create(address, node, zmq::context_t(1));
    }();
    if (!deputy)
        for (;;) ::pause();
    return (*deputy)->serve(0);
}

ssi::Result<int> start_and_serve(int argc, char** argv) {
    if (argc == 2 && std::strcmp(argv[1], "--adopt") == 0) return adopt();
    auto options = parse(argc, argv);
    if (!options) {
        std::fprintf(stderr, "ssi-run: %s", options.error().message().c_str());
        return 2;
    }
    // The program is looked for at home, along the home PATH, as a shell would: no round
    // trips to the target for the misses, and "not found" is known before anything starts.
    const char* path = std::getenv("PATH");
    auto program = ssi::find_program(options->argv[0], path ? path : "/usr/local/bin:/usr/bin:/bin");
    if (!program) {
        std::fprintf(stderr, "ssi-run: %s: %s\n", options->argv[0].c_str(), std::strerror(program.error().err));
        return ssi::exec_failure_status(program.error().err);
    }
    // The target resolves relative names against the home cwd by its path: a directory
    // deleted under us has none, and "/" in its place would put the program's files there.
    if (auto cwd = ssi::current_dir(); !cwd)
        return ssi::make_error("the current directory cannot be named (" + cwd.error().message() +
                               "); change to one that exists");
    ssi::AgentClient agent = TRY(ssi::AgentClient::connect());
    // ZeroMQ's threads start while the agent looks up this node (0.7-1.2 ms here).
    zmq::context_t context;
    auto [address, node] = TRY(self_node(agent, [&] { context = ssi::started_context(); }));
    auto deputy = TRY(ssi::run::Deputy::create(address, node, std::move(context)));
    ssi::wire::RunRequest request = deputy->request(*options);
    request.program = *program;
    // The supervisor's first file request needs our sealing and file server ready: made
    // while the agents start the run.
    ssi::Result<void> files = ssi::ok();
    ssi::wire::Message reply = TRY(agent.call(request, 10000, [&] {
        ssi::remote::prepare_sealing();
        files = deputy->prepare_files();
    }));
    TRY(files);
    auto* started = std::get_if<ssi::wire::RunReply>(&reply);
    if (!started) return ssi::make_error("the local ssi-agent sent an unexpected reply");
    int status = TRY(deputy->serve(started->node));
    // The program's status is all the shell waits for now. Nothing we hold needs an
    // orderly close: the supervisor hears our connection drop as it would our last word,
    // and ZeroMQ's teardown (its linger, its threads) would delay the status by 1-2 ms.
    ssi::exit_now(status);
}

// The program's statuses are all its own: ssi-run's failures exit 255, never 1.
ssi::Result<int> run(int argc, char** argv) {
    auto status = start_and_serve(argc, argv);
    if (status) return status;
    std::fprintf(stderr, "ssi-run: %s\n", status.error().message().c_str());
    return ssi::remote::kDeputyFailureStatus;
}

}  // namespace

int main(int argc, char** argv) {
    // A stdio descriptor closed at home reads as empty and swallows what is written, over
    // there: left closed here, the next socket or file we open would take its number and
    // be served as the program's stdio.
    if (auto filled = ssi::fill_closed_stdio(); !filled) {
        std::fprintf(stderr, "ssi-run: %s\n", filled.error().message().c_str());
        return ssi::remote::kDeputyFailureStatus;
    }
    // Before ZeroMQ's threads: the home file server holds a descriptor for each name the
    // target knows, thousands for a big listing (kern-ext/process.h says why now).
    (void)ssi::reserve_descriptor_table(8192);
    // The deputy serves file data, output and images in MiB blocks: keep warm pages.
    ssi::keep_freed_heap_memory(32u << 20);
    ssi::use_one_heap_arena();
    return ssi::run_tool("ssi-run", argc, argv, run);
}
