// ssi-peer-probe: a test program that plays a rogue or misbehaving peer against one agent.
// It connects a CURVE DEALER to an agent's peer endpoint, exactly as another agent would,
// sends what it is told to, and says what happened: did the CURVE handshake succeed, was
// each message sent, did a reply come back.
//
//   ssi-peer-probe --endpoint tcp://127.0.1.2:7100 --server-key Z85
//                  (--secret-key-file F | --random-key) [--uid N]
//                  --send kill:GPID:SIG | garbage | truncated | oversized | wrong-version | raw-hex:HEX
//                  [--send ...] [--expect-reply MS] [--connect-timeout MS]
//
// `kill` builds a real wire::KillRequest with wire::encode, so that with a cluster key it is
// acted on (the control case); every other kind is something a correct agent must drop.
// Exit status: 0 when done, 3 when --expect-reply was given and no reply came in time,
// 1 when the probe itself could not run, 2 for usage errors.
#include "libssi/gpid.h"
#include "libssi/keys.h"
#include "libssi/signals.h"
#include "libssi/wire/codec.h"

#include <CLI/CLI.hpp>
#include <zmq.hpp>

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

using namespace ssi;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kExitNoReply = 3;
constexpr const char* kMonitorEndpoint = "inproc://ssi-peer-probe-monitor";

struct Payload {
    std::string what;   // for the report
    std::string bytes;
    bool wants_reply = false;
};

Result<std::string> from_hex(std::string_view hex) {
    if (hex.size() % 2 != 0) return make_error("raw-hex", "odd number of hex digits", EINVAL);
    std::string out;
    for (size_t i = 0; i < hex.size(); i += 2) {
        unsigned value = 0;
        if (std::sscanf(std::string(hex.substr(i, 2)).c_str(), "%2x", &value) != 1 ||
            !std::isxdigit(static_cast<unsigned char>(hex[i])) || !std::isxdigit(static_cast<unsigned char>(hex[i + 1])))
            return make_error("raw-hex", "not hex: " + std::string(hex.substr(i, 2)), EINVAL);
        out.push_back(char(value));
    }
    return out;
}

// "kill:GPID:SIG" -> a KillRequest as an agent would send it.
Result<Payload> kill_payload(std::string_view spec, uint32_t uid, uint64_t request_id) {
    auto colon = spec.rfind(':');
    if (colon == std::string_view::npos) return make_error("--send", "expected kill:GPID:SIG", EINVAL);
    Gpid target = TRY(Gpid::parse(spec.substr(0, colon)));  // GPID may itself be NODE:PID
    int signal = TRY(parse_signal(spec.substr(colon + 1)));
    wire::KillRequest request{target.value(), signal, uid};
    std::string what = "KillRequest gpid " + target.str() + " signal " + std::to_string(signal) + " uid " +
                       std::to_string(uid) + " request " + std::to_string(request_id);
    return Payload{what, wire::encode(request, request_id), true};
}

// A well-formed KillRequest for a harmless target, under a protocol version nobody speaks:
// if an agent skipped the version check it would answer.
std::string wrong_version(uint64_t request_id) {
    msgpack::sbuffer buffer;
    msgpack::packer<msgpack::sbuffer> pk(buffer);
    pk.pack_array(4);
    pk.pack(wire::kProtocolVersion + 1);
    pk.pack(uint32_t(4));  // KillRequest
    pk.pack(request_id);
    pk.pack(wire::KillRequest{Gpid{1, 1}.value(), 0, 0});
    return std::string(buffer.data(), buffer.size());
}

Result<Payload> make_payload(const std::string& spec, uint32_t uid, uint64_t request_id) {
    if (spec.rfind("kill:", 0) == 0) return kill_payload(std::string_view(spec).substr(5), uid, request_id);
    if (spec == "garbage") {
        // 0xc1 is the one byte MessagePack never uses, then noise from a fixed seed.
        std::mt19937 rng(4711);
        std::string bytes(256, '\0');
        for (char& c : bytes) c = char(rng());
        bytes[0] = '\xc1';
        return Payload{"garbage", bytes};
    }
    if (spec == "truncated") {
        std::string whole = wire::encode(wire::KillRequest{Gpid{1, 1}.value(), 0, uid}, request_id);
        return Payload{"truncated KillRequest", whole.substr(0, whole.size() / 2)};
    }
    if (spec == "oversized") {
        // A valid message, except that it is one byte longer than any agent accepts.
        std::string bytes = wire::encode(wire::ErrorReply{0, std::string(wire::kMaxMessageBytes, 'x')});
        return Payload{"oversized message", std::move(bytes)};
    }
    if (spec == "wrong-version")
        return Payload{"KillRequest under protocol version " + std::to_string(wire::kProtocolVersion + 1),
                       wrong_version(request_id)};
    if (spec.rfind("raw-hex:", 0) == 0) {
        std::string bytes = TRY(from_hex(std::string_view(spec).substr(8)));
        return Payload{"raw bytes", std::move(bytes)};
    }
    return make_error("--send", "unknown kind '" + spec + "'", EINVAL);
}

