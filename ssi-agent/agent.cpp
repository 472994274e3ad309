#include "ssi-agent/agent.h"

#include "kern-ext/files.h"
#include "kern-ext/system_info.h"
#include "libssi/gpid.h"
#include "libssi/keys.h"
#include "libssi/wire/codec.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>

namespace ssi::agent {
namespace {

constexpr uint32_t kMembershipTickMs = 100;
constexpr uint32_t kPublishDelayMs = 10;       // coalesces bursts of changes into one publish
constexpr uint32_t kFullRefreshMs = 2000;      // CPU, memory and state of every process
constexpr uint32_t kSnapshotRetryMs = 500;

int64_t epoch_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string dir_of(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? "." : path.substr(0, slash);
}

}  // namespace

Agent::Agent(EventLoop& loop, ClusterConfig config, LocalShare share, ProcTableWriter table)
    : loop_(loop),
      config_(std::move(config)),
      share_(std::move(share)),
      shm_table_(std::move(table)),
      membership_(config_, [this](int32_t n, NodeState b, NodeState a) { on_node_state(n, b, a); }),
      runs_(config_),
      checkpoints_(loop_, config_, runs_),
      migrations_(
          loop_, config_, runs_, [this](int32_t exclude) { return least_loaded_peer(exclude); },
          [this](int32_t node) { return node_problem(node); }) {}

Agent::~Agent() {
    local_.reset();
    shm_table_.remove();
    if (!pid_file_.empty()) ::unlink(pid_file_.c_str());
}

Result<std::unique_ptr<Agent>> Agent::create(EventLoop& loop, ClusterConfig config) {
    std::string secret = TRY(read_secret_key_file(config.secret_key_file));
    LocalShare share = TRY(LocalShare::create(config.self_id));
    TRY(make_dirs(dir_of(config.socket_path), 0755));
    ProcTableWriter table = TRY(ProcTableWriter::create(config.table_name, config.self_id));
    std::unique_ptr<Agent> agent(new Agent(loop, std::move(config), std::move(share), std::move(table)));
    TRY(agent->start(secret));
    return agent;
}

Result<void> Agent::start(const std::string& secret_key) {
    started_at_ = epoch_seconds();
    mesh_ = TRY(PeerMesh::create(loop_, config_, secret_key, [this](PeerInbound&& in) { on_peer(std::move(in)); }));
    calls_ = std::make_unique<PeerCalls>(loop_, *mesh_);
    publish_timer_ = std::make_unique<Timer>(loop_, [this] { publish_table(); });

    // Our own share first, so the table is whole before anyone can ask. The empty
    // snapshot gives our copy the epoch the scans' deltas are numbered in.
    table_.apply(config_.self_id, share_.snapshot());
    scan_local();
    publish_table();

    local_ = TRY(LocalServer::create(loop_, config_.socket_path, [this](LocalRequest&& r) { on_local(std::move(r)); }));
    pid_file_ = dir_of(config_.socket_path) + "/agent.pid";
    TRY(write_file_atomic(pid_file_, std::to_string(::getpid()) + "\n", 0644));

    heartbeat_timer_ = std::make_unique<Timer>(loop_, [this] { send_heartbeats(); });
    heartbeat_timer_->start(0, config_.heartbeat_ms);
    membership_timer_ = std::make_unique<Timer>(loop_, [this] { membership_.tick(loop_.now_ms()); });
    membership_timer_->start(kMembershipTickMs, kMembershipTickMs);
    scan_timer_ = std::make_unique<Timer>(loop_, [this] { scan_local(); });
    scan_timer_->start(config_.sample_ms, config_.sample_ms);
    watchdog_ = std::make_unique<LoopWatchdog>(loop_);
    child_signal_ = std::make_unique<SignalWatch>(loop_, SIGCHLD, [this] {
        checkpoints_.reap();
        runs_.reap();
    });
    for (int sig : {SIGTERM, SIGINT}) {
        stop_signals_.push_back(std::make_unique<SignalWatch>(loop_, sig, [this, sig] {
            spdlog::info("agent: {} received, stopping", sigabbrev_np(sig));
            loop_.stop();
        }));
    }
    spdlog::info("agent: node {} up, {} local process(es), socket {}", config_.self_id, share_.rows().size(),
                 config_.socket_path);
    migrations_.rebuild_parked();  // and on every scan: a deputy may park while no agent ran
    return ok();
}

void Agent::run() { loop_.run(); }

// ---- this node's processes ------------------------------------------------------------

void Agent::scan_local() {
    uint64_t every = std::max<uint64_t>(1, kFullRefreshMs / config_.sample_ms);
    bool full = scans_++ % every == 0;
    runs_.keep_spare();
    if (full) {
        migrations_.rebuild_parked();
        find_deputies();
    }
    auto delta = share_.scan(full, visibility());
    if (!delta) {
        spdlog::warn("agent: scanning processes: {}", delta.error().message());
        return;
    }
    if (delta->upserts.empty() && delta->removed.empty()) return;
    table_.apply(config_.self_id, *delta);
    std::string bytes = wire::encode(*delta);
    for (int32_t peer : membership_.peers())
        if (membership_.state(peer) != NodeState::Down) mesh_->send(peer, bytes);
    mark_table_dirty();
}

void Agent::mark_table_dirty() {
    if (publish_pending_) return;
    publish_pending_ = true;
    publish_timer_->start(kPublishDelayMs);
}

void Agent::publish_table() {
    publish_pending_ = false;
    if (auto r = shm_table_.publish(table_.all(), membership_.down_nodes()); !r)
        spdlog::error("agent: publishing the process table: {}", r.error().message());
}

wire::NodeStatus Agent::self_status() const {
    wire::NodeStatus s;
    s.id = config_.self_id;
    s.address = config_.self().address;
    s.processes = uint32_t(share_.rows().size());
    s.started_at = started_at_;
    if (auto info = read_system_info()) {
        s.hostname = info->hostname;
        s.cpus = info->cpus;
        s.load1 = info->load1;
        s.load5 = info->load5;
        s.load15 = info->load15;
        s.mem_total_kb = info->mem_total_kb;
        s.mem_free_kb = info->mem_available_kb;
    }
    return s;
}

// ---- peers ----------------------------------------------------------------------------

void Agent::send_heartbeats() {
    std::string bytes = wire::encode(wire::Heartbeat{self_status(), share_.epoch(), share_.seq()});
    for (int32_t peer : membership_.peers()) mesh_->send(peer, bytes);
}

void Agent::on_node_state(int32_t node, NodeState before, NodeState after) {
    spdlog::info("agent: node {} is {} (was {})", node, to_string(after), to_string(before));
    if (after == NodeState::Down) {
        table_.drop(node);
        snapshot_asked_at_.erase(node);
        mark_table_dirty();
    }
}

void Agent::request_snapshot(int32_t node) {
    uint64_t now = loop_.now_ms();
    auto it = snapshot_asked_at_.find(node);
    if (it != snapshot_asked_at_.end() && now - it->second < kSnapshotRetryMs) return;
    snapshot_asked_at_[node] = now;
    mesh_->send(node, wire::encode(wire::SnapshotRequest{}));
}

void Agent::on_peer(PeerInbound&& in) {
    auto envelope = wire::decode(in.payload);
    if (!envelope) {
        spdlog::warn("agent: dropped a message from node {}: {}", in.from_node, envelope.error().message());
        return;
    }
    if (!membership_.is_member(in.from_node)) return;  // ourselves, or a node the config no longer lists
    bool is_reply = in.routing_id.empty();
    if (is_reply) {
        if (!calls_->complete(in.from_node, envelope->request_id, std::move(envelope->body)))
            spdlog::info("agent: a reply from node {} came after its call had timed out (or was never asked)",
                         in.from_node);
        return;
    }
    std::visit(
        [&](auto& msg) {
            using T = std::decay_t<decltype(msg)>;
            if constexpr (std::is_same_v<T, wire::Heartbeat>) {
                on_heartbeat(in, msg);
            } else if constexpr (std::is_same_v<T, wire::TableDelta>) {
                on_table_delta(in, msg);
            } else if constexpr (std::is_same_v<T, wire::SnapshotRequest>) {
                // On the same ordered channel as our deltas, so none can overtake it.
                mesh_->send(in.from_node, wire::encode(share_.snapshot()));
            } else if constexpr (std::is_same_v<T, wire::KillRequest>) {
                Gpid target = Gpid::from_value(msg.gpid);
                if (target.node != config_.self_id) {
                    // Another home's program running here (its home forwards what its
                    // deputy cannot: SIGKILL, SIGSTOP).
                    mesh_->reply(in, wire::encode(signal_worn_program(target, msg.signal, msg.caller_uid),
                                                  envelope->request_id));
                } else {
                    PeerInbound to = in;
                    uint64_t id = envelope->request_id;
                    signal_home_process(target, msg.signal, msg.caller_uid, [this, to, id](wire::KillReply reply) {
                        mesh_->reply(to, wire::encode(reply, id));
                    });
                }
            } else if constexpr (std::is_same_v<T, wire::RunRequest>) {
                wire::Message reply = wire::RunReply{config_.self_id};
                if (msg.home != in.from_node) {
                    reply = wire::ErrorReply{EPERM, "a run request must come from the program's home"};
                } else if (auto r = runs_.start(msg); !r) {
                    reply = wire::ErrorReply{r.error().err, r.error().message()};
                }
                mesh_->reply(in, wire::encode(wire::Envelope{envelope->request_id, std::move(reply)}));
            } else if constexpr (std::is_same_v<T, wire::MigrateRequest>) {
                // The process's home decides; the asking agent vouches for the caller's uid.
                PeerInbound to = in;
                uint64_t id = envelope->request_id;
                if (Gpid::from_value(msg.gpid).node != config_.self_id) {
                    mesh_->reply(in, wire::encode(wire::Envelope{id, wire::ErrorReply{EINVAL, "not the process's home"}}));
                    return;
                }
                migrations_.start(msg, msg.caller_uid, [this, to, id](wire::Message reply) {
                    mesh_->reply(to, wire::encode(wire::Envelope{id, std::move(reply)}));
                });
            } else if constexpr (std::is_same_v<T, wire::PsRequest>) {
                auto rows = share_.read_now(visibility());
                wire::Message reply = rows ? wire::Message{wire::PsReply{config_.self_id, std::move(*rows)}}
                                           : wire::Message{wire::ErrorReply{EIO, rows.error().message()}};
                mesh_->reply(in, wire::encode(wire::Envelope{envelope->request_id, std::move(reply)}));
            } else {
                spdlog::warn("agent: node {} sent an unexpected {}", in.from_node, wire::type_name(envelope->body));
            }
        },
        envelope->body);
}

void Agent::on_heartbeat(const PeerInbound& in, const wire::Heartbeat& hb) {
    if (hb.status.id != in.from_node) {
        spdlog::warn("agent: node {} sent a heartbeat claiming to be node {}; dropped", in.from_node, hb.status.id);
        return;
    }
    membership_.heard_from(in.from_node, hb.status, loop_.now_ms());
    peer_status_[in.from_node] = hb.status;
    if (!table_.in_sync(in.from_node, hb.table_epoch, hb.table_seq)) request_snapshot(in.from_node);
}

void Agent::on_table_delta(const PeerInbound& in, const wire::TableDelta& delta) {
    for (const auto& r : delta.upserts) {
        if (r.node != in.from_node) {
            spdlog::warn("agent: node {} sent rows of node {}; dropped", in.from_node, r.node);
            return;
        }
    }
    if (membership_.state(in.from_node) == NodeState::Down) return;  // it will resend when it is heard again
    if (table_.apply(in.from_node, delta) == ClusterTable::Applied::NeedSnapshot) {
        request_snapshot(in.from_node);
        return;
    }
    mark_table_dirty();
}

}  // namespace ssi::agent
