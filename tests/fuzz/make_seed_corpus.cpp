// Writes the fuzzer's seed corpus: one encoded message of every wire type, a few framed
// streams and some near misses, so fuzzing starts from inputs that reach the body decoder
// rather than from random bytes. Built with the project, so the seeds follow the protocol.
//   make_seed_corpus DIR
#include "libssi/wire/codec.h"
#include "libssi/wire/framing.h"

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <string>

using namespace ssi::wire;

namespace {

ProcessRecord record(int32_t pid) {
    return ProcessRecord{30'000'000 + pid, 3, 3, pid, 1, 1000, "alice", "S", 5, 1024, 4096,
                         1'700'000'000, 250, "pts/1", "sleep", "sleep 100"};
}

NodeStatus status(int32_t id) {
    return NodeStatus{id, "127.0.1." + std::to_string(id), "node", 4, 0.5, 0.25, 0.125, 8'000'000, 4'000'000, 120,
                      1'700'000'000};
}

bool write(const std::string& dir, const std::string& name, const std::string& bytes) {
    std::ofstream out(dir + "/" + name, std::ios::binary | std::ios::trunc);
    out << bytes;
    return bool(out);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: make_seed_corpus DIR\n");
        return 2;
    }
    const std::string dir = argv[1];
    const Message messages[] = {
        Heartbeat{status(2), 7, 42},
        TableDelta{7, 43, false, {record(10), record(11)}, {30'000'009}},
        SnapshotRequest{},
        KillRequest{30'004'711, 15, 1000},
        KillReply{1, "Operation not permitted"},
        PsRequest{},
        PsReply{3, {record(12)}},
        ClusterPsRequest{500},
        ClusterPsReply{{record(13)}, {4}},
        NodesRequest{},
        NodesReply{1, {NodeView{status(1), "up", 0, true}, NodeView{status(2), "suspect", 1500, false}}},
        ErrorReply{5, "Input/output error"},
        RunRequest{2, {"/bin/echo", "hi"}, {"PATH=/usr/bin"}, "/tmp", 022, {{7, {1024, 4096}}},
                   "tcp://127.0.1.1:40000", std::string(40, 'P'), std::string(40, 'S'), "home", 1, 4711, 4700,
                   1000, 100, {100, 27}, TerminalSpec{true, true, true, 0x500, 0x5, 0xbf, 0x8a3b, "\x03\x1c", 0, 0, 24, 80}, "/bin/echo"},
        RunReply{2},
        SessionHello{2},
        StdinData{"input\n"},
        OutputData{1, "hi\n"},
        ForwardSignal{2},
        ProgramExited{0, 0, false, "", 5, "x"},
        Keepalive{},
        WindowSize{24, 80},
        CheckpointRequest{10'004'711, 4, false},
        CheckpointReply{4096},
        RestartRequest{0, 3, "/tmp/x.img", false},
        RestartReply{10'004'711, 4711},
        RestartWaitRequest{10'004'711},
        MigrateRequest{10'004'711, 2, 1000},
        MigrateReply{2, 1 << 20, 12, 80},
        MoveOrder{3, "/run/ssi/images/1-4711.img", 4712},
        DeputyParked{"/run/ssi/images/1-4711.img", 1 << 20, "", {2}},
        CheckpointOrder{"/run/ssi/images/1-4711.img", true},
        CheckpointDone{1 << 20, "", "abc"},
        RestoreReady{},
        ResumeOrder{},
        Resumed{},
        TerminalForeground{false},
        ChildReserve{4711},
        ChildReserved{4712, ""},
        ChildEnded{4712, 0x0300},
        ChildSignal{4712, 10},
        StdinTaken{65536},
        OutputTaken{1 << 20},
        LastWordReceived{},
        HomeSignal{4711, 10},
    };
    static_assert(std::size(messages) == std::variant_size_v<Message>);
    bool ok = true;
    std::string stream;
    for (const Message& m : messages) {
        std::string bytes = encode(Envelope{uint64_t(m.index()) + 1, m});
        ok &= write(dir, std::string("msg-") + type_name(m), bytes);
        stream += frame(bytes);
    }
    ok &= write(dir, "stream-all", stream);
    ok &= write(dir, "empty-delta", encode(TableDelta{1, 1, true, {}, {}}));
    ok &= write(dir, "frame-too-long", std::string("\x7f\xff\xff\xff", 4) + encode(PsRequest{}));
    if (!ok) {
        std::perror(dir.c_str());
        return 1;
    }
    return 0;
}