const char* event_name(uint16_t event) {
    switch (event) {
        case ZMQ_EVENT_CONNECTED: return "tcp connected";
        case ZMQ_EVENT_CONNECT_DELAYED: return "connect delayed";
        case ZMQ_EVENT_CONNECT_RETRIED: return "connect retried";
        case ZMQ_EVENT_CLOSED: return "closed";
        case ZMQ_EVENT_DISCONNECTED: return "disconnected";
        case ZMQ_EVENT_HANDSHAKE_SUCCEEDED: return "handshake succeeded";
        case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH: return "handshake refused by the server (authentication)";
        case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL: return "handshake failed (protocol)";
        case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL: return "handshake failed";
        default: return nullptr;
    }
}

// Reads the DEALER's monitor, reporting each event once per kind.
class Monitor {
public:
    Monitor(zmq::context_t& context, zmq::socket_t& socket) : pair_(context, zmq::socket_type::pair) {
        if (zmq_socket_monitor(socket.handle(), kMonitorEndpoint, ZMQ_EVENT_ALL) != 0) throw zmq::error_t();
        pair_.connect(kMonitorEndpoint);
    }

    // Waits up to `ms` for the handshake to succeed or fail; returns whether it succeeded.
    std::optional<bool> wait_handshake(int ms) {
        auto deadline = Clock::now() + std::chrono::milliseconds(ms);
        while (!handshake_ && Clock::now() < deadline) poll(deadline);
        return handshake_;
    }
    // Reports whatever happens until `deadline` (or nothing is pending, when it has passed).
    void poll(Clock::time_point deadline) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        zmq::pollitem_t item{pair_.handle(), 0, ZMQ_POLLIN, 0};
        if (zmq::poll(&item, 1, std::max<std::chrono::milliseconds>(left, std::chrono::milliseconds(0))) <= 0) return;
        zmq::message_t head, address;
        if (!pair_.recv(head, zmq::recv_flags::dontwait)) return;
        if (head.more()) (void)pair_.recv(address, zmq::recv_flags::dontwait);
        if (head.size() < 6) return;
        uint16_t event;
        uint32_t value;
        std::memcpy(&event, head.data(), 2);
        std::memcpy(&value, static_cast<const char*>(head.data()) + 2, 4);
        report(event, value);
    }

private:
    void report(uint16_t event, uint32_t value) {
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) handshake_ = true;
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH || event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
            event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
            handshake_ = handshake_.value_or(false);
        const char* name = event_name(event);
        if (!name || (seen_ & event)) return;  // reconnect loops repeat themselves
        seen_ |= event;
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
            std::printf("probe: %s, status %u\n", name, value);
        else
            std::printf("probe: %s\n", name);
        std::fflush(stdout);
    }

    zmq::socket_t pair_;
    std::optional<bool> handshake_;
    uint32_t seen_ = 0;
};

std::string describe_reply(const zmq::message_t& msg) {
    auto envelope = wire::decode(std::span<const char>(static_cast<const char*>(msg.data()), msg.size()));
    if (!envelope) return "undecodable reply of " + std::to_string(msg.size()) + " bytes: " + envelope.error().message();
    std::string out = std::string(wire::type_name(envelope->body)) + " request " + std::to_string(envelope->request_id);
    if (auto* k = std::get_if<wire::KillReply>(&envelope->body))
        out += " err " + std::to_string(k->err) + (k->err ? " (" + std::string(std::strerror(k->err)) + ")" : "") +
               (k->message.empty() ? "" : " message '" + k->message + "'");
    if (auto* e = std::get_if<wire::ErrorReply>(&envelope->body))
        out += " err " + std::to_string(e->err) + " message '" + e->message + "'";
    return out;
}

