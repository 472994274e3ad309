// Agent: requests from this node's tools — kill, run, migrate, the cluster's ps — and the
// deputies found again after a restart.
#include "ssi-agent/agent.h"

#include "libssi/gpid.h"
#include "libssi/wire/codec.h"
#include "ssi-agent/signal_service.h"

#include <spdlog/spdlog.h>

namespace ssi::agent {
namespace {

constexpr uint32_t kKillTimeoutMs = 2000;

}  // namespace

// An agent learns of a deputy when it starts its run (ssi-run, or a move); one that
// restarted since knows none, and would list each deputy as a process of its own beside
// its program. Another node listing one of our PIDs as running there, while that PID
// listens on a deputy's order socket here, tells it: that is the program's deputy. (Not
// the program it runs: one that came home keeps the deputy's exe link, and the other
// node's row may be a moment stale.)
void Agent::find_deputies() {
    for (const wire::ProcessRecord& r : table_.all()) {
        if (r.home != config_.self_id || r.node == config_.self_id || r.gpid != Gpid{r.home, r.pid}.value()) continue;
        if (runs_.deputy_target(r.pid) || migrations_.moving(r.pid) || !listening_deputy(config_.self_id, r.pid))
            continue;
        runs_.add_deputy(r.pid, r.node);
        spdlog::info("runs: process {} is the deputy of a program on node {}", r.pid, r.node);
    }
}

Visibility Agent::visibility() {
    Visibility v = runs_.visibility();
    migrations_.hide_holders(v);
    return v;
}

void Agent::on_local(LocalRequest&& request) {
    std::visit(
        [&](auto& msg) {
            using T = std::decay_t<decltype(msg)>;
            if constexpr (std::is_same_v<T, wire::KillRequest>) {
                handle_kill(request, msg);
            } else if constexpr (std::is_same_v<T, wire::ClusterPsRequest>) {
                handle_cluster_ps(request, msg);
            } else if constexpr (std::is_same_v<T, wire::RunRequest>) {
                handle_run(request, msg);
            } else if constexpr (std::is_same_v<T, wire::CheckpointRequest> || std::is_same_v<T, wire::RestartRequest> ||
                                 std::is_same_v<T, wire::RestartWaitRequest>) {
                checkpoints_.handle(request, msg);  // checkpoints.cpp
            } else if constexpr (std::is_same_v<T, wire::MigrateRequest>) {
                handle_migrate(request, msg);
            } else if constexpr (std::is_same_v<T, wire::NodesRequest>) {
                request.respond.send(wire::NodesReply{config_.self_id, membership_.view(self_status(), loop_.now_ms())});
            } else {
                request.respond.send(wire::ErrorReply{EPROTO, std::string("unexpected request ") + wire::type_name(request.body)});
            }
        },
        request.body);
}

void Agent::handle_kill(const LocalRequest& request, const wire::KillRequest& kill) {
    // The uid is the kernel's word for who is calling, never what the request says.
    uid_t uid = request.caller.uid;
    Gpid target = Gpid::from_value(kill.gpid);
    if (target.node == config_.self_id) {
        Responder respond = request.respond;
        signal_home_process(target, kill.signal, uid, [respond](wire::KillReply reply) { respond.send(reply); });
        return;
    }
    std::string node = "node " + std::to_string(target.node);
    if (!membership_.is_member(target.node)) {
        request.respond.send(wire::KillReply{ESRCH, "No such process (" + node + " is not in the cluster)"});
        return;
    }
    if (membership_.state(target.node) == NodeState::Down) {
        request.respond.send(wire::KillReply{EHOSTDOWN, node + " is down"});
        return;
    }
    Responder respond = request.respond;
    calls_->call(target.node, wire::KillRequest{kill.gpid, kill.signal, uid}, kKillTimeoutMs,
                 [respond, node](std::optional<wire::Message> reply) {
                     if (!reply) return respond.send(wire::KillReply{ETIMEDOUT, node + " did not answer"});
                     if (auto* k = std::get_if<wire::KillReply>(&*reply)) return respond.send(*k);
                     respond.send(wire::KillReply{EPROTO, node + " sent an unexpected reply"});
                 });
}

// A home process is signalled here. When it is a deputy and the signal is one a deputy
// cannot catch and forward (SIGKILL, SIGSTOP), the program gets it first on its node, so
// it never outlives, or keeps running behind, its stopped or killed deputy.
void Agent::signal_home_process(const Gpid& target, int signal, uid_t uid, KillDone done) {
    auto node = runs_.deputy_target(target.pid);
    bool uncatchable = signal == SIGKILL || signal == SIGSTOP;
    if (!node || !uncatchable || *node == config_.self_id || membership_.state(*node) == NodeState::Down) {
        if (node && uncatchable && *node == config_.self_id) (void)signal_worn_program(target, signal, uid);
        return done(deliver_signal(target, signal, uid));
    }
    calls_->call(*node, wire::KillRequest{target.value(), signal, uid}, kKillTimeoutMs,
                 [this, target, signal, uid, done](std::optional<wire::Message> reply) {
                     wire::KillReply here = deliver_signal(target, signal, uid);
                     // The deputy may already have followed its killed program out.
                     auto* there = reply ? std::get_if<wire::KillReply>(&*reply) : nullptr;
                     if (here.err == ESRCH && there && there->err == 0) here = *there;
                     done(here);
                 });
}

wire::KillReply Agent::signal_worn_program(const Gpid& target, int signal, uid_t uid) {
    auto program = runs_.program_wearing(target.node, target.pid);
    if (!program) return wire::KillReply{ESRCH, "No such process"};
    return deliver_signal(Gpid{config_.self_id, *program}, signal, uid);
}

// The up peer with the least load per CPU. The load average moves over a minute, and
// reports come once a second: a burst of runs would all go to the same node (on one
// machine's nodes, which share a kernel and so a load average, always). So the programs
// this home already runs there, and those on their way, count as load too.
int32_t Agent::least_loaded_peer(int32_t exclude) const {
    int32_t best = 0;
    double best_load = 0;
    for (int32_t peer : membership_.peers()) {
        if (peer == exclude || membership_.state(peer) != NodeState::Up) continue;
        auto it = peer_status_.find(peer);
        if (it == peer_status_.end()) continue;
        auto placing = placing_.find(peer);
        double ours = double(runs_.programs_on(peer) + (placing == placing_.end() ? 0 : placing->second));
        double load = (it->second.load1 + ours) / std::max<uint32_t>(1, it->second.cpus);
        if (best == 0 || load < best_load) best = peer, best_load = load;
    }
    return best;
}

void Agent::handle_run(const LocalRequest& request, const wire::RunRequest& run) {
    auto vouched = runs_.vouch(request.caller, run);
    if (!vouched) return request.respond.send(wire::ErrorReply{vouched.error().err, vouched.error().message()});
    int32_t target = run.target != 0 ? run.target : least_loaded_peer();
    if (target == 0) return request.respond.send(wire::ErrorReply{EHOSTDOWN, "no other node is up"});
    vouched->target = target;
    std::string node = "node " + std::to_string(target);
    if (target == config_.self_id) {
        // Running "remotely" on the home node itself: same path, no network.
        auto r = runs_.start(*vouched);
        if (!r) return request.respond.send(wire::ErrorReply{r.error().err, r.error().message()});
        runs_.add_deputy(vouched->pid, target);
        return request.respond.send(wire::RunReply{target});
    }
    if (!membership_.is_member(target))
        return request.respond.send(wire::ErrorReply{ENOENT, node + " is not in the cluster"});
    if (membership_.state(target) == NodeState::Down)
        return request.respond.send(wire::ErrorReply{EHOSTDOWN, node + " is down"});
    Responder respond = request.respond;
    pid_t deputy = vouched->pid;
    ++placing_[target];
    calls_->call(target, *vouched, 5000, [this, respond, node, deputy, target](std::optional<wire::Message> reply) {
        if (--placing_[target] == 0) placing_.erase(target);
        if (!reply) return respond.send(wire::ErrorReply{ETIMEDOUT, node + " did not answer"});
        if (std::holds_alternative<wire::RunReply>(*reply)) runs_.add_deputy(deputy, target);
        if (std::holds_alternative<wire::RunReply>(*reply) || std::holds_alternative<wire::ErrorReply>(*reply))
            return respond.send(std::move(*reply));
        respond.send(wire::ErrorReply{EPROTO, node + " sent an unexpected reply"});
    });
}

std::optional<std::string> Agent::node_problem(int32_t node) const {
    if (node == config_.self_id) return std::nullopt;
    if (!membership_.is_member(node)) return "node " + std::to_string(node) + " is not in the cluster";
    if (membership_.state(node) == NodeState::Down) return "node " + std::to_string(node) + " is down";
    return std::nullopt;
}

// ssi-migrate: decided and driven at the process's home (ssi-agent/migrations.h).
void Agent::handle_migrate(const LocalRequest& request, const wire::MigrateRequest& migrate) {
    uid_t uid = request.caller.uid;  // the kernel's word, never the request's
    Gpid target = Gpid::from_value(migrate.gpid);
    Responder respond = request.respond;
    if (target.node == config_.self_id)
        return migrations_.start(migrate, uid, [respond](wire::Message reply) { respond.send(std::move(reply)); });
    if (auto problem = node_problem(target.node)) return respond.send(wire::ErrorReply{EHOSTDOWN, *problem});
    std::string node = "node " + std::to_string(target.node);
    wire::MigrateRequest forwarded{migrate.gpid, migrate.target, uid};
    calls_->call(target.node, forwarded, 30 * 60 * 1000, [respond, node](std::optional<wire::Message> reply) {
        if (!reply) return respond.send(wire::ErrorReply{ETIMEDOUT, node + " did not answer"});
        if (std::holds_alternative<wire::MigrateReply>(*reply) || std::holds_alternative<wire::ErrorReply>(*reply))
            return respond.send(std::move(*reply));
        respond.send(wire::ErrorReply{EPROTO, node + " sent an unexpected reply"});
    });
}

void Agent::handle_cluster_ps(const LocalRequest& request, const wire::ClusterPsRequest& ps) {
    struct Gather {
        Responder respond;
        wire::ClusterPsReply reply;
        size_t waiting = 0;
    };
    auto gather = std::make_shared<Gather>();
    gather->respond = request.respond;
    if (auto rows = share_.read_now(visibility())) gather->reply.processes = std::move(*rows);
    uint32_t timeout = std::clamp<uint32_t>(ps.timeout_ms, 10, 30'000);
    for (int32_t peer : membership_.peers()) {
        if (membership_.state(peer) == NodeState::Down) {
            gather->reply.unreachable.push_back(peer);
            continue;
        }
        ++gather->waiting;
        calls_->call(peer, wire::PsRequest{}, timeout, [gather, peer](std::optional<wire::Message> reply) {
            auto* ps_reply = reply ? std::get_if<wire::PsReply>(&*reply) : nullptr;
            if (ps_reply && ps_reply->node == peer) {
                for (auto& r : ps_reply->processes)
                    if (r.node == peer) gather->reply.processes.push_back(std::move(r));
            } else {
                gather->reply.unreachable.push_back(peer);
            }
            if (--gather->waiting == 0) gather->respond.send(std::move(gather->reply));
        });
    }
    if (gather->waiting == 0) gather->respond.send(std::move(gather->reply));
}

}  // namespace ssi::agent
