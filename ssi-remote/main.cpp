// ssi-remote: the supervisor of one remotely run program, started by the target node's
// agent with the run's spec (a wire::RunRequest) on stdin — often well before the run, so
// that the run does not wait for this program to load: the spec's EOF starts the work.
// Not for users to call.
#include "kern-ext/files.h"
#include "kern-ext/process.h"
#include "libssi/config.h"
#include "libssi/remote/sealed_link.h"
#include "libssi/wire/codec.h"
#include "libssi/zmq_calls.h"
#include "ssi-remote/standby_threads.h"
#include "ssi-remote/supervisor.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <optional>

#include <zmq.hpp>

// A start's threads: the mount's prime and release batches, the system call dispatch, the
// children's and the sockets' (standby_threads.h). The mount's loop and readahead probe
// start with the spare's mount (Supervisor::prepare_spare); a thread made and never used
// costs its clone and exit, ~0.25 ms of CPU here.
constexpr size_t kStandbyThreads = 5;

int main(int argc, char** argv) {
    ::signal(SIGPIPE, SIG_IGN);
    ssi::keep_freed_heap_memory(64u << 20);  // output, file data and images move in MiB blocks
    ssi::use_one_heap_arena();  // a dozen threads, one short run
    // Before the threads: the mount holds this node's copies of the files the program has
    // open, and its handles (kern-ext/process.h says why now).
    (void)ssi::reserve_descriptor_table(4096);
    // Before any thread: a fork of this process is cheap now, and costly in the run.
    const std::string runs_dir = argc > 1 ? argv[1] : "";
    ssi::remote::SpareStart spare = ssi::remote::Supervisor::prepare_spare(runs_dir);
    // ZeroMQ starts its I/O and reaper threads with a context's first socket: while we wait
    // for a run, not after it came (about a millisecond of a start here).
    zmq::context_t context = ssi::started_context();
    ssi::remote::prepare_sealing();  // likewise libgcrypt, for the file links
    ssi::remote::start_standby_threads(kStandbyThreads);  // and the run's threads
    std::string bytes;
    char buf[65536];
    for (;;) {
        auto n = ssi::read_some(STDIN_FILENO, buf);
        if (!n) return std::fprintf(stderr, "ssi-remote: reading the spec: %s\n", n.error().message().c_str()), 1;
        if (*n == 0) break;
        bytes.append(buf, *n);
    }
    // A spare supervisor whose agent stopped before it had a run for it.
    if (bytes.empty()) return 0;
    auto envelope = ssi::wire::decode(bytes);
    auto* spec = envelope ? std::get_if<ssi::wire::RunRequest>(&envelope->body) : nullptr;
    if (!spec) {
        std::fprintf(stderr, "ssi-remote: no run spec on stdin (this program is started by ssi-agent)\n");
        return 2;
    }
    // The agent's own node id travels as the spec's target (it names where we run).
    int32_t node = spec->target;
    ssi::remote::Supervisor supervisor(context, std::move(*spec), node, runs_dir, std::move(spare));
    supervisor.run();
    return 0;
}