int fail(const Error& e) {
    std::fprintf(stderr, "ssi-peer-probe: %s\n", e.message().c_str());
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Plays a rogue or misbehaving peer against an ssi agent (a test tool)."};
    std::string endpoint, server_key, secret_key_file;
    bool random_key = false;
    std::vector<std::string> sends;
    std::optional<int> expect_reply_ms;
    int connect_timeout_ms = 2000;
    uint32_t uid = ::getuid();
    app.add_option("--endpoint", endpoint, "the agent's peer endpoint, tcp://ADDRESS:PORT")->required();
    app.add_option("--server-key", server_key, "the agent's public key (Z85)")->required();
    auto* keyfile = app.add_option("--secret-key-file", secret_key_file, "present this node key (a cluster key)");
    auto* random = app.add_flag("--random-key", random_key, "present a fresh key no config lists");
    keyfile->excludes(random);
    app.add_option("--send", sends,
                   "kill:GPID:SIG, garbage, truncated, oversized, wrong-version or raw-hex:HEX; repeatable, sent in order")
        ->required();
    app.add_option("--expect-reply", expect_reply_ms, "wait this many ms for a reply; exit 3 if none comes");
    app.add_option("--connect-timeout", connect_timeout_ms, "ms to wait for the CURVE handshake before sending");
    app.add_option("--uid", uid, "caller uid carried by kill requests (default: ours)");
    CLI11_PARSE(app, argc, argv);
    if (secret_key_file.empty() && !random_key) {
        std::fprintf(stderr, "ssi-peer-probe: one of --secret-key-file or --random-key is required\n");
        return 2;
    }
    if (!is_valid_z85_key(server_key)) return fail(make_error("--server-key", "not a 40-character Z85 key", EINVAL));

    KeyPair keys;
    if (random_key) {
        auto generated = generate_keypair();
        if (!generated) return fail(generated.error());
        keys = *generated;
    } else {
        auto secret = read_secret_key_file(secret_key_file);
        if (!secret) return fail(secret.error());
        auto pub = public_key_of(*secret);
        if (!pub) return fail(pub.error());
        keys = KeyPair{*pub, *secret};
    }

    std::vector<Payload> payloads;
    uint64_t next_request_id = 0x5500'0000 + uint64_t(::getpid()) * 100;
    for (const auto& spec : sends) {
        auto p = make_payload(spec, uid, ++next_request_id);
        if (!p) {
            std::fprintf(stderr, "ssi-peer-probe: %s\n", p.error().message().c_str());
            return 2;
        }
        payloads.push_back(std::move(*p));
    }

    try {
        zmq::context_t context(1);
        zmq::socket_t dealer(context, zmq::socket_type::dealer);
        dealer.set(zmq::sockopt::linger, 3000);  // let queued messages leave before we exit
        dealer.set(zmq::sockopt::sndtimeo, 3000);
        dealer.set(zmq::sockopt::curve_serverkey, server_key);
        dealer.set(zmq::sockopt::curve_publickey, keys.public_key);
        dealer.set(zmq::sockopt::curve_secretkey, keys.secret_key);
        Monitor monitor(context, dealer);
        std::printf("probe: connecting to %s with %s key %s\n", endpoint.c_str(), random_key ? "a random" : "the cluster",
                    keys.public_key.c_str());
        dealer.connect(endpoint);

        auto handshake = monitor.wait_handshake(connect_timeout_ms);
        std::printf("probe: connected: %s\n", !handshake ? "no (no handshake in time)" : *handshake ? "yes" : "no");
        // Nothing will ever carry what we queue for a server that refused us: don't wait on it at exit.
        if (!handshake.value_or(false)) dealer.set(zmq::sockopt::linger, 0);

        size_t replies_wanted = 0;
        for (const auto& p : payloads) {
            auto sent = dealer.send(zmq::buffer(p.bytes), zmq::send_flags::none);
            std::printf("probe: %s %s (%zu bytes)\n", sent ? "sent" : "could not send", p.what.c_str(), p.bytes.size());
            if (sent && p.wants_reply) ++replies_wanted;
        }
        std::fflush(stdout);

        size_t replies = 0;
        auto wait_ms = expect_reply_ms.value_or(200);  // even unasked, report a quick answer or hang-up
        auto deadline = Clock::now() + std::chrono::milliseconds(wait_ms);
        while (Clock::now() < deadline && (replies < replies_wanted || !expect_reply_ms)) {
            zmq::pollitem_t item{dealer.handle(), 0, ZMQ_POLLIN, 0};
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            auto step = std::min(left, std::chrono::milliseconds(50));
            if (zmq::poll(&item, 1, std::max(step, std::chrono::milliseconds(0))) > 0) {
                zmq::message_t reply;
                if (dealer.recv(reply, zmq::recv_flags::dontwait)) {
                    ++replies;
                    std::printf("probe: reply: %s\n", describe_reply(reply).c_str());
                }
            }
            monitor.poll(Clock::now());
        }
        if (expect_reply_ms && replies == 0) {
            std::printf("probe: no reply within %d ms\n", *expect_reply_ms);
            return kExitNoReply;
        }
        std::printf("probe: done, %zu repl%s\n", replies, replies == 1 ? "y" : "ies");
    } catch (const zmq::error_t& e) {
        return fail(Error{"zmq", e.num(), e.what()});
    }
    return 0;
}
