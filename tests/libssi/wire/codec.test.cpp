#include "libssi/wire/codec.h"

#include <catch2/catch.hpp>

#include <csignal>
#include <cerrno>
#include <random>
#include <set>
#include <tuple>

using namespace ssi;
using namespace ssi::wire;

namespace {

// ---- samples: every field set to something other than its default ----------------------

ProcessRecord sample_record(int32_t pid) {
    ProcessRecord r;
    r.gpid = 30'000'000 + pid;
    r.node = 4;
    r.home = 3;
    r.pid = pid;
    r.ppid = 77;
    r.uid = 1001;
    r.user = "alice";
    r.state = "Ss+";
    r.pcpu_x10 = 123;
    r.rss_kb = 5'000'000'000ull;  // needs 64 bits
    r.vsz_kb = 1ull << 40;
    r.start_time = -1'700'000'000;  // negative: checks the signed path
    r.cpu_ms = 98765;
    r.tty = "pts/7";
    r.comm = "sleep";
    r.cmd = std::string("sleep 1000 \xc3\xa9\0tail", 19);  // UTF-8 and an embedded NUL
    return r;
}

NodeStatus sample_status() {
    NodeStatus s;
    s.id = 3;
    s.address = "127.0.1.3";
    s.hostname = "node-three";
    s.cpus = 64;
    s.load1 = 1.25;
    s.load5 = 0.5;
    s.load15 = 3.75;
    s.mem_total_kb = 65'000'000;
    s.mem_free_kb = 12'345'678;
    s.processes = 432;
    s.started_at = 1'700'000'123;
    return s;
}

// One message of every type, in wire type order.
std::vector<Message> samples() {
    std::vector<Message> out;
    out.emplace_back(Heartbeat{sample_status(), 42, 4242});
    out.emplace_back(TableDelta{7, 99, true, {sample_record(1), sample_record(2)}, {30'000'003, 30'000'004}});
    out.emplace_back(SnapshotRequest{});
    out.emplace_back(KillRequest{30'004'711, 15, 1000});
    out.emplace_back(KillReply{EPERM, "Operation not permitted"});
    out.emplace_back(PsRequest{});
    out.emplace_back(PsReply{5, {sample_record(10), sample_record(11), sample_record(12)}});
    out.emplace_back(ClusterPsRequest{2500});
    out.emplace_back(ClusterPsReply{{sample_record(20)}, {2, 9}});
    out.emplace_back(NodesRequest{});
    out.emplace_back(NodesReply{3, {NodeView{sample_status(), "suspect", 1234, true},
                                    NodeView{NodeStatus{7, "10.0.0.7"}, "down", -1, false}}});
    out.emplace_back(ErrorReply{EHOSTDOWN, "node 7 is down"});
    RunRequest run;
    run.target = 4;
    run.argv = {"/bin/sh", "-c", "echo hi"};
    run.env = {"PATH=/usr/bin", "LANG=C.UTF-8"};
    run.cwd = "/home/alice";
    run.umask = 077;
    run.rlimits = {{7, {1024, 4096}}, {3, {~0ull, ~0ull}}};
    run.deputy_endpoint = "tcp://127.0.1.1:40000";
    run.deputy_public_key = std::string(40, 'P');
    run.session_secret_key = std::string(40, 'S');
    run.hostname = "home";
    run.home = 1;
    run.pid = 4711;
    run.ppid = 4700;
    run.uid = 1000;
    run.gid = 100;
    run.groups = {100, 27, 4};
    run.terminal = TerminalSpec{true, true, false, 0x500, 0x5, 0xbf, 0x8a3b, std::string("\x03\x1c\x7f\0", 4), 38400, 9600, 33, 101};
    run.program = "/bin/sh";
    run.restore_image = "/run/ssi/images/4711.img";
    run.lazy_memory = true;
    run.null_stdio = 0b110;
    run.deputy_files_port = 40001;
    out.emplace_back(run);
    out.emplace_back(RunReply{4});
    out.emplace_back(SessionHello{4});
    out.emplace_back(StdinData{std::string("in\0put", 6)});
    out.emplace_back(OutputData{2, "error output\n"});
    out.emplace_back(ForwardSignal{SIGINT});
    out.emplace_back(ProgramExited{3, 9, true, "killed", 7'000'000'000ull, std::string("un\0read", 7)});
    out.emplace_back(Keepalive{});
    out.emplace_back(WindowSize{33, 101});
    out.emplace_back(CheckpointRequest{10'004'711, 5, true});
    out.emplace_back(CheckpointReply{123'456'789});
    out.emplace_back(RestartRequest{2, 3, "/var/tmp/a.img", true});
    out.emplace_back(RestartReply{10'004'712, 4711});
    out.emplace_back(RestartWaitRequest{10'004'712});
    out.emplace_back(MigrateRequest{10'004'712, kMigrateHome, 1000});
    out.emplace_back(MigrateReply{3, 1ull << 33, 41, 977, 1ull << 32});
    out.emplace_back(MoveOrder{2, "/run/ssi/images/1-4711.img", 4712});
    out.emplace_back(DeputyParked{"/run/ssi/images/1-4711.img", 1ull << 31, "node 2 is down", {SIGINT, SIGUSR1}, 1ull << 33, 25});
    out.emplace_back(CheckpointOrder{"/run/ssi/images/1-4711.img", true});
    out.emplace_back(CheckpointDone{123'456, "not supported", std::string("un\0read", 7), 1ull << 33, 25});
    out.emplace_back(RestoreReady{});
    out.emplace_back(ResumeOrder{});
    out.emplace_back(Resumed{});
    out.emplace_back(TerminalForeground{false});
    out.emplace_back(ChildReserve{4711});
    out.emplace_back(ChildReserved{0, "the deputy cannot fork"});
    out.emplace_back(ChildEnded{4712, 0x8b});
    out.emplace_back(ChildSignal{4712, 15});
    out.emplace_back(StdinTaken{5'000'000'000ull});
    out.emplace_back(OutputTaken{6'000'000'000ull});
    out.emplace_back(LastWordReceived{});
    out.emplace_back(HomeSignal{4711, 34, 4712, true, -77});
    return out;
}

// How many fields each message body has on the wire. When a field is appended to a message
// this fails, as a reminder to extend sample() and same() above and below.
constexpr uint32_t kBodyFields[] = {3, 5, 0, 3, 2, 0, 2, 1, 2, 0, 2, 2, 22, 1, 1, 1, 2, 1, 6, 0, 2, 3, 1, 4, 2, 1,
                                   3, 5, 3, 6, 2, 5, 0, 0, 0, 1, 1, 2, 2, 2, 1, 1, 0, 5};
static_assert(std::size(kBodyFields) == std::variant_size_v<Message>);

// ---- field-by-field comparison -------------------------------------------------------------

bool same(const ProcessRecord& a, const ProcessRecord& b) {
    auto t = [](const ProcessRecord& r) {
        return std::tie(r.gpid, r.node, r.home, r.pid, r.ppid, r.uid, r.user, r.state, r.pcpu_x10, r.rss_kb,
                        r.vsz_kb, r.start_time, r.cpu_ms, r.tty, r.comm, r.cmd);
    };
    return t(a) == t(b);
}
bool same(const NodeStatus& a, const NodeStatus& b) {
    auto t = [](const NodeStatus& s) {
        return std::tie(s.id, s.address, s.hostname, s.cpus, s.load1, s.load5, s.load15, s.mem_total_kb,
                        s.mem_free_kb, s.processes, s.started_at);
    };
    return t(a) == t(b);
}
bool same(const NodeView& a, const NodeView& b) {
    return same(a.status, b.status) && a.state == b.state && a.last_heard_ms == b.last_heard_ms && a.self == b.self;
}
bool same(int64_t a, int64_t b) { return a == b; }
bool same(int32_t a, int32_t b) { return a == b; }
template <class T>
bool same(const std::vector<T>& a, const std::vector<T>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (!same(a[i], b[i])) return false;
    return true;
}

bool same(const Heartbeat& a, const Heartbeat& b) {
    return same(a.status, b.status) && a.table_epoch == b.table_epoch && a.table_seq == b.table_seq;
}
bool same(const TableDelta& a, const TableDelta& b) {
    return a.epoch == b.epoch && a.seq == b.seq && a.full == b.full && same(a.upserts, b.upserts) &&
           same(a.removed, b.removed);
}
bool same(const SnapshotRequest&, const SnapshotRequest&) { return true; }
bool same(const KillRequest& a, const KillRequest& b) {
    return a.gpid == b.gpid && a.signal == b.signal && a.caller_uid == b.caller_uid;
}
bool same(const KillReply& a, const KillReply& b) { return a.err == b.err && a.message == b.message; }
bool same(const PsRequest&, const PsRequest&) { return true; }
bool same(const PsReply& a, const PsReply& b) { return a.node == b.node && same(a.processes, b.processes); }
bool same(const ClusterPsRequest& a, const ClusterPsRequest& b) { return a.timeout_ms == b.timeout_ms; }
bool same(const ClusterPsReply& a, const ClusterPsReply& b) {
    return same(a.processes, b.processes) && same(a.unreachable, b.unreachable);
}
bool same(const NodesRequest&, const NodesRequest&) { return true; }
bool same(const NodesReply& a, const NodesReply& b) { return a.self == b.self && same(a.nodes, b.nodes); }
bool same(const ErrorReply& a, const ErrorReply& b) { return a.err == b.err && a.message == b.message; }
bool same(const TerminalSpec& a, const TerminalSpec& b) {
    auto t = [](const TerminalSpec& s) {
        return std::tie(s.enabled, s.stdout_tty, s.stderr_tty, s.iflag, s.oflag, s.cflag, s.lflag, s.cc, s.ispeed,
                        s.ospeed, s.rows, s.cols);
    };
    return t(a) == t(b);
}
bool same(const RunRequest& a, const RunRequest& b) {
    auto t = [](const RunRequest& r) {
        return std::tie(r.target, r.argv, r.env, r.cwd, r.umask, r.rlimits, r.deputy_endpoint, r.deputy_public_key,
                        r.session_secret_key, r.hostname, r.home, r.pid, r.ppid, r.uid, r.gid, r.groups, r.program,
                        r.restore_image, r.lazy_memory, r.null_stdio, r.deputy_files_port);
    };
    return t(a) == t(b) && same(a.terminal, b.terminal);
}
bool same(const RunReply& a, const RunReply& b) { return a.node == b.node; }
bool same(const SessionHello& a, const SessionHello& b) { return a.node == b.node; }
bool same(const StdinData& a, const StdinData& b) { return a.bytes == b.bytes; }
bool same(const OutputData& a, const OutputData& b) { return a.fd == b.fd && a.bytes == b.bytes; }
bool same(const ForwardSignal& a, const ForwardSignal& b) { return a.signal == b.signal; }
bool same(const ProgramExited& a, const ProgramExited& b) {
    return a.exit_code == b.exit_code && a.signal == b.signal && a.core_dumped == b.core_dumped && a.error == b.error &&
           a.input_received == b.input_received && a.unread_input == b.unread_input;
}
bool same(const Keepalive&, const Keepalive&) { return true; }
bool same(const WindowSize& a, const WindowSize& b) { return a.rows == b.rows && a.cols == b.cols; }
bool same(const CheckpointRequest& a, const CheckpointRequest& b) {
    return a.gpid == b.gpid && a.fd == b.fd && a.kill == b.kill;
}
bool same(const CheckpointReply& a, const CheckpointReply& b) { return a.bytes == b.bytes; }
bool same(const RestartRequest& a, const RestartRequest& b) {
    return a.node == b.node && a.fd == b.fd && a.name == b.name && a.detach == b.detach;
}
bool same(const RestartReply& a, const RestartReply& b) { return a.gpid == b.gpid && a.image_pid == b.image_pid; }
bool same(const RestartWaitRequest& a, const RestartWaitRequest& b) { return a.gpid == b.gpid; }
bool same(const MigrateRequest& a, const MigrateRequest& b) {
    return a.gpid == b.gpid && a.target == b.target && a.caller_uid == b.caller_uid;
}
bool same(const MigrateReply& a, const MigrateReply& b) {
    return a.node == b.node && a.image_bytes == b.image_bytes && a.frozen_ms == b.frozen_ms && a.total_ms == b.total_ms &&
           a.precopy_bytes == b.precopy_bytes;
}
bool same(const MoveOrder& a, const MoveOrder& b) {
    return a.target == b.target && a.image_path == b.image_path && a.memory_holder == b.memory_holder;
}
bool same(const DeputyParked& a, const DeputyParked& b) {
    return a.image_path == b.image_path && a.image_bytes == b.image_bytes && a.why == b.why && a.signals == b.signals &&
           a.precopy_bytes == b.precopy_bytes && a.frozen_ms == b.frozen_ms;
}
bool same(const CheckpointOrder& a, const CheckpointOrder& b) {
    return a.image_path == b.image_path && a.precopy == b.precopy;
}
bool same(const CheckpointDone& a, const CheckpointDone& b) {
    return a.bytes == b.bytes && a.error == b.error && a.unread_input == b.unread_input &&
           a.precopy_bytes == b.precopy_bytes && a.frozen_ms == b.frozen_ms;
}
bool same(const RestoreReady&, const RestoreReady&) { return true; }
bool same(const ResumeOrder&, const ResumeOrder&) { return true; }
bool same(const Resumed&, const Resumed&) { return true; }
bool same(const TerminalForeground& a, const TerminalForeground& b) { return a.foreground == b.foreground; }
bool same(const ChildReserve& a, const ChildReserve& b) { return a.parent == b.parent; }
bool same(const ChildReserved& a, const ChildReserved& b) { return a.pid == b.pid && a.error == b.error; }
bool same(const ChildEnded& a, const ChildEnded& b) { return a.pid == b.pid && a.wait_status == b.wait_status; }
bool same(const ChildSignal& a, const ChildSignal& b) { return a.pid == b.pid && a.signal == b.signal; }
bool same(const StdinTaken& a, const StdinTaken& b) { return a.total == b.total; }
bool same(const OutputTaken& a, const OutputTaken& b) { return a.total == b.total; }
bool same(const LastWordReceived&, const LastWordReceived&) { return true; }
bool same(const HomeSignal& a, const HomeSignal& b) {
    return a.pid == b.pid && a.signal == b.signal && a.tid == b.tid && a.queued == b.queued && a.value == b.value;
}

bool same(const Message& a, const Message& b) {
    if (a.index() != b.index()) return false;
    return std::visit(
        [&](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            return same(x, std::get<T>(b));
        },
        a);
}

// ---- raw MessagePack, for messages encode() would never write --------------------------------

template <class... Fields>
std::string pack_array(const Fields&... fields) {
    msgpack::sbuffer buffer;
    msgpack::packer<msgpack::sbuffer> pk(buffer);
    pk.pack_array(sizeof...(Fields));
    (pk.pack(fields), ...);
    return std::string(buffer.data(), buffer.size());
}

template <class T>
std::string pack(const T& value) {
    msgpack::sbuffer buffer;
    msgpack::pack(buffer, value);
    return std::string(buffer.data(), buffer.size());
}

// An envelope header written by hand, followed by any body bytes.
std::string envelope_with(uint64_t version, uint64_t type, uint64_t request_id, const std::string& body_bytes) {
    msgpack::sbuffer buffer;
    msgpack::packer<msgpack::sbuffer> pk(buffer);
    pk.pack_array(4);
    pk.pack(version);
    pk.pack(type);
    pk.pack(request_id);
    return std::string(buffer.data(), buffer.size()) + body_bytes;
}

Result<Envelope> decode_str(const std::string& bytes) { return decode(std::span<const char>(bytes)); }

// Decodes and requires failure, returning the error's message (never throws by contract).
std::string refused(const std::string& bytes) {
    Result<Envelope> r = Error{};
    REQUIRE_NOTHROW(r = decode_str(bytes));
    REQUIRE_FALSE(r.ok());
    return r.error().message();
}

}  // namespace

TEST_CASE("wire codec", "[wire]") {
    SECTION("every message type round-trips field by field") {
        auto all = samples();
        REQUIRE(all.size() == std::variant_size_v<Message>);
        std::set<size_t> types;
        for (const Message& m : all) {
            INFO(type_name(m));
            types.insert(m.index());
            uint64_t request_id = 0x1234'5678'9abc'def0ull + m.index();
            std::string bytes = encode(Envelope{request_id, m});
            auto decoded = decode_str(bytes);
            REQUIRE(decoded.ok());
            CHECK(decoded->request_id == request_id);
            REQUIRE(decoded->body.index() == m.index());
            CHECK(same(decoded->body, m));
            CHECK(encode(*decoded) == bytes);
        }
        CHECK(types.size() == std::variant_size_v<Message>);  // one of each, none twice
    }

    SECTION("each body has the number of fields the round trip checks") {
        for (const Message& m : samples()) {
            INFO(type_name(m));
            std::string bytes = encode(Envelope{0, m});
            msgpack::object_handle h = msgpack::unpack(bytes.data(), bytes.size());
            const msgpack::object& root = h.get();
            REQUIRE(root.type == msgpack::type::ARRAY);
            REQUIRE(root.via.array.size == 4);
            CHECK(root.via.array.ptr[0].as<uint32_t>() == kProtocolVersion);
            CHECK(root.via.array.ptr[1].as<uint32_t>() == m.index() + 1);  // wire type = index + 1
            REQUIRE(root.via.array.ptr[3].type == msgpack::type::ARRAY);
            CHECK(root.via.array.ptr[3].via.array.size == kBodyFields[m.index()]);
        }
    }

    SECTION("the typed encode() overload is the envelope one") {
        KillRequest k{30'004'711, 9, 0};
        CHECK(encode(k, 77) == encode(Envelope{77, Message{k}}));
        CHECK(encode(k) == encode(Envelope{0, Message{k}}));
    }

    SECTION("type names") {
        CHECK(std::string(type_name(Message{KillRequest{}})) == "KillRequest");
        CHECK(std::string(type_name(Message{ErrorReply{}})) == "ErrorReply");
        CHECK(std::string(type_name(Message{Heartbeat{}})) == "Heartbeat");
    }

    SECTION("a different protocol version is refused, and the error says which") {
        std::string body = pack(KillRequest{30'004'711, 15, 0});
        std::string msg = refused(envelope_with(kProtocolVersion + 1, 4, 0, body));
        CHECK_THAT(msg, Catch::Contains("protocol version " + std::to_string(kProtocolVersion + 1)));
        CHECK_THAT(msg, Catch::Contains("expected " + std::to_string(kProtocolVersion)));
        CHECK_THAT(refused(envelope_with(0, 4, 0, body)), Catch::Contains("protocol version 0"));
        // The control: the same bytes with the right version decode.
        CHECK(decode_str(envelope_with(kProtocolVersion, 4, 0, body)).ok());
    }

    SECTION("unknown type numbers are refused") {
        std::string body = pack_array();
        uint64_t past_end = std::variant_size_v<Message> + 1;
        CHECK_THAT(refused(envelope_with(kProtocolVersion, past_end, 0, body)),
                   Catch::Contains("unknown message type " + std::to_string(past_end)));
        CHECK_THAT(refused(envelope_with(kProtocolVersion, 0, 0, body)), Catch::Contains("unknown message type 0"));
        CHECK_THAT(refused(envelope_with(kProtocolVersion, ~0ull, 0, body)), Catch::Contains("unknown message type"));
        // The last known type is accepted (no off-by-one at the top).
        CHECK(decode_str(envelope_with(kProtocolVersion, std::variant_size_v<Message>, 0, pack(std::variant_alternative_t<std::variant_size_v<Message> - 1, Message>{}))).ok());
    }

    SECTION("every strict prefix of every valid message is refused") {
        for (const Message& m : samples()) {
            INFO(type_name(m));
            std::string bytes = encode(Envelope{99, m});
            for (size_t n = 0; n < bytes.size(); ++n) {
                INFO("prefix of " << n << " of " << bytes.size() << " bytes");
                auto r = decode_str(bytes.substr(0, n));
                REQUIRE_FALSE(r.ok());
            }
        }
        CHECK(decode(std::span<const char>()).ok() == false);  // no bytes at all, null data
        CHECK_THAT(refused(encode(KillRequest{1, 2, 3}).substr(0, 3)), Catch::Contains("truncated"));
    }

    SECTION("trailing bytes are refused") {
        std::string bytes = encode(KillRequest{30'004'711, 15, 0});
        CHECK_THAT(refused(bytes + '\0'), Catch::Contains("trailing"));
        CHECK_THAT(refused(bytes + bytes), Catch::Contains("trailing"));
    }

    SECTION("anything but a four-element envelope is refused") {
        CHECK_THAT(refused(pack(42)), Catch::Contains("not an ssi envelope"));
        CHECK_THAT(refused(pack(std::string("KillRequest"))), Catch::Contains("not an ssi envelope"));
        CHECK_THAT(refused(pack(std::map<int, int>{{1, 4}, {2, 0}})), Catch::Contains("not an ssi envelope"));
        CHECK_THAT(refused(pack_array(kProtocolVersion, 4u, 0u)), Catch::Contains("not an ssi envelope"));
        CHECK_THAT(refused(pack_array(kProtocolVersion, 4u, 0u, pack_array(), 5)),
                   Catch::Contains("not an ssi envelope"));
        // Header fields of the wrong kind.
        KillRequest k{1, 2, 3};
        CHECK_THAT(refused(pack_array(std::string("1"), 4u, 0u, k)), Catch::Contains("not an ssi envelope"));
        CHECK_THAT(refused(pack_array(kProtocolVersion, -4, 0u, k)), Catch::Contains("not an ssi envelope"));
        CHECK_THAT(refused(pack_array(kProtocolVersion, 4u, -1, k)), Catch::Contains("not an ssi envelope"));
        CHECK_THAT(refused(pack_array(kProtocolVersion, 4.5, 0u, k)), Catch::Contains("not an ssi envelope"));
        // The control: the same array with the right kinds decodes.
        CHECK(decode_str(pack_array(kProtocolVersion, 4u, 0u, k)).ok());
    }

    SECTION("a body of the wrong shape is refused") {
        // KillRequest (type 4) whose body is not an array, or has a field of the wrong kind.
        CHECK_THAT(refused(envelope_with(kProtocolVersion, 4, 0, pack(std::string("kill")))),
                   Catch::Contains("wrong number of fields"));
        CHECK_THAT(refused(envelope_with(kProtocolVersion, 4, 0, pack(7))), Catch::Contains("wrong number of fields"));
        CHECK_THAT(refused(envelope_with(kProtocolVersion, 4, 0, pack(msgpack::type::nil_t()))),
                   Catch::Contains("wrong number of fields"));
        // Missing or extra fields are refused, not defaulted: a KillRequest without its
        // caller's uid must not read as root's.
        CHECK_THAT(refused(envelope_with(kProtocolVersion, 4, 0, pack_array(int64_t(30004711), 9))),
                   Catch::Contains("KillRequest with the wrong number of fields"));
        CHECK_THAT(refused(envelope_with(kProtocolVersion, 4, 0, pack_array(int64_t(30004711), 9, 0, 1))),
                   Catch::Contains("wrong number of fields"));
        CHECK_THAT(refused(envelope_with(kProtocolVersion, 4, 0, pack_array(std::string("30004711"), 15, 0))),
                   Catch::Contains("malformed"));
        // A Heartbeat whose status is a number, a PsReply whose rows are strings.
        CHECK_THAT(refused(envelope_with(kProtocolVersion, 1, 0, pack_array(5, 1u, 2u))), Catch::Contains("malformed"));
        CHECK_THAT(refused(envelope_with(kProtocolVersion, 7, 0, pack_array(1, std::vector<std::string>{"a"}))),
                   Catch::Contains("malformed"));
        // Out-of-range integers: a signal that does not fit in int32.
        CHECK_THAT(refused(envelope_with(kProtocolVersion, 4, 0, pack_array(30'004'711, int64_t(1) << 40, 0))),
                   Catch::Contains("malformed"));
    }

    SECTION("messages over kMaxMessageBytes are refused before decoding") {
        // A real, decodable message padded past the limit by one long string.
        ErrorReply big{1, std::string(kMaxMessageBytes, 'x')};
        std::string bytes = encode(big);
        REQUIRE(bytes.size() > kMaxMessageBytes);
        auto r = decode_str(bytes);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().err == EMSGSIZE);
        CHECK_THAT(r.error().message(), Catch::Contains("too large"));
    }

    SECTION("deeply nested garbage is refused without exhausting the stack") {
        // 100,000 nested one-element arrays.
        CHECK_THAT(refused(std::string(100'000, '\x91') + '\x01'), Catch::Contains("malformed"));
        // Nesting inside a well-formed envelope's body.
        std::string nested = std::string(10'000, '\x91') + '\x00';
        CHECK_FALSE(decode_str(envelope_with(kProtocolVersion, 2, 0, nested)).ok());
        // Array headers that promise far more elements than follow.
        CHECK_FALSE(decode_str(std::string("\xdd\xff\xff\xff\xff", 5)).ok());
        CHECK_FALSE(decode_str(envelope_with(kProtocolVersion, 7, 0, std::string("\x92\x01\xdd\x7f\xff\xff\xff", 7))).ok());
        // Maps and strings claiming huge sizes.
        CHECK_FALSE(decode_str(std::string("\xdf\xff\xff\xff\xff", 5)).ok());
        CHECK_FALSE(decode_str(std::string("\xdb\xff\xff\xff\xff", 5)).ok());
    }

    SECTION("random bytes never throw and never crash") {
        std::mt19937_64 rng(20240607);
        size_t accepted = 0;
        for (int i = 0; i < 20'000; ++i) {
            std::string bytes(rng() % 200, '\0');
            for (char& c : bytes) c = char(rng());
            // Start half of them like an envelope, so decoding gets past the first byte.
            if (i % 2 == 0 && bytes.size() >= 4) {
                bytes[0] = '\x94';
                bytes[1] = char(kProtocolVersion);
                bytes[2] = char(1 + rng() % std::variant_size_v<Message>);
            }
            Result<Envelope> r = Error{};
            REQUIRE_NOTHROW(r = decode_str(bytes));
            if (r.ok()) ++accepted;
        }
        // Mutations of valid messages: one to four bytes changed.
        auto all = samples();
        for (int i = 0; i < 20'000; ++i) {
            std::string bytes = encode(Envelope{uint64_t(i), all[i % all.size()]});
            for (int k = 0, n = 1 + int(rng() % 4); k < n; ++k) bytes[rng() % bytes.size()] = char(rng());
            Result<Envelope> r = Error{};
            REQUIRE_NOTHROW(r = decode_str(bytes));
            if (r.ok()) {
                ++accepted;
                // Whatever is accepted re-encodes into something that decodes to the same.
                std::string again = encode(*r);
                auto r2 = decode_str(again);
                REQUIRE(r2.ok());
                CHECK(encode(*r2) == again);  // bytes, not fields: a mutated double may be NaN
            }
        }
        CHECK(accepted > 0);  // the mutations do reach the body decoder
    }
}
